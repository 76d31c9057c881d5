package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
)

// The CUE evaluator costs microseconds for every node it unifies, and a
// policy check unifies the pack with every object: with varied objects
// nothing can be shared, and checking 2,000 Deployments took ten times
// kube-score's CPU. Yet rules are mostly written in a small part of CUE,
// the one subset.go lists. This file evaluates that part over plain Go
// values, straight from the rules' syntax.
//
// Which rules are evaluated here is decided once, when the pack is
// compiled (subset.go). What remains for an object is data CUE would judge
// differently from Go (values of mixed kinds in a comparison, an error CUE
// would report, a value that might hold an error): the evaluation stops
// with unsure, and CUE decides that one rule for that object.

// A value is a string, an int64, a bool, a float (kept as its literal), a
// null, a *structVal, a listVal, or bottom (an error or a missing field,
// which CUE calls _|_).
type value any

type (
	floatVal  string
	nullVal   struct{}
	bottomVal struct{}
	listVal   []value
)

var bottom value = bottomVal{}

// structVal is a struct with its fields in order. Most structs of a
// manifest have a handful of fields: a slice searched in order beats a map.
type structVal struct {
	names []string
	vals  []value
	// Whether a field, at any depth, is bottom: CUE may treat such a
	// struct as an error where Go sees a struct.
	hasBottom bool
}

func newStruct(n int) *structVal {
	return &structVal{names: make([]string, 0, n), vals: make([]value, 0, n)}
}

// get returns the field called name.
func (s *structVal) get(name string) (value, bool) {
	for i, n := range s.names {
		if n == name {
			return s.vals[i], true
		}
	}
	return nil, false
}

// set adds a field; a second field of the same name would be unified,
// which direct leaves to CUE.
func (s *structVal) set(name string, v value) {
	if _, dup := s.get(name); dup {
		panic(unsure)
	}
	s.names = append(s.names, name)
	s.vals = append(s.vals, v)
	if holdsBottom(v) {
		s.hasBottom = true
	}
}

func holdsBottom(v value) bool {
	switch x := v.(type) {
	case bottomVal:
		return true
	case *structVal:
		return x.hasBottom
	case listVal:
		for _, e := range x {
			if holdsBottom(e) {
				return true
			}
		}
	}
	return false
}

// unsure is what the evaluation of one rule over one object stops with
// when CUE, not Go, must decide it. It never leaves this file: rule is the
// one place that recovers it, and it re-panics anything else.
var unsure = errors.New("policy: not for direct evaluation")

// maxSteps bounds one rule's direct evaluation; past it, CUE evaluates
// the rule under the pack's time bound.
const maxSteps = 1 << 20

// direct is the compiled form of the rules evaluated over Go values.
type direct struct {
	top   map[string]*topField
	rules map[string]*directRule
	spec  value // input.spec, or nil
	reads reads // what the rules read of input

	mu     sync.Mutex
	consts map[string]value // fields that do not depend on input, once evaluated

	// The pack's literals and interpolations, read once.
	literals  map[*ast.BasicLit]value
	fragments map[*ast.Interpolation][]string
}

type topField struct {
	expr      ast.Expr
	file      *fileScope
	multiple  bool // declared more than once: unified by CUE
	dependent bool // reads input, directly or through other fields
}

type directRule struct {
	body *ast.StructLit
	file *fileScope
}

// fileScope holds a file's imports: they are visible only in that file.
type fileScope struct {
	imports map[string]string // name → import path
}

