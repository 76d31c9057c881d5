// Package itemcmd runs the user's command on one item, the way every
// jobwq worker does: the item on standard input, output streamed through,
// a deadline, SIGTERM passed on to the command's whole process group with
// SIGKILL after a grace period, and an environment without jobwq's
// secrets. The queue worker (package broker) and the Indexed Job worker
// share it, so a command behaves the same under either.
package itemcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Check reports a command that cannot be started, before any item is
// taken: a typo must not cost a healthy item its retries.
func Check(argv []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return errors.New("no command to run")
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) && errors.Is(ee.Err, exec.ErrNotFound) && !strings.Contains(argv[0], "/") {
			return fmt.Errorf("command %q is not on PATH (%s)", argv[0], os.Getenv("PATH"))
		}
		return fmt.Errorf("command %q cannot be run: %v", argv[0], errors.Unwrap(err))
	}
	return nil
}

// Env is the environment a command runs in: environ without the broker's
// settings and credentials and jobwq's own variables, which are none of
// the command's business, and with a HOME it can write to. Images run by a
// numeric non-root user on a read-only root often have none (HOME=/), and
// Python, git or npm then fail writing their caches.
func Env(environ []string) []string {
	env := slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		return strings.HasPrefix(kv, "BROKER_") || strings.HasPrefix(kv, "JOBWQ_")
	})
	home := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "HOME="); ok {
			home = v
		}
	}
	if home == "" || !writable(home) {
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "HOME=") })
		env = append(env, "HOME="+os.TempDir())
	}
	return env
}

func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".jobwq-home-")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// Options say how to run a command.
type Options struct {
	Argv []string
	// Env is the command's environment (see Env).
	Env []string
	// Timeout bounds one run (0: none).
	Timeout time.Duration
	// Grace is how long a stopped command has between SIGTERM and SIGKILL.
	Grace          time.Duration
	Stdout, Stderr io.Writer
}

// Run runs the command with item on its standard input. It stops the
// command early, with SIGTERM to its process group and SIGKILL after the
// grace period, when the item's time is up or when ctx ends; the error is
// then context.Cause(ctx) (or the timeout), so a caller that cancels with
// a cause of its own (a lost broker connection) gets it back.
func Run(ctx context.Context, item []byte, opts Options) error {
	runCtx := ctx
	if opts.Timeout > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(ctx, opts.Timeout, fmt.Errorf("the command ran past its timeout of %v", opts.Timeout))
		defer stop()
	}
	grace := opts.Grace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	cmd := exec.CommandContext(runCtx, opts.Argv[0], opts.Argv[1:]...)
	cmd.Stdin = bytes.NewReader(item)
	cmd.Stdout = opts.Stdout
	cmd.Stderr = opts.Stderr
	cmd.Env = opts.Env
	// The command gets SIGTERM first, like a pod's containers, and its own
	// process group so a shell's children hear it too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = grace
	err := cmd.Run()
	if cause := context.Cause(runCtx); runCtx.Err() != nil && cause != nil {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		return cause
	}
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return fmt.Errorf("command %q failed: %v", filepath.Base(opts.Argv[0]), exitErr.ProcessState)
		}
		return fmt.Errorf("run %q: %w", opts.Argv[0], err)
	}
	return nil
}

// Describe is an item for a log line: quoted, and cut short.
func Describe(b []byte) string {
	const max = 60
	if len(b) <= max {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q… (%d bytes)", b[:max], len(b))
}
