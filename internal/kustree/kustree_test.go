package kustree

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aymanbagabas/go-udiff"
)

// TestBuildMatchesKubectl: the in-process build is byte-for-byte what
// `kubectl kustomize` prints, on a tree that uses what jobwq's trees use
// (a ConfigMap generator, a namespace, resources from a base, a patch).
// internal/conformance does the same for every tree jobwq renders.
func TestBuildMatchesKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl is required: Build must match its embedded kustomize")
	}
	files := tree(
		"base/kustomization.yaml", `resources: [job.yaml, svc.yaml]
configMapGenerator:
- name: items-0000
  files: [items=items/0000.txt]
  options: {disableNameSuffixHash: false}
`,
		"base/items/0000.txt", "apple\nbanana\n",
		"base/job.yaml", `apiVersion: batch/v1
kind: Job
metadata: {name: work}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: w, image: "w:1"}]
      volumes: [{name: items, configMap: {name: items-0000}}]
`,
		"base/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: broker}\nspec: {ports: [{port: 5672}]}\n",
		"overlays/deployment/kustomization.yaml", `namespace: media
resources: [../../base, broker.yaml]
patches:
- target: {kind: Job}
  patch: |-
    - op: add
      path: /spec/parallelism
      value: 2
`,
		"overlays/deployment/broker.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: broker}
spec:
  selector: {matchLabels: {app: b}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: b, image: "b:1"}]}
`,
	)
	dir := filepath.Join(t.TempDir(), "tree")
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	want, err := exec.Command(kubectl, "kustomize", filepath.Join(dir, "overlays", "deployment")).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v", err)
	}
	got, err := Build(files, "overlays/deployment")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("in-process build differs from kubectl kustomize:\n%s", udiff.Unified("kubectl", "jobwq", string(want), string(got)))
	}
	fromDisk, err := BuildDir(filepath.Join(dir, "overlays", "deployment"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fromDisk, want) {
		t.Errorf("build from disk differs from kubectl kustomize")
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestWriteReplacesOwnedDirsOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	files := tree(
		"base/kustomization.yaml", "base\n",
		"base/items/0000.txt", "a\n",
		"base/items/0001.txt", "b\n",
		"overlays/deployment/kustomization.yaml", "dep\n",
	)
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	// A user's own overlay and notes live beside jobwq's.
	mustWrite(t, filepath.Join(dir, "overlays", "mine", "kustomization.yaml"), "mine\n")
	mustWrite(t, filepath.Join(dir, "README.md"), "notes\n")

	smaller := tree(
		"base/kustomization.yaml", "base v2\n",
		"base/items/0000.txt", "a\n",
		"overlays/deployment/kustomization.yaml", "dep\n",
	)
	if err := Write(dir, smaller); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"base/kustomization.yaml":                "base v2\n",
		"base/items/0000.txt":                    "a\n",
		"overlays/deployment/kustomization.yaml": "dep\n",
		"overlays/mine/kustomization.yaml":       "mine\n",
		"README.md":                              "notes\n",
	}
	got := readTree(t, dir)
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s = %q, want %q", p, got[p], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("tree has %d files, want %d (stale chunk or staging dir left?): %v", len(got), len(want), got)
	}
}

func TestWriteFailureLeavesNothing(t *testing.T) {
	root := t.TempDir()
	// A regular file where the output directory should be.
	blocked := filepath.Join(root, "file")
	mustWrite(t, blocked, "x")
	if err := Write(blocked, tree("base/kustomization.yaml", "x")); err == nil {
		t.Fatal("Write into a regular file succeeded")
	}
	// base swaps in, then overlays/ turns out to be a file: base must be
	// rolled back.
	dir := filepath.Join(root, "out")
	if err := Write(dir, tree("base/kustomization.yaml", "old\n")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "overlays"), "not a directory")
	err := Write(dir, tree("base/kustomization.yaml", "new\n", "overlays/deployment/kustomization.yaml", "new\n"))
	if err == nil {
		t.Fatal("Write succeeded through an obstacle")
	}
	got := readTree(t, dir)
	want := map[string]string{"base/kustomization.yaml": "old\n", "overlays": "not a directory"}
	if len(got) != len(want) || got["base/kustomization.yaml"] != "old\n" {
		t.Errorf("after a failed write the tree is %v, want %v", got, want)
	}
}

// tree builds a tree's files from path, content pairs.
func tree(kv ...string) map[string][]byte {
	f := map[string][]byte{}
	for i := 0; i < len(kv); i += 2 {
		f[kv[i]] = []byte(kv[i+1])
	}
	return f
}

func TestDiff(t *testing.T) {
	dir := t.TempDir()
	files := tree("base/kustomization.yaml", "a\nb\n", "base/items/0000.txt", "x\n")
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	if d, err := Diff(dir, files); err != nil || d != "" {
		t.Fatalf("Diff of a fresh build = %q, %v", d, err)
	}
	mustWrite(t, filepath.Join(dir, "base", "kustomization.yaml"), "a\nc\n")
	mustWrite(t, filepath.Join(dir, "base", "items", "0001.txt"), "stale\n")
	d, err := Diff(dir, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--- a/base/kustomization.yaml", "+++ b/base/kustomization.yaml", "-c", "+b", "--- a/base/items/0001.txt", "+++ /dev/null"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if d, err := Diff(filepath.Join(dir, "missing"), files); err != nil || !strings.Contains(d, "--- /dev/null") {
		t.Errorf("Diff against a missing dir = %q, %v", d, err)
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
