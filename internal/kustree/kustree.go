// Package kustree writes kustomize trees to disk, compares them with what
// is there, and builds them in-process with sigs.k8s.io/kustomize/api
// exactly as `kubectl kustomize` would. A tree is plain files: paths
// relative to its root, slash-separated, mapped to their contents. It
// knows nothing of WorkQueues.
//
// jobwq owns two parts of an output directory: base/ and
// overlays/<variant>/ for each variant it emits. Anything else there (a
// user's own overlay, a README) is left alone.
package kustree

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aymanbagabas/go-udiff"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/jobwq/jobwq/internal/position"
)

// owned returns the directories of files that jobwq replaces as a whole:
// "base" and "overlays/<variant>".
func owned(files map[string][]byte) []string {
	var dirs []string
	for p := range files {
		d := ownedDir(p)
		if d != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	return dirs
}

// sortedPaths returns the paths of files in a stable order.
func sortedPaths(files map[string][]byte) []string { return slices.Sorted(maps.Keys(files)) }

func ownedDir(p string) string {
	parts := strings.Split(p, "/")
	switch {
	case parts[0] == "base":
		return "base"
	case parts[0] == "overlays" && len(parts) > 2:
		return "overlays/" + parts[1]
	}
	return ""
}

// Write puts files under dir. Nothing is left behind on failure: the tree
// is written to a staging directory first and then swapped into place with
// renames, one owned directory at a time, rolling back on error. Builds
// into directories that share a parent run one at a time, and each removes
// the stages that dead builds (killed, out of power) left in dir and
// beside it.
func Write(dir string, files map[string][]byte) (err error) {
	if dir == "" {
		return errors.New("write: the output directory is empty: name one, such as out or .")
	}
	if fi, statErr := os.Stat(dir); statErr == nil && !fi.IsDir() {
		return fmt.Errorf("write %s: not a directory", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	parent := filepath.Dir(abs)
	if err = os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	unlock, err := lockDir(parent)
	if err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	defer unlock()
	if err = removeDeadStages(parent); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	if _, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
		// A new directory appears in one rename.
		st, err := newStage(parent)
		if err != nil {
			return fmt.Errorf("write %s: %w", dir, err)
		}
		if err := writeFiles(st.path, dir, files); err != nil {
			st.remove()
			return err
		}
		if err := os.Chmod(st.path, 0o755); err != nil {
			st.remove()
			return fmt.Errorf("write %s: %w", dir, err)
		}
		if err := os.Rename(st.path, dir); err != nil {
			st.remove()
			return fmt.Errorf("write %s: %w", dir, err)
		}
		st.unlock()
		return nil
	}
	if err = removeDeadStages(dir); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	st, err := newStage(dir)
	if err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	defer func() {
		if rmErr := st.remove(); rmErr != nil && err == nil {
			err = fmt.Errorf("write %s: remove the staging directory: %w", dir, rmErr)
		}
	}()
	if err = writeFiles(filepath.Join(st.path, "new"), dir, files); err != nil {
		return err
	}
	return swap(dir, st.path, owned(files))
}

// swap moves each owned directory of stage/new into dir, keeping the old
// one in stage/old until all have moved.
func swap(dir, stage string, owned []string) error {
	type moved struct {
		name   string
		hadOld bool
	}
	var done []moved
	rollback := func() {
		for i := len(done) - 1; i >= 0; i-- {
			m := done[i]
			dst := filepath.Join(dir, filepath.FromSlash(m.name))
			os.RemoveAll(dst)
			if m.hadOld {
				os.Rename(filepath.Join(stage, "old", filepath.FromSlash(m.name)), dst)
			}
		}
	}
	for _, name := range owned {
		dst := filepath.Join(dir, filepath.FromSlash(name))
		old := filepath.Join(stage, "old", filepath.FromSlash(name))
		m := moved{name: name}
		if _, err := os.Lstat(dst); err == nil {
			if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
				rollback()
				return fmt.Errorf("write %s: %w", dir, err)
			}
			if err := os.Rename(dst, old); err != nil {
				rollback()
				return fmt.Errorf("write %s: %w", dir, err)
			}
			m.hadOld = true
		} else if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			rollback()
			return fmt.Errorf("write %s: %w", dir, err)
		}
		done = append(done, m)
		if err := os.Rename(filepath.Join(stage, "new", filepath.FromSlash(name)), dst); err != nil {
			rollback()
			return fmt.Errorf("write %s: %w", dir, err)
		}
	}
	return nil
}

