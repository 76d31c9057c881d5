// Package exitcode is jobwq's one table of exit statuses. The CLI exits
// with them, the programs in the pods (seed, work) end with them, and the
// rendered Jobs' podFailurePolicy reads them: a Job fails at once on a
// status that retrying cannot fix. The templates are handed the lists
// below, so the three can never disagree.
package exitcode

import (
	"errors"
	"fmt"
)

const (
	// OK: success. For work, the item was processed and acknowledged.
	OK = 0
	// Findings: the input has problems (an invalid spec, a policy
	// violation, drift). For seed, the queue holds another item set.
	Findings = 1
	// Failed: for work, the command failed, timed out or was stopped; the
	// item went back to the queue. Another worker may succeed.
	Failed = 1
	// Usage: bad flags, arguments or configuration, or an I/O error.
	Usage = 2
	// NoItem: for work, no item arrived in time: the queue was never
	// sealed, or it holds nothing more to take.
	NoItem = 3
	// Broker: the broker could not be reached or the connection was lost;
	// an item that was taken goes back to the queue.
	Broker = 4
)

// SeedFatal are the seeder's statuses that retrying cannot fix: the queue
// holds another run's items, or the seeder is misconfigured.
var SeedFatal = []int{Findings, Usage}

// WorkFatal are the worker's statuses that retrying cannot fix: it is
// misconfigured, or the queue cannot supply the remaining completions.
var WorkFatal = []int{Usage, NoItem}

// An Error ends a command with a chosen exit status. Err, when not nil, is
// what the user is told (once); a nil Err means it was reported already.
type Error struct {
	Code int
	Err  error
}

// With ends a command with code, telling the user err (if not nil).
func With(code int, err error) error { return &Error{Code: code, Err: err} }

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Of is the exit status err calls for: OK for nil, an *Error's code, and
// Usage for anything else (unreadable files, bad flags).
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Usage
}
