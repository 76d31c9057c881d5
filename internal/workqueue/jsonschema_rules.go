package workqueue

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"github.com/jobwq/jobwq/schemas"
)

// The JSON Schema states what vet refuses wherever JSON Schema can, in
// vet's words. Three things get there beyond what CUE's generator writes:
//
//   - the message of every `rule | error("...")` of the CUE schema, as
//     errorMessage and patternErrorMessage, which the YAML language
//     server shows instead of a regular expression (schemaMessages);
//   - the key rules of maps (labels: [#LabelKey & #Unreserved]: ...),
//     which the generator drops, as propertyNames (schemaMaps);
//   - the rules vet checks in Go (crossfield.go) that JSON Schema can
//     state, with the same message constants (goRules).
//
// The YAML language server shows no message of its own for a failed
// "not", so a rule that refuses a match is written as if the match holds
// then nothing is valid (never), which carries the message.

// never is a schema no value meets, failing with msg: the YAML language
// server reports a type it did not expect with the schema's errorMessage.
func never(msg string) map[string]any {
	return map[string]any{"type": "null", "errorMessage": msg}
}

// refuse is "if the value matches cond, it is refused with msg".
func refuse(cond map[string]any, msg string) map[string]any {
	return map[string]any{"if": cond, "then": never(msg)}
}

// ptr is a place in the exported schema, as keys from the root:
// ["$defs", "EnvVar", "properties", "name"].
type ptr []string

func (p ptr) String() string { return strings.Join(p, "/") }

func (p ptr) child(keys ...string) ptr { return append(slices.Clone(p), keys...) }

// at follows p from root; nil where nothing is.
func at(root map[string]any, p ptr) map[string]any {
	node := root
	for _, k := range p {
		next, _ := node[k].(map[string]any)
		if next == nil {
			return nil
		}
		node = next
	}
	return node
}

// mapRule is a map of the CUE schema: the rule its keys meet and the one
// its values meet.
type mapRule struct{ key, value ast.Expr }

// schemaRules reads the CUE schema for what its export loses: the message
// of each `rule | error("...")`, and the key and value rules of maps, by
// the place they take in the export.
func schemaRules() (messages map[string]string, mapRules map[string]mapRule, err error) {
	src, err := schemas.FS.ReadFile("workqueue.cue")
	if err != nil {
		return nil, nil, fmt.Errorf("read embedded schema: %w", err)
	}
	f, err := parser.ParseFile("workqueue.cue", src)
	if err != nil {
		return nil, nil, fmt.Errorf("parse embedded schema: %w", err)
	}
	messages, mapRules = map[string]string{}, map[string]mapRule{}
	var field func(value ast.Expr, at ptr)
	field = func(value ast.Expr, at ptr) {
		if msg, ok := errorMessage(value); ok {
			messages[at.String()] = msg
		}
		switch x := value.(type) {
		case *ast.StructLit:
			for _, d := range x.Elts {
				fd, ok := d.(*ast.Field)
				if !ok {
					continue
				}
				if l, ok := fd.Label.(*ast.ListLit); ok && len(l.Elts) == 1 {
					mapRules[at.String()] = mapRule{key: l.Elts[0], value: fd.Value}
					continue
				}
				if name, _, err := ast.LabelName(fd.Label); err == nil {
					field(fd.Value, at.child("properties", name))
				}
			}
		case *ast.ListLit:
			// [...{...}]: the elements' schema.
			if len(x.Elts) == 1 {
				if e, ok := x.Elts[0].(*ast.Ellipsis); ok && e.Type != nil {
					field(e.Type, at.child("items"))
				}
			}
		}
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		name, _, err := ast.LabelName(fd.Label)
		if err != nil || !strings.HasPrefix(name, "#") {
			continue
		}
		at := ptr{"$defs", strings.TrimPrefix(name, "#")}
		if name == "#WorkQueue" {
			at = ptr{}
		}
		field(fd.Value, at)
	}
	return messages, mapRules, nil
}

