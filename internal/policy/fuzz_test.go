package policy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jobwq/jobwq/internal/position"
)

// FuzzCheck feeds arbitrary bytes to the manifest reader and the rules.
// Properties: no panic; a failure is an error that names the file; every
// finding points at a line and column inside the input.
//
// Each evaluation takes about a millisecond, so give minimisation a bound:
//
//	go test ./internal/policy -run '^$' -fuzz FuzzCheck -fuzztime 5m -fuzzminimizetime 10s
func FuzzCheck(f *testing.F) {
	addSeeds(f)
	p, err := Compile(Options{Spec: &Spec{Path: "wq.yaml", Items: 3}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		if name == "" || strings.ContainsAny(name, "\x00\n:") {
			name = "input.yaml"
		}
		rs, err := p.Check(name, data)
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Fatalf("error does not name the file %q: %v", name, err)
			}
			return
		}
		lines := bytes.Split(data, []byte("\n"))
		for _, r := range rs {
			for _, fd := range r.Findings {
				pos := fd.Pos
				if pos.File != position.Display(name) || pos.Line < 1 || pos.Line > len(lines) || pos.Column < 1 || pos.Column > len(lines[pos.Line-1])+1 {
					t.Fatalf("finding %s %q at %v, outside the %d-line input", fd.Rule, fd.Message, pos, len(lines))
				}
			}
		}
	})
}

// FuzzOptimisedMatchesReference: the engine jobwq checks with (direct
// evaluation, and the CUE optimiser's rule groups, pruned inputs and
// remembered outcomes) changes how fast findings come, never which: for any input, with the built-in rules and with a user's rule
// file, it reports exactly what the reference engine reports.
//
//	go test ./internal/policy -run '^$' -fuzz FuzzOptimisedMatchesReference -fuzztime 5m -fuzzminimizetime 10s
func FuzzOptimisedMatchesReference(f *testing.F) {
	addSeeds(f)
	var packs [][2]*Pack
	for _, opts := range []Options{
		{Spec: &Spec{Path: "wq.yaml", Items: 3}},
		{PolicyFiles: []string{"../../testdata/policy/team.cue", "testdata/mixed.cue"}, Disable: []string{"image-tag"}},
	} {
		fast, err := Compile(opts)
		if err != nil {
			f.Fatal(err)
		}
		opts.reference = true
		plain, err := Compile(opts)
		if err != nil {
			f.Fatal(err)
		}
		packs = append(packs, [2]*Pack{fast, plain})
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		if name == "" || strings.ContainsAny(name, "\x00\n:") {
			name = "input.yaml"
		}
		for _, pair := range packs {
			// Twice through the optimiser: the second answer comes from
			// what it remembered.
			for range 2 {
				got, gotErr := pair[0].Check(name, data)
				want, wantErr := pair[1].Check(name, data)
				if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
					t.Fatalf("optimised error %v, reference error %v", gotErr, wantErr)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("optimised results differ from the reference (-reference +optimised):\n%s", diff)
				}
			}
		}
	})
}

// addSeeds adds every policy fixture, rule case and odd shape as a seed.
func addSeeds(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/policy/*.yaml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(filepath.Base(name), b)
		}
	}
	for _, r := range ruleCases {
		f.Add("case.yaml", []byte(r.yaml))
	}
	f.Add("list.json", []byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"c"}]}}]}`))
	f.Add("weird.yaml", []byte("kind: Job\napiVersion: batch/v1\nspec:\n  template:\n    spec:\n      containers: 7\n      securityContext: []\n"))
	f.Add("anchors.yaml", []byte("a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nkind: Pod\nspec: {containers: [{name: c, image: *c}]}\n"))
	f.Add("types.yaml", []byte("kind: Pod\nmetadata: {name: 1, annotations: {jobwq.dev/ignore: [1]}}\nspec: {hostNetwork: yes, containers: [{name: [], env: [{name: 1, value: 2}], image: {}}]}\n"))
}
