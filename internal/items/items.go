// Package items is everything jobwq knows about a run's items, in one
// place: the line format and what makes one item valid, the sources items
// are read from (a file, the seeding pod's directory of chunks, standard
// input, a list in memory), the digest that identifies an item set, and
// the chunks that carry the items to the seeder in ConfigMaps.
//
// The digest is the contract that makes seeding exactly-once: jobwq build
// writes it into the Jobs, the seeder computes it from what it reads and
// seals the queue with it, and a queue sealed with another digest is
// refused. It is formed here and nowhere else.
//
// Items never pass through the CUE evaluator: they are streamed, counted
// and hashed in Go, so a million of them cost what reading them costs.
package items

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/jobwq/jobwq/internal/position"
)

// MaxBytes bounds one item. Items travel to the seeder in ConfigMaps whose
// client-side apply annotation is capped at 256 KiB, and JSON may escape a
// byte into six; 16 KiB keeps any item well inside one chunk.
const MaxBytes = 16 << 10

// MaxTotalBytes bounds one item file (and so a run's items): they are
// held in memory while built and stored in etcd as ConfigMaps, whose
// default quota is 2 GiB for the whole cluster.
const MaxTotalBytes = 256 << 20

// Check returns what is wrong with one item, or "" when it is valid.
func Check(s string) string {
	msg, _ := Problem(s)
	return msg
}

// Problem returns what is wrong with one item and the byte offset where
// the problem is, or "" when the item is valid.
//
// A valid item reaches the queue byte for byte: it travels in a ConfigMap
// that kustomize writes as YAML and kubectl reads back, so anything YAML
// reads as a line break (U+0085, U+2028, U+2029), anything kustomize's
// emitter refuses to write (DEL, the C1 controls, U+FFFE, U+FFFF), a tab
// opening a chunk (kustomize cannot read back the block it writes for
// one) and a byte order mark (an editor's artefact, never meant as data)
// are refused. TestRoundTrip and FuzzRoundTrip in this package hold every
// item Problem accepts to arriving unchanged.
func Problem(s string) (msg string, at int) {
	switch {
	case s == "":
		return "empty item: every item must be a non-empty string", 0
	case len(s) > MaxBytes:
		return fmt.Sprintf("item is %d bytes, at most %d are allowed", len(s), MaxBytes), 0
	case s[0] == '\t':
		return "item starts with a tab, which kustomize cannot carry into a ConfigMap: remove it or put another character first", 0
	}
	for i, r := range s {
		switch {
		case r == '\r' || r == '\n':
			return "item contains a line break: items are single lines", i
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return "item is not valid UTF-8", i
		case r == '\u0085' || r == '\u2028' || r == '\u2029':
			return fmt.Sprintf("item contains %s, which YAML reads as a line break: the item would not reach the queue as written", runeName(r)), i
		case r == '\uFEFF' && i == 0:
			return "item starts with a byte order mark (U+FEFF): save the items as UTF-8 without a BOM", i
		case r == '\uFEFF':
			return "item contains a byte order mark (U+FEFF), which would not reach the queue as written", i
		case r >= 0x7F && r <= 0x9F, r == 0xFFFE, r == 0xFFFF:
			return fmt.Sprintf("item contains the control character %U, which kustomize cannot write into a ConfigMap", r), i
		}
	}
	return "", 0
}

func runeName(r rune) string {
	switch r {
	case '\u0085':
		return "U+0085 (NEL, next line)"
	case '\u2028':
		return "U+2028 (line separator)"
	}
	return "U+2029 (paragraph separator)"
}

// Seq is a stream of items in order. A bad item or a failed read ends it
// with an error; a bad item's error is a *position.Error naming its line.
type Seq = iter.Seq2[string, error]

// List streams items held in memory. They are not checked: whoever built
// the list did.
func List(items []string) Seq {
	return func(yield func(string, error) bool) {
		for _, it := range items {
			if !yield(it, nil) {
				return
			}
		}
	}
}

// Read streams one item per line from r, checking each; name stands for r
// in error positions. A last line without a newline counts, "\r\n" endings
// are accepted, and an empty input is an error.
func Read(r io.Reader, name string) Seq {
	return func(yield func(string, error) bool) { read(r, name, yield) }
}

