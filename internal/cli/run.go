package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/broker"
	"github.com/jobwq/jobwq/internal/render"
)

const runDoc = `Run a whole WorkQueue on this machine against a local broker.

run --local does what the seeding and worker Jobs do in a cluster: it
seeds the spec's items into the queue, then runs the worker command as
local processes (each one 'jobwq work', taking one item), parallelism at a
time, until every item has succeeded. Failed items come back and are tried
again, up to the spec's backoffLimit of failed workers, as the worker Job
would. Use it to try a worker before building an image.

The command runs as the spec gives it, so it must exist on this machine.
spec.worker.env values are set; valueFrom entries cannot be resolved here
and are taken from this environment if present.

` + brokerEnvDoc + `

Exit status: 0 when every item succeeded, 1 when the run failed (too many
failed workers, items dead-lettered, a refused queue), 2 usage error, 4
broker error.

Examples:
  jobwq run --local examples/fruits
  jobwq run --local examples/fruits --reset`

func newRunCmd() *cobra.Command {
	var (
		bf    brokerFlags
		local bool
		reset bool
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
			r, err := render.File(args[0])
			if err != nil {
				return specError(cmd.ErrOrStderr(), err)
			}
			cfg, err := bf.config()
			if err != nil {
				return err
			}
			logf := logger(cmd.ErrOrStderr(), "run")
			runID, err := render.RunID(r.Spec, r.Items)
			if err != nil {
				return err
			}
			w := r.Spec
			q := broker.Queue{Name: render.QueueName(w, runID), Type: w.Spec.Queue.Type, DeliveryLimit: w.Spec.Queue.DeliveryLimit}

			conn, err := cfg.Dial()
			if err != nil {
				return exitWithErr(int(broker.BrokerError), err)
			}
			defer conn.Close()
			if reset {
				if err := broker.Reset(conn, q.Name); err != nil {
					return exitWithErr(int(broker.BrokerError), err)
				}
			}
			items := &broker.Items{Digest: r.Items.Digest, Count: r.Items.Count, Each: func(fn func(string) error) error {
				for it, err := range w.Items() {
					if err != nil {
						return err
					}
					if err := fn(it); err != nil {
						return err
					}
				}
				return nil
			}}
			start := time.Now()
			res, err := broker.Seed(cmd.Context(), conn, broker.SeedOptions{Queue: q, Items: items, Logf: logf})
			var refused *broker.RefusedError
			switch {
			case errors.As(err, &refused):
				return findings(fmt.Errorf("%w (or pass --reset)", err))
			case err != nil:
				return exitWithErr(int(broker.BrokerError), err)
			case res.AlreadySealed:
				logf("%s was already seeded with these items; running what is left (--reset starts over)", q.Name)
			default:
				logf("seeded %d items into %s", res.Published, q.Name)
			}
			conn.Close()

			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find own executable: %w", err)
			}
			env := append(os.Environ(), broker.EnvURL+"="+cfg.URL())
			for _, e := range w.Spec.Worker.Env {
				if e.Value != nil {
					env = append(env, e.Name+"="+*e.Value)
				} else if _, ok := os.LookupEnv(e.Name); !ok {
					logf("spec.worker.env %s comes from valueFrom, which cannot be resolved here; set it in the environment", e.Name)
				}
			}
			wargs := []string{"work", "--queue", q.Name,
				"--wait", w.Spec.Worker.Wait.String(), "--timeout", w.Spec.Worker.Timeout.String(), "--"}
			wargs = append(wargs, w.Spec.Worker.Command...)
			newWorker := func() *exec.Cmd {
				c := exec.CommandContext(cmd.Context(), self)
				// argv[0] names the command, so a multi-call test binary
				// dispatches it too.
				c.Args = append([]string{"jobwq"}, wargs...)
				c.Env = env
				c.Stdout = cmd.OutOrStdout()
				c.Stderr = cmd.ErrOrStderr()
				return c
			}
			sum, err := runWorkers(newWorker, r.Items.Count, w.Spec.Worker.Parallelism, w.Spec.Worker.BackoffLimit)
			logf("%d of %d items succeeded, %d failed attempts, in %v", sum.succeeded, r.Items.Count, sum.failed, time.Since(start).Round(time.Millisecond))
			return err
		},
	}
	bf.register(cmd)
	cmd.Flags().BoolVar(&local, "local", false, "run on this machine (required)")
	cmd.Flags().BoolVar(&reset, "reset", false, "delete the run's queue and its companions first")
	return cmd
}

type runSummary struct{ succeeded, failed int }

// runWorkers keeps up to parallelism workers running until completions
// have succeeded, as the Job controller does for a NonIndexed Job.
func runWorkers(newWorker func() *exec.Cmd, completions, parallelism, backoffLimit int) (runSummary, error) {
	type result struct{ code int }
	results := make(chan result)
	var sum runSummary
	active := 0
	var stop error
	start := func() error {
		c := newWorker()
		if err := c.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		active++
		go func() {
			err := c.Wait()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				code = int(broker.BrokerError)
			}
			results <- result{code}
		}()
		return nil
	}
	for {
		for stop == nil && active < parallelism && sum.succeeded+active < completions {
			if err := start(); err != nil {
				stop = err
			}
		}
		if active == 0 {
			break
		}
		res := <-results
		active--
		switch broker.Outcome(res.code) {
		case broker.Done:
			sum.succeeded++
		case broker.Failed:
			sum.failed++
			if sum.failed > backoffLimit && stop == nil {
				stop = findings(fmt.Errorf("%d workers failed, more than backoffLimit %d", sum.failed, backoffLimit))
			}
		case broker.NoItem:
			if stop == nil {
				stop = findings(fmt.Errorf("a worker found no item with %d of %d done: items were dead-lettered or are stuck", sum.succeeded, completions))
			}
		default:
			if stop == nil {
				stop = exitWithErr(res.code, fmt.Errorf("a worker exited with status %d", res.code))
			}
		}
	}
	if stop == nil && sum.succeeded < completions {
		stop = findings(fmt.Errorf("only %d of %d items succeeded", sum.succeeded, completions))
	}
	return sum, stop
}
