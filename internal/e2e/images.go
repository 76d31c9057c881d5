package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Images are the references of the images the node has imported, for a
// WorkQueue spec to name. They live only in the node's containerd.
type Images struct {
	Pause  string
	Runner string // the static jobwq binary: the seeder and the worker's init container
	Worker string // busybox and workerScript
	Broker string // Debian's rabbitmq-server, arranged like the official image
}

// The references. A tag, because jobwq refuses untagged and :latest
// images; nothing pulls them, so no registry needs to exist.
var imageRefs = Images{
	Pause:  "jobwq.local/e2e/pause:v1",
	Runner: "jobwq.local/e2e/jobwq:v1",
	Worker: "jobwq.local/e2e/worker:v1",
	Broker: "jobwq.local/e2e/rabbitmq:v1",
}

// appUID is the numeric user jobwq's manifests run every container as.
const appUID = 10001

// workerScript is the article's worker.py as a shell script: one item on
// stdin, "Processing <item>" on stdout. WORK_SECONDS makes each item take
// that long, so a test can act while one is in progress; an item listed
// in FAIL_ITEMS fails every time (a poison item).
const workerScript = `#!/bin/sh
item=$(cat)
echo "Processing $item"
if [ -n "${WORK_SECONDS:-}" ]; then sleep "$WORK_SECONDS"; fi
for bad in ${FAIL_ITEMS:-}; do
  if [ "$item" = "$bad" ]; then echo "Failing $item" >&2; exit 1; fi
done
echo "Done $item"
`

// busyboxApplets are linked to busybox in the worker image: what
// workerScript and a curious kubectl exec use.
var busyboxApplets = []string{"sh", "cat", "echo", "sleep", "printf", "env", "ls", "test", "[", "true", "false", "kill", "ps", "id", "date", "head", "tail", "grep"}

// The broker image is Debian's rabbitmq-server arranged to behave like the
// official rabbitmq image where jobwq's manifests rely on it: the default
// user from RABBITMQ_DEFAULT_USER and RABBITMQ_DEFAULT_PASS (through a
// config file written at start, so it does not depend on the server
// version reading them), listening on every address (Debian's package
// binds to localhost), logging to stdout, HOME on the data volume for the
// Erlang cookie, rabbitmq-diagnostics on PATH and runnable by any uid
// (Debian's /usr/sbin wrappers insist on root or the rabbitmq user).
const (
	brokerEntrypoint = `#!/bin/sh
set -eu
umask 077
# The root filesystem is read-only; /tmp is an emptyDir in jobwq's pods.
conf=/tmp/rabbitmq/rabbitmq.conf
mkdir -p /tmp/rabbitmq
cat /etc/rabbitmq/rabbitmq.conf >"$conf"
if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then printf 'default_user = %s\n' "$RABBITMQ_DEFAULT_USER" >>"$conf"; fi
if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then printf 'default_pass = %s\n' "$RABBITMQ_DEFAULT_PASS" >>"$conf"; fi
export RABBITMQ_CONFIG_FILE="$conf"
exec "$@"
`
	brokerConf = `# As in the official image: every address, logs on the console.
listeners.tcp.default = 5672
log.console = true
log.console.level = info
log.file = false
`
	brokerEnvConf = "# Empty: Debian's file binds the node to localhost.\n"
)

// brokerBuildVersion changes whenever the way the broker image is made
// changes in a way its other inputs do not show, to leave old caches.
const brokerBuildVersion = "1"

