// Package report writes the results of a policy run in one of several
// formats: text for people, json for scripts, junit for CI test views and
// sarif for code-scanning uploads.
//
// Every format says which inputs could not be checked, beside the
// findings of those that were: a clean report is never a report of inputs
// jobwq did not read. Results are written in input order (files as
// given, then by line and column), without wall-clock times, so the same
// input always gives the same bytes.
//
// Memory does not grow with the input: results go to a spool file as they
// come, and Flush reads it back twice, once to count (JUnit and SARIF
// state totals before the details) and once to write.
package report

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jobwq/jobwq/internal/policy"
	"github.com/jobwq/jobwq/internal/position"
)

// Formatter receives, in input order, every object checked and every
// input that could not be (policy.Sink), then writes the report on Flush
// and says what it held.
type Formatter interface {
	policy.Sink
	Flush() (Totals, error)
}

// Totals are what a report held, once settled.
type Totals struct {
	Objects   int // objects checked
	Failing   int // findings at or above Options.FailOn
	Unchecked int // inputs, or documents of one, not checked
}

// Options are what formats other than text need to know about the run.
type Options struct {
	// Rules describe the pack for SARIF's rule table and for the
	// descriptions findings share; findings of rules not listed get a
	// bare entry.
	Rules []policy.Rule
	// FailOn is the lowest severity that fails the run: JUnit reports
	// those findings as failures and the rest as output.
	FailOn policy.Severity
	// Version is jobwq's version, recorded in SARIF.
	Version string
}

// Formats are the names New accepts.
var Formats = []string{"text", "json", "junit", "sarif"}

// format writes one report from what the spool gives back.
type format interface {
	// begin starts the report, knowing the totals.
	begin(t *totals) error
	checked(r policy.Result) error
	unchecked(e *position.Error) error
	end(t *totals) error
}

// New returns the formatter for format, writing to w.
func New(format string, w io.Writer, opts Options) (Formatter, error) {
	r := &spooled{opts: opts, rules: map[string]policy.Rule{}}
	for _, rule := range opts.Rules {
		r.rules[rule.ID] = rule
	}
	bw := bufio.NewWriter(w)
	r.out = bw
	switch format {
	case "text":
		r.format = &text{w: bw}
	case "json":
		r.format = &jsonFormat{w: bw}
	case "junit":
		r.format = &junitFormat{w: bw, failOn: opts.FailOn}
	case "sarif":
		r.format = &sarifFormat{w: bw, opts: opts}
	default:
		return nil, fmt.Errorf("unknown format %q: want one of %s", format, strings.Join(Formats, ", "))
	}
	return r, nil
}

// totals are what the whole run holds, counted before anything is written.
type totals struct {
	objects   int
	severity  map[policy.Severity]int
	findings  int
	unchecked []*position.Error // few: one per document that failed
	files     []fileTotals      // per run of results from one file, in order
	failOn    policy.Severity
}

// fileTotals count one file's objects for JUnit's suites.
type fileTotals struct {
	file                    string
	tests, failures, errors int
}

func (t *totals) file(name string) *fileTotals {
	if n := len(t.files); n > 0 && t.files[n-1].file == name {
		return &t.files[n-1]
	}
	t.files = append(t.files, fileTotals{file: name})
	return &t.files[len(t.files)-1]
}

// record is one entry of the spool: a result, or an input not checked.
type record struct {
	Result    *policy.Result
	Unchecked *position.Error
}

// spooled keeps what it receives in a temporary file, compactly (a
// finding's description is its rule's unless it says otherwise), and
// writes the report from it on Flush.
type spooled struct {
	opts   Options
	rules  map[string]policy.Rule
	format format
	out    *bufio.Writer

	spool    *os.File
	buf      *bufio.Writer
	enc      *gob.Encoder
	accounts policy.TokenAccounts
}

func (s *spooled) put(rec record) error {
	if s.spool == nil {
		f, err := os.CreateTemp("", "jobwq-policy-*")
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		// Gone from the directory at once; the open file stays readable.
		_ = os.Remove(f.Name())
		s.spool, s.buf = f, bufio.NewWriterSize(f, 64<<10)
		s.enc = gob.NewEncoder(s.buf)
	}
	if err := s.enc.Encode(rec); err != nil {
		return fmt.Errorf("report: spool: %w", err)
	}
	return nil
}

