package jobwq_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jobwq/jobwq/internal/generate"
	"github.com/jobwq/jobwq/internal/kustree"
)

// BenchmarkBuild1M is `jobwq build` on a spec whose itemsFile has
// 1,000,000 lines, 1,000 per pod: load, stream and chunk the items, render
// every variant (the indexed one too), write the tree.
// The goal is under 3 s and 300 MB; peak-RSS-MB is the whole test
// process's high-water mark.
func BenchmarkBuild1M(b *testing.B) {
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "items.txt"))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range 1_000_000 {
		fmt.Fprintf(w, "s3://bucket/photos/%07d.jpg\n", i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	specPath := filepath.Join(dir, "workqueue.yaml")
	err = os.WriteFile(specPath, []byte(`apiVersion: jobwq.dev/v1alpha1
kind: WorkQueue
metadata: {name: big}
spec:
  itemsFile: items.txt
  worker: {image: "registry.example.com/w:v1", command: [run], parallelism: 50, itemsPerPod: 1000}
`), 0o644)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r, err := generate.File(specPath)
		if err != nil {
			b.Fatal(err)
		}
		if err := kustree.Write(filepath.Join(dir, fmt.Sprintf("out%d", i)), r.Files); err != nil {
			b.Fatal(err)
		}
		if r.Items.Count != 1_000_000 {
			b.Fatalf("count = %d", r.Items.Count)
		}
		if !bytes.Contains(r.Files["overlays/indexed/indexed-job.yaml"], []byte("completions: 1000\n")) {
			b.Fatal("the indexed Job does not have 1000 completions")
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	}
}
