//go:build windows

package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// PipeProcess is a program running without a terminal, its standard
// input, output and error connected to pipes, in a job of its own (see
// createProcess). Stdout and Stderr may be read concurrently with each
// other, with writes to Stdin, and with Wait and Close. Callers must call
// Close.
type PipeProcess struct {
	// Stdin is the command's standard input; closing it gives the command
	// end of file.
	Stdin io.WriteCloser
	// Stdout and Stderr return io.EOF once every process of the session
	// has closed them: the command's exit, and drainWindow after it the
	// end of what it left running.
	Stdout, Stderr io.Reader

	proc   *started
	stdin  *os.File
	outs   [2]*os.File
	exited chan struct{} // closed once the process has exited
	// exitCode and waitErr are set before exited is closed.
	exitCode int
	waitErr  error

	released  chan struct{} // closed once wait has released the handles
	closing   chan struct{} // closed when Close starts
	closeOnce sync.Once
}

// StartPipes starts s without a terminal. ctx bounds the process's life as
// for Start; Close must still be called.
func StartPipes(ctx context.Context, s Spec) (*PipeProcess, error) {
	argv, env, dir, logon, err := prepareWindows(s)
	if err != nil {
		return nil, err
	}
	defer func() { logon.close() }() // nil once createProcess has it
	// The child's ends are inheritable (and handed over by the handle
	// list alone); ours are not.
	sa := &windows.SecurityAttributes{InheritHandle: 1}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	var ends [3][2]windows.Handle // read, write
	for i := range ends {
		if err := windows.CreatePipe(&ends[i][0], &ends[i][1], sa, 0); err != nil {
			for _, e := range ends[:i] {
				windows.CloseHandle(e[0])
				windows.CloseHandle(e[1])
			}
			return nil, fmt.Errorf("shell: pipe: %w", err)
		}
	}
	ours := [3]windows.Handle{ends[0][1], ends[1][0], ends[2][0]}
	theirs := [3]windows.Handle{ends[0][0], ends[1][1], ends[2][1]}
	for _, h := range ours {
		windows.SetHandleInformation(h, windows.HANDLE_FLAG_INHERIT, 0)
	}
	proc, err := createProcess(procOptions{argv: argv, env: env, dir: dir, std: &theirs, logon: logon})
	logon = nil
	for _, h := range theirs {
		windows.CloseHandle(h)
	}
	if err != nil {
		for _, h := range ours {
			windows.CloseHandle(h)
		}
		return nil, err
	}
	p := &PipeProcess{
		proc:   proc,
		stdin:  os.NewFile(uintptr(ours[0]), "stdin"),
		outs:   [2]*os.File{os.NewFile(uintptr(ours[1]), "stdout"), os.NewFile(uintptr(ours[2]), "stderr")},
		exited: make(chan struct{}), released: make(chan struct{}), closing: make(chan struct{}),
	}
	p.Stdin = &stdinPipe{f: p.stdin}
	p.Stdout, p.Stderr = &pipeOutput{f: p.outs[0]}, &pipeOutput{f: p.outs[1]}
	stop := context.AfterFunc(ctx, func() { proc.kill() })
	go p.wait(stop)
	return p, nil
}

func (p *PipeProcess) wait(stopCtx func() bool) {
	p.exitCode, p.waitErr = p.proc.wait()
	stopCtx()
	close(p.exited)
	t := time.NewTimer(drainWindow)
	select {
	case <-t.C:
	case <-p.closing:
		t.Stop()
	}
	// What the command left running holds the pipes open: ending it ends
	// them. Then the handles go, here only, after their last use.
	p.proc.kill()
	p.proc.release()
	close(p.released)
}

// Wait waits for the process to exit and returns its exit code. Wait may
// be called more than once.
func (p *PipeProcess) Wait() (exitCode int, err error) {
	<-p.exited
	return p.exitCode, p.waitErr
}

// Signal ends the command's processes for os.Kill (and os.Interrupt: a
// command without a console gets no Ctrl-C).
func (p *PipeProcess) Signal(sig os.Signal) error {
	select {
	case <-p.exited:
		return fmt.Errorf("shell: signal %v: %w", sig, os.ErrProcessDone)
	default:
	}
	if sig == os.Kill || sig == os.Interrupt {
		return p.proc.kill()
	}
	return fmt.Errorf("shell: signal %v: %w", sig, ErrUnsupported)
}

// Pid returns the process id.
func (p *PipeProcess) Pid() int { return p.proc.pid }

// Close ends the command's processes and closes the pipes. Close is
// idempotent.
func (p *PipeProcess) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.proc.kill()
		select {
		case <-p.released:
		case <-time.After(hangupGrace):
		}
		p.stdin.Close()
		for _, f := range p.outs {
			f.Close()
		}
	})
	return nil
}

// pipeOutput reads one of the command's outputs: io.EOF once every
// writer closed it (ERROR_BROKEN_PIPE), or after Close.
type pipeOutput struct{ f *os.File }

func (r *pipeOutput) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	return n, pipeError(n, err)
}

// pipeError is io.EOF for a pipe that ended or was closed, err otherwise.
func pipeError(n int, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) || errors.Is(err, windows.ERROR_BROKEN_PIPE) {
		if n > 0 {
			return nil
		}
		return io.EOF
	}
	return fmt.Errorf("shell: read: %w", err)
}
