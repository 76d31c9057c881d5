package spec

import (
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"

	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/position/cuepos"
)

// checkControl refuses control characters (all but tab, line feed and
// carriage return) anywhere in a spec, with their position: YAML and JSON
// forbid them raw, and their parsers report them without one.
func checkControl(filename string, data []byte) error {
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == '\n':
			line, col = line+1, 1
			i += size
			continue
		case r == '\t' || r == '\r':
		case r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xFEFF && i > 0:
			// Line breaks to YAML 1.1, not to YAML 1.2: parsers disagree
			// on the lines that follow (CUE's YAML decoder panics).
			return position.Errors{position.Errorf(position.Position{File: position.Display(filename), Line: line, Column: col}, "",
				"%U is a line break to some YAML parsers and not to others: write it as an escape inside a quoted string (\"\\u%04X\") if it is meant", r, r)}
		case r < 0x20 || r == 0x7F || (r >= 0x80 && r <= 0x9F) || r == 0xFFFE || r == 0xFFFF:
			what := fmt.Sprintf("control character %U", r)
			if r == 0 {
				what = "NUL byte (U+0000)"
			}
			return position.Errors{position.Errorf(position.Position{File: position.Display(filename), Line: line, Column: col}, "",
				"%s: a spec must be text; write it as an escape inside a quoted string (\"\\u%04X\") if it is meant", what, r)}
		}
		col++
		i += size
	}
	return nil
}

// fixNumber undoes what the YAML decoder makes of an integer too large
// for 64 bits (the expression "number & 999…", which CUE then reports as
// "illegal number start"): CUE's integers have no size, so the schema
// judges the number as written and says what it expected.
func fixNumber(x *ast.BasicLit) {
	v, wrapped := strings.CutPrefix(x.Value, "number & ")
	if x.Kind != token.FLOAT || !wrapped {
		return
	}
	var n big.Int
	if _, ok := n.SetString(strings.ReplaceAll(v, "_", ""), 0); ok {
		x.Kind, x.Value = token.INT, n.String()
	}
}

// dropShadowed drops CUE's errors about fields whose problem was already
// found while parsing: one line per problem.
func dropShadowed(errs, found position.Errors) position.Errors {
	paths := map[string]bool{}
	for _, e := range found {
		if e.Path != "" {
			paths[e.Path] = true
		}
	}
	out := errs[:0:0]
	for _, e := range errs {
		if !paths[e.Path] {
			out = append(out, e)
		}
	}
	return out
}

// durationFields are the spec's durations, written as Go durations.
var durationFields = map[string]bool{
	"spec.worker.timeout":          true,
	"spec.worker.wait":             true,
	"spec.worker.activeDeadline":   true,
	"spec.worker.ttlAfterFinished": true,
}

var (
	reEnvPath = regexp.MustCompile(`^spec\.worker\.env\[\d+\]\.name$`)
	reEnvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// refine says which of a schema rule's conditions a value broke, where
// the schema words them as one.
func refine(path, msg string, user cue.Value) string {
	if durationFields[path] {
		if k := user.IncompleteKind(); k == cue.IntKind || k == cue.FloatKind || k == cue.NumberKind {
			n := fmt.Sprint(user)
			return fmt.Sprintf("expected a duration such as 90s, 10m or 1h30m, found the number %s (did you mean \"%ss\"?)", n, n)
		}
	}
	if reEnvPath.MatchString(path) {
		s, err := user.String()
		if err != nil {
			return msg
		}
		if !reEnvName.MatchString(s) {
			return fmt.Sprintf("must be an environment variable name: letters, digits and '_', not starting with a digit, found %q", s)
		}
		return fmt.Sprintf("%q starts with BROKER_ or JOBWQ_, which jobwq sets: choose another name", s)
	}
	return msg
}

// onlyEmptyDocs reads the documents after a spec's: empty ones (a trailing
// "---", as many editors and generators write) are fine, another document
// is an error at its first line.
func onlyEmptyDocs(filename string, d interface{ Extract() (ast.Expr, error) }) error {
	for {
		next, err := d.Extract()
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return syntaxErrors(filename, err)
		}
		if lit, ok := next.(*ast.BasicLit); ok && lit.Kind == token.NULL {
			continue
		}
		pos := cuepos.Of(next.Pos())
		if pos.File == "" {
			pos = position.Position{File: position.Display(filename)}
		}
		pos.Column = 1
		return position.Errors{position.Errorf(pos, "", "expected one YAML document, found another: a spec file holds one WorkQueue")}
	}
}
