package policy

import (
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
)

// An engine evaluates a pack's enabled rules over one object and says
// what each rule found. Its meaning is fixed by the reference engine:
// fill the whole object into input.object, its Job spec into input.job and
// its pod spec into input.pod, and read every rule's violations. The
// engine jobwq checks with (hybrid.go: direct evaluation, direct.go, and
// the CUE optimiser, optimise.go, where direct is unsure) must give the
// same outcomes faster; FuzzOptimisedMatchesReference holds it to that.
//
// Engines are safe for concurrent use.
type engine interface {
	evaluate(o object, jobPath, podPath []string) (map[string]outcome, error)
}

// outcome is what one rule said about one object.
type outcome struct {
	violations []violation
	err        error
}

// reference is the plain evaluation: one compiled pack, the whole object,
// every rule, nothing remembered. It is slow and obviously right.
type reference struct {
	p    *Pack
	mu   sync.Mutex // a cue.Context is not safe for concurrent use
	pack cue.Value
}

func newReference(p *Pack) (*reference, error) {
	pack, _, err := p.build(cuecontext.New(), p.enabled(p.rules), false)
	if err != nil {
		return nil, err
	}
	return &reference{p: p, pack: pack}, nil
}

func (r *reference) evaluate(o object, jobPath, podPath []string) (map[string]outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.pack.FillPath(inputPath, &ast.StructLit{Elts: inputOf(o.expr, jobPath, podPath)})
	out := make(map[string]outcome, len(r.p.rules))
	for _, rule := range r.p.rules {
		vs, err := r.p.violations(v, rule.ID)
		out[rule.ID] = outcome{violations: vs, err: err}
	}
	return out, nil
}

// inputOf is what a pack's input holds for an object: the object, and
// its Job and pod specs where it has them. job and pod refer into object
// rather than copy it, so the evaluator shares the structure instead of
// unifying it three times.
func inputOf(obj ast.Expr, jobPath, podPath []string) []ast.Decl {
	input := []ast.Decl{field("object", obj)}
	if jobPath != nil {
		input = append(input, field("job", ast.NewSel(ast.NewIdent("object"), jobPath...)))
	}
	if podPath != nil {
		input = append(input, field("pod", ast.NewSel(ast.NewIdent("object"), podPath...)))
	}
	return input
}
