package image

import (
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Binary is a static linux executable to put in the image, with what its
// Go build information says about it.
type Binary struct {
	Path     string      // the file
	Platform v1.Platform // linux, GOARCH, and for arm the GOARM variant
	Main     string      // main package path, such as github.com/jobwq/jobwq/cmd/jobwq
	Module   string      // main module path
	Version  string      // module version; empty when Go recorded none
	Revision string      // VCS commit; empty when not recorded
	Created  time.Time   // VCS commit time; zero when not recorded
}

// ErrNotStatic marks a binary the image cannot run: not a linux executable,
// or linked dynamically (the image has no C library).
var ErrNotStatic = errors.New("not a static linux executable")

// Inspect reads path's ELF headers and Go build information. Only a static
// linux Go executable passes: the image has no dynamic loader or C library,
// and its platform is read from the binary instead of being asked for.
func Inspect(path string) (Binary, error) {
	file, err := os.Open(path)
	if err != nil {
		return Binary{}, err
	}
	defer file.Close()
	f, err := elf.NewFile(file)
	if err != nil {
		// Too short or the wrong magic: a script, a Mach-O or PE file.
		return Binary{}, fmt.Errorf("%s: %w: not an ELF file (a script, or a darwin or windows build?)", path, ErrNotStatic)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return Binary{}, fmt.Errorf("%s: %w: ELF type %s", path, ErrNotStatic, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := readInterp(p)
			return Binary{}, fmt.Errorf("%s: %w: dynamically linked (needs %s); build it with CGO_ENABLED=0", path, ErrNotStatic, interp)
		}
	}

	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return Binary{}, fmt.Errorf("%s: no Go build information: %w", path, err)
	}
	b := Binary{Path: path, Main: bi.Path, Module: bi.Main.Path}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		b.Version = v
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if goos := settings["GOOS"]; goos != "linux" {
		return Binary{}, fmt.Errorf("%s: %w: built for GOOS=%s", path, ErrNotStatic, goos)
	}
	b.Platform = v1.Platform{OS: "linux", Architecture: settings["GOARCH"]}
	if b.Platform.Architecture == "" {
		return Binary{}, fmt.Errorf("%s: build information records no GOARCH", path)
	}
	if goarm := settings["GOARM"]; b.Platform.Architecture == "arm" && goarm != "" {
		// "7" or "7,softfloat": the OCI variant is v7.
		b.Platform.Variant = "v" + strings.SplitN(goarm, ",", 2)[0]
	}
	b.Revision = settings["vcs.revision"]
	if t := settings["vcs.time"]; t != "" {
		created, err := time.Parse(time.RFC3339, t)
		if err != nil {
			return Binary{}, fmt.Errorf("%s: vcs.time %q: %w", path, t, err)
		}
		b.Created = created
	}
	return b, nil
}

// readInterp returns the dynamic loader a PT_INTERP segment names.
func readInterp(p *elf.Prog) (string, error) {
	buf := make([]byte, p.Filesz)
	if _, err := p.ReadAt(buf, 0); err != nil {
		return "", err
	}
	return strings.TrimRight(string(buf), "\x00"), nil
}

// runnerPrefix starts the name a release gives each runner binary in its
// archives, beside jobwq: jobwq-runner-linux-amd64, jobwq-runner-linux-arm64.
const runnerPrefix = "jobwq-runner-linux-"

// RunnerName is the file name of the runner binary for platform p in a
// release's archives.
func RunnerName(p v1.Platform) string {
	name := runnerPrefix + p.Architecture
	if p.Variant != "" {
		name += "-" + p.Variant
	}
	return name
}

// Runners lists the runner binaries in dir named as a release names them
// (RunnerName), sorted: what a release archive unpacked holds beside
// jobwq.
func Runners(dir string) ([]string, error) {
	found, err := filepath.Glob(filepath.Join(dir, runnerPrefix+"*"))
	if err != nil {
		return nil, err
	}
	slices.Sort(found)
	return found, nil
}