// buildImages writes the four image archives into dir (the broker's from
// the cache when its inputs are unchanged) and returns their paths.
func buildImages(ctx context.Context, dir, repoRoot, cacheDir string, logf func(string, ...any)) ([]string, error) {
	var archives []string
	build := func(name string, f func(string) error) error {
		start := time.Now()
		out := filepath.Join(dir, name+".oci.tar")
		if err := f(out); err != nil {
			return fmt.Errorf("e2e: build the %s image: %w", name, err)
		}
		archives = append(archives, out)
		logf("image %s built in %v", name, time.Since(start).Round(100*time.Millisecond))
		return nil
	}

	pauseBin := filepath.Join(dir, "pause")
	runnerBin := filepath.Join(dir, "jobwq")
	if err := goBuildStatic(ctx, repoRoot, pauseBin, "./internal/e2e/pause"); err != nil {
		return nil, err
	}
	if err := goBuildStatic(ctx, repoRoot, runnerBin, "./cmd/jobwq-runner"); err != nil {
		return nil, err
	}
	// The full jobwq builds the trees the tests apply, from the same tree.
	if err := goBuildStatic(ctx, repoRoot, filepath.Join(dir, "jobwq-cli"), "./cmd/jobwq"); err != nil {
		return nil, err
	}
	err := errors.Join(
		build("pause", func(out string) error {
			return oneLayerImage(out, imageRefs.Pause, imageConfig{Entrypoint: []string{"/pause"}, User: "65535:65535"},
				func(l *layerWriter) error { return l.copyFile("pause", 0o755, pauseBin) })
		}),
		build("runner", func(out string) error {
			return oneLayerImage(out, imageRefs.Runner, imageConfig{
				Entrypoint: []string{"/jobwq"},
				User:       fmt.Sprintf("%d:%d", appUID, appUID),
				Env:        []string{"PATH=/"},
			}, func(l *layerWriter) error {
				return errors.Join(l.dir("tmp", 0o1777), l.copyFile("jobwq", 0o755, runnerBin))
			})
		}),
		build("worker", func(out string) error { return workerImage(out) }),
	)
	if err != nil {
		return nil, err
	}
	if err := build("broker", func(out string) error { return brokerImage(ctx, out, cacheDir, logf) }); err != nil {
		return nil, err
	}
	return archives, nil
}

func goBuildStatic(ctx context.Context, repoRoot, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("e2e: CGO_ENABLED=0 go build -o %s %s: %w\n%s", out, pkg, err, b)
	}
	return nil
}

func oneLayerImage(out, ref string, cfg imageConfig, fill func(*layerWriter) error) error {
	layerPath := out + ".layer"
	defer os.Remove(layerPath)
	l, err := newLayer(layerPath)
	if err != nil {
		return err
	}
	if err := fill(l); err != nil {
		l.close()
		return err
	}
	desc, err := l.close()
	if err != nil {
		return err
	}
	return writeArchive(out, ref, layerPath, desc, cfg)
}

// busyboxStatic finds a statically linked busybox (Debian's
// busybox-static): the worker image has no libc for a dynamic one.
func busyboxStatic() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", errors.New("no statically linked busybox at /bin/busybox: install Debian's busybox-static (apt-get install busybox-static, as .ci/run does)")
}

func workerImage(out string) error {
	bb, err := busyboxStatic()
	if err != nil {
		return err
	}
	return oneLayerImage(out, imageRefs.Worker, imageConfig{
		User: fmt.Sprintf("%d:%d", appUID, appUID),
		Env:  []string{"PATH=/bin"},
		Cmd:  []string{"/bin/sh", "/worker.sh"},
	}, func(l *layerWriter) error {
		errs := []error{l.dir("bin", 0o755), l.dir("tmp", 0o1777), l.copyFile("bin/busybox", 0o755, bb)}
		for _, a := range busyboxApplets {
			errs = append(errs, l.symlink("bin/"+a, "busybox"))
		}
		errs = append(errs, l.file("worker.sh", 0o755, []byte(workerScript)))
		return errors.Join(errs...)
	})
}

