package kubetest

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts each server in its own process group, so Stop can
// signal everything it spawned, and asks the kernel to kill it if the
// test binary dies first (a test timeout panics past every deferred Stop).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func terminate(cmd *exec.Cmd, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(-cmd.Process.Pid, sig)
}
