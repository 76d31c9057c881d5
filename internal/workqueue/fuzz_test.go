package workqueue

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jobwq/jobwq/internal/position"
)

// FuzzParse feeds arbitrary bytes to the spec parser in each format. It
// must never panic, and every problem it reports must say where: a file,
// and a line for anything but whole-document problems.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../../examples/*/workqueue.yaml")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err == nil {
			f.Add(b, uint8(0))
		}
	}
	f.Add([]byte(valid), uint8(0))
	f.Add([]byte(aliasBomb()), uint8(0))
	f.Add([]byte(`{"apiVersion": "jobwq.dev/v1alpha1", "kind": "WorkQueue", "metadata": {"name": "a"}, "spec": {"items": ["x"], "worker": {"image": "w:1", "command": ["x"]}}}`), uint8(1))
	f.Add([]byte("apiVersion: \"jobwq.dev/v1alpha1\"\nkind: \"WorkQueue\"\nmetadata: name: \"c\"\nspec: {items: [\"a\"], worker: {image: \"w:1\", command: [\"x\"]}}\n"), uint8(2))
	f.Add([]byte("a: [\n"), uint8(0))
	f.Add([]byte("metadata:\n  name: x\n  name: y\n"), uint8(0))
	f.Add([]byte("\xff\xfe"), uint8(1))
	f.Add([]byte("a: [\"x\u0085y\", z\u2028w]\nb: c\n"), uint8(0))
	f.Add([]byte("spec:\n  items: [x]\n  worker:\n    command: [run]\n      parallelism: 2\n"), uint8(0))
	f.Add([]byte("spec: {worker: {timeout: 90, parallelism: 99999999999999999999999}}\n---\n"), uint8(0))
	names := []string{"fuzz.yaml", "fuzz.json", "fuzz.cue"}
	f.Fuzz(func(t *testing.T, data []byte, format uint8) {
		name := names[int(format)%len(names)]
		w, err := Parse(name, data)
		if err == nil {
			if w.Metadata.Name == "" || len(w.Spec.Worker.Command) == 0 {
				t.Fatalf("valid spec without name or command: %+v", w)
			}
			if len(w.Spec.Items) == 0 && w.Spec.ItemsFile == "" {
				t.Fatalf("valid spec without items")
			}
			return
		}
		var es position.Errors
		if !errors.As(err, &es) {
			if strings.Contains(err.Error(), "itemsFile") {
				return
			}
			t.Fatalf("error without positions: %v", err)
		}
		for _, e := range es {
			if e.Pos.File != name {
				t.Errorf("error not in %s: %v", name, e)
			}
			if e.Pos.Line == 0 && e.Path != "" && !strings.HasPrefix(e.Msg, "and ") {
				t.Errorf("field error without a line: %v", e)
			}
		}
	})
}
