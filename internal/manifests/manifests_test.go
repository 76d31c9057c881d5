package manifests

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jobwq/jobwq/internal/position"
)

func TestWalk(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("plain/pod.yml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
	write("plain/list.JSON", `{"kind": "List"}`)
	write("plain/notes.txt", "not: read\n")
	write(".git/x.yaml", "kind: Pod\n")
	write("kust/kustomization.yaml", "resources: [rc.yaml]\nnamespace: ns\n")
	write("kust/rc.yaml", "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: rc}\n")
	write("kust/patch.yaml", "kind: Pod\nbroken: [\n") // not a resource: never read

	got := map[string]string{}
	var order []string
	collect := func(name string, r io.Reader) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		name = strings.TrimPrefix(name, dir+string(filepath.Separator))
		got[name] = string(data)
		order = append(order, name)
		return nil
	}
	var problems []string
	h := Handlers{Input: collect, Unchecked: func(e *position.Error) { problems = append(problems, e.Error()) }, Warn: func(string) {}}
	if err := Walk([]string{dir}, nil, h); err != nil || problems != nil {
		t.Fatal(err, problems)
	}
	want := []string{"kust" + BuiltSuffix, "plain/list.JSON", "plain/pod.yml"}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	if b := got["kust"+BuiltSuffix]; !strings.Contains(b, "namespace: ns") || !strings.Contains(b, "kind: ReplicationController") {
		t.Errorf("the kustomization was not built:\n%s", b)
	}

	if err := Walk([]string{filepath.Join(dir, "nope.yaml")}, nil, h); err != nil || len(problems) != 1 || !strings.HasSuffix(problems[0], "nope.yaml: cannot read: no such file or directory") {
		t.Errorf("missing file: err = %v, problems %q", err, problems)
	}
	order = nil
	if err := Walk([]string{Stdin}, strings.NewReader("kind: Pod\n"), h); err != nil || len(order) != 1 || order[0] != StdinName || got[StdinName] != "kind: Pod\n" {
		t.Errorf("stdin: %v %v", err, order)
	}
}

// A FIFO or a device, named directly or behind a symlink in a directory,
// is refused without reading it (a FIFO would block, /dev/zero never
// ends); the regular files beside it are still handed on.
func TestWalkNonRegular(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pod.yaml"), []byte("kind: Pod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	var problems []string
	err := Walk([]string{dir, "/dev/zero"}, nil, Handlers{
		Input: func(name string, r io.Reader) error {
			got = append(got, filepath.Base(name))
			return nil
		},
		Unchecked: func(e *position.Error) { problems = append(problems, e.Error()) },
	})
	if diff := cmp.Diff([]string{"pod.yaml"}, got); diff != "" || err != nil {
		t.Errorf("inputs (-want +got):\n%s%v", diff, err)
	}
	all := strings.Join(problems, "\n")
	for _, want := range []string{"fifo.yaml: not a regular file (a named pipe)", "zero.yaml: not a regular file (a character device)", "/dev/zero: not a regular file"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems %q do not say %q", problems, want)
		}
	}
}

// One input that fails does not hide the others: every problem comes
// back, and the good inputs are still handed on; an error from the input
// handler (a cancelled context) ends the walk at once.
func TestWalkGoesOn(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("b"), 0o644)
	var got, problems []string
	h := Handlers{
		Input: func(name string, r io.Reader) error {
			got = append(got, filepath.Base(name))
			return nil
		},
		Unchecked: func(e *position.Error) { problems = append(problems, e.Error()) },
	}
	err := Walk([]string{filepath.Join(dir, "missing.yaml"), dir}, nil, h)
	if diff := cmp.Diff([]string{"a.yaml", "b.yaml"}, got); diff != "" || err != nil {
		t.Errorf("inputs (-want +got):\n%s%v", diff, err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "missing.yaml") {
		t.Errorf("problems %q, want the missing file", problems)
	}
	got = nil
	h.Input = func(name string, r io.Reader) error {
		got = append(got, filepath.Base(name))
		return context.Canceled
	}
	err = Walk([]string{dir}, nil, h)
	if !errors.Is(err, context.Canceled) || len(got) != 1 {
		t.Errorf("after cancellation: err %v, inputs %v", err, got)
	}
}

// kustomize's warning of a deprecated field names the kustomization it is
// about, and reaches the user through Warn rather than bare on stderr.
func TestKustomizeWarningNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "base"), 0o755)
	os.WriteFile(filepath.Join(dir, "base", "kustomization.yaml"), []byte("resources: [pod.yaml]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "base", "pod.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "app"), 0o755)
	os.WriteFile(filepath.Join(dir, "app", "kustomization.yaml"), []byte("bases: [../base]\n"), 0o644)
	var warnings []string
	err := Walk([]string{filepath.Join(dir, "app")}, nil, Handlers{
		Input:     func(string, io.Reader) error { return nil },
		Unchecked: func(e *position.Error) { t.Error(e) },
		Warn:      func(w string) { warnings = append(warnings, w) },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "app", "kustomization.yaml") + ": 'bases' is deprecated. Please use 'resources' instead."
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], want) {
		t.Errorf("warnings %q, want one starting %q", warnings, want)
	}
}
