package spec

import (
	"fmt"
	"hash/maphash"
	"unicode/utf8"

	"github.com/jobwq/jobwq/internal/position"
)

// ItemPos is where the i-th item was written: its line in itemsFile (one
// item per line, blank lines refused), or its place in the inline list.
func (w *WorkQueue) ItemPos(i int) position.Position {
	if w.Spec.ItemsFile != "" {
		return position.Position{File: position.Display(w.itemsPath), Line: i + 1, Column: 1}
	}
	if i < len(w.itemPos) {
		return w.itemPos[i]
	}
	return position.Position{File: position.Display(w.Path)}
}

// A Dups finds items that occur more than once. Duplicates are legal (an
// item may need doing twice) but usually a mistake. It keeps a 64-bit hash
// per item rather than the items, so a million cost about 40 MB.
type Dups struct {
	w     *WorkQueue
	seed  maphash.Seed
	seen  map[uint64]int
	n     int
	Found position.Errors
}

// NewDups starts looking for duplicates among w's items.
func NewDups(w *WorkQueue) *Dups {
	return &Dups{w: w, seed: maphash.MakeSeed(), seen: map[uint64]int{}}
}

// Add looks at the next item.
func (d *Dups) Add(item string) {
	i := d.n
	d.n++
	h := maphash.String(d.seed, item)
	first, dup := d.seen[h]
	if !dup {
		d.seen[h] = i
		return
	}
	pos, firstPos := d.w.ItemPos(i), d.w.ItemPos(first)
	where := fmt.Sprintf("line %d", firstPos.Line)
	path := ""
	if d.w.Spec.ItemsFile == "" {
		path = fmt.Sprintf("spec.items[%d]", i)
		where = fmt.Sprintf("spec.items[%d], line %d", first, firstPos.Line)
	}
	d.Found = append(d.Found, position.Errorf(pos, path, "warning: duplicate item %s (first at %s): it will be processed twice", quoteShort(item), where))
}

func quoteShort(s string) string {
	const max = 60
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}
