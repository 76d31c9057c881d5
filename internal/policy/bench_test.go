package policy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jobwq/jobwq/internal/kubetest"
)

// How the Jobs of a benchmark differ from each other, besides their names.
type variation int

const (
	sameJobs    variation = iota
	ownCounts             // each its own completions: the Job specs differ
	ownPodSpecs           // each its own queue in env: the pod specs differ too
)

// jobs is n copies of the hardened Job under distinct names, varied as v
// says: the input of the side-by-side comparison with kube-score.
func jobs(tb testing.TB, n int, v variation) []byte {
	tb.Helper()
	job, err := os.ReadFile("../../testdata/policy/hardened-job.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	for i := range n {
		b.WriteString("---\n")
		j := bytes.Replace(job, []byte("name: job-wq\n"), fmt.Appendf(nil, "name: job-wq-%d\n", i), 1)
		switch v {
		case ownCounts:
			j = bytes.Replace(j, []byte("completions: 8\n"), fmt.Appendf(nil, "completions: %d\n", 8+i), 1)
		case ownPodSpecs:
			j = bytes.Replace(j, []byte("value: job1\n"), fmt.Appendf(nil, "value: job%d\n", i), 1)
		}
		b.Write(j)
	}
	return b.Bytes()
}

// The yardstick: checking 2,000 Jobs in one file takes no longer
// than kube-score score on the same file. Run side by side with
//
//	go test ./internal/policy -run '^$' -bench 2000 -benchtime 5x
//
// BenchmarkCheck2000Jobs checks 2,000 Jobs stamped from one template
// (names differ) with a pack compiled once per run, as jobwq policy does.
func BenchmarkCheck2000Jobs(b *testing.B) { benchmarkCheck(b, sameJobs) }

// BenchmarkCheck2000JobsOwnCounts: each Job has its own completions, so
// the Job rules evaluate each; the pod template is shared.
func BenchmarkCheck2000JobsOwnCounts(b *testing.B) { benchmarkCheck(b, ownCounts) }

// BenchmarkCheck2000DistinctJobs is the worst case: each Job runs its own
// queue, so no two pod specs are alike and every rule evaluates each.
func BenchmarkCheck2000DistinctJobs(b *testing.B) { benchmarkCheck(b, ownPodSpecs) }

func BenchmarkKubeScore2000Jobs(b *testing.B)          { benchmarkKubeScore(b, sameJobs) }
func BenchmarkKubeScore2000JobsOwnCounts(b *testing.B) { benchmarkKubeScore(b, ownCounts) }
func BenchmarkKubeScore2000DistinctJobs(b *testing.B)  { benchmarkKubeScore(b, ownPodSpecs) }

func benchmarkKubeScore(b *testing.B, v variation) {
	bin := kubetest.KubeScore(b)
	path := filepath.Join(b.TempDir(), "jobs.yaml")
	if err := os.WriteFile(path, jobs(b, 2000, v), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		// kube-score exits 1 when it has complaints; only silence is wrong.
		out, _ := exec.Command(bin, "score", path).Output()
		if len(out) == 0 {
			b.Fatal("kube-score printed nothing")
		}
	}
}

func benchmarkCheck(b *testing.B, v variation) {
	data := jobs(b, 2000, v)
	for b.Loop() {
		// A fresh pack each time: the first object of a run pays for the
		// evaluation, as in one jobwq policy run.
		p, err := Compile(Options{})
		if err != nil {
			b.Fatal(err)
		}
		rs, err := p.Check("jobs.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != 2000 {
			b.Fatalf("checked %d objects, want 2000", len(rs))
		}
		if fs := Findings(rs); len(fs) != 0 {
			b.Fatalf("hardened Jobs have findings: %v", fs[0])
		}
	}
}
