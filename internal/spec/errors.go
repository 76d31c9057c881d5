package spec

import (
	"fmt"
	"path/filepath"
	"strings"

	"cuelang.org/go/cue/token"
)

// Position is a place in a user's file. Line and Column are 1-based; zero
// means unknown.
type Position struct {
	File   string
	Line   int
	Column int
}

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

// positionOf converts a CUE position at the package boundary.
func positionOf(p token.Pos) Position {
	if !p.IsValid() {
		return Position{}
	}
	return Position{File: displayPath(p.Filename()), Line: p.Line(), Column: p.Column()}
}

// displayPath shows a path relative to the working directory when it lies
// below it, as compilers do.
func displayPath(p string) string {
	if !filepath.IsAbs(p) {
		return p
	}
	if rel, err := filepath.Rel(cwd(), p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

// An Error is one problem with a spec: where it is, which field, and what
// was expected.
type Error struct {
	Pos  Position
	Path string // field path such as spec.worker.image; empty for the document
	Msg  string
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

// Errors are all the problems found in one spec, one per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func errorf(pos Position, path, format string, args ...any) *Error {
	return &Error{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)}
}
