//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/creack/pty"
)

// ---- bulk output through a terminal ----

// A terminal emulator reads its pseudo-terminal as the kernel hands data
// over, in whatever pieces it gets, and the client behind it (postern
// connect, ssh) writes into a terminal that drains at that pace, slower
// than a pipe. That is where a relay whose clients fall behind its memory
// used to read the recording from the start again and again; the pipe
// drained by runBulk never fell behind. So this measurement gives the
// client a real terminal: an interactive login shell on a pseudo-terminal
// whose master the benchmark reads with a terminal emulator's buffer,
// types `cat FILE` into it, and times from the Enter key to the line the
// shell prints after cat.

// termReadBuf is what a terminal emulator reads at once (VTE and xterm.js
// read up to 64 KiB per wake-up).
const termReadBuf = 64 << 10

// terminal is a login session of one side on a pseudo-terminal of the
// benchmark's.
type terminal struct {
	p      *proc
	master *os.File
	// read holds what the reader goroutine read and the benchmark did not
	// yet look at; data is signalled on each read.
	chunks chan []byte
	bytes  int64 // output read so far
	tail   []byte
}

func openTerminal(ctx context.Context, reg *registry, s side) (*terminal, error) {
	master, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open a pseudo-terminal: %w", err)
	}
	if err := pty.Setsize(master, &pty.Winsize{Cols: 200, Rows: 50}); err != nil {
		master.Close()
		tty.Close()
		return nil, err
	}
	cmd := s.login()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	p, err := reg.start(s.name()+" login on a terminal", cmd)
	tty.Close()
	if err != nil {
		master.Close()
		return nil, err
	}
	t := &terminal{p: p, master: master, chunks: make(chan []byte, 64)}
	go func() {
		defer close(t.chunks)
		for {
			buf := make([]byte, termReadBuf)
			n, err := master.Read(buf)
			if n > 0 {
				t.chunks <- buf[:n]
			}
			if err != nil {
				return // EIO once the client and its children are gone
			}
		}
	}()
	return t, nil
}

// expect reads until the terminal has shown marker, or the limit passes
// without output.
func (t *terminal) expect(ctx context.Context, marker string, limit time.Duration) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case b, ok := <-t.chunks:
			if !ok {
				return fmt.Errorf("the terminal closed before %q: %s", marker, t.p.describe(t.p.err))
			}
			t.bytes += int64(len(b))
			t.tail = append(t.tail, b...)
			if bytes.Contains(t.tail, []byte(marker)) {
				t.tail = t.tail[:0]
				return nil
			}
			if len(t.tail) > 256 {
				t.tail = append(t.tail[:0], t.tail[len(t.tail)-256:]...)
			}
			timer.Reset(limit)
		case <-timer.C:
			return fmt.Errorf("%q not shown within %v of the last output", marker, limit)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// typeLine types a command line and Enter. Marker words are typed with an
// empty quote inside (DONE-""1), so that the echo of the line never shows
// the marker the command prints.
func (t *terminal) typeLine(line string) error {
	_, err := t.master.Write([]byte(line + "\r"))
	return err
}

func (t *terminal) close(ctx context.Context) error {
	t.typeLine("exit")
	err := t.p.wait(ctx, stallLimit)
	t.master.Close()
	for range t.chunks {
	}
	return err
}

// runTerminalBulk returns the rate at which cat of file reached the
// terminal, in MB/s of terminal output.
func runTerminalBulk(ctx context.Context, reg *registry, s side, file string, run int) (float64, error) {
	if err := quiesce(ctx, s); err != nil {
		return 0, err
	}
	t, err := openTerminal(ctx, reg, s)
	if err != nil {
		return 0, err
	}
	defer t.p.kill()
	if err := t.typeLine(`echo READY-""1`); err != nil {
		return 0, err
	}
	if err := t.expect(ctx, "READY-1", stallLimit); err != nil {
		return 0, fmt.Errorf("%s terminal bulk: %w", s.name(), err)
	}
	t0, b0 := time.Now(), t.bytes
	if err := t.typeLine(fmt.Sprintf(`cat %s; echo DONE-""%d`, shellQuote(file), run)); err != nil {
		return 0, err
	}
	if err := t.expect(ctx, fmt.Sprintf("DONE-%d", run), stallLimit); err != nil {
		return 0, fmt.Errorf("%s terminal bulk: %w", s.name(), err)
	}
	elapsed, n := time.Since(t0), t.bytes-b0
	if err := t.close(ctx); err != nil {
		return 0, fmt.Errorf("%s terminal bulk: %s", s.name(), t.p.describe(err))
	}
	return float64(n) / 1e6 / elapsed.Seconds(), nil
}

