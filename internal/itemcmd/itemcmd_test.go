package itemcmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "worker.py")
	if err := os.WriteFile(notExec, []byte("print(1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		argv []string
		want string // "" for no error
	}{
		{[]string{"sh", "-c", "true"}, ""},
		{[]string{"/bin/sh"}, ""},
		{nil, "no command to run"},
		{[]string{"pyhton3", "/w.py"}, `command "pyhton3" is not on PATH`},
		{[]string{"/no/such/worker"}, `command "/no/such/worker" cannot be run`},
		{[]string{notExec}, "cannot be run: permission denied"},
	} {
		err := Check(tt.argv)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Check(%q) = %v", tt.argv, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Check(%q) = %v, want %q", tt.argv, err, tt.want)
		}
	}
}

func TestEnv(t *testing.T) {
	home := t.TempDir()
	for _, tt := range []struct {
		name string
		in   []string
		want []string
	}{
		{"secrets removed, writable HOME kept",
			[]string{"PATH=/bin", "BROKER_PASSWORD=p", "BROKER_URL=amqp://u:p@h/", "JOBWQ_X=1", "HOME=" + home, "QUEUE=q"},
			[]string{"HOME=" + home, "PATH=/bin", "QUEUE=q"}},
		{"no HOME", []string{"PATH=/bin"}, []string{"HOME=" + os.TempDir(), "PATH=/bin"}},
		{"HOME that cannot be written", []string{"HOME=/nonexistent/home"}, []string{"HOME=" + os.TempDir()}},
	} {
		got := Env(tt.in)
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: Env = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), []byte("apple"), Options{Argv: []string{"sh", "-c", "read item; echo got $item"}, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "got apple\n" {
		t.Errorf("output %q", out.String())
	}
	err := Run(context.Background(), nil, Options{Argv: []string{"sh", "-c", "exit 7"}})
	if err == nil || !strings.Contains(err.Error(), `command "sh" failed: exit status 7`) {
		t.Errorf("failing command: %v", err)
	}
	err = Run(context.Background(), nil, Options{Argv: []string{"sleep", "60"}, Timeout: 200 * time.Millisecond, Grace: time.Second})
	if err == nil || !strings.Contains(err.Error(), "ran past its timeout of 200ms") {
		t.Errorf("timeout: %v", err)
	}

	// A stop reaches the whole process group with SIGTERM, and the cause
	// comes back; a command that ignores it is killed after the grace.
	dir := t.TempDir()
	ctx, cancel := context.WithCancelCause(context.Background())
	stopped := errors.New("stopped by the test")
	go func() {
		for {
			if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
				cancel(stopped)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	t0 := time.Now()
	script := `trap '' TERM; (trap 'touch ` + dir + `/child-term; exit 0' TERM; sleep 60 & wait) & touch ` + dir + `/started; sleep 60`
	err = Run(ctx, nil, Options{Argv: []string{"sh", "-c", script}, Grace: 500 * time.Millisecond})
	if !errors.Is(err, stopped) {
		t.Errorf("stopped command: %v, want the cause", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("a command ignoring SIGTERM ran %v past its stop", d)
	}
	if _, err := os.Stat(filepath.Join(dir, "child-term")); err != nil {
		t.Errorf("the command's child did not get SIGTERM")
	}
}
