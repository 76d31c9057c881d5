package spec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"
	"unicode/utf8"
)

// MaxItemBytes bounds one item. Items travel to the seeder in ConfigMaps
// whose client-side apply annotation is capped at 256 KiB, and JSON may
// escape a byte into six; 16 KiB keeps any item well inside one chunk.
const MaxItemBytes = 16 << 10

// checkItem returns what is wrong with one item, or "".
func checkItem(s string) string {
	switch {
	case s == "":
		return "empty item: every item must be a non-empty string"
	case len(s) > MaxItemBytes:
		return fmt.Sprintf("item is %d bytes, at most %d are allowed", len(s), MaxItemBytes)
	case strings.ContainsAny(s, "\r\n"):
		return "item contains a line break: items are single lines"
	case !utf8.ValidString(s):
		return "item is not valid UTF-8"
	}
	return ""
}

// Items yields the spec's items in order, inline or streamed from
// spec.itemsFile. An error carries the file and line of the bad item; the
// sequence stops after it.
func (w *WorkQueue) Items() iter.Seq2[string, error] {
	if w.Spec.ItemsFile == "" {
		return func(yield func(string, error) bool) {
			for _, it := range w.Spec.Items {
				if !yield(it, nil) {
					return
				}
			}
		}
	}
	return func(yield func(string, error) bool) {
		f, err := os.Open(w.itemsPath)
		if err != nil {
			yield("", fmt.Errorf("read items file: %w", err))
			return
		}
		defer f.Close()
		ReadItems(f, displayPath(w.itemsPath))(yield)
	}
}

// ReadItems streams one item per line from r, checking each as a spec's
// items are checked; name is used in error positions. A final line without
// a newline counts; "\r\n" endings are accepted. An empty input is an
// error.
func ReadItems(r io.Reader, name string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) { readItems(r, name, yield) }
}

func readItems(r io.Reader, name string, yield func(string, error) bool) {
	br := bufio.NewReaderSize(r, 64<<10)
	n := 0
	for line := 1; ; line++ {
		s, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			yield("", errorf(Position{File: name, Line: line, Column: 1}, "",
				"item is longer than %d bytes", MaxItemBytes))
			return
		}
		if err != nil && err != io.EOF {
			yield("", fmt.Errorf("read %s: %w", name, err))
			return
		}
		if len(s) == 0 && err == io.EOF {
			if n == 0 {
				yield("", errorf(Position{File: name}, "", "no items: the file is empty"))
			}
			return
		}
		item := strings.TrimSuffix(strings.TrimSuffix(string(s), "\n"), "\r")
		if msg := checkItem(item); msg != "" {
			if item == "" {
				msg = "empty item (blank line): every line must hold one item"
			}
			yield("", errorf(Position{File: name, Line: line, Column: 1}, "", "%s", msg))
			return
		}
		n++
		if !yield(item, nil) || err == io.EOF {
			return
		}
	}
}
