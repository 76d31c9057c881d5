// Package cli is the jobwq command line: one file per subcommand, each a
// constructor returning a *cobra.Command. Main returns the process exit code
// so testscript can run the whole CLI in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/exitcode"
)

// exitError carries an exit code chosen by a subcommand. Its message, if any,
// has already been printed or is printed by Main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// findings returns an error that makes Main exit 1. A nil err means the
// findings were already reported and nothing more is printed.
func findings(err error) error { return &exitError{code: exitcode.Findings, err: err} }

// exitWith returns an error that makes Main exit with code without printing.
func exitWith(code int) error { return &exitError{code: code} }

// streams are the standard streams of one CLI invocation.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// Main runs jobwq with os.Args and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr})
}

// Run runs jobwq with args and returns the exit code.
func Run(ctx context.Context, args []string, s streams) int {
	root := newRootCmd(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitcode.OK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(s.err, "jobwq: %v\n", ee.err)
		}
		return ee.code
	}
	// Anything else is a usage or I/O error: cobra's flag and argument
	// errors, unreadable files, unwritable outputs.
	fmt.Fprintf(s.err, "jobwq: %v\n", err)
	return exitcode.Usage
}

func newRootCmd(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "jobwq",
		Short: "Turn a work-queue spec into a RabbitMQ-backed Kubernetes batch run",
		Long: `jobwq turns one typed WorkQueue spec (items, worker image, parallelism) into
everything a Kubernetes work-queue batch needs: a RabbitMQ broker and its
Service, a Job that seeds the items into a durable queue, and a worker Job
whose completions equal the number of items, one pod per item.

Exit codes: 0 ok, 1 findings (invalid spec, policy violation, drift),
2 usage or I/O error.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(
		newVetCmd(),
		newBuildCmd(),
		newRenderCmd(),
		newPolicyCmd(),
		newSchemaCmd(),
		newSeedCmd(),
		newWorkCmd(),
		newStatusCmd(),
		newRunCmd(),
		newInstallCmd(),
		newImageCmd(),
		newVersionCmd(),
	)
	return root
}

// exitWithErr prints err and exits with code.
func exitWithErr(code int, err error) error { return &exitError{code: code, err: err} }
