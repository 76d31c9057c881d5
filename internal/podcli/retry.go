package podcli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/broker"
)

const retryDoc = `Put a run's dead-lettered items back into its queue, exactly once.

Each item in QUEUE.dead moves back into QUEUE with no deliveries counted,
in transactions the broker applies whole or not at all: stop it at any
point and run it again, and no item is lost or doubled. It holds the
queue's seeding lock while it works.

The items then need workers: the worker Job that failed on them has
ended, so start a new one (delete it and apply the overlay again; its name
is unchanged, the items are not re-seeded, and workers that find the run
complete exit at once).

` + BrokerEnvDoc + `

` + inClusterDoc + `

Exit status: 0 moved (or nothing to move), 1 the spec is invalid, 2 usage
error, 4 broker error.

Examples:
  jobwq retry examples/fruits
  jobwq retry --queue job1`

func newRetryCmd(ro Options) *cobra.Command {
	var (
		bf    BrokerFlags
		queue string
	)
	cmd := &cobra.Command{
		Use:   "retry [SPEC] [--queue QUEUE]",
		Short: "Put a run's dead-lettered items back into its queue, exactly once",
		Long:  retryDoc,
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
			logf := Logger(cmd.ErrOrStderr(), "retry")
			n, err := broker.Retry(cmd.Context(), conn, q, logf)
			if err != nil {
				return brokerError(fmt.Errorf("%w (%d items were moved back before it)", err, n))
			}
			if n == 0 {
				logf("%s holds no items: nothing to retry", q.Name+broker.DeadSuffix)
				return nil
			}
			logf("moved %d dead-lettered items back into %s; start a worker Job to process them", n, q.Name)
			return nil
		},
	}
	bf.Register(cmd)
	if ro.SpecFlags != nil {
		ro.SpecFlags(cmd)
	}
	cmd.Flags().StringVar(&queue, "queue", os.Getenv("QUEUE"), "queue whose dead items to retry (default $QUEUE, or the spec's)")
	return cmd
}
