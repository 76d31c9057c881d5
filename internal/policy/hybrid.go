package policy

import (
	"sync"
	"sync/atomic"

	"cuelang.org/go/cue/ast"
)

// hybrid evaluates directly (direct.go) the rules direct can take, and
// gives CUE the others, and the rules direct gives up on for an object.
type hybrid struct {
	d      *direct
	direct []string   // ids of the rules direct takes
	rest   *optimised // the other enabled rules, or nil
	// all evaluates every enabled rule with CUE, for the objects direct
	// gives up on; compiled when first needed.
	all func() (*optimised, error)
	// left counts the rule evaluations direct left to CUE.
	left atomic.Int64
}

// newEngine is the engine jobwq checks with: direct evaluation where it
// can, CUE (optimised) where it cannot.
func newEngine(p *Pack, files []*ast.File) (engine, error) {
	d := newDirect(p, files)
	if d == nil {
		return newOptimised(p, files, p.rules)
	}
	h := &hybrid{d: d}
	var rest []Rule
	for _, r := range p.rules {
		if d.takes(r.ID) {
			h.direct = append(h.direct, r.ID)
		} else {
			rest = append(rest, r)
		}
	}
	if len(rest) > 0 {
		var err error
		if h.rest, err = newOptimised(p, files, rest); err != nil {
			return nil, err
		}
	}
	h.all = sync.OnceValues(func() (*optimised, error) { return newOptimised(p, files, p.rules) })
	return h, nil
}

func (h *hybrid) evaluate(o object, jobPath, podPath []string) (map[string]outcome, error) {
	out := make(map[string]outcome, len(h.direct))
	left := h.d.evaluate(o, jobPath, podPath, h.direct, out)
	if h.rest != nil {
		r, err := h.rest.evaluate(o, jobPath, podPath)
		if err != nil {
			return nil, err
		}
		for id, oc := range r {
			out[id] = oc
		}
	}
	if len(left) > 0 {
		h.left.Add(int64(len(left)))
		all, err := h.all()
		if err != nil {
			return nil, err
		}
		r, err := all.evaluate(o, jobPath, podPath)
		if err != nil {
			return nil, err
		}
		for _, id := range left {
			out[id] = r[id]
		}
	}
	return out, nil
}
