//go:build linux || darwin

package ptytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Initial window size, that of a default terminal emulator.
const (
	cols = 80
	rows = 24
)

// tailLen is how much of the unmatched output a failure message shows.
const tailLen = 1024

// PTY is a command running in a pseudo-terminal. Its methods report
// failures through the test that started it, so they must be called from
// the test's goroutine.
type PTY struct {
	t      testing.TB
	cmd    *exec.Cmd
	master *os.File
	conn   syscall.RawConn // for ioctls; (*os.File).Fd would make master blocking

	mu      sync.Mutex    // guards buf, mark, readErr and notify
	buf     []byte        // everything read from the terminal so far
	mark    int           // offset in buf where the next Expect starts looking
	readErr error         // why the reader stopped; nil while it runs
	notify  chan struct{} // closed and replaced when buf grows or the reader stops

	readDone chan struct{} // closed when the reader goroutine has returned
	exited   chan struct{} // closed when cmd has been waited for
	waitErr  error         // cmd.Wait's result, set before exited is closed
}

// Start starts cmd with a new 80x24 pseudo-terminal as its controlling
// terminal and standard input, and as its standard output and error unless
// cmd sets them. cmd.Stdin must be nil. When the test ends, the command's
// process group is killed and the terminal closed.
func Start(t testing.TB, cmd *exec.Cmd) *PTY {
	t.Helper()
	if cmd.Stdin != nil {
		t.Fatalf("ptytest: start %s: cmd.Stdin must be nil; the terminal is the input", cmd.Path)
	}
	master, slave, err := openPTY()
	if err != nil {
		t.Fatalf("ptytest: start %s: %v", cmd.Path, err)
	}
	p := &PTY{
		t:        t,
		cmd:      cmd,
		master:   master,
		notify:   make(chan struct{}),
		readDone: make(chan struct{}),
		exited:   make(chan struct{}),
	}
	if p.conn, err = master.SyscallConn(); err == nil {
		err = p.setSize(cols, rows)
	}
	if err != nil {
		master.Close()
		slave.Close()
		t.Fatalf("ptytest: start %s: %v", cmd.Path, err)
	}

	cmd.Stdin = slave
	if cmd.Stdout == nil {
		cmd.Stdout = slave
	}
	if cmd.Stderr == nil {
		cmd.Stderr = slave
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// A session of its own with the terminal (fd 0) as controlling
	// terminal, as a terminal emulator sets up: Ctrl-C, job control and
	// /dev/tty work.
	cmd.SysProcAttr.Setsid = true
	cmd.SysProcAttr.Setctty = true
	cmd.SysProcAttr.Ctty = 0

	err = cmd.Start()
	// The child has its copies. Ours must go, or the reader would never see
	// end of file.
	slave.Close()
	if err != nil {
		master.Close()
		t.Fatalf("ptytest: start %s: %v", cmd.Path, err)
	}
	go p.read()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.close)
	return p
}

// read copies the terminal's output into buf until it ends.
func (p *PTY) read() {
	defer close(p.readDone)
	b := make([]byte, 32*1024)
	for {
		n, err := p.master.Read(b)
		p.mu.Lock()
		p.buf = append(p.buf, b[:n]...)
		if err != nil {
			p.readErr = err
		}
		close(p.notify)
		p.notify = make(chan struct{})
		p.mu.Unlock()
		if err != nil {
			// Linux reports EIO once every holder of the terminal has
			// closed it, the usual end; other errors end reading too.
			return
		}
	}
}

// close ends the command and the reader, at the end of the test.
func (p *PTY) close() {
	select {
	case <-p.exited:
	default:
		// Setsid made the command leader of its own process group, so this
		// also kills whatever it started there. Only while it is unreaped:
		// afterwards its pid, and so -pid, may belong to someone else.
		_ = unix.Kill(-p.cmd.Process.Pid, unix.SIGKILL)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Errorf("ptytest: %s did not exit after SIGKILL", p.cmd.Path)
	}
	// Closing the master also wakes the reader when a process outside the
	// group still holds the terminal open.
	p.master.Close()
	<-p.readDone
}

// Write writes s to the terminal, as if typed.
func (p *PTY) Write(s string) {
	p.t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		p.t.Fatalf("ptytest: write %q: %v", s, err)
	}
}

// WriteLine types s and presses Enter, which sends a carriage return.
func (p *PTY) WriteLine(s string) {
	p.t.Helper()
	p.Write(s + "\r")
}