// errorMessage is msg when x is `rule | error("msg")`.
func errorMessage(x ast.Expr) (string, bool) {
	all := disjuncts(x)
	call, ok := all[len(all)-1].(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return "", false
	}
	if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "error" {
		return "", false
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// withMessage gives node msg: as errorMessage (a wrong type, enum or
// const), as patternErrorMessage where it has a pattern, and in each of
// its alternatives and parts, not through references; a "not" of a
// pattern becomes a refusal with msg.
func withMessage(node map[string]any, msg string) {
	if node == nil {
		return
	}
	if _, set := node["errorMessage"]; !set {
		node["errorMessage"] = msg
	}
	if _, ok := node["pattern"]; ok {
		node["patternErrorMessage"] = msg
	}
	for _, k := range []string{"anyOf", "allOf", "oneOf"} {
		for _, b := range asList(node[k]) {
			if m, ok := b.(map[string]any); ok && m["$ref"] == nil {
				withMessage(m, msg)
			}
		}
	}
	if not, ok := node["not"].(map[string]any); ok && len(not) == 1 && not["pattern"] != nil {
		delete(node, "not")
		node["allOf"] = append(asList(node["allOf"]), refuse(map[string]any{"type": "string", "pattern": not["pattern"]}, msg))
	}
}

// exprSchema writes the rule of a map's keys or values as JSON Schema:
// references to definitions, their conjunctions, and string.
func exprSchema(x ast.Expr) (map[string]any, bool) {
	switch x := x.(type) {
	case *ast.ParenExpr:
		return exprSchema(x.X)
	case *ast.Ident:
		if x.Name == "string" {
			return map[string]any{"type": "string"}, true
		}
		if strings.HasPrefix(x.Name, "#") {
			return map[string]any{"$ref": "#/$defs/" + strings.TrimPrefix(x.Name, "#")}, true
		}
	case *ast.BinaryExpr:
		if x.Op != token.AND {
			return nil, false
		}
		var all []any
		for _, c := range []ast.Expr{x.X, x.Y} {
			s, ok := exprSchema(c)
			if !ok {
				return nil, false
			}
			all = append(all, s)
		}
		return map[string]any{"allOf": all}, true
	}
	return nil, false
}

// stateRules writes the messages and map rules of the CUE schema, and the
// rules of goRules, into root (tidied, before embed copies definitions).
// missing exports a definition the generator left out.
func stateRules(root map[string]any, missing func(name string) (map[string]any, error), withItems bool) error {
	messages, mapRules, err := schemaRules()
	if err != nil {
		return err
	}
	defs, _ := root["$defs"].(map[string]any)
	for _, p := range slices.Sorted(maps.Keys(mapRules)) {
		node := at(root, strings.Split(p, "/"))
		if p == "" {
			node = root
		}
		if node == nil {
			continue
		}
		r := mapRules[p]
		key, okKey := exprSchema(r.key)
		value, okValue := exprSchema(r.value)
		if !okKey || !okValue {
			return fmt.Errorf("JSON Schema of the map at %s: its rules are not references, & or string", p)
		}
		delete(node, "patternProperties")
		node["type"] = "object"
		node["propertyNames"] = key
		node["additionalProperties"] = value
	}
	// Definitions only maps refer to are not in the export.
	var refs []string
	collectRefs(root, &refs)
	for _, ref := range refs {
		name := strings.TrimPrefix(ref, "#/$defs/")
		if _, ok := defs[name]; ok {
			continue
		}
		d, err := missing("#" + name)
		if err != nil {
			return err
		}
		defs[name] = d
	}
	for _, p := range slices.Sorted(maps.Keys(messages)) {
		node := root
		if p != "" {
			node = at(root, strings.Split(p, "/"))
		}
		withMessage(node, messages[p])
	}
	goRules(root, withItems)
	return nil
}

func collectRefs(x any, out *[]string) {
	switch x := x.(type) {
	case []any:
		for _, v := range x {
			collectRefs(v, out)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if k == "$ref" {
				if s, ok := x[k].(string); ok && !slices.Contains(*out, s) {
					*out = append(*out, s)
				}
				continue
			}
			collectRefs(x[k], out)
		}
	}
}

// Patterns of values goRules refuses, as vet's rules find them.
const (
	// A duration of zero: every part of it zero.
	reZeroDuration = `^(0+(\.0+)?(h|m|s|ms))+$`
	// A quantity that is no whole number: a decimal fraction, or
	// thousandths that do not add up to one.
	reNotWhole = `^([0-9]*\.[0-9]*[1-9][0-9]*|[0-9]*[1-9][0-9]{0,2}(\.[0-9]+)?m|[0-9]*\.[0-9]*[1-9][0-9]*m)$`
	// A quantity of zero.
	reZeroQuantity = `^0+(\.0+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$`
	// A mount path inside one of jobwq's, as path.Clean reads it.
	reJobwqPath = `^/+(\.?/+)*(opt/+(\.?/+)*jobwq|tmp|items)(/.*)?$`
	// A path with a ".." in it, which path.Clean resolves.
	reDotDot = `(^|/)\.\.(/|$)`
)

// goRules states in JSON Schema the rules of crossField that it can, in
// the same words: each applies to one value or one object, none across
// elements or fields of different objects.
// Without items (a spec whose items come from --items), a spec may leave
// out both item sources.
func goRules(root map[string]any, withItems bool) {
	defs, _ := root["$defs"].(map[string]any)
	addAll := func(node map[string]any, rules ...map[string]any) {
		if node == nil {
			return
		}
		for _, r := range rules {
			node["allOf"] = append(asList(node["allOf"]), r)
		}
	}
	def := func(name string) map[string]any { m, _ := defs[name].(map[string]any); return m }

	addAll(def("Toleration"),
		// key empty (or unset) and operator Equal (or unset).
		map[string]any{
			"if":   map[string]any{"properties": map[string]any{"key": map[string]any{"const": ""}, "operator": map[string]any{"const": "Equal"}}},
			"then": map[string]any{"required": []any{"operator"}, "properties": map[string]any{"operator": map[string]any{"const": "Exists", "errorMessage": msgEmptyKey}}, "errorMessage": msgEmptyKey},
		},
		map[string]any{
			"if":   map[string]any{"required": []any{"operator", "value"}, "properties": map[string]any{"operator": map[string]any{"const": "Exists"}}},
			"then": map[string]any{"properties": map[string]any{"value": map[string]any{"const": "", "errorMessage": msgExistsValue}}},
		},
		map[string]any{
			"if":   map[string]any{"required": []any{"tolerationSeconds"}},
			"then": map[string]any{"required": []any{"effect"}, "properties": map[string]any{"effect": map[string]any{"const": "NoExecute", "errorMessage": msgTolSeconds}}, "errorMessage": msgTolSeconds},
		},
	)
	addAll(def("EnvVar"),
		map[string]any{"anyOf": []any{
			map[string]any{"required": []any{"value"}, "errorMessage": msgEnvOneOf},
			map[string]any{"required": []any{"valueFrom"}, "errorMessage": msgEnvOneOf},
		}},
		map[string]any{
			"if":   map[string]any{"required": []any{"value", "valueFrom"}},
			"then": map[string]any{"properties": map[string]any{"valueFrom": false}, "errorMessage": msgEnvOneOf},
		},
	)
	if vol := def("Volume"); vol != nil {
		sources := []string{"configMap", "secret", "persistentVolumeClaim", "emptyDir"}
		var one, two []any
		for i, a := range sources {
			one = append(one, map[string]any{"required": []any{a}, "errorMessage": msgVolumeOneOf})
			for _, b := range sources[i+1:] {
				two = append(two, map[string]any{"required": []any{a, b}})
			}
		}
		addAll(vol,
			map[string]any{"anyOf": one},
			map[string]any{"if": map[string]any{"anyOf": two}, "then": never(msgVolumeOneOf)},
		)
		var reserved []any
		for _, r := range reservedVolumes {
			reserved = append(reserved, r)
		}
		props, _ := vol["properties"].(map[string]any)
		if name, _ := props["name"].(map[string]any); name != nil {
			addAll(name, refuse(map[string]any{"enum": reserved}, msgReservedVolume))
		}
	}
	if mount := def("VolumeMount"); mount != nil {
		props, _ := mount["properties"].(map[string]any)
		addAll(props["mountPath"].(map[string]any), refuse(map[string]any{
			"type": "string", "pattern": reJobwqPath, "not": map[string]any{"pattern": reDotDot},
		}, msgReservedMount))
	}
	worker := at(root, ptr{"properties", "spec", "properties", "worker", "properties"})
	for _, d := range []string{"timeout", "wait", "activeDeadline"} {
		if node, _ := worker[d].(map[string]any); node != nil {
			addAll(node, refuse(map[string]any{"type": "string", "pattern": reZeroDuration}, msgAtLeastSecond))
		}
	}
	spec := at(root, ptr{"properties", "spec"})
	if items := at(spec, ptr{"properties", "items"}); items != nil {
		addAll(items, refuse(map[string]any{"type": "array", "maxItems": 0}, msgNoItems))
	}
	if spec != nil && withItems {
		addAll(spec,
			map[string]any{"anyOf": []any{
				map[string]any{"required": []any{"items"}, "errorMessage": msgNoItemSource},
				map[string]any{"required": []any{"itemsFile"}, "errorMessage": msgNoItemSource},
			}},
			map[string]any{
				"if":   map[string]any{"required": []any{"items", "itemsFile"}},
				"then": map[string]any{"properties": map[string]any{"itemsFile": false}, "errorMessage": msgBothItemSources},
			},
		)
	}
}

// extendedQuantity is what an extended resource's limit must be beyond a
// quantity: a positive whole number.
func extendedQuantity() map[string]any {
	return map[string]any{"allOf": []any{
		map[string]any{"$ref": "#/$defs/Quantity"},
		refuse(map[string]any{"type": "number", "not": map[string]any{"type": "integer"}}, msgWhole),
		refuse(map[string]any{"type": "string", "pattern": reNotWhole}, msgWhole),
		refuse(map[string]any{"type": "number", "maximum": 0}, msgPositive),
		refuse(map[string]any{"type": "string", "pattern": reZeroQuantity}, msgPositive),
	}}
}

// exportDefinition is CUE's export of one definition of the schema, for
// those the export of #WorkQueue leaves out.
func exportDefinition(ctx *cue.Context, name string) (map[string]any, error) {
	v, err := definition(ctx, name)
	if err != nil {
		return nil, err
	}
	m, err := export(ctx, v, name)
	if err != nil {
		return nil, err
	}
	delete(m, "$schema")
	delete(m, "$defs")
	return tidyNode(m).(map[string]any), nil
}
