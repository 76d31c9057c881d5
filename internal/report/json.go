package report

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/jobwq/jobwq/internal/policy"
	"github.com/jobwq/jobwq/internal/position"
)

// jsonFormat writes one document: how many objects were checked, the
// count per severity, every input that could not be checked, and the
// findings.
type jsonFormat struct {
	w     io.Writer
	first bool
	tail  []byte // what follows the findings
}

type jsonReport struct {
	Objects   int              `json:"objects"`
	Summary   map[string]int   `json:"summary"`
	Unchecked []jsonUnchecked  `json:"unchecked"`
	Findings  []policy.Finding `json:"findings"`
}

// jsonUnchecked is an input, or a document of one, that was not checked.
type jsonUnchecked struct {
	Pos     position.Position `json:"position"`
	Message string            `json:"message"`
}

func (j *jsonFormat) begin(t *totals) error {
	r := jsonReport{Objects: t.objects, Summary: map[string]int{}, Unchecked: []jsonUnchecked{}, Findings: []policy.Finding{}}
	for _, e := range t.unchecked {
		r.Unchecked = append(r.Unchecked, jsonUnchecked{Pos: e.Pos, Message: e.Msg})
	}
	for _, sev := range []policy.Severity{policy.Error, policy.Warning, policy.Info} {
		r.Summary[sev.String()] = t.severity[sev]
	}
	head, err := indented(r, "")
	if err != nil {
		return err
	}
	// The findings are written one by one where the empty list stands.
	i := bytes.LastIndex(head, []byte(`"findings": []`)) + len(`"findings": [`)
	j.tail = append(append([]byte("\n  ]"), head[i+1:]...), '\n')
	j.first = true
	_, err = j.w.Write(head[:i])
	return err
}

func (j *jsonFormat) checked(r policy.Result) error {
	for _, f := range r.Findings {
		b, err := indented(f, "    ")
		if err != nil {
			return err
		}
		sep := ",\n    "
		if j.first {
			sep, j.first = "\n    ", false
		}
		if _, err := io.WriteString(j.w, sep); err != nil {
			return err
		}
		if _, err := j.w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func (j *jsonFormat) unchecked(*position.Error) error { return nil }

func (j *jsonFormat) end(*totals) error {
	tail := j.tail
	if j.first {
		tail = tail[len("\n  "):] // no findings: "[]"
	}
	_, err := j.w.Write(tail)
	return err
}

// indented is v as JSON indented by two spaces below prefix, without HTML
// escapes and without the final newline.
func indented(v any, prefix string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
