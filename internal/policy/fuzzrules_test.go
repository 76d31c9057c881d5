package policy

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/token"
	"github.com/google/go-cmp/cmp"
)

// The generator below writes rules from the tables of subset.go: every
// builtin by its signature, every operator. A builtin or operator added to
// the tables without a place here fails TestGeneratorCoversTheTables, so
// the fuzz target always checks all of them against CUE.

// kinds of generated expressions.
const (
	kString = iota
	kInt
	kBool
	kList
	kAny // an input path, whatever it holds
)

// signatures are the builtins' argument and result kinds.
var signatures = map[string]struct {
	args   []int
	result int
}{
	"len":               {[]int{kString}, kInt},
	"div":               {[]int{kInt, kInt}, kInt},
	"strings.Contains":  {[]int{kString, kString}, kBool},
	"strings.HasPrefix": {[]int{kString, kString}, kBool},
	"strings.HasSuffix": {[]int{kString, kString}, kBool},
	"strings.ToLower":   {[]int{kString}, kString},
	"strings.ToUpper":   {[]int{kString}, kString},
	"strings.TrimSpace": {[]int{kString}, kString},
	"strings.Split":     {[]int{kString, kString}, kList},
	"strings.Join":      {[]int{kList, kString}, kString},
	"list.Contains":     {[]int{kList, kString}, kBool},
}

// binaries are the operators by operand and result kinds; & and | have
// forms of their own below.
var binaries = map[token.Token][3]int{
	token.LAND: {kBool, kBool, kBool}, token.LOR: {kBool, kBool, kBool},
	token.EQL: {kString, kString, kBool}, token.NEQ: {kInt, kInt, kBool},
	token.LSS: {kInt, kInt, kBool}, token.LEQ: {kInt, kInt, kBool}, token.GTR: {kInt, kInt, kBool}, token.GEQ: {kInt, kInt, kBool},
	token.MAT: {kString, kString, kBool}, token.NMAT: {kString, kString, kBool},
	token.ADD: {kString, kString, kString}, token.SUB: {kInt, kInt, kInt}, token.MUL: {kInt, kInt, kInt},
}

func TestGeneratorCoversTheTables(t *testing.T) {
	if diff := cmp.Diff(slices.Sorted(maps.Keys(builtins)), slices.Sorted(maps.Keys(signatures))); diff != "" {
		t.Errorf("builtins the generator does not know (-table +generator):\n%s", diff)
	}
	for op := range operators {
		if _, ok := binaries[op]; !ok && op != token.AND && op != token.OR {
			t.Errorf("operator %s is not generated", op)
		}
	}
}

// gen writes an expression of a kind from the bytes it is given.
type gen struct {
	b     []byte
	depth int
}

func (g *gen) next(n int) int {
	if len(g.b) == 0 {
		return 0
	}
	c := int(g.b[0])
	g.b = g.b[1:]
	return c % n
}

var (
	paths   = []string{"input.object.metadata.name", "input.object.kind", "input.object.metadata.labels.app", "input.object.spec.replicas", "input.pod.containers", "input.object.metadata.labels", "input.job.completions"}
	strs    = []string{`""`, `"a"`, `"app-1"`, `"-"`, `" Pod "`, `"^[a-z]+$"`, `"[0-9]"`}
	calls   = slices.Sorted(maps.Keys(signatures))
	binOps  = slices.Sorted(maps.Keys(binaries))
	symbols = map[token.Token]string{}
)

func init() {
	for op, s := range operators {
		symbols[op] = s
	}
}

