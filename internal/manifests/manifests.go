// Package manifests finds the Kubernetes manifests a user points jobwq
// policy at: files, directories walked recursively, kustomization
// directories (built in-process, as kubectl kustomize would) and standard
// input. It hands each input's bytes on with the name positions should
// carry; what is in them is the policy package's business.
package manifests

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

// Walk hands each input found under paths to fn, in order, with the name
// its positions carry: a file; a directory, whose .yaml, .yml and .json
// files are read recursively (hidden directories skipped); a directory
// holding a kustomization, built in-process first and named
// DIR+BuiltSuffix; or Stdin, read from stdin and named StdinName. A path
// that cannot be read or built, or an error from fn, ends the walk.
func Walk(paths []string, stdin io.Reader, fn func(name string, data []byte) error) error {
	for _, path := range paths {
		if err := walk(path, stdin, fn); err != nil {
			return err
		}
	}
	return nil
}

func walk(path string, stdin io.Reader, fn func(name string, data []byte) error) error {
	if path == Stdin {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		return fn(StdinName, data)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return readErr(err)
	}
	if !fi.IsDir() {
		return file(path, fn)
	}
	return filepath.WalkDir(path, func(name string, d fs.DirEntry, err error) error {
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
			out, err := kustree.BuildDir(name)
			if err != nil {
				return err
			}
			if err := fn(name+BuiltSuffix, out); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		if !slices.Contains(manifestExts, strings.ToLower(filepath.Ext(name))) {
			return nil
		}
		return file(name, fn)
	})
}

func file(name string, fn func(name string, data []byte) error) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return readErr(err)
	}
	return fn(name, data)
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
