package conformance

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// TestHundredThousandItems applies a 100,000-item WorkQueue with plain
// client-side kubectl apply, which stores each object again in the
// last-applied annotation and so fails on a ConfigMap over about 256 KiB:
// the items must be split into ConfigMaps that stay under it.
func TestHundredThousandItems(t *testing.T) {
	const n = 100_000
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("item-%06d", i)
	}
	dir := t.TempDir()
	spec := workQueue(t, dir, "big", 3, items)
	out := filepath.Join(dir, "out")
	build(t, spec, out)

	ns := kube.Namespace(t)
	apply(t, ns, filepath.Join(out, "overlays", "deployment"), "created")

	if got := workJobCompletions(t, ns, "big"); !slices.Equal(got, []int{n}) {
		t.Errorf("worker Jobs' completions = %v, want [%d]", got, n)
	}
}

// TestMillionItemsThousandPerPod: 1,000,000 items at 1,000 per pod give
// 1,000 completions in every variant, and client-side kubectl apply takes
// the tree (the indexed variant too, which mounts the same chunks).
func TestMillionItemsThousandPerPod(t *testing.T) {
	const n, perPod = 1_000_000, 1000
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("s3://bucket/photos/%07d.jpg", i)
	}
	dir := t.TempDir()
	spec := workQueuePerPod(t, dir, "million", 50, perPod, items)
	out := filepath.Join(dir, "out")
	build(t, spec, out)
	for _, variant := range []string{"deployment", "indexed"} {
		t.Run(variant, func(t *testing.T) {
			ns := kube.Namespace(t)
			apply(t, ns, filepath.Join(out, "overlays", variant), "created")
			got := kube.MustKubectl(t, "get", "jobs", "-n", ns, "-l", "app.kubernetes.io/component=worker", "-o", "jsonpath={.items[*].spec.completions}")
			if got != "1000" {
				t.Errorf("worker Job completions = %q, want 1000", got)
			}
		})
	}
}
