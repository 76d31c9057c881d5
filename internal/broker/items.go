package broker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/jobwq/jobwq/internal/spec"
)

// Items is what a seeder publishes: the items in order, with the digest and
// count that identify the set. The digest is the same as the one jobwq
// build writes into the Jobs (sha256 over every item and a newline).
type Items struct {
	Digest string
	Count  int
	// Each calls fn for every item in order.
	Each func(fn func(item string) error) error
}

// ItemsFromPath reads items from a file, from "-" (standard input), or from
// a directory of chunk files taken in name order, as the seeding pod's
// items volume holds them. Files are read twice (once for the digest, once
// to publish) rather than held in memory; standard input is buffered.
func ItemsFromPath(path string) (*Items, error) {
	if path == "-" {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("read items from stdin: %w", err)
		}
		return itemsFromSources([]source{{name: "stdin", open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}}})
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	var files []string
	if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("read items: %w", err)
		}
		for _, e := range entries {
			// ConfigMap volumes hold ..data and ..<timestamp> links
			// beside the keys; only the keys are chunks.
			if e.Name()[0] == '.' {
				continue
			}
			p := filepath.Join(path, e.Name())
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				files = append(files, p)
			}
		}
		slices.Sort(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("read items: %s holds no item files", path)
		}
	} else {
		files = []string{path}
	}
	var srcs []source
	for _, f := range files {
		srcs = append(srcs, source{name: f, open: func() (io.ReadCloser, error) { return os.Open(f) }})
	}
	return itemsFromSources(srcs)
}

// ItemsFromList wraps items already in memory.
func ItemsFromList(items []string) *Items {
	h := sha256.New()
	for _, it := range items {
		h.Write([]byte(it))
		h.Write([]byte{'\n'})
	}
	return &Items{
		Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)),
		Count:  len(items),
		Each: func(fn func(string) error) error {
			for _, it := range items {
				if err := fn(it); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

type source struct {
	name string
	open func() (io.ReadCloser, error)
}

func itemsFromSources(srcs []source) (*Items, error) {
	each := func(fn func(string) error) error {
		for _, s := range srcs {
			r, err := s.open()
			if err != nil {
				return fmt.Errorf("read items: %w", err)
			}
			for it, err := range spec.ReadItems(r, s.name) {
				if err == nil {
					err = fn(it)
				}
				if err != nil {
					r.Close()
					return err
				}
			}
			r.Close()
		}
		return nil
	}
	h := sha256.New()
	n := 0
	err := each(func(it string) error {
		h.Write([]byte(it))
		h.Write([]byte{'\n'})
		n++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Items{Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), Count: n, Each: each}, nil
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
