package jobwq_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jobwq/jobwq/internal/cli"
)

// jobwq runs the CLI in-process with args and returns what it printed on
// stdout and its exit status.
func jobwq(t *testing.T, args ...string) (string, int) {
	t.Helper()
	// cli.Main prints to os.Stdout; catch it in a file.
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	stdout, osArgs := os.Stdout, os.Args
	os.Stdout, os.Args = f, append([]string{"jobwq"}, args...)
	code := cli.Main()
	os.Stdout, os.Args = stdout, osArgs
	f.Close()
	out, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestReadmeCommandTable: every command jobwq --help lists has a row in
// the README's command table.
func TestReadmeCommandTable(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	out, code := jobwq(t, "--help")
	if code != 0 {
		t.Fatalf("jobwq --help: exit %d", code)
	}
	_, list, ok := strings.Cut(out, "Available Commands:\n")
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

// TestReadmeExitCodes: the commands the README's exit-code table names for
// 3 and 4 are those whose --help says they exit so.
func TestReadmeExitCodes(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readmeSays := map[string][]string{} // code → commands
	for _, m := range regexp.MustCompile(`(?m)^\| ([34]) \| [^|]+ \| (.+) \|$`).FindAllStringSubmatch(string(readme), -1) {
		for _, c := range regexp.MustCompile("`([a-z]+)`").FindAllStringSubmatch(m[2], -1) {
			readmeSays[m[1]] = append(readmeSays[m[1]], c[1])
		}
	}
	if len(readmeSays["3"]) == 0 || len(readmeSays["4"]) == 0 {
		t.Fatalf("the README's exit-code table has no rows for 3 and 4: %v", readmeSays)
	}
	helpSays := map[string][]string{}
	reCode := regexp.MustCompile(`(?:^|[\s,])([34])\s+[a-z(]`)
	for _, cmd := range []string{"init", "vet", "build", "items", "render", "schema", "policy", "seed", "work", "install", "status", "retry", "run", "image", "version"} {
		help, _ := jobwq(t, cmd, "--help")
		_, exit, ok := strings.Cut(help, "Exit status")
		if !ok {
			continue
		}
		exit, _, _ = strings.Cut(exit, "Examples:")
		for _, m := range reCode.FindAllStringSubmatch(exit, -1) {
			if !slices.Contains(helpSays[m[1]], cmd) {
				helpSays[m[1]] = append(helpSays[m[1]], cmd)
			}
		}
	}
	for _, code := range []string{"3", "4"} {
		slices.Sort(readmeSays[code])
		slices.Sort(helpSays[code])
		if !slices.Equal(readmeSays[code], helpSays[code]) {
			t.Errorf("exit %s: the README names %v, the commands' --help %v", code, readmeSays[code], helpSays[code])
		}
	}
}

// TestReadmePolicyExample: the README's jobwq policy example shows lines
// the command prints, in the order it prints them ("..." for the rest).
func TestReadmePolicyExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "$ jobwq policy testdata/policy/article-job.yaml\n")
	if !ok {
		t.Fatal("the README has no jobwq policy example")
	}
	block, _, _ = strings.Cut(block, "```")
	out, _ := jobwq(t, "policy", "testdata/policy/article-job.yaml")
	lines := strings.Split(out, "\n")
	at, skip := 0, false
	for _, want := range strings.Split(strings.TrimSpace(block), "\n") {
		if want == "..." {
			skip = true
			continue
		}
		i := slices.Index(lines[at:], want)
		switch {
		case i < 0:
			t.Errorf("the README shows %q, which jobwq policy does not print after what came before it", want)
			continue
		case i > 0 && !skip:
			t.Errorf("the README shows %q right after what came before it, but jobwq policy prints %d lines between (write ...)", want, i)
		}
		at, skip = at+i+1, false
	}
}
