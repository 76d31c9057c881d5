package policy

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// jobsStream is n copies of the hardened Job under distinct names, the
// input of the side-by-side comparison with kube-score.
func jobsStream(tb testing.TB, n int) []byte { return jobs(tb, n, false) }

// jobs is n copies of the hardened Job; with distinct, each also runs a
// different queue, so that no two look the same to the rules.
func jobs(tb testing.TB, n int, distinct bool) []byte {
	tb.Helper()
	job, err := os.ReadFile("../../testdata/policy/hardened-job.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	for i := range n {
		b.WriteString("---\n")
		j := bytes.Replace(job, []byte("name: job-wq\n"), fmt.Appendf(nil, "name: job-wq-%d\n", i), 1)
		if distinct {
			j = bytes.Replace(j, []byte("value: job1\n"), fmt.Appendf(nil, "value: job%d\n", i), 1)
		}
		b.Write(j)
	}
	return b.Bytes()
}

// BenchmarkCheck2000Jobs checks 2,000 Jobs in one file with a pack compiled
// once. Write the file for kube-score with JOBWQ_BENCH_OUT=path.
func BenchmarkCheck2000Jobs(b *testing.B) { benchmarkCheck(b, false) }

// BenchmarkCheck2000DistinctJobs is the worst case: every Job needs its own
// evaluation.
func BenchmarkCheck2000DistinctJobs(b *testing.B) { benchmarkCheck(b, true) }

func benchmarkCheck(b *testing.B, distinct bool) {
	data := jobs(b, 2000, distinct)
	if out := os.Getenv("JOBWQ_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
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
