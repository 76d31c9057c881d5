package workqueue

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/position/cuepos"
	"github.com/jobwq/jobwq/internal/version"
	"github.com/jobwq/jobwq/schemas"
)

// Schema returns the #WorkQueue definition compiled in ctx.
func Schema(ctx *cue.Context) (cue.Value, error) { return definition(ctx, "#WorkQueue") }

// definition returns one definition of the embedded schema, compiled in
// ctx.
func definition(ctx *cue.Context, name string) (cue.Value, error) {
	src, err := schemas.FS.ReadFile("workqueue.cue")
	if err != nil {
		return cue.Value{}, fmt.Errorf("read embedded schema: %w", err)
	}
	v := ctx.CompileBytes(src, cue.Filename("schemas/workqueue.cue"))
	if err := v.Err(); err != nil {
		return cue.Value{}, fmt.Errorf("compile embedded schema: %w", err)
	}
	v = v.FillPath(cue.ParsePath("#RunnerImage"), version.Get().RunnerImage())
	d := v.LookupPath(cue.ParsePath(name))
	if err := d.Err(); err != nil {
		return cue.Value{}, fmt.Errorf("embedded schema: %s: %w", name, err)
	}
	return d, nil
}

// CheckName says whether name may be a spec's metadata.name, by the
// schema's own rule (#Name), and if not, what the rule wants.
func CheckName(name string) error {
	ctx := cuecontext.New()
	rule, err := definition(ctx, "#Name")
	if err != nil {
		return err
	}
	if err := rule.Unify(ctx.Encode(name)).Validate(cue.Concrete(true)); err != nil {
		format, args := cueerrors.Errors(err)[0].Msg()
		return fmt.Errorf("metadata.name %q: %s", name, fmt.Sprintf(format, args...))
	}
	return nil
}

// validate unifies the parsed spec with the schema and returns the concrete
// result, or position.Errors that point into the user's file.
func validate(p *parsed) (cue.Value, error) {
	ctx := cuecontext.New()
	schema, err := Schema(ctx)
	if err != nil {
		return cue.Value{}, err
	}
	errs := p.problems
	data := ctx.BuildFile(p.file)
	v := schema.Unify(data)
	if err := data.Err(); err != nil {
		errs = append(errs, dropShadowed(convert(err, p, schema, data), p.problems)...)
	} else if err := v.Validate(cue.Concrete(true)); err != nil {
		errs = append(errs, dropShadowed(convert(err, p, schema, data), p.problems)...)
	}
	if len(errs) > 0 {
		if data.Err() == nil {
			// The rules the schema does not state, over what it accepted.
			w, refused := accepted(v, data, schema)
			errs = append(errs, crossField(v, w, refused)...)
		}
		return cue.Value{}, capErrors(merge(errs, moreProblems(p, schema)))
	}
	return v, nil
}

// maxErrors bounds what one spec reports: past it, more lines only bury
// the first mistake.
const maxErrors = 30

func capErrors(errs position.Errors) position.Errors {
	errs.Sort()
	if len(errs) <= maxErrors {
		return errs
	}
	rest := len(errs) - maxErrors
	errs = errs[:maxErrors:maxErrors]
	return append(errs, &position.Error{Pos: position.Position{File: errs[0].Pos.File}, Msg: fmt.Sprintf("and %d more problems", rest)})
}

