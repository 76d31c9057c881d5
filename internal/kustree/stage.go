package kustree

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// stagePrefix names the staging directories a build writes before it
// swaps the tree into place.
const stagePrefix = ".jobwq-build-"

// A stage is a staging directory held, for as long as its build lives, by
// an exclusive flock on the directory itself. The kernel drops the lock
// when the process dies, however it dies, so a stage nobody holds is one
// a dead build left behind.
type stage struct {
	path string
	lock *os.File
}

// newStage creates and locks a staging directory in dir.
func newStage(dir string) (*stage, error) {
	p, err := os.MkdirTemp(dir, stagePrefix)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err == nil {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(p)
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return &stage{path: p, lock: f}, nil
}

// remove deletes the stage and lets go of it.
func (s *stage) remove() error {
	err := os.RemoveAll(s.path)
	s.unlock()
	return err
}

// unlock lets go of the stage without deleting it (it was renamed into
// place).
func (s *stage) unlock() {
	syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
	s.lock.Close()
}

// lockDir takes an exclusive flock on dir, waiting for other builds that
// hold it: builds whose outputs share dir run one at a time, so two
// builds into one directory never interleave their swaps.
func lockDir(dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// Stages lists the staging directories in dir, held or not.
func Stages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var found []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), stagePrefix) {
			found = append(found, filepath.Join(dir, e.Name()))
		}
	}
	return found, nil
}

// removeDeadStages deletes the stages in dir that no live build holds.
// A build into dir killed in the middle of its swap left some of dir's
// owned directories in its stage's old/ and not yet their replacements:
// those go back first, so that nothing is lost (the build that called
// this rewrites all of them next). A stage for a new directory has no
// old/.
func removeDeadStages(dir string) error {
	stages, err := Stages(dir)
	if err != nil {
		return err
	}
	for _, p := range stages {
		f, err := os.Open(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return fmt.Errorf("remove stale stage %s: %w", p, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				continue // a live build's
			}
			return fmt.Errorf("remove stale stage %s: %w", p, err)
		}
		restoreOld(filepath.Join(p, "old"), dir)
		err = os.RemoveAll(p)
		f.Close()
		if err != nil {
			return fmt.Errorf("remove stale stage %s: %w", p, err)
		}
	}
	return nil
}

// restoreOld moves owned directories from a dead stage's old/ back into
// out where nothing took their place.
func restoreOld(old, out string) {
	var names []string
	if _, err := os.Lstat(filepath.Join(old, "base")); err == nil {
		names = append(names, "base")
	}
	if entries, err := os.ReadDir(filepath.Join(old, "overlays")); err == nil {
		for _, e := range entries {
			names = append(names, "overlays/"+e.Name())
		}
	}
	slices.Sort(names)
	for _, n := range names {
		dst := filepath.Join(out, filepath.FromSlash(n))
		if _, err := os.Lstat(dst); os.IsNotExist(err) {
			os.MkdirAll(filepath.Dir(dst), 0o755)
			os.Rename(filepath.Join(old, filepath.FromSlash(n)), dst)
		}
	}
}
