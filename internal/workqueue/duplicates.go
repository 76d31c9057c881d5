package workqueue

import (
	"fmt"
	"hash/maphash"
	"slices"
	"unicode/utf8"

	"github.com/jobwq/jobwq/internal/position"
)

// A Dups finds items that occur more than once. Duplicates are legal (an
// item may need doing twice) but usually a mistake. It keeps one 64-bit
// hash per item (8 MB for a million), and only when two hashes agree
// reads the items again to say where.
type Dups struct {
	w      *WorkQueue
	seed   maphash.Seed
	hashes []uint64
}

// NewDups starts looking for duplicates among w's items.
func NewDups(w *WorkQueue) *Dups {
	return &Dups{w: w, seed: maphash.MakeSeed()}
}

// Add looks at the next item.
func (d *Dups) Add(item string) { d.hashes = append(d.hashes, maphash.String(d.seed, item)) }

// Found returns a warning for each item that repeats an earlier one, with
// both positions, reading the items again if there are any.
func (d *Dups) Found() (position.Errors, error) {
	sorted := d.hashes // the order is not needed: the items are read again
	slices.Sort(sorted)
	repeated := map[uint64]int{} // hash → index of its first item, -1 until seen
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			repeated[sorted[i]] = -1
		}
	}
	d.hashes = nil
	if len(repeated) == 0 {
		return nil, nil
	}
	var found position.Errors
	i := 0
	for item, err := range d.w.Items() {
		if err != nil {
			return nil, err
		}
		h := maphash.String(d.seed, item)
		if first, ok := repeated[h]; ok {
			if first < 0 {
				repeated[h] = i
			} else {
				found = append(found, d.warning(item, i, first))
			}
		}
		i++
	}
	return found, nil
}

func (d *Dups) warning(item string, i, first int) *position.Error {
	pos, firstPos := d.w.ItemPos(i), d.w.ItemPos(first)
	where := fmt.Sprintf("line %d", firstPos.Line)
	path := ""
	if d.w.Spec.ItemsFile == "" {
		path = fmt.Sprintf("spec.items[%d]", i)
		where = fmt.Sprintf("spec.items[%d], line %d", first, firstPos.Line)
	}
	return position.Errorf(pos, path, "warning: duplicate item %s (first at %s): it will be processed twice", quoteShort(item), where)
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