// Expect waits until the output received since the previous match contains
// s and moves past it. It fails the test when ctx ends or the output ends
// first.
func (p *PTY) Expect(ctx context.Context, s string) {
	p.t.Helper()
	p.expect(ctx, fmt.Sprintf("%q", s), func(b []byte) int {
		if i := bytes.Index(b, []byte(s)); i >= 0 {
			return i + len(s)
		}
		return -1
	})
}

// ExpectRegexp is like Expect for a match of re, and returns the match and
// its submatches (an unmatched group is ""). The output is matched as it
// arrives, so a pattern that can match a prefix of the intended text (like
// `\d+`) may match too early: end it with what follows, such as `\r\n`.
func (p *PTY) ExpectRegexp(ctx context.Context, re *regexp.Regexp) []string {
	p.t.Helper()
	var subs []string
	p.expect(ctx, "a match for /"+re.String()+"/", func(b []byte) int {
		loc := re.FindSubmatchIndex(b)
		if loc == nil {
			return -1
		}
		subs = make([]string, len(loc)/2)
		for i := range subs {
			if loc[2*i] >= 0 {
				subs[i] = string(b[loc[2*i]:loc[2*i+1]])
			}
		}
		return loc[1]
	})
	return subs
}

// expect waits until match finds what in the output after mark, and moves
// mark to the end of the match, which match returns (-1: no match). Each time the reader appends output it
// wakes the waiters through notify, so there is no polling.
func (p *PTY) expect(ctx context.Context, what string, match func([]byte) (end int)) {
	p.t.Helper()
	for {
		p.mu.Lock()
		rest := p.buf[p.mark:]
		if end := match(rest); end >= 0 {
			p.mark += end
			p.mu.Unlock()
			return
		}
		readErr, notify := p.readErr, p.notify
		tail := string(rest[max(0, len(rest)-tailLen):])
		p.mu.Unlock()
		if readErr != nil {
			p.t.Fatalf("ptytest: output ended (%v) before %s; received since the last match (tail): %q", readErr, what, tail)
		}
		select {
		case <-notify:
		case <-ctx.Done():
			p.t.Fatalf("ptytest: %v waiting for %s; received since the last match (tail): %q", context.Cause(ctx), what, tail)
		}
	}
}

// Output returns everything received so far, matched or not.
func (p *PTY) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.buf)
}

// Resize sets the terminal's window size; the command gets SIGWINCH.
func (p *PTY) Resize(cols, rows uint16) {
	p.t.Helper()
	if err := p.setSize(cols, rows); err != nil {
		p.t.Fatalf("ptytest: resize to %dx%d: %v", cols, rows, err)
	}
}

func (p *PTY) setSize(cols, rows uint16) error {
	ws := &unix.Winsize{Col: cols, Row: rows}
	var ierr error
	if err := p.conn.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws)
	}); err != nil {
		return err
	}
	return ierr
}

// Wait waits for the command to exit and for everything it wrote to be
// read, so that Output is complete, and returns its exit code (128 plus the
// signal number if a signal killed it). It fails the test when ctx ends
// first, which also happens if a process that outlived the command keeps the
// terminal open.
func (p *PTY) Wait(ctx context.Context) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-ctx.Done():
		p.t.Fatalf("ptytest: %v waiting for %s to exit; output ends %q", context.Cause(ctx), p.cmd.Path, p.tail())
	}
	select {
	case <-p.readDone:
	case <-ctx.Done():
		p.t.Fatalf("ptytest: %v waiting for the end of output after %s exited (does a background process hold the terminal?); output ends %q", context.Cause(ctx), p.cmd.Path, p.tail())
	}
	if p.waitErr == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(p.waitErr, &ee) {
		p.t.Fatalf("ptytest: wait for %s: %v", p.cmd.Path, p.waitErr)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}

func (p *PTY) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.buf[max(0, len(p.buf)-tailLen):])
}

// openPTY opens a pseudo-terminal pair whose master is non-blocking and
// known to Go's poller, so that closing it wakes a blocked Read. pty.Open
// cannot give us that: its ioctls go through (*os.File).Fd, which puts the
// descriptor into blocking mode for good. So we register a non-blocking
// duplicate instead. (Package shell does the same; the copy keeps this
// test helper free of dependencies on production code.)
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
	if err := master.SetReadDeadline(time.Time{}); err != nil {
		master.Close()
		s.Close()
		return nil, nil, fmt.Errorf("open pty: master not pollable: %w", err)
	}
	return master, s, nil
}
