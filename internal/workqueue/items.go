package workqueue

import (
	"slices"
	"strings"

	"cuelang.org/go/cue/ast"

	"github.com/jobwq/jobwq/internal/items"
	"github.com/jobwq/jobwq/internal/position"
)

// Items streams the spec's items in order, inline or from spec.itemsFile.
// A bad item ends the stream with a *position.Error naming its line.
func (w *WorkQueue) Items() items.Seq {
	if w.Spec.ItemsFile == "" {
		return items.List(w.Spec.Items)
	}
	return func(yield func(string, error) bool) {
		for it, err := range items.File(w.itemsPath) {
			if !yield(it, err) || err != nil {
				return
			}
		}
	}
}

// MaxItemProblems is how many bad lines of an items file ItemProblems
// lists before it only counts the rest.
const MaxItemProblems = 20

// ItemProblems are the problems of every bad line of the spec's items file,
// at most MaxItemProblems of them; Items stops at the first. Inline items
// were all checked when the spec was loaded.
func (w *WorkQueue) ItemProblems() (position.Errors, error) {
	if w.Spec.ItemsFile == "" {
		return nil, nil
	}
	return items.Problems(w.itemsPath, MaxItemProblems)
}

// ItemPos is where the i-th item was written: its line in itemsFile (one
// item per line, blank lines refused), or its place in the inline list.
func (w *WorkQueue) ItemPos(i int) position.Position {
	if w.Spec.ItemsFile != "" {
		return position.Position{File: position.Display(w.itemsPath), Line: i + 1, Column: 1}
	}
	if i < len(w.itemPos) {
		return w.itemPos[i]
	}
	return position.Position{File: position.Display(w.Path)}
}

// loadWithItems is load with the items read from file instead of
// spec.items or spec.itemsFile (Options.Items).
func loadWithItems(path string, data []byte, f format, file string) (*WorkQueue, error) {
	p, err := parse(path, data, f)
	if err != nil {
		return nil, err
	}
	// The schema sees a one-item stand-in, as for lifted items.
	if spec := findField(p.file.Decls, "spec"); spec != nil {
		if st, ok := spec.Value.(*ast.StructLit); ok {
			st.Elts = slices.DeleteFunc(st.Elts, func(d ast.Decl) bool {
				fd, ok := d.(*ast.Field)
				if !ok {
					return false
				}
				name, _, _ := ast.LabelName(fd.Label)
				return name == "items" || name == "itemsFile"
			})
			st.Elts = append(st.Elts, &ast.Field{Label: ast.NewIdent("items"), Value: ast.NewList(ast.NewString("item"))})
		}
	}
	p.items, p.itemPos = nil, nil
	p.problems = slices.DeleteFunc(p.problems, func(e *position.Error) bool {
		return e.Path == "spec.items" || strings.HasPrefix(e.Path, "spec.items[")
	})
	v, w, err := validated(p, path)
	if err != nil {
		return nil, err
	}
	w.Spec.Items, w.Spec.ItemsFile = nil, ""
	if err := checkCrossField(v, w); err != nil {
		return nil, err
	}
	w.Spec.ItemsFile, w.itemsPath = file, file
	return w, nil
}
