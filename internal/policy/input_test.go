package policy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// What the API server makes of a document is what the rules see: null is
// unset, at any depth, and a duplicate key is refused with both lines.
func TestNullAndDuplicates(t *testing.T) {
	p := compile(t, Options{})
	tests := []struct {
		name, src string
		want      []string // line:col rule of the findings
		err       string
	}{{
		name: "null lists are unset",
		src: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  automountServiceAccountToken: false\n  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n" +
			"  initContainers: null\n  volumes:\n  containers:\n  - name: a\n    image: a:1\n    args:\n    # nothing\n    env: null\n    ports: null\n" +
			"    resources: {requests: {cpu: 1, memory: 1}, limits: {cpu: 1, memory: 1}}\n" +
			"    securityContext: {privileged: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL], add: null}}\n",
		want: []string{"17:5 container-read-only-root-filesystem", "17:23 pss-privileged"},
	}, {
		name: "containers: null is a pod without containers",
		src:  "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  automountServiceAccountToken: false\n  containers: null\n",
		want: []string{"4:1 pod-containers"},
	}, {
		name: "a null list element is an empty object",
		src:  "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  automountServiceAccountToken: false\n  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n  containers: [null]\n",
		want: []string{"7:16 container-image-required", "7:16 container-limits", "7:16 container-read-only-root-filesystem", "7:16 container-requests", "7:16 pss-allow-privilege-escalation", "7:16 pss-capabilities"},
	}, {
		name: "duplicate keys",
		src:  "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostNetwork: true\n  containers: []\n  hostNetwork: false\n",
		err:  `in.yaml:7:3: duplicate key "hostNetwork" (first at line 5)`,
	}, {
		name: "duplicate keys in JSON",
		src:  `{"kind": "Pod", "spec": {"hostPID": true,` + "\n" + `"hostPID": false}}`,
		err:  `in.yaml:2:2: duplicate key "hostPID" (first at line 1)`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := p.Check("in.yaml", []byte(tc.src))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, short(Findings(rs))); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// Positions of a long stream are right in every document, although each
// document is decoded on its own.
func TestStreamPositions(t *testing.T) {
	p := compile(t, Options{})
	var b bytes.Buffer
	for i := range 50 {
		b.WriteString("---\n# a comment\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: nginx}\n")
		_ = i
	}
	rs, err := p.Check("s.yaml", b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range Findings(rs) {
		if f.Rule != "image-tag" {
			continue
		}
		if want := 8 + 8*n; f.Pos.Line != want || f.Pos.Column != 15 {
			t.Errorf("finding %d at %v, want line %d column 15", n, f.Pos, want)
		}
		n++
	}
	if n != 50 {
		t.Errorf("%d image-tag findings, want 50", n)
	}
}

// A document above MaxDocument ends the input with an error that says so,
// without reading it whole; the documents before it are checked. An
// endless line (stdin from /dev/zero) is one.
func TestDocumentTooLarge(t *testing.T) {
	p := compile(t, Options{})
	r := io.MultiReader(strings.NewReader("kind: Pod\nmetadata: {name: first}\n---\n"), zeros{})
	var c collect
	err := p.CheckReader(context.Background(), "big.yaml", r, &c)
	rs, err := c.results, errors.Join(append(c.unchecked, err)...)
	if err == nil || !strings.Contains(err.Error(), "big.yaml:3: a document starting here is larger than 32 MiB") {
		t.Errorf("err = %v", err)
	}
	if len(rs) != 1 || rs[0].Object.Name != "first" {
		t.Errorf("results %v, want the first Pod", rs)
	}
	c = collect{}
	err = p.CheckReader(context.Background(), "big.json", io.MultiReader(strings.NewReader("["), zeros{}), &c)
	err = errors.Join(append(c.unchecked, err)...)
	if err == nil || !strings.Contains(err.Error(), "big.json:1: a document starting here is larger than 32 MiB") {
		t.Errorf("JSON: err = %v", err)
	}
}

// zeros is an endless input, like /dev/zero.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// A rule that does not finish is cut off at the pack's time bound; the
// object is reported as not checked, the run goes on.
func TestObjectTimeout(t *testing.T) {
	rule := filepath.Join(t.TempDir(), "slow.cue")
	err := os.WriteFile(rule, []byte(`package policy

import "list"

rules: slow: {
	severity: "warning"
	message:  "slow"
	fix:      "none"
	violations: [if input.object.kind != _|_ for i in list.Range(0, 100000, 1) for j in list.Range(0, 100000, 1) if i*j < 0 {path: []}]
}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p := compile(t, Options{PolicyFiles: []string{rule}, ObjectTimeout: 200 * time.Millisecond})
	_, err = p.Check("j.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"))
	if err == nil || !strings.Contains(err.Error(), "j.yaml:1:1: Pod p: the rules did not finish within 200ms") {
		t.Errorf("err = %v", err)
	}
}

// A cancelled context (SIGTERM in the CLI) stops the check.
func TestCheckCancelled(t *testing.T) {
	p := compile(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := p.CheckReader(ctx, "j.yaml", strings.NewReader("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"), &collect{})
	if err != context.Canceled {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// A ServiceAccount in the same input that turns the token off satisfies
// automount-service-account-token for the pods that run as it and leave
// the setting to it; not for pods in another namespace or of another
// account. A pod that turns the token on itself has chosen to.
func TestAcrossServiceAccount(t *testing.T) {
	p := compile(t, Options{})
	src := `apiVersion: v1
kind: ServiceAccount
metadata: {name: worker, namespace: batch}
automountServiceAccountToken: false
---
apiVersion: v1
kind: Pod
metadata: {name: inherits, namespace: batch}
spec: {serviceAccountName: worker, containers: [{name: a, image: "a:1"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other-namespace, namespace: web}
spec: {serviceAccountName: worker, containers: [{name: a, image: "a:1"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: default-account, namespace: batch}
spec: {containers: [{name: a, image: "a:1"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: turns-it-on, namespace: batch}
spec: {serviceAccountName: worker, automountServiceAccountToken: true, containers: [{name: a, image: "a:1"}]}
`
	rs, err := p.Check("sa.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	Across(rs)
	var got []string
	for _, f := range Findings(rs) {
		if f.Rule == automountRule {
			got = append(got, f.Object.Name)
		}
	}
	if diff := cmp.Diff([]string{"other-namespace", "default-account"}, got); diff != "" {
		t.Errorf("pods with automount findings (-want +got):\n%s", diff)
	}
}

// Odd but real shapes (null at every level, a field of the wrong type)
// leave no rule unable to check an object.
func TestOddShapesChecked(t *testing.T) {
	p := compile(t, Options{})
	rs, err := p.Check("odd.yaml", mustRead(t, "odd-shapes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Errorf("%d objects, want 4", len(rs))
	}
	for _, f := range Findings(rs) {
		if strings.HasPrefix(f.Message, "the rule could not check") {
			t.Errorf("%s: %s %s", f.Pos, f.Rule, f.Message)
		}
	}
}