// newDirect compiles the rules of files that are written in the subset
// (subset.go) and says, for every other rule, why not. slow is nil when
// all are fast; it names every rule when the pack as a whole is beyond
// direct evaluation (input constrained by the pack, top-level aliases,
// embeddings, lets or comprehensions, CUE outside rules that refers to
// rules, or patterns that constrain violations).
func newDirect(p *Pack, files []*ast.File, ids []string) (d *direct, slow map[string]string) {
	d = &direct{
		top:       map[string]*topField{},
		rules:     map[string]*directRule{},
		consts:    map[string]value{},
		literals:  map[*ast.BasicLit]value{},
		fragments: map[*ast.Interpolation][]string{},
	}
	all := func(why string) (*direct, map[string]string) {
		slow := map[string]string{}
		for _, id := range ids {
			slow[id] = why
		}
		return nil, slow
	}
	ruleDecls := map[string][]*directRule{}
	for _, f := range files {
		fs := &fileScope{imports: map[string]string{}}
		for _, decl := range f.Decls {
			switch x := decl.(type) {
			case *ast.Package, *ast.CommentGroup, *ast.Attribute:
			case *ast.ImportDecl:
				for _, spec := range x.Specs {
					path, err := literal.Unquote(spec.Path.Value)
					if err != nil {
						return all("an import is not a plain string")
					}
					name := path[strings.LastIndex(path, "/")+1:]
					if spec.Name != nil {
						name = spec.Name.Name
					}
					fs.imports[name] = path
				}
			case *ast.Field:
				name, _, err := ast.LabelName(x.Label)
				if _, ok := x.Label.(*ast.Ident); !ok || x.Constraint != token.ILLEGAL || err != nil {
					return all(f.Filename + " declares a package field with an alias, a pattern or a constraint")
				}
				switch name {
				case "input":
					if id, ok := x.Value.(*ast.Ident); !ok || id.Name != "_" {
						return all(f.Filename + " constrains input")
					}
				case "rules":
					s, ok := x.Value.(*ast.StructLit)
					if !ok {
						return all(f.Filename + " declares rules as something other than a struct")
					}
					for _, e := range s.Elts {
						rf, ok := e.(*ast.Field)
						if !ok {
							return all(f.Filename + " embeds something in rules")
						}
						id, _, err := ast.LabelName(rf.Label)
						if err != nil {
							// A pattern applies to every rule; one that
							// touches violations could change them.
							if declares(rf.Value, "violations") {
								return all(f.Filename + " constrains every rule's violations")
							}
							continue
						}
						body, _ := rf.Value.(*ast.StructLit)
						ruleDecls[id] = append(ruleDecls[id], &directRule{body: body, file: fs})
					}
				default:
					if refersTo(x.Value, "rules") {
						return all(f.Filename + ": " + name + " refers to rules")
					}
					if t, ok := d.top[name]; ok {
						t.multiple = true
						continue
					}
					d.top[name] = &topField{expr: x.Value, file: fs}
				}
			default:
				return all(fmt.Sprintf("%s has a top-level %T", f.Filename, decl))
			}
		}
	}
	top := map[string]bool{}
	for name := range d.top {
		top[name] = true
	}
	// What each package field is, and whether it reads input, once.
	fieldWhy := map[string]string{}
	refs := map[string][]string{}
	for name, t := range d.top {
		refs[name] = references(t.expr, top)
		fieldWhy[name] = subsetOf(t.expr, t.file.imports)
		t.dependent = refersTo(t.expr, "input")
		if t.multiple && fieldWhy[name] == "" {
			fieldWhy[name] = "is declared more than once"
		}
	}
	for changed := true; changed; {
		changed = false
		for name, t := range d.top {
			for _, r := range refs[name] {
				if !t.dependent && d.top[r].dependent {
					t.dependent, changed = true, true
				}
			}
		}
	}
	slow = map[string]string{}
	for _, id := range ids {
		decls := ruleDecls[id]
		// A rule declared in parts, or as anything but a struct of plain
		// fields, is CUE's.
		if len(decls) != 1 || decls[0].body == nil || !plainRule(decls[0].body) {
			slow[id] = "is declared in parts or from a definition, not as one struct of fields"
			continue
		}
		r := decls[0]
		if why := subsetOf(r.body, r.file.imports); why != "" {
			slow[id] = why
			continue
		}
		// And every package field it reaches.
		seen := map[string]bool{}
		var reach func(names []string) string
		reach = func(names []string) string {
			for _, n := range names {
				if seen[n] {
					continue
				}
				seen[n] = true
				if why := fieldWhy[n]; why != "" {
					return n + " " + why
				}
				if why := reach(refs[n]); why != "" {
					return why
				}
			}
			return ""
		}
		if why := reach(references(r.body, top)); why != "" {
			slow[id] = "uses " + why
			continue
		}
		d.rules[id] = r
	}
	for _, t := range d.top {
		d.prepare(t.expr)
	}
	for _, r := range d.rules {
		d.prepare(r.body)
	}
	if p.spec != nil {
		s := newStruct(3)
		s.set("items", int64(p.spec.Items))
		s.set("itemsPerPod", int64(max(p.spec.ItemsPerPod, 1)))
		s.set("path", p.spec.Path)
		d.spec = s
	}
	if len(d.rules) == 0 {
		d = nil
	}
	return d, slow
}

// plainRule reports whether a rule's body is fields with identifier
// labels, one of them violations.
func plainRule(s *ast.StructLit) bool {
	n := 0
	for _, e := range s.Elts {
		f, ok := e.(*ast.Field)
		if !ok || f.Constraint != token.ILLEGAL {
			return false
		}
		id, ok := f.Label.(*ast.Ident)
		if !ok {
			return false
		}
		if id.Name == "violations" {
			n++
		}
	}
	return n == 1
}

// declares reports whether n holds a field labelled name.
func declares(n ast.Node, name string) bool {
	found := false
	ast.Walk(n, func(n ast.Node) bool {
		if f, ok := n.(*ast.Field); ok {
			if l, _, err := ast.LabelName(f.Label); err == nil && l == name {
				found = true
			}
		}
		return !found
	}, nil)
	return found
}