func read(r io.Reader, name string, yield func(string, error) bool) {
	scan(r, name, func(item string, err error) bool { return yield(item, err) && err == nil })
}

// scan reads one item per line from r, giving each item, or the problem
// of its line, to each until each returns false or the input ends. A
// problem that ends reading for good (the size cap, a failed read) is
// given last.
func scan(r io.Reader, name string, each func(string, error) bool) {
	br := bufio.NewReaderSize(r, 64<<10)
	total := 0
	for line := 1; ; line++ {
		s, err := br.ReadSlice('\n')
		if total += len(s); total > MaxTotalBytes {
			each("", position.Errorf(position.Position{File: name, Line: line, Column: 1}, "",
				"the items pass %d MiB here: a run's items are stored in the cluster as ConfigMaps; split the work into several runs", MaxTotalBytes>>20))
			return
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if !each("", position.Errorf(position.Position{File: name, Line: line, Column: 1}, "",
				"item is longer than %d bytes", MaxBytes)) {
				return
			}
			// The rest of the long line, to go on at the next.
			for errors.Is(err, bufio.ErrBufferFull) {
				s, err = br.ReadSlice('\n')
				if total += len(s); total > MaxTotalBytes {
					each("", position.Errorf(position.Position{File: name, Line: line, Column: 1}, "",
						"the items pass %d MiB here: a run's items are stored in the cluster as ConfigMaps; split the work into several runs", MaxTotalBytes>>20))
					return
				}
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				each("", fmt.Errorf("read %s: %w", name, err))
				return
			}
			continue
		}
		if err != nil && err != io.EOF {
			each("", fmt.Errorf("read %s: %w", name, err))
			return
		}
		if len(s) == 0 && err == io.EOF {
			if line == 1 {
				each("", position.Errorf(position.Position{File: name}, "", "no items: the file is empty"))
			}
			return
		}
		item := strings.TrimSuffix(strings.TrimSuffix(string(s), "\n"), "\r")
		if msg, at := Problem(item); msg != "" {
			if item == "" {
				msg = "empty item (blank line): every line must hold one item"
			}
			if !each("", position.Errorf(position.Position{File: name, Line: line, Column: at + 1}, "", "%s", msg)) || err == io.EOF {
				return
			}
			continue
		}
		if !each(item, nil) || err == io.EOF {
			return
		}
	}
}

// Problems reads every line of the items file at path and returns the
// problems of its bad lines: the first most of them, then one more
// saying how many were left out. A file that cannot be read is an error.
func Problems(path string, most int) (position.Errors, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	defer f.Close()
	var found position.Errors
	more := 0
	var next position.Position // the first bad line not listed
	var failed error
	scan(f, position.Display(path), func(_ string, err error) bool {
		var pe *position.Error
		switch {
		case err == nil:
		case !errors.As(err, &pe):
			failed = err
			return false
		case len(found) < most:
			found = append(found, pe)
		default:
			if more == 0 {
				next = pe.Pos
			}
			more++
		}
		return true
	})
	if failed != nil {
		return nil, failed
	}
	if more > 0 {
		found = append(found, &position.Error{Pos: next,
			Msg: fmt.Sprintf("and %d more bad lines from here (at most %d are listed)", more, most)})
	}
	return found, nil
}

// A Digest identifies an item set: sha256 over every item followed by a
// newline, written "sha256:<hex>". Two sets have the same digest exactly
// when they hold the same items in the same order.
type Digest struct {
	h hash.Hash
	n int
}

// NewDigest starts a digest of no items.
func NewDigest() *Digest { return &Digest{h: sha256.New()} }

// Add adds the next item.
func (d *Digest) Add(item string) {
	io.WriteString(d.h, item)
	d.h.Write([]byte{'\n'})
	d.n++
}

// Count is how many items were added.
func (d *Digest) Count() int { return d.n }

// String is the digest of the items added so far.
func (d *Digest) String() string { return "sha256:" + hex.EncodeToString(d.h.Sum(nil)) }

// DigestOf reads seq to its end and returns its digest and count.
func DigestOf(seq Seq) (digest string, count int, err error) {
	d := NewDigest()
	for it, err := range seq {
		if err != nil {
			return "", 0, err
		}
		d.Add(it)
	}
	return d.String(), d.Count(), nil
}
