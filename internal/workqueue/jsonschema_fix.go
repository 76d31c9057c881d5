package workqueue

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/ast/astutil"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"github.com/jobwq/jobwq/schemas"
)

// CUE's JSON Schema generator drops the bounds of a field with a default
// (parallelism: *1 | int & >=1 & <=10000 comes out as a bare integer),
// writes the default as one more anyOf branch, keeps the false branch of
// every `rule | error("...")`, and names a definition "#Duration". The
// functions here make the export say what vet says: the schema is
// generated without its default markers, the defaults are put back as
// "default", and the output is tidied.

// schemaWithoutDefaults compiles #WorkQueue with every `*x |` removed,
// and returns the defaults by field path.
func schemaWithoutDefaults(ctx *cue.Context) (cue.Value, map[string]any, error) {
	withDefaults, err := Schema(ctx)
	if err != nil {
		return cue.Value{}, nil, err
	}
	defaults := map[string]any{}
	collectDefaults(withDefaults, nil, defaults)

	src, err := schemas.FS.ReadFile("workqueue.cue")
	if err != nil {
		return cue.Value{}, nil, fmt.Errorf("read embedded schema: %w", err)
	}
	f, err := parser.ParseFile("schemas/workqueue.cue", src, parser.ParseComments)
	if err != nil {
		return cue.Value{}, nil, fmt.Errorf("parse embedded schema: %w", err)
	}
	astutil.Apply(f, func(c astutil.Cursor) bool {
		if x, ok := c.Node().(*ast.BinaryExpr); ok && x.Op == token.OR {
			// A default among literals (*"quorum" | "classic") is one of
			// the values; a default next to a constraint (*1 | int & >=1)
			// is one the constraint allows, and goes.
			all := disjuncts(x)
			literals := true
			for _, d := range all {
				if _, ok := d.(*ast.UnaryExpr); !ok {
					_, lit := d.(*ast.BasicLit)
					literals = literals && lit
				}
			}
			var kept []ast.Expr
			marked := false
			for _, d := range all {
				if u, ok := d.(*ast.UnaryExpr); ok && u.Op == token.MUL {
					marked = true
					if literals {
						kept = append(kept, u.X)
					}
					continue
				}
				kept = append(kept, d)
			}
			if marked {
				c.Replace(ast.NewBinExpr(token.OR, kept...))
				return false
			}
		}
		return true
	}, nil)
	v := ctx.BuildFile(f)
	if err := v.Err(); err != nil {
		return cue.Value{}, nil, fmt.Errorf("compile the schema without defaults: %w", err)
	}
	return v.LookupPath(cue.ParsePath("#WorkQueue")), defaults, nil
}

func disjuncts(x ast.Expr) []ast.Expr {
	if b, ok := x.(*ast.BinaryExpr); ok && b.Op == token.OR {
		return append(disjuncts(b.X), disjuncts(b.Y)...)
	}
	if p, ok := x.(*ast.ParenExpr); ok {
		if b, ok := p.X.(*ast.BinaryExpr); ok && b.Op == token.OR {
			return []ast.Expr{x}
		}
	}
	return []ast.Expr{x}
}

// collectDefaults records the concrete default of every field under v.
func collectDefaults(v cue.Value, path []string, out map[string]any) {
	if d, ok := v.Default(); ok && d.IsConcrete() && d.IncompleteKind() != cue.StructKind {
		var x any
		if err := d.Decode(&x); err == nil {
			out[strings.Join(path, ".")] = x
		}
	}
	if v.IncompleteKind() != cue.StructKind {
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
		collectDefaults(it.Value(), append(slices.Clone(path), it.Selector().Unquoted()), out)
	}
}

