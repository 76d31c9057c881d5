package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jobwq/jobwq/internal/kustree"
	"github.com/jobwq/jobwq/internal/render"
)

// templateFindings are findings in jobwq's own output that are the
// templates' to fix, not the rules': each is reported to the template's
// owners, and this list must shrink to nothing. A finding not listed, or a
// listed one that no longer appears, fails the test.
var templateFindings = map[string][]string{
	// The article's broker kind, rendered on request; the template should
	// carry jobwq.dev/ignore: deprecated-replication-controller <reason>.
	"replicationcontroller": {"deprecated-replication-controller ReplicationController job-wq-broker"},
}

// jobwq's own output, every overlay of every example, passes its own
// policy, with the pack's --spec check on: the worker Job's completions are
// the spec's item count.
func TestRenderedOutputPasses(t *testing.T) {
	r, err := render.File("../../examples/fruits")
	if err != nil {
		t.Fatal(err)
	}
	p := compile(t, Options{Spec: &Spec{Path: r.Spec.Path, Items: r.Items.Count}})
	for _, variant := range render.Variants {
		t.Run(variant, func(t *testing.T) {
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
			var got []string
			for _, f := range Findings(rs) {
				got = append(got, f.Rule+" "+f.Object.String())
				t.Logf("%s: %s %s: %s (%s)", f.Pos, f.Severity, f.Rule, f.Message, f.Object)
			}
			if diff := cmp.Diff(templateFindings[variant], got); diff != "" {
				t.Errorf("findings in jobwq's own output (-known +got):\n%s", diff)
			}
		})
	}
}
