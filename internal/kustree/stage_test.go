package kustree

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// noStages fails when any staging directory is left in dirs.
func noStages(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		st, err := Stages(d)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) > 0 {
			t.Errorf("staging directories left in %s: %v", d, st)
		}
	}
}

// TestWriteErrorsLeaveNoStage: a write that fails after its stage exists,
// into a new directory and into an existing one, removes the stage. (A
// directory where a file must go makes the write fail part way, as a full
// disk does; build_staging.txtar fills a real 1 MB disk.)
func TestWriteErrorsLeaveNoStage(t *testing.T) {
	conflicting := tree("base/a", "file\n", "base/a/b", "needs a to be a directory\n")
	root := t.TempDir()
	fresh := filepath.Join(root, "fresh")
	if err := Write(fresh, conflicting); err == nil {
		t.Fatal("a conflicting tree was written")
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("a failed write into a new directory created it: %v", err)
	}
	existing := filepath.Join(root, "existing")
	if err := Write(existing, tree("base/kustomization.yaml", "old\n")); err != nil {
		t.Fatal(err)
	}
	if err := Write(existing, conflicting); err == nil {
		t.Fatal("a conflicting tree was written")
	}
	if got := readTree(t, existing); len(got) != 1 || got["base/kustomization.yaml"] != "old\n" {
		t.Errorf("a failed write changed the tree: %v", got)
	}
	if err := Write("", tree("base/kustomization.yaml", "x\n")); err == nil || !strings.Contains(err.Error(), "output directory is empty") {
		t.Errorf("Write(\"\") = %v", err)
	}
	noStages(t, root, existing, ".")
}

// TestConcurrentWritesIntoNewDir: two builds racing to create the same
// directory both succeed, one after the other, and leave no stage.
func TestConcurrentWritesIntoNewDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "out")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			errs[i] = Write(dir, tree("base/kustomization.yaml", "same\n", "overlays/deployment/kustomization.yaml", "dep\n"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("build %d: %v", i, err)
		}
	}
	if got := readTree(t, dir); len(got) != 2 {
		t.Errorf("tree = %v", got)
	}
	noStages(t, root, dir)
}

// TestDeadStagesRemovedLiveKept: a build removes the stages of builds that
// died (nobody holds their lock) and never one a live build holds.
func TestDeadStagesRemovedLiveKept(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "out")
	v1 := tree("base/kustomization.yaml", "v1\n", "overlays/deployment/kustomization.yaml", "v1\n")
	if err := Write(dir, v1); err != nil {
		t.Fatal(err)
	}
	// What a build killed during its swap leaves: base moved to the
	// stage's old/, its replacement not yet in place.
	dead := filepath.Join(dir, stagePrefix+"killed")
	mustWrite(t, filepath.Join(dead, "new", "overlays", "deployment", "kustomization.yaml"), "v2\n")
	if err := os.MkdirAll(filepath.Join(dead, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "base"), filepath.Join(dead, "old", "base")); err != nil {
		t.Fatal(err)
	}
	deadBeside := filepath.Join(root, stagePrefix+"killed-new-dir")
	mustWrite(t, filepath.Join(deadBeside, "base", "kustomization.yaml"), "partial")
	live, err := newStage(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer live.remove()

	// --check sees the stages as drift.
	d, err := Diff(dir, v1)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Only in " + dir + ": " + stagePrefix + "killed (a staging directory", filepath.Base(live.path)} {
		if !strings.Contains(d, want) {
			t.Errorf("Diff lacks %q:\n%s", want, d)
		}
	}

	// Removing the dead stage puts base back first.
	if err := removeDeadStages(dir); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, dir); got["base/kustomization.yaml"] != "v1\n" {
		t.Errorf("base was not restored from the dead stage: %v", got)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead stage is still there: %v", err)
	}

	v2 := tree("base/kustomization.yaml", "v2\n", "overlays/deployment/kustomization.yaml", "v2\n")
	if err := Write(dir, v2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(deadBeside); !os.IsNotExist(err) {
		t.Errorf("the dead stage beside the output is still there: %v", err)
	}
	if _, err := os.Stat(live.path); err != nil {
		t.Errorf("a live build's stage was removed: %v", err)
	}
	if got := readTree(t, dir); got["base/kustomization.yaml"] != "v2\n" {
		t.Errorf("tree after the build: %v", got)
	}
}

// TestDiffNonDirectories: an owned directory that is a symbolic link, and
// a link inside one, are drift with a plain message, not a read error.
func TestDiffNonDirectories(t *testing.T) {
	dir := t.TempDir()
	files := tree("base/kustomization.yaml", "a\n", "overlays/deployment/kustomization.yaml", "d\n")
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	if err := os.Rename(filepath.Join(dir, "base"), filepath.Join(elsewhere, "base")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(elsewhere, "base"), filepath.Join(dir, "base")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(elsewhere, "base"), filepath.Join(dir, "overlays", "deployment", "link")); err != nil {
		t.Fatal(err)
	}
	d, err := Diff(dir, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/base is a symbolic link, not a directory: jobwq build replaces it", "/overlays/deployment/link is a symbolic link, not a regular file"} {
		if !strings.Contains(d, want) {
			t.Errorf("Diff lacks %q:\n%s", want, d)
		}
	}
}