// evaluate fills out with the outcome of each rule in ids that d could
// decide for o, and returns the ids it left to CUE.
func (d *direct) evaluate(o object, jobPath, podPath []string, ids []string, out map[string]outcome) (left []string) {
	// Only what the rules read becomes Go values: a CRD's schema is never
	// converted.
	o.expr, jobPath, podPath = d.reads.prune(o.expr, jobPath, podPath)
	in, ok := d.input(o, jobPath, podPath)
	if !ok {
		return ids
	}
	ev := &evaluation{d: d, input: in, cache: map[string]value{}}
	for _, id := range ids {
		vs, ok := ev.rule(d.rules[id])
		if !ok {
			left = append(left, id)
			continue
		}
		out[id] = outcome{violations: vs}
	}
	return left
}

// input is the value rules see as input, or false when o holds syntax
// that did not come from YAML or JSON.
func (d *direct) input(o object, jobPath, podPath []string) (in *structVal, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if r != unsure {
				panic(r)
			}
			ok = false
		}
	}()
	obj := fromSyntax(o.expr)
	in = newStruct(4)
	in.set("object", obj)
	if jobPath != nil {
		in.set("job", valueAt(obj, jobPath))
	}
	if podPath != nil {
		in.set("pod", valueAt(obj, podPath))
	}
	if d.spec != nil {
		in.set("spec", d.spec)
	}
	return in, true
}

func valueAt(v value, path []string) value {
	for _, p := range path {
		s, ok := v.(*structVal)
		if !ok {
			panic(unsure)
		}
		if v, ok = s.get(p); !ok {
			panic(unsure)
		}
	}
	return v
}

// fromSyntax converts an object as decoded from YAML or JSON.
func fromSyntax(e ast.Expr) value {
	switch x := e.(type) {
	case *ast.StructLit:
		s := newStruct(len(x.Elts))
		for _, d := range x.Elts {
			f, ok := d.(*ast.Field)
			if !ok || f.Constraint != token.ILLEGAL {
				panic(unsure)
			}
			name, _, err := ast.LabelName(f.Label)
			if err != nil {
				panic(unsure)
			}
			if id, ok := f.Label.(*ast.Ident); ok && (id.Name[0] == '_' || id.Name[0] == '#') {
				panic(unsure) // hidden and definition labels are not data
			}
			s.set(name, fromSyntax(f.Value))
		}
		return s
	case *ast.ListLit:
		l := make(listVal, 0, len(x.Elts))
		for _, el := range x.Elts {
			l = append(l, fromSyntax(el))
		}
		return l
	case *ast.BasicLit:
		return literalValue(x)
	case *ast.UnaryExpr:
		if x.Op == token.SUB {
			switch v := fromSyntax(x.X).(type) {
			case int64:
				if v != 0 {
					return -v
				}
			case floatVal:
				return floatVal("-" + string(v))
			}
		}
	}
	panic(unsure)
}

// literalValue is the value of a literal, as CUE reads it.
func literalValue(x *ast.BasicLit) value {
	v, ok := literalOf(x)
	if !ok {
		panic(unsure)
	}
	return v
}

