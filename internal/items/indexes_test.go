package items

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseIndexes(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    []IndexRange
		wantErr string
	}{
		{in: "", want: nil},
		{in: "3", want: []IndexRange{{3, 3}}},
		{in: "1,3-5,7", want: []IndexRange{{1, 1}, {3, 5}, {7, 7}}},
		{in: " 0 , 2 - 4 ", want: []IndexRange{{0, 0}, {2, 4}}},
		{in: "5-3", wantErr: "runs backwards"},
		{in: "1,,2", wantErr: `"": want an index`},
		{in: "-1", wantErr: "want an index"},
		{in: "a", wantErr: "want an index"},
		{in: "1-2-3", wantErr: "want an index"},
		{in: "99999999999999999999", wantErr: "out of range"},
	} {
		got, err := ParseIndexes(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseIndexes(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseIndexes(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestOfIndexes(t *testing.T) {
	for _, tt := range []struct {
		in     []IndexRange
		perPod int
		want   []IndexRange
	}{
		{in: []IndexRange{{0, 0}}, perPod: 1, want: []IndexRange{{0, 0}}},
		{in: []IndexRange{{3, 3}}, perPod: 10, want: []IndexRange{{30, 39}}},
		{in: []IndexRange{{1, 2}, {0, 0}}, perPod: 2, want: []IndexRange{{0, 5}}},
		{in: []IndexRange{{4, 4}, {1, 2}, {2, 3}}, perPod: 3, want: []IndexRange{{3, 14}}},
		{in: []IndexRange{{5, 5}, {1, 1}}, perPod: 2, want: []IndexRange{{2, 3}, {10, 11}}},
	} {
		got := OfIndexes(tt.in, tt.perPod)
		if !slices.Equal(got, tt.want) {
			t.Errorf("OfIndexes(%v, %d) = %v, want %v", tt.in, tt.perPod, got, tt.want)
		}
		for i := 0; i <= 40; i++ {
			in := slices.ContainsFunc(tt.want, func(r IndexRange) bool { return r.First <= i && i <= r.Last })
			if InRanges(got, i) != in {
				t.Errorf("InRanges(%v, %d) = %v, want %v", got, i, !in, in)
			}
		}
	}
	if got := OfIndex(7, 4); got != (IndexRange{28, 31}) {
		t.Errorf("OfIndex(7, 4) = %v, want {28 31}", got)
	}
}

// FuzzParseIndexes: no panic; what parses is ordered within each range,
// and printing it back in Kubernetes' form parses to the same.
func FuzzParseIndexes(f *testing.F) {
	for _, s := range []string{"", "1,3-5,7", "0", " 2 - 9 ", "5-3", "x", "1,,2", "007"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseIndexes(s)
		if err != nil {
			return
		}
		var parts []string
		for _, r := range rs {
			if r.First < 0 || r.Last < r.First {
				t.Fatalf("ParseIndexes(%q) gave %v", s, r)
			}
			parts = append(parts, fmt.Sprintf("%d-%d", r.First, r.Last))
		}
		again, err := ParseIndexes(strings.Join(parts, ","))
		if err != nil || !slices.Equal(again, rs) {
			t.Fatalf("%q parsed to %v, printed back to %v, %v", s, rs, again, err)
		}
	})
}
