package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/jstemmer/go-junit-report/v2/junit"

	"github.com/jobwq/jobwq/internal/policy"
)

// junitFormat writes a JUnit XML report: a test suite per file, a test case
// per object. Findings at or above --fail-on make the case fail; the rest
// are the case's output, visible without failing it.
type junitFormat struct {
	collected
	w      io.Writer
	failOn policy.Severity
}

func (j *junitFormat) Flush() error {
	suites := junit.Testsuites{Name: "jobwq policy"}
	var cur *junit.Testsuite
	for _, r := range j.sortedResults() {
		if cur == nil || cur.Name != xmlSafe(r.Pos.File) {
			if cur != nil {
				suites.AddSuite(*cur)
			}
			// Time is required by the schema; no clock is read so that
			// reports compare byte for byte.
			cur = &junit.Testsuite{Name: xmlSafe(r.Pos.File), ID: len(suites.Suites), Time: "0"}
		}
		cur.AddTestcase(testcase(r, j.failOn))
	}
	if cur != nil {
		suites.AddSuite(*cur)
	}
	if _, err := io.WriteString(j.w, xml.Header); err != nil {
		return err
	}
	return suites.WriteXML(j.w)
}

func testcase(r policy.Result, failOn policy.Severity) junit.Testcase {
	tc := junit.Testcase{Name: xmlSafe(r.Object.String()), Classname: xmlSafe(r.Pos.File), Time: "0"}
	var failing, other []string
	worst := policy.Info
	fs := append([]policy.Finding(nil), r.Findings...)
	policy.SortFindings(fs)
	for _, f := range fs {
		line := xmlSafe(fmt.Sprintf("%s: %s %s: %s — %s", f.Pos, f.Severity, f.Rule, f.Message, f.Fix))
		if f.Severity >= failOn {
			failing = append(failing, line)
			worst = max(worst, f.Severity)
		} else {
			other = append(other, line)
		}
	}
	if len(failing) > 0 {
		tc.Failure = &junit.Result{
			Message: xmlSafe(fmt.Sprintf("%s at %s", plural(len(failing), "finding"), r.Pos)),
			Type:    worst.String(),
			Data:    strings.Join(failing, "\n") + "\n",
		}
	}
	if len(other) > 0 {
		tc.SystemOut = &junit.Output{Data: strings.Join(other, "\n") + "\n"}
	}
	return tc
}

// xmlSafe replaces what XML 1.0 cannot hold (control characters other
// than tab and line breaks, a lone surrogate, U+FFFE and U+FFFF) with
// U+FFFD, as encoding/xml does in text but not in CDATA, where the
// library puts failures: a manifest's names and values are the user's.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r',
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}
