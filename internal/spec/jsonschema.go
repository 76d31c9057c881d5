package spec

import (
	"bytes"
	"encoding/json"
	"fmt"

	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/jsonschema"
)

// JSONSchema exports #WorkQueue as JSON Schema (draft 2020-12) for editors.
// It is generated from the CUE schema each time, so it cannot drift.
func JSONSchema() ([]byte, error) {
	ctx := cuecontext.New()
	s, err := Schema(ctx)
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
