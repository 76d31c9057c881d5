package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/generate"
	"github.com/jobwq/jobwq/internal/kustree"
)

const renderDoc = `Print the final YAML for one variant of a WorkQueue spec.

The kustomize tree that build would write is built in memory with
sigs.k8s.io/kustomize/api; the output is byte-for-byte what
'kubectl kustomize DIR/overlays/VARIANT' prints for that tree.

The default variant is statefulset, whose broker keeps the queue on a
volume (external for a spec with spec.broker.external); see jobwq build
--help for them all. The broker's credentials come from a Secret that
jobwq never writes: create it before applying (jobwq build prints how), or
render indexed, which needs no broker.

Examples:
  jobwq render examples/fruits | kubectl apply -f -
  jobwq render examples/fruits --variant indexed | kubectl apply -f -`

func newRenderCmd() *cobra.Command {
	var variant string
	var sf specFlags
	cmd := &cobra.Command{
		Use:   "render SPEC [--variant VARIANT]",
		Short: "Print the final YAML for one broker variant",
		Long:  renderDoc,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(generate.Variants, variant) {
				return fmt.Errorf("unknown variant %q: want one of %s", variant, strings.Join(generate.Variants, ", "))
			}
			r, err := sf.render(cmd, args[0])
			if err != nil {
				return specError(cmd.ErrOrStderr(), err)
			}
			of := generate.VariantsOf(r.Spec)
			if !cmd.Flags().Changed("variant") {
				variant = safeVariant(r.Spec)
			}
			if !slices.Contains(of, variant) {
				return fmt.Errorf("%s has no variant %q: its build has %s", args[0], variant, strings.Join(of, ", "))
			}
			out, err := kustree.Build(r.Files, "overlays/"+variant)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&variant, "variant", "statefulset", "variant: "+strings.Join(generate.Variants, ", ")+" (a spec with an external broker: external by default)")
	sf.register(cmd)
	_ = cmd.RegisterFlagCompletionFunc("variant", cobra.FixedCompletions(generate.Variants, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
