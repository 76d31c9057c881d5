package policy

import (
	"fmt"

	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"github.com/google/go-cmp/cmp"
)

// fastOf is p's engine, which must evaluate fast where it can.
func fastOf(t *testing.T, p *Pack) *fastEngine {
	t.Helper()
	e, ok := p.engine.(*fastEngine)
	if !ok {
		t.Fatalf("the pack evaluates with %T, not the fast engine", p.engine)
	}
	return e
}

// Every built-in rule is written in the subset evaluated over Go values,
// so CUE is needed only for objects whose data only CUE can judge.
func TestBuiltinRulesAreFast(t *testing.T) {
	p := compile(t, Options{Spec: &Spec{Path: "wq.yaml", Items: 3}})
	e := fastOf(t, p)
	for id, why := range e.slow {
		t.Errorf("rule %s is left to CUE: %s", id, why)
	}
	if _, err := p.Check("d.yaml", deployments(200)); err != nil {
		t.Fatal(err)
	}
	if n := e.fallbacks.Load(); n != 0 {
		t.Errorf("%d rule evaluations of plain Deployments were left to CUE", n)
	}
	files, _ := filepath.Glob("../../testdata/policy/*.yaml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		before := e.fallbacks.Load()
		p.Check(filepath.Base(name), data)
		if n := e.fallbacks.Load() - before; n != 0 {
			t.Logf("%s: %d rule evaluations left to CUE", filepath.Base(name), n)
		}
	}
}

// oddValues stand where the rules expect something else: every kind CUE
// has, empty and not, and numbers direct leaves to CUE.
var oddValues = []string{`""`, `"Always"`, `0`, `-1`, `7`, `1.5`, `true`, `false`, `null`, `[]`, `[1]`, `{}`, `{a: 1}`, `0x10`, `"ALL"`}

// Every field of every fixture object, replaced in turn by values of the
// wrong kind, gives the same outcome directly as in the reference engine:
// direct decides only what CUE decides the same way.
func TestDirectMatchesReferenceOnOddValues(t *testing.T) {
	fast, plain := withReference(t, Options{Spec: &Spec{Path: "wq.yaml", Items: 3}})

	var objs []object
	files, _ := filepath.Glob("../../testdata/policy/*.yaml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := plain.Check("x.yaml", data); err != nil {
			continue // fixtures of inputs that cannot be checked
		}
		objs = append(objs, objectsOfStream(t, data)...)
	}
	for _, r := range ruleCases {
		objs = append(objs, objectsOfStream(t, []byte(r.yaml))...)
	}
	odd := make([]ast.Expr, len(oddValues))
	for i, s := range oddValues {
		e, err := parser.ParseExpr("odd", s)
		if err != nil {
			t.Fatal(err)
		}
		odd[i] = e
	}
	compared := 0
	for _, o := range objs {
		n := 0
		// Each node of the object in turn, in place, restored after.
		var visit func(e ast.Expr, path string)
		visit = func(e ast.Expr, path string) {
			var slots []*ast.Expr
			var names []string
			switch x := e.(type) {
			case *ast.StructLit:
				for _, d := range x.Elts {
					if f, ok := d.(*ast.Field); ok {
						name, _, _ := ast.LabelName(f.Label)
						slots, names = append(slots, &f.Value), append(names, name)
					}
				}
			case *ast.ListLit:
				for i := range x.Elts {
					slots, names = append(slots, &x.Elts[i]), append(names, fmt.Sprint(i))
				}
			}
			for i, slot := range slots {
				orig := *slot
				p := path + "." + names[i]
				if p != ".kind" && p != ".apiVersion" {
					// One odd value per node, the next one each time.
					*slot = odd[n%len(odd)]
					compareEngines(t, fast, plain, o, p+" = "+oddValues[n%len(odd)])
					n++
					compared++
				}
				*slot = orig
				visit(orig, p)
			}
		}
		visit(o.expr, "")
	}
	t.Logf("%d variants compared", compared)
}

