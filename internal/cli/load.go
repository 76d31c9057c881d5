package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/broker"
	"github.com/jobwq/jobwq/internal/exitcode"
	"github.com/jobwq/jobwq/internal/generate"
	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/workqueue"
)

// specFlags are the flags of every command that loads a spec.
type specFlags struct {
	items string
}

const itemsFlagDoc = "read the items from FILE (anywhere) instead of the spec's items or itemsFile, which the spec may then leave out"

func (f *specFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.items, "items", "", itemsFlagDoc)
	_ = cmd.MarkFlagFilename("items")
}

// load loads the spec at path, with the items the flags say.
func (f *specFlags) load(cmd *cobra.Command, path string) (*workqueue.WorkQueue, error) {
	return workqueue.LoadWith(cmd.Context(), path, workqueue.Options{Items: f.items})
}

// render loads the spec at path and renders its tree.
func (f *specFlags) render(cmd *cobra.Command, path string) (*generate.Rendered, error) {
	w, err := f.load(cmd, path)
	if err != nil {
		return nil, err
	}
	return generate.Spec(w)
}

// loadSpec validates a spec and its items, reading them to the end.
func loadSpec(path string) (*workqueue.WorkQueue, int, error) {
	w, n, _, err := loadSpecFrom(context.Background(), path, workqueue.Options{})
	return w, n, err
}

// loadSpecFrom is loadSpec given up when ctx ends (SIGTERM), with options
// (the path workqueue.Stdin reads the spec from o.Stdin). It also returns
// warnings: items that occur more than once.
func loadSpecFrom(ctx context.Context, path string, o workqueue.Options) (*workqueue.WorkQueue, int, position.Errors, error) {
	wq, err := workqueue.LoadWith(ctx, path, o)
	if err != nil {
		return nil, 0, nil, err
	}
	dups := workqueue.NewDups(wq)
	n := 0
	for it, err := range wq.Items() {
		var bad *position.Error
		if errors.As(err, &bad) {
			// Every bad line, not only the first that ends the stream.
			if all, err := wq.ItemProblems(); err == nil && len(all) > 0 {
				return nil, 0, nil, all
			}
		}
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
// or the one derived for the run), for status and retry, whose --items
// specFlags registers.
func queueOf(cmd *cobra.Command, path string) (broker.Queue, error) {
	items, _ := cmd.Flags().GetString("items")
	f := specFlags{items: items}
	r, err := f.render(cmd, path)
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
