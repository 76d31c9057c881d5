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
	if err := Walk([]string{dir}, nil, collect); err != nil {
		t.Fatal(err)
	}
	want := []string{"kust" + BuiltSuffix, "plain/list.JSON", "plain/pod.yml"}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	if b := got["kust"+BuiltSuffix]; !strings.Contains(b, "namespace: ns") || !strings.Contains(b, "kind: ReplicationController") {
		t.Errorf("the kustomization was not built:\n%s", b)
	}

	if err := Walk([]string{filepath.Join(dir, "nope.yaml")}, nil, collect); err == nil || !strings.HasPrefix(err.Error(), "read ") {
		t.Errorf("missing file: err = %v", err)
	}
	order = nil
	if err := Walk([]string{Stdin}, strings.NewReader("kind: Pod\n"), collect); err != nil || len(order) != 1 || order[0] != StdinName || got[StdinName] != "kind: Pod\n" {
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
	err := Walk([]string{dir, "/dev/zero"}, nil, func(name string, r io.Reader) error {
		got = append(got, filepath.Base(name))
		return nil
	})
	if diff := cmp.Diff([]string{"pod.yaml"}, got); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	for _, want := range []string{"fifo.yaml: not a regular file (a named pipe)", "zero.yaml: not a regular file (a character device)", "read /dev/zero: not a regular file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

// One input that fails does not hide the others: every problem comes
// back, joined, and the good inputs are still handed on.
func TestWalkGoesOn(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("b"), 0o644)
	var got []string
	err := Walk([]string{filepath.Join(dir, "missing.yaml"), dir}, nil, func(name string, r io.Reader) error {
		got = append(got, filepath.Base(name))
		if filepath.Base(name) == "a.yaml" {
			return errors.New("a.yaml:1:1: invalid YAML")
		}
		return nil
	})
	if diff := cmp.Diff([]string{"a.yaml", "b.yaml"}, got); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") || !strings.Contains(err.Error(), "a.yaml:1:1: invalid YAML") {
		t.Errorf("err = %v, want both problems", err)
	}
	// A cancelled context ends the walk at once.
	got = nil
	err = Walk([]string{dir}, nil, func(name string, r io.Reader) error {
		got = append(got, filepath.Base(name))
		return context.Canceled
	})
	if !errors.Is(err, context.Canceled) || len(got) != 1 {
		t.Errorf("after cancellation: err %v, inputs %v", err, got)
	}
}
