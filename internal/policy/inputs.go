package policy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jobwq/jobwq/internal/kustree"
)

// Stdin is the path that stands for standard input, and StdinName the name
// its positions carry.
const (
	Stdin     = "-"
	StdinName = "<stdin>"
)

// kustomizationFiles mark a directory that kustomize builds as a whole.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// manifestExts are the files a directory walk reads.
var manifestExts = []string{".yaml", ".yml", ".json"}

// BuiltSuffix follows a kustomization directory's path in positions: their
// lines and columns point into the built stream, which
// `kubectl kustomize DIR` prints, not into the files of the tree.
const BuiltSuffix = " (kustomize build)"

// CheckPaths checks each path in turn: a file; a directory, whose .yaml,
// .yml and .json files are read recursively (hidden directories skipped);
// a directory holding a kustomization, which is built in-process first; or
// Stdin, read from stdin. A path that cannot be read or parsed is an error.
func (p *Pack) CheckPaths(paths []string, stdin io.Reader) ([]Result, error) {
	var out []Result
	for _, path := range paths {
		rs, err := p.checkPath(path, stdin)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

func (p *Pack) checkPath(path string, stdin io.Reader) ([]Result, error) {
	if path == Stdin {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return p.Check(StdinName, data)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, readErr(err)
	}
	if !fi.IsDir() {
		return p.checkFile(path)
	}
	var out []Result
	err = filepath.WalkDir(path, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return readErr(err)
		}
		if d.IsDir() {
			if name != path && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !isKustomization(name) {
				return nil
			}
			rs, err := p.checkKustomization(name)
			if err != nil {
				return err
			}
			out = append(out, rs...)
			return filepath.SkipDir
		}
		if !slices.Contains(manifestExts, strings.ToLower(filepath.Ext(name))) {
			return nil
		}
		rs, err := p.checkFile(name)
		if err != nil {
			return err
		}
		out = append(out, rs...)
		return nil
	})
	return out, err
}

func (p *Pack) checkFile(name string) ([]Result, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, readErr(err)
	}
	return p.Check(name, data)
}

func (p *Pack) checkKustomization(dir string) ([]Result, error) {
	out, err := kustree.BuildDir(dir)
	if err != nil {
		return nil, err
	}
	return p.Check(dir+BuiltSuffix, out)
}

// readErr words a file system error as "read PATH: reason".
func readErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("read %s: %w", pe.Path, pe.Err)
	}
	return fmt.Errorf("read: %w", err)
}

func isKustomization(dir string) bool {
	for _, n := range kustomizationFiles {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}
