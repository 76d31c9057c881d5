package cli

import (
	"bufio"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/items"
	"github.com/jobwq/jobwq/internal/workqueue"
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
			w, err := workqueue.Load(args[0])
			if err != nil {
				return specError(cmd.ErrOrStderr(), err)
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			wanted := itemRanges(ranges, max(w.Spec.Worker.ItemsPerPod, 1))
			n, printed := 0, 0
			for it, err := range w.Items() {
				if err != nil {
					return specError(cmd.ErrOrStderr(), err)
				}
				if cmd.Flags().Changed("index") && !inRanges(wanted, n) {
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
				return fmt.Errorf("--index %s reaches past the spec's %d items (%d per pod)", indexes, n, max(w.Spec.Worker.ItemsPerPod, 1))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&indexes, "index", "", "completion indexes, as in status.failedIndexes: 1,3-5,7")
	return cmd
}

// itemRanges turns completion index ranges into the item index ranges
// they stand for, sorted and merged where they overlap.
func itemRanges(rs []items.IndexRange, perPod int) []items.IndexRange {
	out := make([]items.IndexRange, 0, len(rs))
	for _, r := range rs {
		out = append(out, items.IndexRange{First: r.First * perPod, Last: (r.Last+1)*perPod - 1})
	}
	slices.SortFunc(out, func(a, b items.IndexRange) int { return a.First - b.First })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.First <= merged[n-1].Last+1 {
			merged[n-1].Last = max(merged[n-1].Last, r.Last)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// inRanges reports whether i is in one of rs, which are sorted and apart.
func inRanges(rs []items.IndexRange, i int) bool {
	j, _ := slices.BinarySearchFunc(rs, i+1, func(r items.IndexRange, target int) int { return r.First - target })
	return j > 0 && rs[j-1].Last >= i
}