// brokerImage makes the broker image from mmdebstrap's Debian root with
// rabbitmq-server, about 100 s and 280 MB, so the archive is cached under
// cacheDir, named by a digest of everything that goes into it.
func brokerImage(ctx context.Context, out, cacheDir string, logf func(string, ...any)) error {
	sources, err := hostSources()
	if err != nil {
		return err
	}
	suite, err := hostSuite()
	if err != nil {
		return err
	}
	version, err := exec.CommandContext(ctx, "mmdebstrap", "--version").Output()
	if err != nil {
		return fmt.Errorf("mmdebstrap --version: %w: install Debian's mmdebstrap (as .ci/run does)", err)
	}
	sourcesContent, err := os.ReadFile(sources)
	if err != nil {
		return err
	}
	args := []string{
		"--variant=minbase", "--include=rabbitmq-server", "--format=tar",
		"--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-exclude=/usr/share/man/*",
		"--dpkgopt=path-exclude=/usr/share/locale/*",
		"--aptopt=Acquire::Check-Valid-Until \"false\"",
		suite,
	}
	key := sha256.New()
	for _, part := range []string{brokerBuildVersion, string(version), strings.Join(args, "\x00"), string(sourcesContent), brokerEntrypoint, brokerConf, brokerEnvConf} {
		fmt.Fprintf(key, "%d\x00%s", len(part), part)
	}
	cacheDir = filepath.Join(cacheDir, "images")
	cached := filepath.Join(cacheDir, "rabbitmq-"+hex.EncodeToString(key.Sum(nil))[:16]+".oci.tar")
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return err
	}
	// Two runs at once build it once: the second waits, then finds it.
	lock, err := os.OpenFile(cached+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	if _, err := os.Stat(cached); err == nil {
		logf("broker image from the cache: %s", cached)
		return os.Symlink(cached, out)
	}

	logf("building the broker image with mmdebstrap (about 100 s; cached at %s afterwards)", cached)
	root := cached + ".root.tar"
	defer os.Remove(root)
	cmd := exec.CommandContext(ctx, "mmdebstrap", append(args, root, sources)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdin = nil // mmdebstrap reads sources from stdin when it is not a terminal and no mirror is given
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mmdebstrap %s: %w\n%s", strings.Join(cmd.Args[1:], " "), err, tail(stderr.String(), 30))
	}
	layerPath := cached + ".layer"
	defer os.Remove(layerPath)
	l, err := newLayer(layerPath)
	if err != nil {
		return err
	}
	if err := brokerLayer(l, root); err != nil {
		l.close()
		return err
	}
	desc, err := l.close()
	if err != nil {
		return err
	}
	cfg := imageConfig{
		User: fmt.Sprintf("%d:%d", appUID, appUID),
		Env: []string{
			"PATH=/usr/lib/rabbitmq/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"HOME=/var/lib/rabbitmq",
			"LANG=C.UTF-8",
			"RABBITMQ_LOGS=-",
		},
		Entrypoint:   []string{"docker-entrypoint.sh"},
		Cmd:          []string{"rabbitmq-server"},
		ExposedPorts: map[string]struct{}{"5672/tcp": {}},
	}
	if err := writeArchive(cached, imageRefs.Broker, layerPath, desc, cfg); err != nil {
		return err
	}
	return os.Symlink(cached, out)
}

// brokerLayer copies mmdebstrap's root into the layer, leaving out device
// nodes (the runtime makes /dev) and the files replaced by the official
// image's behaviour, then adds those.
func brokerLayer(l *layerWriter, rootTar string) error {
	f, err := os.Open(rootTar)
	if err != nil {
		return err
	}
	defer f.Close()
	replaced := map[string]bool{
		"etc/rabbitmq/rabbitmq.conf":         true,
		"etc/rabbitmq/rabbitmq-env.conf":     true,
		"usr/local/bin/docker-entrypoint.sh": true,
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", rootTar, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock || h.Typeflag == tar.TypeFifo || replaced[name] {
			continue
		}
		if err := l.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(l.Writer, tr); err != nil {
			return err
		}
	}
	return errors.Join(
		l.file("./etc/rabbitmq/rabbitmq.conf", 0o644, []byte(brokerConf)),
		l.file("./etc/rabbitmq/rabbitmq-env.conf", 0o644, []byte(brokerEnvConf)),
		l.file("./usr/local/bin/docker-entrypoint.sh", 0o755, []byte(brokerEntrypoint)),
	)
}

// hostSources is the machine's own Debian sources list, which reaches
// the package mirror the machine is allowed to use.
func hostSources() (string, error) {
	for _, p := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		if b, err := os.ReadFile(p); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return p, nil
		}
	}
	return "", errors.New("no Debian sources list at /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list for mmdebstrap")
}

// hostSuite is the machine's Debian release (bookworm): the broker image
// gets the same rabbitmq-server the machine's own broker runs.
func hostSuite() (string, error) {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VERSION_CODENAME="); ok && v != "" {
			return strings.Trim(v, `"`), nil
		}
	}
	return "", errors.New("/etc/os-release has no VERSION_CODENAME: the broker image is built with mmdebstrap from Debian")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
