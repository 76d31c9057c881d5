package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/jobwq/jobwq/internal/spec"
)

// ChunkBudget bounds the JSON-escaped size of one chunk of items.
// Client-side `kubectl apply` copies each ConfigMap into its
// last-applied-configuration annotation, and all annotations of an object
// together may hold 256 KiB; the rest is left for metadata.
const ChunkBudget = 200 << 10

// ItemSet is what the templates learn about the items: how many, their
// digest, and the chunk files that carry them to the seeder.
type ItemSet struct {
	Count  int
	Digest string // "sha256:<hex>" of all items, each ending in "\n"
	Chunks [][]byte
}

// ChunkName is the file name of chunk i inside the seeder's items volume;
// names sort in seeding order.
func ChunkName(i int) string { return fmt.Sprintf("%04d", i) }

// CollectItems streams the spec's items once: it checks, counts, hashes and
// chunks them. Errors point at the offending item.
func CollectItems(w *spec.WorkQueue) (*ItemSet, error) {
	h := sha256.New()
	set := &ItemSet{}
	var cur []byte
	curSize := 0
	for item, err := range w.Items() {
		if err != nil {
			return nil, err
		}
		size := escapedSize(item) + 2 // the "\n" escapes to two bytes
		if curSize+size > ChunkBudget && len(cur) > 0 {
			set.Chunks = append(set.Chunks, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, item...)
		cur = append(cur, '\n')
		curSize += size
		h.Write([]byte(item))
		h.Write([]byte{'\n'})
		set.Count++
	}
	if len(cur) > 0 {
		set.Chunks = append(set.Chunks, cur)
	}
	set.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
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
