package spec

import (
	"bytes"
	"encoding/json"
	"fmt"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/jsonschema"

	"github.com/jobwq/jobwq/schemas"
)

// JSONSchema exports #WorkQueue as JSON Schema (draft 2020-12) for editors.
// It is generated from the CUE schema each time, so it cannot drift.
func JSONSchema() ([]byte, error) {
	ctx := cuecontext.New()
	s, defaults, err := schemaWithoutDefaults(ctx)
	if err != nil {
		return nil, err
	}
	orig, err := generate(ctx, nil)
	if err != nil {
		return nil, err
	}
	expr, err := jsonschema.Generate(s, nil)
	if err != nil {
		return nil, fmt.Errorf("export JSON Schema: %w", err)
	}
	v := ctx.BuildExpr(expr)
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("export JSON Schema: %w", err)
	}
	var generic any
	if err := v.Decode(&generic); err != nil {
		return nil, fmt.Errorf("export JSON Schema: %w", err)
	}
	m, ok := generic.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("export JSON Schema: not an object")
	}
	rn, err := resourceNameSchema(ctx)
	if err != nil {
		return nil, err
	}
	m = tidy(m, orig, defaults, rn)
	m["$id"] = "https://jobwq.dev/schemas/workqueue.schema.json"
	m["title"] = "jobwq WorkQueue"
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
	expr, err := jsonschema.Generate(*s, nil)
	if err != nil {
		return nil, fmt.Errorf("export JSON Schema: %w", err)
	}
	var m map[string]any
	if err := ctx.BuildExpr(expr).Decode(&m); err != nil {
		return nil, fmt.Errorf("export JSON Schema: %w", err)
	}
	return m, nil
}

// resourceNameSchema is CUE's export of #ResourceName, which the export of
// #WorkQueue leaves out: it only ever constrains labels.
func resourceNameSchema(ctx *cue.Context) (map[string]any, error) {
	src, err := schemas.FS.ReadFile("workqueue.cue")
	if err != nil {
		return nil, fmt.Errorf("read embedded schema: %w", err)
	}
	v := ctx.CompileBytes(src, cue.Filename("schemas/workqueue.cue")).LookupPath(cue.ParsePath("#ResourceName"))
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("compile #ResourceName: %w", err)
	}
	expr, err := jsonschema.Generate(v, nil)
	if err != nil {
		return nil, fmt.Errorf("export #ResourceName: %w", err)
	}
	var m map[string]any
	if err := ctx.BuildExpr(expr).Decode(&m); err != nil {
		return nil, fmt.Errorf("export #ResourceName: %w", err)
	}
	return m, nil
}
