//go:build linux || darwin

package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// PipeProcess is a program running without a terminal, its standard input,
// output and error connected to pipes: what a NonInteractiveCommands
// session runs. It runs as the same user, in the same clean environment
// (without TERM) and in a session and process group of its own, as a
// Process does.
//
// Stdout and Stderr may be read concurrently with each other, with writes
// to Stdin, and with Wait and Close. Callers must call Close.
type PipeProcess struct {
	// Stdin is the command's standard input; closing it gives the command
	// end of file. Close may be called more than once.
	Stdin io.WriteCloser
	// Stdout and Stderr are the command's outputs. Each returns io.EOF
	// once the command has exited and what it wrote has been read, or
	// after Close. Output of background processes that outlive the command
	// and keep the pipe open is read for a short while after the exit,
	// then cut off, as for a terminal.
	Stdout, Stderr io.Reader

	cmd    *exec.Cmd
	stdin  *stdinPipe
	outs   [2]*pipeReader
	exited chan struct{} // closed once the process has been reaped
	// exitCode and waitErr are set before exited is closed.
	exitCode int
	waitErr  error

	closing   chan struct{} // closed when Close starts
	closeOnce sync.Once
	closeErr  error
}

// StartPipes starts s without a terminal; s.Cols, s.Rows are ignored, and
// TERM is set only when s.Term or s.Env give one. ctx bounds the process's
// life as for Start (SIGTERM to its process group, SIGKILL if it lingers);
// Close must still be called.
func StartPipes(ctx context.Context, s Spec) (*PipeProcess, error) {
	pr, err := prepare(ctx, s, false)
	if err != nil {
		return nil, err
	}
	var files []*os.File // every end, closed on failure
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	var ends [3][2]*os.File // stdin, stdout, stderr: read end, write end
	for i := range ends {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("shell: start %s: %w", pr.argv[0], err)
		}
		ends[i] = [2]*os.File{r, w}
		files = append(files, r, w)
	}
	p := &PipeProcess{
		exited:  make(chan struct{}),
		closing: make(chan struct{}),
		stdin:   &stdinPipe{f: ends[0][1]},
	}
	for i := range p.outs {
		f := ends[i+1][0]
		conn, err := f.SyscallConn()
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("shell: start %s: %w", pr.argv[0], err)
		}
		p.outs[i] = &pipeReader{f: f, conn: conn, closing: p.closing}
	}
	p.Stdin, p.Stdout, p.Stderr = p.stdin, p.outs[0], p.outs[1]
	childrenHearHangup()
	p.cmd = &exec.Cmd{
		Path:   pr.path,
		Args:   pr.argv,
		Env:    pr.env,
		Dir:    pr.dir,
		Stdin:  ends[0][0],
		Stdout: ends[1][1],
		Stderr: ends[2][1],
		SysProcAttr: &syscall.SysProcAttr{
			// A session of its own, without a controlling terminal, so
			// that its process group can be signalled as a whole and
			// nothing it does reaches the agent's terminal, if any.
			Setsid:     true,
			Credential: pr.cred,
		},
	}
	err = p.cmd.Start()
	// The child has its own copies of its ends; ours must go, or the
	// outputs would never see end of file.
	ends[0][0].Close()
	ends[1][1].Close()
	ends[2][1].Close()
	if err != nil {
		ends[0][1].Close()
		ends[1][0].Close()
		ends[2][0].Close()
		return nil, fmt.Errorf("shell: start %s: %w", pr.argv[0], err)
	}
	stop := context.AfterFunc(ctx, p.hangup)
	go p.wait(stop)
	return p, nil
}

// wait reaps the process, then lets readers drain its outputs.
func (p *PipeProcess) wait(stopCtx func() bool) {
	p.exitCode, p.waitErr = exitStatus(p.cmd.Wait())
	stopCtx()
	close(p.exited)
	t := time.NewTimer(drainWindow)
	select {
	case <-t.C:
	case <-p.closing:
		t.Stop()
	}
	for _, r := range p.outs {
		r.drain()
	}
}

// Wait waits for the process to exit and returns its exit code, or 128 plus
// the signal number if a signal killed it. The error is only for failures to
// wait. Wait may be called more than once.
func (p *PipeProcess) Wait() (exitCode int, err error) {
	<-p.exited
	return p.exitCode, p.waitErr
}

// Signal sends sig to the process (not its group). After the process has
// exited it returns an error matching os.ErrProcessDone.
func (p *PipeProcess) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("shell: signal %v to pid %d: %w", sig, p.cmd.Process.Pid, err)
	}
	return nil
}

// Pid returns the process id.
func (p *PipeProcess) Pid() int { return p.cmd.Process.Pid }

// Close ends the command: it sends SIGTERM (and SIGCONT, for stopped jobs)
// to its process group, closes the pipes (unread output is discarded) and,
// if the process is still there after a short grace period, kills the
// group. It returns once the process has exited or the grace after the
// kill has passed too. Close is idempotent.
func (p *PipeProcess) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.signalGroup(unix.SIGTERM)
		p.stdin.Close()
		for _, r := range p.outs {
			if err := r.f.Close(); err != nil && p.closeErr == nil {
				p.closeErr = fmt.Errorf("shell: close pipe: %w", err)
			}
		}
		p.killAfterGrace()
	})
	return p.closeErr
}

// hangup is Close without closing the pipes, for the end of StartPipes's
// context.
func (p *PipeProcess) hangup() {
	p.signalGroup(unix.SIGTERM)
	p.killAfterGrace()
}

func (p *PipeProcess) killAfterGrace()             { killAfterGrace(p.cmd.Process.Pid, p.exited) }
func (p *PipeProcess) signalGroup(sig unix.Signal) { signalGroup(p.cmd.Process.Pid, p.exited, sig) }

// pipeReader reads one of the command's outputs. The pipe's read end is
// non-blocking and known to Go's poller, so Close and deadlines interrupt a
// blocked Read; after the command exited and the drain window passed, it
// reads only what is buffered (see Process.Read).
type pipeReader struct {
	f        *os.File
	conn     syscall.RawConn
	closing  <-chan struct{}
	draining atomic.Bool
}

// drain switches to reading what is buffered only, and wakes a blocked
// Read to do so.
func (r *pipeReader) drain() {
	r.draining.Store(true)
	_ = r.f.SetReadDeadline(time.Now()) // os.ErrClosed after Close
}

func (r *pipeReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		if r.draining.Load() {
			return r.readNonblocking(b)
		}
		n, err := r.f.Read(b)
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && n == 0 && r.draining.Load() {
			continue // woken by drain
		}
		return n, r.readError(err)
	}
}

func (r *pipeReader) readNonblocking(b []byte) (int, error) {
	return readNonblocking(r.conn, b, r.readError)
}

func (r *pipeReader) readError(err error) error {
	if err == nil {
		return nil
	}
	select {
	case <-r.closing:
		return io.EOF
	default:
	}
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
		return io.EOF
	}
	return fmt.Errorf("shell: read: %w", err)
}
