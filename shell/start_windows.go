//go:build windows

package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// A session's terminal on Windows is a pseudo console (ConPTY): the
// console writes what its programs show as VT sequences to a pipe and
// reads keystrokes from another, as a terminal emulator would.
//
// Between the agent and the session's program stands a go-between: the
// agent's own executable, started attached to the pseudo console with
// consoleChildEnv set (ServeConsoleChild). It opens the console's input
// and output (CONIN$, CONOUT$) and runs the program with them as its
// standard handles. Windows gives a console program started with a pseudo
// console those handles by itself, but only when the creator has none to
// pass on; Wine, which the tests run under, never does. With the
// go-between both get the same thing, and the agent keeps no console
// handle of its own.

// consoleChildEnv marks the go-between's environment; it is removed
// before the program starts.
const consoleChildEnv = "POSTERN_SHELL_CONSOLE_CHILD"

// ServeConsoleChild must be called first thing in main by programs that
// call Start on Windows (the agent, and tests of packages that start
// sessions): in the go-between Start runs, it runs the session's program
// and exits with its exit code. Anywhere else it returns at once.
func ServeConsoleChild() {
	if os.Getenv(consoleChildEnv) != "1" {
		return
	}
	os.Unsetenv(consoleChildEnv)
	code, err := runConsoleChild(os.Args[1:])
	if err != nil {
		if out, oerr := os.OpenFile("CONOUT$", os.O_WRONLY, 0); oerr == nil {
			fmt.Fprintf(out, "postern: %v\r\n", err)
			out.Close()
		}
		os.Exit(127)
	}
	os.Exit(code)
}

func runConsoleChild(argv []string) (int, error) {
	if len(argv) == 0 {
		return 0, errors.New("no program to run")
	}
	// Ctrl-C typed reaches every process on the console: the program
	// decides what it means; the go-between waits for it.
	signal.Notify(make(chan os.Signal, 1), os.Interrupt)
	in, err := openConsole("CONIN$")
	if err != nil {
		return 0, err
	}
	out, err := openConsole("CONOUT$")
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, out
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, err
	}
	return cmd.ProcessState.ExitCode(), nil
}

func openConsole(name string) (*os.File, error) {
	p, _ := windows.UTF16PtrFromString(name)
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("open the console's %s: %w", name, err)
	}
	return os.NewFile(uintptr(h), name), nil
}

// Process is a program running in a pseudo console. Read, Write, Resize
// may be called concurrently with each other and with Wait and Close.
// Callers must call Close.
type Process struct {
	proc    *started
	console windows.Handle
	input   *os.File // what is typed, to the console
	output  *os.File // what the console shows

	exited   chan struct{} // closed once the process has exited
	exitCode int           // set before exited is closed
	waitErr  error         // set before exited is closed

	consoleMu     sync.Mutex // guards consoleClosed, and the console's use against its close
	consoleClosed bool
	consoleDone   chan struct{} // closed once the pseudo console is closed
	released      chan struct{} // closed once wait has released the process's handles

	closing   chan struct{} // closed when Close starts
	closeOnce sync.Once
}

// Start starts s in a new pseudo console. s.User must be empty or the
// agent's own user; s.Term and s.Integration have no meaning here. ctx
// bounds the process's life as on Linux: when it ends first, the
// session's processes are ended and the output read to its end.
func Start(ctx context.Context, s Spec) (*Process, error) {
	argv, env, dir, logon, err := prepareWindows(s)
	if err != nil {
		return nil, err
	}
	defer func() { logon.close() }() // nil once createProcess has it
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("shell: the go-between: %w", err)
	}
	cols, rows := s.Cols, s.Rows
	if cols == 0 {
		cols = DefaultCols
	}
	if rows == 0 {
		rows = DefaultRows
	}
	var inR, inW, outR, outW windows.Handle
	if err := windows.CreatePipe(&inR, &inW, nil, 0); err != nil {
		return nil, fmt.Errorf("shell: pipe: %w", err)
	}
	if err := windows.CreatePipe(&outR, &outW, nil, 0); err != nil {
		windows.CloseHandle(inR)
		windows.CloseHandle(inW)
		return nil, fmt.Errorf("shell: pipe: %w", err)
	}
	var console windows.Handle
	err = windows.CreatePseudoConsole(windows.Coord{X: int16(cols), Y: int16(rows)}, inR, outW, 0, &console)
	// The console holds its own copies.
	windows.CloseHandle(inR)
	windows.CloseHandle(outW)
	if err != nil {
		windows.CloseHandle(inW)
		windows.CloseHandle(outR)
		return nil, fmt.Errorf("shell: pseudo console: %w", err)
	}
	p := &Process{
		console: console, input: os.NewFile(uintptr(inW), "console input"), output: os.NewFile(uintptr(outR), "console output"),
		exited: make(chan struct{}), consoleDone: make(chan struct{}), released: make(chan struct{}), closing: make(chan struct{}),
	}
	p.proc, err = createProcess(procOptions{
		argv: append([]string{self}, argv...), env: append(env, consoleChildEnv+"=1"), dir: dir, console: console, logon: logon,
	})
	logon = nil
	if err != nil {
		p.closeConsole()
		<-p.consoleDone
		p.input.Close()
		p.output.Close()
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { p.proc.kill() })
	go p.wait(stop)
	return p, nil
}

