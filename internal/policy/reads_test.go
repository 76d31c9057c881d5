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
	for k, c := range r.children {
		c.paths(prefix+"."+k, out)
	}
}

func TestReads(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"selectors and literal indexes", `x: input.object.kind
y: input.object.metadata.annotations["a/b"]
z: input.pod.containers[0].image`, []string{"input.object.kind", `input.object.metadata.annotations.a/b`, "input.pod.containers"}},
		{"dynamic index reads the whole value", `k: "x"
y: input.object.spec[k].name`, []string{"input.object.spec"}},
		{"a bare reference reads everything", `let o = input
y: o.object.metadata.name`, []string{"input"}},
		{"an alias of input reads everything", `I=input: _
y: I.object.metadata.name`, []string{"input"}},
		{"a label named input is no read", `input: _
y: 1`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parser.ParseFile("x.cue", "package policy\n"+tc.src)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			readsOf([]*ast.File{f}).paths("input", &got)
			slices.Sort(got)
			slices.Sort(tc.want)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// The built-in pack never looks at names, labels, or annotations other
	// than its own, which is what lets alike objects share an evaluation.
	var got []string
	compile(t, Options{}).reads.paths("input", &got)
	for _, p := range got {
		if p == "input" || p == "input.object" || strings.HasPrefix(p, "input.object.metadata.name") ||
			strings.HasPrefix(p, "input.object.metadata.labels") || p == "input.object.metadata" {
			t.Errorf("the built-in pack reads %s", p)
		}
	}
}
