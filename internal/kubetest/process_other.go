//go:build !linux

package kubetest

import (
	"os"
	"os/exec"
	"syscall"
)

// Elsewhere than Linux there is no parent-death signal; a test binary
// that dies before Stop can leave servers running.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func terminate(cmd *exec.Cmd, kill bool) error {
	if kill {
		return cmd.Process.Kill()
	}
	return cmd.Process.Signal(os.Interrupt)
}
