package cli

import (
	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/workqueue"
)

const schemaDoc = `Print the JSON Schema of the WorkQueue spec.

The schema is exported from the CUE schema embedded in jobwq, the same one
vet and build check against, so editors can complete and check specs. With
the YAML language server, for example:

  # yaml-language-server: $schema=workqueue.schema.json

Examples:
  jobwq schema > workqueue.schema.json`

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the WorkQueue spec",
		Long:  schemaDoc,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := workqueue.JSONSchema()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
}
