package cli

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/exitcode"
	"github.com/jobwq/jobwq/internal/manifests"
	"github.com/jobwq/jobwq/internal/policy"
	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/report"
	"github.com/jobwq/jobwq/internal/version"
)

const policyDoc = `Check Kubernetes manifests against jobwq's policy pack.

Each PATH is a file of YAML documents or JSON values (a v1 List is opened
up), a directory (its .yaml, .yml and .json files, recursively), a
directory holding a kustomization.yaml, which is built in-process as
'kubectl kustomize' would first, or - for standard input. Every pod
template is checked: those of Jobs, CronJobs, Deployments, ReplicaSets,
StatefulSets, DaemonSets, ReplicationControllers and Pods. Documents
without a kind are skipped.

Each finding names the file, line and column of the offending field (of
its parent when the field is missing), the rule and the object. For a
kustomization the positions point into the built stream, shown as
'DIR (kustomize build)'; 'kubectl kustomize DIR' prints it.

The built-in rules (jobwq policy --list) are CUE, embedded from
schemas/policy. --policy adds rules of the same shape from a CUE file of
package policy; jobwq evaluates a rule written with the operators and
builtins the README lists itself, fast, and any other by CUE, more
slowly (--explain says which and why); --disable turns a rule off for the run, and --severity
RULE=LEVEL changes how much a rule's findings weigh (with --fail-on, the
lowest severity that fails the run). An object opts out
of rules with an annotation that names them and says why:

  metadata:
    annotations:
      jobwq.dev/ignore: image-tag,container-limits built and pinned by CI

With --spec, a work-queue Job (one that sets completions, or parallelism
above 1) must have completions equal to the spec's item count.

Null fields count as unset, as for kubectl. A key given twice, a document
that does not parse (a Helm template not yet rendered), a file that is not
a regular file, a document above 32 MiB and a kustomization that refers to
anything remote (policy never fetches) are reported on stderr, one line
each, and the other inputs are still checked. Empty input passes, with
"no objects" on stderr.

Exit status is 0 when no finding is at or above --fail-on, 1 when one is,
and 2 when an input, policy file or spec cannot be read or checked (the
worst wins).

Examples:
  jobwq policy job.yaml
  jobwq policy overlays/deployment --format sarif > policy.sarif
  kubectl get jobs -o yaml | jobwq policy -
  jobwq policy --spec examples/fruits job.yaml
  jobwq policy --policy team.cue --disable job-ttl-after-finished manifests/
  jobwq policy --severity job-active-deadline=error,container-limits=warning jobs/
  jobwq policy --list
  jobwq policy --explain --policy team.cue`

