package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestWorkerForceDeletedMidItem force-deletes a worker pod while its
// command is in the middle of an item: the broker gets the item back when
// the pod's connection dies, another pod does it, and the Job completes
// with every item done exactly once by the pods that succeeded.
func TestWorkerForceDeletedMidItem(t *testing.T) {
	spec := Spec{Name: "wq", Queue: "force-deleted", Items: fruits, Parallelism: 2, Env: map[string]string{"WORK_SECONDS": "6"}}
	r := Launch(t, spec, "deployment")
	work := r.Job("work")

	var victim, item string
	r.eventually(3*time.Minute, "a worker in the middle of an item", func() bool {
		for pod, phase := range r.Pods("batch.kubernetes.io/job-name=" + work) {
			if phase != "Running" {
				continue
			}
			log := r.Logs(pod, "worker")
			if m := processing.FindStringSubmatch(log); m != nil && !strings.Contains(log, "Done "+m[1]) {
				victim, item = pod, m[1]
				return true
			}
		}
		return false
	})
	r.ForceDelete(victim)
	t.Logf("force-deleted %s in the middle of %q, %v after the apply", victim, item, r.since())

	st := r.WaitJob(work, "Complete", 5*time.Minute)
	t.Logf("worker Job complete %v after the apply: %d succeeded, %d failed", r.since(), st.Succeeded, st.Failed)
	if st.Succeeded != len(fruits) {
		t.Errorf("worker Job succeeded %d pods, want %d", st.Succeeded, len(fruits))
	}
	seen := r.Processed(work)
	r.CheckEachOnce(seen)
	if seen[item] != 1 {
		t.Errorf("the deleted pod's item %q was done %d times by the pods that succeeded, want 1", item, seen[item])
	}
	r.CheckDrained()
}

// TestSeedKilledMidSeed kills the seeding pod while it is publishing
// 200,000 items: the Job's next pod must leave exactly 200,000 in the
// queue, sealed. The worker Job is left out of the apply, or its workers
// would start taking items as soon as the queue is sealed.
func TestSeedKilledMidSeed(t *testing.T) {
	const n = 200_000
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("item-%06d", i)
	}
	spec := Spec{Name: "big", Queue: "killed-seed", Items: items}
	r := Prepare(t, spec, "deployment")
	r.ApplyWithout(spec.Name + "-work-")
	seed := r.Job("seed")

	var victim string
	r.eventually(5*time.Minute, "a seeder part-way through", func() bool {
		pods := r.Pods("batch.kubernetes.io/job-name=" + seed)
		if len(pods) != 1 {
			return false
		}
		for pod, phase := range pods {
			if phase != "Running" {
				return false
			}
			q := r.Queues()
			if d := q[spec.Queue]; d.Ready > 0 && d.Ready < n {
				victim = pod
				t.Logf("seeder %s has published %d of %d items, %v after the apply", pod, d.Ready, n, r.since())
				return true
			}
		}
		return false
	})
	r.ForceDelete(victim)

	st := r.WaitJob(seed, "Complete", 8*time.Minute)
	t.Logf("seed Job complete %v after the apply: %d succeeded, %d failed", r.since(), st.Succeeded, st.Failed)
	// Exactly n items after the retried seeding, and the one seal.
	r.CheckQueues(map[string]QueueDepth{spec.Queue: {Ready: n}, spec.Queue + ".seal": {Ready: 1}})
}

// TestBrokerDeletedMidRun deletes the statefulset's broker pod while the
// workers are part-way through: the StatefulSet brings it back on the
// same volume, the durable queue is still there, and the run completes
// with every item done once.
func TestBrokerDeletedMidRun(t *testing.T) {
	spec := Spec{Name: "wq", Queue: "broker-deleted", Items: fruits, Parallelism: 2, Env: map[string]string{"WORK_SECONDS": "3"}}
	r := Launch(t, spec, "statefulset")
	broker := r.WaitBrokerReady(3 * time.Minute)
	r.WaitJob(r.Job("seed"), "Complete", 3*time.Minute)
	work := r.Job("work")
	r.eventually(3*time.Minute, "two items done", func() bool { return r.JobStatus(work).Succeeded >= 2 })

	uid := node.MustKubectl(t, "get", "pod", broker, "-n", r.NS, "-o", "jsonpath={.metadata.uid}")
	node.MustKubectl(t, "delete", "pod", broker, "-n", r.NS, "--wait=false")
	t.Logf("deleted the broker pod %s %v after the apply, %d items done", broker, r.since(), r.JobStatus(work).Succeeded)
	r.eventually(time.Minute, "the old broker pod gone", func() bool {
		return node.Kubectl(t, "get", "pod", broker, "-n", r.NS, "-o", "jsonpath={.metadata.uid}").Stdout != uid
	})
	r.WaitBrokerReady(3 * time.Minute)
	t.Logf("broker Ready again %v after the apply", r.since())

	// The seed Job is complete and never runs again, so the items still
	// to do can only come from the queue as it was before the restart.
	st := r.WaitJob(work, "Complete", 8*time.Minute)
	t.Logf("worker Job complete %v after the apply: %d succeeded, %d failed", r.since(), st.Succeeded, st.Failed)
	if st.Succeeded != len(fruits) {
		t.Errorf("worker Job succeeded %d pods, want %d", st.Succeeded, len(fruits))
	}
	r.CheckEachOnce(r.Processed(work))
	r.CheckDrained()
}

// ForceDelete deletes a pod at once (--force --grace-period=0): the API
// object goes, and the kubelet kills what still runs. kubectl's warning
// about exactly that is expected on stderr.
func (r *Run) ForceDelete(pod string) {
	r.t.Helper()
	if res := node.Kubectl(r.t, "delete", "pod", pod, "-n", r.NS, "--force", "--grace-period=0"); res.Err != nil {
		r.t.Fatalf("force-delete %s: %v", pod, res)
	}
}

var docSep = regexp.MustCompile(`(?m)^---\n`)

// ApplyWithout applies the overlay's objects except those whose name
// starts with prefix, with the same kubectl apply, fed the kustomize
// output.
func (r *Run) ApplyWithout(prefix string) {
	r.t.Helper()
	out := node.MustKubectl(r.t, "kustomize", r.Dir+"/overlays/"+r.Variant)
	var kept []string
	dropped := 0
	for _, doc := range docSep.Split(out, -1) {
		if strings.Contains(doc, "\n  name: "+prefix) {
			dropped++
			continue
		}
		kept = append(kept, doc)
	}
	if dropped != 1 {
		r.t.Fatalf("dropped %d objects named %s*, want 1", dropped, prefix)
	}
	res := node.KubectlStdin(r.t, strings.Join(kept, "---\n"), "apply", "-n", r.NS, "-f", "-")
	if res.Err != nil {
		r.t.Fatalf("apply: %v", res)
	}
	r.Applied = time.Now()
}
