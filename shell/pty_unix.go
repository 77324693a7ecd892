//go:build linux || darwin

package shell

import (
	"fmt"
	"os"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair. The master is non-blocking and
// registered with Go's poller, so that Close and read deadlines interrupt a
// blocked Read.
//
// pty.Open cannot give us that: it issues its ioctls through
// (*os.File).Fd, which puts the descriptor back into blocking mode for
// good. A blocked Read on such a master ignores Close, and a reader stuck
// on a terminal some background process keeps open would leak forever.
// So we take a duplicate of the descriptor, make it non-blocking and let
// os.NewFile register it.
func openPTY() (master, slave *os.File, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("open pty: %w", err)
	}
	fd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	m.Close()
	if err == nil {
		err = unix.SetNonblock(fd, true)
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("open pty: %w", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	// Only a file known to the poller supports deadlines; check rather than
	// find out when a Read never returns.
	if err := master.SetReadDeadline(time.Time{}); err != nil {
		master.Close()
		s.Close()
		return nil, nil, fmt.Errorf("open pty: master not pollable: %w", err)
	}
	return master, s, nil
}