// tidy rewrites the generated schema: defaults put back, false branches
// and number/integer pairs dropped, definition names without "#", and the
// rule that a spec has exactly one of items and itemsFile.
//
// Which fields are required comes from orig, the export of the schema with
// its defaults: without them, a struct whose fields all have defaults
// would look required.
//
// resourceName is the export of #ResourceName: the generator writes a
// map keyed by it (requests: [#ResourceName]: #Quantity) as an object that
// takes anything, so tidy says it with propertyNames.
func tidy(root, orig, defaults, resourceName map[string]any, missing func(string) (map[string]any, error), withItems bool) (map[string]any, error) {
	sameRequired(root, orig)
	defs, _ := root["$defs"].(map[string]any)
	if defs == nil {
		defs = map[string]any{}
		root["$defs"] = defs
	}
	rnDefs, _ := resourceName["$defs"].(map[string]any)
	for k, v := range rnDefs {
		defs[k] = v
	}
	delete(resourceName, "$defs")
	delete(resourceName, "$schema")
	defs["ResourceName"] = resourceName
	for _, k := range slices.Sorted(maps.Keys(defs)) {
		if !strings.HasPrefix(k, "#") {
			continue
		}
		name := strings.TrimPrefix(k, "#")
		// Without the false branch of a `rule | error("...")` first, so
		// that a definition named like the one it refines is seen to be.
		def, _ := tidyNode(defs[k]).(map[string]any)
		if def != nil && def["$ref"] == "#/$defs/"+name {
			delete(def, "$ref")
			if base, ok := defs[name].(map[string]any); ok {
				for bk, bv := range base {
					if _, set := def[bk]; !set {
						def[bk] = bv
					}
				}
			}
		}
		defs[name] = defs[k]
		delete(defs, k)
	}
	out := tidyNode(root).(map[string]any)
	outDefs, _ := out["$defs"].(map[string]any)
	if err := stateRules(out, missing, withItems); err != nil {
		return nil, err
	}
	// The names whose limits must be whole: #ExtendedResourceName's.
	ext, err := missing("#ExtendedResourceName")
	if err != nil {
		return nil, err
	}
	extended, _ := ext["pattern"].(string)
	resourceMap(outDefs["Resources"], extended)
	resourceMaps(out, extended)
	embed(out, outDefs)
	for path, d := range defaults {
		segs := strings.Split(path, ".")
		if node := propertyAt(out, segs); node != nil {
			node["default"] = d
		}
		// A field with a default need not be written.
		if parent := propertyAt(out, segs[:len(segs)-1]); parent != nil {
			notRequired(parent, segs[len(segs)-1])
		}
	}
	return out, nil
}

// tidyNode drops false anyOf branches (merging a lone survivor into its
// parent), {"type": "number"} next to an integer in allOf, and turns
// "%23X" references into "X".
func tidyNode(x any) any {
	switch x := x.(type) {
	case []any:
		for i := range x {
			x[i] = tidyNode(x[i])
		}
		return x
	case string:
		return strings.ReplaceAll(x, "#/$defs/%23", "#/$defs/")
	case map[string]any:
		for k, v := range x {
			x[k] = tidyNode(v)
		}
		if alts, ok := x["anyOf"].([]any); ok {
			kept := slices.DeleteFunc(slices.Clone(alts), func(b any) bool { return b == false })
			x["anyOf"] = kept
			if len(kept) == 1 {
				delete(x, "anyOf")
				mergeInto(x, kept[0])
			}
		}
		if all, ok := x["allOf"].([]any); ok {
			hasInt := slices.ContainsFunc(all, func(b any) bool { m, _ := b.(map[string]any); return m["type"] == "integer" })
			kept := slices.DeleteFunc(slices.Clone(all), func(b any) bool {
				m, _ := b.(map[string]any)
				return hasInt && len(m) == 1 && m["type"] == "number"
			})
			x["allOf"] = kept
			if len(kept) == 1 {
				delete(x, "allOf")
				mergeInto(x, kept[0])
			}
		}
		return x
	}
	return x
}

// mergeInto adds branch's keywords to x; those x has already go into an
// allOf, so nothing is lost.
func mergeInto(x map[string]any, branch any) {
	m, ok := branch.(map[string]any)
	if !ok {
		x["allOf"] = append(asList(x["allOf"]), branch)
		return
	}
	conflict := map[string]any{}
	for k, v := range m {
		if _, set := x[k]; set && k != "description" {
			conflict[k] = v
			continue
		}
		if _, set := x[k]; !set {
			x[k] = v
		}
	}
	if len(conflict) > 0 {
		x["allOf"] = append(asList(x["allOf"]), conflict)
	}
}

func asList(x any) []any {
	l, _ := x.([]any)
	return l
}

