package workqueue

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"

	"github.com/jobwq/jobwq/internal/items"
	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/position/cuepos"
)

// CUE stops reporting at the first conflict in a struct: a wrong type on
// one line hides a misspelt field on the next and the cross-field rules
// are never reached. What follows finds, from the user's syntax alone, the
// problems that do not need a valid spec, so that vet tells everything in
// one run.

// moreProblems are the unknown fields of the whole document and the item
// source rule, found without evaluating the spec.
func moreProblems(p *parsed, schema cue.Value) position.Errors {
	var errs position.Errors
	var walk func(decls []ast.Decl, v cue.Value, segs []string)
	walk = func(decls []ast.Decl, v cue.Value, segs []string) {
		for _, d := range decls {
			f, ok := d.(*ast.Field)
			if !ok {
				continue
			}
			name, _, err := ast.LabelName(f.Label)
			if err != nil {
				continue
			}
			child := append(slices.Clone(segs), pathLabel(name))
			sel := cue.Str(name)
			if v.IncompleteKind() != cue.StructKind {
				continue
			}
			if !v.Allows(sel) {
				_, msg := unknownField(schema, child)
				errs = append(errs, position.Errorf(cuepos.Of(f.Label.Pos()), fieldPath(child), "%s", msg))
				continue
			}
			fv := v.LookupPath(cue.MakePath(sel))
			switch x := f.Value.(type) {
			case *ast.StructLit:
				walk(x.Elts, fv, child)
			case *ast.ListLit:
				elem := fv.LookupPath(cue.MakePath(cue.AnyIndex))
				for i, e := range x.Elts {
					if st, ok := e.(*ast.StructLit); ok && elem.Exists() {
						walk(st.Elts, elem, append(slices.Clone(child), fmt.Sprint(i)))
					}
				}
			}
		}
	}
	walk(p.file.Decls, schema, nil)

	errs = append(errs, envDuplicates(p)...)
	errs = append(errs, itemsFileProblem(p)...)

	hasItems := findField(p.file.Decls, "spec", "items") != nil
	file := findField(p.file.Decls, "spec", "itemsFile")
	switch spec := findField(p.file.Decls, "spec"); {
	case spec == nil:
	case hasItems && file != nil:
		errs = append(errs, position.Errorf(cuepos.Of(file.Label.Pos()), "spec", "%s", msgBothItemSources))
	case !hasItems && file == nil && p.format != formatCUE:
		errs = append(errs, position.Errorf(cuepos.Of(spec.Label.Pos()), "spec", "%s", msgNoItemSource))
	}
	return errs
}

// merge adds to errs those of more whose field errs says nothing about,
// and sorts them by position.
func merge(errs, more position.Errors) position.Errors {
	have := map[string]bool{}
	for _, e := range errs {
		have[e.Path] = true
	}
	for _, e := range more {
		// Problems without a field (an items file's lines) are told each.
		dup := e.Path != "" && have[e.Path] || slices.ContainsFunc(errs, func(x *position.Error) bool { return *x == *e })
		if dup || (e.Path == "spec" && hasPrefixMsg(errs, "set exactly one")) {
			continue
		}
		errs = append(errs, e)
	}
	return errs
}

func hasPrefixMsg(errs position.Errors, prefix string) bool {
	return slices.ContainsFunc(errs, func(e *position.Error) bool { return strings.HasPrefix(e.Msg, prefix) })
}

// elsewhere lists the paths of fields of the schema named name, for a
// field written at the wrong level.
func elsewhere(schema cue.Value, name string) []string {
	var found []string
	var walk func(v cue.Value, segs []string, depth int)
	walk = func(v cue.Value, segs []string, depth int) {
		if depth > 6 || v.IncompleteKind() != cue.StructKind {
			return
		}
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			return
		}
		for it.Next() {
			if it.Selector().IsDefinition() {
				continue
			}
			n := it.Selector().Unquoted()
			child := append(slices.Clone(segs), n)
			if n == name {
				found = append(found, strings.Join(child, "."))
			}
			walk(it.Value(), child, depth+1)
		}
	}
	walk(schema, nil, 0)
	slices.Sort(found)
	return found
}

// envDuplicates finds variables named twice in spec.worker.env.
func envDuplicates(p *parsed) position.Errors {
	f := findField(p.file.Decls, "spec", "worker", "env")
	if f == nil {
		return nil
	}
	list, ok := f.Value.(*ast.ListLit)
	if !ok {
		return nil
	}
	var errs position.Errors
	seen := map[string]int{}
	for i, e := range list.Elts {
		st, ok := e.(*ast.StructLit)
		if !ok {
			continue
		}
		nf := findField(st.Elts, "name")
		if nf == nil {
			continue
		}
		lit, ok := nf.Value.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			continue
		}
		name, err := literal.Unquote(lit.Value)
		if err != nil {
			continue
		}
		path := fmt.Sprintf("spec.worker.env[%d].name", i)
		if first, dup := seen[name]; dup {
			errs = append(errs, position.Errorf(cuepos.Of(nf.Value.Pos()), path, "duplicate variable %q (first at spec.worker.env[%d])", name, first))
			continue
		}
		seen[name] = i
	}
	return errs
}

// itemsFileProblem are the problems of the items file the spec names, if
// it can be found from the syntax: its bad lines (MaxItemProblems of them).
func itemsFileProblem(p *parsed) position.Errors {
	f := findField(p.file.Decls, "spec", "itemsFile")
	if f == nil || findField(p.file.Decls, "spec", "items") != nil {
		return nil
	}
	lit, ok := f.Value.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return nil
	}
	rel, err := literal.Unquote(lit.Value)
	if err != nil {
		return nil
	}
	path, err := itemsPath(p.file.Filename, rel)
	if err != nil {
		return position.Errors{position.Errorf(cuepos.Of(f.Value.Pos()), "spec.itemsFile", "%v", err)}
	}
	found, err := items.Problems(path, MaxItemProblems)
	if err != nil {
		return nil
	}
	return found
}

// alsoItems adds the items file's problems to the cross-field errors,
// which otherwise end the load before the items are read.
func alsoItems(err error, p *parsed) error {
	var es position.Errors
	if !errors.As(err, &es) {
		return err
	}
	for _, e := range itemsFileProblem(p) {
		if !slices.ContainsFunc(es, func(x *position.Error) bool { return x.Path == e.Path && x.Pos == e.Pos }) {
			es = append(es, e)
		}
	}
	es.Sort()
	return es
}