// wait waits for the process, then lets readers drain its output: the
// console is closed after drainWindow (or at Close), which ends the
// output pipe once the console has written what it had. It alone
// releases the process's handles, after its last use of them, so that
// no handle is used once closed (Windows reuses handle values at once).
func (p *Process) wait(stopCtx func() bool) {
	p.exitCode, p.waitErr = p.proc.wait()
	stopCtx()
	close(p.exited)
	t := time.NewTimer(drainWindow)
	select {
	case <-t.C:
	case <-p.closing:
		t.Stop()
	}
	p.proc.kill() // what the program left running
	p.proc.release()
	close(p.released)
	p.closeConsole()
}

// closeConsole closes the pseudo console once, in its own goroutine: it
// waits for the console host, which may wait for its output to be read.
// Once it has begun, Resize does not touch the console.
func (p *Process) closeConsole() {
	p.consoleMu.Lock()
	defer p.consoleMu.Unlock()
	if p.consoleClosed {
		return
	}
	p.consoleClosed = true
	go func() {
		windows.ClosePseudoConsole(p.console)
		close(p.consoleDone)
	}()
}

// Read reads what the console shows. Once the process has exited and the
// console has written everything, Read returns io.EOF; also after Close.
func (p *Process) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, err := p.output.Read(b)
	return n, pipeError(n, err) // the pipe ends when the console closes
}

// ReadBuffered reads what the console has already written, without
// waiting: 0 and no error when there is nothing.
func (p *Process) ReadBuffered(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var avail uint32
	r, _, _ := procPeekNamedPipe.Call(p.output.Fd(), 0, 0, 0, uintptr(unsafe.Pointer(&avail)), 0)
	if r == 0 || avail == 0 {
		return 0, nil
	}
	return p.Read(b[:min(len(b), int(avail))])
}

var procPeekNamedPipe = windows.NewLazySystemDLL("kernel32.dll").NewProc("PeekNamedPipe")

// Write writes b to the console, as if typed (Ctrl-C as 0x03).
func (p *Process) Write(b []byte) (int, error) {
	n, err := p.input.Write(b)
	if err != nil {
		return n, fmt.Errorf("shell: write terminal: %w", err)
	}
	return n, nil
}

// Resize sets the console's size. Wine does not implement it: the error
// says so.
func (p *Process) Resize(cols, rows uint16) error {
	p.consoleMu.Lock()
	defer p.consoleMu.Unlock()
	if p.consoleClosed {
		return fmt.Errorf("shell: resize: the session's console is closed: %w", os.ErrClosed)
	}
	if err := windows.ResizePseudoConsole(p.console, windows.Coord{X: int16(cols), Y: int16(rows)}); err != nil {
		return fmt.Errorf("shell: resize the pseudo console: %w", err)
	}
	return nil
}

// Echo reports false: a pseudo console does not say whether it echoes.
// Callers that record input record none on Windows (Modes fails).
func (p *Process) Echo() bool { return false }

// Modes fails: a pseudo console does not tell its modes to its host, so
// nothing typed is known not to be a secret.
func (p *Process) Modes() (echo, canonical bool, err error) {
	return false, false, fmt.Errorf("shell: a pseudo console's modes are not known: %w", ErrUnsupported)
}

// Wait waits for the process to exit and returns its exit code. Wait may
// be called more than once.
func (p *Process) Wait() (exitCode int, err error) {
	<-p.exited
	return p.exitCode, p.waitErr
}

// Signal ends the session's processes for os.Kill, and types Ctrl-C for
// os.Interrupt; Windows has no other signals. After the process has
// exited it returns an error matching os.ErrProcessDone.
func (p *Process) Signal(sig os.Signal) error {
	select {
	case <-p.exited:
		return fmt.Errorf("shell: signal %v: %w", sig, os.ErrProcessDone)
	default:
	}
	switch sig {
	case os.Kill:
		return p.proc.kill()
	case os.Interrupt:
		_, err := p.Write([]byte{3})
		return err
	}
	return fmt.Errorf("shell: signal %v: %w", sig, ErrUnsupported)
}

// Pid returns the process id (the go-between's, whose exit code is the
// program's).
func (p *Process) Pid() int { return p.proc.pid }

// Close ends the session's processes, closes the console (unread output
// is discarded) and releases everything. Close is idempotent.
func (p *Process) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.proc.kill()
		p.closeConsole()
		select {
		case <-p.released:
		case <-time.After(hangupGrace):
		}
		// The console host may wait for its last output to be read.
		go io.Copy(io.Discard, p.output)
		select {
		case <-p.consoleDone:
		case <-time.After(hangupGrace):
		}
		p.input.Close()
		p.output.Close()
	})
	return nil
}
