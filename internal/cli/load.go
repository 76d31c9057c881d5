package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/jobwq/jobwq/internal/render"
	"github.com/jobwq/jobwq/internal/spec"
)

// loadSpec validates a spec and its items.
func loadSpec(path string) (*spec.WorkQueue, *render.ItemSet, error) {
	wq, err := spec.Load(path)
	if err != nil {
		return nil, nil, err
	}
	items, err := render.CollectItems(wq)
	if err != nil {
		return nil, nil, err
	}
	return wq, items, nil
}

// isFinding reports whether err is a problem with the user's spec (exit 1)
// rather than a failure to read or write (exit 2).
func isFinding(err error) bool {
	var es spec.Errors
	var e *spec.Error
	return errors.As(err, &es) || errors.As(err, &e)
}

// specError prints a spec's problems one per line, as compilers do, and
// returns the error that sets the exit code.
func specError(w io.Writer, err error) error {
	if isFinding(err) {
		fmt.Fprintln(w, err)
		return exitWith(ExitFindings)
	}
	return err
}
