package conformance

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

var fruits = []string{"apple", "banana", "cherry", "date", "fig", "grape", "lemon", "melon"}

// TestReapplyAfterItemsChange is the user's second run: apply, change the
// items, build and apply again with plain client-side kubectl apply. Job
// templates are immutable, so a build that kept a Job's name while its
// items changed would be refused here with "field is immutable".
func TestReapplyAfterItemsChange(t *testing.T) {
	probe := t.TempDir()
	build(t, workQueue(t, probe, "fruits", 2, fruits), probe)
	variants := overlays(t, probe)
	names := make([]string, 0, len(variants))
	for v := range variants {
		names = append(names, v)
	}
	sort.Strings(names)

	for _, v := range names {
		t.Run(v, func(t *testing.T) {
			dir := t.TempDir()
			spec := workQueue(t, dir, "fruits", 2, fruits)
			out := filepath.Join(dir, "out")
			overlay := filepath.Join(out, "overlays", v)
			ns := kube.Namespace(t)

			build(t, spec, out)
			apply(t, ns, overlay, "created")

			more := append(slices.Clone(fruits), "kiwi", "mango")
			writeItems(t, dir, more)
			build(t, spec, out)
			apply(t, ns, overlay, "created", "configured", "unchanged")

			reapplyChangesNothing(t, ns, overlay)

			got := workJobCompletions(t, ns, "fruits")
			if !slices.Contains(got, len(more)) {
				t.Errorf("worker Jobs' completions = %v, want one with %d (the changed items)", got, len(more))
			}
		})
	}
}

// reapplyChangesNothing applies the same tree again: everything must be
// "unchanged". kubectl says "configured" when it sent a patch, and for an
// identical tree that happens when the server stores a field the tree
// leaves out inside a list kubectl replaces whole (a StatefulSet's
// volumeClaimTemplates, say): then every apply of the build patches it.
func reapplyChangesNothing(t *testing.T, ns, dir string) {
	t.Helper()
	generations := func() string {
		return kube.MustKubectl(t, "get", "poddisruptionbudgets", "-n", ns, "-o", "jsonpath={.items[*].metadata.generation}")
	}
	before := generations()
	r := kube.Kubectl(t, "apply", "-n", ns, "-k", dir)
	if after := generations(); after != before {
		t.Errorf("re-applying the identical build changed a PodDisruptionBudget: generations %q, then %q", before, after)
	}
	if r.Err != nil || r.Stderr != "" {
		t.Fatalf("re-applying the identical build: %v", r)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		// A PodDisruptionBudget's selector has the patch strategy
		// "replace", so client-side apply always sends it again, the same
		// selector (Azure/eno#246 works around the same thing); only
		// whether anything else changed can be checked here.
		if strings.HasPrefix(line, "poddisruptionbudget.policy/") && strings.HasSuffix(line, " configured") {
			continue
		}
		if !strings.HasSuffix(line, " unchanged") {
			t.Errorf("re-applying the identical build patched an object: %q; compare the build with kubectl get -o yaml for a server-defaulted field the build omits", line)
		}
	}
}

// apply runs a plain client-side kubectl apply -k, the command the
// README gives users, and fails the test on any problem.
func apply(t *testing.T, ns, dir string, outcomes ...string) {
	t.Helper()
	start := time.Now()
	objects := objectCount(t, dir)
	for _, p := range outcome(kube.Kubectl(t, "apply", "-n", ns, "-k", dir), objects, outcomes...) {
		t.Error(p)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("kubectl apply -k %s: %d objects in %v", dir, objects, time.Since(start).Round(time.Millisecond))
}

// workJobCompletions lists spec.completions of every worker Job of the
// WorkQueue named name, found by the contract's name <name>-work-<hash>.
func workJobCompletions(t *testing.T, ns, name string) []int {
	t.Helper()
	out := kube.MustKubectl(t, "get", "jobs", "-n", ns, "-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.completions}{"\n"}{end}`)
	var got []int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var job string
		var completions int
		if _, err := fmt.Sscan(line, &job, &completions); err != nil {
			t.Fatalf("parse %q: %v", line, err)
		}
		if strings.HasPrefix(job, name+"-work-") || strings.HasPrefix(job, name+"-indexed-") {
			got = append(got, completions)
		}
	}
	return got
}
