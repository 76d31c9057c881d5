// Package cli is the jobwq command line: one file per subcommand, each a
// constructor returning a *cobra.Command. Main returns the process exit code
// so testscript can run the whole CLI in-process.
package cli

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/exitcode"
	"github.com/jobwq/jobwq/internal/podcli"
)

// findings ends a command with exit status 1, telling the user err (nil:
// the findings were reported already).
func findings(err error) error { return exitcode.With(exitcode.Findings, err) }

// exitWith ends a command with code; the problem was reported already.
func exitWith(code int) error { return exitcode.With(code, nil) }

// exitWithErr ends a command with code, telling the user err.
func exitWithErr(code int, err error) error { return exitcode.With(code, err) }

// streams are the standard streams of one CLI invocation.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// Main runs jobwq with os.Args and returns the exit code.
func Main() int {
	return Run(os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr})
}

// Run runs jobwq with args and returns the exit code; SIGTERM and SIGINT
// cancel the command's context.
func Run(args []string, s streams) int {
	return podcli.Execute(newRootCmd(), args, s.in, s.out, s.err)
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "jobwq",
		Short: "Turn a work-queue spec into a RabbitMQ-backed Kubernetes batch run",
		Long: `jobwq turns one typed WorkQueue spec (items, worker image, parallelism) into
everything a Kubernetes work-queue batch needs: a RabbitMQ broker and its
Service, a Job that seeds the items into a durable queue, and a worker Job
whose completions equal the number of items, one pod per item.

Exit codes: 0 ok, 1 findings (invalid spec, policy violation, drift),
2 usage or I/O error.`,
	}
	root.AddCommand(
		newInitCmd(),
		newVetCmd(),
		newBuildCmd(),
		newRenderCmd(),
		newPolicyCmd(),
		newSchemaCmd(),
		newRunCmd(),
		newItemsCmd(),
		newImageCmd(),
	)
	// The commands of the pods, which the runner binary has too.
	root.AddCommand(podcli.Commands(podcli.Options{
		QueueOf:   queueOf,
		SpecFlags: func(cmd *cobra.Command) { new(specFlags).register(cmd) },
	})...)
	return root
}
