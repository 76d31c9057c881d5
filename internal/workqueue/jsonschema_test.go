package workqueue

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// compiledSchema is the exported JSON Schema, compiled by a maintained
// validator, as an editor would use it.
func compiledSchema(t *testing.T) *jsonschema.Schema { return compile(t, JSONSchema) }

func compile(t *testing.T, export func() ([]byte, error)) *jsonschema.Schema {
	t.Helper()
	b, err := export()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("workqueue.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("workqueue.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func schemaAccepts(t *testing.T, s *jsonschema.Schema, yamlDoc string) error {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(yamlDoc))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

const schemaBase = `apiVersion: jobwq.dev/v1alpha1
kind: WorkQueue
metadata:
  name: job-wq
spec:
  items: [apple, banana]
  worker:
    image: registry.example.com/w:v1
    command: [run]
`

// goodPods is podSpec (every pod option on the worker, a GPU, Kueue) with
// a priority class for Kueue and an external broker.
var goodPods = strings.Replace(podSpec, "  broker:\n    tolerations: [{operator: Exists}]\n",
	"  broker:\n    tolerations: [{operator: Exists}]\n    credentialsSecret: shared-rabbit\n    external:\n      host: rabbitmq.messaging.svc.cluster.local\n      port: 5671\n      vhost: vision\n      cidrs: [10.20.0.0/16, fd00::/8]\n      tls: true\n", 1) +
	"    priorityClass: batch-low\n"

// TestJSONSchemaSaysWhatVetSays: every spec vet accepts, the JSON Schema
// accepts; every spec vet refuses for a reason JSON Schema can state, it
// refuses too, and where the schema carries vet's words (msg), vet's
// finding holds them. Cases vet refuses for reasons JSON Schema cannot
// state (across elements or fields, quantities compared) are marked
// vetOnly, so the table shows what an editor will not catch. The same
// table is held against the YAML language server (TestEditorSaysWhatVetSays).
func TestJSONSchemaSaysWhatVetSays(t *testing.T) {
	s := compiledSchema(t)
	for _, tc := range schemaCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			vetErr := tc.vet(t)
			schemaErr := schemaAccepts(t, s, tc.spec)
			switch {
			case tc.valid && schemaErr != nil:
				t.Errorf("vet accepts the spec, the JSON Schema refuses it: %v", schemaErr)
			case !tc.valid && !tc.vetOnly && schemaErr == nil:
				t.Errorf("vet refuses the spec (%v), the JSON Schema accepts it", vetErr)
			case tc.vetOnly && schemaErr != nil:
				t.Errorf("the table says JSON Schema cannot state this, but it refuses it (%v): move it", schemaErr)
			}
		})
	}
}

// TestJSONSchemaExamples: the examples, which carry the schema modeline,
// are valid against it.
func TestJSONSchemaExamples(t *testing.T) {
	s := compiledSchema(t)
	paths, _ := filepath.Glob("../../examples/*/workqueue.yaml")
	if len(paths) == 0 {
		t.Fatal("no examples")
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("# yaml-language-server: $schema=")) {
			t.Errorf("%s lacks the yaml-language-server modeline on its first line", p)
		}
		if err := schemaAccepts(t, s, string(b)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestJSONSchemaShape: no false branches, no "#" in definition names,
// defaults as "default", and a description on every field.
func TestJSONSchemaShape(t *testing.T) {
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"%23", `"#Duration"`, "        false\n"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("the schema holds %q", bad)
		}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(node any, path string)
	walk = func(node any, path string) {
		m, ok := node.(map[string]any)
		if !ok {
			if l, ok := node.([]any); ok {
				for _, x := range l {
					walk(x, path)
				}
			}
			return
		}
		if alts, ok := m["anyOf"].([]any); ok {
			for _, a := range alts {
				if a == false {
					t.Errorf("%s: anyOf has a false branch", path)
				}
			}
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for name, p := range props {
				pm, ok := p.(map[string]any)
				if !ok || pm["description"] == nil {
					t.Errorf("%s.%s has no description", path, name)
				}
			}
		}
		for k, v := range m {
			if k == "if" || k == "then" {
				continue // a rule's condition and what it refuses: no fields of their own
			}
			walk(v, path+"/"+k)
		}
	}
	walk(doc, "")
	root := doc.(map[string]any)
	par := propertyAt(root, []string{"spec", "worker", "parallelism"})
	if par["default"] == nil || par["minimum"] == nil || par["maximum"] == nil {
		t.Errorf("spec.worker.parallelism = %v, want its default and bounds", par)
	}
}

// TestEmbed: a $ref next to properties is an embedded definition, merged
// into the node; a $ref alone stays a reference.
func TestEmbed(t *testing.T) {
	defs := map[string]any{
		"Opts": map[string]any{
			"type":                 "object",
			"additionalProperties": false,
			"properties":           map[string]any{"a": map[string]any{"type": "string"}, "b": map[string]any{"type": "integer"}},
			"required":             []any{"a"},
		},
	}
	root := map[string]any{
		"$defs": defs,
		"properties": map[string]any{
			"embeds": map[string]any{
				"$ref":                 "#/$defs/Opts",
				"additionalProperties": false,
				"properties":           map[string]any{"b": map[string]any{"type": "string"}, "c": map[string]any{}},
				"required":             []any{"c"},
			},
			"refers": map[string]any{"$ref": "#/$defs/Opts"},
		},
	}
	embed(root, defs)
	got, _ := json.Marshal(root["properties"])
	want := `{"embeds":{"additionalProperties":false,"properties":{"a":{"type":"string"},"b":{"type":"string"},"c":{}},"required":["c","a"]},"refers":{"$ref":"#/$defs/Opts"}}`
	if string(got) != want {
		t.Errorf("embed:\n got %s\nwant %s", got, want)
	}
	// What was copied is the node's own: a default set on it stays there.
	propertyAt(root, []string{"embeds", "a"})["default"] = "x"
	if _, shared := defs["Opts"].(map[string]any)["properties"].(map[string]any)["a"].(map[string]any)["default"]; shared {
		t.Error("a default set on an embedded field reached the definition")
	}
}

// TestJSONSchemaWithoutItems: the schema for specs whose items come from
// --items accepts what vet --items accepts: no items, or either source.
func TestJSONSchemaWithoutItems(t *testing.T) {
	s := compile(t, JSONSchemaWithoutItems)
	dir := t.TempDir()
	items := filepath.Join(dir, "items.txt")
	if err := os.WriteFile(items, []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noItems := strings.Replace(schemaBase, "  items: [apple, banana]\n", "", 1)
	for _, spec := range []string{noItems, schemaBase, strings.Replace(schemaBase, "items: [apple, banana]", "itemsFile: x.txt", 1)} {
		path := filepath.Join(dir, "wq.yaml")
		if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadWith(t.Context(), path, Options{Items: items}); err != nil {
			t.Errorf("vet --items refuses:\n%s\n%v", spec, err)
		}
		if err := schemaAccepts(t, s, spec); err != nil {
			t.Errorf("the schema without items refuses:\n%s\n%v", spec, err)
		}
	}
	if err := schemaAccepts(t, compiledSchema(t), noItems); err == nil {
		t.Error("the plain schema accepts a spec without items")
	}
}
