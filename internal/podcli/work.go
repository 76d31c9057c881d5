package podcli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/broker"
	"github.com/jobwq/jobwq/internal/exitcode"
	"github.com/jobwq/jobwq/internal/itemcmd"
)

const workDoc = `Take one item from a queue and run a command on it.

This is the program of each worker pod: it waits until the queue is sealed
(workers may start before the seeder finishes), takes exactly one item
(prefetch 1, and the consumer is cancelled on the first delivery), runs
COMMAND with the item on its standard input while its output streams
through, records the item in the run's ledger (QUEUE.done) and only then
acknowledges it, when COMMAND exits 0.

COMMAND is checked before anything is taken: one that is not on PATH or
not executable is exit 2, and no item pays a delivery for it. It runs
without the broker's settings and credentials in its environment (every
BROKER_* and JOBWQ_* variable is removed), and with HOME set to a writable
directory when it has none (a read-only root, a numeric user).

If COMMAND fails or runs past --timeout, the item goes back to the queue; a
quorum queue dead-letters it into QUEUE.dead after its last allowed
delivery, so a poison item cannot loop forever. SIGTERM is passed on to
COMMAND (SIGKILL follows after --grace) and nothing is acknowledged after
it: the item goes back to the queue as a new message, so a stop
(preemption, eviction, a node drain) does not count as one of its
deliveries. A lost connection is an error, never a success: the broker hands the
item to another worker.

A worker that finds nothing to take reads the ledger: when every item is
done, the run is complete and it exits 0 at once (a replacement for a
worker killed after its acknowledgement, or a Job applied again after the
run finished); when the items not done were all dead-lettered, it exits 3
naming them; otherwise other workers hold items, and it waits for one to
come back, up to --wait.

` + BrokerEnvDoc + `

Exit status (the worker Job's podFailurePolicy relies on these):
  0  the item was processed and acknowledged, or the run is complete
  1  COMMAND failed, timed out or was stopped; the item went back to the
     queue (or to QUEUE.dead after its last allowed delivery; a stopped
     one as a new message, uncounted)
  2  usage or configuration error: COMMAND cannot be started, bad flags;
     no item was taken
  3  no item to take and the run cannot complete: items were
     dead-lettered, the queue was never sealed, or items held by other
     workers did not come back within --wait
  4  broker error: unreachable, or the connection was lost

With --items-per-pod N a worker takes up to N items one after another,
acknowledging each; a failed item ends it (exit 1), and the items it
finished stay done.

With --index it is a pod of an Indexed Job (the indexed variant): no
broker, no queue. It reads the items of its completion index
($JOB_COMPLETION_INDEX, times --items-per-pod) from the mounted chunks in
--items, reading only the chunks that hold them, and runs COMMAND on each
in turn, exactly as above (stdin, --timeout, SIGTERM, the environment). A
failed item is exit 1: the index fails, and when Kubernetes retries it
(backoffLimitPerIndex) all the index's items run again, so COMMAND must
tolerate a repeat.

Examples:
  jobwq work --queue job1 -- python3 /worker.py
  JOB_COMPLETION_INDEX=3 jobwq work --index --items /items --items-per-pod 10 -- python3 /worker.py
  jobwq work --queue job1 --wait 30s --timeout 5m -- sh -c 'read item; echo "Processing $item"'`

func newWorkCmd() *cobra.Command {
	var (
		bf       BrokerFlags
		opts     broker.WorkOptions
		indexed  bool
		itemsDir string
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
			if opts.PerPod < 1 {
				return fmt.Errorf("--items-per-pod %d: want at least 1", opts.PerPod)
			}
			if indexed {
				if itemsDir == "" {
					return errors.New("--index needs --items DIR, the mounted item chunks")
				}
				if err := itemcmd.Check(args); err != nil {
					return fmt.Errorf("%w; no item was run", err)
				}
				if opts.Timeout < 0 || opts.Grace <= 0 {
					return errors.New("--timeout and --grace: want positive durations (--timeout 0: none)")
				}
				run := itemcmd.Options{Env: itemcmd.Env(os.Environ()), Timeout: opts.Timeout, Grace: opts.Grace}
				return indexedWork(cmd.Context(), itemsDir, opts.PerPod, args, run, Logger(cmd.ErrOrStderr(), "work"), cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			if err := broker.ValidateName(opts.Queue); err != nil {
				return fmt.Errorf("--queue: %w (or set $QUEUE)", err)
			}
			for _, d := range []struct {
				flag string
				d    time.Duration
			}{{"--wait", opts.Wait}, {"--grace", opts.Grace}} {
				if d.d <= 0 {
					return fmt.Errorf("%s %v: want a positive duration", d.flag, d.d)
				}
			}
			if opts.Timeout < 0 {
				return fmt.Errorf("--timeout %v: want a positive duration, or 0 for none", opts.Timeout)
			}
			if opts.DeliveryLimit < 0 {
				return fmt.Errorf("--delivery-limit %d: want 0 (unknown) or more", opts.DeliveryLimit)
			}
			opts.Command = args
			// Before anything else: a typo must not cost an item.
			if err := itemcmd.Check(opts.Command); err != nil {
				return fmt.Errorf("%w; no item was taken", err)
			}
			cfg, err := bf.Config()
			if err != nil {
				return err
			}
			logf := Logger(cmd.ErrOrStderr(), "work")
			// Finding a writable HOME touches the file system: done while
			// the connection is made.
			env := make(chan []string, 1)
			go func() { env <- itemcmd.Env(os.Environ()) }()
			opts.Stdout = cmd.OutOrStdout()
			opts.Stderr = cmd.ErrOrStderr()
			opts.Logf = logf
			// The broker may still be starting: keep trying within --wait.
			ctx, cancel := contextWithTimeout(cmd, opts.Wait)
			conn, err := cfg.DialRetry(ctx, logf)
			cancel()
			if err != nil {
				if cmd.Context().Err() != nil {
					return exitcode.With(exitcode.Failed, fmt.Errorf("stopped while connecting: %w", err))
				}
				return brokerError(err)
			}
			defer broker.CloseConn(conn)
			opts.Env = <-env
			err = broker.Work(cmd.Context(), conn, opts)
			var we *broker.WorkError
			if errors.As(err, &we) {
				return exitcode.With(int(we.Outcome), err)
			}
			return err
		},
	}
	bf.Register(cmd)
	cmd.Flags().StringVar(&opts.Queue, "queue", os.Getenv("QUEUE"), "queue to take an item from (default $QUEUE)")
	cmd.Flags().IntVar(&opts.DeliveryLimit, "delivery-limit", 0, "the queue's delivery limit, for saying when an item is dead-lettered (0: unknown)")
	cmd.Flags().DurationVar(&opts.Wait, "wait", 10*time.Minute, "how long to wait for the seal and for an item")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", time.Hour, "how long COMMAND may run on one item (0: no limit)")
	cmd.Flags().DurationVar(&opts.Grace, "grace", 10*time.Second, "time between SIGTERM and SIGKILL when COMMAND is stopped")
	cmd.Flags().IntVar(&opts.PerPod, "items-per-pod", 1, "items to take, one after another, before exiting")
	cmd.Flags().BoolVar(&indexed, "index", false, "an Indexed Job's pod: run the items of $"+IndexEnv+" from --items, without a broker")
	cmd.Flags().StringVar(&itemsDir, "items", "", "with --index: the directory of mounted item chunks")
	return cmd
}
