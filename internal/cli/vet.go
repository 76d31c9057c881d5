package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/exitcode"
	"github.com/jobwq/jobwq/internal/spec"
)

const vetDoc = `Validate WorkQueue specs without writing anything.

Each SPEC is a file (.yaml, .yml, .json or .cue), a directory holding one
workqueue.{yaml,yml,json,cue}, or - for a YAML or JSON spec on standard
input (its itemsFile is relative to the working directory). Every problem is reported on its own line as
file:line:column: field.path: what was expected. The items, inline or from
itemsFile, are checked too.

Exit status is 0 when every spec is valid, 1 when any is invalid, and 2 when
a spec cannot be read.

Examples:
  jobwq vet examples/fruits
  jobwq vet specs/*.yaml
  generate-spec | jobwq vet -`

func newVetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "vet SPEC...",
		Short: "Validate WorkQueue specs",
		Long:  vetDoc,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code := exitcode.OK
			for i, path := range args {
				wq, n, err := loadSpecFrom(cmd.Context(), path, cmd.InOrStdin())
				switch {
				case err == nil:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (%d items)\n", wq.Path, n)
				case isFinding(err):
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					code = max(code, exitcode.Findings)
				default:
					fmt.Fprintf(cmd.ErrOrStderr(), "jobwq: %v\n", err)
					code = exitcode.Usage
				}
				var limit *spec.LimitError
				if errors.As(err, &limit) {
					// The abandoned evaluation cannot be stopped and
					// keeps its CPU and memory: exit rather than go on.
					if rest := len(args) - i - 1; rest > 0 {
						fmt.Fprintf(cmd.ErrOrStderr(), "jobwq: %d more specs not checked\n", rest)
					}
					break
				}
			}
			if code != exitcode.OK {
				return exitWith(code)
			}
			return nil
		},
	}
}
