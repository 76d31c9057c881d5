package report

import (
	"bytes"
	"cmp"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/jobwq/jobwq/internal/policy"
	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/version"
)

// sarifFormat writes a SARIF 2.1.0 log with one run: the rules of the
// pack, an invocation that says whether every input was checked (with a
// notification at each one that was not), and a result per finding,
// located by startLine and startColumn.
type sarifFormat struct {
	w     io.Writer
	opts  Options
	index map[string]int // rule id → index in the rule table
	first bool
	tail  []byte // what follows the results
}

const informationURI = "https://github.com/jobwq/jobwq"

var sarifLevel = map[policy.Severity]string{
	policy.Error:   "error",
	policy.Warning: "warning",
	policy.Info:    "note",
}

func (s *sarifFormat) begin(t *totals) error {
	log, err := sarif.New(sarif.Version210)
	if err != nil {
		return err
	}
	run := sarif.NewRunWithInformationURI("jobwq", informationURI)
	// Code scanning tells runs of different versions apart by it.
	run.Tool.Driver.WithVersion(cmp.Or(s.opts.Version, version.Devel))
	s.index = map[string]int{}
	for _, r := range s.opts.Rules {
		s.index[r.ID] = len(s.index)
		run.AddRule(r.ID).
			WithDescription(r.Message).
			WithHelp(sarif.NewMultiformatMessageString(r.Fix)).
			WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(sarifLevel[r.Severity]))
	}
	inv := sarif.NewInvocation().WithExecutionSuccess(len(t.unchecked) == 0)
	for _, e := range t.unchecked {
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarif.NewNotification().
			WithLevel("error").
			WithMessage(sarif.NewTextMessage("not checked: "+e.Msg)).
			WithLocations([]*sarif.Location{sarif.NewLocationWithPhysicalLocation(physical(e.Pos))}))
	}
	run.Invocations = []*sarif.Invocation{inv}
	run.Results = []*sarif.Result{}
	log.AddRun(run)
	head, err := indented(log, "")
	if err != nil {
		return err
	}
	// The results are written one by one where the empty list stands.
	i := bytes.LastIndex(head, []byte(`"results": []`)) + len(`"results": [`)
	s.tail = append(append([]byte("\n      ]"), head[i+1:]...), '\n')
	s.first = true
	_, err = s.w.Write(head[:i])
	return err
}

func (s *sarifFormat) checked(r policy.Result) error {
	for _, f := range r.Findings {
		res := sarif.NewRuleResult(f.Rule).
			WithLevel(sarifLevel[f.Severity]).
			WithMessage(sarif.NewTextMessage(f.Message + " (" + f.Object.String() + "); fix: " + f.Fix)).
			WithLocations([]*sarif.Location{sarif.NewLocationWithPhysicalLocation(physical(f.Pos))})
		if i, ok := s.index[f.Rule]; ok {
			res.WithRuleIndex(i)
		}
		b, err := indented(res, "        ")
		if err != nil {
			return err
		}
		sep := ",\n        "
		if s.first {
			sep, s.first = "\n        ", false
		}
		if _, err := io.WriteString(s.w, sep); err != nil {
			return err
		}
		if _, err := s.w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func (s *sarifFormat) unchecked(*position.Error) error { return nil }

func (s *sarifFormat) end(*totals) error {
	tail := s.tail
	if s.first {
		tail = tail[len("\n      "):] // no results: "[]"
	}
	_, err := s.w.Write(tail)
	return err
}

// physical is where pos is, as SARIF says it.
func physical(pos position.Position) *sarif.PhysicalLocation {
	region := sarif.NewRegion()
	if pos.Line > 0 {
		region.WithStartLine(pos.Line)
	}
	if pos.Column > 0 {
		region.WithStartColumn(pos.Column)
	}
	loc := sarif.NewPhysicalLocation().WithArtifactLocation(artifactLocation(pos.File))
	if pos.Line > 0 {
		loc.WithRegion(region)
	}
	return loc
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
