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

--without-items prints the schema of a spec whose items come from the
--items flag (jobwq vet, build, render SPEC --items FILE), which may leave
out both items and itemsFile.

Examples:
  jobwq schema > workqueue.schema.json
  jobwq schema --without-items > workqueue-without-items.schema.json`

func newSchemaCmd() *cobra.Command {
	var withoutItems bool
	cmd := &cobra.Command{
		Use:   "schema [--without-items]",
		Short: "Print the JSON Schema of the WorkQueue spec",
		Long:  schemaDoc,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			export := workqueue.JSONSchema
			if withoutItems {
				export = workqueue.JSONSchemaWithoutItems
			}
			b, err := export()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().BoolVar(&withoutItems, "without-items", false, "the schema of a spec whose items come from --items: items and itemsFile may be left out")
	return cmd
}
