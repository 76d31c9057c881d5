package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

var kube *Server

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	s, err := Start(context.Background(), Options{ControllerManager: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "kubetest: API server ready at %s in %v\n", s.URL, time.Since(start).Round(10*time.Millisecond))
	kube = s
	defer s.Stop()
	return m.Run()
}

func TestNamespaceEnforcesRestricted(t *testing.T) {
	ns := kube.Namespace(t)
	got := kube.MustKubectl(t, "get", "namespace", ns, "-o", `jsonpath={.metadata.labels.pod-security\.kubernetes\.io/enforce} {.metadata.labels.pod-security\.kubernetes\.io/warn}`)
	if want := "restricted restricted"; got != want {
		t.Errorf("namespace %s Pod Security labels = %q, want %q", ns, got, want)
	}
	// Without the account, pods are refused before Pod Security is asked.
	kube.MustKubectl(t, "get", "serviceaccount", "default", "-n", ns)
}

// TestServerJudges is the harness's own negative control: an object the
// API server must refuse comes back as a failed Result carrying the
// server's reason on stderr.
func TestServerJudges(t *testing.T) {
	ns := kube.Namespace(t)
	r := kube.KubectlStdin(t, `apiVersion: v1
kind: Pod
metadata:
  name: root
spec:
  containers:
  - name: c
    image: busybox:1.36
    securityContext:
      privileged: true
`, "apply", "--dry-run=server", "-n", ns, "-f", "-")
	if r.Err == nil {
		t.Fatalf("a privileged pod was admitted in a restricted namespace:\n%v", r)
	}
	if want := `violates PodSecurity "restricted:latest"`; !strings.Contains(r.Stderr, want) {
		t.Errorf("stderr lacks %q:\n%v", want, r)
	}
}

func TestWarningsAreSeparate(t *testing.T) {
	ns := kube.Namespace(t)
	// A Deployment is not a pod, so enforce lets it through and warn
	// reports what its pods would violate.
	r := kube.KubectlStdin(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: loose
spec:
  selector:
    matchLabels: {app: loose}
  template:
    metadata:
      labels: {app: loose}
    spec:
      containers:
      - name: c
        image: busybox:1.36
`, "apply", "--dry-run=server", "-n", ns, "-f", "-")
	if r.Err != nil {
		t.Fatal(r)
	}
	w := r.Warnings()
	if len(w) == 0 || !strings.Contains(w[0], `would violate PodSecurity "restricted:latest"`) {
		t.Errorf("Warnings() = %q, want a restricted:latest warning\n%v", w, r)
	}
	if !strings.Contains(r.Stdout, "deployment.apps/loose created (server dry run)") {
		t.Errorf("stdout lacks the created object:\n%v", r)
	}
}

func TestStopLeavesNothing(t *testing.T) {
	s, err := Start(t.Context(), Options{ControllerManager: true})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range s.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	dir := s.dir
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		// Negative: the whole process group, so children count too.
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group %d still exists after Stop (kill 0: %v)", pid, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after Stop: %v", dir, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestMissingBinariesSayWhatToRun(t *testing.T) {
	t.Setenv("JOBWQ_KUBE_BIN", t.TempDir())
	_, err := Start(t.Context(), Options{})
	if err == nil || !strings.Contains(err.Error(), "make kube-tools") {
		t.Errorf("Start with no binaries: %v, want an error saying to run make kube-tools", err)
	}
}

func TestNamespaceName(t *testing.T) {
	tests := []struct {
		name string
		test string
		seq  int64
		want string
	}{
		{name: "plain", test: "TestApply", seq: 1, want: "testapply-1"},
		{name: "subtest", test: "TestApply/fruits/deployment", seq: 12, want: "testapply-fruits-deployment-12"},
		{name: "long", test: strings.Repeat("Abc_", 30), seq: 3, want: strings.Repeat("abc-", 15) + "a-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := namespaceName(tt.test, tt.seq)
			if got != tt.want {
				t.Errorf("namespaceName(%q, %d) = %q, want %q", tt.test, tt.seq, got, tt.want)
			}
			if len(got) > 63 {
				t.Errorf("namespaceName(%q) is %d characters, more than a DNS label allows", tt.test, len(got))
			}
		})
	}
}
