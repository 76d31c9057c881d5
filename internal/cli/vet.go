package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/exitcode"
	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/workqueue"
)

const vetDoc = `Validate WorkQueue specs without writing anything.

Each SPEC is a file (.yaml, .yml, .json or .cue), a directory holding one
workqueue.{yaml,yml,json,cue}, or - for a YAML or JSON spec on standard
input (its itemsFile is relative to the working directory). Every problem is reported on its own line as
file:line:column: field.path: what was expected. The items, inline or from
itemsFile, are checked too.

With --items FILE the items of every SPEC come from FILE instead of its
items or itemsFile, which the spec may then leave out (as build, render,
items, run, status and retry take them); FILE gets itemsFile's checks.
jobwq schema --without-items is the editors' schema for such a spec.

Items that occur more than once are legal but usually a mistake: each is
a warning naming both lines (exit status 0); --strict makes warnings errors.

Exit status is 0 when every spec is valid, 1 when any is invalid (or has
warnings, with --strict), and 2 when a spec cannot be read.

Examples:
  jobwq vet examples/fruits
  jobwq vet specs/*.yaml
  jobwq vet spec.yaml --items generated/items.txt
  generate-spec | jobwq vet -`

func newVetCmd() *cobra.Command {
	var strict bool
	var sf specFlags
	cmd := &cobra.Command{
		Use:   "vet SPEC...",
		Short: "Validate WorkQueue specs",
		Long:  vetDoc,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code := exitcode.OK
			for i, path := range args {
				wq, n, warnings, err := loadSpecFrom(cmd.Context(), path, workqueue.Options{Items: sf.items, Stdin: cmd.InOrStdin()})
				if len(warnings) > 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), capWarnings(warnings))
					if strict {
						code = max(code, exitcode.Findings)
						err = fmt.Errorf("%s: %d warnings, which --strict makes errors", position.Display(wq.Path), len(warnings))
					}
				}
				switch {
				case err == nil:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (%d items)\n", wq.Path, n)
				case isFinding(err), strict && len(warnings) > 0:
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					code = max(code, exitcode.Findings)
				default:
					fmt.Fprintf(cmd.ErrOrStderr(), "jobwq: %v\n", err)
					code = exitcode.Usage
				}
				var limit *workqueue.LimitError
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
	cmd.Flags().BoolVar(&strict, "strict", false, "treat warnings (duplicate items) as errors: exit 1")
	sf.register(cmd)
	return cmd
}

// capWarnings keeps the first few warnings of a spec: a file of a million
// repeated lines should not print a million.
func capWarnings(ws position.Errors) position.Errors {
	const most = 20
	if len(ws) <= most {
		return ws
	}
	out := append(ws[:most:most], &position.Error{Pos: position.Position{File: ws[0].Pos.File}, Msg: fmt.Sprintf("warning: and %d more duplicate items", len(ws)-most)})
	return out
}