// decimal reads a plain decimal integer, as small as CUE keeps exactly.
func decimal(v string) (value, bool) {
	if v == "" || len(v) > 18 || (len(v) > 1 && v[0] == '0') {
		return nil, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// evaluation is the evaluation of rules over one object.
type evaluation struct {
	d     *direct
	input *structVal
	cache map[string]value // top-level fields that depend on input
	busy  map[string]bool  // fields being evaluated: a cycle is CUE's to judge
	steps int
}

// rule evaluates a rule's violations, or reports false when CUE must.
func (ev *evaluation) rule(r *directRule) (vs []violation, ok bool) {
	defer func() {
		if x := recover(); x != nil {
			if x != unsure {
				panic(x)
			}
			vs, ok = nil, false
		}
	}()
	ev.steps = 0
	sc := ev.scopeOf(r.body, &scope{file: r.file})
	list, isList := ev.force(sc.thunk("violations")).(listVal)
	if !isList {
		panic(unsure)
	}
	for _, e := range list {
		vs = append(vs, toViolation(e))
	}
	return vs, true
}

// toViolation reads one element of violations as Pack.violations does,
// giving up wherever that would report an error.
func toViolation(e value) violation {
	s, ok := e.(*structVal)
	if !ok || s.hasBottom {
		panic(unsure)
	}
	vi := violation{at: "object"}
	if a, ok := s.get("at"); ok {
		str, ok := a.(string)
		if !ok || (str != "object" && str != "job" && str != "pod") {
			panic(unsure)
		}
		vi.at = str
	}
	if d, ok := s.get("detail"); ok {
		str, ok := d.(string)
		if !ok {
			panic(unsure)
		}
		vi.detail = str
	}
	p, _ := s.get("path")
	path, ok := p.(listVal)
	if !ok {
		panic(unsure)
	}
	for _, p := range path {
		switch x := p.(type) {
		case string:
			vi.path = append(vi.path, x)
		case int64:
			vi.path = append(vi.path, int(x))
		default:
			panic(unsure)
		}
	}
	return vi
}

// scope is where identifiers are looked up: comprehension variables and
// lets, the fields of enclosing struct literals, then the file's imports
// and the package's fields. Scopes are small: a slice beats a map.
type scope struct {
	parent *scope
	file   *fileScope
	names  []string
	thunks []thunk // by names; a variable is a thunk already done
}

type thunk struct {
	expr  ast.Expr
	scope *scope
	state int // 0 not yet, 1 evaluating, 2 done
	val   value
}

// bind returns a scope below sc holding one variable (two with a key).
func bind(sc *scope, name string, v value, key string, k value) *scope {
	inner := &scope{parent: sc, file: sc.file, names: []string{name}, thunks: []thunk{{state: 2, val: v}}}
	if key != "" {
		inner.names = append(inner.names, key)
		inner.thunks = append(inner.thunks, thunk{state: 2, val: k})
	}
	return inner
}

func (sc *scope) thunk(name string) *thunk {
	for i, n := range sc.names {
		if n == name {
			return &sc.thunks[i]
		}
	}
	return nil
}

func (ev *evaluation) force(t *thunk) value {
	switch t.state {
	case 1:
		panic(unsure) // a reference cycle
	case 2:
		return t.val
	}
	t.state = 1
	t.val = ev.eval(t.expr, t.scope)
	t.state = 2
	return t.val
}

// namespace is an imported package used as a value (strings.Join).
type namespace string

func (ev *evaluation) lookup(name string, sc *scope) value {
	for s := sc; s != nil; s = s.parent {
		if t := s.thunk(name); t != nil {
			return ev.force(t)
		}
		if s.parent == nil {
			if path, ok := s.file.imports[name]; ok {
				return namespace(path)
			}
		}
	}
	return ev.topLevel(name)
}

func (ev *evaluation) topLevel(name string) value {
	if v, ok := ev.cache[name]; ok {
		return v
	}
	if name == "input" {
		return ev.input
	}
	t, ok := ev.d.top[name]
	if !ok || t.multiple {
		panic(unsure) // builtins, types, and what CUE unifies
	}
	if !t.dependent {
		ev.d.mu.Lock()
		v, ok := ev.d.consts[name]
		ev.d.mu.Unlock()
		if ok {
			if v == nil {
				panic(unsure)
			}
			ev.cache[name] = v
			return v
		}
	}
	if ev.busy == nil {
		ev.busy = map[string]bool{}
	}
	if ev.busy[name] {
		panic(unsure)
	}
	ev.busy[name] = true
	defer delete(ev.busy, name)
	var v value
	func() {
		defer func() {
			if x := recover(); x != nil {
				if x == unsure && !t.dependent {
					ev.d.mu.Lock()
					ev.d.consts[name] = nil // always beyond direct
					ev.d.mu.Unlock()
				}
				panic(x)
			}
		}()
		if !t.dependent {
			// A constant's verdict is kept for every object: it gets a
			// step budget of its own, not what the rule left.
			saved := ev.steps
			ev.steps = 0
			defer func() { ev.steps = saved }()
		}
		v = ev.eval(t.expr, &scope{file: t.file})
	}()
	if t.dependent {
		ev.cache[name] = v
	} else {
		ev.d.mu.Lock()
		ev.d.consts[name] = v
		ev.d.mu.Unlock()
	}
	return v
}

// must is v, which must not be bottom: where CUE would report an error.
func must(v value) value {
	if _, ok := v.(bottomVal); ok {
		panic(unsure)
	}
	return v
}

func (ev *evaluation) eval(e ast.Expr, sc *scope) value {
	if ev.steps++; ev.steps > maxSteps {
		panic(unsure)
	}
	switch x := e.(type) {
	case *ast.BasicLit:
		if v, ok := ev.d.literals[x]; ok {
			return v
		}
		return literalValue(x)
	case *ast.Interpolation:
		return ev.interpolation(x, sc)
	case *ast.Ident:
		return ev.lookup(x.Name, sc)
	case *ast.ParenExpr:
		return ev.eval(x.X, sc)
	case *ast.BottomLit:
		return bottom
	case *ast.SelectorExpr:
		v := ev.eval(x.X, sc)
		name := ev.d.label(x.Sel)
		if name == "" || name[0] == '_' || name[0] == '#' {
			panic(unsure)
		}
		if _, ok := v.(namespace); ok {
			panic(unsure) // a builtin as a value, not called
		}
		return selectField(v, name)
	case *ast.IndexExpr:
		v := ev.eval(x.X, sc)
		i := ev.eval(x.Index, sc)
		if _, ok := v.(bottomVal); ok {
			return bottom
		}
		switch idx := i.(type) {
		case string:
			return selectField(v, idx)
		case int64:
			if l, ok := v.(listVal); ok && idx >= 0 && idx < int64(len(l)) {
				return l[idx]
			}
			if _, ok := v.(listVal); ok {
				return bottom
			}
		}
		panic(unsure)
	case *ast.UnaryExpr:
		v := must(ev.eval(x.X, sc))
		switch x.Op {
		case token.NOT:
			if b, ok := v.(bool); ok {
				return !b
			}
		case token.SUB:
			if n, ok := v.(int64); ok && n != 0 && n != -n {
				return -n
			}
		}
		panic(unsure)
	case *ast.BinaryExpr:
		return ev.binary(x, sc)
	case *ast.CallExpr:
		return ev.call(x, sc)
	case *ast.ListLit:
		var l listVal
		for _, el := range x.Elts {
			switch y := el.(type) {
			case *ast.Comprehension:
				ev.comprehension(y.Clauses, sc, func(inner *scope) {
					l = append(l, ev.structLit(body(y), inner))
				})
			case *ast.Ellipsis:
				panic(unsure)
			default:
				l = append(l, ev.eval(y, sc))
			}
		}
		return l
	case *ast.StructLit:
		return ev.structLit(x, sc)
	}
	panic(unsure)
}

// body is a comprehension's value, which the parser makes a struct.
func body(c *ast.Comprehension) *ast.StructLit {
	s, ok := c.Value.(*ast.StructLit)
	if !ok {
		panic(unsure)
	}
	return s
}

// selectField selects name from v: a missing field, or a field of something
// that is no struct, is bottom.
func selectField(v value, name string) value {
	s, ok := v.(*structVal)
	if !ok {
		return bottom
	}
	if f, ok := s.get(name); ok {
		return f
	}
	return bottom
}

// comprehension calls yield with the scope of each iteration that all of
// clauses let through.
func (ev *evaluation) comprehension(clauses []ast.Clause, sc *scope, yield func(*scope)) {
	if len(clauses) == 0 {
		yield(sc)
		return
	}
	switch c := clauses[0].(type) {
	case *ast.IfClause:
		b, ok := must(ev.eval(c.Condition, sc)).(bool)
		if !ok {
			panic(unsure)
		}
		if b {
			ev.comprehension(clauses[1:], sc, yield)
		}
	case *ast.LetClause:
		ev.comprehension(clauses[1:], bind(sc, c.Ident.Name, ev.eval(c.Expr, sc), "", nil), yield)
	case *ast.ForClause:
		key := ""
		if c.Key != nil {
			key = c.Key.Name
		}
		bind := func(k, v value) {
			ev.comprehension(clauses[1:], bind(sc, c.Value.Name, v, key, k), yield)
		}
		switch src := must(ev.eval(c.Source, sc)).(type) {
		case listVal:
			for i, v := range src {
				bind(int64(i), must(v))
			}
		case *structVal:
			for i, name := range src.names {
				bind(name, must(src.vals[i]))
			}
		default:
			panic(unsure)
		}
	default:
		panic(unsure)
	}
}

// scopeOf is the scope within struct literal s: its fields and lets, each
// evaluated when first referred to.
func (ev *evaluation) scopeOf(s *ast.StructLit, sc *scope) *scope {
	inner := &scope{parent: sc, file: sc.file}
	n := 0
	for _, d := range s.Elts {
		switch d.(type) {
		case *ast.Field, *ast.LetClause:
			n++
		}
	}
	if n > 0 {
		inner.names = make([]string, 0, n)
		inner.thunks = make([]thunk, 0, n)
	}
	for _, d := range s.Elts {
		var name string
		var e ast.Expr
		switch x := d.(type) {
		case *ast.Field:
			id, ok := x.Label.(*ast.Ident)
			if !ok {
				continue
			}
			name, e = id.Name, x.Value
		case *ast.LetClause:
			name, e = x.Ident.Name, x.Expr
		default:
			continue
		}
		if inner.thunk(name) != nil {
			panic(unsure)
		}
		inner.names = append(inner.names, name)
		inner.thunks = append(inner.thunks, thunk{expr: e, scope: inner})
	}
	return inner
}

// structLit evaluates a struct literal. Embedded structs add their
// fields; a single embedded value of another kind, with no fields, is the
// value itself ({if c {x}} is x when c holds).
func (ev *evaluation) structLit(s *ast.StructLit, sc *scope) value {
	inner := ev.scopeOf(s, sc)
	out := newStruct(len(s.Elts))
	var embedded []value
	embed := func(v value) {
		if e, ok := v.(*structVal); ok {
			for i, n := range e.names {
				out.set(n, e.vals[i])
			}
			return
		}
		embedded = append(embedded, v)
	}
	for _, d := range s.Elts {
		switch x := d.(type) {
		case *ast.Field:
			if x.Constraint != token.ILLEGAL {
				panic(unsure)
			}
			var name string
			switch l := x.Label.(type) {
			case *ast.Ident:
				name = l.Name
				if name == "" || name[0] == '_' || name[0] == '#' {
					panic(unsure)
				}
				out.set(name, ev.force(inner.thunk(name)))
				continue
			case *ast.BasicLit:
				n, _, err := ast.LabelName(l)
				if err != nil {
					panic(unsure)
				}
				name = n
			case *ast.ParenExpr:
				n, ok := must(ev.eval(l.X, inner)).(string)
				if !ok {
					panic(unsure)
				}
				name = n
			default:
				panic(unsure)
			}
			out.set(name, ev.eval(x.Value, inner))
		case *ast.Comprehension:
			ev.comprehension(x.Clauses, inner, func(cs *scope) {
				embed(ev.structLit(body(x), cs))
			})
		case *ast.EmbedDecl:
			embed(must(ev.eval(x.Expr, inner)))
		case *ast.LetClause, *ast.CommentGroup, *ast.Attribute:
		default:
			panic(unsure)
		}
	}
	if len(embedded) > 0 {
		if len(embedded) > 1 || len(out.names) > 0 {
			panic(unsure)
		}
		return embedded[0]
	}
	return out
}

func (ev *evaluation) interpolation(x *ast.Interpolation, sc *scope) value {
	if len(x.Elts) == 1 {
		return ev.eval(x.Elts[0], sc)
	}
	parts, ok := ev.d.fragments[x]
	if !ok {
		if parts, ok = fragmentsOf(x); !ok {
			panic(unsure)
		}
	}
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(p)
		if 2*i+1 < len(x.Elts) {
			switch v := must(ev.eval(x.Elts[2*i+1], sc)).(type) {
			case string:
				b.WriteString(v)
			case int64:
				b.WriteString(strconv.FormatInt(v, 10))
			default:
				panic(unsure)
			}
		}
	}
	return b.String()
}

// label is a selector's field name.
func (d *direct) label(l ast.Label) string {
	if id, ok := l.(*ast.Ident); ok {
		return id.Name
	}
	name, _, err := ast.LabelName(l)
	if err != nil {
		panic(unsure)
	}
	return name
}

// prepare reads the literals and interpolations of the pack's syntax
// once, rather than at every evaluation.
func (d *direct) prepare(n ast.Node) {
	ast.Walk(n, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.BasicLit:
			if v, ok := literalOf(x); ok {
				d.literals[x] = v
			}
		case *ast.Interpolation:
			if len(x.Elts) > 1 {
				if parts, ok := fragmentsOf(x); ok {
					d.fragments[x] = parts
				}
			}
			for i := 1; i < len(x.Elts); i += 2 {
				d.prepare(x.Elts[i])
			}
			return false
		}
		return true
	}, nil)
}