// propertyAt follows "properties" down a path of field names.
func propertyAt(root map[string]any, path []string) map[string]any {
	node := root
	for _, p := range path {
		props, _ := node["properties"].(map[string]any)
		next, _ := props[p].(map[string]any)
		if next == nil {
			return nil
		}
		node = next
	}
	return node
}

func notRequired(node map[string]any, name string) {
	req := slices.DeleteFunc(asList(node["required"]), func(r any) bool { return r == name })
	if len(req) == 0 {
		delete(node, "required")
		return
	}
	node["required"] = req
}

// sameRequired makes "required" in x what it is at the same place in orig.
func sameRequired(x, orig any) {
	switch x := x.(type) {
	case map[string]any:
		o, ok := orig.(map[string]any)
		if !ok {
			return
		}
		if _, has := x["required"]; has {
			if r, ok := o["required"]; ok {
				x["required"] = r
			} else {
				delete(x, "required")
			}
		}
		for k, v := range x {
			sameRequired(v, o[k])
		}
	case []any:
		o, ok := orig.([]any)
		if !ok || len(o) != len(x) {
			return
		}
		for i := range x {
			sameRequired(x[i], o[i])
		}
	}
}

// resourceMaps finds the nodes under x that refer to #Resources and
// gives them resourceMap.
func resourceMaps(x any, extended string) {
	switch x := x.(type) {
	case []any:
		for _, v := range x {
			resourceMaps(v, extended)
		}
	case map[string]any:
		for _, v := range x {
			resourceMaps(v, extended)
		}
		if x["$ref"] == "#/$defs/Resources" {
			resourceMap(x, extended)
		}
	}
}

// resourceMap makes the requests and limits of a #Resources node maps
// from a resource name to a quantity, as vet has them: any name
// #ResourceName accepts, the named ones keeping their defaults, and the
// limit of an extended resource (named as the pattern extended says) a
// positive whole number.
func resourceMap(x any, extended string) {
	node, _ := x.(map[string]any)
	props, _ := node["properties"].(map[string]any)
	for _, name := range []string{"requests", "limits"} {
		m, _ := props[name].(map[string]any)
		if m == nil {
			continue
		}
		m["type"] = "object"
		m["propertyNames"] = map[string]any{"$ref": "#/$defs/ResourceName"}
		m["additionalProperties"] = map[string]any{"$ref": "#/$defs/Quantity"}
		if name == "limits" && extended != "" {
			m["patternProperties"] = map[string]any{extended: extendedQuantity()}
		}
		named, _ := m["properties"].(map[string]any)
		for r, q := range named {
			if q == true {
				// cpu: *"100m" | _ is a quantity like any other; the
				// generator could not say so.
				named[r] = map[string]any{"$ref": "#/$defs/Quantity", "description": "A Kubernetes quantity, such as 500m or 1Gi."}
			}
		}
	}
}

// embed resolves embeddings: a node with both a $ref and properties is a
// struct that embeds a definition (worker: {image: ..., #PodOptions}). In
// JSON Schema the $ref's additionalProperties: false would refuse the
// node's own fields and the node's would refuse the definition's, so the
// definition's properties and required fields are copied into the node
// and the $ref goes. A field both have keeps the node's schema, which is
// the more specific one (in #WorkQueue none is in both).
func embed(x any, defs map[string]any) {
	switch x := x.(type) {
	case []any:
		for _, v := range x {
			embed(v, defs)
		}
	case map[string]any:
		for _, v := range x {
			embed(v, defs)
		}
		ref, _ := x["$ref"].(string)
		props, _ := x["properties"].(map[string]any)
		if ref == "" || props == nil {
			return
		}
		def, _ := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		if def == nil {
			return
		}
		embed(def, defs)
		defProps, _ := def["properties"].(map[string]any)
		for k, v := range defProps {
			if _, set := props[k]; !set {
				props[k] = clone(v)
			}
		}
		for _, r := range asList(def["required"]) {
			if !slices.Contains(asList(x["required"]), r) {
				x["required"] = append(asList(x["required"]), r)
			}
		}
		delete(x, "$ref")
	}
}

// clone copies a decoded JSON value, so that what embed copies can take
// its own defaults.
func clone(x any) any {
	switch x := x.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = clone(v)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, v := range x {
			l[i] = clone(v)
		}
		return l
	}
	return x
}
