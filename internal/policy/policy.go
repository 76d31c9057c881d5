// Package policy checks Kubernetes objects against jobwq's policy pack: the
// CUE rules embedded from schemas/policy plus any the user adds. The pack is
// compiled once; each object found in the input is then evaluated against
// it, and every violation comes back as a Finding that points at the file,
// line and column of the offending field.
//
// Objects are read from multi-document YAML or JSON (a v1 List is opened up
// into its items). Pod templates are found in Pods, Jobs, CronJobs,
// Deployments, ReplicaSets, StatefulSets, DaemonSets, ReplicationControllers
// and PodTemplates; documents without a kind are not Kubernetes objects and
// are skipped.
//
// An object opts out of rules with the annotation
//
//	jobwq.dev/ignore: ID[,ID...] reason
//
// where the reason is required (the ignore-reason rule warns without one).
//
// A Pack is safe for concurrent use.
package policy

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/position/cuepos"
	"github.com/jobwq/jobwq/schemas"
)

// Severity orders findings; --fail-on picks the lowest that fails a run.
type Severity int

const (
	Info Severity = iota
	Warning
	Error
)

var severityNames = [...]string{Info: "info", Warning: "warning", Error: "error"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads "error", "warning" or "info".
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if n == s {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q: want error, warning or info", s)
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Object names a Kubernetes object.
type Object struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// String is "Kind namespace/name", as far as the object says.
func (o Object) String() string {
	s := o.Kind
	if o.Name == "" {
		return s
	}
	if o.Namespace != "" {
		return s + " " + o.Namespace + "/" + o.Name
	}
	return s + " " + o.Name
}

// Rule describes one rule of the pack.
type Rule struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix"`
}

// Finding is one violation of a rule by one field of one object.
type Finding struct {
	Rule     string            `json:"rule"`
	Severity Severity          `json:"severity"`
	Message  string            `json:"message"`
	Fix      string            `json:"fix"`
	Pos      position.Position `json:"position"`
	Object   Object            `json:"object"`
}

// Result is one object that was checked and its findings.
type Result struct {
	Object   Object
	Pos      position.Position // where the object starts
	Findings []Finding

	// What Across needs to know of the object. TokenOff: a ServiceAccount
	// that sets automountServiceAccountToken: false. RunsAs: the service
	// account of a pod spec that leaves automountServiceAccountToken
	// unset, and so inherits the account's setting.
	TokenOff bool   `json:"-"`
	RunsAs   string `json:"-"`
}

// automountRule is the rule a ServiceAccount elsewhere in the input can
// satisfy.
const automountRule = "automount-service-account-token"

// TokenAccounts settle what only the whole input shows: a pod whose pod
// spec leaves automountServiceAccountToken unset does not mount the token
// when its ServiceAccount, in the same input and namespace, sets it to
// false. Add every result of a run, then Settle each.
type TokenAccounts struct {
	off map[[2]string]bool
}

// Add notes r if it is a ServiceAccount that turns the token off.
func (a *TokenAccounts) Add(r Result) {
	if !r.TokenOff {
		return
	}
	if a.off == nil {
		a.off = map[[2]string]bool{}
	}
	a.off[[2]string{r.Object.Namespace, r.Object.Name}] = true
}

// Settle is r without the findings a ServiceAccount added satisfies.
func (a *TokenAccounts) Settle(r Result) Result {
	if r.RunsAs == "" || !a.off[[2]string{r.Object.Namespace, r.RunsAs}] {
		return r
	}
	r.Findings = slices.DeleteFunc(slices.Clone(r.Findings), func(f Finding) bool { return f.Rule == automountRule })
	return r
}

// Across settles results, all of one run, in place.
func Across(results []Result) {
	var a TokenAccounts
	for _, r := range results {
		a.Add(r)
	}
	for i, r := range results {
		results[i] = a.Settle(r)
	}
}

// Spec is what --spec contributes: a WorkQueue's path, its item count and
// items per pod, which work-queue Jobs' completions must match (one pod
// per ItemsPerPod items).
type Spec struct {
	Path        string
	Items       int
	ItemsPerPod int // 0 means 1
}

// Options configure a Pack.
type Options struct {
	// PolicyFiles are user rule files (package policy) added to the pack.
	PolicyFiles []string
	// Disable turns rules off by id; an unknown id is an error.
	Disable []string
	// Severity overrides rules' severities, as RULE=LEVEL (repeatable or
	// comma-separated); an unknown rule or level is an error.
	Severity []string
	// Spec, if set, enables job-completions-spec.
	Spec *Spec

	// ObjectTimeout bounds the evaluation of the rules over one object;
	// zero means DefaultObjectTimeout.
	ObjectTimeout time.Duration

	// reference evaluates every rule with CUE over whole objects: the
	// meaning the fast engine must keep (see engine.go).
	reference bool
}

// Pack is the compiled policy. It is safe for concurrent use.
type Pack struct {
	sources []source
	spec    *Spec
	rules   []Rule // enabled, by id
	all     []Rule // every rule, by id
	byID    map[string]Rule
	paths   map[string]cue.Path // rules.<id>.violations
	ignores map[string]bool     // disabled ids
	engine  engine
	timeout time.Duration
}

// DefaultObjectTimeout bounds the evaluation of one object when Options
// set no bound. The built-in rules take milliseconds per object.
const DefaultObjectTimeout = 10 * time.Second

type source struct {
	name string
	data []byte
}

var (
	inputPath = cue.MakePath(cue.Str("input"))
	specPath  = cue.MakePath(cue.Str("input"), cue.Str("spec"))
	rulesPath = cue.MakePath(cue.Str("rules"))
	rulePath  = cue.MakePath(cue.Def("Rule"))
)

// builtinDir is where the embedded pack's files appear in positions.
const builtinDir = "schemas/policy"

// Compile builds the built-in pack together with opts.PolicyFiles. Errors in
// a user file carry its positions.
func Compile(opts Options) (*Pack, error) {
	p := &Pack{
		spec:    opts.Spec,
		byID:    map[string]Rule{},
		paths:   map[string]cue.Path{},
		ignores: map[string]bool{},
		timeout: cmp.Or(opts.ObjectTimeout, DefaultObjectTimeout),
	}
	entries, err := fs.Glob(schemas.FS, "policy/*.cue")
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	for _, name := range entries {
		src, err := schemas.FS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		p.sources = append(p.sources, source{path.Join(builtinDir, path.Base(name)), src})
	}
	for _, f := range opts.PolicyFiles {
		src, err := readPolicy(f)
		if err != nil {
			return nil, err
		}
		file, err := parser.ParseFile(f, src, parser.PackageClauseOnly)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", oneLine(err))
		}
		if name := file.PackageName(); name != "policy" {
			return nil, fmt.Errorf("policy: %s: a policy file must be package policy, not %q", f, name)
		}
		p.sources = append(p.sources, source{f, src})
	}
	// The whole pack, for the rules' descriptions and what they read.
	all, files, err := p.build(cuecontext.New(), nil)
	if err != nil {
		return nil, err
	}

	it, err := all.LookupPath(rulesPath).Fields()
	if err != nil {
		return nil, fmt.Errorf("policy: rules: %w", oneLine(err))
	}
	schema := all.LookupPath(rulePath)
	for it.Next() {
		r, err := ruleOf(schema, it.Value())
		if err != nil {
			return nil, err
		}
		p.all = append(p.all, r)
		p.byID[r.ID] = r
		p.paths[r.ID] = cue.MakePath(cue.Str("rules"), cue.Str(r.ID), cue.Str("violations"))
	}
	slices.SortFunc(p.all, func(a, b Rule) int { return strings.Compare(a.ID, b.ID) })

	var errs []error
	for _, arg := range opts.Severity {
		for kv := range strings.SplitSeq(arg, ",") {
			id, level, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				errs = append(errs, fmt.Errorf("severity %q: want RULE=LEVEL, e.g. job-active-deadline=error", kv))
				continue
			}
			r, known := p.byID[id]
			if !known {
				errs = append(errs, fmt.Errorf("severity %q: no such rule (jobwq policy --list shows them)", id))
				continue
			}
			sev, err := ParseSeverity(level)
			if err != nil {
				errs = append(errs, fmt.Errorf("severity %s: %w", id, err))
				continue
			}
			r.Severity = sev
			p.byID[id] = r
		}
	}
	for i, r := range p.all {
		p.all[i] = p.byID[r.ID]
	}
	for _, id := range opts.Disable {
		for id := range strings.SplitSeq(id, ",") {
			id = strings.TrimSpace(id)
			if _, ok := p.byID[id]; !ok {
				errs = append(errs, fmt.Errorf("disable %q: no such rule (jobwq policy --list shows them)", id))
				continue
			}
			p.ignores[id] = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, r := range p.all {
		if !p.ignores[r.ID] {
			p.rules = append(p.rules, r)
		}
	}
	if opts.reference {
		p.engine, err = newReference(p, p.rules)
	} else {
		p.engine, err = newEngine(p, files)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// MaxPolicyFile bounds a policy file: rules are a few kilobytes, and a
// larger file is a mistake (a data file, /dev/zero behind a symlink).
const MaxPolicyFile = 4 << 20

// readPolicy reads a user's policy file, which must be a regular file (a
// FIFO would block the run forever, a device never end) of at most
// MaxPolicyFile bytes.
func readPolicy(name string) ([]byte, error) {
	// Stat before opening: opening a FIFO blocks until a writer comes.
	fi, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read policy %s: not a regular file (%s)", name, fileKind(fi.Mode()))
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxPolicyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	if len(src) > MaxPolicyFile {
		return nil, fmt.Errorf("read policy %s: larger than %d MiB; a policy is rules, not data", name, MaxPolicyFile>>20)
	}
	return src, nil
}

// fileKind names a file mode's type for messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
}

// build compiles the pack's sources in ctx, keeping the rules keep admits
// (all when keep is nil) and the package fields they reach. Sources are
// parsed afresh: the compiler annotates the syntax, so trees are not
// shared between builds.
func (p *Pack) build(ctx *cue.Context, keep func(id string) bool) (cue.Value, []*ast.File, error) {
	var files []*ast.File
	for _, s := range p.sources {
		f, err := parser.ParseFile(s.name, s.data)
		if err != nil {
			return cue.Value{}, nil, fmt.Errorf("policy: %w", oneLine(err))
		}
		files = append(files, f)
	}
	if keep != nil {
		keepRules(files, keep)
	}
	root, err := p.instance(ctx, files)
	if err != nil {
		return cue.Value{}, nil, err
	}
	if p.spec != nil {
		root = root.FillPath(specPath, map[string]any{"path": p.spec.Path, "items": p.spec.Items, "itemsPerPod": max(p.spec.ItemsPerPod, 1)})
	}
	return root, files, nil
}

// instance compiles files as package policy.
func (p *Pack) instance(ctx *cue.Context, files []*ast.File, opts ...cue.BuildOption) (cue.Value, error) {
	inst := build.NewContext().NewInstance("", nil)
	for _, f := range files {
		if err := inst.AddSyntax(f); err != nil {
			return cue.Value{}, fmt.Errorf("policy: %w", oneLine(err))
		}
	}
	if inst.PkgName != "policy" {
		return cue.Value{}, fmt.Errorf("policy: policy files must be package policy")
	}
	root := ctx.BuildInstance(inst, opts...)
	if err := root.Err(); err != nil {
		return cue.Value{}, fmt.Errorf("policy: %w", oneLine(err))
	}
	return root, nil
}

// keepRules drops from files the rules keep does not admit and, unless
// some CUE outside rules refers to them, the package fields no kept rule
// reaches: filling input into a pack evaluates every field of it, so a
// pack for one rule should hold only what that rule needs.
func keepRules(files []*ast.File, keep func(id string) bool) {
	top := map[string]bool{}
	refs := map[string][]string{}
	var roots []string
	prunable := true
	for _, f := range files {
		for _, d := range f.Decls {
			switch x := d.(type) {
			case *ast.Package, *ast.ImportDecl, *ast.CommentGroup, *ast.Attribute:
			case *ast.Field:
				name, _, err := ast.LabelName(x.Label)
				if _, ok := x.Label.(*ast.Ident); !ok || err != nil {
					prunable = false
				}
				top[name] = true
			default:
				prunable = false
			}
		}
	}
	// A kept rule that reads other rules needs them all.
	for _, f := range files {
		for _, s := range rulesStructs(f) {
			for _, e := range s.Elts {
				if rf, ok := e.(*ast.Field); ok {
					if id, _, err := ast.LabelName(rf.Label); err == nil && keep(id) && refersTo(rf.Value, "rules") {
						keep = func(string) bool { return true }
					}
				}
			}
		}
	}
	for _, f := range files {
		for _, s := range rulesStructs(f) {
			s.Elts = slices.DeleteFunc(s.Elts, func(e ast.Decl) bool {
				rf, ok := e.(*ast.Field)
				if !ok {
					return false
				}
				id, _, err := ast.LabelName(rf.Label)
				return err == nil && !keep(id)
			})
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.Field); ok {
				name, _, _ := ast.LabelName(fd.Label)
				refs[name] = append(refs[name], references(fd.Value, top)...)
				if name != "rules" && refersTo(fd.Value, "rules") {
					prunable = false
				}
			}
		}
	}
	if prunable {
		reached := map[string]bool{}
		roots = append(roots, "rules", "input")
		for len(roots) > 0 {
			n := roots[0]
			roots = roots[1:]
			if !reached[n] {
				reached[n] = true
				roots = append(roots, refs[n]...)
			}
		}
		for _, f := range files {
			f.Decls = slices.DeleteFunc(f.Decls, func(d ast.Decl) bool {
				fd, ok := d.(*ast.Field)
				if !ok {
					return false
				}
				name, _, _ := ast.LabelName(fd.Label)
				return !reached[name]
			})
		}
	}
	for _, f := range files {
		dropUnusedImports(f)
	}
}

// rulesStructs are the struct literals of f's top-level rules fields.
func rulesStructs(f *ast.File) []*ast.StructLit {
	var out []*ast.StructLit
	for _, d := range f.Decls {
		fd, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		if name, _, err := ast.LabelName(fd.Label); err != nil || name != "rules" {
			continue
		}
		if s, ok := fd.Value.(*ast.StructLit); ok {
			out = append(out, s)
		}
	}
	return out
}

// dropUnusedImports removes the imports no longer used once rules are
// gone: CUE rejects an unused import.
func dropUnusedImports(f *ast.File) {
	used := map[string]bool{}
	for _, d := range f.Decls {
		if _, ok := d.(*ast.ImportDecl); ok {
			continue
		}
		ast.Walk(d, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				used[id.Name] = true
			}
			return true
		}, nil)
	}
	name := func(spec *ast.ImportSpec) string {
		if spec.Name != nil {
			return spec.Name.Name
		}
		p, _ := literal.Unquote(spec.Path.Value)
		return path.Base(p)
	}
	f.Decls = slices.DeleteFunc(f.Decls, func(d ast.Decl) bool {
		id, ok := d.(*ast.ImportDecl)
		if !ok {
			return false
		}
		id.Specs = slices.DeleteFunc(id.Specs, func(spec *ast.ImportSpec) bool { return !used[name(spec)] })
		return len(id.Specs) == 0
	})
}

