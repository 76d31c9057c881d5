package report

import (
	"encoding/json"
	"io"

	"github.com/jobwq/jobwq/internal/policy"
)

// jsonFormat writes one document: the findings, how many objects were
// checked, and the count per severity.
type jsonFormat struct {
	collected
	w io.Writer
}

type jsonReport struct {
	Objects  int              `json:"objects"`
	Summary  map[string]int   `json:"summary"`
	Findings []policy.Finding `json:"findings"`
}

func (j *jsonFormat) Flush() error {
	fs := j.findings()
	if fs == nil {
		fs = []policy.Finding{}
	}
	r := jsonReport{Objects: len(j.results), Summary: map[string]int{}, Findings: fs}
	for _, sev := range []policy.Severity{policy.Error, policy.Warning, policy.Info} {
		r.Summary[sev.String()] = 0
	}
	for sev, n := range counts(fs) {
		r.Summary[sev.String()] = n
	}
	enc := json.NewEncoder(j.w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
