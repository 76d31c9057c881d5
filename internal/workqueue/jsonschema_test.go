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
// accepts; every spec vet refuses for a reason JSON Schema can express,
// it refuses too. Cases vet refuses for reasons JSON Schema cannot say
// (cross-field rules, quantities compared) are listed as such, so the
// table shows what an editor will not catch.
func TestJSONSchemaSaysWhatVetSays(t *testing.T) {
	s := compiledSchema(t)
	edit := func(old, new string) string {
		if !strings.Contains(schemaBase, old) {
			t.Fatalf("base spec lacks %q", old)
		}
		return strings.Replace(schemaBase, old, new, 1)
	}
	worker := func(line string) string { return edit("    command: [run]\n", "    command: [run]\n    "+line+"\n") }
	for _, want := range []string{"external:", "priorityClass: batch-low", "nvidia.com/gpu: 1", "kueue:", "volumes:"} {
		if !strings.Contains(goodPods, want) {
			t.Fatalf("goodPods lacks %q", want)
		}
	}
	for _, tc := range []struct {
		name        string
		spec        string
		valid       bool
		inexpressed bool // vet refuses it for a reason JSON Schema cannot state
	}{
		{name: "base", spec: schemaBase, valid: true},
		{name: "every default written", valid: true, spec: worker("parallelism: 1\n    itemsPerPod: 1\n    timeout: 1h\n    wait: 10m\n    backoffLimitPerIndex: 3") +
			"  queue: {type: quorum, deliveryLimit: 3}\n  broker: {image: \"rabbitmq:4.1.4-management\", storage: {size: 1Gi}}\n  runner: {image: \"ghcr.io/jobwq/jobwq:v0.1.0\"}\n"},
		{name: "itemsFile", spec: edit("items: [apple, banana]", "itemsFile: items.txt"), valid: true},
		{name: "parallelism 0", spec: worker("parallelism: 0")},
		{name: "parallelism 10001", spec: worker("parallelism: 10001")},
		{name: "parallelism 2.5", spec: worker("parallelism: 2.5")},
		{name: "parallelism max", spec: worker("parallelism: 10000"), valid: true},
		{name: "deliveryLimit 0", spec: schemaBase + "  queue: {deliveryLimit: 0}\n"},
		{name: "queue type stream", spec: schemaBase + "  queue: {type: stream}\n"},
		{name: "queue classic", spec: schemaBase + "  queue: {type: classic}\n", valid: true},
		{name: "queue name amq.", spec: schemaBase + "  queue: {name: amq.x}\n"},
		{name: "backoffLimit -1", spec: worker("backoffLimit: -1")},
		{name: "maxFailedIndexes too many", spec: worker("maxFailedIndexes: 100001")},
		{name: "both item sources", spec: edit("items: [apple, banana]", "items: [apple]\n  itemsFile: items.txt")},
		{name: "no item source", spec: edit("  items: [apple, banana]\n", "")},
		{name: "empty items", spec: edit("items: [apple, banana]", "items: []"), inexpressed: true},
		{name: "item with a line break", spec: edit("items: [apple, banana]", `items: ["a\nb"]`)},
		{name: "bad name", spec: edit("name: job-wq", "name: Job_WQ")},
		{name: "name too long", spec: edit("name: job-wq", "name: "+strings.Repeat("a", 41))},
		{name: "unknown field", spec: edit("command:", "comand:")},
		{name: "field at the wrong level", spec: schemaBase + "  parallelism: 2\n"},
		{name: "untagged image", spec: edit("registry.example.com/w:v1", "registry.example.com/w")},
		{name: "latest image", spec: edit("registry.example.com/w:v1", "registry.example.com/w:latest")},
		{name: "timeout 90", spec: worker("timeout: 90")},
		{name: "timeout 90s", spec: worker("timeout: 90s"), valid: true},
		{name: "timeout 0s", spec: worker("timeout: 0s"), inexpressed: true},
		{name: "empty command", spec: edit("command: [run]", "command: []")},
		{name: "imagePullPolicy bad", spec: schemaBase + "  imagePullPolicy: Sometimes\n"},
		{name: "imagePullPolicy Never", spec: schemaBase + "  imagePullPolicy: Never\n", valid: true},
		{name: "env name 1bad", spec: worker("env: [{name: 1bad, value: x}]")},
		{name: "env name reserved", spec: worker("env: [{name: BROKER_URL, value: x}]")},
		{name: "env value and valueFrom", spec: worker("env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]"), inexpressed: true},
		{name: "env duplicate", spec: worker("env: [{name: A, value: x}, {name: A, value: z}]"), inexpressed: true},
		{name: "request above limit", spec: worker("resources: {requests: {cpu: 2}}"), inexpressed: true},
		{name: "bad quantity", spec: worker("resources: {requests: {cpu: lots}}")},
		{name: "unknown resource", spec: worker("resources: {requests: {gpu: 1}}")},
		{name: "reserved label", spec: edit("  name: job-wq\n", "  name: job-wq\n  labels: {app.kubernetes.io/name: x}\n"), inexpressed: true},
		{name: "wrong apiVersion", spec: edit("jobwq.dev/v1alpha1", "jobwq.dev/v1")},
		{name: "wrong kind", spec: edit("kind: WorkQueue", "kind: Job")},

		// Pod options, extended resources, Kueue and an external broker.
		{name: "pod options, gpu, kueue, external broker", spec: goodPods, valid: true},
		{name: "pod options with the broker's defaults written", valid: true, spec: strings.Replace(goodPods, "      tls: true\n", "      tls: true\n    replicas: 3\n    storage: {size: 1Gi}\n", 1)},
		{name: "broker pod options", valid: true, spec: schemaBase + "  broker:\n    replicas: 5\n    nodeSelector: {pool: system}\n    priorityClassName: infra\n    podAnnotations: {a.example.com/b: c}\n"},
		{name: "hugepages", spec: worker("resources: {limits: {hugepages-2Mi: 1Gi}}"), valid: true},
		{name: "extended resource on the broker", spec: schemaBase + "  broker: {resources: {limits: {example.com/fast-disk: 2}}}\n", valid: true},
		{name: "resource in the kubernetes.io domain", spec: worker("resources: {limits: {example.kubernetes.io/thing: 1}}")},
		{name: "resource without a domain", spec: worker("resources: {limits: {gpu: 1}}")},
		{name: "hugepages without a unit", spec: worker("resources: {limits: {hugepages-2: 1}}")},
		{name: "gpu quantity lots", spec: worker("resources: {limits: {nvidia.com/gpu: lots}}")},
		{name: "half a gpu", spec: worker("resources: {limits: {nvidia.com/gpu: 500m}}"), inexpressed: true},
		{name: "gpu request below its limit", spec: worker("resources: {requests: {nvidia.com/gpu: 1}, limits: {nvidia.com/gpu: 2}}"), inexpressed: true},
		{name: "gpu request without a limit", spec: worker("resources: {requests: {nvidia.com/gpu: 1}}"), inexpressed: true},
		{name: "security context", spec: worker("securityContext: {runAsUser: 0}")},
		{name: "seeder image", spec: schemaBase + "  seeder: {image: registry.example.com/s:v1}\n"},
		{name: "toleration effect misspelt", spec: worker("tolerations: [{key: k, operator: Exists, effect: NoSchedul}]")},
		{name: "toleration value with Exists", spec: worker("tolerations: [{key: k, operator: Exists, value: v}]"), inexpressed: true},
		{name: "tolerationSeconds without NoExecute", spec: worker("tolerations: [{key: k, operator: Exists, effect: NoSchedule, tolerationSeconds: 5}]"), inexpressed: true},
		{name: "nodeSelector value with a space", spec: worker("nodeSelector: {pool: a b}")},
		{name: "affinity weight 101", spec: worker("affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 101, preference: {matchExpressions: [{key: a, operator: Exists}]}}]}}")},
		{name: "spread without whenUnsatisfiable", spec: worker("topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone}]")},
		{name: "priorityClassName upper case", spec: worker("priorityClassName: High")},
		{name: "reserved pod label", spec: worker("podLabels: {jobwq.dev/run: x}"), inexpressed: true},
		{name: "hostPath volume", spec: worker("volumes: [{name: host, hostPath: {path: /}}]")},
		{name: "volume with two sources", spec: worker("volumes: [{name: v, emptyDir: {}, secret: {secretName: s}}]"), inexpressed: true},
		{name: "volume named tmp", spec: worker("volumes: [{name: tmp, emptyDir: {}}]"), inexpressed: true},
		{name: "relative mount path", spec: worker("volumes: [{name: v, emptyDir: {}}]\n    volumeMounts: [{name: v, mountPath: data}]")},
		{name: "mount at /tmp", spec: worker("volumes: [{name: v, emptyDir: {}}]\n    volumeMounts: [{name: v, mountPath: /tmp/x}]"), inexpressed: true},
		{name: "file mode 0o1000", spec: worker("volumes: [{name: v, secret: {secretName: s, defaultMode: 512}}]")},
		{name: "broker replicas 2", spec: schemaBase + "  broker: {replicas: 2}\n"},
		{name: "kueue without localQueue", spec: schemaBase + "  kueue: {priorityClass: high}\n"},
		{name: "kueue localQueue upper case", spec: schemaBase + "  kueue: {localQueue: Vision}\n"},
		{name: "external broker without host", spec: schemaBase + "  broker: {external: {vhost: v}}\n"},
		{name: "external broker port 0", spec: schemaBase + "  broker: {external: {host: rabbit.example.com, port: 0}}\n"},
		{name: "external broker cidr without a prefix", spec: schemaBase + "  broker: {external: {host: rabbit.example.com, cidrs: [10.0.0.1]}}\n"},
		{name: "external broker host with a space", spec: schemaBase + "  broker: {external: {host: rabbit example}}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "items.txt"), []byte("a\nb\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "wq.yaml")
			if err := os.WriteFile(path, []byte(tc.spec), 0o644); err != nil {
				t.Fatal(err)
			}
			_, vetErr := Load(path)
			if (vetErr == nil) != tc.valid {
				t.Fatalf("vet: valid = %v (%v), the table says %v", vetErr == nil, vetErr, tc.valid)
			}
			schemaErr := schemaAccepts(t, s, tc.spec)
			switch {
			case tc.valid && schemaErr != nil:
				t.Errorf("vet accepts the spec, the JSON Schema refuses it: %v", schemaErr)
			case !tc.valid && !tc.inexpressed && schemaErr == nil:
				t.Errorf("vet refuses the spec (%v), the JSON Schema accepts it", vetErr)
			case tc.inexpressed && schemaErr != nil:
				t.Errorf("the table says JSON Schema cannot express this, but it refuses it (%v): move it", schemaErr)
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