// writeFiles writes files under root, a stage of dir; errors name the file
// as it would be in dir, since the stage is gone by the time they are read.
func writeFiles(root, dir string, files map[string][]byte) error {
	for _, p := range sortedPaths(files) {
		dst := filepath.Join(root, filepath.FromSlash(p))
		shown := position.Display(filepath.Join(dir, filepath.FromSlash(p)))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", shown, pathErr(err))
		}
		if err := os.WriteFile(dst, files[p], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", shown, pathErr(err))
		}
	}
	return nil
}

// pathErr drops the staging path from an *fs.PathError.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Diff compares files with the tree under dir and returns a unified diff,
// empty when they match. Files on disk inside an owned directory that
// jobwq would not write count as drift, and so do an owned directory or
// file that is not what build writes (a symbolic link, say) and a staging
// directory a build left behind (which would otherwise get committed).
func Diff(dir string, files map[string][]byte) (string, error) {
	var notes []string
	stages, err := Stages(dir)
	if err != nil {
		return "", fmt.Errorf("check %s: %w", dir, err)
	}
	for _, st := range stages {
		notes = append(notes, fmt.Sprintf("Only in %s: %s (a staging directory left by a build that did not finish; jobwq build removes it)\n", dir, filepath.Base(st)))
	}
	onDisk := map[string][]byte{}
	for _, d := range owned(files) {
		root := filepath.Join(dir, filepath.FromSlash(d))
		if fi, err := os.Lstat(root); err == nil && !fi.IsDir() {
			notes = append(notes, fmt.Sprintf("%s is %s, not a directory: jobwq build replaces it\n", position.Display(root), kindOf(fi.Mode())))
			continue
		}
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return fs.SkipDir
			}
			if err != nil || e.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			if !e.Type().IsRegular() {
				notes = append(notes, fmt.Sprintf("%s is %s, not a regular file: jobwq build replaces it\n", position.Display(p), kindOf(e.Type())))
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			onDisk[filepath.ToSlash(rel)] = b
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("check %s: %w", dir, err)
		}
	}
	var all []string
	for p := range onDisk {
		all = append(all, p)
	}
	for p := range files {
		if _, ok := onDisk[p]; !ok {
			all = append(all, p)
		}
	}
	slices.Sort(all)
	var b strings.Builder
	for _, n := range notes {
		b.WriteString(n)
	}
	for _, p := range all {
		have, inDir := onDisk[p]
		want, inBuild := files[p]
		if inDir && inBuild && string(have) == string(want) {
			continue
		}
		from, to := path.Join("a", p), path.Join("b", p)
		if !inDir {
			from = "/dev/null"
		}
		if !inBuild {
			to = "/dev/null"
		}
		b.WriteString(udiff.Unified(from, to, string(have), string(want)))
	}
	return b.String(), nil
}

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsRegular():
		return "a file"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	}
	return "a special file"
}

// Build runs kustomize over the in-memory tree for one overlay, with the
// options that make its output identical to `kubectl kustomize`.
func Build(files map[string][]byte, overlay string) ([]byte, error) {
	mem := filesys.MakeFsInMemory()
	const root = "/tree"
	for _, p := range sortedPaths(files) {
		if err := mem.WriteFile(path.Join(root, p), files[p]); err != nil {
			return nil, fmt.Errorf("kustomize: %w", err)
		}
	}
	return run(mem, path.Join(root, overlay))
}

// BuildDir runs kustomize over a directory on disk.
func BuildDir(dir string) ([]byte, error) {
	return run(filesys.MakeFsOnDisk(), dir)
}

func run(fsys filesys.FileSystem, dir string) ([]byte, error) {
	opts := krusty.MakeDefaultOptions()
	// The default keeps input order; kubectl kustomize sorts by kind.
	opts.Reorder = krusty.ReorderOptionLegacy
	m, err := krusty.MakeKustomizer(opts).Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	return out, nil
}
