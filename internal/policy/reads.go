package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
)

// Most objects in a large stream differ only where no rule looks: names,
// labels, annotations. The pack's source tells which parts of input the
// rules can reach; jobwq gives the evaluator only those parts and remembers
// the violations per distinct remainder, so 2,000 Jobs stamped from one
// template cost one evaluation, not 2,000.
//
// The analysis is syntactic and errs towards reading more: every use of the
// identifier input counts, a dynamic index or a bare reference reads the
// whole value below it, and an alias of input (let o = input.object) reads
// everything it names.

// reads is a trie of the input paths rules can reach. A node marked whole
// is read entirely; a leaf that is not is only tested for existence.
type reads struct {
	whole    bool
	children map[string]*reads
}

// add records that path is read whole.
func (r *reads) add(path []string) {
	if n := r.node(path); n != nil {
		n.whole = true
		n.children = nil
	}
}

// addExists records that only the existence of path is read.
func (r *reads) addExists(path []string) { r.node(path) }

// node returns the node for path, creating it and its ancestors, or nil
// when an ancestor is already read whole.
func (r *reads) node(path []string) *reads {
	n := r
	for _, step := range path {
		if n.whole {
			return nil
		}
		if n.children == nil {
			n.children = map[string]*reads{}
		}
		c := n.children[step]
		if c == nil {
			c = &reads{}
			n.children[step] = c
		}
		n = c
	}
	if n.whole {
		return nil
	}
	return n
}

// at returns the node for path: a whole ancestor stands for everything
// below it, and nil means nothing under path is read.
func (r *reads) at(path []string) *reads {
	n := r
	for _, step := range path {
		if n == nil || n.whole {
			return n
		}
		n = n.children[step]
	}
	return n
}

// usage is what a piece of CUE reads: paths of input, and the package's
// top-level fields it refers to.
type usage struct {
	reads *reads
	refs  map[string]bool
}

// usageOf collects the reads of n. top holds the package's top-level field
// names; any identifier spelt like one counts as a reference to it.
func usageOf(n ast.Node, top map[string]bool) usage {
	u := usage{reads: &reads{}, refs: map[string]bool{}}
	var visit func(ast.Node) bool
	visit = func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.Field:
			// A label is a declaration, not a reference: input: #Input. An
			// alias of it (I=input: ...) hides every read behind I.
			if a, ok := x.Label.(*ast.Alias); ok {
				if id, ok := a.Expr.(*ast.Ident); ok && id.Name == "input" {
					u.reads.add(nil)
				}
			}
			switch x.Label.(type) {
			case *ast.Ident, *ast.BasicLit, *ast.Alias:
			default: // (expr): and [pattern]: labels hold expressions
				ast.Walk(x.Label, visit, nil)
			}
			if x.Value != nil {
				ast.Walk(x.Value, visit, nil)
			}
			return false
		case *ast.BinaryExpr:
			// x != _|_ and x == _|_ only ask whether x exists.
			if x.Op == token.NEQ || x.Op == token.EQL {
				if _, ok := x.Y.(*ast.BottomLit); ok {
					if path, ok, dynamic := chain(x.X); ok && dynamic == nil {
						u.reads.addExists(path)
						return false
					}
				}
			}
		case *ast.Ident:
			if x.Name == "input" {
				u.reads.add(nil)
			} else if top[x.Name] {
				u.refs[x.Name] = true
			}
			return false
		case *ast.SelectorExpr, *ast.IndexExpr:
			path, ok, dynamic := chain(x.(ast.Expr))
			if !ok {
				return true
			}
			u.reads.add(path)
			for _, d := range dynamic {
				ast.Walk(d, visit, nil)
			}
			return false
		}
		return true
	}
	ast.Walk(n, visit, nil)
	return u
}

