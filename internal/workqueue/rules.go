package workqueue

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"github.com/jobwq/jobwq/schemas"
)

// Some rules of the schema are conjunctions of named rules, each of the
// form `rule | error("...")` and each about one part of a value: #Image
// (the repository, the tag, the digest...), #EnvVarName, and the keys of
// labels (#LabelKey & #Unreserved). CUE reports a failed conjunction of
// such rules as every combination of their messages; vet instead holds
// the value to each named rule in turn and tells the ones it breaks.

// conjunctions are the definitions of the schema that are conjunctions of
// other definitions, with those, in order.
var conjunctions = sync.OnceValue(func() map[string][]string {
	out := map[string][]string{}
	src, err := schemas.FS.ReadFile("workqueue.cue")
	if err != nil {
		return out
	}
	f, err := parser.ParseFile("workqueue.cue", src)
	if err != nil {
		return out
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		name, _, err := ast.LabelName(fd.Label)
		if err != nil || !strings.HasPrefix(name, "#") {
			continue
		}
		if rules := identConjuncts(fd.Value); len(rules) > 1 {
			out[name] = rules
		}
	}
	return out
})

// identConjuncts are the definitions x is the conjunction of, or nil if it
// is anything else.
func identConjuncts(x ast.Expr) []string {
	switch x := x.(type) {
	case *ast.ParenExpr:
		return identConjuncts(x.X)
	case *ast.Ident:
		if strings.HasPrefix(x.Name, "#") {
			return []string{x.Name}
		}
	case *ast.BinaryExpr:
		if x.Op != token.AND {
			return nil
		}
		a, b := identConjuncts(x.X), identConjuncts(x.Y)
		if a == nil || b == nil {
			return nil
		}
		return append(a, b...)
	}
	return nil
}

// valueRules are the named rules of the schema value v (a field of the
// schema): those of a conjunction its own expression names, such as
// #Image (not those of the fields of a struct it holds).
func valueRules(v cue.Value) []string {
	var found []string
	for _, src := range sources(v) {
		if f, ok := src.(*ast.Field); ok {
			src = f.Value
		}
		ast.Walk(src, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.StructLit, *ast.ListLit:
				return false
			case *ast.Ident:
				if found == nil {
					found = conjunctions()[n.Name]
				}
			}
			return found == nil
		}, nil)
	}
	return found
}

// keyRules are the named rules of the keys of the map v (a field of the
// schema such as labels?: [#LabelKey & #Unreserved]: #LabelValue).
func keyRules(v cue.Value) []string {
	for _, src := range sources(v) {
		if f, ok := src.(*ast.Field); ok {
			src = f.Value
		}
		st, ok := src.(*ast.StructLit)
		if !ok {
			continue
		}
		for _, d := range st.Elts {
			if f, ok := d.(*ast.Field); ok {
				if l, ok := f.Label.(*ast.ListLit); ok && len(l.Elts) == 1 {
					return identConjuncts(l.Elts[0])
				}
			}
		}
	}
	return nil
}

// sources are the syntax v was made from: its own, or that of each of its
// conjuncts.
func sources(v cue.Value) []ast.Node {
	var out []ast.Node
	if src := v.Source(); src != nil {
		out = append(out, src)
	}
	if op, args := v.Expr(); op == cue.AndOp {
		for _, a := range args {
			if src := a.Source(); src != nil {
				out = append(out, src)
			}
		}
	}
	return out
}

// ruleProblems are the messages of the rules s breaks, in order, joined;
// "" if it breaks none.
func ruleProblems(rules []string, s string) string {
	ctx := cuecontext.New()
	src, err := schemas.FS.ReadFile("workqueue.cue")
	if err != nil {
		return ""
	}
	schema := ctx.CompileBytes(src, cue.Filename("schemas/workqueue.cue"))
	var msgs []string
	for _, r := range rules {
		rule := schema.LookupPath(cue.ParsePath(r))
		if err := rule.Unify(ctx.Encode(s)).Validate(cue.Concrete(true)); err != nil {
			format, args := cueerrors.Errors(err)[0].Msg()
			if m := fmt.Sprintf(format, args...); !slices.Contains(msgs, m) {
				msgs = append(msgs, m)
			}
		}
	}
	return strings.Join(msgs, "; ")
}

// schemaAt is the schema's value for the field at segs, through lists
// (any element) and optional fields.
func schemaAt(schema cue.Value, segs []string) cue.Value {
	v := schema
	for _, s := range segs {
		if isIndex(s) && v.IncompleteKind() == cue.ListKind {
			v = v.LookupPath(cue.MakePath(cue.AnyIndex))
			continue
		}
		sel := selector(v, s)
		next := v.LookupPath(cue.MakePath(sel))
		if !next.Exists() && sel.ConstraintType() == 0 {
			next = v.LookupPath(cue.MakePath(sel.Optional()))
		}
		v = next
	}
	return v
}
