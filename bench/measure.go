//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/pprof/profile"
)

// stallLimit is how long any step may go without progress (an echo, a
// chunk of output, a session's first byte) before the benchmark gives up
// on it and kills the client.
const stallLimit = 30 * time.Second

// watchdog kills a process when its step makes no progress for limit or
// ctx ends. Raw blocking reads cannot be interrupted otherwise; killing the
// client closes the pipe and the read returns.
type watchdog struct {
	last     atomic.Int64 // UnixNano of the last progress
	paused   atomic.Bool  // between steps: nothing is expected
	fired    atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
}

func newWatchdog(ctx context.Context, p *proc, limit time.Duration) *watchdog {
	return newWatchdogFunc(ctx, p.done, p.kill, limit)
}

// newWatchdogFunc is a watchdog that calls kill, for a step that is not a
// process of its own (a connection of the benchmark's, which kill closes);
// it stops watching once done is closed.
func newWatchdogFunc(ctx context.Context, done <-chan struct{}, kill func(), limit time.Duration) *watchdog {
	w := &watchdog{stop: make(chan struct{})}
	w.progress()
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-done:
				return
			case <-ctx.Done():
				w.fired.Store(true)
				kill()
				return
			case <-t.C:
				if !w.paused.Load() && time.Since(time.Unix(0, w.last.Load())) > limit {
					w.fired.Store(true)
					kill()
					return
				}
			}
		}
	}()
	return w
}

func (w *watchdog) progress() { w.last.Store(time.Now().UnixNano()) }
func (w *watchdog) close()    { w.stopOnce.Do(func() { close(w.stop) }) }

// pause stops the clock until resume, for a process that idles between
// steps (the echo session while the other session starts or ends).
func (w *watchdog) pause() { w.paused.Store(true) }
func (w *watchdog) resume() {
	w.progress()
	w.paused.Store(false)
}

// quiesce readies the machine for a measurement: no session may still be
// running on the server side, nor may Postern still be rendering an
// earlier session's recording (the bulk stream behind the loaded echo
// measurement leaves a large one), and what earlier steps wrote (Postern's
// journals and recordings, gigabytes with the default -size) must not be
// written back to disk during the measurement.
func quiesce(ctx context.Context, s side) error {
	if err := waitNoChildren(ctx, s.serverPID(), 2*stallLimit); err != nil {
		return err
	}
	if err := s.awaitArtifacts(ctx); err != nil {
		return err
	}
	syscall.Sync()
	return nil
}

// ---- echo round trip ----

// echoSession is a remote `cat` in a pseudo-terminal driven one byte at a
// time: the terminal's line discipline echoes each byte as soon as it is
// written to the terminal, so a byte's round trip is the time from writing
// it to the client's stdin until it comes back on the client's stdout.
type echoSession struct {
	side    side
	p       *proc
	in, out *os.File
	wd      *watchdog
	buf     []byte
	pending []byte // read but not yet examined
	typed   int    // letters typed so far
	col     int    // letters typed on the current line
}

// lineLen is how many letters go on a line before a CR: the terminal's
// line buffer (4 KiB on Linux) must never fill.
const lineLen = 64

func openEcho(ctx context.Context, reg *registry, s side) (*echoSession, error) {
	inR, inW, err := pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := pipe()
	if err != nil {
		return nil, err
	}
	cmd := s.command("cat")
	cmd.Stdin, cmd.Stdout = inR, outW
	p, err := reg.start(s.name()+" echo session (cat)", cmd)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	e := &echoSession{side: s, p: p, in: inW, out: outR, wd: newWatchdog(ctx, p, stallLimit), buf: make([]byte, 64<<10)}
	// The first echo also waits for the session to be set up: never count
	// it, whatever the warm-up.
	if _, err := e.roundTrip(); err != nil {
		p.kill()
		return nil, err
	}
	e.wd.pause()
	return e, nil
}

// roundTrip types the next letter and returns how long its echo took.
func (e *echoSession) roundTrip() (time.Duration, error) {
	if e.col == lineLen {
		if err := e.newline(); err != nil {
			return 0, err
		}
	}
	// Cycling through distinct letters means a stray byte is unlikely to
	// be taken for the echo; and since every earlier byte was waited for,
	// nothing else is in flight when the clock starts.
	c := byte('a' + e.typed%26)
	start := time.Now()
	if err := rawWrite(e.in, []byte{c}); err != nil {
		return 0, e.fail(err)
	}
	if err := e.readUntil(c, 1); err != nil {
		return 0, err
	}
	d := time.Since(start)
	e.typed++
	e.col++
	return d, nil
}

