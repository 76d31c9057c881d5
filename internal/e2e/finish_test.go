// These are the real-pod scenarios of "a run finishes right": a worker
// that joins a finished run, a re-apply after completion, a poison item
// and a command typo each end as the README says. Run them alone with:
//
//	go test -race -count=1 -run 'AckThenCrash|ReapplyAfterCompletion|PoisonItem|CommandTypo' ./internal/e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// finishedWithin is how soon a worker must notice that the run it joined
// is complete ("exits 0 within seconds", with the pod's start-up on top).
const finishedWithin = 90 * time.Second

// runToCompletion applies spec and waits for both Jobs to complete.
func runToCompletion(t *testing.T, spec Spec, variant string) (r *Run, seed, work string) {
	t.Helper()
	r = Launch(t, spec, variant)
	seed = r.Job("seed")
	r.WaitJob(seed, "Complete", 3*time.Minute)
	work = r.Job("work")
	r.WaitJob(work, "Complete", 5*time.Minute)
	return r, seed, work
}

// TestAckThenCrash: a worker pod killed after its ack but before it exits
// makes the Job count a failure and start a replacement once every item
// is already acknowledged. No test can kill a pod in that microsecond
// reliably, so this one makes its consequence directly: after a complete
// run, one more pod from the worker Job's own template (as a Job of
// completions 1) joins the finished run. Issue 11: it exits 0 at once and
// takes nothing (before the ledger it waited --wait and exited 3,
// failing its Job).
func TestAckThenCrash(t *testing.T) {
	spec := Spec{Name: "wq", Queue: "ack-then-crash", Items: fruits, Parallelism: 2, Wait: "2m"}
	r, _, work := runToCompletion(t, spec, "deployment")

	late := r.CloneJob(work, "late-worker")
	st := r.WaitJob(late, "Complete", finishedWithin)
	if st.Succeeded != 1 {
		t.Errorf("the late worker's Job: %+v, want 1 succeeded", st)
	}
	if seen := r.Processed(late); len(seen) != 0 {
		t.Errorf("the late worker processed %v on a finished run, want nothing", seen)
	}
	r.CheckDrained()
}

// TestReapplyAfterCompletion: the Jobs of a finished run are removed (as
// ttlSecondsAfterFinished does) and the same build is applied again. The
// seeder finds the queue sealed with the same items and leaves it; the new
// worker Job's pods find the run complete and exit 0; nothing is done twice.
func TestReapplyAfterCompletion(t *testing.T) {
	spec := Spec{Name: "wq", Queue: "reapplied", Items: fruits, Parallelism: 2, Wait: "2m"}
	r, seed, work := runToCompletion(t, spec, "deployment")

	node.MustKubectl(t, "delete", "job", seed, work, "-n", r.NS, "--cascade=foreground", "--wait=true")
	r.Apply()
	r.WaitJob(r.Job("seed"), "Complete", 2*time.Minute)
	st := r.WaitJob(r.Job("work"), "Complete", finishedWithin+time.Minute)
	t.Logf("re-applied run complete %v after the apply: %+v", r.since(), st)
	if seen := r.Processed(work); len(seen) != 0 {
		t.Errorf("the re-applied run processed %v again, want nothing", seen)
	}
	r.CheckDrained()
}

