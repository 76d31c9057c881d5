package jobwq_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jobwq/jobwq/internal/cli"
)

// TestReadmeCommandTable: every command jobwq --help lists has a row in
// the README's command table.
func TestReadmeCommandTable(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	// cli.Main prints to os.Stdout; catch it in a file.
	f, err := os.CreateTemp(t.TempDir(), "help")
	if err != nil {
		t.Fatal(err)
	}
	stdout, args := os.Stdout, os.Args
	os.Stdout, os.Args = f, []string{"jobwq", "--help"}
	code := cli.Main()
	os.Stdout, os.Args = stdout, args
	f.Close()
	if code != 0 {
		t.Fatalf("jobwq --help: exit %d", code)
	}
	out, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(string(out), "Available Commands:\n")
	if !ok {
		t.Fatalf("no command list in:\n%s", out)
	}
	list, _, _ = strings.Cut(list, "\n\n")
	var firstCells string
	for _, row := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(row, "| `jobwq ") {
			cell, _, _ := strings.Cut(row[1:], " | ")
			firstCells += cell + "\n"
		}
	}
	for _, line := range strings.Split(list, "\n") {
		name := strings.Fields(line)[0]
		if name == "help" {
			continue
		}
		if !regexp.MustCompile("`jobwq " + name + "[ `]").MatchString(firstCells) {
			t.Errorf("the README's command table lacks jobwq %s", name)
		}
	}
}
