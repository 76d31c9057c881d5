package broker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/jobwq/jobwq/internal/brokertest"
	"github.com/jobwq/jobwq/internal/items"
)

// The process-level tests (kill -9, SIGTERM, a worker per item) run the
// runner binary the pods run, built once and built as the image's is:
// static, without cgo (a dynamically linked binary spends a millisecond of
// every start in the dynamic loader, which the per-item benchmark would
// count against the runner).
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jobwq-broker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func jobwqBin(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(binDir, "jobwq")
		build := exec.Command("go", "build", "-trimpath", "-o", binPath, "github.com/jobwq/jobwq/cmd/jobwq-runner")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is a jobwq process run by a test. Its output goes to a file, not a
// pipe, so that a killed worker's orphaned command cannot hold Wait open.
type proc struct {
	cmd    *exec.Cmd
	out    string
	done   chan struct{}
	status int
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.out)
	return string(b)
}

// start runs jobwq with args against the test broker (or brokerURL), in
// its own process group so that kill -9 takes its children too.
func start(t testing.TB, brokerURL string, args ...string) *proc {
	t.Helper()
	return startEnv(t, brokerURL, nil, args...)
}

// startEnv is start with more environment variables.
func startEnv(t testing.TB, brokerURL string, env []string, args ...string) *proc {
	t.Helper()
	if brokerURL == "" {
		brokerURL = brokertest.URL()
	}
	out, err := os.CreateTemp(t.TempDir(), "out-")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p := &proc{cmd: exec.Command(jobwqBin(t), args...), out: out.Name(), done: make(chan struct{})}
	p.cmd.Env = append(append(os.Environ(), EnvURL+"="+brokerURL), env...)
	p.cmd.Stdout = out
	p.cmd.Stderr = out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.status = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(); <-p.done })
	return p
}

func (p *proc) kill() { syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) }

// wait returns the exit status, failing the test after timeout.
func (p *proc) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.status
	case <-time.After(timeout):
		p.kill()
		t.Fatalf("jobwq %s did not finish within %v; output:\n%s", strings.Join(p.cmd.Args[1:], " "), timeout, p.output())
		return -1
	}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// source is an item set held in memory.
func source(list []string) *items.Source {
	s, err := items.NewSource(func() items.Seq { return items.List(list) })
	if err != nil {
		panic(err) // a list in memory cannot fail to read
	}
	return s
}

// seedItems seeds in-process and fails the test on error.
func seedItems(t testing.TB, conn *amqp.Connection, q Queue, list []string) SeedResult {
	t.Helper()
	res, err := Seed(context.Background(), conn, SeedOptions{Queue: q, Items: source(list)})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	return res
}

func numbered(n int) []string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("item-%06d", i)
	}
	return items
}

func quorum(name string) Queue { return Queue{Name: name, Type: "quorum", DeliveryLimit: 3} }
