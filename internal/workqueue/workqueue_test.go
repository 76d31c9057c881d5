package workqueue

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/jobwq/jobwq/internal/items"
	"github.com/jobwq/jobwq/internal/position"
)

const fruitsYAML = `apiVersion: jobwq.dev/v1alpha1
kind: WorkQueue
metadata:
  name: job-wq
spec:
  items: [apple, banana, cherry, date, fig, grape, lemon, melon]
  queue:
    name: job1
  worker:
    image: registry.example.com/takara/job-wq:v2
    command: [python3, /worker.py]
    parallelism: 2
`

// writeFiles creates files in a fresh working directory, so that error
// positions read as relative paths.
func writeFiles(t *testing.T, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadFormatsAgree(t *testing.T) {
	writeFiles(t, map[string]string{
		"wq.yaml": fruitsYAML,
		"wq.json": `{"apiVersion": "jobwq.dev/v1alpha1", "kind": "WorkQueue",
			"metadata": {"name": "job-wq"},
			"spec": {"items": ["apple", "banana", "cherry", "date", "fig", "grape", "lemon", "melon"],
				"queue": {"name": "job1"},
				"worker": {"image": "registry.example.com/takara/job-wq:v2", "command": ["python3", "/worker.py"], "parallelism": 2}}}`,
		"wq.cue": `apiVersion: "jobwq.dev/v1alpha1"
kind: "WorkQueue"
metadata: name: "job-wq"
spec: {
	items: ["apple", "banana", "cherry", "date", "fig", "grape", "lemon", "melon"]
	queue: name: "job1"
	worker: {
		image: "registry.example.com/takara/job-wq:v2"
		command: ["python3", "/worker.py"]
		parallelism: 2
	}
}
`,
		"dir/workqueue.yaml": fruitsYAML,
	})
	want, err := Load("wq.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want.Spec.Worker.Parallelism != 2 || len(want.Spec.Items) != 8 || want.Spec.Queue.Type != "quorum" {
		t.Fatalf("unexpected spec: %+v", want.Spec)
	}
	for _, path := range []string{"wq.json", "wq.cue", "dir"} {
		got, err := Load(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(WorkQueue{}, "Path"), cmpopts.IgnoreUnexported(WorkQueue{})); diff != "" {
			t.Errorf("%s differs from wq.yaml (-want +got):\n%s", path, diff)
		}
	}
}

func TestLoadDefaults(t *testing.T) {
	writeFiles(t, map[string]string{"wq.yaml": fruitsYAML})
	w, err := Load("wq.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Spec.Broker.Image; got != "rabbitmq:4.1.4-management" {
		t.Errorf("broker image = %q", got)
	}
	if got := w.CredentialsSecret(); got != "job-wq-broker" {
		t.Errorf("credentials secret = %q", got)
	}
	if got := w.Spec.Worker.Timeout.String(); got != "1h0m0s" {
		t.Errorf("timeout = %q", got)
	}
	if got := w.Spec.Worker.Resources.Limits["memory"]; got != "512Mi" {
		t.Errorf("memory limit = %q", got)
	}
}

// valid is a minimal valid spec that tests break one field at a time.
const valid = `apiVersion: jobwq.dev/v1alpha1
kind: WorkQueue
metadata:
  name: job-wq
spec:
  items: [a, b]
  worker:
    image: registry.example.com/w:v1
    command: [run]
`

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		spec  string // defaults to wq.yaml
		want  []string
	}{
		{
			name:  "bad name",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "name: job-wq", "name: Job_WQ", 1)},
			want:  []string{"wq.yaml:4:9: metadata.name: must be 1 to 40 lowercase letters, digits or '-', starting with a letter and ending with a letter or digit"},
		},
		{
			name:  "name too long for derived names",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "name: job-wq", "name: "+strings.Repeat("a", 41), 1)},
			want:  []string{"wq.yaml:4:9: metadata.name: must be 1 to 40 lowercase letters, digits or '-', starting with a letter and ending with a letter or digit"},
		},
		{
			name:  "bad namespace",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "  name: job-wq\n", "  name: job-wq\n  namespace: Prod\n", 1)},
			want:  []string{"wq.yaml:5:14: metadata.namespace: must be a DNS-1123 label: 1 to 63 lowercase letters, digits or '-', starting and ending with a letter or digit"},
		},
		{
			name:  "reserved label",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "  name: job-wq\n", "  name: job-wq\n  labels:\n    app.kubernetes.io/name: mine\n", 1)},
			want:  []string{`wq.yaml:6:5: metadata.labels."app.kubernetes.io/name": key "app.kubernetes.io/name" is not allowed: keys under app.kubernetes.io/ and jobwq.dev/ are jobwq's own`},
		},
		{
			name:  "misspelt field",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "command:", "comand:", 1)},
			want:  []string{"wq.yaml:9:5: spec.worker.comand: unknown field \"comand\" (did you mean \"command\"?)"},
		},
		{
			// Found both by CUE and by the walk of the syntax: one line.
			name:  "resource in the kubernetes.io domain, reported once",
			files: map[string]string{"wq.yaml": valid + "    resources: {requests: {example.kubernetes.io/thing: 1}}\n"},
			want:  []string{`wq.yaml:10:28: spec.worker.resources.requests."example.kubernetes.io/thing": unknown resource "example.kubernetes.io/thing": expected cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource outside kubernetes.io, such as nvidia.com/gpu`},
		},
		{
			name:  "unknown top-level field",
			files: map[string]string{"wq.yaml": valid + "status: {}\n"},
			want:  []string{"wq.yaml:10:1: status: unknown field \"status\": expected one of apiVersion, kind, metadata, spec"},
		},
		{
			name:  "wrong apiVersion",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "jobwq.dev/v1alpha1", "batch/v1", 1)},
			want:  []string{`wq.yaml:1:13: apiVersion: expected "jobwq.dev/v1alpha1", found "batch/v1"`},
		},
		{
			name:  "latest image",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "w:v1", "w:latest", 1)},
			want:  []string{"wq.yaml:8:12: spec.worker.image: the tag latest is not allowed: pin a version, such as worker:v2, or a digest, found \"registry.example.com/w:latest\""},
		},
		{
			name:  "untagged broker image",
			files: map[string]string{"wq.yaml": valid + "  broker:\n    image: rabbitmq\n"},
			want:  []string{"wq.yaml:11:12: spec.broker.image: must be pinned by a tag or a digest, such as worker:v2 (an untagged image is not allowed), found \"rabbitmq\""},
		},
		{
			name:  "upper-case repository",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "registry.example.com/w:v1", "registry.example.com/Team/worker:v1", 1)},
			want:  []string{"wq.yaml:8:12: spec.worker.image: the repository must be lower case, as team/worker in registry.example.com/team/worker:v2, found \"registry.example.com/Team/worker:v1\""},
		},
		{
			name:  "short digest",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "registry.example.com/w:v1", "python@sha256:abc", 1)},
			want:  []string{"wq.yaml:8:12: spec.worker.image: the digest (after '@') must be sha256: and 64 lowercase hexadecimal digits, found \"python@sha256:abc\""},
		},
		{
			name:  "bad tag and upper case",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "registry.example.com/w:v1", "Team/worker:-v1", 1)},
			want:  []string{"wq.yaml:8:12: spec.worker.image: the repository must be lower case, as team/worker in registry.example.com/team/worker:v2; the tag (after ':') must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-', found \"Team/worker:-v1\""},
		},
		{
			name:  "parallelism zero",
			files: map[string]string{"wq.yaml": valid + "    parallelism: 0\n"},
			want:  []string{"wq.yaml:10:18: spec.worker.parallelism: expected a value >=1, found 0"},
		},
		{
			name:  "parallelism wrong type",
			files: map[string]string{"wq.yaml": valid + "    parallelism: two\n"},
			want:  []string{`wq.yaml:10:18: spec.worker.parallelism: expected an integer, found string "two"`},
		},
		{
			name:  "zero timeout",
			files: map[string]string{"wq.yaml": valid + "    timeout: 0s\n"},
			want:  []string{"wq.yaml:10:14: spec.worker.timeout: must be at least 1s, found 0s"},
		},
		{
			name:  "deadline shorter than one item",
			files: map[string]string{"wq.yaml": valid + "    timeout: 2h\n    activeDeadline: 1h\n"},
			want:  []string{"wq.yaml:11:21: spec.worker.activeDeadline: must be at least spec.worker.timeout (2h0m0s): the Job would end before one item may"},
		},
		{
			name:  "request above limit",
			files: map[string]string{"wq.yaml": valid + "    resources: {requests: {cpu: 2}, limits: {cpu: 1500m, memory: 0}}\n"},
			want: []string{
				"wq.yaml:10:33: spec.worker.resources.requests.cpu: request 2 is above the limit 1500m",
				`wq.yaml:10:66: spec.worker.resources.limits.memory: must be a positive quantity such as 500m or 1Gi, found "0"`,
			},
		},
		{
			name:  "duplicate env",
			files: map[string]string{"wq.yaml": valid + "    env: [{name: A, value: x}, {name: A, value: y}]\n"},
			want:  []string{`wq.yaml:10:39: spec.worker.env[1].name: duplicate variable "A" (first at spec.worker.env[0])`},
		},
		{
			name:  "missing apiVersion",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "apiVersion: jobwq.dev/v1alpha1\n", "", 1)},
			want:  []string{"wq.yaml:1:1: apiVersion: required field is missing"},
		},
		{
			name:  "bad label value",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "  name: job-wq\n", "  name: job-wq\n  labels: {team: a b}\n", 1)},
			want:  []string{"wq.yaml:5:18: metadata.labels.team: must be a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"},
		},
		{
			name:  "null worker",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "  worker:\n    image: registry.example.com/w:v1\n    command: [run]\n", "  worker: null\n", 1)},
			want:  []string{"wq.yaml:7:11: spec.worker: expected a mapping, found null"},
		},
		{
			name:  "items not a list",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "[a, b]", "apple", 1)},
			want:  []string{`wq.yaml:6:10: spec.items: expected a list, found string "apple"`},
		},
		{
			name:  "empty command",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "command: [run]", "command: []", 1)},
			want:  []string{"wq.yaml:9:14: spec.worker.command: must not be empty"},
		},
		{
			name:  "bad duration",
			files: map[string]string{"wq.yaml": valid + "    timeout: 5 minutes\n"},
			want:  []string{`wq.yaml:10:14: spec.worker.timeout: expected a duration such as 90s, 10m or 1h30m, found "5 minutes"`},
		},
		{
			name:  "reserved queue name",
			files: map[string]string{"wq.yaml": valid + "  queue:\n    name: amq.jobs\n"},
			want:  []string{`wq.yaml:11:11: spec.queue.name: must be 1 to 250 bytes and must not start with "amq." (reserved by the broker)`},
		},
		{
			name:  "queue name too many bytes",
			files: map[string]string{"wq.yaml": valid + "  queue:\n    name: " + strings.Repeat("é", 200) + "\n"},
			want:  []string{"wq.yaml:11:11: spec.queue.name: is 400 bytes, at most 250 are allowed"},
		},
		{
			name:  "unknown queue type",
			files: map[string]string{"wq.yaml": valid + "  queue:\n    type: fast\n"},
			want:  []string{`wq.yaml:11:11: spec.queue.type: expected one of "classic", "quorum", found "fast"`},
		},
		{
			name:  "reserved env name",
			files: map[string]string{"wq.yaml": valid + "    env:\n    - name: BROKER_URL\n      value: x\n"},
			want:  []string{"wq.yaml:11:13: spec.worker.env[0].name: starts with BROKER_ or JOBWQ_, which jobwq sets: choose another name, found \"BROKER_URL\""},
		},
		{
			name:  "env without value",
			files: map[string]string{"wq.yaml": valid + "    env:\n    - name: MODE\n"},
			want:  []string{"wq.yaml:11:13: spec.worker.env[0]: set exactly one of value and valueFrom"},
		},
		{
			name:  "both item sources",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "  items: [a, b]\n", "  items: [a, b]\n  itemsFile: items.txt\n", 1), "items.txt": "a\n"},
			want:  []string{"wq.yaml:7:14: spec: set exactly one of items and itemsFile, not both"},
		},
		{
			name:  "no items",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "  items: [a, b]\n", "", 1)},
			want:  []string{"wq.yaml:6:3: spec: set exactly one of items and itemsFile: the spec has no items"},
		},
		{
			name:  "empty items",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "[a, b]", "[]", 1)},
			want:  []string{"wq.yaml:6:10: spec.items: must not be empty: give at least one item"},
		},
		{
			name:  "bad items",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "[a, b]", `[a, "", 3, {x: 1}, "two\nlines"]`, 1)},
			want: []string{
				"wq.yaml:6:14: spec.items[1]: empty item: every item must be a non-empty string",
				"wq.yaml:6:18: spec.items[2]: expected a string, found the number 3",
				"wq.yaml:6:21: spec.items[3]: expected a string, found a mapping",
				"wq.yaml:6:29: spec.items[4]: item contains a line break: items are single lines",
			},
		},
		{
			name:  "items file outside the spec directory",
			files: map[string]string{"sub/wq.yaml": strings.Replace(valid, "items: [a, b]", "itemsFile: ../items.txt", 1), "items.txt": "a\n"},
			spec:  "sub/wq.yaml",
			want:  []string{"sub/wq.yaml:6:14: spec.itemsFile: must be a relative path inside the spec's directory"},
		},
		{
			name:  "missing items file",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "items: [a, b]", "itemsFile: items.txt", 1)},
			want:  []string{"wq.yaml:6:14: spec.itemsFile: items.txt does not exist"},
		},
		{
			name:  "duplicate key",
			files: map[string]string{"wq.yaml": strings.Replace(valid, "  name: job-wq\n", "  name: job-wq\n  name: other\n", 1)},
			want:  []string{`wq.yaml:5:3: metadata.name: duplicate key "name" (first defined at line 4)`},
		},
		{
			name:  "missing everything",
			files: map[string]string{"wq.yaml": "apiVersion: jobwq.dev/v1alpha1\nkind: WorkQueue\n"},
			want: []string{
				"wq.yaml:1:1: metadata.name: required field is missing",
				"wq.yaml:1:1: spec.worker.image: required field is missing",
				"wq.yaml:1:1: spec.worker.command: required field is missing",
			},
		},
		{
			name:  "empty file",
			files: map[string]string{"wq.yaml": "# nothing yet\n"},
			want:  []string{"wq.yaml: empty document: expected a WorkQueue"},
		},
		{
			name:  "list document",
			files: map[string]string{"wq.yaml": "- a\n- b\n"},
			want:  []string{"wq.yaml:1:1: expected a mapping (a WorkQueue document), found a list"},
		},
		{
			name:  "two documents",
			files: map[string]string{"wq.yaml": valid + "---\n" + valid},
			want:  []string{"wq.yaml:11:1: expected one YAML document, found another: a spec file holds one WorkQueue"},
		},
		{
			name:  "yaml syntax",
			files: map[string]string{"wq.yaml": "a: [\n"},
			want:  []string{"wq.yaml:1: did not find expected node content"},
		},
		{
			name:  "invalid utf-8",
			files: map[string]string{"wq.yaml": "apiVersion: jobwq.dev/v1alpha1\nkind: Work\xffQueue\n"},
			want:  []string{"wq.yaml:2:11: invalid UTF-8: a spec must be UTF-8 text"},
		},
		{
			name:  "alias bomb",
			files: map[string]string{"wq.yaml": aliasBomb()},
			want:  []string{"wq.yaml:1: aliases expand to more than 50000 nodes"},
		},
		{
			name:  "deep nesting",
			files: map[string]string{"wq.yaml": "metadata: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n"},
			want:  []string{"wq.yaml:1:43: metadata[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nested too deeply: a WorkQueue is at most a few levels deep"},
		},
		{
			name:  "json wrong types",
			files: map[string]string{"wq.json": `{"apiVersion": "jobwq.dev/v1alpha1", "kind": "WorkQueue", "metadata": {"name": 7}, "spec": {"items": ["a"], "worker": {"image": "w:1", "command": "run"}}}`},
			spec:  "wq.json",
			want: []string{
				`wq.json:1:80: metadata.name: must be 1 to 40 lowercase letters, digits or '-', starting with a letter and ending with a letter or digit`,
				`wq.json:1:147: spec.worker.command: expected a list, found string "run"`,
			},
		},
		{
			name:  "cue spec with a bad item",
			files: map[string]string{"wq.cue": "apiVersion: \"jobwq.dev/v1alpha1\"\nkind: \"WorkQueue\"\nmetadata: name: \"c\"\nspec: {\n\titems: [\"a\", \"\"]\n\tworker: {image: \"w:1\", command: [\"x\"]}\n}\n"},
			spec:  "wq.cue",
			want:  []string{"wq.cue:5:15: spec.items[1]: must be a non-empty string on a single line"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeFiles(t, tt.files)
			path := tt.spec
			if path == "" {
				path = "wq.yaml"
			}
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded, want errors")
			}
			var es position.Errors
			if !errors.As(err, &es) {
				t.Fatalf("Load error is %T (%v), want position.Errors", err, err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func aliasBomb() string {
	var b strings.Builder
	b.WriteString(`a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	prev := "a"
	for _, c := range "bcdefghi" {
		b.WriteString(string(c) + ": &" + string(c) + " [")
		for i := range 9 {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = string(c)
	}
	return b.String()
}

func TestLoadIOErrors(t *testing.T) {
	writeFiles(t, map[string]string{"notes.txt": "x", "both/workqueue.yaml": valid, "both/workqueue.json": "{}", "empty/.keep": ""})
	for _, path := range []string{"missing.yaml", "notes.txt", "both", "empty"} {
		_, err := Load(path)
		var es position.Errors
		if err == nil || errors.As(err, &es) {
			t.Errorf("Load(%s) = %v, want a plain I/O or usage error", path, err)
		}
	}
}

func TestItemsFile(t *testing.T) {
	spec := strings.Replace(valid, "items: [a, b]", "itemsFile: items.txt", 1)
	tests := []struct {
		name    string
		content string
		want    []string
		wantErr string
	}{
		{name: "plain", content: "apple\nbanana\n", want: []string{"apple", "banana"}},
		{name: "no final newline", content: "apple\nbanana", want: []string{"apple", "banana"}},
		{name: "crlf", content: "apple\r\nbanana\r\n", want: []string{"apple", "banana"}},
		{name: "spaces and unicode kept", content: " spaced item \nりんご\n", want: []string{" spaced item ", "りんご"}},
		{name: "blank line", content: "apple\n\nbanana\n", wantErr: "items.txt:2:1: empty item (blank line): every line must hold one item"},
		{name: "empty file", content: "", wantErr: "items.txt: no items: the file is empty"},
		{name: "invalid utf-8", content: "apple\nba\xffnana\n", wantErr: "items.txt:2:3: item is not valid UTF-8"},
		{name: "too long", content: "a\n" + strings.Repeat("x", items.MaxBytes+1) + "\n", wantErr: "items.txt:2:1: item is 16385 bytes, at most 16384 are allowed"},
		{name: "far too long", content: strings.Repeat("x", 1<<20), wantErr: "items.txt:1:1: item is longer than 16384 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeFiles(t, map[string]string{"wq.yaml": spec, "items.txt": tt.content})
			w, err := Load("wq.yaml")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var gotErr error
			for it, err := range w.Items() {
				if err != nil {
					gotErr = err
					break
				}
				got = append(got, it)
			}
			if tt.wantErr != "" {
				if gotErr == nil || gotErr.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", gotErr, tt.wantErr)
				}
				return
			}
			if gotErr != nil {
				t.Fatal(gotErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
		})
	}
}

func TestItemsFileSymlinkEscape(t *testing.T) {
	writeFiles(t, map[string]string{
		"secret.txt":   "a\n",
		"spec/wq.yaml": strings.Replace(valid, "items: [a, b]", "itemsFile: items.txt", 1),
	})
	if err := os.Symlink("../secret.txt", "spec/items.txt"); err != nil {
		t.Fatal(err)
	}
	_, err := Load("spec/wq.yaml")
	want := "spec/wq.yaml:6:14: spec.itemsFile: items.txt leads outside the spec's directory"
	if err == nil || err.Error() != want {
		t.Fatalf("Load = %v, want %q", err, want)
	}
}

func TestErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString(valid)
	for i := range 100 {
		b.WriteString("x" + strings.Repeat("y", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ": 1\n")
	}
	writeFiles(t, map[string]string{"wq.yaml": b.String()})
	_, err := Load("wq.yaml")
	var es position.Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load = %v", err)
	}
	if len(es) != maxErrors+1 || es[maxErrors].Msg != "and 70 more problems" {
		t.Fatalf("got %d errors, last %q", len(es), es[len(es)-1])
	}
}
