package pgtest

import "syscall"

// procAttr runs initdb and the server as cred (nil: as the test). Should
// the test binary die without running Main's stop (a timeout's panic),
// the server shuts down rather than linger: SIGINT is PostgreSQL's fast
// shutdown.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT}
}
