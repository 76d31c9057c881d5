// Package report writes the results of a policy run in one of several
// formats: text for people, json for scripts, junit for CI test views and
// sarif for code-scanning uploads.
//
// Every format buffers the results and writes them on Flush, findings
// sorted by file, line and column, and without wall-clock times, so the
// same input always gives the same bytes.
package report

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jobwq/jobwq/internal/policy"
)

// Formatter receives the result of every object checked, then writes them.
type Formatter interface {
	Write(policy.Result) error
	Flush() error
}

// Options are what formats other than text need to know about the run.
type Options struct {
	// Rules describe the pack for SARIF's rule table; findings of rules not
	// listed get a bare entry.
	Rules []policy.Rule
	// FailOn is the lowest severity that fails the run: JUnit reports
	// those findings as failures and the rest as output.
	FailOn policy.Severity
	// Version is jobwq's version, recorded in SARIF.
	Version string
}

// Formats are the names New accepts.
var Formats = []string{"text", "json", "junit", "sarif"}

// New returns the formatter for format, writing to w.
func New(format string, w io.Writer, opts Options) (Formatter, error) {
	switch format {
	case "text":
		return &text{w: w}, nil
	case "json":
		return &jsonFormat{w: w}, nil
	case "junit":
		return &junitFormat{w: w, failOn: opts.FailOn}, nil
	case "sarif":
		return &sarifFormat{w: w, opts: opts}, nil
	}
	return nil, fmt.Errorf("unknown format %q: want one of %s", format, strings.Join(Formats, ", "))
}

// collected gathers results; formats embed it.
type collected struct {
	results []policy.Result
}

func (c *collected) Write(r policy.Result) error {
	c.results = append(c.results, r)
	return nil
}

// findings are all findings, sorted.
func (c *collected) findings() []policy.Finding {
	return policy.Findings(c.results)
}

// sortedResults orders objects by where they start.
func (c *collected) sortedResults() []policy.Result {
	rs := slices.Clone(c.results)
	slices.SortStableFunc(rs, func(a, b policy.Result) int {
		if c := strings.Compare(a.Pos.File, b.Pos.File); c != 0 {
			return c
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		return a.Pos.Column - b.Pos.Column
	})
	return rs
}

// counts tallies findings by severity.
func counts(fs []policy.Finding) map[policy.Severity]int {
	m := map[policy.Severity]int{}
	for _, f := range fs {
		m[f.Severity]++
	}
	return m
}

// summary is "3 objects, 5 findings: 4 errors, 1 warning".
func summary(objects int, fs []policy.Finding) string {
	s := plural(objects, "object")
	if len(fs) == 0 {
		return s + ", no findings"
	}
	c := counts(fs)
	var parts []string
	for _, sev := range []policy.Severity{policy.Error, policy.Warning, policy.Info} {
		if c[sev] > 0 {
			parts = append(parts, plural(c[sev], sev.String()))
		}
	}
	return s + ", " + plural(len(fs), "finding") + ": " + strings.Join(parts, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