func compareEngines(t *testing.T, fast, plain *Pack, o object, what string) {
	t.Helper()
	job, pod := o.parts()
	// As checkObject does: a part that is no struct is no part.
	if job != nil {
		if _, ok := lookup(o.expr, toAny(job)).(*ast.StructLit); !ok {
			job = nil
		}
	}
	if pod != nil {
		if _, ok := lookup(o.expr, toAny(pod)).(*ast.StructLit); !ok {
			pod = nil
		}
	}
	got, err1 := fast.engine.evaluate(o, job, pod)
	want, err2 := plain.engine.evaluate(o, job, pod)
	if fmt.Sprint(err1) != fmt.Sprint(err2) {
		t.Fatalf("%s %s: error %v, reference %v", o.kind, what, err1, err2)
	}
	for id, w := range want {
		g := got[id]
		if fmt.Sprint(g.err) != fmt.Sprint(w.err) || !cmp.Equal(g.violations, w.violations, cmp.AllowUnexported(violation{})) {
			t.Errorf("%s %s: rule %s: got %+v (err %v), reference %+v (err %v)", o.kind, what, id, g.violations, g.err, w.violations, w.err)
		}
	}
}

// A user rule outside the subset is evaluated by CUE, one inside it fast,
// and together they find what the reference finds. The rule outside is
// told apart when the pack is compiled, and costs the others nothing: not
// one evaluation of a fast rule goes to CUE.
func TestSlowUserRuleStaysAlone(t *testing.T) {
	fast, plain := withReference(t, Options{PolicyFiles: []string{"testdata/mixed.cue"}})
	e := fastOf(t, fast)
	if diff := cmp.Diff(map[string]string{
		"owned":        "is declared in parts or from a definition, not as one struct of fields",
		"count-dashes": "calls strings.Count",
	}, e.slow); diff != "" {
		t.Errorf("rules left to CUE (-want +got):\n%s", diff)
	}
	input := []byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: a-name-well-over-twenty-bytes}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: short, labels: {owner: me}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: 7}
`)
	got := checkAgainstReference(t, fast, plain, input)
	var found []string
	for _, f := range Findings(got) {
		if f.Rule == "owned" || f.Rule == "short-name" || f.Rule == "count-dashes" {
			found = append(found, f.Object.Name+" "+f.Rule) // a name that is no string is no name
		}
	}
	slices.Sort(found)
	if want := []string{" owned", "a-name-well-over-twenty-bytes count-dashes", "a-name-well-over-twenty-bytes owned", "a-name-well-over-twenty-bytes short-name"}; !cmp.Equal(found, want) {
		t.Errorf("findings %q, want %q", found, want)
	}
	if _, err := fast.Check("d.yaml", deployments(100)); err != nil {
		t.Fatal(err)
	}
	if n := e.fallbacks.Load(); n != 0 {
		t.Errorf("%d evaluations of fast rules went to CUE", n)
	}
	var explained []string
	for _, x := range fast.Explain() {
		if !x.Fast {
			explained = append(explained, x.Rule+": "+x.String())
		}
	}
	if want := []string{"count-dashes: by CUE, slowly: the rule calls strings.Count", "owned: by CUE, slowly: the rule is declared in parts or from a definition, not as one struct of fields"}; !cmp.Equal(explained, want) {
		t.Errorf("Explain: %q, want %q", explained, want)
	}
}

// The README and the pack's documentation name every builtin of the
// subset's table, and promise no other.
func TestFastConstructsDocumented(t *testing.T) {
	_, calls := FastConstructs()
	for _, doc := range []string{"../../README.md", "../../schemas/policy/policy.cue"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			if !strings.Contains(string(b), c) {
				t.Errorf("%s does not say that %s is fast", doc, c)
			}
		}
	}
}
