package workqueue

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jobwq/jobwq/internal/position"
)

// yaml.v3 reports an indentation mistake where the enclosing mapping
// starts ("line 7: did not find expected key" for an over-indented key on
// line 10). indentProblem looks for the line itself: the first key, from
// line from on, indented deeper than a complete key before it, or to a
// column no enclosing key uses.
func indentProblem(data []byte, from int) (line, col int, msg string, ok bool) {
	var stack []int // indentation of the open block levels
	prevIndent, prevLine := -1, 0
	prevOpens := true // the line before opens a block (ends with ":" or is a bare "-")
	flow := 0         // depth of an open flow collection
	block := -1       // indentation of a block scalar's key, while in one
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		t := strings.TrimRight(raw, " \t\r")
		content := strings.TrimLeft(t, " ")
		if content == "" || strings.HasPrefix(content, "#") || content == "---" {
			continue
		}
		indent := len(t) - len(content)
		if block >= 0 {
			if indent > block {
				continue
			}
			block = -1
		}
		if flow > 0 {
			flow += strings.Count(content, "[") + strings.Count(content, "{") - strings.Count(content, "]") - strings.Count(content, "}")
			continue
		}
		isKey := strings.Contains(content, ": ") || strings.HasSuffix(content, ":")
		switch {
		case prevIndent >= 0 && indent > prevIndent && !prevOpens && isKey && n >= from:
			return n, indent + 1, fmt.Sprintf("unexpected indentation: this key is indented deeper than line %d, whose value is already complete", prevLine), true
		case indent > prevIndent:
			stack = append(stack, indent)
		default:
			for len(stack) > 0 && stack[len(stack)-1] > indent {
				stack = stack[:len(stack)-1]
			}
			if (len(stack) == 0 || stack[len(stack)-1] != indent) && n >= from {
				return n, indent + 1, fmt.Sprintf("unexpected indentation: column %d lines up with no enclosing key", indent+1), true
			}
		}
		value := content
		if strings.HasPrefix(value, "- ") {
			value = strings.TrimLeft(value[2:], " ")
			stack = append(stack, indent+2+len(content[2:])-len(strings.TrimLeft(content[2:], " ")))
		}
		_, v, hasColon := strings.Cut(value, ": ")
		if !hasColon && strings.HasSuffix(value, ":") {
			v = ""
		}
		v = strings.TrimSpace(v)
		prevOpens = value == "-" || strings.HasSuffix(value, ":") || (hasColon && v == "")
		if slices.Contains([]string{"|", ">", "|-", ">-", "|+", ">+"}, v) {
			block = indent
			prevOpens = false
		}
		if d := strings.Count(v, "[") + strings.Count(v, "{") - strings.Count(v, "]") - strings.Count(v, "}"); d > 0 {
			flow = d
		}
		prevIndent, prevLine = indent, n
	}
	return 0, 0, "", false
}

// yamlSyntaxErrors is syntaxErrors, with an indentation mistake reported
// at its own line.
func yamlSyntaxErrors(filename string, data []byte, err error) error {
	errs := syntaxErrors(filename, err)
	es, ok := errs.(position.Errors)
	if !ok || len(es) != 1 {
		return errs
	}
	if line, col, ok := tabProblem(data, es[0].Pos.Line, es[0].Msg); ok {
		return position.Errors{position.Errorf(position.Position{File: es[0].Pos.File, Line: line, Column: col}, "",
			"a tab where YAML wants spaces: indent with spaces (YAML does not allow tabs for indentation)")}
	}
	switch m := es[0].Msg; {
	case strings.Contains(m, "did not find expected key"),
		strings.Contains(m, "mapping values are not allowed"),
		strings.Contains(m, "did not find expected '-' indicator"):
	default:
		return errs
	}
	if line, col, msg, ok := indentProblem(data, es[0].Pos.Line); ok {
		return position.Errors{position.Errorf(position.Position{File: es[0].Pos.File, Line: line, Column: col}, "", "%s", msg)}
	}
	return errs
}

// tabProblem finds the tab behind yaml.v3's "found character that cannot
// start any token" and "found a tab character that violates indentation",
// which name a line only (and for the second, sometimes the one before):
// the first tab of that line, or else of the next.
func tabProblem(data []byte, line int, msg string) (int, int, bool) {
	if !strings.Contains(msg, "cannot start any token") && !strings.Contains(msg, "tab character") {
		return 0, 0, false
	}
	lines := strings.Split(string(data), "\n")
	for n := line; n <= line+1 && n >= 1 && n <= len(lines); n++ {
		if i := strings.IndexByte(lines[n-1], '\t'); i >= 0 {
			return n, utf8.RuneCountInString(lines[n-1][:i]) + 1, true
		}
	}
	return 0, 0, false
}
