package items

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRange(t *testing.T) {
	dir := t.TempDir()
	// Chunks of 3, 2 and 4 items: 0-2, 3-4, 5-8.
	for start, content := range map[string]string{"0000000000": "a\nb\nc\n", "0000000003": "d\ne\n", "0000000005.txt": "f\r\ng\nh\ni"} {
		if err := os.WriteFile(filepath.Join(dir, start), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "..data"), 0o755)
	for _, tt := range []struct {
		from, to int
		want     string
	}{
		{0, 1, "a"}, {2, 4, "c d"}, {3, 5, "d e"}, {4, 7, "e f g"}, {0, 9, "a b c d e f g h i"},
		{8, 12, "i"}, {9, 10, ""}, {20, 30, ""}, {5, 5, ""},
	} {
		got, err := Range(dir, tt.from, tt.to)
		if err != nil {
			t.Fatalf("Range(%d, %d): %v", tt.from, tt.to, err)
		}
		if want := strings.Fields(tt.want); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("Range(%d, %d) = %q, want %q", tt.from, tt.to, got, want)
		}
	}
	if _, err := Range(dir, 3, 2); err == nil {
		t.Error("a backwards range was accepted")
	}
	os.WriteFile(filepath.Join(dir, "0000000004"), []byte("x\n"), 0o644)
	if _, err := Range(dir, 0, 9); err == nil || !strings.Contains(err.Error(), "named for item") {
		t.Errorf("overlapping chunks: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "notes"), []byte("x\n"), 0o644)
	if _, err := Range(dir, 0, 1); err == nil {
		t.Error("a file not named by an index was accepted")
	}
}