// convert turns CUE's errors into one clear Error per field: the position
// in the user's file, the field path, and what was expected. CUE reports a
// failed default as a separate conflict and wraps disjunctions in summary
// lines; those are noise to a user and are dropped.
func convert(err error, p *parsed, schema, data cue.Value) position.Errors {
	filename := p.file.Filename
	type ranked struct {
		e        *position.Error
		rank     int
		expected []string // for plain conflicts: the schema's values
		found    string
	}
	best := map[string]*ranked{}
	var order []string
	for _, ce := range cueerrors.Errors(err) {
		format, args := ce.Msg()
		msg := fmt.Sprintf(format, args...)
		segs := ce.Path()
		if len(segs) > 0 && strings.HasPrefix(segs[0], "#") {
			segs = segs[1:]
		}
		if path := fieldPath(segs); best[path] == nil {
			// Each of the named rules (rules.go) the value breaks.
			rules := valueRules(schemaAt(schema, segs))
			if ref, err := lookup(data, segs).String(); err == nil && rules != nil {
				if m := ruleProblems(rules, ref); m != "" {
					pos := nearestPos(data, segs, filename)
					if x := findValue(p.file.Decls, segs); x != nil {
						pos = cuepos.Of(x.Pos())
					}
					order = append(order, path)
					best[path] = &ranked{e: &position.Error{Pos: pos, Path: path, Msg: m + ", found " + shorten(strconv.Quote(ref))}, rank: -1}
					continue
				}
			}
		}
		if strings.Contains(msg, "errors in empty disjunction") {
			continue
		}
		rank := rankOf(msg)
		var keyPos token.Pos
		if msg == "field not allowed" {
			segs, msg = unknownField(schema, segs)
			// Point at the unknown key, not at whatever its value holds.
			if f := findField(p.file.Decls, segs...); f != nil {
				keyPos = f.Label.Pos()
			}
		}
		if rank == rankMissing {
			// A missing list reports its first element as missing.
			for len(segs) > 0 && isIndex(segs[len(segs)-1]) {
				segs = segs[:len(segs)-1]
			}
		}
		path := fieldPath(segs)
		pos := userPos(ce, filename)
		if keyPos.IsValid() {
			pos = cuepos.Of(keyPos)
		}
		if pos.File == "" {
			pos = nearestPos(data, segs, filename)
		}
		if m := reMismatch.FindStringSubmatch(msg); m != nil {
			msg = mismatch(m, lookup(data, segs))
		}
		msg = refine(path, msg, lookup(data, segs))
		r := best[path]
		if r == nil {
			order = append(order, path)
		}
		if r == nil || rank < r.rank {
			r = &ranked{e: &position.Error{Pos: pos, Path: path, Msg: shorten(clean(msg))}, rank: rank}
			best[path] = r
		}
		if rank == rankConflict && r.rank == rankConflict {
			found := fmt.Sprint(lookup(data, segs))
			if m := reConflict.FindStringSubmatch(msg); m != nil {
				for _, x := range m[1:] {
					if x != found && !slices.Contains(r.expected, shorten(x)) {
						r.expected = append(r.expected, shorten(x))
					}
				}
				r.found = shorten(found)
			}
		}
	}
	var out position.Errors
	for _, p := range order {
		r := best[p]
		switch {
		case r.rank != rankConflict || len(r.expected) == 0:
		case len(r.expected) == 1:
			r.e.Msg = fmt.Sprintf("expected %s, found %s", r.expected[0], r.found)
		default:
			r.e.Msg = fmt.Sprintf("expected one of %s, found %s", strings.Join(r.expected, ", "), r.found)
		}
		out = append(out, r.e)
	}
	if len(out) == 0 {
		out = position.Errors{position.Errorf(position.Position{File: position.Display(filename)}, "", "%v", err)}
	}
	return out
}

var (
	reConflict = regexp.MustCompile(`^conflicting values (.+) and (.+)$`)
	reLongStr  = regexp.MustCompile(`"(?:[^"\\]|\\.){60,}"`)
)

// shorten cuts long quoted values inside a message; the position already
// says where the value is.
func shorten(msg string) string {
	return reLongStr.ReplaceAllStringFunc(msg, func(q string) string {
		r := []rune(q)
		return string(r[:50]) + `…"`
	})
}

const rankConflict = 4

func lookup(v cue.Value, segs []string) cue.Value {
	for _, s := range segs {
		v = v.LookupPath(cue.MakePath(selector(v, s)))
	}
	return v
}