func (s *spooled) Checked(r policy.Result) error {
	s.accounts.Add(r)
	fs := make([]policy.Finding, len(r.Findings))
	copy(fs, r.Findings)
	policy.SortFindings(fs)
	for i, f := range fs {
		if rule, ok := s.rules[f.Rule]; ok {
			if f.Message == rule.Message {
				f.Message = ""
			}
			if f.Fix == rule.Fix {
				f.Fix = ""
			}
		}
		f.Object = policy.Object{}
		if f.Pos.File == r.Pos.File {
			f.Pos.File = ""
		}
		fs[i] = f
	}
	r.Findings = fs
	return s.put(record{Result: &r})
}

func (s *spooled) Unchecked(e *position.Error) error {
	return s.put(record{Unchecked: e})
}

// replay calls fn with every record, restored and settled: findings that
// a ServiceAccount elsewhere in the input satisfies are gone.
func (s *spooled) replay(fn func(record) error) error {
	if s.spool == nil {
		return nil
	}
	if _, err := s.spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("report: spool: %w", err)
	}
	dec := gob.NewDecoder(bufio.NewReaderSize(s.spool, 64<<10))
	for {
		var rec record
		if err := dec.Decode(&rec); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("report: spool: %w", err)
		}
		if r := rec.Result; r != nil {
			for i := range r.Findings {
				f := &r.Findings[i]
				rule := s.rules[f.Rule]
				if f.Message == "" {
					f.Message = rule.Message
				}
				if f.Fix == "" {
					f.Fix = rule.Fix
				}
				f.Object = r.Object
				if f.Pos.File == "" {
					f.Pos.File = r.Pos.File
				}
			}
			*r = s.accounts.Settle(*r)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

func (s *spooled) Flush() (Totals, error) {
	t, err := s.flush()
	if err != nil {
		return Totals{}, err
	}
	out := Totals{Objects: t.objects, Unchecked: len(t.unchecked)}
	for sev, n := range t.severity {
		if sev >= s.opts.FailOn {
			out.Failing += n
		}
	}
	return out, nil
}

func (s *spooled) flush() (*totals, error) {
	if s.spool != nil {
		defer s.spool.Close()
		if err := s.buf.Flush(); err != nil {
			return nil, fmt.Errorf("report: spool: %w", err)
		}
	}
	t := &totals{severity: map[policy.Severity]int{}, failOn: s.opts.FailOn}
	err := s.replay(func(rec record) error {
		if e := rec.Unchecked; e != nil {
			t.unchecked = append(t.unchecked, e)
			ft := t.file(e.Pos.File)
			ft.tests++
			ft.errors++
			return nil
		}
		r := rec.Result
		t.objects++
		ft := t.file(r.Pos.File)
		ft.tests++
		failing := false
		for _, f := range r.Findings {
			t.findings++
			t.severity[f.Severity]++
			failing = failing || f.Severity >= s.opts.FailOn
		}
		if failing {
			ft.failures++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.format.begin(t); err != nil {
		return nil, err
	}
	err = s.replay(func(rec record) error {
		if rec.Unchecked != nil {
			return s.format.unchecked(rec.Unchecked)
		}
		return s.format.checked(*rec.Result)
	})
	if err != nil {
		return nil, err
	}
	if err := s.format.end(t); err != nil {
		return nil, err
	}
	return t, s.out.Flush()
}

// summary is "3 objects, 5 findings: 4 errors, 1 warning", and how many
// inputs could not be checked.
func summary(t *totals) string {
	s := plural(t.objects, "object")
	if t.findings == 0 {
		s += ", no findings"
	} else {
		var parts []string
		for _, sev := range []policy.Severity{policy.Error, policy.Warning, policy.Info} {
			if t.severity[sev] > 0 {
				parts = append(parts, plural(t.severity[sev], sev.String()))
			}
		}
		s += ", " + plural(t.findings, "finding") + ": " + strings.Join(parts, ", ")
	}
	if n := len(t.unchecked); n > 0 {
		s += "; " + plural(n, "input") + " not checked"
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
