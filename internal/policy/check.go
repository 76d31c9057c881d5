package policy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"

	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/position/cuepos"
)

// IgnoreAnnotation suppresses rules for one object: its value is a
// comma-separated list of rule ids, then the reason.
const IgnoreAnnotation = "jobwq.dev/ignore"

// A template says where a kind keeps its Job spec and its pod spec, and
// which API groups serve that kind (so that a custom resource that happens
// to be called Job is left alone).
type template struct {
	groups   []string
	job, pod []string
}

var (
	core      = []string{""}
	apps      = []string{"apps", "extensions"}
	batch     = []string{"batch"}
	podOfTmpl = []string{"spec", "template", "spec"}
	templates = map[string]template{
		"Pod":                   {groups: core, pod: []string{"spec"}},
		"PodTemplate":           {groups: core, pod: []string{"template", "spec"}},
		"ReplicationController": {groups: core, pod: podOfTmpl},
		"Deployment":            {groups: apps, pod: podOfTmpl},
		"ReplicaSet":            {groups: apps, pod: podOfTmpl},
		"StatefulSet":           {groups: apps, pod: podOfTmpl},
		"DaemonSet":             {groups: apps, pod: podOfTmpl},
		"Job":                   {groups: batch, job: []string{"spec"}, pod: podOfTmpl},
		"CronJob": {groups: batch,
			job: []string{"spec", "jobTemplate", "spec"},
			pod: []string{"spec", "jobTemplate", "spec", "template", "spec"}},
	}
)

// An object is one Kubernetes object inside a document.
type object struct {
	src    []byte // the document, for positions
	line   int    // lines of the input before the document
	expr   *ast.StructLit
	kind   string
	apiVer string
}

// A Sink receives what a check finds, in the order of the input.
type Sink interface {
	// Checked receives each object that was checked, with its findings.
	Checked(Result) error
	// Unchecked receives each document, or whole input, that could not be
	// checked, at its position and saying why.
	Unchecked(*position.Error) error
}

// Check reads every object in data and checks each; see CheckReader. The
// error joins every document that could not be checked.
func (p *Pack) Check(filename string, data []byte) ([]Result, error) {
	var c collect
	if err := p.CheckReader(context.Background(), filename, bytes.NewReader(data), &c); err != nil {
		return nil, err
	}
	return c.results, errors.Join(c.unchecked...)
}

// collect is a Sink that keeps everything.
type collect struct {
	results   []Result
	unchecked []error
}

func (c *collect) Checked(r Result) error { c.results = append(c.results, r); return nil }

func (c *collect) Unchecked(e *position.Error) error {
	c.unchecked = append(c.unchecked, e)
	return nil
}

