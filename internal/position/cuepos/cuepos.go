// Package cuepos converts CUE's positions into jobwq's at the boundary
// between the CUE evaluator and the rest of jobwq, and picks, among the
// many positions a CUE error carries, the ones in the user's file.
package cuepos

import (
	"slices"

	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/jobwq/jobwq/internal/position"
)

// Of converts p; an invalid position is the zero Position.
func Of(p token.Pos) position.Position {
	if !p.IsValid() {
		return position.Position{}
	}
	return position.Position{File: position.Display(p.Filename()), Line: p.Line(), Column: p.Column()}
}

// All returns the valid positions of e without repeats: its own first,
// then those of the values that led to it (schema, rule and input alike).
func All(e cueerrors.Error) []token.Pos {
	var all []token.Pos
	for _, p := range append([]token.Pos{e.Position()}, e.InputPositions()...) {
		if p.IsValid() && !slices.Contains(all, p) {
			all = append(all, p)
		}
	}
	return all
}

// InFile returns the first of e's positions that lies in file: where the
// user wrote what the error is about, rather than the schema or rule
// that refused it.
func InFile(e cueerrors.Error, file string) (token.Pos, bool) {
	for _, p := range All(e) {
		if p.Filename() == file {
			return p, true
		}
	}
	return token.NoPos, false
}
