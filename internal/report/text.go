package report

import (
	"fmt"
	"io"

	"github.com/jobwq/jobwq/internal/policy"
	"github.com/jobwq/jobwq/internal/position"
)

// text writes one line per finding, as compilers do, then a summary:
//
//	job.yaml:19:11: error credentials-in-url: env BROKER_URL ... (Job job-wq) — keep the URL ...
//
// What could not be checked is said on standard error, by the command;
// the summary counts it.
type text struct {
	w io.Writer
}

func (t *text) begin(*totals) error { return nil }

func (t *text) checked(r policy.Result) error {
	for _, f := range r.Findings {
		if _, err := fmt.Fprintf(t.w, "%s: %s %s: %s (%s) — %s\n", f.Pos, f.Severity, f.Rule, f.Message, f.Object, f.Fix); err != nil {
			return err
		}
	}
	return nil
}

func (t *text) unchecked(*position.Error) error { return nil }

func (t *text) end(tot *totals) error {
	_, err := fmt.Fprintln(t.w, summary(tot))
	return err
}
