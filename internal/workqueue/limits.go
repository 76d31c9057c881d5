package workqueue

import (
	"context"
	"errors"
	"fmt"
	"runtime/metrics"
	"time"

	"github.com/jobwq/jobwq/internal/position"
)

// Limits bound what loading one spec may cost. The byte cap on a spec file
// does not bound what CUE makes of it: a comprehension over
// list.Range(0, 2000000, 1) is a line long and never finishes in a useful
// time. Items belong in itemsFile, which is streamed and costs what
// reading it costs.
type Limits struct {
	// Time is the longest one spec may take to load.
	Time time.Duration
	// Memory is how much the heap may grow while it loads.
	Memory uint64
}

// DefaultLimits leave a spec that loads in a fraction of a second (any
// real one, and 10,000 CUE-computed items) far inside them.
var DefaultLimits = Limits{Time: 10 * time.Second, Memory: 384 << 20}

// limits are those Load and LoadContext apply; tests lower them.
var limits = DefaultLimits

// A LimitError says a spec was abandoned: it went past Limits, or its
// context ended (SIGTERM). The evaluation it abandoned may still be
// running: CUE cannot be stopped, so a program that gets one should exit
// rather than load more.
type LimitError struct {
	Path string
	Msg  string
	// Stopped: the context ended (a signal), rather than a limit.
	Stopped bool
}

func (e *LimitError) Error() string { return position.Display(e.Path) + ": " + e.Msg }

// bounded runs load, watching its time and the heap, and the context.
func bounded(ctx context.Context, path string, load func() (*WorkQueue, error)) (*WorkQueue, error) {
	type result struct {
		w   *WorkQueue
		err error
	}
	done := make(chan result, 1)
	start := heapBytes()
	go func() {
		defer func() {
			// A parser's panic on hostile input must not end the
			// program: it is this spec's problem, said with its file.
			if p := recover(); p != nil {
				done <- result{nil, position.Errors{position.Errorf(position.Position{File: position.Display(path)}, "", "the spec cannot be parsed (the parser failed: %v)", p)}}
			}
		}()
		w, err := load()
		done <- result{w, err}
	}()
	deadline := time.NewTimer(limits.Time)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			return r.w, r.err
		case <-ctx.Done():
			msg := "stopped before the spec was loaded"
			if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				msg = "took too long to load"
			}
			return nil, &LimitError{Path: path, Msg: msg, Stopped: true}
		case <-deadline.C:
			return nil, &LimitError{Path: path, Msg: fmt.Sprintf("evaluating the spec takes longer than %v: a spec may compute only small values; put large item lists in itemsFile (one item per line, streamed)", limits.Time)}
		case <-tick.C:
			if h := heapBytes(); h > start && h-start > limits.Memory {
				return nil, &LimitError{Path: path, Msg: fmt.Sprintf("evaluating the spec takes more than %d MiB: a spec may compute only small values; put large item lists in itemsFile (one item per line, streamed)", limits.Memory>>20)}
			}
		}
	}
}

// heapBytes is the memory taken by heap objects, live or not yet freed.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