// rankOf orders messages about the same field: the schema's own words
// first, a failed default last.
func rankOf(msg string) int {
	switch {
	case strings.HasPrefix(msg, "conflicting values") && strings.Contains(msg, "mismatched types"):
		return 3
	case strings.HasPrefix(msg, "conflicting values"):
		return 4
	case strings.HasPrefix(msg, "invalid value"), strings.HasPrefix(msg, "incompatible"):
		return 2
	case msg == "field not allowed":
		return 1
	case strings.HasPrefix(msg, "incomplete value"), strings.Contains(msg, "required but not present"):
		return rankMissing
	}
	return 0
}

const rankMissing = 5

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

var (
	reBound      = regexp.MustCompile(`^invalid value (.+) \(out of bound (.+)\)$`)
	reDuration   = regexp.MustCompile(`^invalid value (.+) \(does not satisfy time.Duration\)`)
	reMismatch   = regexp.MustCompile(`^conflicting values (.+) and (\S+) \(mismatched types (\w+) and (\w+)\)$`)
	reListLength = regexp.MustCompile(`^incompatible list lengths \(0 and \d+\)$`)
	reIncomplete = regexp.MustCompile(`^incomplete value `)
)

// clean rewrites CUE's phrasing where a user would not recognise it.
func clean(msg string) string {
	switch {
	case reListLength.MatchString(msg):
		return "must not be empty"
	case reIncomplete.MatchString(msg), strings.Contains(msg, "required but not present"):
		return "required field is missing"
	}
	if m := reDuration.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("expected a duration such as 90s, 10m or 1h30m, found %s", m[1])
	}
	if m := reBound.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("expected a value %s, found %s", m[2], m[1])
	}
	return msg
}

// mismatch words a type conflict from the user's side: CUE names the two
// kinds in either order, so the user's value decides which one was found.
func mismatch(m []string, user cue.Value) string {
	kinds := []string{m[3], m[4]}
	values := []string{m[1], m[2]}
	found := 0
	if user.Exists() && kindName(user.IncompleteKind()) == kinds[1] {
		found = 1
	}
	var what string
	switch kinds[found] {
	case "null":
		what = "null"
	case "struct", "list":
		what = article(kinds[found])
	default:
		what = kinds[found] + " " + shorten(values[found])
	}
	return fmt.Sprintf("expected %s, found %s", article(kinds[1-found]), what)
}

func kindName(k cue.Kind) string {
	switch k {
	case cue.StringKind:
		return "string"
	case cue.IntKind:
		return "int"
	case cue.FloatKind, cue.NumberKind:
		return "float"
	case cue.BoolKind:
		return "bool"
	case cue.StructKind:
		return "struct"
	case cue.ListKind:
		return "list"
	case cue.NullKind:
		return "null"
	}
	return k.String()
}

func article(kind string) string {
	switch kind {
	case "int":
		return "an integer"
	case "struct":
		return "a mapping"
	case "list":
		return "a list"
	}
	return "a " + kind
}

// unknownField shortens the path of a "field not allowed" error to the
// first field the schema does not know, and says what it does know.
func unknownField(schema cue.Value, segs []string) ([]string, string) {
	v := schema
	for i, s := range segs {
		if isIndex(s) && v.IncompleteKind() == cue.ListKind {
			// Allows says nothing of list elements: every one is the
			// list's element type.
			v = v.LookupPath(cue.MakePath(cue.AnyIndex))
			continue
		}
		sel := selector(v, s)
		if !v.Allows(sel) {
			name := sel.Unquoted()
			known := fieldNames(v)
			if rules := keyRules(v); rules != nil && !isResourceMap(segs[:i]) {
				if m := ruleProblems(rules, name); m != "" {
					return segs[:i+1], fmt.Sprintf("key %q is not allowed: %s", name, m)
				}
			}
			if isResourceMap(segs[:i]) {
				msg := fmt.Sprintf("unknown resource %q", name)
				if m := closest(name, known); m != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", m)
				}
				return segs[:i+1], msg + ": " + ruleProblems(keyRules(v), name)
			}
			msg := fmt.Sprintf("unknown field %q", name)
			if m := closest(name, known); m != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", m)
			} else if there := elsewhere(schema, name); len(there) > 0 {
				msg += fmt.Sprintf(" here (did you mean %s?)", strings.Join(there, " or "))
			} else if len(known) > 0 {
				msg += ": expected one of " + strings.Join(known, ", ")
			}
			return segs[:i+1], msg
		}
		next := v.LookupPath(cue.MakePath(sel))
		if !next.Exists() && sel.ConstraintType() == 0 {
			// An optional field is found only by asking for one.
			next = v.LookupPath(cue.MakePath(sel.Optional()))
		}
		v = next
	}
	return segs, "field not allowed"
}