func (g *gen) expr(kind int) string {
	g.depth++
	defer func() { g.depth-- }()
	if g.depth > 4 {
		return g.leaf(kind)
	}
	switch g.next(6) {
	case 0: // a builtin of that kind
		var fit []string
		for _, c := range calls {
			if signatures[c].result == kind {
				fit = append(fit, c)
			}
		}
		if len(fit) == 0 {
			return g.leaf(kind)
		}
		c := fit[g.next(len(fit))]
		var args []string
		for _, a := range signatures[c].args {
			args = append(args, g.expr(a))
		}
		return fmt.Sprintf("%s(%s)", c, strings.Join(args, ", "))
	case 1: // an operator of that kind
		var fit []token.Token
		for _, op := range binOps {
			if binaries[op][2] == kind {
				fit = append(fit, op)
			}
		}
		if len(fit) == 0 {
			return g.leaf(kind)
		}
		op := fit[g.next(len(fit))]
		return fmt.Sprintf("(%s %s %s)", g.expr(binaries[op][0]), symbols[op], g.expr(binaries[op][1]))
	case 2: // a default: *x | y
		return fmt.Sprintf("(*%s | %s)", g.path(), g.leaf(kind))
	case 3: // a unification with kinds and bounds, or an existence test
		if kind == kBool {
			return [...]string{
				fmt.Sprintf("((%s & string) != _|_)", g.path()),
				fmt.Sprintf("((%s & int & >=1) == _|_)", g.path()),
				fmt.Sprintf("((%s & =~%s) != _|_)", g.path(), strs[g.next(len(strs))]),
				fmt.Sprintf("((%s & [...]) != _|_)", g.path()),
				fmt.Sprintf("(%s != _|_)", g.path()),
				fmt.Sprintf("!%s", g.expr(kBool)),
			}[g.next(6)]
		}
		if kind == kInt {
			return fmt.Sprintf("-%s", g.leaf(kInt))
		}
	case 4: // interpolation and comprehension
		switch kind {
		case kString:
			return fmt.Sprintf(`"<\(%s)>"`, g.expr(kString))
		case kList:
			return fmt.Sprintf("[for k, v in (*input.object.metadata.labels | {}) if %s {k}]", g.expr(kBool))
		}
	}
	return g.leaf(kind)
}

func (g *gen) path() string { return paths[g.next(len(paths))] }

func (g *gen) leaf(kind int) string {
	switch kind {
	case kString:
		if g.next(2) == 0 {
			return fmt.Sprintf("(*(%s & string) | \"\")", g.path())
		}
		return strs[g.next(len(strs))]
	case kInt:
		return fmt.Sprint(g.next(5))
	case kBool:
		return [...]string{"true", "false"}[g.next(2)]
	case kList:
		return fmt.Sprintf("[%s, %s]", strs[g.next(len(strs))], strs[g.next(len(strs))])
	}
	return g.path()
}

// ruleFrom writes a user rule whose violation depends on a generated
// condition and carries a generated detail.
func ruleFrom(b []byte) string {
	g := &gen{b: b}
	return fmt.Sprintf(`package policy

import (
	"list"
	"strings"
)

rules: "generated": {
	severity: "warning"
	message:  "m"
	fix:      "f"
	violations: [if %s {path: ["metadata"], detail: %s}]
}

// Both imports are used whatever is generated.
_uses: [list.Contains([], ""), strings.Contains("", "")]
`, g.expr(kBool), g.expr(kString))
}

// FuzzFastMatchesReference: a rule generated from the tables of the fast
// evaluator (every builtin, every operator, defaults, unification,
// interpolation, comprehensions) gives, over any input, exactly what the
// reference CUE evaluation gives, and is evaluated fast.
//
//	go test ./internal/policy -run '^$' -fuzz FuzzFastMatchesReference -fuzztime 5m
func FuzzFastMatchesReference(f *testing.F) {
	objects := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app-1, labels: {app: Web, tier: a1}}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers: [{name: a, image: a}]\n" +
		"---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: 7}\nspec: {completions: 2, template: {spec: {containers: []}}}\n" +
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: ' Pod ', labels: {app: 1}}\nspec: {containers: {a: 1}}\n")
	for _, seed := range []string{"", "\x00\x01\x02", "\x01\x00\x03\x04", "\x03\x00\x02\x05\x01", "\x04\x04\x01\x03", "\x00\x07\x05\x02\x02\x01", "\x02\x03\x01\x04\x00\x06"} {
		f.Add([]byte(seed), objects)
	}
	f.Fuzz(func(t *testing.T, rule, data []byte) {
		src := ruleFrom(rule)
		path := filepath.Join(t.TempDir(), "generated.cue")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		opts := Options{PolicyFiles: []string{path}}
		fast, err := Compile(opts)
		if err != nil {
			return // not a valid pack (a constant CUE rejects): nothing to compare
		}
		if why, slow := fastOf(t, fast).slow["generated"]; slow {
			t.Fatalf("a rule generated from the tables is left to CUE (%s):\n%s", why, src)
		}
		opts.reference = true
		plain, err := Compile(opts)
		if err != nil {
			t.Fatal(err)
		}
		got, gotErr := fast.Check("in.yaml", data)
		want, wantErr := plain.Check("in.yaml", data)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("fast error %v, reference error %v\n%s", gotErr, wantErr, src)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("fast results differ from the reference (-reference +fast):\n%s\nrule:\n%s", diff, src)
		}
	})
}
