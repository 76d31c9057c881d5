package report

import (
	"encoding/json"
	"io"
	"net/url"
	"path/filepath"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/jobwq/jobwq/internal/policy"
)

// sarifFormat writes a SARIF 2.1.0 log with one run: the rules of the pack
// and a result per finding, located by startLine and startColumn.
type sarifFormat struct {
	collected
	w    io.Writer
	opts Options
}

const informationURI = "https://github.com/jobwq/jobwq"

var sarifLevel = map[policy.Severity]string{
	policy.Error:   "error",
	policy.Warning: "warning",
	policy.Info:    "note",
}

func (s *sarifFormat) Flush() error {
	log, err := sarif.New(sarif.Version210)
	if err != nil {
		return err
	}
	run := sarif.NewRunWithInformationURI("jobwq", informationURI)
	if s.opts.Version != "" {
		run.Tool.Driver.WithVersion(s.opts.Version)
	}
	known := map[string]bool{}
	for _, r := range s.opts.Rules {
		known[r.ID] = true
		run.AddRule(r.ID).
			WithDescription(r.Message).
			WithHelp(sarif.NewMultiformatMessageString(r.Fix)).
			WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(sarifLevel[r.Severity]))
	}
	for _, f := range s.findings() {
		if !known[f.Rule] {
			known[f.Rule] = true
			run.AddRule(f.Rule).WithDescription(f.Message)
		}
		region := sarif.NewRegion()
		if f.Pos.Line > 0 {
			region.WithStartLine(f.Pos.Line)
		}
		if f.Pos.Column > 0 {
			region.WithStartColumn(f.Pos.Column)
		}
		loc := sarif.NewPhysicalLocation().
			WithArtifactLocation(sarif.NewSimpleArtifactLocation(artifactURI(f.Pos.File))).
			WithRegion(region)
		run.CreateResultForRule(f.Rule).
			WithLevel(sarifLevel[f.Severity]).
			WithMessage(sarif.NewTextMessage(f.Message + " (" + f.Object.String() + "); fix: " + f.Fix)).
			AddLocation(sarif.NewLocationWithPhysicalLocation(loc))
	}
	log.AddRun(run)
	// Encoded here rather than with PrettyWrite: that escapes <, > and &
	// for HTML and leaves the last line unterminated.
	enc := json.NewEncoder(s.w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

// artifactURI turns a display path into a URI reference relative to the
// repository root, as code scanning expects.
func artifactURI(file string) string {
	u := url.URL{Path: filepath.ToSlash(file)}
	return u.String()
}