// ruleReads finds, for each rule, what of input it can reach: through its
// own CUE and, transitively, through every top-level field it refers to.
// Reads outside any field (top-level comprehensions) and pattern
// constraints on rules count for every rule. separable is false when some
// CUE refers to rules, so that the rules cannot be compiled apart.
func ruleReads(files []*ast.File) (perRule map[string]*reads, separable bool) {
	separable = true
	top := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.Field); ok {
				if name, _, err := ast.LabelName(fd.Label); err == nil {
					top[name] = true
				}
			}
		}
	}
	decls := map[string][]ast.Node{}
	rules := map[string][]ast.Node{}
	var global []ast.Node
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.Field)
			if !ok {
				switch d.(type) {
				case *ast.Package, *ast.ImportDecl, *ast.CommentGroup, *ast.Attribute:
				default:
					global = append(global, d)
				}
				continue
			}
			name, _, err := ast.LabelName(fd.Label)
			if err != nil {
				global = append(global, d)
				continue
			}
			if _, ok := fd.Label.(*ast.Alias); ok && name == "input" {
				// I=input: ... lets any rule read input as I.
				global = append(global, ast.NewIdent("input"))
			}
			if name != "rules" {
				decls[name] = append(decls[name], fd.Value)
				continue
			}
			s, ok := fd.Value.(*ast.StructLit)
			if !ok {
				global = append(global, fd.Value)
				continue
			}
			for _, e := range s.Elts {
				rf, ok := e.(*ast.Field)
				if !ok {
					global = append(global, e)
					continue
				}
				id, _, err := ast.LabelName(rf.Label)
				if err != nil {
					// A pattern, [ID=string]: ..., applies to every rule.
					global = append(global, rf)
					continue
				}
				rules[id] = append(rules[id], rf.Value)
			}
		}
	}

	// Reads of top-level fields, closed over their references. A rule
	// that refers to rules may read through any rule: it reads everything.
	memo := map[string]*reads{}
	var of func(name string, seen map[string]bool) *reads
	of = func(name string, seen map[string]bool) *reads {
		if r, ok := memo[name]; ok {
			return r
		}
		r := &reads{}
		if name == "rules" {
			r.add(nil)
			separable = false
			return r
		}
		if seen[name] {
			return r
		}
		seen[name] = true
		for _, n := range decls[name] {
			u := usageOf(n, top)
			r.graft(nil, u.reads)
			for ref := range u.refs {
				r.graft(nil, of(ref, seen))
			}
		}
		delete(seen, name)
		memo[name] = r
		return r
	}
	closed := func(nodes []ast.Node) *reads {
		r := &reads{}
		for _, n := range nodes {
			u := usageOf(n, top)
			r.graft(nil, u.reads)
			for ref := range u.refs {
				r.graft(nil, of(ref, map[string]bool{}))
			}
		}
		return r
	}
	all := closed(global)
	perRule = map[string]*reads{}
	for id, nodes := range rules {
		r := closed(nodes)
		r.graft(nil, all)
		perRule[id] = r
	}
	return perRule, separable
}

// podOnly reports whether r reads nothing but the pod spec.
func (r *reads) podOnly() bool {
	if r.whole {
		return false
	}
	for k := range r.children {
		if k != "pod" {
			return false
		}
	}
	return true
}

// chain returns the path of a selector chain rooted at the identifier
// input. It stops at the first step that is not a literal field name; the
// expressions of such steps are returned for further walking.
func chain(e ast.Expr) (path []string, ok bool, dynamic []ast.Expr) {
	var steps []ast.Expr // outermost first
	for {
		switch x := e.(type) {
		case *ast.Ident:
			if x.Name != "input" {
				return nil, false, nil
			}
			// Walk the steps innermost first, stopping at a dynamic one.
			for i := len(steps) - 1; i >= 0; i-- {
				name, lit, idx := stepName(steps[i])
				if !lit {
					dynamic = append(dynamic, idx)
					for j := i - 1; j >= 0; j-- {
						if _, lit, idx := stepName(steps[j]); !lit && idx != nil {
							dynamic = append(dynamic, idx)
						}
					}
					return path, true, dynamic
				}
				path = append(path, name)
			}
			return path, true, nil
		case *ast.SelectorExpr:
			steps = append(steps, x)
			e = x.X
		case *ast.IndexExpr:
			steps = append(steps, x)
			e = x.X
		default:
			return nil, false, nil
		}
	}
}