// newline sends CR and consumes its echo (CR LF) and the line cat prints
// back (letters, CR LF): two LFs in all. It is never timed.
func (e *echoSession) newline() error {
	if err := rawWrite(e.in, []byte{'\r'}); err != nil {
		return e.fail(err)
	}
	if err := e.readUntil('\n', 2); err != nil {
		return err
	}
	e.col = 0
	return nil
}

// readUntil reads the client's stdout until it has seen count bytes equal
// to want.
func (e *echoSession) readUntil(want byte, count int) error {
	for {
		for len(e.pending) > 0 {
			b := e.pending[0]
			e.pending = e.pending[1:]
			if b == want {
				if count--; count == 0 {
					e.wd.progress()
					return nil
				}
			}
		}
		n, err := rawRead(e.out, e.buf)
		if n == 0 {
			if err == nil {
				err = io.EOF
			}
			return e.fail(err)
		}
		e.pending = e.buf[:n]
	}
}

// fail explains an I/O error on the session's pipes.
func (e *echoSession) fail(err error) error {
	if e.wd.fired.Load() {
		return fmt.Errorf("%s: no echo within %v (or interrupted); killed the client", e.side.name(), stallLimit)
	}
	if e.p.exited() || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) {
		select {
		case <-e.p.done:
		case <-time.After(2 * time.Second):
		}
		return fmt.Errorf("%s echo session ended unexpectedly: %s", e.side.name(), e.p.describe(fmt.Errorf("%v (exit: %v)", err, e.p.err)))
	}
	return fmt.Errorf("%s echo session: %w", e.side.name(), err)
}

// samples takes n round trips after warm discarded ones.
func (e *echoSession) samples(warm, n int) ([]time.Duration, error) {
	e.wd.resume()
	defer e.wd.pause()
	out := make([]time.Duration, 0, n)
	for i := 0; i < warm+n; i++ {
		d, err := e.roundTrip()
		if err != nil {
			return nil, err
		}
		if i >= warm {
			out = append(out, d)
		}
	}
	return out, nil
}

// close ends cat with EOF (^D at the start of a line) and waits for the
// client to exit with cat's status.
func (e *echoSession) close(ctx context.Context) error {
	e.wd.resume()
	defer e.wd.close()
	defer e.out.Close()
	if e.col > 0 {
		if err := e.newline(); err != nil {
			return err
		}
	}
	err := rawWrite(e.in, []byte{4})
	e.in.Close()
	if err != nil {
		return e.fail(err)
	}
	// Drain the rest (the echo of ^D) so the client never blocks on a
	// full pipe.
	go io.Copy(io.Discard, e.out)
	if err := e.p.wait(ctx, stallLimit); err != nil {
		return fmt.Errorf("%s echo session did not end cleanly: %s", e.side.name(), e.p.describe(err))
	}
	return nil
}

// ---- a bulk stream in the background ----

// bulkLoop is a session streaming a file over and over to /dev/null on the
// client's side, to load the server while echo is measured.
type bulkLoop struct {
	side side
	p    *proc
	in   *os.File
}

