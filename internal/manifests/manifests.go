// Package manifests finds the Kubernetes manifests a user points jobwq
// policy at: files, directories walked recursively, kustomization
// directories (built in-process, as kubectl kustomize would) and standard
// input. It hands each input's bytes on with the name positions should
// carry; what is in them is the policy package's business.
package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/jobwq/jobwq/internal/kustree"
	"github.com/jobwq/jobwq/internal/position"
)

// Stdin is the path that stands for standard input, and StdinName the name
// its positions carry.
const (
	Stdin     = "-"
	StdinName = position.StdinName
)

// kustomizationFiles mark a directory that kustomize builds as a whole.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// manifestExts are the files a directory walk reads.
var manifestExts = []string{".yaml", ".yml", ".json"}

// BuiltSuffix follows a kustomization directory's path in positions.
const BuiltSuffix = position.BuiltSuffix

// Handlers receive what Walk finds.
type Handlers struct {
	// Input receives each input, with the name its positions carry; an
	// error from it ends the walk.
	Input func(name string, r io.Reader) error
	// Unchecked receives each path that cannot be read or built.
	Unchecked func(*position.Error)
	// Warn receives what kustomize has to say of a kustomization it
	// builds (a deprecated field), naming the file.
	Warn func(string)
}

// Walk hands each input found under paths to h.Input, in order: a file; a
// directory, whose .yaml, .yml and .json files are read recursively
// (hidden directories skipped); a directory holding a kustomization, built
// in-process first and named DIR+BuiltSuffix; or Stdin, read from stdin
// and named StdinName.
//
// Only regular files are read (a FIFO or a device, also behind a symlink,
// could block or never end), and a kustomization that refers to anything
// remote is refused before kustomize sees it: a policy check never
// reaches the network. A path that cannot be read or built goes to
// h.Unchecked and the walk goes on; only an error from h.Input ends it,
// and Walk returns that error.
func Walk(paths []string, stdin io.Reader, h Handlers) error {
	for _, path := range paths {
		if err := walk(path, stdin, h); err != nil {
			return err
		}
	}
	return nil
}

// unchecked is path, which could not be read, and why.
func unchecked(path, format string, args ...any) *position.Error {
	return &position.Error{Pos: position.Position{File: position.Display(path)}, Msg: fmt.Sprintf(format, args...)}
}

// walk hands on the inputs under path; its error ends the walk.
func walk(path string, stdin io.Reader, h Handlers) error {
	if path == Stdin {
		return h.Input(StdinName, stdin)
	}
	fi, err := os.Stat(path)
	if err != nil {
		h.Unchecked(readErr(path, err))
		return nil
	}
	if !fi.IsDir() {
		return file(path, fi, h)
	}
	return filepath.WalkDir(path, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			h.Unchecked(readErr(name, err))
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if name != path && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !isKustomization(name) {
				return nil
			}
			warnings, err := checkLocal(name, map[string]bool{})
			if err != nil {
				var pe *position.Error
				if !errors.As(err, &pe) {
					pe = unchecked(name+BuiltSuffix, "%v", err)
				}
				h.Unchecked(pe)
				return filepath.SkipDir
			}
			for _, w := range warnings {
				h.Warn(w)
			}
			out, err := buildQuietly(name)
			if err != nil {
				h.Unchecked(unchecked(name+BuiltSuffix, "%s", strings.TrimPrefix(err.Error(), "kustomize "+name+": ")))
				return filepath.SkipDir
			}
			if err := h.Input(name+BuiltSuffix, bytes.NewReader(out)); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		if !slices.Contains(manifestExts, strings.ToLower(filepath.Ext(name))) {
			return nil
		}
		fi, err := os.Stat(name) // follows a symlink, as reading would
		if err != nil {
			h.Unchecked(readErr(name, err))
			return nil
		}
		if fi.IsDir() {
			return nil // a symlink to a directory; WalkDir does not follow them
		}
		return file(name, fi, h)
	})
}

// quiet serialises the builds whose standard error is silenced.
var quiet sync.Mutex

// buildQuietly builds the kustomization in dir. kustomize prints its
// deprecation warnings to os.Stderr itself, without saying which file;
// checkLocal has read them already, and Walk passes them on with the
// file's name.
func buildQuietly(dir string) ([]byte, error) {
	quiet.Lock()
	defer quiet.Unlock()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return kustree.BuildDir(dir)
	}
	defer null.Close()
	saved := os.Stderr
	os.Stderr = null
	defer func() { os.Stderr = saved }()
	return kustree.BuildDir(dir)
}

// file hands on the regular file name, whose Stat (through symlinks) is fi.
func file(name string, fi fs.FileInfo, h Handlers) error {
	if !fi.Mode().IsRegular() {
		h.Unchecked(unchecked(name, "not a regular file (%s); pipe it to jobwq policy - if you mean it", kindOf(fi.Mode())))
		return nil
	}
	f, err := os.Open(name)
	if err != nil {
		h.Unchecked(readErr(name, err))
		return nil
	}
	defer f.Close()
	return h.Input(name, f)
}

// kindOf names a file mode's type for messages.
func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// readErr words a file system error as "PATH: cannot read: reason".
func readErr(path string, err error) *position.Error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		path, err = pe.Path, pe.Err
	}
	return unchecked(path, "cannot read: %v", err)
}

func isKustomization(dir string) bool {
	return kustomizationFile(dir) != ""
}

// kustomizationFile is the kustomization file of dir, "" if none.
func kustomizationFile(dir string) string {
	for _, n := range kustomizationFiles {
		p := filepath.Join(dir, n)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