// stepName returns a step's field name when it is literal, or the index
// expression to walk when it is not.
func stepName(e ast.Expr) (name string, literalName bool, index ast.Expr) {
	switch x := e.(type) {
	case *ast.SelectorExpr:
		n, _, err := ast.LabelName(x.Sel)
		return n, err == nil, nil
	case *ast.IndexExpr:
		if b, ok := x.Index.(*ast.BasicLit); ok && b.Kind == token.STRING {
			if s, err := literal.Unquote(b.Value); err == nil {
				return s, true, nil
			}
		}
		return "", false, x.Index
	}
	return "", false, nil
}

// prune returns a copy of s holding only what r reads: the part of the
// object the evaluator needs. Nodes are shared, not copied.
func prune(s *ast.StructLit, r *reads) *ast.StructLit {
	if r == nil || r.whole {
		return s
	}
	out := &ast.StructLit{Lbrace: s.Lbrace, Rbrace: s.Rbrace}
	for _, d := range s.Elts {
		f, ok := d.(*ast.Field)
		if !ok {
			// Embeddings and the like do not come from YAML or JSON; keep them.
			out.Elts = append(out.Elts, d)
			continue
		}
		name, _, err := ast.LabelName(f.Label)
		if err != nil {
			out.Elts = append(out.Elts, d)
			continue
		}
		c := r.children[name]
		if c == nil {
			continue
		}
		if !c.whole && len(c.children) == 0 {
			// Only its existence is read: keep the field, not its value.
			nf := *f
			nf.Value = &ast.StructLit{}
			out.Elts = append(out.Elts, &nf)
			continue
		}
		if sub, ok := f.Value.(*ast.StructLit); ok && !c.whole {
			nf := *f
			nf.Value = prune(sub, c)
			out.Elts = append(out.Elts, &nf)
			continue
		}
		out.Elts = append(out.Elts, d)
	}
	return out
}

// digest identifies an expression by its content, not its position.
func digest(e ast.Expr) [sha256.Size]byte {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	str := func(s string) {
		n := binary.PutUvarint(buf[:], uint64(len(s)))
		h.Write(buf[:n])
		h.Write([]byte(s))
	}
	var walk func(ast.Expr)
	walk = func(e ast.Expr) {
		switch x := e.(type) {
		case *ast.StructLit:
			str("{" + strconv.Itoa(len(x.Elts)))
			for _, d := range x.Elts {
				f, ok := d.(*ast.Field)
				if !ok {
					// Not from YAML or JSON: make the digest unique so that
					// nothing is shared.
					str("?" + strconv.Itoa(int(x.Pos().Offset())))
					continue
				}
				name, _, _ := ast.LabelName(f.Label)
				str(name)
				walk(f.Value)
			}
		case *ast.ListLit:
			str("[" + strconv.Itoa(len(x.Elts)))
			for _, el := range x.Elts {
				walk(el)
			}
		case *ast.BasicLit:
			str(x.Kind.String() + x.Value)
		case *ast.Ident:
			str("i" + x.Name)
		case *ast.UnaryExpr:
			str(x.Op.String())
			walk(x.X)
		default:
			str("?" + strconv.Itoa(int(e.Pos().Offset())) + e.Pos().Filename())
		}
	}
	walk(e)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// graft marks src's paths as read below path.
func (r *reads) graft(path []string, src *reads) {
	if src == nil {
		return
	}
	if src.whole {
		r.add(path)
		return
	}
	if len(src.children) == 0 {
		r.addExists(path)
		return
	}
	for k, c := range src.children {
		r.graft(append(path[:len(path):len(path)], k), c)
	}
}

// objectReads is what rules read of an object whose Job and pod specs
// (nil when absent) are at job and pod.
func (r *reads) objectReads(job, pod []string) *reads {
	out := &reads{}
	out.graft(nil, r.at([]string{"object"}))
	if job != nil {
		out.graft(job, r.at([]string{"job"}))
	}
	if pod != nil {
		out.graft(pod, r.at([]string{"pod"}))
	}
	return out
}
