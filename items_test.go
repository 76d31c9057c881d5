package jobwq_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/jobwq/jobwq/internal/generate"
	"github.com/jobwq/jobwq/internal/items"
	"github.com/jobwq/jobwq/internal/kustree"
	"github.com/jobwq/jobwq/internal/workqueue"
)

// TestItemsDigestAgrees follows items from a spec's itemsFile to what the
// seeder reads in its pod, and holds every digest along the way equal: the
// one of the spec's items, the one jobwq build writes into the Jobs, and
// the one the seeder computes from the ConfigMaps kustomize generates
// (mounted as a directory of chunks). The seeder refuses a queue sealed
// with another digest, so if two of these ever differ, no run can start.
func TestItemsDigestAgrees(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	longest := strings.Repeat("é", items.MaxBytes/2) // exactly MaxBytes bytes
	for i := range 40 {
		fmt.Fprintf(&b, "item %d: <&> \"quoted\" \\ りんご\t\r\n", i)
		b.WriteString(longest + "\r\n")
	}
	b.WriteString("last line without a newline")
	writeFile(t, filepath.Join(dir, "items.txt"), b.String())
	writeFile(t, filepath.Join(dir, "workqueue.yaml"), `apiVersion: jobwq.dev/v1alpha1
kind: WorkQueue
metadata: {name: digest}
spec:
  itemsFile: items.txt
  worker: {image: "registry.example.com/w:v1", command: [run]}
`)

	w, err := workqueue.Load(filepath.Join(dir, "workqueue.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fromSpec, n, err := items.DigestOf(w.Items())
	if err != nil {
		t.Fatal(err)
	}
	if n != 81 {
		t.Fatalf("the spec has %d items, want 81", n)
	}

	r, err := generate.File(filepath.Join(dir, "workqueue.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Items.Chunks) < 3 {
		t.Fatalf("%d chunks: the test wants items spread over several", len(r.Items.Chunks))
	}
	seedJob, workJob, err := r.Jobs()
	if err != nil {
		t.Fatal(err)
	}

	// What the seeding pod mounts: each generated ConfigMap's data under
	// the chunk's name, as the Job's projected volume lays them out.
	out, err := kustree.Build(r.Files, "overlays/deployment")
	if err != nil {
		t.Fatal(err)
	}
	mounted := t.TempDir()
	configMaps := map[string]corev1.ConfigMap{}
	var builtSeed batchv1.Job
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var obj struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		switch obj.Kind {
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
				t.Fatal(err)
			}
			configMaps[cm.Name] = cm
		case "Job":
			var j batchv1.Job
			if err := yaml.Unmarshal([]byte(doc), &j); err != nil {
				t.Fatal(err)
			}
			if j.Name == seedJob.Name {
				builtSeed = j
			}
		}
	}
	chunks := 0
	for _, v := range builtSeed.Spec.Template.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			cm, ok := configMaps[src.ConfigMap.Name]
			if !ok {
				t.Fatalf("the seed Job mounts ConfigMap %s, which the build lacks", src.ConfigMap.Name)
			}
			for _, kp := range src.ConfigMap.Items {
				writeFile(t, filepath.Join(mounted, kp.Path), cm.Data[kp.Key])
				chunks++
			}
		}
	}
	if chunks != len(r.Items.Chunks) {
		t.Fatalf("the seed Job mounts %d chunks of %d", chunks, len(r.Items.Chunks))
	}
	seeded, err := items.Open(mounted, nil)
	if err != nil {
		t.Fatal(err)
	}

	for what, got := range map[string]string{
		"jobwq build's item set":            r.Items.Digest,
		"the seed Job's annotation":         seedJob.Annotations["jobwq.dev/items-digest"],
		"the worker Job's annotation":       workJob.Annotations["jobwq.dev/items-digest"],
		"the seeder's, from its ConfigMaps": seeded.Digest,
	} {
		if got != fromSpec {
			t.Errorf("%s digest is %s, the spec's items' %s", what, got, fromSpec)
		}
	}
	if seeded.Count != n {
		t.Errorf("the seeder reads %d items, the spec has %d", seeded.Count, n)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
