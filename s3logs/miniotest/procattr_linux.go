package miniotest

import (
	"os/exec"
	"syscall"
)

var sigterm = syscall.SIGTERM

// setProcAttr makes the kernel kill MinIO if the test binary dies
// without running its cleanups (a panic in another goroutine, a timeout
// kill), so no server outlives its test.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
