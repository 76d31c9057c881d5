package kustree

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jobwq/jobwq/internal/render"
)

// kubeScore finds kube-score: on PATH, or where `make tools` installs it.
func kubeScore(t *testing.T) string {
	if p, err := exec.LookPath("kube-score"); err == nil {
		return p
	}
	cache := os.Getenv("JOBWQ_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "jobwq")
	}
	p := filepath.Join(cache, "bin", "kube-score")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("kube-score not found on PATH or at %s: run make tools", p)
	}
	return p
}

// TestKubeScoreNoCritical is the yardstick for production-grade
// defaults: kube-score v1.20.0 reports no CRITICAL on any variant.
func TestKubeScoreNoCritical(t *testing.T) {
	bin := kubeScore(t)
	for _, s := range specs {
		files := renderSpec(t, s)
		for _, v := range render.Variants {
			t.Run(filepath.Base(s)+"/"+v, func(t *testing.T) {
				out, err := Build(files, "overlays/"+v)
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
