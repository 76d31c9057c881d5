package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/workqueue"
)

const initDoc = `Start a WorkQueue: write a commented spec and an items file.

DIR (default: the working directory, created if missing) receives
workqueue.yaml, a spec that explains each field, items.txt, three items to
replace with yours, and workqueue.schema.json, the JSON Schema the spec's
first line points editors at. Together they pass jobwq vet as written.
Existing files are never overwritten.

Examples:
  jobwq init batch && jobwq vet batch`

const initSpec = `# yaml-language-server: $schema=workqueue.schema.json
#
# A jobwq WorkQueue: these items, this worker image, this much parallelism.
# jobwq vet checks it, jobwq build turns it into a kustomize tree.
apiVersion: jobwq.dev/v1alpha1
kind: WorkQueue
metadata:
  # Prefix of every object name: lowercase letters, digits and '-'.
  name: %s
  # namespace: default    # omit to follow kubectl's context
spec:
  # One item per line; each is one unit of work (or use items: [a, b]).
  itemsFile: items.txt
  worker:
    # Your image, pinned by tag or digest (never :latest).
    image: registry.example.com/team/worker:v1
    # Runs once per item, with the item on stdin; exit 0 acknowledges it.
    command: [cat]
    # Worker pods running at once.
    parallelism: 2
    # One item's deadline (a duration: 90s, 10m, 1h30m).
    timeout: 10m
  queue:
    # quorum queues bound the retries of an item that keeps failing.
    type: quorum
    deliveryLimit: 3
`

const initItems = "apple\nbanana\ncherry\n"

// reNotName is what a directory's name may hold that a spec's name may
// not; initName turns it into '-' and leaves the rule itself to the
// schema.
var reNotName = regexp.MustCompile(`[^a-z0-9]+`)

// initName is the spec's name for a directory: its base name made as
// close to a valid metadata.name as it goes, or my-batch where that is not
// valid by the schema's rule.
func initName(dir string) string {
	name := strings.Trim(reNotName.ReplaceAllString(strings.ToLower(filepath.Base(dir)), "-"), "-")
	if workqueue.CheckName(name) != nil {
		return "my-batch"
	}
	return name
}

func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a commented spec and an items file to start from",
		Long:  initDoc,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			name := initName(abs)
			schema, err := workqueue.JSONSchema()
			if err != nil {
				return err
			}
			files := []struct {
				name string
				data []byte
			}{
				{"workqueue.yaml", fmt.Appendf(nil, initSpec, name)},
				{"items.txt", []byte(initItems)},
				{"workqueue.schema.json", schema},
			}
			for i := 0; i < len(files); i++ {
				p := filepath.Join(dir, files[i].name)
				_, err := os.Lstat(p)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if files[i].name == "workqueue.schema.json" {
					// A schema copied in beforehand is kept if it is
					// this jobwq's, and named if it is not: an editor
					// would check the spec against other rules than vet.
					if have, err := os.ReadFile(p); err == nil && bytes.Equal(have, files[i].data) {
						files = slices.Delete(files, i, i+1)
						i--
						continue
					}
					return fmt.Errorf("%s exists and is not the schema of this jobwq (copied from another version?): "+
						"an editor would check the spec against other rules than vet; refresh it with jobwq schema > %s, or choose another directory", p, p)
				}
				return fmt.Errorf("%s exists: jobwq init never overwrites; choose another directory", p)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, f := range files {
				// O_EXCL: a file that appeared since the check is not lost.
				fh, err := os.OpenFile(filepath.Join(dir, f.name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					return err
				}
				_, err = fh.Write(f.data)
				if cerr := fh.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "wrote %s: workqueue.yaml, items.txt and workqueue.schema.json. Next:\n\n", dir)
			fmt.Fprintf(out, "  jobwq vet %s\n", dir)
			fmt.Fprintf(out, "  jobwq build %s -o out\n", dir)
			// What was written is read back as any spec would be: the
			// next steps name its Secret, and a spec init writes must vet.
			w, err := workqueue.Load(filepath.Join(dir, "workqueue.yaml"))
			if err != nil {
				return fmt.Errorf("the spec jobwq init wrote does not load (a bug): %w", err)
			}
			printNextSteps(out, w, "out")
			return nil
		},
	}
}
