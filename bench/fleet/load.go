//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
)

// streamScript is the command of each streaming session: bash printing a
// numbered line of lineBytes (newline included) every delay, without
// starting a process per line (read's timeout on a pipe nobody writes is
// the sleep).
func streamScript(lineBytes int, delay time.Duration) string {
	return fmt.Sprintf(`exec 9<> <(:); pad=$(printf '%%*s' %d '' | tr ' ' x); i=0
while :; do i=$((i+1)); printf '%%08d %%s\n' "$i" "$pad"; read -t %.4f -u 9; done`, lineBytes-10, delay.Seconds())
}

// streams is the streaming sessions of the load scenario, each on its own
// simulated agent, each with a client of package client attached (as
// `postern connect` is) that counts and drops the output.
type streams struct {
	c     *client.Client
	ids   []string
	bytes atomic.Int64 // output bytes received by the clients
	first sync.WaitGroup
	wg    sync.WaitGroup // the clients
	errMu sync.Mutex     // guards errs
	errs  []error
}

// startStreams starts one session per agent running script, attaches a
// client to each, and returns once every client has received output.
func startStreams(ctx context.Context, c *client.Client, agents []*simAgent, script string) (*streams, error) {
	s := &streams{c: c}
	for _, a := range agents {
		sess, err := c.StartSession(ctx, api.StartSessionRequest{Target: a.nodeID, Command: []string{"bash", "-c", script}, Cols: 120, Rows: 40, Reason: "fleet load test"})
		if err != nil {
			return s, fmt.Errorf("start a streaming session on %s: %w", a.nodeID, err)
		}
		s.ids = append(s.ids, sess.ID)
		out := &firstWriter{n: &s.bytes, first: &s.first}
		s.first.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_, err := c.RunTerminal(context.WithoutCancel(ctx), sess.ID, client.TerminalIO{Out: out, Notices: io.Discard, Size: client.Size{Cols: 120, Rows: 40}}, client.ResumeOptions{})
			out.once.Do(s.first.Done) // never leave the wait below hanging
			if err != nil && !isExitError(err) {
				s.errMu.Lock()
				s.errs = append(s.errs, fmt.Errorf("session %s: %w", sess.ID, err))
				s.errMu.Unlock()
			}
		}()
	}
	flowing := make(chan struct{})
	go func() { s.first.Wait(); close(flowing) }()
	select {
	case <-flowing:
	case <-time.After(60 * time.Second):
		return s, errors.New("not every streaming session printed within 60s")
	case <-ctx.Done():
		return s, ctx.Err()
	}
	return s, s.err()
}

func isExitError(err error) bool {
	var e *client.ExitError
	return errors.As(err, &e)
}

func (s *streams) err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return errors.Join(s.errs...)
}

// stop terminates the sessions and waits (bounded) for their clients.
func (s *streams) stop(ctx context.Context) error {
	var errs []error
	for _, id := range s.ids {
		if _, err := s.c.Terminate(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("terminate %s: %w", id, err))
		}
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		errs = append(errs, errors.New("streaming clients did not end within 60s of their sessions' termination"))
	}
	return errors.Join(errs...)
}

// firstWriter counts bytes and says when the first arrived.
type firstWriter struct {
	n     *atomic.Int64
	first *sync.WaitGroup
	once  sync.Once
}

func (w *firstWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	w.once.Do(w.first.Done)
	return len(p), nil
}

// ---- the measured interactive session ----

// echoLineLen is how many letters are typed before a CR: a long line would
// make the terminal wrap and redraw.
const echoLineLen = 64

// echoSession is `postern exec NODE --tty -- cat`, the CLI in its own
// process, driven through pipes in blocking mode: a letter is written to
// its stdin and the clock stops when the terminal's echo of it arrives on
// its stdout.
type echoSession struct {
	p       *proc
	in, out *os.File
	buf     []byte
	pending []byte
	typed   int
	col     int
}