// ruleOf reads a rule's description, which must not depend on the input,
// and checks the rule against #Rule.
func ruleOf(schema, v cue.Value) (Rule, error) {
	r := Rule{ID: v.Path().Selectors()[len(v.Path().Selectors())-1].Unquoted()}
	where := rulePos(v)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("policy: %srule %s: %s", where, r.ID, fmt.Sprintf(format, args...))
	}
	fields := []struct {
		name string
		dst  *string
	}{{"severity", nil}, {"message", &r.Message}, {"fix", &r.Fix}}
	var sev string
	for _, f := range fields {
		fv := v.LookupPath(cue.MakePath(cue.Str(f.name)))
		if !fv.Exists() {
			return r, fail("%s is missing: every rule has severity, message, fix and violations", f.name)
		}
		s, err := fv.String()
		if err != nil {
			return r, fail("%s: %v", f.name, oneLine(err))
		}
		if f.dst != nil {
			*f.dst = s
		} else {
			sev = s
		}
	}
	var err error
	if r.Severity, err = ParseSeverity(sev); err != nil {
		return r, fail("%v", err)
	}
	if err := schema.Unify(v).Validate(); err != nil {
		return r, fail("%v", oneLine(err))
	}
	return r, nil
}

// rulePos is where a rule is written: the first of its fields that a user
// file contributes, or else where the built-in pack defines it.
func rulePos(v cue.Value) string {
	var first token.Pos
	it, err := v.Fields()
	if err != nil {
		return ""
	}
	for it.Next() {
		pos := it.Value().Pos()
		if !pos.IsValid() {
			continue
		}
		if !strings.HasPrefix(pos.Filename(), builtinDir+"/") {
			return cuepos.Of(pos).String() + ": "
		}
		if !first.IsValid() {
			first = pos
		}
	}
	if first.IsValid() {
		return cuepos.Of(first).String() + ": "
	}
	return ""
}