func newPolicyCmd() *cobra.Command {
	var (
		format, failOn, specPath string
		policies, disable        []string
		severities               []string
		list, explain            bool
		objectTimeout            time.Duration
	)
	cmd := &cobra.Command{
		Use:   "policy PATH... | -",
		Short: "Check Job specs and every pod template against the CUE policy",
		Long:  policyDoc,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Nearly all of a check's heap is the current document's
			// syntax and values, garbage once it is checked, and the live
			// heap is small: collecting at 5x it, within a soft limit of
			// 96 MiB, saves a fifth of the CPU and keeps the peak where it
			// was. GOGC and GOMEMLIMIT still rule.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(400)
			}
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(96 << 20)
			}
			threshold, err := policy.ParseSeverity(failOn)
			if err != nil {
				return fmt.Errorf("--fail-on: %w", err)
			}
			if !list && !explain && len(args) == 0 {
				return fmt.Errorf("no PATH to check: give files, directories or - for stdin (see 'jobwq policy --help')")
			}
			opts := policy.Options{PolicyFiles: policies, Disable: disable, Severity: severities, ObjectTimeout: objectTimeout}
			if specPath != "" {
				wq, n, err := loadSpec(specPath)
				if err != nil {
					if isFinding(err) {
						return fmt.Errorf("--spec %s is not a valid WorkQueue:\n%w", specPath, err)
					}
					return fmt.Errorf("--spec: %w", err)
				}
				opts.Spec = &policy.Spec{Path: wq.Path, Items: n, ItemsPerPod: wq.Spec.Worker.ItemsPerPod}
			}
			pack, err := policy.Compile(opts)
			if err != nil {
				return err
			}
			if list {
				return listRules(cmd, pack)
			}
			if explain {
				return explainRules(cmd, pack)
			}
			out, err := report.New(format, cmd.OutOrStdout(), report.Options{
				Rules: pack.Rules(), FailOn: threshold, Version: version.Get().Version,
			})
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			run := &unchecked{Formatter: out}
			ctx := cmd.Context()
			err = manifests.Walk(args, cmd.InOrStdin(), manifests.Handlers{
				Input: func(name string, r io.Reader) error { return pack.CheckReader(ctx, name, r, run) },
				Unchecked: func(e *position.Error) {
					if err := run.Unchecked(e); err != nil && run.err == nil {
						run.err = err
					}
				},
				Warn: func(msg string) { fmt.Fprintf(cmd.ErrOrStderr(), "jobwq: warning: %s\n", msg) },
			})
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("policy check stopped: %w", err)
			}
			if err = cmp.Or(err, run.err); err != nil {
				return err
			}
			totals, err := out.Flush()
			if err != nil {
				return err
			}
			if len(run.files) > 0 {
				// One line per input that could not be checked (a Helm
				// chart's 84 broken documents are one file); the report
				// holds each document.
				for _, f := range run.files {
					more := ""
					if f.n > 1 {
						more = fmt.Sprintf(" (and %d more in this file)", f.n-1)
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "jobwq: %s%s\n", f.first, more)
				}
				return exitWith(exitcode.Usage)
			}
			if totals.Objects == 0 {
				// An empty stream is a valid answer, e.g. kubectl get jobs
				// -o yaml when there are none.
				fmt.Fprintf(cmd.ErrOrStderr(), "jobwq: no objects in %s\n", strings.Join(args, " "))
			}
			if totals.Failing > 0 {
				return exitWith(exitcode.Findings)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&format, "format", "f", "text", "output format: "+strings.Join(report.Formats, ", "))
	f.StringArrayVar(&policies, "policy", nil, "add the rules of a CUE `FILE` (package policy); repeatable")
	f.StringSliceVar(&disable, "disable", nil, "turn off rule `ID`; repeatable or comma-separated")
	f.StringArrayVar(&severities, "severity", nil, "set rule `RULE=LEVEL` (error, warning or info); repeatable or comma-separated")
	f.StringVar(&failOn, "fail-on", "error", "lowest severity that fails the run: error, warning or info")
	f.StringVar(&specPath, "spec", "", "WorkQueue `SPEC` whose item count work-queue Jobs' completions must equal")
	f.DurationVar(&objectTimeout, "object-timeout", policy.DefaultObjectTimeout, "longest the rules may take over one object before it is reported as not checked")
	f.BoolVar(&list, "list", false, "list the rules (with --policy, the user's too) and exit")
	f.BoolVar(&explain, "explain", false, "say how each enabled rule is evaluated (fast, or by CUE and why) and exit")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(report.Formats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions([]string{"error", "warning", "info"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("disable", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		pack, err := policy.Compile(policy.Options{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var ids []string
		for _, r := range pack.Rules() {
			ids = append(ids, r.ID+"\t"+r.Message)
		}
		return ids, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.MarkFlagFilename("policy", "cue")
	return cmd
}

// unchecked passes a run's results to its report, and remembers, per
// file, the first problem that kept part of it from being checked and how
// many there were.
type unchecked struct {
	report.Formatter
	files []uncheckedFile
	err   error // the report's, from a problem Walk found
}

type uncheckedFile struct {
	first *position.Error
	n     int
}

func (u *unchecked) Unchecked(e *position.Error) error {
	if n := len(u.files); n > 0 && u.files[n-1].first.Pos.File == e.Pos.File {
		u.files[n-1].n++
	} else {
		u.files = append(u.files, uncheckedFile{first: e, n: 1})
	}
	return u.Formatter.Unchecked(e)
}

// explainRules prints, per enabled rule, whether jobwq evaluates it fast
// or leaves it to CUE, and why.
func explainRules(cmd *cobra.Command, pack *policy.Pack) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	for _, x := range pack.Explain() {
		fmt.Fprintf(tw, "%s\t%s\n", x.Rule, x)
	}
	return tw.Flush()
}

// listRules prints the catalogue: id, severity, message, and whether the
// rule is off for this run.
func listRules(cmd *cobra.Command, pack *policy.Pack) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	for _, r := range pack.Rules() {
		state := ""
		if !pack.Enabled(r.ID) {
			state = " (disabled)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%s\n", r.ID, r.Severity, r.Message, state)
	}
	return tw.Flush()
}