func openEcho(reg *registry, cmd *exec.Cmd) (*echoSession, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	// Fd puts the harness's ends in blocking mode, for raw read(2) and
	// write(2): a blocking read wakes the reading thread directly instead
	// of going through Go's poller.
	inW.Fd()
	outR.Fd()
	cmd.Stdin, cmd.Stdout = inR, outW
	p, err := reg.start("echo session (postern exec --tty -- cat)", cmd)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	e := &echoSession{p: p, in: inW, out: outR, buf: make([]byte, 64<<10)}
	// The first echo also waits for the session to start: never counted.
	if _, err := e.roundTrip(); err != nil {
		e.kill()
		return nil, err
	}
	return e, nil
}

// samples takes n round trips after warm uncounted ones, each after a
// pause drawn uniformly from [gap/2, 3*gap/2] (someone typing, not a
// flood; the jitter keeps samples from falling in step with periodic work
// of the server). A stall is bounded by a watchdog that kills the client.
func (e *echoSession) samples(warm, n int, gap time.Duration) ([]time.Duration, error) {
	stop := make(chan struct{})
	var progress atomic.Int64
	go func() {
		last := progress.Load()
		for {
			select {
			case <-stop:
				return
			case <-time.After(30 * time.Second):
			}
			if now := progress.Load(); now == last {
				e.kill() // unblocks the read below
				return
			} else {
				last = now
			}
		}
	}()
	defer close(stop)
	out := make([]time.Duration, 0, n)
	for i := 0; i < warm+n; i++ {
		if gap > 0 {
			time.Sleep(gap/2 + rand.N(gap+1))
		}
		d, err := e.roundTrip()
		if err != nil {
			return nil, err
		}
		progress.Add(1)
		if i >= warm {
			out = append(out, d)
		}
	}
	return out, nil
}

func (e *echoSession) roundTrip() (time.Duration, error) {
	if e.col == echoLineLen {
		// CR: its echo (CR LF) and cat's copy of the line (letters, CR
		// LF) come back, two LFs in all. Never timed.
		if err := e.write('\r'); err != nil {
			return 0, err
		}
		if err := e.readUntil('\n', 2); err != nil {
			return 0, err
		}
		e.col = 0
	}
	// Distinct letters in turn: a stray byte is unlikely to pass for the
	// echo, and every earlier one was waited for.
	c := byte('a' + e.typed%26)
	t0 := time.Now()
	if err := e.write(c); err != nil {
		return 0, err
	}
	if err := e.readUntil(c, 1); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	e.typed++
	e.col++
	return d, nil
}

func (e *echoSession) write(b byte) error {
	for {
		_, err := syscall.Write(int(e.in.Fd()), []byte{b})
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return e.fail(err)
		}
		return nil
	}
}

func (e *echoSession) readUntil(want byte, count int) error {
	for {
		for len(e.pending) > 0 {
			b := e.pending[0]
			e.pending = e.pending[1:]
			if b == want {
				if count--; count == 0 {
					return nil
				}
			}
		}
		n, err := syscall.Read(int(e.out.Fd()), e.buf)
		if err == syscall.EINTR {
			continue
		}
		if n <= 0 {
			if err == nil {
				err = io.EOF
			}
			return e.fail(err)
		}
		e.pending = e.buf[:n]
	}
}

func (e *echoSession) fail(err error) error {
	select {
	case <-e.p.done:
	case <-time.After(2 * time.Second):
	}
	if e.p.exited() {
		return fmt.Errorf("the echo session's client ended: %s", e.p.describe(fmt.Errorf("%v (exit: %v)", err, e.p.err)))
	}
	return fmt.Errorf("echo session: %w", err)
}

func (e *echoSession) kill() {
	if !e.p.exited() {
		_ = syscall.Kill(-e.p.pid(), syscall.SIGKILL)
	}
}

// close ends cat with ^D at the start of a line and waits for the client.
func (e *echoSession) close() error {
	defer e.out.Close()
	if e.col > 0 {
		if err := e.write('\r'); err != nil {
			return err
		}
		if err := e.readUntil('\n', 2); err != nil {
			return err
		}
	}
	err := e.write(4)
	e.in.Close()
	if err != nil {
		return err
	}
	go io.Copy(io.Discard, e.out) // the echo of ^D; never block the client
	select {
	case <-e.p.done:
		if e.p.err != nil {
			return fmt.Errorf("echo session: %s", e.p.describe(e.p.err))
		}
		return nil
	case <-time.After(30 * time.Second):
		e.kill()
		return errors.New("the echo session did not end within 30s of ^D")
	}
}
