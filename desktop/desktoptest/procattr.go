//go:build linux

package desktoptest

import "syscall"

// procAttr puts a program in a process group of its own (so Cleanup stops
// what it starts, too) that the kernel kills if the test process dies
// without cleaning up.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