// measureTerminalBulk runs the terminal bulk transfer cfg.runs times per
// side, alternating.
func measureTerminalBulk(ctx context.Context, reg *registry, sides []side, file string, cfg config, res *results) error {
	logf("bulk output through a terminal: %d runs per side, alternating", cfg.runs)
	for i := 1; i <= cfg.runs; i++ {
		for _, s := range sides {
			mbps, err := runTerminalBulk(ctx, reg, s, file, i)
			if err != nil {
				return err
			}
			logf("%s: terminal bulk run %d/%d: %.1f MB/s", s.name(), i, cfg.runs, mbps)
			sr := res.Sides[s.name()]
			sr.TerminalBulk = append(sr.TerminalBulk, mbps)
		}
	}
	return nil
}

// ---- a late watcher ----

// measureLateWatch starts a session that prints the bulk file twice and
// then waits, and once all of it has been printed, times `postern
// sessions watch` of it from its start to its last byte: the watcher
// catches up from the recording, reading each record once.
func measureLateWatch(ctx context.Context, reg *registry, pst *posternSide, file string, expect int64, res *results) error {
	if err := quiesce(ctx, pst); err != nil {
		return err
	}
	total := 2 * expect
	logf("late watcher: a session prints %s, then `postern sessions watch` catches up", fmtBytes(total))
	outR, outW, err := pipe()
	if err != nil {
		return err
	}
	defer outR.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer inW.Close()
	cmd := pst.command("sh", "-c", fmt.Sprintf("cat %s %s; exec sleep 3600", shellQuote(file), shellQuote(file)))
	cmd.Stdin, cmd.Stdout = inR, outW
	p, err := reg.start("postern exec (prints for the watcher)", cmd)
	inR.Close()
	outW.Close()
	if err != nil {
		return err
	}
	defer p.kill()
	if _, err := drain(ctx, outR, total, p); err != nil {
		return fmt.Errorf("late watcher: the printing session: %w", err)
	}
	active, err := pst.sessions(ctx, "--state", "active")
	if err != nil {
		return err
	}
	if len(active) != 1 {
		return fmt.Errorf("late watcher: %d active sessions, want the printing one alone", len(active))
	}
	id := active[0].ID

	wR, wW, err := pipe()
	if err != nil {
		return err
	}
	defer wR.Close()
	watch := pst.cli("sessions", "watch", id)
	watch.Stdout = wW
	wp, err := reg.start("postern sessions watch", watch)
	wW.Close()
	if err != nil {
		return err
	}
	defer wp.kill()
	elapsed, err := drain(ctx, wR, total, wp)
	if err != nil {
		return fmt.Errorf("late watcher: %w", err)
	}
	mbps := float64(total) / 1e6 / elapsed.Seconds()
	logf("postern: late watcher caught up on %s in %.2fs = %.0f MB/s", fmtBytes(total), elapsed.Seconds(), mbps)
	res.Sides["postern"].WatchCatchupMBps = mbps

	if _, err := runQuick(ctx, reg, "postern terminate", pst.cli("terminate", id), 30*time.Second); err != nil {
		return err
	}
	p.wait(ctx, stallLimit)
	wp.wait(ctx, stallLimit)
	return nil
}

// drain reads r until n bytes came, and returns how long that took from
// p's start.
func drain(ctx context.Context, r *os.File, n int64, p *proc) (time.Duration, error) {
	wd := newWatchdog(ctx, p, stallLimit)
	defer wd.close()
	buf := make([]byte, 256<<10)
	var got int64
	for got < n {
		m, err := rawRead(r, buf)
		got += int64(m)
		if m > 0 {
			wd.progress()
			continue
		}
		if errors.Is(err, io.EOF) || err == nil {
			err = errors.New("end of output")
		}
		return 0, fmt.Errorf("%s: %d of %d bytes: %v", p.name, got, n, p.describe(err))
	}
	return time.Since(p.start), nil
}
