package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
	"cuelang.org/go/encoding/json"
	"cuelang.org/go/encoding/yaml"

	"github.com/jobwq/jobwq/internal/position"
)

// MaxDocument is the largest YAML document, or JSON input, that Check
// reads. The Kubernetes API server stores no object above 1.5 MiB; a
// document this large is a mistake or an attack, and decoding it would
// cost many times its size in memory.
const MaxDocument = 32 << 20

// A document is one YAML document (or one JSON input) of a stream, with
// the line it starts on, so that positions inside it can be given in the
// whole stream's lines.
type document struct {
	data []byte
	line int // lines of the stream before the document
}

// A docReader splits a YAML stream into documents at "---" lines, as
// kubectl does, so that each is decoded (and can be forgotten) on its own:
// memory follows the largest document, not the stream.
type docReader struct {
	r    *bufio.Reader
	name string // the input, for errors
	line int    // lines read so far
	next []byte // a separator line read ahead: the start of the next document
	done bool
}

func newDocReader(r io.Reader, name string) *docReader {
	return &docReader{r: bufio.NewReaderSize(r, 64<<10), name: name}
}

// errTooLarge ends a stream: what follows cannot be told apart from the
// document that did not end, which starts after line lines.
func errTooLarge(name string, line int) *position.Error {
	return &position.Error{
		Pos: position.Position{File: position.Display(name), Line: line + 1},
		Msg: fmt.Sprintf("a document starting here is larger than %d MiB; split the input", MaxDocument>>20),
	}
}

// read returns the next document, io.EOF after the last.
func (d *docReader) read() (document, error) {
	if d.done {
		return document{}, io.EOF
	}
	doc := document{line: d.line}
	var b bytes.Buffer
	if d.next != nil {
		b.Write(d.next)
		d.next = nil
		d.line++
	}
	for {
		line, err := d.readLine(&b, doc.line)
		if err != nil && !errors.Is(err, io.EOF) {
			return document{}, err
		}
		if line != nil {
			if isSeparator(line) && b.Len() > 0 {
				d.next = line
				doc.data = b.Bytes()
				return doc, nil
			}
			b.Write(line)
			d.line++
		}
		if errors.Is(err, io.EOF) {
			d.done = true
			doc.data = b.Bytes()
			return doc, nil
		}
	}
}

// readLine reads one line, its newline included, refusing one that would
// make the document too large.
func (d *docReader) readLine(b *bytes.Buffer, start int) ([]byte, error) {
	var line []byte
	for {
		frag, err := d.r.ReadSlice('\n')
		if b.Len()+len(line)+len(frag) > MaxDocument {
			d.done = true
			return nil, errTooLarge(d.name, start)
		}
		line = append(line, frag...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) == 0 {
			return nil, err
		}
		return line, err
	}
}

// isSeparator reports whether line starts a new YAML document: "---" alone
// or followed by white space.
func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	return ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r')
}

// decode returns the values in one document: one for YAML, any number for
// a stream of JSON values. Errors carry positions in the whole stream.
func decode(filename string, doc document, isJSON bool) (exprs []ast.Expr, perr *position.Error) {
	// The decoders are a library's: a panic of theirs on some input is
	// that input's error, not the end of the run.
	defer func() {
		if r := recover(); r != nil {
			exprs, perr = nil, &position.Error{
				Pos: position.Position{File: position.Display(filename), Line: doc.line + 1},
				Msg: fmt.Sprintf("cannot parse: the decoder failed: %v", r),
			}
		}
	}()
	type extractor interface{ Extract() (ast.Expr, error) }
	var d extractor
	kind := "YAML"
	if isJSON {
		d = json.NewDecoder(nil, filename, bytes.NewReader(doc.data))
		kind = "JSON"
	} else {
		d = yaml.NewDecoder(filename, bytes.NewReader(doc.data))
	}
	for {
		e, err := d.Extract()
		if errors.Is(err, io.EOF) {
			return exprs, nil
		}
		if err != nil {
			return nil, decodeError(filename, kind, doc, err)
		}
		if err := normalize(e, filename, doc.line); err != nil {
			return nil, err
		}
		exprs = append(exprs, e)
	}
}

// decodeError words a decoder's error as "file:line:col: invalid YAML:
// reason", lines counted in the whole stream, with a hint when the input
// looks like an unrendered template.
func decodeError(filename, kind string, doc document, err error) *position.Error {
	pos := position.Position{File: position.Display(filename), Line: doc.line + 1}
	// The decoders' messages start with filename:line[:column] when they
	// know where; lines count from the document's start.
	msg := oneLine(err).Error()
	if rest, ok := strings.CutPrefix(msg, filename+":"); ok {
		var nums []int
		for len(nums) < 2 {
			n, tail, ok := strings.Cut(rest, ":")
			v, err := strconv.Atoi(n)
			if !ok || err != nil {
				break
			}
			nums, rest = append(nums, v), tail
		}
		if len(nums) > 0 {
			pos.Line = doc.line + nums[0]
		}
		if len(nums) > 1 {
			pos.Column = nums[1]
		}
		msg = strings.TrimSpace(rest)
	}
	msg = strings.TrimPrefix(msg, "invalid JSON for file \""+filename+"\": ")
	hint := ""
	if bytes.Contains(doc.data, []byte("{{")) {
		hint = " (this looks like a template: render it first, e.g. helm template ... | jobwq policy -)"
	}
	return &position.Error{Pos: pos, Msg: fmt.Sprintf("invalid %s: %s%s", kind, msg, hint)}
}

// normalize makes a decoded document mean what the API server would make
// of it. A null field is dropped, as the API server treats null as unset
// (so that `args:` holding only comments, or `volumes: null`, is no list
// the rules cannot range over); a null list element becomes an empty
// object, as it does in a Go slice of structs. A key given twice is an
// error naming both lines: decoders keep one of them silently, and which
// one decides what the rules see.
func normalize(e ast.Expr, filename string, line int) *position.Error {
	var err *position.Error
	ast.Walk(e, func(n ast.Node) bool {
		if err != nil {
			return false
		}
		switch x := n.(type) {
		case *ast.StructLit:
			seen := map[string]token.Pos{}
			elts := x.Elts[:0]
			for _, d := range x.Elts {
				f, ok := d.(*ast.Field)
				if !ok {
					elts = append(elts, d)
					continue
				}
				name, _, lerr := ast.LabelName(f.Label)
				if lerr == nil {
					if first, dup := seen[name]; dup {
						p := f.Label.Pos()
						err = &position.Error{
							Pos: position.Position{File: position.Display(filename), Line: line + p.Line(), Column: p.Column()},
							Msg: fmt.Sprintf("duplicate key %q (first at line %d): remove one; decoders keep either silently", name, line+first.Line()),
						}
						return false
					}
					seen[name] = f.Label.Pos()
				}
				if isNull(f.Value) {
					continue
				}
				elts = append(elts, d)
			}
			x.Elts = elts
		case *ast.ListLit:
			for i, el := range x.Elts {
				if isNull(el) {
					x.Elts[i] = &ast.StructLit{Lbrace: el.Pos(), Rbrace: el.Pos()}
				}
			}
		}
		return true
	}, nil)
	return err
}

func isNull(e ast.Expr) bool {
	b, ok := e.(*ast.BasicLit)
	return ok && b.Kind == token.NULL
}
