package podcli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/jobwq/jobwq/internal/exitcode"
	"github.com/jobwq/jobwq/internal/itemcmd"
	"github.com/jobwq/jobwq/internal/items"
)

// IndexEnv is where an Indexed Job tells each pod its completion index.
const IndexEnv = "JOB_COMPLETION_INDEX"

// indexedWork is one pod of an Indexed Job: the items behind its index,
// read from the mounted chunks (only the chunks that hold them), each run
// through the command in turn. Nothing is acknowledged anywhere: the
// Job's per-index retries are the bookkeeping, so a failed item fails the
// index, and Kubernetes runs the whole index again.
func indexedWork(ctx context.Context, dir string, perPod int, argv []string, run itemcmd.Options, logf func(string, ...any), stdout, stderr io.Writer) error {
	raw := os.Getenv(IndexEnv)
	index, err := strconv.Atoi(raw)
	if err != nil || index < 0 {
		return fmt.Errorf("--index: $%s is %q, not a completion index (is this an Indexed Job's pod?)", IndexEnv, raw)
	}
	r := items.OfIndex(index, perPod)
	batch, err := items.Range(dir, r.First, r.Last+1)
	if err != nil {
		return err
	}
	if len(batch) == 0 {
		return fmt.Errorf("index %d has no items: the set ends before item %d (completions and itemsPerPod do not match the items)", index, r.First)
	}
	run.Argv, run.Stdout, run.Stderr = argv, stdout, stderr
	for i, it := range batch {
		desc := itemcmd.Describe([]byte(it))
		logf("index %d: item %s (%d of %d)", index, desc, i+1, len(batch))
		if err := itemcmd.Run(ctx, []byte(it), run); err != nil {
			return exitcode.With(exitcode.Failed, fmt.Errorf("index %d: item %s: %w; the index fails, and a retry of it runs all its %d items again", index, desc, err, len(batch)))
		}
	}
	logf("index %d: %d items done", index, len(batch))
	return nil
}
