package policy

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue/parser"
	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"

	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/schemas"
)

func compile(t *testing.T, opts Options) *Pack {
	t.Helper()
	p, err := Compile(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// withReference compiles opts twice: for the engine jobwq checks with, and
// for the reference engine whose findings it must give.
func withReference(t *testing.T, opts Options) (fast, plain *Pack) {
	t.Helper()
	fast = compile(t, opts)
	opts.reference = true
	return fast, compile(t, opts)
}

// checkAgainstReference checks input with both packs, fails unless they
// agree, and returns the results.
func checkAgainstReference(t *testing.T, fast, plain *Pack, input []byte) []Result {
	t.Helper()
	got, err := fast.Check("in.yaml", input)
	if err != nil {
		t.Fatal(err)
	}
	want, err := plain.Check("in.yaml", input)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-reference +jobwq's engine):\n%s", diff)
	}
	return got
}

// short renders findings as "line:col rule" for comparisons.
func short(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%d:%d %s", f.Pos.Line, f.Pos.Column, f.Rule))
	}
	return out
}

func TestEmbeddedPackCompiles(t *testing.T) {
	names, err := fs.Glob(schemas.FS, "policy/*.cue")
	if err != nil || len(names) == 0 {
		t.Fatalf("no embedded policy files: %v", err)
	}
	for _, n := range names {
		src, _ := schemas.FS.ReadFile(n)
		if _, err := parser.ParseFile(n, src, parser.ParseComments); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	p := compile(t, Options{})
	for _, r := range p.Rules() {
		if r.Message == "" || r.Fix == "" {
			t.Errorf("rule %s: message and fix must say something", r.ID)
		}
	}
	if len(p.Rules()) < 25 {
		t.Errorf("only %d rules", len(p.Rules()))
	}
}

func TestFixtures(t *testing.T) {
	jobRules := []string{
		"8:1 job-active-deadline", "8:1 job-backoff-limit", "8:1 job-pod-failure-policy-missing", "8:1 job-ttl-after-finished",
		"14:5 automount-service-account-token",
		"16:9 container-limits", "16:9 container-read-only-root-filesystem", "16:9 container-requests",
		"16:9 pss-allow-privilege-escalation", "16:9 pss-capabilities", "16:9 pss-run-as-non-root", "16:9 pss-seccomp",
		"20:11 credentials-in-url", "20:11 guest-user",
	}
	tests := []struct {
		file string
		want []string
	}{
		{"article-job.yaml", jobRules},
		{"job-wq-1.yaml", []string{
			"7:1 job-active-deadline", "7:1 job-backoff-limit", "7:1 job-pod-failure-policy-missing", "7:1 job-ttl-after-finished",
			"13:5 automount-service-account-token",
			"15:9 container-limits", "15:9 container-read-only-root-filesystem", "15:9 container-requests",
			"15:9 pss-allow-privilege-escalation", "15:9 pss-capabilities", "15:9 pss-run-as-non-root", "15:9 pss-seccomp",
			"16:9 image-tag",
			"19:11 credentials-in-url", "19:11 guest-user",
		}},
		{"hardened-job.yaml", nil},
	}
	p := compile(t, Options{})
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("..", "..", "testdata", "policy", tc.file)
			rs, err := p.Check(path, mustRead(t, path))
			if err != nil {
				t.Fatal(err)
			}
			fs := Findings(rs)
			if diff := cmp.Diff(tc.want, short(fs)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			for _, f := range fs {
				if f.Pos.File != path {
					t.Errorf("finding in %s, want %s", f.Pos.File, path)
				}
			}
		})
	}
}

