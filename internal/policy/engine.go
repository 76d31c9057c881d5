package policy

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
)

// An engine evaluates a pack's enabled rules over one object and says
// what each rule found. Its meaning is fixed by the reference engine:
// fill the whole object into input.object, its Job spec into input.job and
// its pod spec into input.pod, and read every rule's violations.
//
// The engine jobwq checks with decides per rule, when the pack is
// compiled, how: a rule written in the subset of CUE that subset.go lists
// is evaluated over Go values (values.go); any other rule by CUE, in a
// pack of its own that holds only such rules and what they reach. A fast
// rule that meets data only CUE can judge is evaluated by the reference
// for that object alone. FuzzFastMatchesReference holds the engine to the
// reference's outcomes.
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

// cuePack is a pack compiled for some rules, one evaluator per goroutine
// that needs one (a cue.Context is not safe for concurrent use).
type cuePack struct {
	p     *Pack
	ids   []string
	reads reads // what the rules read of input
	idle  chan cue.Value
}

func newCUEPack(p *Pack, ids []string, r reads) (*cuePack, error) {
	c := &cuePack{p: p, ids: ids, reads: r, idle: make(chan cue.Value, runtime.GOMAXPROCS(0))}
	v, err := c.compile()
	if err != nil {
		return nil, err
	}
	c.idle <- v
	return c, nil
}

func (c *cuePack) compile() (cue.Value, error) {
	v, _, err := c.p.build(cuecontext.New(), func(id string) bool { return slices.Contains(c.ids, id) })
	return v, err
}

// evaluate adds to out what the rules ids (all of the pack's when nil)
// find in o.
func (c *cuePack) evaluate(o object, jobPath, podPath []string, ids []string, out map[string]outcome) error {
	var pack cue.Value
	select {
	case pack = <-c.idle:
	default:
		var err error
		if pack, err = c.compile(); err != nil {
			return err
		}
	}
	defer func() {
		select {
		case c.idle <- pack:
		default:
		}
	}()
	obj, jobPath, podPath := c.reads.prune(o.expr, jobPath, podPath)
	v := pack.FillPath(inputPath, &ast.StructLit{Elts: inputOf(obj, jobPath, podPath)})
	if ids == nil {
		ids = c.ids
	}
	for _, id := range ids {
		vs, err := c.p.violations(v, id)
		out[id] = outcome{violations: vs, err: err}
	}
	return nil
}

// reference is the plain evaluation: one compiled pack, the whole object,
// every rule, nothing remembered. It is slow and obviously right.
type reference struct{ all *cuePack }

func newReference(p *Pack, rules []Rule) (*reference, error) {
	var ids []string
	for _, r := range rules {
		ids = append(ids, r.ID)
	}
	c, err := newCUEPack(p, ids, reads{whole: true})
	return &reference{all: c}, err
}

func (r *reference) evaluate(o object, jobPath, podPath []string) (map[string]outcome, error) {
	out := make(map[string]outcome, len(r.all.ids))
	return out, r.all.evaluate(o, jobPath, podPath, nil, out)
}

// fastEngine evaluates the rules of the subset over Go values and the
// others with CUE.
type fastEngine struct {
	d    *direct
	fast []string          // ids of the rules d evaluates
	slow map[string]string // the others, and why
	cue  *cuePack          // the slow rules, or nil
	// all evaluates any rule with CUE, for the objects on which a fast
	// rule meets data only CUE can judge; compiled when first needed.
	all func() (*reference, error)
	// fallbacks counts the evaluations of fast rules left to CUE.
	fallbacks atomic.Int64
}

func newEngine(p *Pack, files []*ast.File) (*fastEngine, error) {
	var ids []string
	for _, r := range p.rules {
		ids = append(ids, r.ID)
	}
	e := &fastEngine{}
	e.d, e.slow = newDirect(p, files, ids)
	var slow []string
	for _, id := range ids {
		if _, ok := e.slow[id]; ok {
			slow = append(slow, id)
		} else {
			e.fast = append(e.fast, id)
		}
	}
	if e.d != nil {
		e.d.reads = readsOfRules(files, e.fast)
	}
	if len(slow) > 0 {
		var err error
		if e.cue, err = newCUEPack(p, slow, readsOfRules(files, slow)); err != nil {
			return nil, err
		}
	}
	e.all = sync.OnceValues(func() (*reference, error) { return newReference(p, p.rules) })
	return e, nil
}

