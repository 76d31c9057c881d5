package position

import (
	"os"
	"path/filepath"
	"testing"
)

func TestString(t *testing.T) {
	for _, tt := range []struct {
		pos  Position
		want string
	}{
		{Position{}, ""},
		{Position{Line: 3, Column: 4}, ""},
		{Position{File: "a.yaml"}, "a.yaml"},
		{Position{File: "a.yaml", Line: 3}, "a.yaml:3"},
		{Position{File: "a.yaml", Line: 3, Column: 4}, "a.yaml:3:4"},
	} {
		if got := tt.pos.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.pos, got, tt.want)
		}
	}
}

func TestDisplay(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"rel/a.yaml":                       "rel/a.yaml",
		filepath.Join(wd, "sub", "a.yaml"): filepath.Join("sub", "a.yaml"),
		filepath.Dir(wd):                   filepath.Dir(wd),
		"/elsewhere/a.yaml":                "/elsewhere/a.yaml",
	} {
		if got := Display(in); got != want {
			t.Errorf("Display(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrors(t *testing.T) {
	es := Errors{
		Errorf(Position{File: "b.yaml", Line: 1, Column: 1}, "", "third"),
		Errorf(Position{File: "a.yaml", Line: 9, Column: 2}, "spec.items", "second"),
		Errorf(Position{File: "a.yaml", Line: 2, Column: 7}, "metadata.name", "must be %d", 1),
	}
	es.Sort()
	want := "a.yaml:2:7: metadata.name: must be 1\na.yaml:9:2: spec.items: second\nb.yaml:1:1: third"
	if got := es.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
