//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/pprof/profile"
)

// ---- port forwarding throughput ----

// The benchmark's connection to a forwarded port starts with one of these
// bytes, which tells the target what to do: send the transfer's bytes and
// close (download, the node to the client), or count them until the
// client's end of file (upload). A connection that closes without one (a
// probe of the forwarded port) is just closed.
const (
	cmdDownload = 'D'
	cmdUpload   = 'U'
)

// Directions of a forwarded transfer, as the JSON names them.
const (
	dirDownload = "download"
	dirUpload   = "upload"
)

// forwardTarget is the TCP server behind the forwarded port, on the node's
// side (this machine, 127.0.0.1), run by the benchmark itself so that both
// sides reach the same server and its cost is the same for both.
type forwardTarget struct {
	ln    net.Listener
	size  int64
	block []byte
	// uploads receives what the target saw of each upload.
	uploads chan uploadResult
	wg      sync.WaitGroup
}

// uploadResult is an upload as the target received it.
type uploadResult struct {
	bytes       int64
	first, last time.Time // first byte, end of file
	err         error
}

// forwardBlock is the size of the random block the target sends over and
// over: far larger than any window a compressor could look back on (and
// neither side compresses: ssh's Compression is off by default, Postern's
// WebSockets have compression disabled), small enough to stay in cache.
const forwardBlock = 1 << 20

// startForwardTarget listens on a free port of 127.0.0.1 and serves each
// connection in a goroutine until close.
func startForwardTarget(size int64) (*forwardTarget, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &forwardTarget{ln: ln, size: size, block: make([]byte, forwardBlock), uploads: make(chan uploadResult, 1)}
	rand.NewChaCha8([32]byte{'f', 'o', 'r', 'w', 'a', 'r', 'd'}).Read(t.block)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				t.serve(c)
			}()
		}
	}()
	return t, nil
}

func (t *forwardTarget) port() int { return t.ln.Addr().(*net.TCPAddr).Port }

// close stops listening and waits for the connections being served, which
// a watchdog or the transfers' own ends bound.
func (t *forwardTarget) close() {
	t.ln.Close()
	t.wg.Wait()
}

// serve handles one connection: the command byte, then the transfer. A
// stalled transfer is ended by a deadline that every chunk pushes on.
func (t *forwardTarget) serve(c net.Conn) {
	defer c.Close()
	var cmd [1]byte
	c.SetDeadline(time.Now().Add(stallLimit))
	if _, err := io.ReadFull(c, cmd[:]); err != nil {
		return // a probe, or the client went away
	}
	switch cmd[0] {
	case cmdDownload:
		for sent := int64(0); sent < t.size; {
			n := min(int64(len(t.block)), t.size-sent)
			c.SetWriteDeadline(time.Now().Add(stallLimit))
			if _, err := c.Write(t.block[:n]); err != nil {
				return // the client sees a short count
			}
			sent += n
		}
	case cmdUpload:
		var r uploadResult
		buf := make([]byte, 256<<10)
		for {
			c.SetReadDeadline(time.Now().Add(stallLimit))
			n, err := c.Read(buf)
			if n > 0 {
				if r.bytes == 0 {
					r.first = time.Now()
				}
				r.bytes += int64(n)
			}
			if errors.Is(err, io.EOF) {
				r.last = time.Now()
				break
			}
			if err != nil {
				r.err = err
				break
			}
		}
		select {
		case t.uploads <- r:
		default: // nobody waits for it any more
		}
	}
}

// forwarder is a running `postern forward` or `ssh -N -L`.
type forwarder struct {
	side  side
	p     *proc
	local int // the port it listens on
}

