package kubetest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Result is one kubectl run. Stdout and Stderr are kept apart because
// the API server's warnings ("Warning: ...") arrive on stderr, and a
// test that wants none must see them on their own.
type Result struct {
	Args   []string
	Stdout string
	Stderr string
	Err    error // nil when kubectl exited 0
}

func (r Result) String() string {
	return fmt.Sprintf("kubectl %s: %v\n--- stdout ---\n%s--- stderr ---\n%s", strings.Join(r.Args, " "), r.Err, r.Stdout, r.Stderr)
}

// Warnings are the API server's warnings kubectl printed.
func (r Result) Warnings() []string {
	var w []string
	for _, line := range strings.Split(r.Stderr, "\n") {
		if strings.HasPrefix(line, "Warning:") {
			w = append(w, line)
		}
	}
	return w
}

// kubectlTimeout bounds one kubectl run; a client-side apply of 100,000
// items is the slowest thing the tests do.
const kubectlTimeout = 10 * time.Minute

// Kubectl runs kubectl against the server and returns what happened; a
// failing kubectl is a Result with Err set, for the test to judge.
func (s *Server) Kubectl(t testing.TB, args ...string) Result {
	t.Helper()
	return s.KubectlStdin(t, "", args...)
}

// KubectlStdin is Kubectl with stdin, for "-f -".
func (s *Server) KubectlStdin(t testing.TB, stdin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), kubectlTimeout)
	defer cancel()
	// The discovery cache is private to this server: one in ~/.kube would
	// outlive it and describe another server on the same port.
	full := append([]string{"--kubeconfig=" + s.Kubeconfig, "--cache-dir=" + s.cacheDir}, args...)
	cmd := exec.CommandContext(ctx, s.kubectl, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	return Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// MustKubectl runs kubectl and fails the test unless it exits 0 with
// nothing on stderr; it returns stdout.
func (s *Server) MustKubectl(t testing.TB, args ...string) string {
	t.Helper()
	r := s.Kubectl(t, args...)
	if r.Err != nil || r.Stderr != "" {
		t.Fatal(r)
	}
	return r.Stdout
}

// Namespace creates a namespace for the test that enforces, and warns
// about, the restricted Pod Security standard, with the default service
// account a real cluster would have. It is left for Stop: without the
// namespace controller a deleted namespace never goes away.
func (s *Server) Namespace(t testing.TB) string {
	t.Helper()
	name := namespaceName(t.Name(), s.nsSeq.Add(1))
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: default
  namespace: %[1]s
`, name)
	// Server-side apply, because the service-account controller, when it
	// runs, may create the same account at the same moment.
	r := s.KubectlStdin(t, manifest, "apply", "--server-side", "--field-manager=kubetest", "-f", "-")
	if r.Err != nil || r.Stderr != "" {
		t.Fatalf("create namespace: %v", r)
	}
	return name
}

var notDNSLabel = regexp.MustCompile(`[^a-z0-9]+`)

// namespaceName makes a DNS-1123 label from a test name, so a namespace
// says which test made it, with a sequence number to keep it unique.
func namespaceName(test string, seq int64) string {
	base := strings.Trim(notDNSLabel.ReplaceAllString(strings.ToLower(test), "-"), "-")
	suffix := fmt.Sprintf("-%d", seq)
	if max := 63 - len(suffix); len(base) > max {
		base = strings.TrimRight(base[:max], "-")
	}
	return base + suffix
}

// LogTail returns the last n lines a server ("etcd", "kube-apiserver",
// "kube-controller-manager") wrote, for a failing test to show.
func (s *Server) LogTail(name string, n int) string {
	for _, p := range s.procs {
		if p.name == name {
			return p.logTail(n)
		}
	}
	return fmt.Sprintf("(no %s running)", name)
}
