package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// This file serves internal/e2e, which runs a real node (kubelet,
// containerd, kube-proxy, ...) beside this control plane: the node's
// programs are processes of the Server, so they share its logs, its
// process-group handling and its reverse-order Stop.

// BinDir is the directory holding the pinned Kubernetes binaries:
// $JOBWQ_KUBE_BIN, or the cache tools/kube/install.sh fills for the
// version pinned in tools/kube/go.mod.
func BinDir() (string, error) {
	if dir := os.Getenv("JOBWQ_KUBE_BIN"); dir != "" {
		return dir, nil
	}
	version, err := pinnedVersion()
	if err != nil {
		return "", fmt.Errorf("kubetest: %w", err)
	}
	return filepath.Join(CacheDir(), "kube-"+version), nil
}

// StartProcess runs another program beside the control plane, in its own
// process group, with its output in the server's log directory (see
// LogTail). Stop ends it before the control plane, in reverse start
// order; StopProcess ends it earlier.
func (s *Server) StartProcess(name, bin string, args ...string) error {
	for _, p := range s.procs {
		if p.name == name {
			return fmt.Errorf("kubetest: a process named %s is already running", name)
		}
	}
	p, err := startProcess(s.dir, name, bin, args...)
	if err != nil {
		return err
	}
	s.procs = append(s.procs, p)
	return nil
}

// StopProcess stops the named process (SIGTERM to its group, SIGKILL
// after a grace period) and forgets it, so a caller can order a teardown.
// A process that is not running is no error.
func (s *Server) StopProcess(name string) error {
	for i, p := range s.procs {
		if p.name == name {
			err := p.stop()
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			return err
		}
	}
	return nil
}

// Exited returns an error naming every process that has exited, with the
// end of its log: a server that died explains a test's timeout.
func (s *Server) Exited() error {
	var errs []error
	for _, p := range s.procs {
		if p.exited() {
			errs = append(errs, fmt.Errorf("%s exited: %v\n%s", p.name, p.waitErr(), p.logTail(20)))
		}
	}
	return errors.Join(errs...)
}

// PIDs maps each running process's name to its PID (the leader of its
// process group).
func (s *Server) PIDs() map[string]int {
	m := map[string]int{}
	for _, p := range s.procs {
		m[p.name] = p.cmd.Process.Pid
	}
	return m
}

// LogDir is where the processes' logs are, until Stop removes it.
func (s *Server) LogDir() string { return s.dir }

// KubectlContext is KubectlStdin for code that runs outside a test (a
// harness starting or stopping a node): ctx bounds the run.
func (s *Server) KubectlContext(ctx context.Context, stdin string, args ...string) Result {
	ctx, cancel := context.WithTimeout(ctx, kubectlTimeout)
	defer cancel()
	full := append([]string{"--kubeconfig=" + s.Kubeconfig, "--cache-dir=" + s.cacheDir}, args...)
	cmd := exec.CommandContext(ctx, s.kubectl, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	return Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}
