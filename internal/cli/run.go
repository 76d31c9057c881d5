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
	"github.com/jobwq/jobwq/internal/generate"
	"github.com/jobwq/jobwq/internal/itemcmd"
	"github.com/jobwq/jobwq/internal/localrun"
	"github.com/jobwq/jobwq/internal/podcli"
)

const runDoc = `Run a whole WorkQueue on this machine against a local broker.

run --local does what the seeding and worker Jobs do in a cluster, with the
very arguments and environment the rendered Jobs give their containers: it
seeds the spec's items into the queue, then runs the worker command as
local processes (each one 'jobwq work', taking one item), parallelism at a
time, until every item has succeeded. Failed items come back and are tried
again, up to the spec's backoffLimit of failed workers, as the worker Job
would. Use it to try a worker before building an image.

The command runs as the spec gives it, so it must exist on this machine:
it is checked before anything is seeded. spec.worker.env values are set;
valueFrom entries cannot be resolved here and are taken from this
environment if present. --queue replaces the spec's queue, so that people
sharing a broker do not share a run.

A run whose items are all done already ends at once (the ledger says so);
--reset deletes the queue and its companions and starts over.

` + podcli.BrokerEnvDoc + `

Exit status: 0 when every item succeeded, 1 when the run failed (too many
failed workers, items dead-lettered, a queue seeded with other items), 2
usage error (the command cannot be started, a bad spec), 4 broker error.

Examples:
  jobwq run --local examples/fruits-local
  jobwq run --local examples/fruits-local --queue fruits-$USER --reset`

func newRunCmd() *cobra.Command {
	var (
		bf      podcli.BrokerFlags
		local   bool
		reset   bool
		queue   string
		variant string
		sf      specFlags
	)
	cmd := &cobra.Command{
		Use:   "run --local SPEC",
		Short: "Run a whole spec on this machine: seed, then the workers",
		Long:  runDoc,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !local {
				return errors.New("only --local runs exist: apply the built tree with kubectl for a cluster")
			}
			if variant != "queue" && variant != "indexed" {
				return fmt.Errorf("--variant %q: want queue or indexed", variant)
			}
			w, err := sf.load(cmd, args[0])
			if err != nil {
				return specError(cmd.ErrOrStderr(), err)
			}
			if cmd.Flags().Changed("queue") {
				if err := broker.ValidateName(queue); err != nil {
					return fmt.Errorf("--queue: %w", err)
				}
				w.Spec.Queue.Name = queue
			}
			// Before the seeder: a typo must not leave a seeded queue.
			if err := itemcmd.Check(w.Spec.Worker.Command); err != nil {
				return fmt.Errorf("spec.worker.command: %w; nothing was seeded", err)
			}
			r, err := generate.Spec(w)
			if err != nil {
				return specError(cmd.ErrOrStderr(), err)
			}
			if variant == "indexed" {
				return runIndexed(cmd, r)
			}
			seedJob, workJob, err := r.Jobs()
			if err != nil {
				return err
			}
			cfg, err := bf.Config()
			if err != nil {
				return err
			}
			logf := podcli.Logger(cmd.ErrOrStderr(), "run")
			if reset {
				if err := resetQueue(cfg, workJob.Annotations[generate.QueueAnnotation]); err != nil {
					return err
				}
			}
			self, itemsDir, cleanup, err := localPods(r)
			if err != nil {
				return err
			}
			defer cleanup()
			opts := localrun.Options{
				Self:      self,
				BrokerURL: cfg.URL(),
				Volumes:   map[string]string{"items": itemsDir},
				Env:       os.Environ(),
				Stdout:    cmd.OutOrStdout(),
				Stderr:    cmd.ErrOrStderr(),
				Logf:      logf,
			}
			start := time.Now()
			if err := localrun.Seed(cmd.Context(), seedJob, opts); err != nil {
				return runFailure(err, " (--reset starts over)")
			}
			// A finished run re-run: one look at the ledger, rather than
			// parallelism workers each reading it to find the same.
			queue := workJob.Annotations[generate.QueueAnnotation]
			if st, err := queueStatus(cmd.Context(), cfg, queue); err != nil {
				return err
			} else if st.Complete() {
				logf("the run is complete already: all %d items of %s are done; no worker started (--reset starts over)", st.Total, queue)
				return nil
			}
			sum, err := localrun.Work(cmd.Context(), workJob, opts)
			logf("%d of %d items succeeded, %d failed attempts, in %v", sum.Succeeded, r.Items.Count, sum.Failed, time.Since(start).Round(time.Millisecond))
			return runFailure(err, "")
		},
	}
	bf.Register(cmd)
	sf.register(cmd)
	cmd.Flags().BoolVar(&local, "local", false, "run on this machine (required)")
	cmd.Flags().BoolVar(&reset, "reset", false, "delete the run's queue and its companions first")
	cmd.Flags().StringVar(&queue, "queue", "", "queue to run in, instead of the spec's")
	cmd.Flags().StringVar(&variant, "variant", "queue", "queue (seed a broker, then workers) or indexed (an Indexed Job's pods, no broker)")
	return cmd
}

