package policy

import (
	"slices"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// Filling input into a pack re-evaluates the whole package, tables and
// patterns included, although most of it does not depend on input: with
// the built-in pack that was three quarters of every object's evaluation.
// hoist moves the top-level fields that cannot reach input (directly or
// through other fields) into files of their own, which are compiled and
// evaluated once and given to the pack's compilation as its scope; the
// pack's references to them then resolve to values already evaluated.
//
// The analysis is the same syntactic one as reads.go's and errs the same
// way: any identifier spelt like a top-level field counts as a reference
// to it. Anything it does not follow (a top-level alias, embedding,
// comprehension or let) leaves the pack as it is.

// hoist removes from files the top-level fields that do not depend on
// input and returns them as files of their own, with the imports they
// use; fields that neither rules nor input refer to are dropped. It
// returns nil, and leaves files alone, when the analysis cannot follow
// the pack.
func hoist(files []*ast.File) []*ast.File {
	dependent, refs, ok := dependents(files)
	if !ok {
		return nil
	}

	// What the rules and input reach; the rest would only be evaluated,
	// for nothing, with every object.
	reached := map[string]bool{}
	var reach func(name string)
	reach = func(name string) {
		if reached[name] {
			return
		}
		reached[name] = true
		for r := range refs[name] {
			reach(r)
		}
	}
	reach("rules")
	reach("input")

	var consts []*ast.File
	for _, f := range files {
		c := &ast.File{Filename: f.Filename}
		var kept []ast.Decl
		for _, d := range f.Decls {
			switch x := d.(type) {
			case *ast.Package, *ast.ImportDecl:
				// Both halves need the package clause and may need the
				// imports; unused ones are dropped below.
				c.Decls = append(c.Decls, d)
			case *ast.Field:
				name, _, _ := ast.LabelName(x.Label)
				if !reached[name] {
					continue
				}
				if !dependent[name] {
					c.Decls = append(c.Decls, d)
					continue
				}
			}
			kept = append(kept, d)
		}
		f.Decls = kept
		dropUnusedImports(f)
		dropUnusedImports(c)
		consts = append(consts, c)
	}
	return consts
}

// stripRules drops from each rule in files every field but violations,
// and those its violations refer to by name: an evaluation reads only the
// violations (the descriptions are read once, from the whole pack), and
// each field kept is evaluated again for every object. Nothing is dropped
// when any CUE refers to rules, which could read a description.
func stripRules(files []*ast.File) {
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.Field)
			if !ok {
				continue
			}
			if refersTo(fd.Value, "rules") {
				return
			}
		}
	}
	for _, f := range files {
		for _, s := range rulesStructs(f) {
			for _, e := range s.Elts {
				rf, ok := e.(*ast.Field)
				if !ok {
					continue
				}
				if _, _, err := ast.LabelName(rf.Label); err != nil {
					continue // a pattern: it may constrain violations
				}
				if r, ok := rf.Value.(*ast.StructLit); ok {
					stripRule(r)
				}
			}
		}
	}
}

// stripRule keeps of r's fields violations and those referred to from
// what is kept; anything but plain fields leaves r whole.
func stripRule(r *ast.StructLit) {
	for _, e := range r.Elts {
		fd, ok := e.(*ast.Field)
		if !ok {
			return
		}
		if _, ok := fd.Label.(*ast.Ident); !ok {
			return
		}
	}
	keep := map[string]bool{"violations": true}
	for changed := true; changed; {
		changed = false
		for _, e := range r.Elts {
			fd := e.(*ast.Field)
			name, _, _ := ast.LabelName(fd.Label)
			if !keep[name] {
				continue
			}
			for _, other := range r.Elts {
				on, _, _ := ast.LabelName(other.(*ast.Field).Label)
				if !keep[on] && refersTo(fd.Value, on) {
					keep[on] = true
					changed = true
				}
			}
		}
	}
	r.Elts = slices.DeleteFunc(r.Elts, func(e ast.Decl) bool {
		name, _, _ := ast.LabelName(e.(*ast.Field).Label)
		return !keep[name]
	})
}

// refersTo reports whether an identifier spelt name occurs in n.
func refersTo(n ast.Node, name string) bool {
	found := false
	ast.Walk(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Name == name {
			found = true
		}
		return !found
	}, nil)
	return found
}

// dependents tells, for each top-level field of files, whether it depends
// on input (directly or through other fields), and what each refers to.
// A name declared with a constraint (foo?: or foo!:) or with a label that
// is not an identifier counts as dependent. ok is false when the analysis
// cannot follow the pack: a top-level alias, embedding, comprehension or
// let.
func dependents(files []*ast.File) (dependent map[string]bool, refs map[string]map[string]bool, ok bool) {
	top := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			switch x := d.(type) {
			case *ast.Package, *ast.ImportDecl, *ast.CommentGroup, *ast.Attribute:
			case *ast.Field:
				name, _, err := ast.LabelName(x.Label)
				if err != nil {
					return nil, nil, false
				}
				if _, ok := x.Label.(*ast.Alias); ok {
					return nil, nil, false
				}
				top[name] = true
			default:
				return nil, nil, false
			}
		}
	}
	refs = map[string]map[string]bool{}
	dependent = map[string]bool{"input": true, "rules": true}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.Field)
			if !ok {
				continue
			}
			name, _, _ := ast.LabelName(fd.Label)
			if _, ident := fd.Label.(*ast.Ident); !ident || fd.Constraint != token.ILLEGAL {
				dependent[name] = true
			}
			u := usageOf(fd.Value, top)
			if u.reads.whole || len(u.reads.children) > 0 {
				dependent[name] = true
			}
			if refs[name] == nil {
				refs[name] = map[string]bool{}
			}
			for r := range u.refs {
				refs[name][r] = true
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for name, rs := range refs {
			if dependent[name] {
				continue
			}
			for r := range rs {
				if dependent[r] {
					dependent[name] = true
					changed = true
					break
				}
			}
		}
	}
	return dependent, refs, true
}
