package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/broker"
	"github.com/jobwq/jobwq/internal/exitcode"
)

const workDoc = `Take one item from a queue and run a command on it.

This is the program of each worker pod: it waits until the queue is sealed
(workers may start before the seeder finishes), takes exactly one item
(prefetch 1, and the consumer is cancelled on the first delivery), runs
COMMAND with the item on its standard input while its output streams
through, and acknowledges the item only when COMMAND exits 0.

If COMMAND fails or runs past --timeout, the item goes back to the queue; a
quorum queue dead-letters it into QUEUE.dead after its last allowed
delivery, so a poison item cannot loop forever. SIGTERM is passed on to
COMMAND (SIGKILL follows after --grace) and nothing is acknowledged after
it. A lost connection is an error, never a success: the broker hands the
item to another worker.

` + brokerEnvDoc + `

Exit status (the worker Job's podFailurePolicy relies on these):
  0  the item was processed and acknowledged
  1  COMMAND failed, timed out or was stopped; the item went back to the
     queue (or to QUEUE.dead after its last allowed delivery)
  2  usage or configuration error
  3  no item arrived within --wait: the queue was never sealed, or it
     holds nothing more to take
  4  broker error: unreachable, or the connection was lost

Examples:
  jobwq work --queue job1 -- python3 /worker.py
  jobwq work --queue job1 --wait 30s --timeout 5m -- sh -c 'read item; echo "Processing $item"'`

func newWorkCmd() *cobra.Command {
	var (
		bf   brokerFlags
		opts broker.WorkOptions
	)
	cmd := &cobra.Command{
		Use:   "work --queue QUEUE -- COMMAND [ARGS...]",
		Short: "Take one item and run a command on it (each worker pod)",
		Long:  workDoc,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 0 {
				return errors.New("put the command after --: jobwq work --queue QUEUE -- COMMAND [ARGS...]")
			}
			if opts.Queue == "" {
				return errors.New("--queue is required (or set $QUEUE)")
			}
			cfg, err := bf.config()
			if err != nil {
				return err
			}
			logf := logger(cmd.ErrOrStderr(), "work")
			opts.Command = args
			opts.Stdout = cmd.OutOrStdout()
			opts.Stderr = cmd.ErrOrStderr()
			opts.Logf = logf
			// The broker may still be starting: keep trying within --wait.
			ctx, cancel := contextWithTimeout(cmd, opts.Wait)
			conn, err := cfg.DialRetry(ctx, logf)
			cancel()
			if err != nil {
				return exitWithErr(exitcode.Broker, err)
			}
			defer conn.Close()
			err = broker.WorkOne(cmd.Context(), conn, opts)
			var we *broker.WorkError
			if errors.As(err, &we) {
				return exitWithErr(int(we.Outcome), err)
			}
			return err
		},
	}
	bf.register(cmd)
	cmd.Flags().StringVar(&opts.Queue, "queue", os.Getenv("QUEUE"), "queue to take an item from (default $QUEUE)")
	cmd.Flags().DurationVar(&opts.Wait, "wait", 10*time.Minute, "how long to wait for the seal and for an item")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", time.Hour, "how long COMMAND may run on one item (0: no limit)")
	cmd.Flags().DurationVar(&opts.Grace, "grace", 10*time.Second, "time between SIGTERM and SIGKILL when COMMAND is stopped")
	return cmd
}

// contextWithTimeout bounds cmd's context; d <= 0 means no bound.
func contextWithTimeout(cmd *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(cmd.Context())
	}
	return context.WithTimeoutCause(cmd.Context(), d, fmt.Errorf("no connection within %v", d))
}
