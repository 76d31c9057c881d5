package policy

import (
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"github.com/google/go-cmp/cmp"
)

func (r *reads) paths(prefix string, out *[]string) {
	if r.whole {
		*out = append(*out, prefix)
		return
	}
	if len(r.children) == 0 && prefix != "input" {
		*out = append(*out, prefix+" (exists)")
		return
	}
	for k, c := range r.children {
		c.paths(prefix+"."+k, out)
	}
}

func TestReads(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"selectors and literal indexes", `rules: r: x: [input.object.kind, input.object.metadata.annotations["a/b"], input.pod.containers[0].image]`,
			[]string{"input.object.kind", `input.object.metadata.annotations.a/b`, "input.pod.containers"}},
		{"dynamic index reads the whole value", `k: "x"
rules: r: y: input.object.spec[k].name`, []string{"input.object.spec"}},
		{"existence tests read only existence", `rules: r: y: [if input.job != _|_ if input.job.completions == _|_ {1}]`,
			[]string{"input.job.completions (exists)"}},
		{"through helpers, transitively", `_a: _b.x
_b: {x: input.pod.volumes, y: input.object.kind}
rules: r: y: _a`, []string{"input.object.kind", "input.pod.volumes"}},
		{"a bare reference reads everything", `rules: r: {
	let o = input
	y: o.object.metadata.name
}`, []string{"input"}},
		{"an alias of input reads everything", `I=input: _
rules: r: y: I.object.metadata.name`, []string{"input"}},
		{"a rule that refers to rules reads everything", `rules: r: y: rules.q.violations
rules: q: y: 1`, []string{"input"}},
		{"a label named input is no read", `input: _
rules: r: y: 1`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parser.ParseFile("x.cue", "package policy\n"+tc.src)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			perRule, _ := ruleReads([]*ast.File{f})
			perRule["r"].paths("input", &got)
			slices.Sort(got)
			slices.Sort(tc.want)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// The built-in pack never looks at names, labels, or annotations other
	// than its own, which is what lets alike objects share an evaluation;
	// and most of it looks at nothing but the pod spec.
	e := optimiser(t, compile(t, Options{cueOnly: true}))
	var got []string
	e.fullReads.paths("input", &got)
	e.podReads.paths("input", &got)
	for _, p := range got {
		if p == "input" || p == "input.object" || strings.HasPrefix(p, "input.object.metadata.name") ||
			strings.HasPrefix(p, "input.object.metadata.labels") || p == "input.object.metadata" {
			t.Errorf("the built-in pack reads %s", p)
		}
	}
	var pod []string
	for _, r := range e.podRules {
		pod = append(pod, r.ID)
	}
	for _, id := range []string{"image-tag", "pss-seccomp", "credentials-in-url", "container-limits", "automount-service-account-token"} {
		if !slices.Contains(pod, id) {
			t.Errorf("%s is not evaluated with the pod spec alone (pod-only rules: %v)", id, pod)
		}
	}
}
