package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
	"cuelang.org/go/encoding/json"
	"cuelang.org/go/encoding/yaml"

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
	src    []byte // the whole input, for positions
	expr   *ast.StructLit
	kind   string
	apiVer string
}

// Check reads every object in data, a stream of YAML documents or (when
// filename ends in .json, or data starts with { or [) JSON values, and
// checks each. filename names data in positions. A syntax error stops the
// check and is returned with its position.
//
// Documents are decoded in order while workers, one per CPU, evaluate the
// objects already decoded.
func (p *Pack) Check(filename string, data []byte) ([]Result, error) {
	data = normalizeEOL(data)
	type task struct {
		o   object
		res Result
		err error
	}
	var (
		tasks []*task
		queue = make(chan *task, 256)
		wg    sync.WaitGroup
	)
	worker := func() {
		for t := range queue {
			t.res, t.err = p.checkObject(filename, t.o)
		}
	}
	// One worker to begin with; another per CPU once objects queue up, so
	// that a handful of objects costs no extra compilation of the pack.
	workers, started := runtime.GOMAXPROCS(0), 1
	wg.Go(worker)
	decodeErr := eachDocument(filename, data, func(doc ast.Expr) {
		for _, o := range objectsOf(doc) {
			o.src = data
			t := &task{o: o}
			tasks = append(tasks, t)
			queue <- t
			if started < workers && len(queue) > 1 {
				started++
				wg.Go(worker)
			}
		}
	})
	close(queue)
	wg.Wait()
	if decodeErr != nil {
		return nil, decodeErr
	}
	results := make([]Result, 0, len(tasks))
	for _, t := range tasks {
		if t.err != nil {
			return nil, t.err
		}
		results = append(results, t.res)
	}
	return results, nil
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

// eachDocument decodes a stream document by document, keeping positions.
// A decoder that panics on some input is reported as a parse error, not a
// crash.
func eachDocument(filename string, data []byte, yield func(ast.Expr)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: cannot parse: the decoder failed: %v", filename, r)
		}
	}()
	type extractor interface{ Extract() (ast.Expr, error) }
	var d extractor
	kind := "YAML"
	if isJSON(filename, data) {
		d = json.NewDecoder(nil, filename, bytes.NewReader(data))
		kind = "JSON"
	} else {
		d = yaml.NewDecoder(filename, bytes.NewReader(data))
	}
	for {
		e, err := d.Extract()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// The decoders' messages start with the position when they
			// know it; say which file and language either way.
			msg := oneLine(err).Error()
			if rest, ok := strings.CutPrefix(msg, filename+":"); ok {
				pos, text, _ := strings.Cut(rest, ": ")
				return fmt.Errorf("%s:%s: invalid %s: %s", filename, pos, kind, strings.TrimPrefix(text, "invalid JSON for file \""+filename+"\": "))
			}
			return fmt.Errorf("%s: invalid %s: %s", filename, kind, msg)
		}
		yield(e)
	}
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
func (p *Pack) checkObject(filename string, o object) (Result, error) {
	res := Result{Object: o.id(), Pos: at(o.fieldPos(o.expr.Pos()), filename)}
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

	outcomes, err := p.engine.evaluate(o, jobPath, podPath)
	if err != nil {
		return res, err
	}
	if jobPath != nil {
		anchors["job"] = toAny(jobPath)
	}
	if podPath != nil {
		anchors["pod"] = toAny(podPath)
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
				Pos:     p.errorPos(out.err, filename, res.Pos),
			})
			continue
		}
		for _, vi := range out.violations {
			f := Finding{Rule: r.ID, Severity: r.Severity, Message: r.Message, Fix: r.Fix, Object: res.Object}
			if vi.detail != "" {
				f.Message = vi.detail
			}
			full := append(append([]any{}, anchors[vi.at]...), vi.path...)
			f.Pos = at(o.fieldPos(nearest(o.expr, full)), filename)
			res.Findings = append(res.Findings, f)
		}
	}
	SortFindings(res.Findings)
	return res, nil
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
func (p *Pack) errorPos(err error, filename string, fallback position.Position) position.Position {
	for _, e := range cueerrors.Errors(err) {
		if pos, ok := cuepos.InFile(e, filename); ok {
			return cuepos.Of(pos)
		}
	}
	return fallback
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
