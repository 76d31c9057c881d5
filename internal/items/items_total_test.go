package items_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/jobwq/jobwq/internal/items"
)

// An item file larger than MaxTotalBytes ends with an error at the line
// that passes the bound, without being held in memory first.
func TestReadTotalBound(t *testing.T) {
	line := strings.Repeat("x", 1023) + "\n"
	r := &repeater{line: []byte(line), left: items.MaxTotalBytes/len(line) + 2}
	n := 0
	for _, err := range items.Read(r, "huge.txt") {
		if err != nil {
			want := "huge.txt:262145:1: the items pass 256 MiB here"
			if !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error = %v, want %q", err, want)
			}
			if n != items.MaxTotalBytes/len(line) {
				t.Fatalf("%d items before the error", n)
			}
			return
		}
		n++
	}
	t.Fatal("no error past MaxTotalBytes")
}

// repeater yields line left times without holding them.
type repeater struct {
	line []byte
	left int
	buf  bytes.Reader
}

func (r *repeater) Read(p []byte) (int, error) {
	if r.buf.Len() == 0 {
		if r.left == 0 {
			return 0, io.EOF
		}
		r.left--
		r.buf.Reset(r.line)
	}
	return r.buf.Read(p)
}
