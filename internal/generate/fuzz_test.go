package generate

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/jobwq/jobwq/internal/items"
	"github.com/jobwq/jobwq/internal/workqueue"
)

// FuzzRender: every spec that validates also renders, and every file of
// the rendered tree parses back as YAML.
func FuzzRender(f *testing.F) {
	for _, p := range []string{"../../examples/fruits/workqueue.yaml", "../../examples/gpu/workqueue.yaml", "../../examples/external-broker/workqueue.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`apiVersion: jobwq.dev/v1alpha1
kind: WorkQueue
metadata: {name: a, namespace: b, labels: {x: "y"}, annotations: {"n": "v: w"}}
spec:
  items: ["a b", "<&>", "'quoted'", "- dash", "key: value", "#hash", "りんご"]
  queue: {name: "q with spaces", type: classic}
  worker:
    image: "w:1"
    command: ["sh", "-c", "echo \"$1\"", "--"]
    env: [{name: A, value: "1"}]
    parallelism: 100
`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := workqueue.Parse(filepath.Join(dir, "fuzz.yaml"), data)
		if err != nil {
			return
		}
		set, err := items.Collect(w.Items())
		if err != nil {
			return // an itemsFile the fuzzer cannot create
		}
		files, err := Tree(w, set)
		if err != nil {
			t.Fatalf("valid spec does not render: %v", err)
		}
		for _, p := range slices.Sorted(maps.Keys(files)) {
			if !strings.HasSuffix(p, ".yaml") {
				continue
			}
			for _, doc := range strings.Split(string(files[p]), "\n---\n") {
				var v map[string]any
				if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
					t.Fatalf("%s does not parse back: %v\n%s", p, err, doc)
				}
			}
		}
	})
}
