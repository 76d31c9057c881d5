package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
)

// The part of CUE jobwq evaluates itself, over Go values (values.go), is
// the one these tables list. A rule written only with them is fast: it is
// decided when the pack is compiled, per rule, by reading the rule and the
// package fields it refers to (subsetOf). Any other rule is evaluated by
// CUE, on its own, and never slows the others; `jobwq policy --explain`
// says which and why. FuzzFastMatchesReference generates rules from these
// same tables and holds the two evaluators to the same outcomes.

// operators are the binary operators evaluated directly. & is unification
// of a value with kinds (string, int, bool, null, _), bounds (>=0, =~"re",
// != x) and list patterns ([...]); | only the default form *x | y.
var operators = map[token.Token]string{
	token.LAND: "&&", token.LOR: "||",
	token.EQL: "==", token.NEQ: "!=",
	token.LSS: "<", token.LEQ: "<=", token.GTR: ">", token.GEQ: ">=",
	token.MAT: "=~", token.NMAT: "!~",
	token.ADD: "+", token.SUB: "-", token.MUL: "*",
	token.AND: "&", token.OR: "|",
}

// unaryOperators are the prefix operators: ! and - on values; the bounds
// only as constraints in a unification; * only to mark a default.
var unaryOperators = map[token.Token]string{
	token.NOT: "!", token.SUB: "-",
	token.GEQ: ">=", token.GTR: ">", token.LEQ: "<=", token.LSS: "<", token.NEQ: "!=", token.MAT: "=~", token.NMAT: "!~",
	token.MUL: "*",
}

// builtins are the functions evaluated directly, by name as a rule calls
// them (the package by its import path), with how many arguments each
// takes.
var builtins = map[string]builtin{
	"len":               {1, builtinLen},
	"div":               {2, builtinDiv},
	"strings.Contains":  {2, strings2(func(a, b string) value { return strings.Contains(a, b) })},
	"strings.HasPrefix": {2, strings2(func(a, b string) value { return strings.HasPrefix(a, b) })},
	"strings.HasSuffix": {2, strings2(func(a, b string) value { return strings.HasSuffix(a, b) })},
	"strings.ToLower":   {1, strings1(strings.ToLower)},
	"strings.ToUpper":   {1, strings1(strings.ToUpper)},
	"strings.TrimSpace": {1, strings1(strings.TrimSpace)},
	"strings.Split":     {2, builtinSplit},
	"strings.Join":      {2, builtinJoin},
	"list.Contains":     {2, builtinListContains},
}

// FastConstructs describes the tables for people: the README and the
// pack's documentation say the same, and a test holds them to it.
func FastConstructs() (ops, calls []string) {
	for _, op := range operators {
		ops = append(ops, op)
	}
	for _, op := range unaryOperators {
		ops = append(ops, "unary "+op)
	}
	slices.Sort(ops)
	return slices.Compact(ops), slices.Sorted(maps.Keys(builtins))
}

// subsetOf says why n, a rule's CUE or a package field's, is outside the
// tables, or "" when it is inside. imports maps the file's import names to
// their paths.
func subsetOf(n ast.Node, imports map[string]string) string {
	why := ""
	ast.Walk(n, func(n ast.Node) bool {
		if why != "" {
			return false
		}
		why = nodeOutside(n, imports)
		if x, ok := n.(*ast.Interpolation); ok && why == "" {
			// Its literal parts are fragments, read by fragmentsOf.
			for i := 1; i < len(x.Elts) && why == ""; i += 2 {
				why = subsetOf(x.Elts[i], imports)
			}
			return false
		}
		return why == ""
	}, nil)
	return why
}

