package conformance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jobwq/jobwq/internal/kubetest"
)

var (
	kube     *kubetest.Server
	jobwq    string // the binary under test
	repoRoot string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "jobwq-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	// The binary, not cli.Main in-process: these tests see jobwq exactly
	// as a user's CI does.
	jobwq = filepath.Join(dir, "jobwq")
	build := exec.Command("go", "build", "-o", jobwq, "./cmd/jobwq")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: go build ./cmd/jobwq: %v\n%s", err, out)
		return 1
	}

	start := time.Now()
	s, err := kubetest.Start(context.Background(), kubetest.Options{ControllerManager: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Stop()
	kube = s
	fmt.Fprintf(os.Stderr, "conformance: kube-apiserver ready at %s in %v\n", s.URL, time.Since(start).Round(10*time.Millisecond))
	if err := installCRDs(s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// build runs jobwq build SPEC -o DIR and fails the test if it fails.
func build(t *testing.T, spec, dir string) {
	t.Helper()
	cmd := exec.Command(jobwq, "build", spec, "-o", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("jobwq build %s -o %s: %v\n%s", spec, dir, err, stderr.String())
	}
}

// overlays lists DIR/overlays/*, the variants a build wrote, checking
// that those every build of its kind promises are among them.
func overlays(t *testing.T, dir string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "overlays", "*"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			got[filepath.Base(p)] = p
		}
	}
	want := []string{"deployment", "replicationcontroller", "statefulset", "rabbitmqcluster", "indexed"}
	if got["external"] != "" {
		// A spec with an external broker: no broker of jobwq's.
		want = []string{"external", "indexed"}
	}
	for _, v := range want {
		if got[v] == "" {
			t.Errorf("%s has no overlays/%s", dir, v)
		}
	}
	return got
}

// workQueue writes a WorkQueue spec with its items in items.txt beside it
// and returns the spec's path. Only the fields the brief fixes are used.
func workQueue(t *testing.T, dir, name string, parallelism int, items []string) string {
	t.Helper()
	return workQueuePerPod(t, dir, name, parallelism, 1, items)
}

// workQueuePerPod is workQueue with spec.worker.itemsPerPod.
func workQueuePerPod(t *testing.T, dir, name string, parallelism, perPod int, items []string) string {
	t.Helper()
	spec := fmt.Sprintf(`apiVersion: jobwq.dev/v1alpha1
kind: WorkQueue
metadata:
  name: %s
spec:
  itemsFile: items.txt
  queue:
    name: %s
  worker:
    image: registry.example.com/jobwq/worker:v1
    command: [python3, /worker.py]
    parallelism: %d
    itemsPerPod: %d
  broker:
    image: rabbitmq:4.1.4-management
`, name, name, parallelism, perPod)
	writeItems(t, dir, items)
	path := filepath.Join(dir, "workqueue.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeItems(t *testing.T, dir string, items []string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "items.txt"), []byte(strings.Join(items, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// objectCount is how many objects kustomize builds from dir: the apply
// must report on every one, or something was silently left out.
func objectCount(t *testing.T, dir string) int {
	t.Helper()
	out := kube.MustKubectl(t, "kustomize", dir)
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "kind: ") {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("kubectl kustomize %s built no objects", dir)
	}
	return n
}

// outcome checks one apply: it must succeed, print nothing on stderr, and
// name every object with one of the outcomes, e.g. "created (server dry
// run)". It returns what is wrong, each with kubectl's own words.
func outcome(r kubetest.Result, objects int, outcomes ...string) []string {
	var problems []string
	if r.Err != nil {
		return []string{fmt.Sprintf("refused: kubectl %s: %v: %s", strings.Join(r.Args, " "), r.Err, strings.TrimSpace(r.Stderr))}
	}
	if r.Stderr != "" {
		problems = append(problems, fmt.Sprintf("accepted with stderr: kubectl %s: %s", strings.Join(r.Args, " "), strings.TrimSpace(r.Stderr)))
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != objects {
		problems = append(problems, fmt.Sprintf("kubectl %s reported %d objects, kustomize built %d:\n%s", strings.Join(r.Args, " "), len(lines), objects, r.Stdout))
	}
	for _, line := range lines {
		ok := false
		for _, o := range outcomes {
			ok = ok || strings.HasSuffix(line, " "+o)
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("kubectl %s: %q, want one of %q", strings.Join(r.Args, " "), line, outcomes))
		}
	}
	return problems
}