func isBottomLit(e ast.Expr) bool {
	_, ok := e.(*ast.BottomLit)
	return ok
}

func (ev *evaluation) binary(x *ast.BinaryExpr, sc *scope) value {
	switch x.Op {
	case token.EQL, token.NEQ:
		if isBottomLit(x.Y) || isBottomLit(x.X) {
			e := x.X
			if isBottomLit(x.X) {
				e = x.Y
			}
			v := ev.eval(e, sc)
			if _, ok := v.(bottomVal); ok {
				return x.Op == token.EQL
			}
			if holdsBottom(v) {
				panic(unsure)
			}
			return x.Op == token.NEQ
		}
	case token.AND:
		return ev.unify(x, sc)
	case token.OR:
		// Only the default form, *x | y: x unless it is bottom.
		def, ok := x.X.(*ast.UnaryExpr)
		if !ok || def.Op != token.MUL {
			panic(unsure)
		}
		v := ev.eval(def.X, sc)
		if _, ok := v.(bottomVal); !ok {
			if holdsBottom(v) {
				panic(unsure)
			}
			return v
		}
		return must(ev.eval(x.Y, sc))
	}
	a := must(ev.eval(x.X, sc))
	b := must(ev.eval(x.Y, sc))
	switch x.Op {
	case token.LAND, token.LOR:
		p, ok1 := a.(bool)
		q, ok2 := b.(bool)
		if !ok1 || !ok2 {
			panic(unsure)
		}
		if x.Op == token.LAND {
			return p && q
		}
		return p || q
	case token.EQL, token.NEQ:
		return equal(a, b) == (x.Op == token.EQL)
	case token.LSS, token.LEQ, token.GTR, token.GEQ:
		p, ok1 := a.(int64)
		q, ok2 := b.(int64)
		if !ok1 || !ok2 {
			panic(unsure)
		}
		return compare(x.Op, p, q)
	case token.MAT, token.NMAT:
		s, ok1 := a.(string)
		re, ok2 := b.(string)
		if !ok1 || !ok2 {
			panic(unsure)
		}
		return compiled(re).MatchString(s) == (x.Op == token.MAT)
	case token.ADD:
		if s, ok := a.(string); ok {
			if t, ok := b.(string); ok {
				return s + t
			}
		}
		return arith(x.Op, a, b)
	case token.SUB, token.MUL:
		return arith(x.Op, a, b)
	}
	panic(unsure)
}