// isResourceMap says whether segs is the path of a container's requests or
// limits, keyed by #ResourceName rather than by a fixed set of fields.
func isResourceMap(segs []string) bool {
	n := len(segs)
	return n >= 2 && segs[n-2] == "resources" && (segs[n-1] == "requests" || segs[n-1] == "limits")
}

// selector turns a path segment from a CUE error back into a selector;
// CUE quotes labels that are not identifiers.
func selector(v cue.Value, s string) cue.Selector {
	if n, err := strconv.Atoi(s); err == nil && v.IncompleteKind() == cue.ListKind {
		return cue.Index(n)
	}
	if u, err := strconv.Unquote(s); err == nil {
		return cue.Str(u)
	}
	return cue.Str(s)
}

func fieldNames(v cue.Value) []string {
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	var names []string
	for it.Next() {
		if it.Selector().IsDefinition() {
			continue
		}
		names = append(names, it.Selector().Unquoted())
	}
	slices.Sort(names)
	return names
}

// closest returns the known name within two edits of name, if any.
func closest(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// fieldPath writes CUE path segments as a user reads them:
// spec.worker.command[0].
func fieldPath(segs []string) string {
	var b strings.Builder
	for _, s := range segs {
		if isIndex(s) {
			b.WriteString("[" + s + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// userPos picks, among the positions that contributed to an error, the one
// in the user's file.
func userPos(ce cueerrors.Error, filename string) position.Position {
	if p, ok := cuepos.InFile(ce, filename); ok {
		return cuepos.Of(p)
	}
	return position.Position{}
}

// nearestPos finds the closest enclosing field the user did write, for
// errors about fields that are missing.
func nearestPos(data cue.Value, segs []string, filename string) position.Position {
	for i := len(segs); i >= 0; i-- {
		sels := make([]cue.Selector, 0, i)
		for _, s := range segs[:i] {
			sels = append(sels, cue.Str(s))
		}
		v := data.LookupPath(cue.MakePath(sels...))
		if p := v.Pos(); v.Exists() && p.IsValid() && p.Filename() == filename {
			return cuepos.Of(p)
		}
	}
	return position.Position{File: position.Display(filename)}
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

// refine says which of a schema rule's conditions a value broke, where
// the schema words them as one, and what was found where the schema's
// message says what it expected.
func refine(path, msg string, user cue.Value) string {
	if durationFields[path] {
		if k := user.IncompleteKind(); k == cue.IntKind || k == cue.FloatKind || k == cue.NumberKind {
			n := fmt.Sprint(user)
			return fmt.Sprintf("expected a duration such as 90s, 10m or 1h30m, found the number %s (did you mean \"%ss\"?)", n, n)
		}
	}
	if strings.HasPrefix(msg, "expected ") && !strings.Contains(msg, ", found ") && user.Exists() {
		switch user.IncompleteKind() {
		case cue.ListKind:
			return msg + ", found a list"
		case cue.StructKind:
			return msg + ", found a mapping"
		case cue.StringKind, cue.IntKind, cue.FloatKind, cue.NumberKind, cue.BoolKind, cue.NullKind:
			return msg + ", found " + shorten(fmt.Sprint(user))
		}
	}
	return msg
}
