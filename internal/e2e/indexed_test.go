package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIndexed is the article's run as an Indexed Job: no broker, the
// items from the mounted chunks, two per pod; each fruit processed once.
func TestIndexed(t *testing.T) {
	spec := Spec{Name: "wq", Queue: "unused", Items: fruits, Parallelism: 2, ItemsPerPod: 2}
	r := Launch(t, spec, "indexed")
	job := r.Job("indexed")
	st := r.WaitJob(job, "Complete", 5*time.Minute)
	r.Timeline("apply → done " + r.since().String())
	if st.Succeeded != 4 || st.Failed != 0 {
		t.Errorf("indexed Job: %+v, want 4 succeeded, none failed", st)
	}
	active, live, seen := r.Workers.Max()
	t.Logf("worker pods: %d seen, at most %d active and %d alive at once", seen, active, live)
	if live > spec.Parallelism {
		t.Errorf("%d worker pods alive at once, parallelism is %d", live, spec.Parallelism)
	}
	r.CheckEachOnce(r.Processed(job))
	if out := node.MustKubectl(t, "get", "pods", "-n", r.NS, "-l", "app.kubernetes.io/component=broker", "-o", "name"); out != "" {
		t.Errorf("the indexed variant runs a broker: %s", out)
	}
}

// TestIndexedFailingItem: an item that always fails fails only its index,
// after backoffLimitPerIndex retries; Kubernetes reports the index in
// status.failedIndexes, and jobwq items maps it back to the item.
func TestIndexedFailingItem(t *testing.T) {
	spec := Spec{Name: "wq", Queue: "unused", Items: fruits, Parallelism: 2, PerIndex: 1,
		Env: map[string]string{"FAIL_ITEMS": "fig"}}
	r := Launch(t, spec, "indexed")
	job := r.Job("indexed")
	r.WaitJob(job, "Failed", 6*time.Minute)
	failed := node.MustKubectl(t, "get", "job", job, "-n", r.NS, "-o", "jsonpath={.status.failedIndexes}")
	if failed != "4" {
		t.Errorf("failedIndexes = %q, want 4 (fig)", failed)
	}
	seen := r.Processed(job)
	for _, item := range fruits {
		if item != "fig" && seen[item] != 1 {
			t.Errorf("item %q processed %d times by succeeded pods, want 1", item, seen[item])
		}
	}
	out, err := exec.Command(node.JobwqBinary(), "items", filepath.Dir(r.Dir), "--index", failed).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "fig" {
		t.Errorf("jobwq items --index %s: %q, %v; want fig", failed, out, err)
	}
}
