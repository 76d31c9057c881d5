// Command pause is the pod sandbox image's only program for internal/e2e,
// which has no registry to pull registry.k8s.io/pause from: as PID 1 of a
// pod it holds the pod's namespaces, reaps orphans, and exits on SIGINT or
// SIGTERM. Built static, it is the whole image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		// PID 1 inherits every orphan in the pod; reap them all.
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
