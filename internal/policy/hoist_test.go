package policy

import (
	"slices"
	"testing"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"github.com/google/go-cmp/cmp"
)

// hoisted names the top-level fields hoist moves out of src's pack.
func hoisted(t *testing.T, src ...string) []string {
	t.Helper()
	var files []*ast.File
	for i, s := range src {
		f, err := parser.ParseFile("f"+string(rune('0'+i))+".cue", s)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	var names []string
	for _, f := range hoist(files) {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.Field); ok {
				n, _, _ := ast.LabelName(fd.Label)
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}

func TestHoist(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  []string
		want []string
	}{
		{
			name: "constants, through other constants and across files",
			src: []string{
				"package policy\ninput: _\n_a: [1, 2]\n_b: len(_a) + _c\n#D: {x: int}\n",
				"package policy\n_c: 3\nrules: r: violations: [if (#D & {x: input.x}) != _|_ if input.x > _b {path: []}]\n",
			},
			want: []string{"#D", "_a", "_b", "_c"},
		},
		{
			name: "what reads input, directly or through a helper, stays",
			src:  []string{"package policy\ninput: _\n_k: input.kind\n_k2: _k + \"x\"\n_t: {a: 1}\n_u: _t[_k]\nrules: r: violations: [if _u == 1 if _k2 != \"\" {path: []}]\n"},
			want: []string{"_t"},
		},
		{
			name: "what refers to rules stays",
			src:  []string{"package policy\n_n: len(rules)\nrules: {}\n"},
			want: nil,
		},
		{
			name: "optional and required fields stay",
			src:  []string{"package policy\n_o?: 1\n_r!: 2\n_p: 3\nrules: r: violations: [if _o + _r + _p > 0 {path: []}]\n"},
			want: []string{"_p"},
		},
		{
			name: "what neither rules nor input reach is dropped",
			src:  []string{"package policy\n_unused: [1, 2]\n_alsoUnused: input.kind\n_used: 1\nrules: r: violations: [if _used > 0 {path: []}]\n"},
			want: []string{"_used"},
		},
		{
			name: "a top-level alias leaves the pack whole",
			src:  []string{"package policy\nX=_a: 1\n_b: X\n"},
			want: nil,
		},
		{
			name: "a top-level embedding leaves the pack whole",
			src:  []string{"package policy\n{_e: 1}\n_b: 2\n"},
			want: nil,
		},
		{
			name: "a top-level let leaves the pack whole",
			src:  []string{"package policy\nlet l = 1\n_b: l\n"},
			want: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, hoisted(t, tc.src...)); diff != "" {
				t.Errorf("hoisted (-want +got):\n%s", diff)
			}
		})
	}
}

// A pack with hoisted tables and helpers gives what the reference engine,
// which hoists nothing, gives.
func TestHoistedMatchesReference(t *testing.T) {
	fast, plain := withReference(t, Options{PolicyFiles: []string{"testdata/hoist.cue"}})
	input := []byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: a, labels: {team: payments}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, labels: {team: marketing}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, labels: {team: 7}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: d}
`)
	got := checkAgainstReference(t, fast, plain, input)
	var known []string
	for _, f := range Findings(got) {
		if f.Rule == "known-team" {
			known = append(known, f.Object.Name+": "+f.Message)
		}
	}
	if want := []string{"b: team marketing is not one of payments, search"}; !cmp.Equal(known, want) {
		t.Errorf("known-team findings %q, want %q", known, want)
	}
}
