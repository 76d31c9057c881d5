package items

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/jobwq/jobwq/internal/position"
)

// Range returns the items with indexes from to to-1 (or fewer, when the
// set ends sooner) from a directory of chunks named by the index of their
// first item (ChunkName), reading only the chunks that hold them: an
// Indexed Job's pod finds its own items in a million without reading the
// rest.
func Range(dir string, from, to int) ([]string, error) {
	if from < 0 || to < from {
		return nil, fmt.Errorf("items %d to %d: not a range", from, to-1)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	type chunk struct {
		start int
		path  string
	}
	var chunks []chunk
	for _, e := range entries {
		name := e.Name()
		if name[0] == '.' {
			continue // a ConfigMap volume's ..data links
		}
		start, err := strconv.Atoi(strings.TrimSuffix(name, ".txt"))
		if err != nil || start < 0 {
			return nil, fmt.Errorf("read items: %s is not a chunk named by its first item's index", filepath.Join(dir, name))
		}
		chunks = append(chunks, chunk{start, filepath.Join(dir, name)})
	}
	slices.SortFunc(chunks, func(a, b chunk) int { return a.start - b.start })
	if len(chunks) == 0 || chunks[0].start != 0 {
		return nil, fmt.Errorf("read items: %s holds no chunk starting at item 0", dir)
	}
	// The last chunk that starts at or before from holds it.
	first, _ := slices.BinarySearchFunc(chunks, from+1, func(c chunk, target int) int { return c.start - target })
	var out []string
	index := chunks[first-1].start
	for _, c := range chunks[first-1:] {
		if index >= to {
			break
		}
		if c.start != index {
			return nil, position.Errorf(position.Position{File: position.Display(c.path)}, "",
				"the chunk before ends at item %d, but this one is named for item %d", index, c.start)
		}
		for it, err := range File(c.path) {
			if err != nil {
				return nil, err
			}
			if index >= from {
				out = append(out, it)
			}
			if index++; index >= to {
				break
			}
		}
	}
	return out, nil
}
