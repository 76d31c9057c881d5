package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jobwq/jobwq/internal/broker"
	"github.com/jobwq/jobwq/internal/exitcode"
	"github.com/jobwq/jobwq/internal/generate"
	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/workqueue"
)

// loadSpec validates a spec and its items, reading them to the end.
func loadSpec(path string) (*workqueue.WorkQueue, int, error) {
	w, n, _, err := loadSpecFrom(context.Background(), path, nil)
	return w, n, err
}

// loadSpecFrom is loadSpec given up when ctx ends (SIGTERM), where the
// path workqueue.Stdin reads the spec from stdin. It also returns warnings:
// items that occur more than once.
func loadSpecFrom(ctx context.Context, path string, stdin io.Reader) (*workqueue.WorkQueue, int, position.Errors, error) {
	var wq *workqueue.WorkQueue
	var err error
	if path == workqueue.Stdin && stdin != nil {
		wq, err = workqueue.LoadStdin(ctx, stdin)
	} else {
		wq, err = workqueue.LoadContext(ctx, path)
	}
	if err != nil {
		return nil, 0, nil, err
	}
	dups := workqueue.NewDups(wq)
	n := 0
	for it, err := range wq.Items() {
		if err != nil {
			return nil, 0, nil, err
		}
		dups.Add(it)
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return nil, 0, nil, &workqueue.LimitError{Path: wq.Path, Msg: "stopped before the items were read", Stopped: true}
		}
	}
	warnings, err := dups.Found()
	if err != nil {
		return nil, 0, nil, err
	}
	return wq, n, warnings, nil
}

// isFinding reports whether err is a problem with the user's input (exit
// 1) rather than a failure to read or write (exit 2).
func isFinding(err error) bool {
	var es position.Errors
	var e *position.Error
	var le *workqueue.LimitError
	return errors.As(err, &es) || errors.As(err, &e) || errors.As(err, &le) && !le.Stopped
}

// specError prints a spec's problems one per line, as compilers do, and
// returns the error that sets the exit code.
func specError(w io.Writer, err error) error {
	if isFinding(err) {
		fmt.Fprintln(w, err)
		return exitWith(exitcode.Findings)
	}
	return err
}

// queueOf names a spec's queue as the rendered Jobs do (spec.queue.name,
// or the one derived for the run), for status and retry.
func queueOf(path string) (broker.Queue, error) {
	r, err := generate.File(path)
	if err != nil {
		if isFinding(err) {
			return broker.Queue{}, findings(err)
		}
		return broker.Queue{}, err
	}
	_, work, err := r.Jobs()
	if err != nil {
		return broker.Queue{}, err
	}
	q := r.Spec.Spec.Queue
	return broker.Queue{Name: work.Annotations[generate.QueueAnnotation], Type: q.Type, DeliveryLimit: q.DeliveryLimit}, nil
}