func TestArticleBroker(t *testing.T) {
	p := compile(t, Options{})
	rs, err := p.Check("../../testdata/policy/article-broker.yaml", mustRead(t, "../../testdata/policy/article-broker.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range Findings(rs) {
		if slices.Contains([]string{"deprecated-replication-controller", "api-version-removed"}, f.Rule) {
			got = append(got, fmt.Sprintf("%d:%d %s %s %s", f.Pos.Line, f.Pos.Column, f.Severity, f.Rule, f.Object))
		}
	}
	want := []string{
		"5:1 warning deprecated-replication-controller ReplicationController rabbitmq-controller",
		"27:1 error api-version-removed Deployment rabbitmq-deployment",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestIgnoreAnnotation(t *testing.T) {
	src := `apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    jobwq.dev/ignore: "image-tag, automount-service-account-token  the sidecar is pinned by CI"
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
`
	p := compile(t, Options{})
	fs, err := p.CheckBytes("pod.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Rule == "image-tag" || f.Rule == "automount-service-account-token" || f.Rule == "ignore-reason" {
			t.Errorf("ignored rule reported: %s", f.Rule)
		}
	}
	if !slices.Contains(short(fs), "10:5 container-limits") {
		t.Errorf("rules not named in the annotation must still report; got %v", short(fs))
	}
}

func TestDisable(t *testing.T) {
	if _, err := Compile(Options{Disable: []string{"no-such-rule"}}); err == nil || !strings.Contains(err.Error(), `"no-such-rule"`) {
		t.Errorf("unknown rule: err = %v", err)
	}
	p := compile(t, Options{Disable: []string{"guest-user,credentials-in-url", "image-tag"}})
	fs, err := p.CheckBytes("j.yaml", mustRead(t, "article-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Rule == "guest-user" || f.Rule == "credentials-in-url" || f.Rule == "image-tag" {
			t.Errorf("disabled rule reported: %s", f.Rule)
		}
	}
	if p.Enabled("guest-user") || !p.Enabled("env-secret-literal") {
		t.Error("Enabled disagrees with Disable")
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "policy", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUserPolicy(t *testing.T) {
	p := compile(t, Options{PolicyFiles: []string{"../../testdata/policy/team.cue"}})
	fs, err := p.CheckBytes("h.yaml", mustRead(t, "hardened-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"6:1 team-label"}, short(fs)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if fs[0].Severity != Warning || fs[0].Fix != "add metadata.labels.team" {
		t.Errorf("user rule's description lost: %+v", fs[0])
	}

	dir := t.TempDir()
	bad := []struct {
		name, src, want string
	}{
		{"wrong-package.cue", "package team\nrules: x: {}\n", "must be package policy"},
		{"no-fix.cue", "package policy\nrules: \"no-fix\": {severity: \"error\", message: \"m\", violations: []}\n", "no-fix.cue:2:19: rule no-fix: fix is missing"},
		{"bad-severity.cue", "package policy\nrules: \"sev\": {severity: \"fatal\", message: \"m\", fix: \"f\", violations: []}\n", "bad-severity.cue:2:16: rule sev: unknown severity \"fatal\""},
		{"redefine.cue", "package policy\nrules: \"image-tag\": severity: \"info\"\n", "redefine.cue:2:"},
		{"syntax.cue", "package policy\nrules: {\n", "syntax.cue:2:10:"},
	}
	for _, b := range bad {
		path := filepath.Join(dir, b.name)
		if err := os.WriteFile(path, []byte(b.src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Compile(Options{PolicyFiles: []string{path}})
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: err = %v, want it to mention %q", b.name, err, b.want)
		}
	}
	if _, err := Compile(Options{PolicyFiles: []string{filepath.Join(dir, "missing.cue")}}); err == nil {
		t.Error("missing policy file: no error")
	}
}

func TestSpecCompletions(t *testing.T) {
	p := compile(t, Options{Spec: &Spec{Path: "wq.yaml", Items: 10}})
	fs, err := p.CheckBytes("j.yaml", mustRead(t, "article-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var got []Finding
	for _, f := range fs {
		if f.Rule == "job-completions-spec" {
			got = append(got, f)
		}
	}
	if len(got) != 1 || got[0].Pos.Line != 9 || got[0].Message != "completions is 8 but wq.yaml has 10 items" {
		t.Errorf("got %+v", got)
	}

	p = compile(t, Options{Spec: &Spec{Path: "wq.yaml", Items: 8}})
	fs, _ = p.CheckBytes("j.yaml", mustRead(t, "article-job.yaml"))
	for _, f := range fs {
		if f.Rule == "job-completions-spec" {
			t.Errorf("matching completions reported: %+v", f)
		}
	}
	// Without --spec the rule has nothing to compare with.
	fs, _ = compile(t, Options{}).CheckBytes("j.yaml", mustRead(t, "article-job.yaml"))
	for _, f := range fs {
		if f.Rule == "job-completions-spec" {
			t.Errorf("reported without a spec: %+v", f)
		}
	}
}

func TestInputShapes(t *testing.T) {
	p := compile(t, Options{})
	tests := []struct {
		name, file, src string
		want            []string
	}{
		{
			name: "json with positions",
			file: "j.json",
			src: `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
 "spec": {"automountServiceAccountToken": false, "restartPolicy": "Never",
  "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
  "containers": [{"name": "c", "image": "c:latest",
   "resources": {"requests": {"cpu": 1, "memory": 1}, "limits": {"cpu": 1, "memory": 1}},
   "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}}`,
			want: []string{"4:32 image-tag", "6:4 container-read-only-root-filesystem"}, // the key's opening quote
		},
		{
			name: "a List opened up",
			file: "list.yaml",
			src: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ReplicationController
  metadata: {name: a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: b}
`,
			want: []string{"4:3 pod-containers", "5:3 deprecated-replication-controller"},
		},
		{
			name: "custom resources and kind-less documents are not checked as pods",
			file: "cr.yaml",
			src: `apiVersion: example.com/v1
kind: Job
metadata: {name: x}
spec: {}
---
# just a comment
---
foo: bar
---
- a list
`,
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := p.CheckBytes(tc.file, []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, short(fs)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrorHasPosition(t *testing.T) {
	p := compile(t, Options{})
	for name, src := range map[string]string{
		"bad.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: [\n",
		"bad.json": "{\"kind\": \"Pod\",\n \"x\": }",
	} {
		_, err := p.Check(name, []byte(src))
		if err == nil || !strings.Contains(err.Error(), name+":") {
			t.Errorf("%s: err = %v, want a position in %s", name, err, name)
		}
	}
}

func TestFindingsSorted(t *testing.T) {
	fs := []Finding{
		{Rule: "b", Pos: position.Position{File: "b.yaml", Line: 1, Column: 1}},
		{Rule: "z", Pos: position.Position{File: "a.yaml", Line: 10, Column: 1}},
		{Rule: "a", Pos: position.Position{File: "a.yaml", Line: 2, Column: 5}},
		{Rule: "y", Pos: position.Position{File: "a.yaml", Line: 2, Column: 3}},
	}
	SortFindings(fs)
	var got []string
	for _, f := range fs {
		got = append(got, f.Rule)
	}
	if diff := cmp.Diff([]string{"y", "a", "z", "b"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSeverity(t *testing.T) {
	for _, s := range []Severity{Info, Warning, Error} {
		got, err := ParseSeverity(s.String())
		if err != nil || got != s {
			t.Errorf("%v: %v %v", s, got, err)
		}
	}
	if _, err := ParseSeverity("fatal"); err == nil {
		t.Error("fatal parsed")
	}
	if !(Error > Warning && Warning > Info) {
		t.Error("severities out of order")
	}
}

// The transcripts under testdata/script carry copies of the fixtures; they
// must not drift from the originals the unit tests read.
func TestScriptFixturesMatch(t *testing.T) {
	scripts, _ := filepath.Glob("../../testdata/script/policy_*.txtar")
	if len(scripts) == 0 {
		t.Fatal("no policy transcripts")
	}
	for _, s := range scripts {
		a, err := txtar.ParseFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range a.Files {
			orig, err := os.ReadFile(filepath.Join("..", "..", "testdata", "policy", f.Name))
			if err != nil {
				continue // not a copy
			}
			if diff := cmp.Diff(string(orig), string(f.Data)); diff != "" {
				t.Errorf("%s: %s differs from testdata/policy/%s (-orig +copy):\n%s", filepath.Base(s), f.Name, f.Name, diff)
			}
		}
	}
}

// A user rule that refers to other rules keeps the pack in one piece; it
// still works, and so do the others.
func TestRuleReferringToRules(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "meta.cue")
	src := `package policy

rules: "too-many-image-findings": {
	severity: "info"
	message:  "the object breaks image-tag more than once"
	fix:      "pin every image"
	violations: [if len(rules["image-tag"].violations) > 1 {path: ["kind"]}]
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p := compile(t, Options{PolicyFiles: []string{path}})
	if why := fastOf(t, p).slow["too-many-image-findings"]; why != "refers to rules" {
		t.Errorf("a rule that refers to rules: %q, want it left to CUE", why)
	}
	fs, err := p.CheckBytes("pod.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: a}\n  - {name: b, image: b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := short(fs)
	for _, want := range []string{"2:1 too-many-image-findings", "6:15 image-tag", "7:15 image-tag"} {
		if !slices.Contains(got, want) {
			t.Errorf("no %q in %v", want, got)
		}
	}
}

// Windows line ends, and old Mac ones, keep their lines and columns.
func TestLineEnds(t *testing.T) {
	p := compile(t, Options{})
	for name, eol := range map[string]string{"crlf": "\r\n", "cr": "\r"} {
		src := strings.ReplaceAll("apiVersion: v1\nkind: ReplicationController\nmetadata: {name: rc}\n", "\n", eol)
		fs, err := p.CheckBytes(name+".yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff([]string{"1:1 pod-containers", "2:1 deprecated-replication-controller"}, short(fs)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// --severity re-weighs rules; unknown rules and levels are refused.
func TestSeverityOverride(t *testing.T) {
	p := compile(t, Options{Severity: []string{"job-active-deadline=info,image-tag=warning", "pss-privileged=warning"}})
	got := map[string]Severity{}
	for _, r := range p.Rules() {
		got[r.ID] = r.Severity
	}
	for id, want := range map[string]Severity{"job-active-deadline": Info, "image-tag": Warning, "pss-privileged": Warning, "job-restart-policy": Error} {
		if got[id] != want {
			t.Errorf("%s: severity %v, want %v", id, got[id], want)
		}
	}
	rs, err := p.Check("j.yaml", mustRead(t, "../../testdata/policy/article-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Findings(rs) {
		if f.Rule == "job-active-deadline" && f.Severity != Info {
			t.Errorf("finding of job-active-deadline has severity %v, want info", f.Severity)
		}
	}
	for _, bad := range []string{"nope=error", "image-tag=fatal", "image-tag"} {
		if _, err := Compile(Options{Severity: []string{bad}}); err == nil {
			t.Errorf("--severity %s: no error", bad)
		}
	}
}

// A Job of a fixed number of pods, as Kueue's samples are, is no work
// queue, and no finding calls it one.
func TestFixedCompletionsJobIsNoWorkQueue(t *testing.T) {
	src := `apiVersion: batch/v1
kind: Job
metadata:
  name: sample-job
  labels: {kueue.x-k8s.io/queue-name: user-queue}
spec:
  parallelism: 3
  completions: 3
  suspend: true
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: dummy-job, image: registry.k8s.io/e2e-test-images/agnhost:2.53, args: [entrypoint-tester, hello, world]}
`
	fs, err := compile(t, Options{}).CheckBytes("kueue.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range fs {
		if strings.Contains(f.Message, "work-queue") || strings.Contains(f.Message, "work queue") {
			t.Errorf("%s calls it a work queue: %s", f.Rule, f.Message)
		}
		found = found || f.Rule == "job-pod-failure-policy-missing"
	}
	if !found {
		t.Error("a Job of 3 pods without podFailurePolicy: no job-pod-failure-policy-missing")
	}
}
