// Package podcli is the part of the jobwq command line that runs inside
// the pods: seed, work, status, retry, install and version. It is the
// whole of cmd/jobwq-runner, the small binary of the runner image, which
// links no CUE evaluator, kustomize or Kubernetes API machinery and so
// starts fast enough for one process per item. The full jobwq CLI
// (internal/cli) carries the same commands and adds the spec-aware ones.
package podcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/broker"
	"github.com/jobwq/jobwq/internal/exitcode"
)

// Options tie the runner's commands to the CLI that carries them.
type Options struct {
	// QueueOf names the queue of a spec, for status and retry given a SPEC
	// rather than --queue; cmd is the command, with the flags SpecFlags
	// registered. The runner binary reads no specs: nil there.
	QueueOf func(cmd *cobra.Command, spec string) (broker.Queue, error)
	// SpecFlags registers the flags of a command that reads a spec (the
	// CLI's --items) on status and retry; nil: none.
	SpecFlags func(cmd *cobra.Command)
}

// Commands are the runner's subcommands.
func Commands(opts Options) []*cobra.Command {
	return []*cobra.Command{
		newSeedCmd(),
		newWorkCmd(),
		newStatusCmd(opts),
		newRetryCmd(opts),
		newInstallCmd(),
		newVersionCmd(),
	}
}

// Main runs the runner binary with os.Args and returns its exit status.
func Main() int {
	if len(os.Args) > 1 && os.Args[1] == "work" && os.Getenv("GOMAXPROCS") == "" {
		// A worker waits on the broker and on its command, another
		// process; a second P only adds threads and wakeups, which cost a
		// one-item worker half a millisecond on a busy node.
		runtime.GOMAXPROCS(1)
	}
	root := &cobra.Command{
		Use:   "jobwq",
		Short: "The jobwq runner: the programs in the seeding and worker pods",
		Long: `The jobwq runner is what the runner image holds: the seeder of the seeding
Job, the one-item worker that the worker pods run (installed into them by
an init container), and status and retry for a run's queue. It reads no
specs; the full jobwq command has these commands and the rest.

Exit codes: 0 ok, 1 findings or a failed item, 2 usage or I/O error,
3 no item to take, 4 broker error.`,
	}
	root.AddCommand(Commands(Options{})...)
	return Execute(root, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// Execute runs root with args until SIGTERM or SIGINT and returns the exit
// status. Errors reach the user once, as "jobwq: message".
func Execute(root *cobra.Command, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root.SilenceErrors, root.SilenceUsage = true, true
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())
	})
	err := root.ExecuteContext(ctx)
	var e *exitcode.Error
	if err != nil && (!errors.As(err, &e) || e.Err != nil) {
		fmt.Fprintf(stderr, "jobwq: %v\n", err)
	}
	return exitcode.Of(err)
}

// brokerError ends a command on a broker failure: exit 4, or 2 when the
// broker refused how it was asked (which retrying cannot fix).
func brokerError(err error) error {
	var u *broker.UsageError
	if errors.As(err, &u) {
		return exitcode.With(exitcode.Usage, err)
	}
	return exitcode.With(exitcode.Broker, err)
}

// Logger prefixes every line with the command, for pod logs.
func Logger(w io.Writer, name string) func(format string, args ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(w, "jobwq %s: %s\n", name, fmt.Sprintf(format, args...))
	}
}

// contextWithTimeout bounds cmd's context; d <= 0 means no bound.
func contextWithTimeout(cmd *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(cmd.Context())
	}
	return context.WithTimeoutCause(cmd.Context(), d, fmt.Errorf("no connection within %v", d))
}
