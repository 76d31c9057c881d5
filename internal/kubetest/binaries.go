package kubetest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type binaries struct {
	etcd, apiserver, controllerManager, kubectl string
}

// installHint ends every "binary missing" error: the fix is always the
// same command, and it is idempotent.
const installHint = "run make kube-tools (tools/kube/install.sh) to build them"

// findBinaries locates the servers: JOBWQ_KUBE_BIN names a directory
// holding kube-apiserver and kube-controller-manager; otherwise they are
// in the cache tools/kube/install.sh fills, under the version pinned in
// tools/kube/go.mod, so a pin change can never run a stale build. etcd and
// kubectl come from PATH unless JOBWQ_ETCD or KUBECTL name them.
func findBinaries() (binaries, error) {
	var b binaries
	dir := os.Getenv("JOBWQ_KUBE_BIN")
	if dir == "" {
		version, err := pinnedVersion()
		if err != nil {
			return b, fmt.Errorf("kubetest: %w", err)
		}
		dir = filepath.Join(CacheDir(), "kube-"+version)
	}
	b.apiserver = filepath.Join(dir, "kube-apiserver")
	b.controllerManager = filepath.Join(dir, "kube-controller-manager")
	var errs []error
	for _, p := range []string{b.apiserver, b.controllerManager} {
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, fmt.Errorf("kubetest: %s is missing: %s", p, installHint))
		}
	}
	var err error
	if b.etcd, err = lookPath("JOBWQ_ETCD", "etcd"); err != nil {
		errs = append(errs, fmt.Errorf("kubetest: %w: install Debian's etcd-server or %s", err, installHint))
	}
	if b.kubectl, err = lookPath("KUBECTL", "kubectl"); err != nil {
		errs = append(errs, fmt.Errorf("kubetest: %w: kubectl is needed to apply manifests", err))
	}
	return b, errors.Join(errs...)
}

// CacheDir is where make tools installs what the tests run:
// $JOBWQ_CACHE, or ~/.cache/jobwq.
func CacheDir() string {
	if c := os.Getenv("JOBWQ_CACHE"); c != "" {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "jobwq-cache")
	}
	return filepath.Join(home, ".cache", "jobwq")
}

// KubeScore finds kube-score, on PATH or where make tools installs it, and
// fails the test with the fix when it is in neither.
func KubeScore(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("kube-score"); err == nil {
		return p
	}
	p := filepath.Join(CacheDir(), "bin", "kube-score")
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("kube-score not found on PATH or at %s: run make tools", p)
	}
	return p
}

func lookPath(env, name string) (string, error) {
	if p := os.Getenv(env); p != "" {
		name = p
	}
	return exec.LookPath(name)
}

// pinnedVersion reads the k8s.io/kubernetes requirement from
// tools/kube/go.mod, found by walking up from the working directory (a
// package directory under go test), the same line install.sh reads.
func pinnedVersion() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		gomod := filepath.Join(dir, "tools", "kube", "go.mod")
		f, err := os.Open(gomod)
		if err == nil {
			defer f.Close()
			return requiredVersion(f, gomod)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no tools/kube/go.mod above %s; set JOBWQ_KUBE_BIN to the directory holding kube-apiserver", wd)
		}
	}
}

func requiredVersion(f *os.File, name string) (string, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[0] == "require" {
			fields = fields[1:]
		}
		if len(fields) >= 2 && fields[0] == "k8s.io/kubernetes" && strings.HasPrefix(fields[1], "v") {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	return "", fmt.Errorf("%s: no k8s.io/kubernetes requirement", name)
}
