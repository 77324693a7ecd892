//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// registry keeps every process the benchmark starts, so that all of them
// are stopped on every way out: success, error, timeout or Ctrl-C.
type registry struct {
	mu    sync.Mutex
	procs []*proc
}

// proc is a started child process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	start  time.Time     // just before the process was started
	done   chan struct{} // closed once Wait has returned
	err    error         // Wait's result, valid once done is closed
	stderr *tailBuffer   // the end of its stderr, for error messages
}

// start starts cmd in its own process group (so that the whole group can
// be signalled without touching the benchmark itself) and arranges for
// the kernel to kill it should the benchmark die without cleaning up.
// cmd's stderr, when nil, is kept in a tail buffer for error messages.
func (r *registry) start(name string, cmd *exec.Cmd) (*proc, error) {
	// Pdeathsig is tied to the thread that forks; Go only retires threads
	// that exit while locked, which this program never does.
	if a := cmd.SysProcAttr; a != nil && a.Setsid {
		// A client on a terminal of the benchmark's (see terminal.go):
		// a session of its own makes it a group leader already.
		a.Pdeathsig = syscall.SIGKILL
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	// Grandchildren may inherit stderr (sshd's per-connection processes
	// do); do not let Wait hang on them.
	cmd.WaitDelay = 2 * time.Second
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	if cmd.Stderr == nil {
		p.stderr = &tailBuffer{max: 4 << 10}
		cmd.Stderr = p.stderr
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

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process's group.
func (p *proc) signal(sig syscall.Signal) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// kill kills the process group at once.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

// stop asks the process group to terminate and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	p.kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// wait waits for the process to exit, killing it after timeout or when ctx
// ends. It returns Wait's error, or a timeout error naming the process.
func (p *proc) wait(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		p.kill()
		<-p.done
		return ctx.Err()
	case <-t.C:
		p.kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %v; killed it", p.name, timeout)
	}
}

// describe returns Wait's error with the tail of stderr, for messages.
func (p *proc) describe(err error) string {
	msg := err.Error()
	if p.stderr != nil {
		if s := strings.TrimSpace(p.stderr.String()); s != "" {
			msg += "; stderr: " + s
		}
	}
	return msg
}

// cpu returns the CPU time the process used, once it has exited.
func (p *proc) cpu() time.Duration {
	if p.cmd.ProcessState == nil {
		return 0
	}
	return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
}

// cleanup stops every process still running, the most recently started
// first (clients before the servers they talk to).
func (r *registry) cleanup() {
	r.mu.Lock()
	procs := append([]*proc(nil), r.procs...)
	r.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop(5 * time.Second)
	}
}

// tailBuffer is an io.Writer that keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
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

// procStat is what the benchmark reads from /proc/PID/stat. Times are in
// clock ticks.
type procStat struct {
	comm                         string
	ppid                         int
	utime, stime, cutime, cstime int64
}

// readStat parses /proc/PID/stat.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// comm is in parentheses and may itself contain spaces or ')'.
	s := string(b)
	lp, rp := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if lp < 0 || rp < lp {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[rp+1:])
	// f[0] is field 3 (state) of proc(5); field k is f[k-3].
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	num := func(k int) int64 { v, _ := strconv.ParseInt(f[k-3], 10, 64); return v }
	return procStat{
		comm: s[lp+1 : rp], ppid: int(num(4)),
		utime: num(14), stime: num(15), cutime: num(16), cstime: num(17),
	}, nil
}

// treeTicks is the CPU time of a process and of all its children that it
// has waited for (which, recursively, includes their waited-for children),
// in clock ticks.
func treeTicks(pid int) (int64, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.utime + st.stime + st.cutime + st.cstime, nil
}

// liveTreeTicks is treeTicks of pid plus that of its live descendants:
// the CPU time of the sshd listener and of the per-connection processes of
// a connection that lasts (ssh -L's), in clock ticks.
func liveTreeTicks(pid int) (int64, error) {
	t, err := treeTicks(pid)
	if err != nil {
		return 0, err
	}
	for _, c := range children(pid) {
		if ct, err := liveTreeTicks(c); err == nil { // a child may just have exited
			t += ct
		}
	}
	return t, nil
}

// children returns the pids whose parent is pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(c); err == nil && st.ppid == pid {
			out = append(out, c)
		}
	}
	return out
}

// waitNoChildren waits until pid has no child processes left, so that its
// cumulative children's CPU time includes everything a finished session
// used.
func waitNoChildren(ctx context.Context, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		kids := children(pid)
		if len(kids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var names []string
			for _, k := range kids {
				st, _ := readStat(k)
				names = append(names, fmt.Sprintf("%d (%s)", k, st.comm))
			}
			return fmt.Errorf("process %d still has children after %v: %s", pid, timeout, strings.Join(names, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// writtenBytes returns the bytes a process has passed to write(2) and
// friends so far (wchar in /proc/PID/io), whatever the destination,
// /dev/null included.
func writtenBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "wchar:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("no wchar in /proc/PID/io")
}

// clockTicks returns the kernel's USER_HZ (getconf CLK_TCK) and whether it
// had to be assumed.
func clockTicks() (int64, bool) {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && v > 0 {
			return v, false
		}
	}
	return 100, true // the value on every Linux architecture Go supports
}

// pipe returns a pipe whose ends are in blocking mode, for raw read(2) and
// write(2): the benchmark times single bytes, and a blocking read wakes
// the reading thread directly instead of going through Go's poller.
func pipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	// Fd puts the descriptor in blocking mode.
	r.Fd()
	w.Fd()
	return r, w, nil
}

// rawRead reads from a blocking descriptor, retrying on EINTR. At end of
// file it returns 0 and a nil error, like read(2).
func rawRead(f *os.File, buf []byte) (int, error) {
	for {
		n, err := syscall.Read(int(f.Fd()), buf)
		if err == syscall.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// rawWrite writes all of b to a blocking descriptor.
func rawWrite(f *os.File, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(int(f.Fd()), b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// shellQuote quotes s for a POSIX shell (ssh passes its command through
// the remote user's shell).
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// absPath is filepath.Abs that cannot fail in practice.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
