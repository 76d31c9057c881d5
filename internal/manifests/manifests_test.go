package manifests

import (
	"os"
	"path/filepath"
	"strings"
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
	collect := func(name string, data []byte) error {
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
