package workqueue

import (
	"bytes"
	"fmt"
	"io"
	"math/big"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"cuelang.org/go/encoding/json"
	"cuelang.org/go/encoding/yaml"

	"github.com/jobwq/jobwq/internal/items"
	"github.com/jobwq/jobwq/internal/position"
	"github.com/jobwq/jobwq/internal/position/cuepos"
)

// Bounds on the shape of a spec, outside spec.items. A WorkQueue is a few
// levels deep with a few dozen fields; hostile documents nested thousands
// deep, with hundreds of thousands of keys or megabyte scalars, would
// otherwise cost the evaluator seconds and gigabytes for nothing.
const (
	maxDepth       = 32
	maxNodes       = 10000
	maxScalarBytes = 64 << 10
)

// format is how a spec file is written.
type format int

const (
	formatYAML format = iota
	formatJSON
	formatCUE
)

func formatOf(path string) (format, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return formatYAML, true
	case ".json":
		return formatJSON, true
	case ".cue":
		return formatCUE, true
	}
	return 0, false
}

// parsed is a spec file as CUE syntax, with the inline items lifted out of
// YAML and JSON documents so that they never reach the evaluator.
type parsed struct {
	file   *ast.File
	format format
	// items holds the inline items of a YAML or JSON spec; itemsPos is the
	// position of the list. For CUE specs the evaluator produces the items.
	items    []string
	itemPos  []position.Position
	itemsPos token.Pos
	hasItems bool
	// problems are errors found while parsing that still let validation
	// go on, so that one run reports as much as it can.
	problems position.Errors
}

// parse turns a spec file's bytes into CUE syntax. Every error it returns is
// an position.Errors with positions.
func parse(filename string, data []byte, f format) (*parsed, error) {
	if err := checkText(filename, data); err != nil {
		return nil, err
	}
	p := &parsed{format: f}
	var expr ast.Expr
	switch f {
	case formatYAML:
		if isBlankYAML(data) {
			return nil, position.Errors{position.Errorf(position.Position{File: position.Display(filename)}, "", "empty document: expected a WorkQueue")}
		}
		d := yaml.NewDecoder(filename, bytes.NewReader(data))
		e, err := d.Extract()
		if err == io.EOF {
			return nil, position.Errors{position.Errorf(position.Position{File: position.Display(filename)}, "", "empty document: expected a WorkQueue")}
		}
		if err != nil {
			return nil, yamlSyntaxErrors(filename, data, err)
		}
		if err := onlyEmptyDocs(filename, d); err != nil {
			return nil, err
		}
		expr = e
	case formatJSON:
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, position.Errors{position.Errorf(position.Position{File: position.Display(filename)}, "", "empty document: expected a WorkQueue")}
		}
		e, err := json.Extract(filename, data)
		if err != nil {
			return nil, syntaxErrors(filename, err)
		}
		expr = e
	case formatCUE:
		file, err := parser.ParseFile(filename, data, parser.ParseComments)
		if err != nil {
			return nil, syntaxErrors(filename, err)
		}
		p.file = file
		if err := p.checkSyntax(); err != nil {
			return nil, err
		}
		return p, nil
	}

	if lit, ok := expr.(*ast.BasicLit); ok && lit.Kind == token.NULL {
		return nil, position.Errors{position.Errorf(position.Position{File: position.Display(filename)}, "", "empty document: expected a WorkQueue")}
	}
	st, ok := expr.(*ast.StructLit)
	if !ok {
		return nil, position.Errors{position.Errorf(cuepos.Of(expr.Pos()), "", "expected a mapping (a WorkQueue document), found %s", describe(expr))}
	}
	p.file = &ast.File{Filename: filename, Decls: st.Elts}
	if err := p.checkSyntax(); err != nil {
		return nil, err
	}
	p.liftItems()
	return p, nil
}

