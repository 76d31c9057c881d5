package items

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestChunks(t *testing.T) {
	// Worst case for the annotation: every byte escapes to six in JSON.
	item := strings.Repeat("<", 10000)
	n := 100
	var list []string
	for range n {
		list = append(list, item)
	}
	set, err := Collect(List(list))
	if err != nil {
		t.Fatal(err)
	}
	if set.Count != n {
		t.Fatalf("count = %d, want %d", set.Count, n)
	}
	var all []byte
	for i, c := range set.Chunks {
		if got := escapedSize(string(c)); got > ChunkBudget {
			t.Errorf("chunk %d escapes to %d bytes, budget %d", i, got, ChunkBudget)
		}
		all = append(all, c...)
	}
	if want := strings.Repeat(item+"\n", n); string(all) != want {
		t.Fatal("chunks do not add up to the items")
	}
	sum := sha256.Sum256(all)
	if set.Digest != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("digest %s is not the sha256 of the chunks", set.Digest)
	}
	if len(set.Chunks) < 20 {
		t.Errorf("only %d chunks for %d escaped bytes", len(set.Chunks), 6*10000*n)
	}
}

func TestEscapedSize(t *testing.T) {
	for s, want := range map[string]int{
		"apple":     5,
		`a"b`:       4,
		"<&>":       18,
		"りんご":       9,
		"tab\there": 13,
		"\u2028":    6,
	} {
		if got := escapedSize(s); got != want {
			t.Errorf("escapedSize(%q) = %d, want %d", s, got, want)
		}
	}
}
