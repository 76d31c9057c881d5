package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// generatedRefs returns what is wrong with the ConfigMap references of one
// built kustomization: a pod template that names a ConfigMap by the name
// a configMapGenerator was given, while the built stream holds it only
// under its hashed name (NAME-<hash>). kustomize rewrites such references
// only in the kinds and fields it knows; elsewhere (a ReplicationController's
// volumes, once) the API server accepts the object and the pod then waits
// forever for a ConfigMap that does not exist, which no apply can show.
func generatedRefs(t *testing.T, dir string) []string {
	t.Helper()
	stream := kube.MustKubectl(t, "kustomize", dir)
	var docs []map[string]any
	for _, text := range strings.Split(stream, "\n---\n") {
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	var configMaps []string
	for _, d := range docs {
		if d["kind"] == "ConfigMap" {
			configMaps = append(configMaps, nameOf(d))
		}
	}
	var problems []string
	for _, d := range docs {
		for _, ref := range configMapRefs(d) {
			if slices.Contains(configMaps, ref) {
				continue
			}
			for _, cm := range configMaps {
				if hash, ok := strings.CutPrefix(cm, ref+"-"); ok && !strings.Contains(hash, "-") {
					problems = append(problems, fmt.Sprintf("%s %s names ConfigMap %s, which kustomize built as %s: the reference was not rewritten",
						d["kind"], nameOf(d), ref, cm))
				}
			}
		}
	}
	return problems
}

func nameOf(doc map[string]any) string {
	meta, _ := doc["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	return name
}

// configMapRefs collects every volumes[].configMap.name and
// projected.sources[].configMap.name anywhere in doc.
func configMapRefs(doc any) []string {
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if cm, ok := v["configMap"].(map[string]any); ok {
				if name, ok := cm["name"].(string); ok {
					refs = append(refs, name)
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	return refs
}

// TestGeneratedRefsFindsUnrewritten is the check's negative control: a
// ReplicationController mounting a generated ConfigMap, which kustomize
// leaves unrewritten, is found.
func TestGeneratedRefsFindsUnrewritten(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("kustomization.yaml", `resources: [rc.yaml]
configMapGenerator:
  - name: conf
    literals: [a=b]
`)
	write("rc.yaml", `apiVersion: v1
kind: ReplicationController
metadata: {name: rc}
spec:
  selector: {app: x}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers: [{name: c, image: "busybox:1.36"}]
      volumes: [{name: v, configMap: {name: conf}}]
`)
	got := generatedRefs(t, dir)
	if len(got) != 1 || !strings.Contains(got[0], "ReplicationController rc names ConfigMap conf") {
		t.Fatalf("generatedRefs = %q, want the ReplicationController's unrewritten reference", got)
	}
}
