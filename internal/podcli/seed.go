package podcli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/jobwq/jobwq/internal/broker"
	"github.com/jobwq/jobwq/internal/exitcode"
	"github.com/jobwq/jobwq/internal/items"
)

const seedDoc = `Load items into a durable queue, exactly once.

This is the program of the seeding Job. --items is a file with one item per
line, "-" for standard input, or a directory of such files taken in name
order (the seeding pod's items volume). Items are published persistent and
mandatory over one connection with a window of outstanding publisher
confirms, each numbered for the run's ledger (QUEUE.done, a stream in which
workers record the items they finished); after the last confirm the queue
depth is checked and the queue is sealed, and only then do workers start
taking items.

Run it again after a failure at any point and each item ends up in the queue
exactly once; run it again after success and it adds nothing. A queue sealed
with a different item set is refused.

` + BrokerEnvDoc + `

With --digest (the seeding Job passes the digest jobwq build computed) the
seeder refuses items that are not exactly those that were built.

Exit status: 0 seeded (or already seeded with these items), 1 refused (the
queue holds another item set), 2 usage error, unreadable items, items whose
digest is not --digest, or a queue that exists with other settings, 4 broker error (unreachable after retries,
alarm, connection lost).

Examples:
  jobwq seed --queue job1 --items items.txt
  printf 'apple\nbanana\n' | jobwq seed --queue job1 --items -`

func newSeedCmd() *cobra.Command {
	var (
		bf       BrokerFlags
		q        broker.Queue
		itemsArg string
		digest   string
		window   int
		connWait time.Duration
	)
	cmd := &cobra.Command{
		Use:   "seed --queue QUEUE --items PATH",
		Short: "Load items into a durable queue, exactly once (the seeding Job)",
		Long:  seedDoc,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := q.Validate(); err != nil {
				return fmt.Errorf("--queue, --queue-type, --delivery-limit: %w", err)
			}
			if window < 1 {
				return fmt.Errorf("--window %d: want at least 1", window)
			}
			logf := Logger(cmd.ErrOrStderr(), "seed")
			cfg, err := bf.Config()
			if err != nil {
				return err
			}
			set, err := items.Open(itemsArg, cmd.InOrStdin())
			if err != nil {
				return err
			}
			if digest != "" && set.Digest != digest {
				// The items changed between jobwq build and this pod
				// (an edited ConfigMap, a lossy tool on the way): seeding
				// them would run other work than was built.
				return exitcode.With(exitcode.Usage, fmt.Errorf("the items read from %s (%d items, %s) are not those jobwq build wrote (--digest %s): nothing was seeded; rebuild and apply again", itemsArg, set.Count, set.Digest, digest))
			}
			ctx, cancel := contextWithTimeout(cmd, connWait)
			conn, err := cfg.DialRetry(ctx, logf)
			cancel()
			if err != nil {
				return brokerError(err)
			}
			defer broker.CloseConn(conn)
			logf("seeding %d items (%s) into %s on %s", set.Count, set.Digest, q.Name, cfg)
			start := time.Now()
			res, err := broker.Seed(cmd.Context(), conn, broker.SeedOptions{
				Queue:    q,
				Items:    set,
				Window:   window,
				Progress: progress(cmd, set.Count, logf),
				Logf:     logf,
			})
			var refused *broker.RefusedError
			switch {
			case errors.As(err, &refused):
				return exitcode.With(exitcode.Findings, err)
			case err != nil:
				return brokerError(err)
			case res.AlreadySealed:
				logf("%s was already seeded with these %d items; nothing to do", q.Name, set.Count)
			default:
				d := time.Since(start)
				logf("seeded %d items into %s in %v (%.0f items/s) and sealed it", res.Published, q.Name, d.Round(time.Millisecond), float64(res.Published)/d.Seconds())
			}
			return nil
		},
	}
	bf.Register(cmd)
	cmd.Flags().StringVar(&q.Name, "queue", os.Getenv("QUEUE"), "queue to seed (default $QUEUE)")
	cmd.Flags().StringVar(&q.Type, "queue-type", "quorum", "queue type if it must be declared: quorum or classic")
	cmd.Flags().IntVar(&q.DeliveryLimit, "delivery-limit", 3, "deliveries of one item before it is dead-lettered (quorum queues)")
	cmd.Flags().IntVar(&q.GroupSize, "quorum-group-size", 0, "broker nodes a quorum queue's replicas are spread over (x-quorum-initial-group-size; 0: the broker's default)")
	cmd.Flags().StringVar(&itemsArg, "items", "", `items: a file, a directory of chunk files, or "-" for stdin`)
	cmd.Flags().StringVar(&digest, "digest", "", "refuse (exit 2) unless the items' digest is this one (the Job passes the one jobwq build computed)")
	cmd.Flags().IntVar(&window, "window", broker.DefaultWindow, "publishes awaiting their confirm at once")
	cmd.Flags().DurationVar(&connWait, "connect-timeout", 5*time.Minute, "how long to retry the first connection")
	_ = cmd.MarkFlagRequired("items")
	return cmd
}

// progress rewrites one line in place on a terminal and logs a line every
// few seconds elsewhere (pod logs). It is not a progress bar library: one of
// those pulls net/http and more into the runner, whose start every worker
// pod pays.
func progress(cmd *cobra.Command, total int, logf func(string, ...any)) func(int, int) {
	if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		start := time.Now()
		var last time.Time
		return func(done, total int) {
			if done < total && time.Since(last) < 100*time.Millisecond {
				return
			}
			last = time.Now()
			fmt.Fprintf(f, "\rseeding %d/%d items (%.0f items/s)\x1b[K", done, total, float64(done)/time.Since(start).Seconds())
			if done == total {
				// The line that says it is done follows.
				fmt.Fprint(f, "\r\x1b[K")
			}
		}
	}
	last := time.Now()
	return func(done, total int) {
		if time.Since(last) >= 5*time.Second || done == total {
			last = time.Now()
			logf("%d/%d items confirmed", done, total)
		}
	}
}