// Rules returns every rule of the pack, disabled ones included, by id.
func (p *Pack) Rules() []Rule { return slices.Clone(p.all) }

// Enabled reports whether rule id is checked.
func (p *Pack) Enabled(id string) bool {
	_, ok := p.byID[id]
	return ok && !p.ignores[id]
}

// Findings flattens results into findings sorted by file, line and column.
func Findings(results []Result) []Finding {
	var out []Finding
	for _, r := range results {
		out = append(out, r.Findings...)
	}
	SortFindings(out)
	return out
}

// SortFindings orders findings by file, line, column, then rule id.
func SortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(position.Compare(a.Pos, b.Pos), strings.Compare(a.Rule, b.Rule), strings.Compare(a.Message, b.Message))
	})
}

// at is where p is, or the file itself when p is unknown.
func at(p token.Pos, file string) position.Position {
	if !p.IsValid() {
		return position.Position{File: position.Display(file)}
	}
	return cuepos.Of(p)
}

// oneLine renders a CUE error as one line per problem, each starting with
// the position it is about (a user's file before the built-in pack) and
// naming the other positions involved after it.
func oneLine(err error) error {
	var lines []string
	for _, e := range cueerrors.Errors(err) {
		all := cuepos.All(e)
		slices.SortStableFunc(all, func(a, b token.Pos) int {
			return boolInt(strings.HasPrefix(a.Filename(), builtinDir+"/")) - boolInt(strings.HasPrefix(b.Filename(), builtinDir+"/"))
		})
		msg := e.Error()
		if len(all) > 0 {
			msg = cuepos.Of(all[0]).String() + ": " + msg
		}
		if len(all) > 1 {
			var also []string
			for _, pos := range all[1:] {
				also = append(also, cuepos.Of(pos).String())
			}
			msg += " (see also " + strings.Join(also, ", ") + ")"
		}
		if !slices.Contains(lines, msg) {
			lines = append(lines, msg)
		}
	}
	if len(lines) == 0 {
		return err
	}
	return errors.New(strings.Join(lines, "\n"))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
