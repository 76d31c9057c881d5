package manifests

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jobwq/jobwq/internal/position"
	"time"

	"sigs.k8s.io/kustomize/api/types"
)

// A kustomization that refers to anything remote is refused before
// kustomize runs: a listener on a local port, which every remote reference
// below points at, sees no connection, and the local files beside it are
// still checked.
func TestRemoteRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	cases := map[string]string{
		"http-resource":   "resources:\n- http://" + addr + "/job.yaml\n",
		"https-resource":  "resources:\n- https://" + addr + "/job.yaml\n",
		"git-base":        "bases:\n- https://" + addr + "/org/repo//app?ref=v1\n",
		"git-forced":      "resources:\n- git::http://" + addr + "/org/repo.git\n",
		"ssh":             "resources:\n- ssh://git@" + addr + "/org/repo\n",
		"scp":             "resources:\n- git@127.0.0.1:org/repo\n",
		"github":          "resources:\n- github.com/org/repo/app?ref=v1\n",
		"component":       "components:\n- http://" + addr + "/c\n",
		"patch":           "resources: [job.yaml]\npatches:\n- path: http://" + addr + "/p.yaml\n",
		"generator-file":  "configMapGenerator:\n- name: c\n  files:\n  - k=http://" + addr + "/f\n",
		"openapi":         "openapi:\n  path: http://" + addr + "/schema.json\n",
		"nested-base":     "resources:\n- base\n",
		"strategic-merge": "resources: [job.yaml]\npatchesStrategicMerge:\n- http://" + addr + "/p.yaml\n",
	}
	root := t.TempDir()
	for name, k := range cases {
		dir := filepath.Join(root, name)
		write(t, filepath.Join(dir, "kustomization.yaml"), k)
		write(t, filepath.Join(dir, "job.yaml"), "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\n")
		write(t, filepath.Join(dir, "base", "kustomization.yaml"), "resources:\n- http://"+addr+"/deep.yaml\n")
	}
	write(t, filepath.Join(root, "plain.yaml"), "kind: Pod\n")
	var got, problems []string
	err = Walk([]string{root}, nil, Handlers{
		Input: func(name string, r io.Reader) error {
			got = append(got, filepath.Base(name))
			return nil
		},
		Unchecked: func(e *position.Error) { problems = append(problems, e.Error()) },
	})
	if len(got) != 1 || got[0] != "plain.yaml" {
		t.Errorf("inputs handed on: %v, want only plain.yaml", got)
	}
	if err == nil && problems != nil {
		err = errors.New(strings.Join(problems, "\n"))
	}
	for name := range cases {
		if err == nil || !strings.Contains(err.Error(), filepath.Join(root, name)) {
			t.Errorf("%s: not refused: %v", name, err)
		}
	}
	if err != nil && !strings.Contains(err.Error(), "is remote; jobwq policy never fetches") {
		t.Errorf("the refusal does not say why: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // a connection attempt would have landed by now
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections reached the listener", n)
	}
}

func TestIsRemote(t *testing.T) {
	for ref, want := range map[string]bool{
		"job.yaml": false, "../base": false, "overlays/prod": false, "github.com.yaml": false,
		"https://example.com/x.yaml": true, "HTTP://x/y": true, "git::https://x/y": true,
		"git@github.com:org/repo": true, "github.com/org/repo": true, "GitHub.com:org/repo": true,
		"file:///tmp/repo": true,
	} {
		if got := isRemote(ref); got != want {
			t.Errorf("isRemote(%q) = %v, want %v", ref, got, want)
		}
	}
}

func write(t *testing.T, path, src string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzCheckLocal: any kustomization file; no panic, and one whose
// references include anything remote is refused.
func FuzzCheckLocal(f *testing.F) {
	f.Add("resources:\n- job.yaml\n- https://example.com/x.yaml\n")
	f.Add("bases: [github.com/org/repo]\n")
	f.Add("configMapGenerator:\n- name: c\n  files: [k=git@host:org/repo]\n")
	f.Add("resources: [base]\n")
	f.Add("{")
	f.Fuzz(func(t *testing.T, k string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
			t.Fatal(err)
		}
		err := CheckLocal(dir)
		var kz types.Kustomization
		if kz.Unmarshal([]byte(k)) != nil {
			return
		}
		kz.FixKustomization()
		for _, r := range references(&kz) {
			if isRemote(r.ref) && err == nil {
				t.Fatalf("%s %q is remote but was not refused", r.field, r.ref)
			}
		}
	})
}
