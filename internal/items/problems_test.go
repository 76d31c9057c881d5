package items

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestProblems: every bad line of an items file is told, up to a cap,
// where reading the items (the seeder, build) stops at the first.
func TestProblems(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 70<<10)
	for _, tt := range []struct {
		name, content string
		most          int
		want          []string
	}{
		{name: "good", content: "a\nb\n", most: 5},
		{name: "tabs on lines 2 and 3", content: "a\n\tb\n\tc\nd\n", most: 5, want: []string{
			"tabs:2:1: item starts with a tab, which kustomize cannot carry into a ConfigMap: remove it or put another character first",
			"tabs:3:1: item starts with a tab, which kustomize cannot carry into a ConfigMap: remove it or put another character first",
		}},
		{name: "a long line, then a blank one", content: "a\n" + long + "\n\nb", most: 5, want: []string{
			"long:2:1: item is longer than 16384 bytes",
			"long:3:1: empty item (blank line): every line must hold one item",
		}},
		{name: "past the cap", content: "\n\n\n\na\n", most: 2, want: []string{
			"cap:1:1: empty item (blank line): every line must hold one item",
			"cap:2:1: empty item (blank line): every line must hold one item",
			"cap:3:1: and 2 more bad lines from here (at most 2 are listed)",
		}},
		{name: "empty", content: "", most: 5, want: []string{"empty: no items: the file is empty"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.Fields(tt.name)[0]
			switch {
			case strings.HasPrefix(tt.name, "tabs"):
				name = "tabs"
			case strings.HasPrefix(tt.name, "a long"):
				name = "long"
			case strings.HasPrefix(tt.name, "past"):
				name = "cap"
			}
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			es, err := Problems(p, tt.most)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range es {
				got = append(got, strings.TrimPrefix(e.Error(), dir+"/"))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Problems (-want +got):\n%s", diff)
			}
		})
	}
}
