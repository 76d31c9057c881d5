// The CLI is tested end to end with testscript transcripts under
// testdata/script/<subcommand>_<case>.txtar, run in-process. Run with
// -update to rewrite the expected output in the transcripts.
package jobwq_test

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/jobwq/jobwq/internal/cli"
)

var update = flag.Bool("update", false, "rewrite testscript transcripts with the actual output")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"jobwq": func() { os.Exit(cli.Main()) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
		},
		Setup: func(env *testscript.Env) error {
			// Broker tests reach the real RabbitMQ; let CI point elsewhere.
			if u := os.Getenv("AMQP_URL"); u != "" {
				env.Setenv("AMQP_URL", u)
			}
			return nil
		},
	})
}

// cmdExitCode runs a program and checks its exact exit status, which exec
// cannot: "exitcode 2 jobwq vet bad.yaml". Output is kept for stdout/stderr.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}