// startForwarder starts s's forwarder from a free local port to target and
// waits until it accepts connections: until it says so on stderr, or, for
// one that says nothing, until the port accepts one (a probe, which the
// target closes at once).
func startForwarder(ctx context.Context, reg *registry, s side, target int) (*forwarder, error) {
	local, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd, ready := s.forwarder(local, target)
	tail := &tailBuffer{max: 4 << 10}
	lw := &lineWatch{want: ready, seen: make(chan struct{})}
	cmd.Stderr = io.MultiWriter(tail, lw)
	p, err := reg.start(s.name()+" forwarder", cmd)
	if err != nil {
		return nil, err
	}
	p.stderr = tail
	f := &forwarder{side: s, p: p, local: local}
	fail := func(err error) (*forwarder, error) {
		f.stop(ctx)
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	if ready != "" {
		select {
		case <-lw.seen:
		case <-p.done:
			return fail(fmt.Errorf("%s exited before it accepted connections: %s", p.name, p.describe(fmt.Errorf("exit: %v", p.err))))
		case <-time.After(time.Until(deadline)):
			return fail(fmt.Errorf("%s did not print %q within 60s: %s", p.name, ready, p.describe(errors.New("timeout"))))
		case <-ctx.Done():
			return fail(ctx.Err())
		}
		return f, nil
	}
	for {
		c, err := net.DialTimeout("tcp", f.addr(), time.Second)
		if err == nil {
			c.Close()
			return f, nil
		}
		if p.exited() {
			return fail(fmt.Errorf("%s exited before it accepted connections: %s", p.name, p.describe(fmt.Errorf("exit: %v", p.err))))
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("%s did not accept connections on %s within 60s: %s", p.name, f.addr(), p.describe(err)))
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (f *forwarder) addr() string { return fmt.Sprintf("127.0.0.1:%d", f.local) }

// stop ends the forwarder as a user would, with SIGTERM (on which `postern
// forward` terminates its session and exits), and ends whatever session a
// forwarder that had to be killed left on the server side.
func (f *forwarder) stop(ctx context.Context) error {
	f.p.stop(10 * time.Second)
	if ps := f.p.cmd.ProcessState; ps != nil {
		if ps.Exited() {
			return nil
		}
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return f.side.endSessions(ctx)
}

// lineWatch is an io.Writer that closes seen once a line holding want has
// been written.
type lineWatch struct {
	want string
	seen chan struct{}
	mu   sync.Mutex
	line []byte
	done bool
}

func (l *lineWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done || l.want == "" {
		return len(p), nil
	}
	l.line = append(l.line, p...)
	for {
		i := strings.IndexByte(string(l.line), '\n')
		if i < 0 {
			break
		}
		if strings.Contains(string(l.line[:i]), l.want) {
			l.done = true
			l.line = nil
			close(l.seen)
			return len(p), nil
		}
		l.line = l.line[i+1:]
	}
	return len(p), nil
}

// forwardRun is one transfer through a forwarded port.
type forwardRun struct {
	Direction string `json:"direction"` // download (node to client) or upload
	Bytes     int64  `json:"bytes"`
	// Seconds is from the first byte to the end of file, at the receiving
	// end (the benchmark's client for a download, the target for an
	// upload); Setup is from connecting to the local port to that first
	// byte.
	Seconds float64 `json:"seconds"`
	Setup   float64 `json:"setup_s"`
	MBps    float64 `json:"mb_per_s"`
	// ServerCPU is postern dev's (server and agent), or that of every
	// sshd process; ClientCPU the forwarder's. Neither end of the
	// transfer (the benchmark) is counted.
	ServerCPU float64 `json:"server_cpu_s"`
	ClientCPU float64 `json:"client_cpu_s"`
	CPUPerGiB float64 `json:"cpu_s_per_gib"`
	// Profile is where postern dev's CPU went, from a CPU profile over
	// the transfer; nil for OpenSSH.
	Profile []profileShare `json:"profile,omitempty"`
}

// measureForward forwards a port of the benchmark's own target server
// through each side and times transfers through it, downloads and then
// uploads, cfg.runs of each per side, alternating sides.
func measureForward(ctx context.Context, reg *registry, sides []side, hz int64, cfg config, res *results) error {
	for _, s := range sides {
		if err := quiesce(ctx, s); err != nil {
			return err
		}
	}
	target, err := startForwardTarget(cfg.forwardSize)
	if err != nil {
		return err
	}
	defer target.close()
	fws := make([]*forwarder, len(sides))
	defer func() {
		for _, f := range fws {
			if f != nil {
				f.stop(context.WithoutCancel(ctx))
			}
		}
	}()
	logf("port forwarding: %d transfers of %s each way per side, alternating, to the benchmark's server on 127.0.0.1:%d", cfg.runs, fmtBytes(cfg.forwardSize), target.port())
	for i, s := range sides {
		if fws[i], err = startForwarder(ctx, reg, s, target.port()); err != nil {
			return err
		}
		logf("%s: the forwarder listens on 127.0.0.1:%d", s.name(), fws[i].local)
	}
	timeout := 2*time.Minute + time.Duration(float64(cfg.forwardSize)/4e6*float64(time.Second))
	for _, dir := range []string{dirDownload, dirUpload} {
		for i := 1; i <= cfg.runs; i++ {
			for j, s := range sides {
				r, err := runForward(ctx, s, fws[j], target, dir, cfg.forwardSize, hz, timeout)
				if err != nil {
					return err
				}
				logf("%s: forward %s %d/%d: %s in %.2fs (first byte %s after connecting) = %.1f MB/s; CPU server %.2fs + forwarder %.2fs = %.2f s/GiB%s",
					s.name(), dir, i, cfg.runs, fmtBytes(r.Bytes), r.Seconds, fmtDur(time.Duration(r.Setup*float64(time.Second))), r.MBps,
					r.ServerCPU, r.ClientCPU, r.CPUPerGiB, fmtProfile(r.Profile))
				res.Sides[s.name()].Forward = append(res.Sides[s.name()].Forward, r)
			}
		}
	}
	var errs []error
	for i, f := range fws {
		errs = append(errs, f.stop(ctx))
		fws[i] = nil
	}
	return errors.Join(errs...)
}

// runForward makes one connection to f's local port and transfers size
// bytes through it in direction dir, checking the count.
func runForward(ctx context.Context, s side, f *forwarder, t *forwardTarget, dir string, size, hz int64, timeout time.Duration) (forwardRun, error) {
	r := forwardRun{Direction: dir}
	if f.p.exited() {
		return r, fmt.Errorf("%s exited: %s", f.p.name, f.p.describe(fmt.Errorf("exit: %v", f.p.err)))
	}
	// Neither may the transfer share the disk with the writeback of what
	// earlier steps wrote.
	syscall.Sync()
	serverBefore, err := liveTreeTicks(s.serverPID())
	if err != nil {
		return r, err
	}
	clientBefore, err := treeTicks(f.p.cmd.Process.Pid)
	if err != nil {
		return r, err
	}
	profiling := false
	if err := s.startCPUProfile(ctx); err == nil {
		profiling = true
		defer func() {
			if profiling { // not stopped: the run failed
				s.stopCPUProfile(context.WithoutCancel(ctx), forwardProfile)
			}
		}()
	}
	select { // an upload left over from a failed run
	case <-t.uploads:
	default:
	}

	start := time.Now()
	conn, err := net.DialTimeout("tcp", f.addr(), 10*time.Second)
	if err != nil {
		return r, fmt.Errorf("%s: connect to %s: %w", f.p.name, f.addr(), err)
	}
	defer conn.Close()
	ended := make(chan struct{})
	defer close(ended)
	wd := newWatchdogFunc(ctx, ended, func() { conn.Close() }, stallLimit)
	defer wd.close()
	kill := time.AfterFunc(timeout, func() { conn.Close() })
	defer kill.Stop()
	var first, last time.Time
	switch dir {
	case dirDownload:
		if _, err := conn.Write([]byte{cmdDownload}); err != nil {
			return r, fmt.Errorf("%s: %w", f.p.name, err)
		}
		buf := make([]byte, 256<<10)
		for {
			n, err := conn.Read(buf)
			if n > 0 {
				if r.Bytes == 0 {
					first = time.Now()
				}
				r.Bytes += int64(n)
				wd.progress()
			}
			if errors.Is(err, io.EOF) {
				last = time.Now()
				break
			}
			if err != nil {
				return r, forwardFailed(ctx, f, dir, wd, kill, timeout, r.Bytes, size, err)
			}
		}
	case dirUpload:
		if _, err := conn.Write([]byte{cmdUpload}); err != nil {
			return r, fmt.Errorf("%s: %w", f.p.name, err)
		}
		var sent int64
		for sent < size {
			n, err := conn.Write(t.block[:min(int64(len(t.block)), size-sent)])
			sent += int64(n)
			if err != nil {
				return r, forwardFailed(ctx, f, dir, wd, kill, timeout, sent, size, err)
			}
			wd.progress()
		}
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			return r, fmt.Errorf("%s: %w", f.p.name, err)
		}
		var u uploadResult
		select {
		case u = <-t.uploads:
		case <-time.After(stallLimit):
			return r, fmt.Errorf("%s upload: the target did not see the end of the upload within %v of the last write", s.name(), stallLimit)
		case <-ctx.Done():
			return r, ctx.Err()
		}
		if u.err != nil {
			return r, fmt.Errorf("%s upload: the target received %d of %d bytes: %w", s.name(), u.bytes, size, u.err)
		}
		r.Bytes, first, last = u.bytes, u.first, u.last
	}
	if r.Bytes != size {
		return r, fmt.Errorf("%s %s: %d bytes arrived, expected %d: %s", f.p.name, dir, r.Bytes, size, f.p.describe(errors.New("short transfer")))
	}
	r.Setup = first.Sub(start).Seconds()
	r.Seconds = last.Sub(first).Seconds()
	r.MBps = float64(r.Bytes) / 1e6 / r.Seconds

	var prof *profile.Profile
	if profiling {
		profiling = false
		prof, _ = s.stopCPUProfile(ctx, forwardProfile)
	}
	serverAfter, err := liveTreeTicks(s.serverPID())
	if err != nil {
		return r, err
	}
	clientAfter, err := treeTicks(f.p.cmd.Process.Pid)
	if err != nil {
		return r, err
	}
	r.ServerCPU = float64(serverAfter-serverBefore) / float64(hz)
	r.ClientCPU = float64(clientAfter-clientBefore) / float64(hz)
	r.CPUPerGiB = (r.ServerCPU + r.ClientCPU) / (float64(r.Bytes) / (1 << 30))
	if prof != nil {
		r.Profile = profileShares(prof)
	}
	return r, nil
}

// forwardFailed explains a transfer that broke off.
func forwardFailed(ctx context.Context, f *forwarder, dir string, wd *watchdog, kill *time.Timer, timeout time.Duration, done, size int64, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case !kill.Stop():
		return fmt.Errorf("%s %s: not done after %v (%d of %d bytes); closed the connection", f.p.name, dir, timeout, done, size)
	case wd.fired.Load():
		return fmt.Errorf("%s %s: no progress for %v after %d of %d bytes; closed the connection", f.p.name, dir, stallLimit, done, size)
	case f.p.exited():
		return fmt.Errorf("%s %s: the forwarder exited after %d of %d bytes: %s", f.p.name, dir, done, size, f.p.describe(fmt.Errorf("exit: %v", f.p.err)))
	}
	return fmt.Errorf("%s %s: after %d of %d bytes: %w", f.p.name, dir, done, size, err)
}

// ---- where postern dev's CPU goes while it forwards ----

// profileGroups sort a forward run's CPU samples by what they were doing,
// so that a progress line tells where the time went without `go tool
// pprof`: the first group that matches wins, a group matching by the
// leaf function (the code that was running), or by any frame of the stack
// for the garbage collector.
var profileGroups = []struct {
	name     string
	anyFrame bool
	prefixes []string
}{
	{"gc", true, []string{"runtime.gcBgMarkWorker", "runtime.mallocgc", "runtime.gcAssistAlloc"}},
	{"crypto", false, []string{"crypto/", "vendor/golang.org/x/crypto/"}},
	{"syscalls", false, []string{"internal/runtime/syscall/", "syscall.", "runtime/internal/syscall."}},
	{"memmove", false, []string{"runtime.memmove", "runtime.memclrNoHeapPointers"}},
}

// profileShare is a part of a CPU profile's samples.
type profileShare struct {
	Name  string  `json:"name"`
	Share float64 `json:"share"`
}

// profileShares splits a CPU profile's samples by profileGroups; the rest
// is "other" (the scheduler, locks, the relays' own code).
func profileShares(p *profile.Profile) []profileShare {
	count := -1
	for i, st := range p.SampleType {
		if st.Type == "samples" && st.Unit == "count" {
			count = i
		}
	}
	if count < 0 {
		return nil
	}
	// funcs lists a sample's functions, leaf first (locations are leaf
	// first, and so are a location's inlined lines).
	funcs := func(smp *profile.Sample) []string {
		var fs []string
		for _, loc := range smp.Location {
			for _, l := range loc.Line {
				if l.Function != nil {
					fs = append(fs, l.Function.Name)
				}
			}
		}
		return fs
	}
	hasPrefix := func(f string, prefixes []string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(f, p) {
				return true
			}
		}
		return false
	}
	by := map[string]int64{}
	var total int64
	for _, smp := range p.Sample {
		n := smp.Value[count]
		total += n
		fs := funcs(smp)
		group := "other"
	groups:
		for _, g := range profileGroups {
			for i, f := range fs {
				if i > 0 && !g.anyFrame {
					break
				}
				if hasPrefix(f, g.prefixes) {
					group = g.name
					break groups
				}
			}
		}
		by[group] += n
	}
	if total == 0 {
		return nil
	}
	var out []profileShare
	for _, g := range profileGroups {
		out = append(out, profileShare{g.name, float64(by[g.name]) / float64(total)})
	}
	return append(out, profileShare{"other", float64(by["other"]) / float64(total)})
}

// fmtProfile is profile shares for a progress line.
func fmtProfile(ps []profileShare) string {
	if len(ps) == 0 {
		return ""
	}
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", p.Name, 100*p.Share))
	}
	return "; postern dev's profile: " + strings.Join(parts, ", ")
}
