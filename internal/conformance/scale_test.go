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
