package policy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// corpusFiles are testdata/corpus's manifests (see its README).
func corpusFiles(tb testing.TB) map[string][]byte {
	tb.Helper()
	names, err := filepath.Glob("../../testdata/corpus/*/*.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	top, _ := filepath.Glob("../../testdata/corpus/*.yaml")
	out := map[string][]byte{}
	for _, n := range append(names, top...) {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		out[strings.TrimPrefix(n, "../../testdata/corpus/")] = b
	}
	return out
}

// TestCorpus: on manifests as real projects write them, no false
// findings of the kinds users switched the gate off for, and the findings
// kube-score and kube-linter report by default.
func TestCorpus(t *testing.T) {
	p := compile(t, Options{})
	files := corpusFiles(t)
	findings := map[string][]Finding{}
	for name, data := range files {
		fs, err := p.CheckBytes(name, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		findings[name] = fs
		for _, f := range fs {
			if strings.HasPrefix(f.Message, "the rule could not check") {
				t.Errorf("%s: %s %s", f.Pos, f.Rule, f.Message)
			}
		}
	}
	for _, f := range findings["current-apis.yaml"] {
		if f.Rule == "api-version-removed" || f.Rule == "api-version-kind" {
			t.Errorf("%s: %s on a kind Kubernetes 1.34 serves: %s", f.Pos, f.Rule, f.Message)
		}
	}
	for _, f := range findings["kube-prometheus/blackboxExporter-deployment.yaml"] {
		if f.Rule == automountRule {
			t.Errorf("%s: automountServiceAccountToken: true is a choice, yet: %s", f.Pos, f.Message)
		}
	}
	readOnly := 0
	for _, f := range findings["kube-prometheus/kube-state-metrics-deployment.yaml"] {
		if f.Rule == "container-read-only-root-filesystem" {
			readOnly++
		}
	}
	if readOnly != 3 {
		t.Errorf("%d containers of kube-state-metrics without readOnlyRootFilesystem reported, want 3", readOnly)
	}

	// env-secret-literal is wrong at most once in 20 variables.
	rs, err := p.Check("env.yaml", files["env.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	total, wrong := 0, 0
	for _, o := range objectsOfStream(t, files["env.yaml"]) {
		want, _ := stringAt(o.expr, "metadata", "annotations", "jobwq.dev/test-secret-envs")
		secret := map[string]bool{}
		for _, n := range strings.Split(want, ",") {
			secret[n] = n != ""
		}
		name, _ := stringAt(o.expr, "metadata", "name")
		flagged := map[string]bool{}
		for _, r := range rs {
			if r.Object.Name != name {
				continue
			}
			for _, f := range r.Findings {
				if f.Rule == "env-secret-literal" {
					flagged[strings.Fields(f.Message)[1]] = true
				}
			}
		}
		env := lookup(o.expr, []any{"spec", "template", "spec", "containers", 0, "env"})
		for i := 0; lookup(env, []any{i}) != nil; i++ {
			n, _ := stringAt(lookup(env, []any{i}), "name")
			total++
			if flagged[n] != secret[n] {
				wrong++
				t.Logf("env-secret-literal is wrong about %s (flagged %v)", n, flagged[n])
			}
		}
	}
	if total < 40 || wrong*20 > total {
		t.Errorf("env-secret-literal wrong about %d of %d variables; at most 1 in 20", wrong, total)
	}
}

// realWorld is the corpus concatenated with what makes real inputs large:
// CustomResourceDefinitions with deep schemas, as operators ship them
// (crds of them), and copies of the corpus's workloads under other names.
func realWorld(tb testing.TB, crds, copies int) []byte {
	var b bytes.Buffer
	files := corpusFiles(tb)
	for i := range crds {
		b.WriteString("---\n")
		writeCRD(&b, i)
	}
	for i := range copies {
		for _, name := range []string{"kube-prometheus/blackboxExporter-deployment.yaml", "kube-prometheus/kube-state-metrics-deployment.yaml", "env.yaml", "current-apis.yaml"} {
			b.WriteString("---\n")
			b.Write(plainName.ReplaceAll(files[name], fmt.Appendf(nil, "name: c%d-$1", i)))
		}
	}
	return b.Bytes()
}

// plainName is a name written without quotes.
var plainName = regexp.MustCompile(`name: ([^"'\s{])`)

// writeCRD writes a CRD whose openAPIV3Schema nests objects four deep,
// described as generated API reference text is.
func writeCRD(b *bytes.Buffer, n int) {
	fmt.Fprintf(b, `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets%d.example.com
  annotations: {controller-gen.kubebuilder.io/version: v0.16.1}
spec:
  group: example.com
  names: {kind: Widget%d, listKind: Widget%dList, plural: widgets%d, singular: widget%d}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
`, n, n, n, n, n)
	var props func(depth int, indent string)
	props = func(depth int, indent string) {
		for i := range 6 {
			fmt.Fprintf(b, "%sfield%d:\n%s  description: 'Field%d configures how the controller reconciles this part of\n%s    the resource. More info: https://example.com/docs/api#field%d'\n", indent, i, indent, i, indent, i)
			if depth == 0 || i%2 == 1 {
				fmt.Fprintf(b, "%s  type: string\n", indent)
				continue
			}
			fmt.Fprintf(b, "%s  type: object\n%s  properties:\n", indent, indent)
			props(depth-1, indent+"    ")
		}
	}
	props(4, "          ")
}
