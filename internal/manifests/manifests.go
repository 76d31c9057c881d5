// Package manifests finds the Kubernetes manifests a user points jobwq
// policy at: files, directories walked recursively, kustomization
// directories (built in-process, as kubectl kustomize would) and standard
// input. It hands each input's bytes on with the name positions should
// carry; what is in them is the policy package's business.
package manifests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jobwq/jobwq/internal/kustree"
	"github.com/jobwq/jobwq/internal/position"
)

// Stdin is the path that stands for standard input, and StdinName the name
// its positions carry.
const (
	Stdin     = "-"
	StdinName = position.StdinName
)

// kustomizationFiles mark a directory that kustomize builds as a whole.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// manifestExts are the files a directory walk reads.
var manifestExts = []string{".yaml", ".yml", ".json"}

// BuiltSuffix follows a kustomization directory's path in positions.
const BuiltSuffix = position.BuiltSuffix

// Walk hands each input found under paths to fn, in order, with the name
// its positions carry: a file; a directory, whose .yaml, .yml and .json
// files are read recursively (hidden directories skipped); a directory
// holding a kustomization, built in-process first and named
// DIR+BuiltSuffix; or Stdin, read from stdin and named StdinName.
//
// Only regular files are read (a FIFO or a device, also behind a symlink,
// could block or never end), and a kustomization that refers to anything
// remote is refused before kustomize sees it: a policy check never
// reaches the network. A path that cannot be read or built, and an error
// from fn, do not end the walk: the other inputs are still handed on, and
// Walk returns every problem joined. Only an error from fn that wraps a
// context's cancellation ends it.
func Walk(paths []string, stdin io.Reader, fn func(name string, r io.Reader) error) error {
	var errs []error
	for _, path := range paths {
		err := walk(path, stdin, fn, func(err error) { errs = append(errs, err) })
		if err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

// stops reports whether err ends the walk.
func stops(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// walk hands on the inputs under path, telling problem about those it
// cannot; its error ends the walk.
func walk(path string, stdin io.Reader, fn func(name string, r io.Reader) error, problem func(error)) error {
	call := func(name string, r io.Reader) error {
		if err := fn(name, r); err != nil {
			if stops(err) {
				return err
			}
			problem(err)
		}
		return nil
	}
	if path == Stdin {
		return call(StdinName, stdin)
	}
	fi, err := os.Stat(path)
	if err != nil {
		problem(readErr(err))
		return nil
	}
	if !fi.IsDir() {
		return file(path, fi, call, problem)
	}
	return filepath.WalkDir(path, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			problem(readErr(err))
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if name != path && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !isKustomization(name) {
				return nil
			}
			if err := CheckLocal(name); err != nil {
				problem(err)
				return filepath.SkipDir
			}
			out, err := kustree.BuildDir(name)
			if err != nil {
				problem(err)
				return filepath.SkipDir
			}
			if err := call(name+BuiltSuffix, bytes.NewReader(out)); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		if !slices.Contains(manifestExts, strings.ToLower(filepath.Ext(name))) {
			return nil
		}
		fi, err := os.Stat(name) // follows a symlink, as reading would
		if err != nil {
			problem(readErr(err))
			return nil
		}
		if fi.IsDir() {
			return nil // a symlink to a directory; WalkDir does not follow them
		}
		return file(name, fi, call, problem)
	})
}

// file hands on the regular file name, whose Stat (through symlinks) is fi.
func file(name string, fi fs.FileInfo, call func(string, io.Reader) error, problem func(error)) error {
	if !fi.Mode().IsRegular() {
		problem(fmt.Errorf("read %s: not a regular file (%s); pipe it to jobwq policy - if you mean it", name, kindOf(fi.Mode())))
		return nil
	}
	f, err := os.Open(name)
	if err != nil {
		problem(readErr(err))
		return nil
	}
	defer f.Close()
	return call(name, f)
}

// kindOf names a file mode's type for messages.
func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
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
	return kustomizationFile(dir) != ""
}

// kustomizationFile is the kustomization file of dir, "" if none.
func kustomizationFile(dir string) string {
	for _, n := range kustomizationFiles {
		p := filepath.Join(dir, n)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
