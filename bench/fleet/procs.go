//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// registry keeps every process the harness starts, so that all of them are
// stopped on every way out: success, error, timeout or Ctrl-C.
type registry struct {
	mu    sync.Mutex // guards procs
	procs []*proc
}

// proc is a started child process.
type proc struct {
	name  string
	cmd   *exec.Cmd
	done  chan struct{} // closed once Wait has returned
	err   error         // Wait's result, valid once done is closed
	tail  *tailBuffer   // the end of its stderr when not sent elsewhere
	start time.Time
}

// start starts cmd in its own process group (so that the group can be
// signalled without touching the harness) and has the kernel kill it should
// the harness die without cleaning up.
func (r *registry) start(name string, cmd *exec.Cmd) (*proc, error) {
	// Pdeathsig is tied to the thread that forks; Go only retires threads
	// that exit while locked, which this program never does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	if cmd.Stderr == nil {
		p.tail = &tailBuffer{max: 4 << 10}
		cmd.Stderr = p.tail
	}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, and SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// describe is err with the end of the process's stderr, for messages.
func (p *proc) describe(err error) string {
	msg := err.Error()
	if p.tail != nil {
		if s := strings.TrimSpace(p.tail.String()); s != "" {
			msg += "; stderr: " + s
		}
	}
	return msg
}

// cleanup stops every process still running, the most recently started
// first (clients before the server they talk to).
func (r *registry) cleanup() {
	r.mu.Lock()
	procs := append([]*proc(nil), r.procs...)
	r.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop(10 * time.Second)
	}
}

// tailBuffer is an io.Writer that keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex // guards b
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// ---- /proc ----

// cpuTicks is the user plus system CPU time of a process, in clock ticks
// (fields 14 and 15 of /proc/PID/stat).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU parses utime+stime out of the text of /proc/PID/stat.
func parseStatCPU(s string) (int64, error) {
	// comm is in parentheses and may itself hold spaces or ')'.
	rp := strings.LastIndexByte(s, ')')
	if rp < 0 {
		return 0, errors.New("/proc/PID/stat: no ')' after the command name")
	}
	f := strings.Fields(s[rp+1:])
	// f[0] is field 3 (state) of proc(5); field k is f[k-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/PID/stat: %d fields after the command name, want at least 13", len(f))
	}
	var t int64
	for _, k := range []int{14, 15} {
		v, err := strconv.ParseInt(f[k-3], 10, 64)
		if err != nil || v < 0 || v > math.MaxInt64/2 {
			return 0, fmt.Errorf("/proc/PID/stat: field %d is %q, not a tick count", k, f[k-3])
		}
		t += v
	}
	return t, nil
}

// memStatus is what the harness reads from /proc/PID/status, in bytes.
type memStatus struct {
	RSS, RSSAnon int64
	Threads      int
}

func readMemStatus(pid int) (memStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	defer f.Close()
	return parseMemStatus(f)
}

// parseMemStatus reads VmRSS, RssAnon and Threads from the text of
// /proc/PID/status; VmRSS must be there.
func parseMemStatus(r io.Reader) (memStatus, error) {
	var m memStatus
	seen := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64>>10 {
			continue
		}
		switch k {
		case "VmRSS":
			m.RSS, seen = n<<10, true // "kB" means KiB here
		case "RssAnon":
			m.RSSAnon = n << 10
		case "Threads":
			m.Threads = int(n)
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if !seen {
		return m, errors.New("/proc/PID/status: no VmRSS line")
	}
	return m, nil
}

// nofileLimit is a process's RLIMIT_NOFILE.
type nofileLimit struct{ Soft, Hard uint64 }

func (l nofileLimit) String() string {
	f := func(v uint64) string {
		if v == unix.RLIM_INFINITY {
			return "unlimited"
		}
		return strconv.FormatUint(v, 10)
	}
	return f(l.Soft) + " (hard " + f(l.Hard) + ")"
}

// raiseOwnNofile raises the harness's open-file limit to at least want:
// the soft limit to the hard one, and the hard one too where the harness
// may (as root). It returns the limit before and after.
func raiseOwnNofile(want uint64) (before, after nofileLimit, err error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return before, after, err
	}
	before = nofileLimit{rl.Cur, rl.Max}
	if rl.Max < want {
		up := unix.Rlimit{Cur: want, Max: want}
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &up) == nil {
			rl = up
		}
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return before, before, err
		}
	}
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return before, after, err
	}
	return before, nofileLimit{rl.Cur, rl.Max}, nil
}

// ensureNofile checks the open-file limit of process pid and raises it
// (prlimit(2)) to at least want if it is lower, returning what it found and
// what it left.
func ensureNofile(pid int, want uint64) (found, now nofileLimit, err error) {
	var rl unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &rl); err != nil {
		return found, now, fmt.Errorf("prlimit %d: %w", pid, err)
	}
	found = nofileLimit{rl.Cur, rl.Max}
	if rl.Cur >= want {
		return found, found, nil
	}
	up := unix.Rlimit{Cur: want, Max: max(rl.Max, want)}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &up, nil); err != nil {
		return found, found, fmt.Errorf("raise the open-file limit of process %d to %d: %w", pid, want, err)
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &rl); err != nil {
		return found, found, err
	}
	return found, nofileLimit{rl.Cur, rl.Max}, nil
}

// clockTicks returns the kernel's USER_HZ (getconf CLK_TCK), 100 if it
// cannot be asked.
func clockTicks(ctx context.Context) int64 {
	out, err := exec.CommandContext(ctx, "getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && v > 0 {
			return v
		}
	}
	return 100 // the value on every Linux architecture Go supports
}