// nodeOutside is the reason one node is outside the tables, or "".
func nodeOutside(n ast.Node, imports map[string]string) string {
	switch x := n.(type) {
	case *ast.BasicLit:
		if _, ok := literalOf(x); !ok {
			return fmt.Sprintf("writes the literal %s (only plain strings, decimal integers, numbers, booleans and null are)", x.Value)
		}
	case *ast.Interpolation:
		if len(x.Elts) > 1 {
			if _, ok := fragmentsOf(x); !ok {
				return "interpolates into a string that is not double-quoted"
			}
		}
	case *ast.Ident:
		switch {
		case strings.HasPrefix(x.Name, "#"):
			return "uses the definition " + x.Name
		case x.Name == "rules":
			return "refers to rules"
		}
	case *ast.BinaryExpr:
		if _, ok := operators[x.Op]; !ok {
			return "uses the operator " + x.Op.String()
		}
		if x.Op == token.OR {
			if d, ok := x.X.(*ast.UnaryExpr); !ok || d.Op != token.MUL {
				return "uses a disjunction other than a default (*x | y)"
			}
		}
	case *ast.UnaryExpr:
		if _, ok := unaryOperators[x.Op]; !ok {
			return "uses the operator " + x.Op.String()
		}
	case *ast.CallExpr:
		name := callee(x, imports)
		if _, ok := builtins[name]; !ok {
			return "calls " + name
		}
	case *ast.Field:
		if x.Constraint != token.ILLEGAL {
			return "declares an optional or required field"
		}
		switch l := x.Label.(type) {
		case *ast.Ident:
			if strings.HasPrefix(l.Name, "#") || strings.HasPrefix(l.Name, "_") {
				return "declares the field " + l.Name
			}
		case *ast.BasicLit, *ast.ParenExpr:
		default:
			return "declares a field with a pattern or alias label"
		}
	case *ast.StructLit, *ast.ListLit, *ast.ParenExpr, *ast.SelectorExpr, *ast.IndexExpr,
		*ast.BottomLit, *ast.Comprehension, *ast.ForClause, *ast.IfClause, *ast.LetClause,
		*ast.EmbedDecl, *ast.Ellipsis, *ast.CommentGroup, *ast.Comment, *ast.Attribute:
	default:
		return fmt.Sprintf("uses %T", n)
	}
	return ""
}

// callee names the function a call calls: a builtin (len) or a package
// function by the package's import path (strings.Count).
func callee(x *ast.CallExpr, imports map[string]string) string {
	switch f := x.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		if id, ok := f.X.(*ast.Ident); ok {
			name, _, _ := ast.LabelName(f.Sel)
			if path, ok := imports[id.Name]; ok {
				return path + "." + name
			}
			return id.Name + "." + name
		}
	}
	return "a computed function"
}

// literalOf is the value of a literal, as CUE reads it, or false for what
// direct evaluation leaves to CUE: bytes, raw strings, and integers other
// than plain decimals (CUE also reads 0x10, 1_000 and 1Ki).
func literalOf(x *ast.BasicLit) (value, bool) {
	switch x.Kind {
	case token.STRING:
		if strings.HasPrefix(x.Value, "'") || strings.HasPrefix(x.Value, "#") {
			return nil, false
		}
		s, err := literal.Unquote(x.Value)
		return s, err == nil
	case token.INT:
		return decimal(x.Value)
	case token.FLOAT:
		return floatVal(x.Value), true
	case token.TRUE:
		return true, true
	case token.FALSE:
		return false, true
	case token.NULL:
		return nullVal{}, true
	}
	return nil, false
}

// fragmentsOf are the literal parts of an interpolation, unquoted as CUE's
// compiler does, or false when it is not a double-quoted string.
func fragmentsOf(x *ast.Interpolation) ([]string, bool) {
	first, last := x.Quotes()
	info, prefixLen, _, err := literal.ParseQuotes(first.Value, last.Value)
	if err != nil || !info.IsDouble() {
		return nil, false
	}
	var parts []string
	for i := 0; i < len(x.Elts); i += 2 {
		l, ok := x.Elts[i].(*ast.BasicLit)
		if !ok {
			return nil, false
		}
		s, err := info.Unquote(l.Value[prefixLen:])
		if err != nil {
			return nil, false
		}
		parts = append(parts, s)
		prefixLen = 1
	}
	return parts, true
}

// refersTo reports whether an identifier spelt name occurs in n.
func refersTo(n ast.Node, name string) bool {
	found := false
	ast.Walk(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Name == name {
			found = true
		}
		return !found
	}, nil)
	return found
}

// references are the names of top that n mentions. The analysis is
// syntactic and errs towards more: any identifier spelt like a package
// field counts.
func references(n ast.Node, top map[string]bool) []string {
	var out []string
	ast.Walk(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && top[id.Name] && !slices.Contains(out, id.Name) {
			out = append(out, id.Name)
		}
		return true
	}, nil)
	return out
}
