package items

import "fmt"

// ChunkBudget bounds the JSON-escaped size of one chunk of items.
// Client-side `kubectl apply` copies each ConfigMap into its
// last-applied-configuration annotation, and all annotations of an object
// together may hold 256 KiB; the rest is left for metadata.
const ChunkBudget = 200 << 10

// ChunkName is the name of the chunk whose first item has index start: its
// key in the pods' items volume. Names sort in item order, and name where
// each chunk starts, so an Indexed Job's pod opens only the chunk that
// holds its items (Range).
func ChunkName(start int) string { return fmt.Sprintf("%010d", start) }

// A Set is an item set taken apart for a build: how many items, their
// digest, and the chunk files (items, each ending in "\n") that carry them
// to the pods, with the index of each chunk's first item.
type Set struct {
	Count  int
	Digest string
	Chunks [][]byte
	Starts []int
}

// ChunkNames are the names of the set's chunks, in order.
func (s *Set) ChunkNames() []string {
	names := make([]string, len(s.Starts))
	for i, start := range s.Starts {
		names[i] = ChunkName(start)
	}
	return names
}

// Collect reads seq once: it counts, hashes and chunks the items.
func Collect(seq Seq) (*Set, error) {
	d := NewDigest()
	set := &Set{}
	var cur []byte
	curSize := 0
	for item, err := range seq {
		if err != nil {
			return nil, err
		}
		size := escapedSize(item) + 2 // the "\n" escapes to two bytes
		if curSize+size > ChunkBudget && len(cur) > 0 {
			set.Chunks = append(set.Chunks, cur)
			cur, curSize = nil, 0
		}
		if len(cur) == 0 {
			set.Starts = append(set.Starts, d.Count())
		}
		cur = append(cur, item...)
		cur = append(cur, '\n')
		curSize += size
		d.Add(item)
	}
	if len(cur) > 0 {
		set.Chunks = append(set.Chunks, cur)
	}
	set.Count, set.Digest = d.Count(), d.String()
	return set, nil
}

// escapedSize is the length of s inside a JSON string as encoding/json
// writes it (HTML-safe), which is how kubectl stores it in the annotation.
func escapedSize(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			n += 2
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += len(string(r))
		}
	}
	return n
}
