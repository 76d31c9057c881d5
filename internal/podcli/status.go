package podcli

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/broker"
	"github.com/jobwq/jobwq/internal/exitcode"
)

// inClusterDoc says how to reach a run's broker from a laptop.
const inClusterDoc = `To look at a broker running in the cluster, forward its port and take the
credentials from its Secret (names from the spec: <name>-broker by
default):

  kubectl -n NS port-forward svc/NAME-broker 5672:5672 &
  export BROKER_USERNAME=$(kubectl -n NS get secret NAME-broker -o jsonpath='{.data.username}' | base64 -d)
  export BROKER_PASSWORD=$(kubectl -n NS get secret NAME-broker -o jsonpath='{.data.password}' | base64 -d)
  export BROKER_HOST=127.0.0.1`

const statusDoc = `Show a run's queue: sealed or not, and of its items how many are done,
ready, held by workers right now (in flight) and dead-lettered, with the
dead ones listed by content.

The queue is the spec's (its spec.queue.name, or the one jobwq build
derives for the run), or --queue (with a SPEC: the queue a run --local
SPEC --queue QUEUE used). Nothing is changed. "done" counts the
distinct items in the run's ledger (QUEUE.done); "in flight" is what is
neither done, ready nor dead.

` + BrokerEnvDoc + `

` + inClusterDoc + `

Exit status: 0 shown, 1 the spec is invalid, 2 usage error, 4 broker error.

Examples:
  jobwq status examples/fruits
  jobwq status examples/fruits-local --queue fruits-$USER
  jobwq status --queue job1 --json`

func newStatusCmd(ro Options) *cobra.Command {
	var (
		bf     BrokerFlags
		queue  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status [SPEC] [--queue QUEUE]",
		Short: "Show a run's queue: done, ready, in flight, dead-lettered",
		Long:  statusDoc,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := queueFor(cmd, ro, args, queue)
			if err != nil {
				return err
			}
			conn, err := bf.Dial()
			if err != nil {
				return err
			}
			defer broker.CloseConn(conn)
			ctx, cancel := contextWithTimeout(cmd, time.Minute)
			defer cancel()
			st, err := broker.Status(ctx, conn, q.Name)
			if err != nil {
				return brokerError(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "queue\t%s\n", st.Queue)
			switch {
			case !st.Exists:
				fmt.Fprintf(w, "state\tnot declared\n")
			case st.Complete():
				fmt.Fprintf(w, "state\tcomplete: all %d items done\n", st.Total)
			case st.Sealed:
				fmt.Fprintf(w, "state\tsealed: %d items seeded (%s)\n", st.Total, st.Digest)
			case st.Seeding:
				fmt.Fprintf(w, "state\tseeding\n")
			default:
				fmt.Fprintf(w, "state\tnot sealed: seeding has not finished\n")
			}
			if st.Sealed {
				fmt.Fprintf(w, "done\t%d\n", st.Done)
			}
			fmt.Fprintf(w, "ready\t%d\n", st.Ready)
			if st.Sealed {
				fmt.Fprintf(w, "in flight\t%d\n", st.InFlight)
			}
			fmt.Fprintf(w, "dead\t%d (%s)\n", st.Dead, st.Queue+broker.DeadSuffix)
			fmt.Fprintf(w, "consumers\t%d\n", st.Consumers)
			if err := w.Flush(); err != nil {
				return err
			}
			for _, it := range st.DeadItems {
				fmt.Fprintf(out, "dead item: %s\n", quoteItem(it))
			}
			if more := st.Dead - len(st.DeadItems); more > 0 {
				fmt.Fprintf(out, "dead items: %d more (jobwq retry puts them all back)\n", more)
			}
			return nil
		},
	}
	bf.Register(cmd)
	if ro.SpecFlags != nil {
		ro.SpecFlags(cmd)
	}
	cmd.Flags().StringVar(&queue, "queue", os.Getenv("QUEUE"), "queue to inspect (default $QUEUE, or the spec's)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// quoteItem shows an item on one line, escaped where it must be.
func quoteItem(s string) string {
	const max = 200
	if len(s) > max {
		return fmt.Sprintf("%q… (%d bytes)", s[:max], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// queueFor is the queue a command works on: the spec's when one is given,
// else the --queue flag's (or $QUEUE). Both: the spec's queue settings,
// under the name --queue gives, as run --local SPEC --queue Q uses it.
func queueFor(cmd *cobra.Command, ro Options, args []string, queue string) (broker.Queue, error) {
	queueSet := cmd.Flags().Changed("queue")
	switch {
	case len(args) == 1 && ro.QueueOf == nil:
		return broker.Queue{}, fmt.Errorf("this jobwq reads no specs (it is the runner): use --queue, or the full jobwq for %s", args[0])
	case len(args) == 1 && queueSet:
		if err := broker.ValidateName(queue); err != nil {
			return broker.Queue{}, exitcode.With(exitcode.Usage, fmt.Errorf("--queue: %w", err))
		}
		q, err := ro.QueueOf(cmd, args[0])
		if err != nil {
			return broker.Queue{}, err
		}
		q.Name = queue
		return q, nil
	case len(args) == 1:
		return ro.QueueOf(cmd, args[0])
	}
	if err := broker.ValidateName(queue); err != nil {
		return broker.Queue{}, exitcode.With(exitcode.Usage, fmt.Errorf("give a SPEC or --queue: %w", err))
	}
	return broker.Queue{Name: queue}, nil
}
