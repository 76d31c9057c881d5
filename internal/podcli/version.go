package podcli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/version"
)

const versionDoc = `Print which jobwq this is: the release version, or for any other build
the module version, VCS commit, commit time and whether the tree had
uncommitted changes, as the Go toolchain recorded them; then the Go version
and the platform. The runner image's binary prints the same.

Examples:
  jobwq version
  jobwq version --json`

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the jobwq version, commit and the Go version it was built with",
		Long:  versionDoc,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			if !asJSON {
				fmt.Fprintln(cmd.OutOrStdout(), info)
				return nil
			}
			b, err := json.MarshalIndent(info, "", "  ")
			if err != nil {
				return fmt.Errorf("version: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the version as a JSON object")
	return cmd
}
