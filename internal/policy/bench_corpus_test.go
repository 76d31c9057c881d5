package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/jobwq/jobwq/internal/kubetest"
)

// The real-world yardstick: jobwq policy and kube-score score, each a
// process, on the same concatenated corpus (testdata/corpus, 20 CRDs of
// deep schemas as operators ship them, and 100 renamed copies of the
// corpus's workloads: about 4 MB), in the same run. The goal is at most
// kube-score's CPU and peak memory.
//
//	go test ./internal/policy -run '^$' -bench 'Corpus' -benchtime 3x
func BenchmarkPolicyCorpus(b *testing.B) {
	benchmarkProcess(b, jobwqBinary(b), "policy", corpusFile(b))
}

func BenchmarkKubeScoreCorpus(b *testing.B) {
	benchmarkProcess(b, kubetest.KubeScore(b), "score", corpusFile(b))
}

func corpusFile(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "corpus.yaml")
	if err := os.WriteFile(path, realWorld(b, 20, 100), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkPolicyJobs100MB: 100 MB of distinct Jobs (the article's, each
// with its own name, queue and completions, so every one has its 14
// findings) in every output format. Memory must follow the largest
// document, not the input or the findings: the goal is under 500 MB at
// peak in each.
//
//	go test ./internal/policy -run '^$' -bench 'Jobs100MB' -benchtime 1x
func BenchmarkPolicyJobs100MB(b *testing.B) {
	bin := jobwqBinary(b)
	path := filepath.Join(b.TempDir(), "jobs.yaml")
	job, err := os.ReadFile("../../testdata/policy/article-job.yaml")
	if err != nil {
		b.Fatal(err)
	}
	// Written straight to the file: the child's peak memory, as the
	// kernel reports it, counts the benchmark's own while it starts.
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i, n := 0, 0; n < 100<<20; i++ {
		j := bytes.Replace(job, []byte("name: job-wq\n"), fmt.Appendf(nil, "name: job-wq-%d\n", i), 1)
		j = bytes.Replace(j, []byte("value: job1\n"), fmt.Appendf(nil, "value: job%d\n", i), 1)
		j = bytes.Replace(j, []byte("completions: 8\n"), fmt.Appendf(nil, "completions: %d\n", 8+i%50), 1)
		w.WriteString("---\n")
		w.Write(j)
		n += len(j) + 4
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		b.Fatal(err)
	}
	debug.FreeOSMemory()
	for _, format := range []string{"text", "json", "junit", "sarif"} {
		b.Run(format, func(b *testing.B) {
			benchmarkProcess(b, bin, "policy", "--format", format, path)
		})
	}
}