// isBlankYAML reports whether data holds no YAML content at all, only
// comments and document markers, which the decoder turns into top.
func isBlankYAML(data []byte) bool {
	for _, line := range bytes.Split(data, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' && string(t) != "---" && string(t) != "..." {
			return false
		}
	}
	return true
}

// checkText rejects bytes that are not text before any parser sees them, so
// the error can say exactly where.
func checkText(filename string, data []byte) error {
	if utf8.Valid(data) {
		return checkControl(filename, data)
	}
	line, col := 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		data = data[size:]
	}
	return position.Errors{position.Errorf(position.Position{File: position.Display(filename), Line: line, Column: col}, "", "invalid UTF-8: a spec must be UTF-8 text")}
}

// reYAMLError is how yaml.v3 words a syntax error: "file:line: message".
var reYAMLError = regexp.MustCompile(`^(?:yaml: )?(?:.*?:)?(?:line )?(\d+): (.*)$`)

// syntaxErrors converts parser errors to positioned position.Errors.
func syntaxErrors(filename string, err error) error {
	var out position.Errors
	for _, e := range cueerrors.Errors(err) {
		pos := cuepos.Of(e.Position())
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if msg == "" {
			msg = e.Error()
		}
		if pos.File == "" {
			pos.File = position.Display(filename)
			msg = strings.TrimPrefix(msg, filename+":")
			if m := reYAMLError.FindStringSubmatch(msg); m != nil {
				pos.Line, _ = strconv.Atoi(m[1])
				msg = m[2]
			}
			msg = strings.TrimSpace(msg)
		}
		out = append(out, position.Errorf(pos, "", "%s", msg))
	}
	if len(out) == 0 {
		out = position.Errors{position.Errorf(position.Position{File: position.Display(filename)}, "", "%v", err)}
	}
	return out
}

// checkSyntax reports duplicate keys, which YAML and JSON parsers accept and
// CUE would unify, and drops the later copies so that validation goes on.
// Nesting beyond maxDepth is fatal.
func (p *parsed) checkSyntax() error {
	var errs position.Errors
	deep := false // a fatal shape problem was found
	nodes := 0
	var walk func(decls []ast.Decl, path string, depth int) []ast.Decl
	var walkExpr func(x ast.Expr, path string, depth int)
	fatal := func(x ast.Node, path, msg string) {
		if !deep {
			deep = true
			errs = append(errs, position.Errorf(cuepos.Of(x.Pos()), path, "%s", msg))
		}
	}
	walkExpr = func(x ast.Expr, path string, depth int) {
		nodes++
		switch {
		case deep:
			return
		case depth > maxDepth:
			fatal(x, path, "nested too deeply: a WorkQueue is at most a few levels deep")
			return
		case nodes > maxNodes:
			fatal(x, path, fmt.Sprintf("too many fields: a WorkQueue has at most %d values outside spec.items", maxNodes))
			return
		case path == "spec.items":
			return // lifted and checked item by item
		}
		switch x := x.(type) {
		case *ast.StructLit:
			x.Elts = walk(x.Elts, path, depth+1)
		case *ast.ListLit:
			for i, e := range x.Elts {
				walkExpr(e, fmt.Sprintf("%s[%d]", path, i), depth+1)
			}
		case *ast.BasicLit:
			if len(x.Value) > maxScalarBytes {
				fatal(x, path, fmt.Sprintf("value is %d bytes, at most %d are allowed", len(x.Value), maxScalarBytes))
			}
			fixNumber(x)
		}
	}
	walk = func(decls []ast.Decl, path string, depth int) []ast.Decl {
		seen := map[string]token.Pos{}
		kept := decls[:0:0]
		for _, d := range decls {
			switch d := d.(type) {
			case *ast.Field:
				name, _, err := ast.LabelName(d.Label)
				if err != nil {
					kept = append(kept, d)
					walkExpr(d.Value, path, depth)
					continue
				}
				child := joinPath(path, name)
				if first, dup := seen[name]; dup {
					errs = append(errs, position.Errorf(cuepos.Of(d.Label.Pos()), child,
						"duplicate key %q (first defined at line %d)", name, first.Line()))
					continue
				}
				kept = append(kept, d)
				seen[name] = d.Label.Pos()
				walkExpr(d.Value, child, depth)
			case *ast.EmbedDecl:
				kept = append(kept, d)
				walkExpr(d.Expr, path, depth)
			default:
				kept = append(kept, d)
			}
		}
		return kept
	}
	p.file.Decls = walk(p.file.Decls, "", 1)
	if deep {
		return errs
	}
	p.problems = append(p.problems, errs...)
	return nil
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// liftItems moves spec.items out of the syntax tree: Go checks each item
// with its position, and the evaluator sees a one-element stand-in so the
// schema still knows the field is set.
func (p *parsed) liftItems() {
	field := findField(p.file.Decls, "spec", "items")
	if field == nil {
		return
	}
	list, ok := field.Value.(*ast.ListLit)
	if !ok {
		return // the schema reports the wrong type
	}
	p.hasItems = true
	p.itemsPos = list.Pos()
	var errs position.Errors
	for i, e := range list.Elts {
		path := fmt.Sprintf("spec.items[%d]", i)
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			errs = append(errs, position.Errorf(cuepos.Of(e.Pos()), path, "expected a string, found %s", describe(e)))
			continue
		}
		s, err := literal.Unquote(lit.Value)
		if err != nil {
			errs = append(errs, position.Errorf(cuepos.Of(e.Pos()), path, "invalid string: %v", err))
			continue
		}
		if msg := items.Check(s); msg != "" {
			errs = append(errs, position.Errorf(cuepos.Of(e.Pos()), path, "%s", msg))
			continue
		}
		p.items = append(p.items, s)
		p.itemPos = append(p.itemPos, cuepos.Of(e.Pos()))
	}
	if len(list.Elts) == 0 {
		errs = append(errs, position.Errorf(cuepos.Of(list.Pos()), "spec.items", "%s", msgNoItems))
	}
	p.problems = append(p.problems, errs...)
	field.Value = &ast.ListLit{Lbrack: list.Lbrack, Elts: []ast.Expr{ast.NewString("item")}, Rbrack: list.Rbrack}
}

