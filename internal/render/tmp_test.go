package render

import (
	"fmt"
	"testing"
	"time"

	"github.com/jobwq/jobwq/internal/spec"
)

func TestTmpRender(t *testing.T) {
	t0 := time.Now()
	w, err := spec.Load("/tmp/sp/fr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	items, err := CollectItems(w)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Tree(w, items)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("load", t1.Sub(t0), "render", time.Since(t1))
	for _, p := range files.Paths() {
		fmt.Printf("==> %s\n%s", p, files[p])
	}
}
