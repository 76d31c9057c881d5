// The CLI is tested end to end with testscript transcripts under
// testdata/script/<subcommand>_<case>.txtar, run in-process. Run with
// -update to rewrite the expected output in the transcripts.
package jobwq_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/jobwq/jobwq/internal/brokertest"
	"github.com/jobwq/jobwq/internal/cli"
	"github.com/jobwq/jobwq/internal/podcli"
)

var update = flag.Bool("update", false, "rewrite testscript transcripts with the actual output")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"jobwq":        func() { os.Exit(cli.Main()) },
		"jobwq-runner": func() { os.Exit(podcli.Main()) },
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
			// Scripts that talk to the broker use the real RabbitMQ, a
			// queue of their own ($QUEUE), deleted afterwards, and hold
			// the broker lock shared so no test restarts it under them.
			unlock, err := brokertest.Lock(syscall.LOCK_SH)
			if err != nil {
				return err
			}
			env.Defer(unlock)
			b := make([]byte, 4)
			rand.Read(b)
			queue := "jobwq-script-" + filepath.Base(env.WorkDir) + "-" + hex.EncodeToString(b)
			env.Setenv("QUEUE", queue)
			// A second queue, for scripts that need two.
			env.Setenv("QUEUE2", queue+"-2")
			env.Setenv("BROKER_URL", brokertest.URL())
			env.Defer(func() {
				brokertest.Delete(queue)
				brokertest.Delete(queue + "-2")
			})
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
