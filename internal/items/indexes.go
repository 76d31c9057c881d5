package items

import (
	"fmt"
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
