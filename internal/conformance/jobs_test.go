package conformance

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWorkerJobPods lets the real Job controller run the worker Job in a
// restricted namespace. With no scheduler or kubelet the pods stay
// Pending, so the test plays the kubelet: it marks running pods
// Succeeded, one round at a time, and watches that Pod Security admits
// every pod, that no more than parallelism are ever active, that
// parallelism is actually reached, and that the Job completes after
// exactly one pod per item.
func TestWorkerJobPods(t *testing.T) {
	const parallelism = 3
	items := []string{"apple", "banana", "cherry", "date", "fig", "grape", "lemon"}

	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	build(t, workQueue(t, dir, "pods", parallelism, items), out)
	ns := kube.Namespace(t)
	apply(t, ns, filepath.Join(out, "overlays", "deployment"), "created")

	job := ""
	for _, name := range strings.Fields(kube.MustKubectl(t, "get", "jobs", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}")) {
		if strings.HasPrefix(name, "pods-work-") {
			job = name
		}
	}
	if job == "" {
		t.Fatal("no worker Job named pods-work-<hash>")
	}

	seen := map[string]bool{}
	maxActive := 0
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("the Job did not complete in time: %d of %d pods seen, at most %d active\n%s\n%s",
				len(seen), len(items), maxActive, events(t, ns), kube.LogTail("kube-controller-manager", 20))
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

	if len(seen) != len(items) {
		t.Errorf("the Job ran %d pods for %d items, want one per item", len(seen), len(items))
	}
	if maxActive != parallelism {
		t.Errorf("at most %d pods were active at once, want parallelism %d", maxActive, parallelism)
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
