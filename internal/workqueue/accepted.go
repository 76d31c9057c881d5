package workqueue

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
)

// accepted decodes what the schema accepted of a spec it refused: every
// value the user wrote that holds no error once unified with the schema,
// and the schema's defaults where the user wrote nothing. Values the schema
// refused are left out, and refused reports whether a path (as the
// checker's paths are written) holds one of them or is under one. The
// checker then runs on the rest, so that a GPU of 0.5 is told beside a
// misspelt field rather than after it is fixed.
func accepted(v, data, schema cue.Value) (w *WorkQueue, refused func(path string) bool) {
	bad := map[string]bool{}
	var walk func(x cue.Value, sels []cue.Selector, path string) (any, bool)
	walk = func(x cue.Value, sels []cue.Selector, path string) (any, bool) {
		if k := x.IncompleteKind(); (k == cue.StructKind || k == cue.ListKind) && refusedHere(v, sels, path) {
			// A mapping or list where the schema wants something else:
			// CUE keeps its elements, which are no values of the spec.
			bad[path] = true
			return nil, false
		}
		switch x.IncompleteKind() {
		case cue.StructKind:
			it, err := x.Fields()
			if err != nil {
				bad[path] = true
				return nil, false
			}
			m := map[string]any{}
			for it.Next() {
				sel := it.Selector()
				if !sel.IsString() {
					continue
				}
				child := pathLabel(sel.Unquoted())
				if path != "" {
					child = path + "." + child
				}
				if val, ok := walk(it.Value(), append(slices.Clone(sels), sel), child); ok {
					m[sel.Unquoted()] = val
				}
			}
			return m, true
		case cue.ListKind:
			it, err := x.List()
			if err != nil {
				bad[path] = true
				return nil, false
			}
			list := []any{}
			for i := 0; it.Next(); i++ {
				val, _ := walk(it.Value(), append(slices.Clone(sels), cue.Index(i)), fmt.Sprintf("%s[%d]", path, i))
				list = append(list, val) // a refused element stays, as null, so indexes hold
			}
			return list, true
		}
		u := v.LookupPath(cue.MakePath(sels...))
		var out any
		if !u.Exists() || u.Validate(cue.Concrete(true)) != nil || u.Decode(&out) != nil {
			bad[path] = true
			return nil, false
		}
		return out, true
	}
	m, _ := walk(data, nil, "")
	top, _ := m.(map[string]any)
	if top == nil {
		top = map[string]any{}
	}
	withDefaults(top, schema, "", bad)
	w = &WorkQueue{}
	if b, err := json.Marshal(top); err == nil {
		// A value of the wrong shape for its Go field is one the schema
		// refused: Unmarshal leaves it out and goes on.
		_ = json.Unmarshal(b, w)
	}
	return w, func(path string) bool {
		for p := range bad {
			if p == path || under(p, path) || under(path, p) {
				return true
			}
		}
		return false
	}
}

// withDefaults fills in the schema's defaults where m, at path, has no
// value and the user wrote none the schema refused.
func withDefaults(m map[string]any, schema cue.Value, path string, bad map[string]bool) {
	it, err := schema.Fields(cue.Optional(true))
	if err != nil {
		return
	}
	for it.Next() {
		sel := it.Selector()
		if sel.IsDefinition() || !sel.IsString() {
			continue
		}
		name := sel.Unquoted()
		child := pathLabel(name)
		if path != "" {
			child = path + "." + child
		}
		if bad[child] {
			continue
		}
		f := it.Value()
		if _, set := m[name]; !set && sel.ConstraintType() == cue.OptionalConstraint {
			continue // an optional field is not there until the user writes it
		}
		if d, ok := f.Default(); ok && d.IsConcrete() && d.IncompleteKind() != cue.StructKind {
			if _, set := m[name]; !set {
				var x any
				if d.Decode(&x) == nil {
					m[name] = x
				}
			}
			continue
		}
		if f.IncompleteKind() != cue.StructKind {
			continue
		}
		sub, ok := m[name].(map[string]any)
		if _, set := m[name]; set && !ok {
			continue // not a mapping: the schema refused it
		}
		if sub == nil {
			sub = map[string]any{}
		}
		withDefaults(sub, f, child, bad)
		if len(sub) > 0 {
			m[name] = sub
		}
	}
}

// refusedHere reports whether v holds an error about the value at sels
// itself (a conflict of kinds), rather than about something under it.
func refusedHere(v cue.Value, sels []cue.Selector, path string) bool {
	err := v.LookupPath(cue.MakePath(sels...)).Err()
	if err == nil {
		return false
	}
	for _, e := range cueerrors.Errors(err) {
		segs := e.Path()
		if len(segs) > 0 && strings.HasPrefix(segs[0], "#") {
			segs = segs[1:]
		}
		if fieldPath(segs) == path {
			return true
		}
	}
	return false
}

// under reports whether path p lies under path q.
func under(p, q string) bool {
	return strings.HasPrefix(p, q+".") || strings.HasPrefix(p, q+"[")
}