// equal compares scalars of one kind; CUE decides the rest.
func equal(a, b value) bool {
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return x == y
		}
	case int64:
		if y, ok := b.(int64); ok {
			return x == y
		}
	case bool:
		if y, ok := b.(bool); ok {
			return x == y
		}
	case nullVal:
		if _, ok := b.(nullVal); ok {
			return true
		}
	}
	panic(unsure)
}

func compare(op token.Token, p, q int64) bool {
	switch op {
	case token.LSS:
		return p < q
	case token.LEQ:
		return p <= q
	case token.GTR:
		return p > q
	default:
		return p >= q
	}
}

// arith is integer arithmetic that cannot overflow.
func arith(op token.Token, a, b value) value {
	p, ok1 := a.(int64)
	q, ok2 := b.(int64)
	const limit = 1 << 31
	if !ok1 || !ok2 || p > limit || p < -limit || q > limit || q < -limit {
		panic(unsure)
	}
	switch op {
	case token.ADD:
		return p + q
	case token.SUB:
		return p - q
	default:
		return p * q
	}
}

// regexps holds the compiled patterns of a run. Patterns come from the
// pack, and from objects only through rules that build them: it is
// bounded, and starts over when full.
var regexps = struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}{m: map[string]*regexp.Regexp{}}

