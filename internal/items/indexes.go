package items

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// An IndexRange is the completion indexes First to Last, inclusive.
type IndexRange struct{ First, Last int }

// maxIndex bounds what ParseIndexes accepts: an Indexed Job has at most
// 100,000 completions with backoffLimitPerIndex, and never more than int32.
const maxIndex = 1<<31 - 1

// ParseIndexes reads a list of completion indexes as Kubernetes writes it
// in a Job's status.failedIndexes and status.completedIndexes: numbers
// and ranges separated by commas, "1,3-5,7". Blanks around the parts are
// allowed; an empty list is none.
func ParseIndexes(s string) ([]IndexRange, error) {
	var out []IndexRange
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		first, last, isRange := strings.Cut(part, "-")
		a, err := parseIndex(first)
		if err != nil {
			return nil, fmt.Errorf("index list %q: %q: %w", s, part, err)
		}
		b := a
		if isRange {
			if b, err = parseIndex(last); err != nil {
				return nil, fmt.Errorf("index list %q: %q: %w", s, part, err)
			}
			if b < a {
				return nil, fmt.Errorf("index list %q: %q: the range runs backwards", s, part)
			}
		}
		out = append(out, IndexRange{a, b})
	}
	return out, nil
}

func parseIndex(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("want an index (0, 1, 2, ...) or a range of them (3-5)")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > maxIndex {
		return 0, fmt.Errorf("index %s is out of range", s)
	}
	return n, nil
}

// OfIndex is the items of one completion index: a pod of an Indexed Job
// (or of a queue run) holds perPod items, the last one maybe fewer.
func OfIndex(index, perPod int) IndexRange {
	return IndexRange{First: index * perPod, Last: (index+1)*perPod - 1}
}

// OfIndexes is OfIndex for lists of completion indexes, as ParseIndexes
// reads them: the item ranges, sorted and merged where they overlap or
// touch.
func OfIndexes(rs []IndexRange, perPod int) []IndexRange {
	out := make([]IndexRange, 0, len(rs))
	for _, r := range rs {
		out = append(out, IndexRange{First: OfIndex(r.First, perPod).First, Last: OfIndex(r.Last, perPod).Last})
	}
	slices.SortFunc(out, func(a, b IndexRange) int { return a.First - b.First })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.First <= merged[n-1].Last+1 {
			merged[n-1].Last = max(merged[n-1].Last, r.Last)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// InRanges reports whether i is in one of rs, which are sorted and apart
// (as OfIndexes returns them).
func InRanges(rs []IndexRange, i int) bool {
	j, _ := slices.BinarySearchFunc(rs, i+1, func(r IndexRange, target int) int { return r.First - target })
	return j > 0 && rs[j-1].Last >= i
}
