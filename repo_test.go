package jobwq_test

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

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

// TestWorkflowsPinActions: every third-party action a workflow uses is
// pinned by a full commit (a tag can be moved to other code), and the
// release publishes nothing before the tests pass, and attests the image.
func TestWorkflowsPinActions(t *testing.T) {
	files, _ := filepath.Glob(".github/workflows/*.yaml")
	if len(files) == 0 {
		t.Fatal("no workflows")
	}
	reUses := regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*(\S+)`)
	rePinned := regexp.MustCompile(`^[^@]+@[0-9a-f]{40}$`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range reUses.FindAllStringSubmatch(string(b), -1) {
			if uses := m[1]; !strings.HasPrefix(uses, "./") && !rePinned.MatchString(uses) {
				t.Errorf("%s uses %s: pin it by commit (uses: owner/action@<40 hex> # vX.Y.Z)", f, uses)
			}
		}
	}

	var release struct {
		Jobs map[string]struct {
			Uses  string
			Needs any
			Steps []struct {
				Uses string
				With map[string]any
			}
		}
	}
	b, err := os.ReadFile(".github/workflows/release.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &release); err != nil {
		t.Fatal(err)
	}
	if release.Jobs["test"].Uses != "./.github/workflows/ci.yaml" {
		t.Error("the release workflow does not run CI (jobs.test uses ./.github/workflows/ci.yaml)")
	}
	var attests []string
	for name, job := range release.Jobs {
		if name == "test" {
			continue
		}
		if needs := fmt.Sprint(job.Needs); needs != "test" && needs != "[test]" {
			t.Errorf("release job %s does not wait for the tests (needs: %v)", name, job.Needs)
		}
		for _, s := range job.Steps {
			if a, _, _ := strings.Cut(s.Uses, "@"); strings.HasPrefix(a, "actions/attest-") && s.With["subject-name"] != nil {
				attests = append(attests, a)
			}
		}
	}
	slices.Sort(attests)
	if want := []string{"actions/attest-build-provenance", "actions/attest-sbom"}; !slices.Equal(attests, want) {
		t.Errorf("the runner image's attestations: %v, want %v", attests, want)
	}
}
