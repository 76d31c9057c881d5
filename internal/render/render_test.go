package render

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/jobwq/jobwq/internal/spec"
)

var update = flag.Bool("update", false, "rewrite golden files")

func loadSpec(t testing.TB, path string) (*spec.WorkQueue, *ItemSet) {
	t.Helper()
	w, err := spec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	items, err := CollectItems(w)
	if err != nil {
		t.Fatal(err)
	}
	return w, items
}

// TestTreeGolden renders a spec that sets every optional field and compares
// the tree with testdata/full/golden (refresh with -update).
func TestTreeGolden(t *testing.T) {
	w, items := loadSpec(t, "testdata/full/workqueue.yaml")
	files, err := Tree(w, items)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "full", "golden")
	if *update {
		if err := os.RemoveAll(golden); err != nil {
			t.Fatal(err)
		}
		for _, p := range files.Paths() {
			dst := filepath.Join(golden, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, files[p], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	onDisk := map[string]string{}
	err = filepath.WalkDir(golden, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(golden, p)
		onDisk[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for p, b := range files {
		got[p] = string(b)
	}
	if diff := cmp.Diff(onDisk, got); diff != "" {
		t.Errorf("tree differs from %s (-golden +got); run go test -update if intended:\n%s", golden, diff)
	}
}

// TestTreeParses checks every rendered YAML file parses and that the
// worker Job's completions come from the items.
func TestTreeParses(t *testing.T) {
	w, items := loadSpec(t, "testdata/full/workqueue.yaml")
	files, err := Tree(w, items)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range files.Paths() {
		if !strings.HasSuffix(p, ".yaml") {
			continue
		}
		for _, doc := range strings.Split(string(files[p]), "\n---\n") {
			var v map[string]any
			if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
	var job struct {
		Metadata struct{ Name string }
		Spec     struct{ Completions, Parallelism int }
	}
	if err := yaml.Unmarshal(files["base/work-job.yaml"], &job); err != nil {
		t.Fatal(err)
	}
	if job.Spec.Completions != 3 || job.Spec.Parallelism != 3 {
		t.Errorf("completions/parallelism = %d/%d, want 3/3 (parallelism capped at the item count)", job.Spec.Completions, job.Spec.Parallelism)
	}
	runID, _ := RunID(w, items)
	if want := "thumbs-work-" + runID; job.Metadata.Name != want {
		t.Errorf("worker Job name = %q, want %q", job.Metadata.Name, want)
	}
}

func TestChunks(t *testing.T) {
	// Worst case for the annotation: every byte escapes to six in JSON.
	item := strings.Repeat("<", 10000)
	n := 100
	w := &spec.WorkQueue{}
	for range n {
		w.Spec.Items = append(w.Spec.Items, item)
	}
	set, err := CollectItems(w)
	if err != nil {
		t.Fatal(err)
	}
	if set.Count != n {
		t.Fatalf("count = %d, want %d", set.Count, n)
	}
	var all []byte
	for i, c := range set.Chunks {
		if got := escapedSize(string(c)); got > ChunkBudget {
			t.Errorf("chunk %d escapes to %d bytes, budget %d", i, got, ChunkBudget)
		}
		all = append(all, c...)
	}
	if want := strings.Repeat(item+"\n", n); string(all) != want {
		t.Fatal("chunks do not add up to the items")
	}
	sum := sha256.Sum256(all)
	if set.Digest != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("digest %s is not the sha256 of the chunks", set.Digest)
	}
	if len(set.Chunks) < 20 {
		t.Errorf("only %d chunks for %d escaped bytes", len(set.Chunks), 6*10000*n)
	}
}

func TestEscapedSize(t *testing.T) {
	for s, want := range map[string]int{
		"apple":     5,
		`a"b`:       4,
		"<&>":       18,
		"りんご":       9,
		"tab\there": 13,
		"\u2028":    6,
	} {
		if got := escapedSize(s); got != want {
			t.Errorf("escapedSize(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestRunID(t *testing.T) {
	base := func() *spec.WorkQueue {
		w, _ := loadSpec(t, "testdata/full/workqueue.yaml")
		return w
	}
	id := func(w *spec.WorkQueue) string {
		items, err := CollectItems(w)
		if err != nil {
			t.Fatal(err)
		}
		s, err := RunID(w, items)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ref := id(base())
	if len(ref) != 10 {
		t.Fatalf("run id %q is not 10 characters", ref)
	}
	if got := id(base()); got != ref {
		t.Fatalf("run id is not deterministic: %s then %s", ref, got)
	}
	changes := map[string]func(*spec.WorkQueue){
		"items":   func(w *spec.WorkQueue) { w.Spec.ItemsFile = ""; w.Spec.Items = []string{"other"} },
		"image":   func(w *spec.WorkQueue) { w.Spec.Worker.Image = "registry.example.com/w:v9" },
		"command": func(w *spec.WorkQueue) { w.Spec.Worker.Command = []string{"/bin/other"} },
		"labels":  func(w *spec.WorkQueue) { w.Metadata.Labels = map[string]string{"team": "other"} },
		"queue":   func(w *spec.WorkQueue) { w.Spec.Queue.Name = "other" },
	}
	for name, change := range changes {
		w := base()
		change(w)
		if got := id(w); got == ref {
			t.Errorf("changing %s kept run id %s", name, ref)
		}
	}
	w := base()
	w.Spec.Worker.Parallelism = 99
	if got := id(w); got != ref {
		t.Errorf("changing parallelism changed run id %s to %s; a Job may change parallelism in place", ref, got)
	}
}
