package report

import (
	"bufio"
	"fmt"
	"io"
)

// text writes one line per finding, as compilers do, then a summary:
//
//	job.yaml:19:11: error credentials-in-url: env BROKER_URL ... (Job job-wq) — keep the URL ...
type text struct {
	collected
	w io.Writer
}

func (t *text) Flush() error {
	b := bufio.NewWriter(t.w)
	fs := t.findings()
	for _, f := range fs {
		fmt.Fprintf(b, "%s: %s %s: %s (%s) — %s\n", f.Pos, f.Severity, f.Rule, f.Message, f.Object, f.Fix)
	}
	fmt.Fprintln(b, summary(len(t.results), fs))
	return b.Flush()
}
