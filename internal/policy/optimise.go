package policy

import (
	"crypto/sha256"
	"runtime"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/token"
)

// optimised gives the reference engine's outcomes for less work, in three
// ways that policy checks of many alike objects reward:
//
//   - what each rule reads of its input is found by reading the rules
//     (reads.go); rules that read only the pod spec form a group evaluated
//     apart from the others, with a pack of its own, so objects that share
//     a pod template share that evaluation;
//   - each group is given the object pruned to what its rules read;
//   - each group's outcome is remembered by a digest of what it was given.
//
// A CUE context is not safe for concurrent use, so each goroutine that
// checks objects borrows an evaluator (its own compilation of the pack)
// from a pool.
type optimised struct {
	p     *Pack
	rules []Rule // the rules it evaluates
	// Rules that read only the pod spec are evaluated apart from the
	// others.
	podRules, fullRules []Rule
	podReads, fullReads *reads // what each group reads of input
	split               bool   // whether each group has a pack of its own

	idle chan *evaluator

	mu       sync.Mutex
	objReads map[string]*reads // what rules read of an object, by where its Job and pod specs are
	memo     map[[32]byte]map[string]outcome
}

type evaluator struct {
	ctx       *cue.Context
	full, pod cue.Value // the packs of the two groups, or one pack for both
}

// maxMemo bounds the remembered outcomes; past it objects are still
// checked, only not remembered.
const maxMemo = 1 << 14

// newOptimised analyses what rules, enabled rules of p, read, given the
// syntax of the whole pack, and compiles a first evaluator.
func newOptimised(p *Pack, files []*ast.File, rules []Rule) (*optimised, error) {
	e := &optimised{
		p:         p,
		rules:     rules,
		podReads:  &reads{},
		fullReads: &reads{},
		idle:      make(chan *evaluator, runtime.GOMAXPROCS(0)),
		objReads:  map[string]*reads{},
		memo:      map[[32]byte]map[string]outcome{},
	}
	perRule, split := ruleReads(files)
	for _, r := range rules {
		rd := perRule[r.ID]
		if rd == nil {
			rd = &reads{}
			rd.add(nil) // defined in a way the analysis does not follow
		}
		if rd.podOnly() {
			e.podRules = append(e.podRules, r)
			e.podReads.graft(nil, rd)
		} else {
			e.fullRules = append(e.fullRules, r)
			e.fullReads.graft(nil, rd)
		}
	}
	e.split = split && len(e.podRules) > 0 && len(e.fullRules) > 0
	if !e.split {
		// One pack evaluates every rule, once per object.
		e.fullRules, e.podRules = rules, nil
		e.fullReads.graft(nil, e.podReads)
	}
	ev, err := e.compile()
	if err != nil {
		return nil, err
	}
	e.idle <- ev
	return e, nil
}

// compile builds one evaluator. When the groups are split, each gets a
// pack holding only its own rules: an evaluation then costs only those.
func (e *optimised) compile() (*evaluator, error) {
	ctx := cuecontext.New()
	if !e.split {
		root, _, err := e.p.build(ctx, e.p.enabled(e.rules), true)
		return &evaluator{ctx: ctx, full: root, pod: root}, err
	}
	full, _, err := e.p.build(ctx, e.p.enabled(e.fullRules), true)
	if err != nil {
		return nil, err
	}
	pod, _, err := e.p.build(ctx, e.p.enabled(e.podRules), true)
	return &evaluator{ctx: ctx, full: full, pod: pod}, err
}

// acquire returns an idle evaluator, compiling another if none is idle.
func (e *optimised) acquire() (*evaluator, error) {
	select {
	case ev := <-e.idle:
		return ev, nil
	default:
	}
	return e.compile()
}

// release keeps ev for the next object, unless the pool is full.
func (e *optimised) release(ev *evaluator) {
	select {
	case e.idle <- ev:
	default:
	}
}

// evaluate runs the enabled rules over the parts of o that they read. The
// rules that read only the pod spec see only that; the others see the
// object pruned to what they read. Each group's outcome is remembered, so
// objects that look the same to a group share its evaluation.
func (e *optimised) evaluate(o object, jobPath, podPath []string) (map[string]outcome, error) {
	ev, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer e.release(ev)
	out := make(map[string]outcome, len(e.rules))
	if len(e.fullRules) > 0 {
		anchorKey := strings.Join(jobPath, ".") + "|" + strings.Join(podPath, ".")
		e.mu.Lock()
		rd, ok := e.objReads[anchorKey]
		if !ok {
			rd = e.fullReads.objectReads(jobPath, podPath)
			e.objReads[anchorKey] = rd
		}
		e.mu.Unlock()
		obj := prune(o.expr, rd)
		e.evaluateGroup(ev.full, "full|"+anchorKey, obj, inputOf(obj, jobPath, podPath), e.fullRules, out)
	}
	if len(e.podRules) > 0 {
		var pod ast.Expr = &ast.BasicLit{Kind: token.NULL, Value: "null"} // stands for "no pod" in the key
		var input []ast.Decl
		if podPath != nil {
			s := prune(lookup(o.expr, toAny(podPath)).(*ast.StructLit), e.podReads.at([]string{"pod"}))
			pod = s
			input = append(input, field("pod", s))
		}
		e.evaluateGroup(ev.pod, "pod", pod, input, e.podRules, out)
	}
	return out, nil
}

// evaluateGroup fills input into the pack and adds the outcome of rules to
// out, or the remembered outcome for the same group and key.
func (e *optimised) evaluateGroup(pack cue.Value, group string, key ast.Expr, input []ast.Decl, rules []Rule, out map[string]outcome) {
	d := digest(key)
	kh := sha256.Sum256(append(d[:], group...))
	e.mu.Lock()
	got, ok := e.memo[kh]
	e.mu.Unlock()
	if !ok {
		v := pack.FillPath(inputPath, &ast.StructLit{Elts: input})
		got = make(map[string]outcome, len(rules))
		cacheable := true
		for _, r := range rules {
			vs, err := e.p.violations(v, r.ID)
			if err != nil {
				// Errors carry positions in this object; do not reuse them.
				cacheable = false
			}
			got[r.ID] = outcome{violations: vs, err: err}
		}
		e.mu.Lock()
		if cacheable && len(e.memo) < maxMemo {
			e.memo[kh] = got
		}
		e.mu.Unlock()
	}
	for id, o := range got {
		out[id] = o
	}
}