// startBulkLoop starts the stream and returns once it flows.
func startBulkLoop(ctx context.Context, reg *registry, s side, file string) (*bulkLoop, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	// The loop runs cat again as long as it succeeds: ^C (SIGINT from the
	// terminal) or a hangup ends it, never the end of the file.
	cmd := s.command("sh", "-c", "while cat "+shellQuote(file)+"; do :; done")
	cmd.Stdin, cmd.Stdout = inR, devNull
	p, err := reg.start(s.name()+" bulk stream", cmd)
	inR.Close()
	devNull.Close()
	if err != nil {
		inW.Close()
		return nil, err
	}
	b := &bulkLoop{side: s, p: p, in: inW}
	// It flows once the client has written a few MiB to /dev/null.
	deadline := time.Now().Add(stallLimit)
	for {
		n, err := writtenBytes(p.cmd.Process.Pid)
		if err == nil && n > 8<<20 {
			return b, nil
		}
		if p.exited() {
			return nil, fmt.Errorf("%s bulk stream ended at once: %s", s.name(), p.describe(fmt.Errorf("exit: %v", p.err)))
		}
		if time.Now().After(deadline) {
			b.stop(ctx, stallLimit)
			return nil, fmt.Errorf("%s bulk stream did not start within %v", s.name(), stallLimit)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// written is how many bytes the client has written to /dev/null so far.
func (b *bulkLoop) written() int64 {
	n, _ := writtenBytes(b.p.cmd.Process.Pid)
	return n
}

// stop interrupts the stream as a user would, with ^C, and waits up to
// timeout for the client to exit; if it does not, it kills it and ends the
// session on the server side.
func (b *bulkLoop) stop(ctx context.Context, timeout time.Duration) error {
	rawWrite(b.in, []byte{3})
	b.in.Close()
	b.p.wait(ctx, timeout) // its exit status is that of ^C; ignore it
	if ps := b.p.cmd.ProcessState; ps == nil || !ps.Exited() {
		// Killed, not exited by itself: the session may still run.
		if err := b.side.endSessions(ctx); err != nil {
			return fmt.Errorf("%s bulk stream did not stop on ^C, and ending its session failed: %w", b.side.name(), err)
		}
	}
	return nil
}

// ---- bulk throughput ----

// bulkRun is one transfer of the bulk file.
type bulkRun struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"` // client start to exit
	// FirstByte and LastByte are when output started and stopped coming,
	// from the client's start: the time before is session setup, the
	// time after is what ending the session costs.
	FirstByte float64 `json:"first_byte_s"`
	LastByte  float64 `json:"last_byte_s"`
	MBps      float64 `json:"mb_per_s"`
	// Recorded is when the recording's artifacts were complete (Postern
	// renders them after the client has its exit code).
	Recorded  float64 `json:"recorded_s"`
	ServerCPU float64 `json:"server_cpu_s"` // incl. the remote cat
	ClientCPU float64 `json:"client_cpu_s"`
	CPUPerGiB float64 `json:"cpu_s_per_gib"`
	// Recording is what recording cost, from a CPU profile of postern dev
	// over the same window as ServerCPU; nil for OpenSSH, or when the
	// profile could not be had, as ProfileProblem says.
	Recording      *recordingCPU `json:"recording,omitempty"`
	ProfileProblem string        `json:"profile_problem,omitempty"`
}

// runBulk runs `cat file` remotely, drains the client's stdout, and
// measures bytes received over the client's lifetime (start to exit) and
// the CPU time of the client and of the server side, and, from a CPU
// profile of the server process over the same window, how much of it was
// recording.
func runBulk(ctx context.Context, reg *registry, s side, file string, expect int64, hz int64, timeout time.Duration) (bulkRun, error) {
	var r bulkRun
	if err := quiesce(ctx, s); err != nil {
		return r, err
	}
	before, err := treeTicks(s.serverPID())
	if err != nil {
		return r, err
	}
	ownBefore, err := readStat(s.serverPID())
	if err != nil {
		return r, err
	}
	profiling := false
	if err := s.startCPUProfile(ctx); err != nil {
		r.ProfileProblem = fmt.Sprintf("could not start a CPU profile: %v", err)
	} else {
		profiling = true
		defer func() {
			if profiling { // not stopped: the run failed
				s.stopCPUProfile(context.WithoutCancel(ctx), bulkProfile)
			}
		}()
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return r, err
	}
	defer inW.Close() // stdin stays open and silent for the whole run
	outR, outW, err := pipe()
	if err != nil {
		return r, err
	}
	defer outR.Close()
	cmd := s.command("cat", file)
	cmd.Stdin, cmd.Stdout = inR, outW
	p, err := reg.start(s.name()+" bulk (cat)", cmd)
	inR.Close()
	outW.Close()
	if err != nil {
		return r, err
	}
	wd := newWatchdog(ctx, p, stallLimit)
	defer wd.close()
	kill := time.AfterFunc(timeout, p.kill)
	defer kill.Stop()
	buf := make([]byte, 256<<10)
	for {
		n, err := rawRead(outR, buf)
		if n > 0 {
			if r.Bytes == 0 {
				r.FirstByte = time.Since(p.start).Seconds()
			}
			r.Bytes += int64(n)
			wd.progress()
			if r.Bytes == expect {
				r.LastByte = time.Since(p.start).Seconds()
				// From here only the overall timeout applies.
				wd.close()
			}
			continue
		}
		if err != nil {
			p.kill()
			return r, fmt.Errorf("%s bulk: reading output: %w", s.name(), err)
		}
		break // end of file: the client exited (or was killed)
	}
	werr := p.wait(ctx, stallLimit)
	wall := time.Since(p.start)
	switch {
	case ctx.Err() != nil:
		return r, ctx.Err()
	case !kill.Stop():
		return r, fmt.Errorf("%s bulk: not done after %v (%d of %d bytes, %.1f MB/s); killed the client", s.name(), timeout, r.Bytes, expect, float64(r.Bytes)/1e6/timeout.Seconds())
	case wd.fired.Load():
		return r, fmt.Errorf("%s bulk: no output for %v after %d of %d bytes; killed the client", s.name(), stallLimit, r.Bytes, expect)
	}
	if werr != nil {
		return r, fmt.Errorf("%s bulk: %s", s.name(), p.describe(werr))
	}
	if r.Bytes != expect {
		return r, fmt.Errorf("%s bulk: received %d bytes, expected %d (the file with each LF as CR LF)", s.name(), r.Bytes, expect)
	}
	// The server side reaps the session's processes when it ends; wait
	// for that so their CPU time is counted.
	if err := waitNoChildren(ctx, s.serverPID(), stallLimit); err != nil {
		return r, err
	}
	if err := s.awaitArtifacts(ctx); err != nil {
		return r, err
	}
	r.Recorded = time.Since(p.start).Seconds()
	var prof *profile.Profile
	if profiling {
		profiling = false
		prof, err = s.stopCPUProfile(ctx, bulkProfile)
		if err != nil {
			r.ProfileProblem = fmt.Sprintf("could not stop the CPU profile: %v", err)
		}
	}
	after, err := treeTicks(s.serverPID())
	if err != nil {
		return r, err
	}
	ownAfter, err := readStat(s.serverPID())
	if err != nil {
		return r, err
	}
	r.Seconds = wall.Seconds()
	r.MBps = float64(r.Bytes) / 1e6 / r.Seconds
	r.ServerCPU = float64(after-before) / float64(hz)
	r.ClientCPU = p.cpu().Seconds()
	r.CPUPerGiB = (r.ServerCPU + r.ClientCPU) / (float64(r.Bytes) / (1 << 30))
	if prof != nil {
		own := float64(ownAfter.utime+ownAfter.stime-ownBefore.utime-ownBefore.stime) / float64(hz)
		split, err := attribute(prof, recordingFuncs)
		if err == nil {
			r.Recording, err = newRecordingCPU(split, own, r.ServerCPU+r.ClientCPU)
		}
		if err != nil {
			r.ProfileProblem = err.Error()
		}
	}
	return r, nil
}

// ---- session start ----

// sessionStart measures from starting the client to the first byte of the
// remote login shell on its stdout (Postern's CLI writes its own messages
// to stderr), then logs out.
func sessionStart(ctx context.Context, reg *registry, s side) (time.Duration, error) {
	inR, inW, err := pipe()
	if err != nil {
		return 0, err
	}
	defer inW.Close()
	outR, outW, err := pipe()
	if err != nil {
		return 0, err
	}
	defer outR.Close()
	cmd := s.login()
	cmd.Stdin, cmd.Stdout = inR, outW
	p, err := reg.start(s.name()+" login shell", cmd)
	inR.Close()
	outW.Close()
	if err != nil {
		return 0, err
	}
	wd := newWatchdog(ctx, p, stallLimit)
	defer wd.close()
	var b [1]byte
	n, rerr := rawRead(outR, b[:])
	d := time.Since(p.start)
	if n == 0 {
		p.kill()
		p.wait(ctx, stallLimit)
		s.endSessions(ctx)
		if wd.fired.Load() {
			return 0, fmt.Errorf("%s: no output from the login shell within %v", s.name(), stallLimit)
		}
		return 0, fmt.Errorf("%s login shell: no output (%v): %s", s.name(), rerr, p.describe(fmt.Errorf("exit: %v", p.err)))
	}
	// Log out the way a user would; the terminal buffers the input if the
	// shell is not reading yet.
	rawWrite(inW, []byte("exit\r"))
	inW.Close()
	go io.Copy(io.Discard, outR)
	if err := p.wait(ctx, stallLimit); err != nil {
		s.endSessions(ctx)
		return 0, fmt.Errorf("%s login shell did not log out: %s", s.name(), p.describe(err))
	}
	return d, nil
}
