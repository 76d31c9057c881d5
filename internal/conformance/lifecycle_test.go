package conformance

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPruneAfterChange is the README's "Changing a run" on the API server:
// a changed spec (here the worker's image) gets new Jobs, and applying its
// build with kubectl's --prune and jobwq's labels removes the previous
// run's Jobs and nothing else: the broker, its Service and the items stay,
// and the queue, pinned by spec.queue.name, is the same one.
func TestPruneAfterChange(t *testing.T) {
	for _, v := range []string{"deployment", "statefulset"} {
		t.Run(v, func(t *testing.T) {
			dir := t.TempDir()
			spec := workQueue(t, dir, "fruits", 2, fruits)
			out := filepath.Join(dir, "out")
			overlay := filepath.Join(out, "overlays", v)
			ns := kube.Namespace(t)
			build(t, spec, out)
			kube.MustKubectl(t, "apply", "-n", ns, "-k", overlay)
			before := jobNames(t, ns)
			if len(before) != 2 {
				t.Fatalf("first run's Jobs = %v, want a seeding and a worker Job", before)
			}

			b, err := os.ReadFile(spec)
			if err != nil {
				t.Fatal(err)
			}
			changed := strings.Replace(string(b), "worker:v1", "worker:v2", 1)
			if err := os.WriteFile(spec, []byte(changed), 0o644); err != nil {
				t.Fatal(err)
			}
			build(t, spec, out)
			r := kube.Kubectl(t, "apply", "-n", ns, "-k", overlay, "--prune", "-l", pruneSelector)
			if r.Err != nil {
				t.Fatalf("kubectl apply --prune: %v: %s", r.Err, r.Stderr)
			}
			var pruned []string
			for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
				if name, ok := strings.CutSuffix(line, " pruned"); ok {
					pruned = append(pruned, strings.TrimPrefix(name, "job.batch/"))
				}
			}
			slices.Sort(pruned)
			if !slices.Equal(pruned, before) {
				t.Errorf("pruned %v, want exactly the first run's Jobs %v:\n%s", pruned, before, r.Stdout)
			}
			after := jobNames(t, ns)
			if len(after) != 2 || slices.ContainsFunc(after, func(n string) bool { return slices.Contains(before, n) }) {
				t.Errorf("Jobs after the prune = %v, want the new run's two (the first run's were %v)", after, before)
			}
			if got := kube.MustKubectl(t, "get", "jobs", "-n", ns, "-o", `jsonpath={.items[*].metadata.annotations.jobwq\.dev/queue}`); got != "fruits" {
				t.Errorf("the new worker Job's queue = %q, want the pinned fruits", got)
			}
			for _, kind := range []string{map[string]string{"deployment": "deployment", "statefulset": "statefulset"}[v], "service", "configmap"} {
				if got := kube.MustKubectl(t, "get", kind, "-n", ns, "-l", "app.kubernetes.io/instance=fruits", "-o", "name"); strings.TrimSpace(got) == "" {
					t.Errorf("no %s left after the prune", kind)
				}
			}
		})
	}
}

// pruneSelector is what the README gives kubectl apply --prune: every
// object of this run that jobwq made, and none the user made (the broker's
// Secret has neither label).
const pruneSelector = "app.kubernetes.io/instance=fruits,app.kubernetes.io/managed-by=jobwq"

func jobNames(t *testing.T, ns string) []string {
	t.Helper()
	out := kube.MustKubectl(t, "get", "jobs", "-n", ns, "-o", "name")
	var names []string
	for _, n := range strings.Fields(out) {
		names = append(names, strings.TrimPrefix(n, "job.batch/"))
	}
	slices.Sort(names)
	return names
}
