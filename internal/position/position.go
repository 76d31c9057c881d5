// Package position says where in a user's file something is, and carries
// the problems found there. Every message jobwq prints about a spec, an
// items file or a manifest starts with one: file:line:column.
//
// It depends on the standard library only, so that the programs running
// in pods (which report bad item lines too) do not link the CUE evaluator;
// converting CUE's token.Pos is cuepos's job.
package position

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Names that stand in a Position's File for what is not a file, so that
// the reports (SARIF above all) can say so rather than point at a path.
const (
	// StdinName is standard input.
	StdinName = "<stdin>"
	// BuiltSuffix follows a kustomization directory's path: the lines and
	// columns point into the built stream, which `kubectl kustomize DIR`
	// prints, not into the files of the tree.
	BuiltSuffix = " (kustomize build)"
)

// Position is a place in a user's file. Line and Column are 1-based; zero
// means unknown.
type Position struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// String is "file:line:column", as compilers print it, leaving out what is
// unknown; the zero Position is "".
func (p Position) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Compare orders positions by file, line and column.
func Compare(a, b Position) int {
	if c := strings.Compare(a.File, b.File); c != 0 {
		return c
	}
	if a.Line != b.Line {
		return a.Line - b.Line
	}
	return a.Column - b.Column
}

// Display shows a path relative to the working directory when it lies
// below it, as compilers do; other paths are left as they are.
func Display(path string) string {
	if !filepath.IsAbs(path) {
		return path
	}
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	return path
}

// An Error is one problem with a user's input: where it is, which field
// (if the input has fields), and what was expected.
type Error struct {
	Pos  Position
	Path string // field path such as spec.worker.image; empty for the document
	Msg  string
}

// Errorf is an Error with a formatted message.
func Errorf(pos Position, path, format string, args ...any) *Error {
	return &Error{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors are all the problems found in one input, printed one per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders the problems by position, keeping the order of those at the
// same place.
func (es Errors) Sort() {
	slices.SortStableFunc(es, func(a, b *Error) int { return Compare(a.Pos, b.Pos) })
}