func (e *fastEngine) evaluate(o object, jobPath, podPath []string) (map[string]outcome, error) {
	out := make(map[string]outcome, len(e.fast)+len(e.slow))
	var left []string
	if e.d != nil {
		left = e.d.evaluate(o, jobPath, podPath, e.fast, out)
	}
	if e.cue != nil {
		if err := e.cue.evaluate(o, jobPath, podPath, nil, out); err != nil {
			return nil, err
		}
	}
	if len(left) > 0 {
		e.fallbacks.Add(int64(len(left)))
		all, err := e.all()
		if err != nil {
			return nil, err
		}
		if err := all.all.evaluate(o, jobPath, podPath, left, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readsOfRules is what the rules ids read of input, read from files; whole
// when the package is beyond the analysis (anything at the top level but
// fields, or a rule that reads other rules).
func readsOfRules(files []*ast.File, ids []string) reads {
	top := map[string][]ast.Expr{}
	var nodes []ast.Node
	for _, f := range files {
		for _, d := range f.Decls {
			switch x := d.(type) {
			case *ast.Package, *ast.ImportDecl, *ast.CommentGroup, *ast.Attribute:
			case *ast.Field:
				name, _, err := ast.LabelName(x.Label)
				if _, ok := x.Label.(*ast.Ident); !ok || err != nil {
					return reads{whole: true}
				}
				if name != "rules" {
					top[name] = append(top[name], x.Value)
				}
			default:
				return reads{whole: true}
			}
		}
		for _, s := range rulesStructs(f) {
			for _, e := range s.Elts {
				rf, ok := e.(*ast.Field)
				if !ok {
					return reads{whole: true}
				}
				id, _, err := ast.LabelName(rf.Label)
				if err != nil || slices.Contains(ids, id) {
					nodes = append(nodes, rf.Value) // patterns apply to every rule
				}
			}
		}
	}
	for _, n := range nodes {
		if refersTo(n, "rules") {
			return reads{whole: true}
		}
	}
	return readsOf(nodes, top)
}

// Explanation says how a rule is evaluated: fast, over Go values, or by
// CUE, and then why.
type Explanation struct {
	Rule string
	Fast bool
	Why  string
}

// Explain says, for each enabled rule, how it is evaluated.
func (p *Pack) Explain() []Explanation {
	e, ok := p.engine.(*fastEngine)
	var out []Explanation
	for _, r := range p.rules {
		why, slow := "", true
		if ok {
			why, slow = e.slow[r.ID]
		}
		if !ok {
			why = "every rule is evaluated by CUE in this pack"
		}
		out = append(out, Explanation{Rule: r.ID, Fast: !slow, Why: why})
	}
	return out
}

func (x Explanation) String() string {
	if x.Fast {
		return "fast"
	}
	return fmt.Sprintf("by CUE, slowly: the rule %s", x.Why)
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

// reads are the paths of input a set of rules can reach (input.object.
// metadata.name), or whole when some CUE uses input other than through a
// chain of literal field names. CUE evaluates a rule of its own over the
// object pruned to these paths: converting a whole object into CUE's
// values costs more than most rules.
type reads struct {
	whole bool
	paths [][]string
}

// readsOf collects the reads of nodes and of every package field they
// reach; exists tests (x != _|_) count as reads of x.
func readsOf(nodes []ast.Node, top map[string][]ast.Expr) reads {
	var r reads
	seen := map[string]bool{}
	names := map[string]bool{}
	for n := range top {
		names[n] = true
	}
	var visit func(n ast.Node)
	visit = func(n ast.Node) {
		ast.Walk(n, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.SelectorExpr, *ast.IndexExpr:
				if path, ok := inputChain(x.(ast.Expr)); ok {
					r.paths = append(r.paths, path)
					return false
				}
			case *ast.Ident:
				if x.Name == "input" {
					r.whole = true
				} else if names[x.Name] && !seen[x.Name] {
					seen[x.Name] = true
					for _, e := range top[x.Name] {
						visit(e)
					}
				}
			}
			return !r.whole
		}, nil)
	}
	for _, n := range nodes {
		visit(n)
	}
	return r
}

// inputChain is the path of input.a.b["c"], when e is such a chain.
func inputChain(e ast.Expr) ([]string, bool) {
	var path []string
	for {
		switch x := e.(type) {
		case *ast.Ident:
			if x.Name != "input" || len(path) == 0 {
				return nil, false
			}
			slices.Reverse(path)
			return path, true
		case *ast.SelectorExpr:
			name, _, err := ast.LabelName(x.Sel)
			if err != nil {
				return nil, false
			}
			path, e = append(path, name), x.X
		case *ast.IndexExpr:
			b, ok := x.Index.(*ast.BasicLit)
			if !ok || b.Kind != token.STRING {
				return nil, false
			}
			s, err := literal.Unquote(b.Value)
			if err != nil {
				return nil, false
			}
			path, e = append(path, s), x.X
		default:
			return nil, false
		}
	}
}

// prune is the object o keeps for CUE: only the fields under the paths r
// reads, each anchor (object, job, pod) resolved to where o keeps it; and
// the Job and pod specs only where they are read.
func (r reads) prune(o *ast.StructLit, jobPath, podPath []string) (*ast.StructLit, []string, []string) {
	if r.whole {
		return o, jobPath, podPath
	}
	var keep [][]string
	readJob, readPod := false, false
	for _, p := range r.paths {
		switch p[0] {
		case "object":
			keep = append(keep, p[1:])
		case "job":
			if jobPath != nil {
				keep, readJob = append(keep, append(slices.Clone(jobPath), p[1:]...)), true
			}
		case "pod":
			if podPath != nil {
				keep, readPod = append(keep, append(slices.Clone(podPath), p[1:]...)), true
			}
		}
	}
	if !readJob {
		jobPath = nil
	}
	if !readPod {
		podPath = nil
	}
	return pruneTo(o, keep), jobPath, podPath
}

// pruneTo copies s down to the fields on paths; a path's last field is
// kept whole. Nodes below are shared, not copied.
func pruneTo(s *ast.StructLit, paths [][]string) *ast.StructLit {
	out := &ast.StructLit{Lbrace: s.Lbrace, Rbrace: s.Rbrace}
	for _, d := range s.Elts {
		f, ok := d.(*ast.Field)
		if !ok {
			out.Elts = append(out.Elts, d)
			continue
		}
		name, _, err := ast.LabelName(f.Label)
		if err != nil {
			out.Elts = append(out.Elts, d)
			continue
		}
		var below [][]string
		whole := false
		for _, p := range paths {
			if len(p) == 0 || p[0] != name {
				continue
			}
			if len(p) == 1 {
				whole = true
				break
			}
			below = append(below, p[1:])
		}
		sub, isStruct := f.Value.(*ast.StructLit)
		switch {
		case whole || (below != nil && !isStruct):
			out.Elts = append(out.Elts, d)
		case below != nil:
			nf := *f
			nf.Value = pruneTo(sub, below)
			out.Elts = append(out.Elts, &nf)
		}
	}
	return out
}