// CheckReader reads the objects in r, a stream of YAML documents or (when
// filename ends in .json, or the input starts with { or [) JSON values,
// checks each, and hands the results to sink in input order. filename
// names the input in positions.
//
// Documents are read, decoded, checked and handed on one by one, so
// memory follows the largest document rather than the input. A document
// that cannot be decoded (a syntax error, a duplicate key) goes to the
// sink as unchecked, with its position, and the documents after it are
// still checked. A document larger than MaxDocument ends the input. The
// error is the sink's, or ctx's when it is done.
//
// Workers, one per CPU, evaluate the objects already decoded while the
// next documents are read.
func (p *Pack) CheckReader(ctx context.Context, filename string, r io.Reader, sink Sink) error {
	type task struct {
		o         object
		res       Result
		unchecked *position.Error
		done      chan struct{}
	}
	var (
		pending []*task // handed to workers, not yet to the sink
		queue   = make(chan *task, 2*runtime.GOMAXPROCS(0))
		wg      sync.WaitGroup
		sinkErr error
	)
	worker := func() {
		for t := range queue {
			if ctx.Err() == nil {
				var err error
				t.res, err = p.checkObject(ctx, filename, t.o)
				if err != nil {
					t.unchecked = &position.Error{Pos: t.res.Pos, Msg: t.res.Object.String() + ": " + err.Error()}
				}
			}
			t.o = object{} // the syntax tree is done with
			close(t.done)
		}
	}
	// hand passes finished tasks to the sink in order; with wait, it waits
	// until at most keep tasks are pending.
	hand := func(keep int) {
		for len(pending) > 0 {
			t := pending[0]
			if len(pending) > keep {
				<-t.done
			} else {
				select {
				case <-t.done:
				default:
					return
				}
			}
			pending = pending[1:]
			if sinkErr != nil || ctx.Err() != nil {
				continue
			}
			if t.unchecked != nil {
				sinkErr = sink.Unchecked(t.unchecked)
			} else {
				sinkErr = sink.Checked(t.res)
			}
		}
	}
	unchecked := func(e *position.Error) {
		t := &task{unchecked: e, done: make(chan struct{})}
		close(t.done)
		pending = append(pending, t)
	}
	// One worker to begin with; another per CPU once objects queue up, so
	// that a handful of objects costs no extra compilation of the pack.
	workers, started := runtime.GOMAXPROCS(0), 1
	wg.Go(worker)
	send := func(exprs []ast.Expr, doc document) {
		for _, e := range exprs {
			for _, o := range objectsOf(e) {
				o.src, o.line = doc.data, doc.line
				t := &task{o: o, done: make(chan struct{})}
				pending = append(pending, t)
				select {
				case queue <- t:
				case <-ctx.Done():
					close(t.done)
					return
				}
				if started < workers && len(queue) > 1 {
					started++
					wg.Go(worker)
				}
				hand(4 * workers)
			}
		}
	}
	readErr := func(err error) *position.Error {
		return &position.Error{Pos: position.Position{File: position.Display(filename)}, Msg: "read: " + err.Error()}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(512)
	if isJSON(filename, head) {
		// A JSON value has no document separators: read it whole, within
		// the bound.
		data, err := io.ReadAll(io.LimitReader(br, MaxDocument+1))
		switch {
		case err != nil:
			unchecked(readErr(err))
		case len(data) > MaxDocument:
			unchecked(errTooLarge(filename, 0))
		default:
			doc := document{data: normalizeEOL(data)}
			exprs, derr := decode(filename, doc, true)
			if derr != nil {
				unchecked(derr)
			}
			send(exprs, doc)
		}
	} else {
		docs := newDocReader(br, filename)
		for ctx.Err() == nil && sinkErr == nil {
			doc, err := docs.read()
			if errors.Is(err, io.EOF) {
				break
			}
			var pe *position.Error
			if errors.As(err, &pe) {
				unchecked(pe) // too large: the input ends here
				break
			}
			if err != nil {
				unchecked(readErr(err))
				break
			}
			doc.data = normalizeEOL(doc.data)
			exprs, derr := decode(filename, doc, false)
			if derr != nil {
				unchecked(derr)
			}
			send(exprs, doc)
		}
	}
	close(queue)
	wg.Wait()
	hand(0)
	if err := ctx.Err(); err != nil {
		return err
	}
	return sinkErr
}

// CheckBytes is Check flattened into findings sorted by file, line and
// column; it is what a caller holding rendered YAML wants.
func (p *Pack) CheckBytes(filename string, data []byte) ([]Finding, error) {
	rs, err := p.Check(filename, data)
	if err != nil {
		return nil, err
	}
	return Findings(rs), nil
}

func isJSON(filename string, data []byte) bool {
	if strings.HasSuffix(strings.ToLower(filename), ".json") {
		return true
	}
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// normalizeEOL turns CRLF and lone CR line breaks into LF, which keeps
// every line and column. YAML counts all three as line breaks but the
// decoder's table of line offsets counts only LF (a lone CR made it panic);
// JSON allows CR only as white space.
func normalizeEOL(b []byte) []byte {
	if bytes.IndexByte(b, '\r') < 0 {
		return b
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
}

// objectsOf returns the Kubernetes objects in a document: the document
// itself, or the items of a List.
func objectsOf(e ast.Expr) []object {
	s, ok := e.(*ast.StructLit)
	if !ok {
		return nil
	}
	kind, _ := stringAt(s, "kind")
	if kind == "" {
		return nil
	}
	apiVer, _ := stringAt(s, "apiVersion")
	if strings.HasSuffix(kind, "List") {
		if items, ok := lookup(s, []any{"items"}).(*ast.ListLit); ok {
			var out []object
			for _, it := range items.Elts {
				out = append(out, objectsOf(it)...)
			}
			return out
		}
	}
	return []object{{expr: s, kind: kind, apiVer: apiVer}}
}

// parts returns the Job spec and pod spec paths of o, nil when o has none.
func (o object) parts() (job, pod []string) {
	t, ok := templates[o.kind]
	if !ok {
		return nil, nil
	}
	group := ""
	if i := strings.Index(o.apiVer, "/"); i >= 0 {
		group = o.apiVer[:i]
	}
	// A missing apiVersion is a half-written manifest, still worth checking.
	if o.apiVer != "" && !slices.Contains(t.groups, group) {
		return nil, nil
	}
	return t.job, t.pod
}

// checkObject evaluates the rules over o and turns what they found into
// findings at the positions of the offending fields. An error means the
// pack could not be evaluated at all.
func (p *Pack) checkObject(ctx context.Context, filename string, o object) (Result, error) {
	res := Result{Object: o.id(), Pos: o.at(o.fieldPos(o.expr.Pos()), filename)}
	anchors := map[string][]any{"object": nil}
	var jobPath, podPath []string
	j, pd := o.parts()
	if j != nil {
		if _, ok := lookup(o.expr, toAny(j)).(*ast.StructLit); ok {
			jobPath = j
		}
	}
	if pd != nil {
		if _, ok := lookup(o.expr, toAny(pd)).(*ast.StructLit); ok {
			podPath = pd
		}
	}

	outcomes, err := p.evaluate(ctx, o, jobPath, podPath)
	if err != nil {
		return res, err
	}
	if jobPath != nil {
		anchors["job"] = toAny(jobPath)
	}
	if podPath != nil {
		anchors["pod"] = toAny(podPath)
	}

	if o.kind == "ServiceAccount" && (o.apiVer == "v1" || o.apiVer == "") {
		b, ok := lookup(o.expr, []any{"automountServiceAccountToken"}).(*ast.BasicLit)
		res.TokenOff = ok && b.Kind == token.FALSE
	}
	if podPath != nil {
		pod := lookup(o.expr, toAny(podPath))
		if lookup(pod, []any{"automountServiceAccountToken"}) == nil {
			res.RunsAs = "default"
			for _, f := range []string{"serviceAccountName", "serviceAccount"} {
				if name, ok := stringAt(pod, f); ok && name != "" {
					res.RunsAs = name
					break
				}
			}
		}
	}

	ignored := o.ignored()
	for _, r := range p.rules {
		if ignored[r.ID] {
			continue
		}
		out := outcomes[r.ID]
		if out.err != nil {
			res.Findings = append(res.Findings, Finding{
				Rule: r.ID, Severity: Error, Fix: r.Fix, Object: res.Object,
				Message: "the rule could not check this object: " + firstLine(out.err),
				Pos:     o.errorPos(out.err, filename, res.Pos),
			})
			continue
		}
		for _, vi := range out.violations {
			f := Finding{Rule: r.ID, Severity: r.Severity, Message: r.Message, Fix: r.Fix, Object: res.Object}
			if vi.detail != "" {
				f.Message = vi.detail
			}
			full := append(append([]any{}, anchors[vi.at]...), vi.path...)
			f.Pos = o.at(o.fieldPos(nearest(o.expr, full)), filename)
			res.Findings = append(res.Findings, f)
		}
	}
	SortFindings(res.Findings)
	return res, nil
}

// evaluate runs the engine over o within the pack's time bound. CUE
// evaluation cannot be interrupted: an evaluation that overruns is left
// to finish in the background (its evaluator is not reused until then),
// and the object is reported as not checked.
func (p *Pack) evaluate(ctx context.Context, o object, jobPath, podPath []string) (map[string]outcome, error) {
	type answer struct {
		out map[string]outcome
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		out, err := p.engine.evaluate(o, jobPath, podPath)
		ch <- answer{out, err}
	}()
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case a := <-ch:
		return a.out, a.err
	case <-timer.C:
		return nil, fmt.Errorf("the rules did not finish within %s (--object-timeout); a rule that loops over large lists is the usual cause", p.timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type violation struct {
	at     string
	path   []any
	detail string
}

func (p *Pack) violations(v cue.Value, id string) ([]violation, error) {
	list, err := v.LookupPath(p.paths[id]).List()
	if err != nil {
		return nil, err
	}
	var out []violation
	for list.Next() {
		e := list.Value()
		vi := violation{at: "object"}
		if at := e.LookupPath(cue.MakePath(cue.Str("at"))); at.Exists() {
			if vi.at, err = at.String(); err != nil {
				return nil, err
			}
			if vi.at != "object" && vi.at != "job" && vi.at != "pod" {
				return nil, fmt.Errorf("violation at %q: want object, job or pod", vi.at)
			}
		}
		if d := e.LookupPath(cue.MakePath(cue.Str("detail"))); d.Exists() {
			if vi.detail, err = d.String(); err != nil {
				return nil, err
			}
		}
		elems, err := e.LookupPath(cue.MakePath(cue.Str("path"))).List()
		if err != nil {
			return nil, err
		}
		for elems.Next() {
			x := elems.Value()
			switch x.Kind() {
			case cue.StringKind:
				s, _ := x.String()
				vi.path = append(vi.path, s)
			case cue.IntKind:
				n, err := x.Int64()
				if err != nil {
					return nil, err
				}
				vi.path = append(vi.path, int(n))
			default:
				return nil, fmt.Errorf("path element %v is neither a string nor an int", x)
			}
		}
		out = append(out, vi)
	}
	return out, nil
}

// errorPos places a rule's evaluation error at the input field it names,
// if any, and otherwise at the object.
func (o object) errorPos(err error, filename string, fallback position.Position) position.Position {
	for _, e := range cueerrors.Errors(err) {
		if pos, ok := cuepos.InFile(e, filename); ok {
			return o.at(pos, filename)
		}
	}
	return fallback
}

// at is where p, a position in o's document, is in the input; the file
// itself when p is unknown.
func (o object) at(p token.Pos, file string) position.Position {
	pos := at(p, file)
	if pos.Line > 0 {
		pos.Line += o.line
	}
	return pos
}

func (o object) id() Object {
	id := Object{Kind: o.kind}
	id.Name, _ = stringAt(o.expr, "metadata", "name")
	id.Namespace, _ = stringAt(o.expr, "metadata", "namespace")
	return id
}

// ignoreValue is the annotation's grammar: rule ids separated by commas,
// then the reason. The ignore-reason rule holds the same pattern.
var ignoreValue = regexp.MustCompile(`^\s*([^\s,]+(?:\s*,\s*[^\s,]+)*)(?:\s+(\S.*))?$`)

// ignored returns the rule ids the object's ignore annotation names.
func (o object) ignored() map[string]bool {
	s, ok := stringAt(o.expr, "metadata", "annotations", IgnoreAnnotation)
	if !ok {
		return nil
	}
	m := ignoreValue.FindStringSubmatch(s)
	if m == nil {
		return nil
	}
	ids := map[string]bool{}
	for id := range strings.SplitSeq(m[1], ",") {
		ids[strings.TrimSpace(id)] = true
	}
	return ids
}

func field(name string, e ast.Expr) *ast.Field {
	return &ast.Field{Label: ast.NewIdent(name), Value: e}
}

func toAny(p []string) []any {
	if p == nil {
		return nil
	}
	out := make([]any, len(p))
	for i, s := range p {
		out[i] = s
	}
	return out
}

// lookup follows path through struct fields and list elements; it returns
// nil when the path does not exist.
func lookup(e ast.Expr, path []any) ast.Expr {
	for _, step := range path {
		f := child(e, step)
		if f == nil {
			return nil
		}
		e = f.value
	}
	return e
}

type node struct {
	pos   token.Pos // the key of a field, or the start of a list element
	value ast.Expr
}

func child(e ast.Expr, step any) *node {
	switch x := e.(type) {
	case *ast.StructLit:
		key, ok := step.(string)
		if !ok {
			return nil
		}
		// The last of duplicate keys wins, as in YAML decoders that allow them.
		var found *node
		for _, d := range x.Elts {
			f, ok := d.(*ast.Field)
			if !ok {
				continue
			}
			name, _, err := ast.LabelName(f.Label)
			if err == nil && name == key {
				found = &node{pos: f.Label.Pos(), value: f.Value}
			}
		}
		return found
	case *ast.ListLit:
		i, ok := step.(int)
		if !ok || i < 0 || i >= len(x.Elts) {
			return nil
		}
		return &node{pos: x.Elts[i].Pos(), value: x.Elts[i]}
	}
	return nil
}

// nearest returns the position of the field at path, or of its deepest
// ancestor that exists: a missing field is reported where it belongs.
func nearest(e *ast.StructLit, path []any) token.Pos {
	pos := e.Pos()
	var cur ast.Expr = e
	for _, step := range path {
		n := child(cur, step)
		if n == nil {
			break
		}
		if n.pos.IsValid() {
			pos = n.pos
		}
		cur = n.value
	}
	return pos
}

// fieldPos corrects the position of a quoted JSON key, which the decoder
// places on the key's first letter rather than on its opening quote.
func (o object) fieldPos(p token.Pos) token.Pos {
	off := p.Offset()
	if !p.IsValid() || off <= 0 || off > len(o.src) {
		return p
	}
	if c := o.src[off-1]; c == '"' || c == '\'' {
		return p.File().Pos(off-1, p.RelPos())
	}
	return p
}

// stringAt returns the string at path, if there is one.
func stringAt(e ast.Expr, path ...string) (string, bool) {
	v, ok := lookup(e, toAny(path)).(*ast.BasicLit)
	if !ok || v.Kind != token.STRING {
		return "", false
	}
	s, err := literal.Unquote(v.Value)
	if err != nil {
		return "", false
	}
	return s, true
}

func firstLine(err error) string {
	s := oneLine(err).Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
