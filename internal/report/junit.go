package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/jstemmer/go-junit-report/v2/junit"

	"github.com/jobwq/jobwq/internal/policy"
	"github.com/jobwq/jobwq/internal/position"
)

// junitFormat writes a JUnit XML report: a test suite per file, a test case
// per object. Findings at or above --fail-on make the case fail; the rest
// are the case's output, visible without failing it. An input that could
// not be checked is a case in error.
type junitFormat struct {
	w      io.Writer
	failOn policy.Severity
	files  []fileTotals
	suite  int // index into files of the open suite, -1 before the first
}

func (j *junitFormat) begin(t *totals) error {
	suites := junit.Testsuites{Name: "jobwq policy", Errors: len(t.unchecked)}
	for _, f := range t.files {
		suites.Tests += f.tests
		suites.Failures += f.failures
	}
	head, err := xml.Marshal(suites)
	if err != nil {
		return err
	}
	j.files, j.suite = t.files, -1
	_, err = fmt.Fprintf(j.w, "%s%s", xml.Header, bytes.TrimSuffix(head, []byte("</testsuites>")))
	return err
}

// open starts the suite of file unless it is the one open.
func (j *junitFormat) open(file string) error {
	if j.suite >= 0 && j.files[j.suite].file == file {
		return nil
	}
	if err := j.close(); err != nil {
		return err
	}
	j.suite++
	f := j.files[j.suite]
	// Time is required by the schema; no clock is read so that reports
	// compare byte for byte.
	s := junit.Testsuite{Name: xmlSafe(f.file), Tests: f.tests, Failures: f.failures, Errors: f.errors, ID: j.suite, Time: "0"}
	b, err := element(s, "testsuite", "\t")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(j.w, "\n%s", bytes.TrimSuffix(b, []byte("</testsuite>")))
	return err
}

// element is v as the XML element name, indented by tabs below prefix.
func element(v any, name, prefix string) ([]byte, error) {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	enc.Indent(prefix, "\t")
	if err := enc.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: name}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (j *junitFormat) close() error {
	if j.suite < 0 {
		return nil
	}
	_, err := io.WriteString(j.w, "\n\t</testsuite>")
	return err
}

func (j *junitFormat) testcase(tc junit.Testcase) error {
	b, err := element(tc, "testcase", "\t\t")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(j.w, "\n%s", b)
	return err
}

func (j *junitFormat) checked(r policy.Result) error {
	if err := j.open(r.Pos.File); err != nil {
		return err
	}
	return j.testcase(testcase(r, j.failOn))
}

func (j *junitFormat) unchecked(e *position.Error) error {
	if err := j.open(e.Pos.File); err != nil {
		return err
	}
	return j.testcase(junit.Testcase{
		Name: xmlSafe("not checked: " + e.Pos.String()), Classname: xmlSafe(e.Pos.File), Time: "0",
		Error: &junit.Result{Message: xmlSafe(e.Msg), Type: "not checked", Data: xmlSafe(e.Error()) + "\n"},
	})
}

func (j *junitFormat) end(*totals) error {
	if err := j.close(); err != nil {
		return err
	}
	_, err := io.WriteString(j.w, "\n</testsuites>\n")
	return err
}

func testcase(r policy.Result, failOn policy.Severity) junit.Testcase {
	tc := junit.Testcase{Name: xmlSafe(r.Object.String()), Classname: xmlSafe(r.Pos.File), Time: "0"}
	var failing, other []string
	worst := policy.Info
	for _, f := range r.Findings {
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