// findField follows a path of regular fields through struct literals.
func findField(decls []ast.Decl, path ...string) *ast.Field {
	for _, d := range decls {
		f, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		if name, _, err := ast.LabelName(f.Label); err != nil || name != path[0] {
			continue
		}
		if len(path) == 1 {
			return f
		}
		if st, ok := f.Value.(*ast.StructLit); ok {
			return findField(st.Elts, path[1:]...)
		}
		return nil
	}
	return nil
}

// findValue follows a path of fields and list indexes (as CUE's error
// paths write them) through struct and list literals to the value there.
func findValue(decls []ast.Decl, segs []string) ast.Expr {
	if len(segs) == 0 {
		return nil
	}
	f := findField(decls, segs[0])
	if f == nil {
		return nil
	}
	x := f.Value
	for _, s := range segs[1:] {
		switch v := x.(type) {
		case *ast.StructLit:
			f := findField(v.Elts, s)
			if f == nil {
				return nil
			}
			x = f.Value
		case *ast.ListLit:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(v.Elts) {
				return nil
			}
			x = v.Elts[i]
		default:
			return nil
		}
	}
	return x
}

func describe(x ast.Expr) string {
	switch x := x.(type) {
	case *ast.StructLit:
		return "a mapping"
	case *ast.ListLit:
		return "a list"
	case *ast.BasicLit:
		switch x.Kind {
		case token.STRING:
			return "a string"
		case token.INT, token.FLOAT:
			return "the number " + x.Value
		case token.TRUE, token.FALSE:
			return "the boolean " + x.Value
		case token.NULL:
			return "null"
		}
	case *ast.Ident:
		if x.Name == "null" || x.Name == "true" || x.Name == "false" {
			return x.Name
		}
	}
	return "an expression"
}

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
