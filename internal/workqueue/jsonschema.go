package workqueue

import (
	"bytes"
	"encoding/json"
	"fmt"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/jsonschema"
)

// JSONSchema exports #WorkQueue as JSON Schema (draft 2020-12) for editors.
// It is generated from the CUE schema each time, so it cannot drift.
func JSONSchema() ([]byte, error) { return jsonSchema(true) }

// JSONSchemaWithoutItems is JSONSchema for specs whose items come from
// elsewhere (the --items flag): such a spec may leave out both items and
// itemsFile, as vet --items accepts it.
func JSONSchemaWithoutItems() ([]byte, error) { return jsonSchema(false) }

func jsonSchema(withItems bool) ([]byte, error) {
	ctx := cuecontext.New()
	s, defaults, err := schemaWithoutDefaults(ctx)
	if err != nil {
		return nil, err
	}
	orig, err := generate(ctx, nil)
	if err != nil {
		return nil, err
	}
	m, err := export(ctx, s, "JSON Schema")
	if err != nil {
		return nil, err
	}
	rn, err := resourceNameSchema(ctx)
	if err != nil {
		return nil, err
	}
	m, err = tidy(m, orig, defaults, rn, func(name string) (map[string]any, error) { return exportDefinition(ctx, name) }, withItems)
	if err != nil {
		return nil, err
	}
	m["$id"] = "https://jobwq.dev/schemas/workqueue.schema.json"
	m["title"] = "jobwq WorkQueue"
	if !withItems {
		m["$id"] = "https://jobwq.dev/schemas/workqueue-without-items.schema.json"
		m["title"] = "jobwq WorkQueue, items from --items"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("export JSON Schema: %w", err)
	}
	return buf.Bytes(), nil
}

// generate is CUE's export of #WorkQueue (s, or the schema as written when
// s is nil) as a generic JSON value.
func generate(ctx *cue.Context, s *cue.Value) (map[string]any, error) {
	if s == nil {
		v, err := Schema(ctx)
		if err != nil {
			return nil, err
		}
		s = &v
	}
	return export(ctx, *s, "JSON Schema")
}

// export is CUE's JSON Schema export of v as a generic JSON object; what
// names v in errors.
func export(ctx *cue.Context, v cue.Value, what string) (map[string]any, error) {
	expr, err := jsonschema.Generate(v, nil)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", what, err)
	}
	var m map[string]any
	if err := ctx.BuildExpr(expr).Decode(&m); err != nil {
		return nil, fmt.Errorf("export %s: %w", what, err)
	}
	return m, nil
}

// resourceNameSchema is CUE's export of #ResourceName, which the export of
// #WorkQueue leaves out: it only ever constrains labels.
func resourceNameSchema(ctx *cue.Context) (map[string]any, error) {
	v, err := definition(ctx, "#ResourceName")
	if err != nil {
		return nil, err
	}
	return export(ctx, v, "#ResourceName")
}
