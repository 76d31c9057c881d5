package report

import (
	"cmp"
	"encoding/json"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/jobwq/jobwq/internal/policy"
	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/version"
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
	// Code scanning tells runs of different versions apart by it.
	run.Tool.Driver.WithVersion(cmp.Or(s.opts.Version, version.Devel))
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
			WithArtifactLocation(artifactLocation(f.Pos.File)).
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

// artifactLocation says where a finding's lines are. Standard input and
// a kustomization built in-process are no files: stdin gets a description
// and no URI, a build the directory it was built from and a description
// of what its lines count in.
func artifactLocation(file string) *sarif.ArtifactLocation {
	if file == position.StdinName {
		return sarif.NewArtifactLocation().WithDescriptionText("standard input: lines and columns count in what jobwq policy read from it")
	}
	if dir, ok := strings.CutSuffix(file, position.BuiltSuffix); ok {
		return sarif.NewSimpleArtifactLocation(artifactURI(dir) + "/").
			WithDescriptionText("the stream 'kubectl kustomize " + dir + "' prints: lines and columns count in it, not in the files of the directory")
	}
	return sarif.NewSimpleArtifactLocation(artifactURI(file))
}

// artifactURI turns a display path into a URI reference relative to the
// repository root, as code scanning expects.
func artifactURI(file string) string {
	u := url.URL{Path: filepath.ToSlash(file)}
	return u.String()
}
