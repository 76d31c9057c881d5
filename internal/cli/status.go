package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/broker"
	"github.com/jobwq/jobwq/internal/exitcode"
)

const statusDoc = `Show a run's queue: sealed or not, depth, consumers, dead-lettered items.

Nothing is changed. Items held by a worker right now are neither ready nor
dead-lettered.

` + brokerEnvDoc + `

Examples:
  jobwq status --queue job1
  jobwq status --queue job1 --json`

func newStatusCmd() *cobra.Command {
	var (
		bf     brokerFlags
		queue  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status --queue QUEUE",
		Short: "Show a run's queue: seeded or not, depth, consumers, dead-lettered",
		Long:  statusDoc,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if queue == "" {
				return errors.New("--queue is required (or set $QUEUE)")
			}
			cfg, err := bf.config()
			if err != nil {
				return err
			}
			conn, err := cfg.Dial()
			if err != nil {
				return exitWithErr(exitcode.Broker, err)
			}
			defer conn.Close()
			st, err := broker.Status(conn, queue)
			if err != nil {
				return exitWithErr(exitcode.Broker, err)
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
			case st.Sealed:
				fmt.Fprintf(w, "state\tsealed: %d items seeded (%s)\n", st.Items, st.Digest)
			case st.Seeding:
				fmt.Fprintf(w, "state\tseeding\n")
			default:
				fmt.Fprintf(w, "state\tnot sealed: seeding has not finished\n")
			}
			fmt.Fprintf(w, "ready\t%d\n", st.Ready)
			fmt.Fprintf(w, "consumers\t%d\n", st.Consumers)
			fmt.Fprintf(w, "dead-lettered\t%d (%s)\n", st.DeadLettered, queue+broker.DeadSuffix)
			return w.Flush()
		},
	}
	bf.register(cmd)
	cmd.Flags().StringVar(&queue, "queue", os.Getenv("QUEUE"), "queue to inspect (default $QUEUE)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
