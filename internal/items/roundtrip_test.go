package items_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/jobwq/jobwq/internal/generate"
	"github.com/jobwq/jobwq/internal/items"
	"github.com/jobwq/jobwq/internal/kustree"
)

// itemsKustomization is base/items/kustomization.yaml exactly as jobwq
// build writes it for a set of one chunk: the ConfigMap generator and its
// options come from the real templates.
var itemsKustomization = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "roundtrip")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	spec := filepath.Join(dir, "wq.yaml")
	if err := os.WriteFile(spec, []byte("apiVersion: jobwq.dev/v1alpha1\nkind: WorkQueue\nmetadata: {name: rt}\nspec: {items: [x], worker: {image: \"w:1\", command: [run]}}\n"), 0o644); err != nil {
		return nil, err
	}
	r, err := generate.File(spec)
	if err != nil {
		return nil, err
	}
	k, ok := r.Files["base/items/kustomization.yaml"]
	if !ok || len(r.Items.Chunks) != 1 {
		return nil, fmt.Errorf("the build has no single-chunk base/items/kustomization.yaml")
	}
	return k, nil
})

// seederReads is what the seeder reads of list: the chunk items.Collect
// makes goes through kustomize's ConfigMap generator and YAML emitter,
// kubectl's YAML parser (sigs.k8s.io/yaml), and back out of the
// ConfigMap's data as the file kubelet mounts, read as the seeder reads it.
func seederReads(t testing.TB, list []string) ([]string, error) {
	t.Helper()
	set, err := items.Collect(items.List(list))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Chunks) != 1 {
		t.Fatalf("%d chunks: keep the test's lists to one", len(set.Chunks))
	}
	k, err := itemsKustomization()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"items/kustomization.yaml": k,
		"items/0000000000.txt":     set.Chunks[0],
	}
	out, err := kustree.Build(files, "items")
	if err != nil {
		return nil, err
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(out, &cm); err != nil {
		return nil, fmt.Errorf("kubectl cannot parse the ConfigMap: %w\n%s", err, out)
	}
	var got []string
	for it, err := range items.Read(strings.NewReader(cm.Data["items"]), "chunk") {
		if err != nil {
			return got, err
		}
		got = append(got, it)
	}
	return got, nil
}

func checkRoundTrip(t *testing.T, list []string) bool {
	t.Helper()
	got, err := seederReads(t, list)
	if err != nil {
		t.Errorf("items %q: %v", list, err)
		return false
	}
	if !slices.Equal(got, list) {
		t.Errorf("items %q reach the seeder as %q", list, got)
		return false
	}
	return true
}

// shapes place a rune at every position of an item that YAML emitters
// treat differently: inside, alone, leading, trailing, next to spaces.
var shapes = []string{"a%cb", "%c", "%ca", "a%c", " %c", "%c ", "%c%c"}

// TestRoundTrip is the property behind items.Problem: every item it
// accepts reaches the seeder byte for byte. It tries every rune of the
// Basic Multilingual Plane and a stride through the others (plane ends
// and noncharacters included) in every shape, as the first item of a
// chunk and after another.
func TestRoundTrip(t *testing.T) {
	var runes []rune
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		if r <= 0xFFFF || r%251 == 0 || r&0xFFFE == 0xFFFE || r&0xFFFF <= 1 {
			runes = append(runes, r)
		}
	}
	accepted, refused := 0, 0
	for batch := range slices.Chunk(runes, 1024) {
		var list []string
		for _, r := range batch {
			for _, shape := range shapes {
				it := strings.ReplaceAll(shape, "%c", string(r))
				if items.Check(it) != "" {
					refused++
					continue
				}
				accepted++
				list = append(list, it)
			}
		}
		// First in its chunk and after another item.
		for _, l := range [][]string{list, append([]string{"x"}, list...)} {
			if len(l) > 0 && !checkRoundTrip(t, l) {
				// Find the culprits one by one.
				for _, it := range list {
					checkRoundTrip(t, []string{it})
					checkRoundTrip(t, []string{"x", it})
				}
				return
			}
		}
	}
	if accepted == 0 || refused == 0 {
		t.Fatalf("accepted %d, refused %d: the test no longer tries what it should", accepted, refused)
	}
}

// TestProblem pins what is refused and where: each refused item really
// would not survive (or not build), which TestRoundTrip cannot show.
func TestProblem(t *testing.T) {
	for _, tc := range []struct {
		item string
		at   int
		msg  string
	}{
		{item: "a\u0085b", at: 1, msg: "U+0085 (NEL, next line), which YAML reads as a line break"},
		{item: "ab\u2028", at: 2, msg: "U+2028 (line separator)"},
		{item: "\u2029", at: 0, msg: "U+2029 (paragraph separator)"},
		{item: "\uFEFFapple", at: 0, msg: "starts with a byte order mark"},
		{item: "a\uFEFF", at: 1, msg: "contains a byte order mark"},
		{item: "a\x7f", at: 1, msg: "control character U+007F"},
		{item: "a\u009f", at: 1, msg: "control character U+009F"},
		{item: "\uFFFE", at: 0, msg: "control character U+FFFE"},
		{item: "\tx", at: 0, msg: "starts with a tab"},
		{item: "a\rb", at: 1, msg: "line break"},
		{item: "ab\xff", at: 2, msg: "not valid UTF-8"},
		{item: "", at: 0, msg: "empty item"},
		{item: "a\tb", msg: ""},
		{item: "\x00\x01\x1f", msg: ""},
		{item: "\uFFFD", msg: ""},
	} {
		msg, at := items.Problem(tc.item)
		if tc.msg == "" {
			if msg != "" {
				t.Errorf("Problem(%q) = %q, want none", tc.item, msg)
			}
			continue
		}
		if !strings.Contains(msg, tc.msg) || at != tc.at {
			t.Errorf("Problem(%q) = %q at %d, want %q at %d", tc.item, msg, at, tc.msg, tc.at)
		}
		if tc.item == "" || strings.ContainsAny(tc.item, "\r\n") || !utf8.ValidString(tc.item) {
			continue
		}
		// The refusal is needed: the item does not survive alone.
		if got, err := seederReads(t, []string{tc.item}); err == nil && slices.Equal(got, []string{tc.item}) && tc.item[0] != 0xEF {
			t.Errorf("%q is refused but reaches the seeder unchanged", tc.item)
		}
	}
}

// FuzzRoundTrip: any lines the item rules accept reach the seeder byte
// for byte through kustomize's YAML and kubectl's.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{
		"apple\nbanana", "a\u0085b", "\u2028\n\u2029", "\uFEFFa", "\tx\ny", "x\n\ty", " a \n  b",
		"#c\n- d\n: e", "\x00\x01\x0b\x0c\x1c\x1d\x1e\x1f", "'\"\\", "|\n>\n---\n...", "りんご\t🍎",
		"\U0010FFFF\U000E0001", "\uFDD0\uFFFD", "a: b\n? c", "&x *x !!str",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var list []string
		size := 0
		for _, it := range strings.Split(s, "\n") {
			if items.Check(it) == "" && size+len(it)*6 < items.ChunkBudget/2 {
				list = append(list, it)
				size += len(it) * 6
			}
		}
		if len(list) > 0 {
			checkRoundTrip(t, list)
		}
	})
}
