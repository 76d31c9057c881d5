package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jobwq/jobwq/internal/kustree"
	"github.com/jobwq/jobwq/internal/render"
)

// jobwq's own output, every overlay of every example, passes its own
// policy with --spec on: the worker Job's completions are the item count.
func TestRenderedOutputPasses(t *testing.T) {
	examples, _ := filepath.Glob("../../examples/*")
	if len(examples) == 0 {
		t.Fatal("no examples")
	}
	for _, ex := range examples {
		if fi, err := os.Stat(ex); err != nil || !fi.IsDir() {
			continue
		}
		r, err := render.File(ex)
		if err != nil {
			t.Fatal(err)
		}
		p := compile(t, Options{Spec: &Spec{Path: r.Spec.Path, Items: r.Items.Count}})
		for _, variant := range render.Variants {
			t.Run(filepath.Base(ex)+"/"+variant, func(t *testing.T) {
				out, err := kustree.Build(r.Files, "overlays/"+variant)
				if err != nil {
					t.Fatal(err)
				}
				rs, err := p.Check(variant+".yaml", out)
				if err != nil {
					t.Fatal(err)
				}
				if len(rs) < 8 {
					t.Errorf("only %d objects checked", len(rs))
				}
				for _, f := range Findings(rs) {
					t.Errorf("%s: %s %s: %s (%s)", f.Pos, f.Severity, f.Rule, f.Message, f.Object)
				}
			})
		}
	}
}