const maxRegexps = 512

func compiled(re string) *regexp.Regexp {
	regexps.Lock()
	r, ok := regexps.m[re]
	regexps.Unlock()
	if ok {
		return r
	}
	r, err := regexp.Compile(re)
	if err != nil {
		panic(unsure)
	}
	regexps.Lock()
	if len(regexps.m) >= maxRegexps {
		clear(regexps.m)
	}
	regexps.m[re] = r
	regexps.Unlock()
	return r
}

// unify evaluates a & b & ... where at least one operand is a value and
// the others are values, kinds (string, int, bool, _), bounds (>=0,
// =~"re") or list patterns ([...], [_, ...]): the value if it meets every
// constraint, else bottom.
func (ev *evaluation) unify(x *ast.BinaryExpr, sc *scope) value {
	var operands []ast.Expr
	var flatten func(e ast.Expr)
	flatten = func(e ast.Expr) {
		if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.AND {
			flatten(b.X)
			flatten(b.Y)
			return
		}
		operands = append(operands, e)
	}
	flatten(x)
	var constraints []ast.Expr
	var v value
	for _, e := range operands {
		if isConstraint(e) {
			constraints = append(constraints, e)
			continue
		}
		w := ev.eval(e, sc)
		if _, ok := w.(bottomVal); ok {
			v = bottom
			continue
		}
		if holdsBottom(w) {
			panic(unsure)
		}
		switch {
		case v == nil:
			v = w
		case v == bottom:
		default:
			if !sameScalar(v, w) {
				v = bottom
			}
		}
	}
	if v == nil {
		panic(unsure) // nothing concrete: not a test direct knows
	}
	if v == bottom {
		return bottom
	}
	for _, c := range constraints {
		if !ev.meets(v, c, sc) {
			return bottom
		}
	}
	return v
}

// sameScalar reports whether two concrete values unify to themselves:
// equal scalars. Scalars of different kinds do not unify; structs, lists
// and numbers of mixed kinds are CUE's to unify.
func sameScalar(a, b value) bool {
	switch a.(type) {
	case string, bool, nullVal:
		switch b.(type) {
		case string, bool, nullVal, int64:
			if kindOf(a) != kindOf(b) {
				return false
			}
			return equal(a, b)
		}
	case int64:
		switch b.(type) {
		case string, bool, nullVal:
			return false
		case int64:
			return a == b
		}
	}
	panic(unsure)
}

func kindOf(v value) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "int"
	case bool:
		return "bool"
	case nullVal:
		return "null"
	}
	return "other"
}

func isConstraint(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		switch x.Name {
		case "_", "string", "int", "bool", "null":
			return true
		}
	case *ast.UnaryExpr:
		switch x.Op {
		case token.GEQ, token.GTR, token.LEQ, token.LSS, token.NEQ, token.MAT, token.NMAT:
			return true
		}
	case *ast.ListLit:
		for _, el := range x.Elts {
			if _, ok := el.(*ast.Ellipsis); ok {
				return true
			}
		}
	}
	return false
}

