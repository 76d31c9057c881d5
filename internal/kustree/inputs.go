package kustree

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jobwq/jobwq/internal/position"
)

// CheckInputs refuses to write files under dir when one of inputs (the
// spec, its items) lies inside what the write replaces: an owned
// directory, or a staging directory. The swap would delete it. Both the
// input as named (a link inside base/ is deleted with base/) and where it
// leads are checked.
func CheckInputs(dir string, files map[string][]byte, inputs []string) error {
	root, err := realPath(dir)
	if err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	owns := owned(files)
	for _, in := range inputs {
		named, err := realPath(filepath.Dir(in))
		if err != nil {
			return fmt.Errorf("read %s: %w", in, err)
		}
		places := []string{filepath.Join(named, filepath.Base(in))}
		if target, err := realPath(in); err == nil {
			places = append(places, target)
		}
		for i, p := range places {
			rel, err := filepath.Rel(root, p)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				continue
			}
			rel = filepath.ToSlash(rel)
			if d := ownedDir(rel); d != "" && slices.Contains(owns, d) {
				where := "is inside"
				if i > 0 {
					where = "leads to a file inside"
				}
				return fmt.Errorf("%s %s %s, which jobwq build replaces as a whole: building would delete it; write the tree elsewhere with -o, or move the file",
					position.Display(in), where, position.Display(filepath.Join(dir, filepath.FromSlash(d))))
			}
			if strings.HasPrefix(rel, stagePrefix) {
				return fmt.Errorf("%s is inside a staging directory of %s, which jobwq build removes: move the file", position.Display(in), position.Display(dir))
			}
		}
	}
	return nil
}

// realPath resolves the symbolic links of p's longest existing prefix, so
// that a directory yet to be created compares with the ones that exist.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for {
		r, err := filepath.EvalSymlinks(abs)
		if err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		if !os.IsNotExist(err) {
			return "", err
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return "", err
		}
		rest = append([]string{filepath.Base(abs)}, rest...)
		abs = parent
	}
}