// runIndexed runs the indexed variant's pods on this machine.
func runIndexed(cmd *cobra.Command, r *generate.Rendered) error {
	job, err := r.IndexedJob()
	if err != nil {
		return err
	}
	self, itemsDir, cleanup, err := localPods(r)
	if err != nil {
		return err
	}
	defer cleanup()
	logf := podcli.Logger(cmd.ErrOrStderr(), "run")
	start := time.Now()
	sum, err := localrun.Indexed(cmd.Context(), job, localrun.Options{
		Self:    self,
		Volumes: map[string]string{"items": itemsDir},
		Env:     os.Environ(),
		Stdout:  cmd.OutOrStdout(),
		Stderr:  cmd.ErrOrStderr(),
		Logf:    logf,
	})
	logf("%d of %d indexes succeeded, %d failed attempts, in %v", sum.Succeeded, *job.Spec.Completions, sum.Failed, time.Since(start).Round(time.Millisecond))
	if len(sum.FailedIndexes) > 0 {
		logf("the failed items: jobwq items %s --index %s", r.Spec.Path, localrun.IndexList(sum.FailedIndexes))
	}
	return runFailure(err, "")
}

// localPods prepares what the local pods need: this executable (the jobwq
// their containers run) and a directory holding the item chunk files their
// items volume would mount; cleanup removes the directory.
func localPods(r *generate.Rendered) (self, itemsDir string, cleanup func(), err error) {
	self, err = os.Executable()
	if err != nil {
		return "", "", nil, fmt.Errorf("find own executable: %w", err)
	}
	itemsDir, err = os.MkdirTemp("", "jobwq-run-items-")
	if err != nil {
		return "", "", nil, err
	}
	cleanup = func() { os.RemoveAll(itemsDir) }
	if err := r.WriteItems(itemsDir); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return self, itemsDir, cleanup, nil
}

// runFailure gives a failed local run its exit status.
func runFailure(err error, hint string) error {
	var f *localrun.Failure
	if errors.As(err, &f) {
		return exitWithErr(f.Code, fmt.Errorf("%w%s", err, hint))
	}
	return err
}

// queueStatus is a queue's status, as jobwq status shows it.
func queueStatus(ctx context.Context, cfg broker.Config, queue string) (broker.QueueStatus, error) {
	conn, err := cfg.Dial()
	if err != nil {
		return broker.QueueStatus{}, exitWithErr(exitcode.Broker, err)
	}
	defer broker.CloseConn(conn)
	st, err := broker.Status(ctx, conn, queue)
	if err != nil {
		return st, exitWithErr(exitcode.Broker, err)
	}
	return st, nil
}

// resetQueue deletes a queue and its companions.
func resetQueue(cfg broker.Config, queue string) error {
	if queue == "" {
		return errors.New("the rendered worker Job does not name its queue")
	}
	conn, err := cfg.Dial()
	if err != nil {
		return exitWithErr(exitcode.Broker, err)
	}
	defer broker.CloseConn(conn)
	if err := broker.Reset(conn, queue); err != nil {
		return exitWithErr(exitcode.Broker, err)
	}
	return nil
}
