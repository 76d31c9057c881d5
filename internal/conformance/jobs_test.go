package conformance

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWorkerJobPods lets the real Job controller run the worker Job in a
// restricted namespace, for the queue variants and the indexed one, one
// item per pod and several. With no scheduler or kubelet the pods stay
// Pending, so the test plays the kubelet: it marks running pods
// Succeeded, one round at a time, and watches that Pod Security admits
// every pod, that no more than parallelism are ever active, that
// parallelism is actually reached, and that the Job completes after
// exactly one pod per itemsPerPod items.
func TestWorkerJobPods(t *testing.T) {
	for _, tc := range []struct {
		variant, job string
		perPod, pods int
	}{
		{"deployment", "work", 1, 7},
		{"deployment", "work", 2, 4},
		{"indexed", "indexed", 1, 7},
		{"indexed", "indexed", 3, 3},
	} {
		t.Run(fmt.Sprintf("%s/%d-per-pod", tc.variant, tc.perPod), func(t *testing.T) {
			workerJobPods(t, tc.variant, tc.job, tc.perPod, tc.pods)
		})
	}
}

func workerJobPods(t *testing.T, variant, jobKind string, perPod, wantPods int) {
	const parallelism = 3
	items := []string{"apple", "banana", "cherry", "date", "fig", "grape", "lemon"}

	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	build(t, workQueuePerPod(t, dir, "pods", parallelism, perPod, items), out)
	ns := kube.Namespace(t)
	apply(t, ns, filepath.Join(out, "overlays", variant), "created")

	job := ""
	for _, name := range strings.Fields(kube.MustKubectl(t, "get", "jobs", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}")) {
		if strings.HasPrefix(name, "pods-"+jobKind+"-") {
			job = name
		}
	}
	if job == "" {
		t.Fatalf("no worker Job named pods-%s-<hash>", jobKind)
	}

	seen := map[string]bool{}
	maxActive := 0
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("the Job did not complete in time: %d of %d pods seen, at most %d active\n%s\n%s",
				len(seen), wantPods, maxActive, events(t, ns), kube.LogTail("kube-controller-manager", 20))
		}
		if complete(t, ns, job) {
			break
		}
		var active []string
		for _, p := range pods(t, ns, job) {
			seen[p.name] = true
			if p.phase != "Succeeded" && p.phase != "Failed" {
				active = append(active, p.name)
			}
		}
		maxActive = max(maxActive, len(active))
		if len(active) > parallelism {
			t.Fatalf("%d worker pods active at once, parallelism is %d: %v", len(active), parallelism, active)
		}
		if len(active) > 0 {
			t.Logf("%d pods seen, %d active: marking them Succeeded", len(seen), len(active))
		}
		for _, name := range active {
			kube.MustKubectl(t, "patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge",
				"-p", `{"status":{"phase":"Succeeded"}}`)
		}
		time.Sleep(250 * time.Millisecond)
	}

	if len(seen) != wantPods {
		t.Errorf("the Job ran %d pods for %d items at %d per pod, want %d", len(seen), len(items), perPod, wantPods)
	}
	if maxActive != min(parallelism, wantPods) {
		t.Errorf("at most %d pods were active at once, want parallelism %d", maxActive, min(parallelism, wantPods))
	}
	if e := events(t, ns); strings.Contains(e, "FailedCreate") {
		t.Errorf("the Job controller could not create pods:\n%s", e)
	}
}

type pod struct{ name, phase string }

func pods(t *testing.T, ns, job string) []pod {
	t.Helper()
	out := kube.MustKubectl(t, "get", "pods", "-n", ns, "-l", "batch.kubernetes.io/job-name="+job,
		"-o", `jsonpath={range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}`)
	var ps []pod
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			ps = append(ps, pod{f[0], f[1]})
		}
	}
	return ps
}

func complete(t *testing.T, ns, job string) bool {
	t.Helper()
	out := kube.MustKubectl(t, "get", "job", job, "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Complete")].status}`)
	return out == "True"
}

func events(t *testing.T, ns string) string {
	t.Helper()
	return fmt.Sprintf("events in %s:\n%s", ns, kube.MustKubectl(t, "get", "events", "-n", ns,
		"-o", `jsonpath={range .items[*]}{.involvedObject.kind}/{.involvedObject.name} {.reason}: {.message}{"\n"}{end}`))
}
