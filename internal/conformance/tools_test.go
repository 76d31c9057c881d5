package conformance

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aymanbagabas/go-udiff"
	"sigs.k8s.io/yaml"

	"github.com/jobwq/jobwq/internal/generate"
	"github.com/jobwq/jobwq/internal/kubetest"
	"github.com/jobwq/jobwq/internal/kustree"
	"github.com/jobwq/jobwq/internal/policy"
)

// The tools below judge what jobwq renders in-process, without the API
// server: kubectl's kustomize, kube-score and jobwq's own policy.

var renderSpecs = []string{"../../examples/fruits", "../generate/testdata/full/workqueue.yaml", "../generate/testdata/pods/workqueue.yaml", "../generate/testdata/external/workqueue.yaml"}

func renderSpec(t testing.TB, path string) *generate.Rendered {
	t.Helper()
	r, err := generate.File(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBuildMatchesKubectl holds jobwq render to its promise: the
// in-process build is byte-for-byte what `kubectl kustomize` prints for
// the tree jobwq build writes.
func TestBuildMatchesKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl is required: render must match its embedded kustomize")
	}
	for _, s := range renderSpecs {
		r := renderSpec(t, s)
		files := r.Files
		dir := filepath.Join(t.TempDir(), "tree")
		if err := kustree.Write(dir, files); err != nil {
			t.Fatal(err)
		}
		for _, v := range generate.VariantsOf(r.Spec) {
			t.Run(filepath.Base(s)+"/"+v, func(t *testing.T) {
				want, err := exec.Command(kubectl, "kustomize", filepath.Join(dir, "overlays", v)).Output()
				if err != nil {
					t.Fatalf("kubectl kustomize: %v", err)
				}
				got, err := kustree.Build(files, "overlays/"+v)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("in-process build differs from kubectl kustomize:\n%s", udiff.Unified("kubectl", "jobwq", string(want), string(got)))
				}
				fromDisk, err := kustree.BuildDir(filepath.Join(dir, "overlays", v))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(fromDisk, want) {
					t.Errorf("build from disk differs from kubectl kustomize")
				}
			})
		}
	}
}

// TestOverlaysCarryNamespaceAndLabels: the spec's namespace and labels reach
// every object of every variant, the overlay's broker workload included.
func TestOverlaysCarryNamespaceAndLabels(t *testing.T) {
	r := renderSpec(t, "../generate/testdata/full/workqueue.yaml")
	files := r.Files
	for _, v := range generate.VariantsOf(r.Spec) {
		out, err := kustree.Build(files, "overlays/"+v)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(out), "\n---\n") {
			var obj struct {
				Kind     string
				Metadata struct {
					Name, Namespace string
					Labels          map[string]string
				}
			}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatal(err)
			}
			if obj.Metadata.Namespace != "media" || obj.Metadata.Labels["team"] != "imaging" {
				t.Errorf("%s: %s %s has namespace %q and labels %v", v, obj.Kind, obj.Metadata.Name, obj.Metadata.Namespace, obj.Metadata.Labels)
			}
		}
	}
}

// TestKubeScoreNoCritical is the yardstick for production-grade defaults:
// kube-score v1.20.0 reports no CRITICAL on any variant.
func TestKubeScoreNoCritical(t *testing.T) {
	bin := kubetest.KubeScore(t)
	for _, s := range renderSpecs {
		r := renderSpec(t, s)
		files := r.Files
		for _, v := range generate.VariantsOf(r.Spec) {
			t.Run(filepath.Base(s)+"/"+v, func(t *testing.T) {
				out, err := kustree.Build(files, "overlays/"+v)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(t.TempDir(), v+".yaml")
				if err := os.WriteFile(path, out, 0o644); err != nil {
					t.Fatal(err)
				}
				// kube-score exits 1 on CRITICAL, which the output shows.
				report, _ := exec.Command(bin, "score", "--output-format", "ci", path).CombinedOutput()
				if len(report) == 0 {
					t.Fatal("kube-score printed nothing")
				}
				for _, line := range strings.Split(string(report), "\n") {
					if strings.HasPrefix(line, "[CRITICAL]") {
						t.Error(line)
					}
				}
			})
		}
	}
}

// TestRenderedOutputPassesPolicy: jobwq's own output, every overlay of
// every example, passes its own policy with --spec on: the worker Job's
// completions are the item count.
func TestRenderedOutputPassesPolicy(t *testing.T) {
	examples, _ := filepath.Glob("../../examples/*")
	if len(examples) == 0 {
		t.Fatal("no examples")
	}
	for _, ex := range examples {
		if fi, err := os.Stat(ex); err != nil || !fi.IsDir() {
			continue
		}
		r := renderSpec(t, ex)
		p, err := policy.Compile(policy.Options{Spec: &policy.Spec{Path: r.Spec.Path, Items: r.Items.Count, ItemsPerPod: r.Spec.Spec.Worker.ItemsPerPod}})
		if err != nil {
			t.Fatal(err)
		}
		for _, variant := range generate.VariantsOf(r.Spec) {
			t.Run(filepath.Base(ex)+"/"+variant, func(t *testing.T) {
				out, err := kustree.Build(r.Files, "overlays/"+variant)
				if err != nil {
					t.Fatal(err)
				}
				rs, err := p.Check(variant+".yaml", out)
				if err != nil {
					t.Fatal(err)
				}
				// The bundled variants have a broker, its Service and
				// policies, the Jobs and the items; rabbitmqcluster the
				// RabbitmqCluster and its PodDisruptionBudget, the Jobs, two
				// policies and the items;
				// external the same without a broker; the indexed one the
				// items, its Job and a policy.
				want := map[string]int{"rabbitmqcluster": 7, "external": 5, "indexed": 3}[variant]
				if want == 0 {
					want = 8
				}
				// Under Kueue the worker pods seed: no seeding Job, no
				// seeder policy.
				if r.Spec.Spec.Kueue != nil && variant != "indexed" {
					want -= 2
				}
				if len(rs) < want {
					t.Errorf("only %d objects checked, want at least %d", len(rs), want)
				}
				for _, f := range policy.Findings(rs) {
					t.Errorf("%s: %s %s: %s (%s)", f.Pos, f.Severity, f.Rule, f.Message, f.Object)
				}
			})
		}
	}
}
