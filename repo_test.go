package jobwq_test

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jobwq/jobwq/internal/generate"
	"github.com/jobwq/jobwq/internal/kustree"
	"github.com/jobwq/jobwq/internal/workqueue"
)

// TestCommittedBuildIsCurrent keeps base/ and overlays/ at the top of the
// repository, which users apply straight from a clone, equal to what the
// code builds from examples/fruits.
func TestCommittedBuildIsCurrent(t *testing.T) {
	r, err := generate.File("examples/fruits")
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

// TestCommittedSchemaIsCurrent does the same for the JSON Schemas editors
// link to.
func TestCommittedSchemaIsCurrent(t *testing.T) {
	for file, export := range map[string]func() ([]byte, error){
		"schemas/workqueue.schema.json":               workqueue.JSONSchema,
		"schemas/workqueue-without-items.schema.json": workqueue.JSONSchemaWithoutItems,
	} {
		want, err := export()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s drifted from schemas/workqueue.cue; run make generate", file)
		}
	}
}

// TestStaticBuild: the image's binary is built with CGO_ENABLED=0 and must
// run on distroless/static, which has no dynamic loader. (No Docker engine
// runs here, so this is what can be checked of the Dockerfile.)
func TestStaticBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "jobwq")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/jobwq-runner")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary asks for a dynamic loader; distroless/static has none")
		}
	}
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "distroless/static", "USER 10001:10001", `ENTRYPOINT ["/jobwq"]`} {
		if !bytes.Contains(dockerfile, []byte(want)) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