// TestPoisonItem: an item whose command always fails is dead-lettered
// after the delivery limit, every other item is done once, and the run
// fails, naming the dead item, instead of waiting for an item that
// cannot come.
func TestPoisonItem(t *testing.T) {
	items := append(slices.Clone(fruits), "poison")
	// The default --wait (10m): the Job must fail because an item is
	// dead, not because the last worker gave up waiting; the deadline
	// below is the dead-lettering (4 deliveries with the Job's back-off
	// between them) plus a margin.
	spec := Spec{Name: "wq", Queue: "poison", Items: items, Parallelism: 2, BackoffLimit: 20,
		Env: map[string]string{"FAIL_ITEMS": "poison"}}
	r := Launch(t, spec, "deployment")
	work := r.Job("work")
	r.WaitJob(work, "Failed", 7*time.Minute)
	t.Logf("worker Job failed %v after the apply: %+v", r.since(), r.JobStatus(work))

	seen := r.Processed(work)
	for _, item := range fruits {
		if seen[item] != 1 {
			t.Errorf("item %q processed %d times by succeeded workers, want 1", item, seen[item])
		}
	}
	// The poison item dead-lettered, nothing left in the queue.
	r.CheckQueues(map[string]QueueDepth{spec.Queue: {}, spec.Queue + ".dead": {Ready: 1}})
	named := false
	for pod := range r.Pods("batch.kubernetes.io/job-name=" + work) {
		for _, line := range strings.Split(r.Logs(pod, "worker"), "\n") {
			named = named || (strings.Contains(line, "poison") && strings.Contains(line, "dead"))
		}
	}
	if !named {
		t.Errorf("no worker log line names the dead-lettered item %q", "poison")
	}
}

// TestCommandTypo: a worker command that cannot be started (pyhton3) is a
// usage error, exit 2, before any item is taken: the Job fails at once
// and every item stays in the queue, none burnt towards the delivery limit.
func TestCommandTypo(t *testing.T) {
	spec := Spec{Name: "wq", Queue: "typo", Items: fruits, Parallelism: 2, Command: []string{"pyhton3", "/worker.py"}}
	r := Launch(t, spec, "deployment")
	work := r.Job("work")
	r.WaitJob(work, "Failed", 3*time.Minute)
	// The workers fail before they wait for the seal, so the seeder may
	// still be at work: the items are checked once it is done.
	r.WaitJob(r.Job("seed"), "Complete", 3*time.Minute)

	for pod := range r.Pods("batch.kubernetes.io/job-name=" + work) {
		code := node.MustKubectl(t, "get", "pod", pod, "-n", r.NS, "-o",
			`jsonpath={.status.containerStatuses[?(@.name=="worker")].state.terminated.exitCode}`)
		if code != "" && code != "2" {
			t.Errorf("worker pod %s exited %s, want 2 (usage error)", pod, code)
		}
	}
	// Every item still ready, none dead-lettered.
	r.CheckQueues(map[string]QueueDepth{spec.Queue: {Ready: len(fruits)}, spec.Queue + ".dead": {}})
}

// CloneJob creates a Job named name from job's pod template, with one
// completion: one more pod exactly like the Job's own. The labels and
// selector the Job controller generated are dropped so it generates new
// ones.
func (r *Run) CloneJob(job, name string) string {
	r.t.Helper()
	var obj map[string]any
	if err := json.Unmarshal([]byte(node.MustKubectl(r.t, "get", "job", job, "-n", r.NS, "-o", "json")), &obj); err != nil {
		r.t.Fatal(err)
	}
	spec := obj["spec"].(map[string]any)
	delete(spec, "selector")
	spec["completions"], spec["parallelism"] = 1, 1
	tmplMeta := spec["template"].(map[string]any)["metadata"].(map[string]any)
	labels := tmplMeta["labels"].(map[string]any)
	for k := range labels {
		if strings.Contains(k, "controller-uid") || strings.Contains(k, "job-name") {
			delete(labels, k)
		}
	}
	clone := map[string]any{
		"apiVersion": "batch/v1",
		"kind":       "Job",
		"metadata":   map[string]any{"name": name, "namespace": r.NS},
		"spec":       spec,
	}
	b, err := json.Marshal(clone)
	if err != nil {
		r.t.Fatal(err)
	}
	if res := node.KubectlStdin(r.t, string(b), "create", "-f", "-"); res.Err != nil {
		r.t.Fatalf("create %s: %v", name, fmt.Sprint(res))
	}
	return name
}
