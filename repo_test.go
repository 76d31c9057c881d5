package jobwq_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/jobwq/jobwq/internal/kustree"
	"github.com/jobwq/jobwq/internal/render"
	"github.com/jobwq/jobwq/internal/spec"
)

// TestCommittedBuildIsCurrent keeps base/ and overlays/ at the top of the
// repository, which users apply straight from a clone, equal to what the
// code builds from examples/fruits.
func TestCommittedBuildIsCurrent(t *testing.T) {
	r, err := render.File("examples/fruits")
	if err != nil {
		t.Fatal(err)
	}
	diff, err := kustree.Diff(".", r.Files)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Errorf("the committed build drifted; run make generate:\n%s", diff)
	}
}

// TestCommittedSchemaIsCurrent does the same for the JSON Schema editors
// link to.
func TestCommittedSchemaIsCurrent(t *testing.T) {
	want, err := spec.JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("schemas/workqueue.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("schemas/workqueue.schema.json drifted from schemas/workqueue.cue; run make generate")
	}
}