// meets reports whether the concrete v satisfies the constraint c. An
// identifier such as string could be shadowed; direct does not look
// such names up, and CUE's packs do not shadow them.
func (ev *evaluation) meets(v value, c ast.Expr, sc *scope) bool {
	switch x := c.(type) {
	case *ast.Ident:
		switch x.Name {
		case "_":
			return true
		case "string", "bool", "null":
			return kindOf(v) == x.Name
		case "int":
			switch v.(type) {
			case int64:
				return true
			case floatVal:
				return false
			}
			return kindOf(v) == "int"
		}
	case *ast.UnaryExpr:
		bound := must(ev.eval(x.X, sc))
		switch x.Op {
		case token.MAT, token.NMAT:
			re, ok := bound.(string)
			if !ok {
				panic(unsure)
			}
			s, ok := v.(string)
			if !ok {
				return false
			}
			return compiled(re).MatchString(s) == (x.Op == token.MAT)
		case token.NEQ:
			return !sameScalar(v, bound)
		default:
			q, ok := bound.(int64)
			if !ok {
				panic(unsure)
			}
			switch p := v.(type) {
			case int64:
				return compare(x.Op, p, q)
			case string, bool, nullVal, *structVal, listVal:
				return false
			}
		}
	case *ast.ListLit:
		// [...] or [_, _, ...]: a list of at least that many elements.
		n := 0
		for i, el := range x.Elts {
			switch y := el.(type) {
			case *ast.Ellipsis:
				if i != len(x.Elts)-1 || (y.Type != nil && !isTop(y.Type)) {
					panic(unsure)
				}
			default:
				if !isTop(y) {
					panic(unsure)
				}
				n++
			}
		}
		l, ok := v.(listVal)
		return ok && len(l) >= n
	}
	panic(unsure)
}

func isTop(e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == "_"
}

func (ev *evaluation) call(x *ast.CallExpr, sc *scope) value {
	var name string
	switch f := x.Fun.(type) {
	case *ast.Ident:
		// len and div, unless shadowed.
		if sc.find(f.Name) || ev.d.top[f.Name] != nil {
			panic(unsure)
		}
		name = f.Name
	case *ast.SelectorExpr:
		id, ok := f.X.(*ast.Ident)
		if !ok {
			panic(unsure)
		}
		ns, ok := ev.lookup(id.Name, sc).(namespace)
		if !ok {
			panic(unsure)
		}
		fn, _, err := ast.LabelName(f.Sel)
		if err != nil {
			panic(unsure)
		}
		name = string(ns) + "." + fn
	default:
		panic(unsure)
	}
	args := make([]value, len(x.Args))
	for i, a := range x.Args {
		args[i] = must(ev.eval(a, sc))
		if holdsBottom(args[i]) {
			panic(unsure)
		}
	}
	return callBuiltin(name, args)
}

// find reports whether name is bound in sc short of the package.
func (sc *scope) find(name string) bool {
	for s := sc; s != nil; s = s.parent {
		if s.thunk(name) != nil {
			return true
		}
		if s.parent == nil {
			if _, ok := s.file.imports[name]; ok {
				return true
			}
		}
	}
	return false
}

func callBuiltin(name string, args []value) value {
	b, ok := builtins[name]
	if !ok || len(args) != b.arity {
		panic(unsure)
	}
	return b.fn(args)
}

// A builtin computes what the CUE function of its name does, for the
// arguments it accepts; others stop the evaluation with unsure.
type builtin struct {
	arity int
	fn    func(args []value) value
}

func str(v value) string {
	s, ok := v.(string)
	if !ok {
		panic(unsure)
	}
	return s
}

func strings1(f func(string) string) func([]value) value {
	return func(args []value) value { return f(str(args[0])) }
}

func strings2(f func(a, b string) value) func([]value) value {
	return func(args []value) value { return f(str(args[0]), str(args[1])) }
}

func builtinLen(args []value) value {
	switch v := args[0].(type) {
	case listVal:
		return int64(len(v))
	case string:
		return int64(len(v))
	}
	panic(unsure)
}

func builtinDiv(args []value) value {
	p, ok1 := args[0].(int64)
	q, ok2 := args[1].(int64)
	if ok1 && ok2 && p >= 0 && q > 0 {
		return p / q
	}
	panic(unsure)
}

func builtinSplit(args []value) value {
	parts := strings.Split(str(args[0]), str(args[1]))
	l := make(listVal, len(parts))
	for i, p := range parts {
		l[i] = p
	}
	return l
}

func builtinJoin(args []value) value {
	l, ok := args[0].(listVal)
	if !ok {
		panic(unsure)
	}
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = str(e)
	}
	return strings.Join(parts, str(args[1]))
}

func builtinListContains(args []value) value {
	l, ok := args[0].(listVal)
	if !ok {
		panic(unsure)
	}
	for _, e := range l {
		if kindOf(e) == "other" || kindOf(args[1]) == "other" {
			panic(unsure)
		}
		if kindOf(e) == kindOf(args[1]) && equal(e, args[1]) {
			return true
		}
	}
	return false
}
