package kustree

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jobwq/jobwq/internal/kubetest"
	"github.com/jobwq/jobwq/internal/render"
)

// TestKubeScoreNoCritical is the yardstick for production-grade
// defaults: kube-score v1.20.0 reports no CRITICAL on any variant, except
// container-image-pull-policy, which wants Always on every container:
// jobwq's images are pinned, so it leaves the field to Kubernetes'
// IfNotPresent, which images loaded onto a node without a registry need
// (spec.imagePullPolicy: Always satisfies kube-score).
func TestKubeScoreNoCritical(t *testing.T) {
	bin := kubetest.KubeScore(t)
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
				report, _ := exec.Command(bin, "score", "--output-format", "ci", "--ignore-test", "container-image-pull-policy", path).CombinedOutput()
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
