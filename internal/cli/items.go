package cli

import (
	"bufio"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/items"
)

const itemsDoc = `Print a spec's items, one per line, or those behind some of its pods.

--index LIST names completion indexes as Kubernetes writes them in an
Indexed Job's status ("1,3-5,7"): the items of those pods are printed,
spec.worker.itemsPerPod of them for each index, in order. Turn the failed
indexes of an indexed run into its failed items:

  kubectl get job NAME -o jsonpath='{.status.failedIndexes}' | xargs -I{} jobwq items SPEC --index {}

The output is an items file: give it to a new spec's itemsFile (or
jobwq build --items) to run just those again.

Examples:
  jobwq items examples/fruits
  jobwq items examples/fruits --index 1,3-4`

func newItemsCmd() *cobra.Command {
	var indexes string
	var sf specFlags
	cmd := &cobra.Command{
		Use:   "items SPEC [--index LIST]",
		Short: "Print a spec's items, or the items behind Indexed Job indexes",
		Long:  itemsDoc,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ranges, err := items.ParseIndexes(indexes)
			if err != nil {
				return fmt.Errorf("--index: %w", err)
			}
			w, err := sf.load(cmd, args[0])
			if err != nil {
				return specError(cmd.ErrOrStderr(), err)
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			wanted := items.OfIndexes(ranges, w.Spec.Worker.ItemsPerPod)
			n, printed := 0, 0
			for it, err := range w.Items() {
				if err != nil {
					return specError(cmd.ErrOrStderr(), err)
				}
				if cmd.Flags().Changed("index") && !items.InRanges(wanted, n) {
					n++
					continue
				}
				fmt.Fprintln(out, it)
				n++
				printed++
			}
			if err := out.Flush(); err != nil {
				return err
			}
			// The last pod may hold fewer than itemsPerPod; an index
			// without any item is a mistake.
			if cmd.Flags().Changed("index") && len(wanted) > 0 && wanted[len(wanted)-1].First >= n {
				return fmt.Errorf("--index %s reaches past the spec's %d items (%d per pod)", indexes, n, w.Spec.Worker.ItemsPerPod)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&indexes, "index", "", "completion indexes, as in status.failedIndexes: 1,3-5,7")
	sf.register(cmd)
	return cmd
}
