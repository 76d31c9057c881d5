package items

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/jobwq/jobwq/internal/position"
)

// A Source is an item set that can be read more than once, with its digest
// and count known up front: the seeder checks the digest against the
// queue's seal before it publishes anything, and publishes by reading the
// set again rather than holding it in memory.
type Source struct {
	Digest string
	Count  int
	open   func() Seq
}

// All streams the items again.
func (s *Source) All() Seq { return s.open() }

// NewSource reads the items open returns once, for their digest and
// count; open must return the same items every time.
func NewSource(open func() Seq) (*Source, error) {
	digest, count, err := DigestOf(open())
	if err != nil {
		return nil, err
	}
	return &Source{Digest: digest, Count: count, open: open}, nil
}

// Stdin is the path that stands for standard input.
const Stdin = "-"

// Open reads items from a file, from standard input (Stdin, buffered in
// memory since it cannot be read twice), or from a directory of chunk
// files taken in name order, as the seeding pod's items volume holds them.
func Open(path string, stdin io.Reader) (*Source, error) {
	if path == Stdin {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read items from stdin: %w", err)
		}
		return NewSource(func() Seq { return Read(bytes.NewReader(data), "stdin") })
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	files := []string{path}
	if fi.IsDir() {
		if files, err = chunkFiles(path); err != nil {
			return nil, err
		}
	}
	return NewSource(func() Seq { return Files(files) })
}

// chunkFiles lists the chunks in dir in seeding order.
func chunkFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	var files []string
	for _, e := range entries {
		// ConfigMap volumes hold ..data and ..<timestamp> links beside
		// the keys; only the keys are chunks.
		if e.Name()[0] == '.' {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			files = append(files, p)
		}
	}
	slices.Sort(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("read items: %s holds no item files", dir)
	}
	return files, nil
}

// File streams the items of one file; its path names it in errors.
func File(path string) Seq { return Files([]string{path}) }

// Files streams the items of each file in turn, as one set.
func Files(paths []string) Seq {
	return func(yield func(string, error) bool) {
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				yield("", fmt.Errorf("read items: %w", err))
				return
			}
			for it, err := range Read(f, position.Display(p)) {
				if !yield(it, err) || err != nil {
					f.Close()
					return
				}
			}
			f.Close()
		}
	}
}
