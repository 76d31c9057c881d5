package cli

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/generate"
	"github.com/jobwq/jobwq/internal/kustree"
	"github.com/jobwq/jobwq/internal/policy"
	"github.com/jobwq/jobwq/internal/report"
)

const buildDoc = `Write the kustomize tree for a WorkQueue spec.

DIR receives base/ (the broker Service, NetworkPolicies, the seeding and
worker Jobs, and the items as ConfigMap generator files) and one overlay per
variant under overlays/:

  statefulset            the broker keeps the queue on a PersistentVolumeClaim:
                         the bundled broker for production
  rabbitmqcluster        a RabbitmqCluster of the RabbitMQ Cluster Operator
  deployment             the queue in an emptyDir: one eviction loses it (a
  replicationcontroller  try-out, as in the article)
  indexed                an Indexed Job over the same items: no broker at all

A spec with spec.broker.external gets external (no broker objects) and
indexed instead. The broker's credentials live in a Secret that jobwq never
writes (spec.broker.credentialsSecret, default NAME-broker); create it, then
apply:

  kubectl create secret generic NAME-broker --from-literal=username=jobwq \
    --from-literal=password="$(openssl rand -hex 24)"
  kubectl apply -k DIR/overlays/statefulset

or, with no broker and no Secret:

  kubectl apply -k DIR/overlays/indexed

jobwq owns DIR/base and DIR/overlays/<variant>; other files in DIR are left
alone. The output is byte-for-byte deterministic, and it is written
atomically: on any error nothing changes at DIR.

With --items FILE the items come from FILE, wherever it is (CI often
generates them elsewhere), instead of the spec's items or itemsFile, which
the spec may then leave out; FILE gets itemsFile's checks.

With --check nothing is written: the tree is compared with DIR, and any
difference is printed as a unified diff with exit status 1. Use it in CI to
keep a committed build in step with its spec.

Examples:
  jobwq build examples/fruits -o out
  jobwq build examples/fruits -o . --check
  jobwq build spec.yaml --items generated/items.txt -o out`

func newBuildCmd() *cobra.Command {
	var out string
	var check bool
	var sf specFlags
	cmd := &cobra.Command{
		Use:   "build SPEC -o DIR",
		Short: "Write the kustomize tree (base and overlays) for a spec",
		Long:  buildDoc,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := sf.render(cmd, args[0])
			if err != nil {
				return specError(cmd.ErrOrStderr(), err)
			}
			if err := policyGate(cmd, r); err != nil {
				return err
			}
			if check {
				diff, err := kustree.Diff(out, r.Files)
				if err != nil {
					return err
				}
				if diff != "" {
					fmt.Fprint(cmd.OutOrStdout(), diff)
					return findings(fmt.Errorf("%s is out of date with %s: run jobwq build %s -o %s", out, r.Spec.Path, args[0], out))
				}
				return nil
			}
			if err := kustree.CheckInputs(out, r.Files, r.Spec.Inputs()); err != nil {
				return err
			}
			if err := kustree.Write(out, r.Files); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			fmt.Fprintf(stderr, "wrote %s: %d items in %d chunks, overlays %s. Next:\n\n",
				out, r.Items.Count, len(r.Items.Chunks), strings.Join(generate.VariantsOf(r.Spec), ", "))
			printNextSteps(stderr, r.Spec, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "directory to write the tree to (required)")
	sf.register(cmd)
	cmd.Flags().BoolVar(&check, "check", false, "compare with DIR instead of writing; exit 1 with a diff on drift")
	_ = cmd.MarkFlagRequired("output")
	_ = cmd.MarkFlagDirname("output")
	return cmd
}

// policyGate holds what build renders to jobwq's own policy, so a template
// change that breaks a rule cannot ship quietly. It checks the object files
// of the tree (the items ConfigMaps hold no pod); positions point into
// them, named as they would be written. Findings are printed only when
// there are some.
func policyGate(cmd *cobra.Command, r *generate.Rendered) error {
	pack, err := policy.Compile(policy.Options{Spec: &policy.Spec{Path: r.Spec.Path, Items: r.Items.Count, ItemsPerPod: r.Spec.Spec.Worker.ItemsPerPod}})
	if err != nil {
		return err
	}
	var results []policy.Result
	failed := false
	for _, p := range slices.Sorted(maps.Keys(r.Files)) {
		if !strings.HasSuffix(p, ".yaml") || path.Base(p) == "kustomization.yaml" {
			continue
		}
		rs, err := pack.Check(p+" (rendered from "+r.Spec.Path+")", r.Files[p])
		if err != nil {
			return fmt.Errorf("policy check of %s: %w", p, err)
		}
		results = append(results, rs...)
	}
	found := policy.Findings(results)
	if len(found) == 0 {
		return nil
	}
	out, err := report.New("text", cmd.ErrOrStderr(), report.Options{})
	if err != nil {
		return err
	}
	for _, res := range results {
		if err := out.Checked(res); err != nil {
			return err
		}
	}
	if _, err := out.Flush(); err != nil {
		return err
	}
	for _, f := range found {
		failed = failed || f.Severity >= policy.Error
	}
	if failed {
		return findings(fmt.Errorf("the rendered tree breaks jobwq's policy; nothing was written"))
	}
	return nil
}
