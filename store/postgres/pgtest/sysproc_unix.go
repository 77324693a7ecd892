//go:build unix && !linux

package pgtest

import "syscall"

// procAttr runs initdb and the server as cred (nil: as the test). There is
// no parent-death signal here: a test binary that dies without running
// Main's stop leaves its server running.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}
