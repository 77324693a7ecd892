//go:build linux || darwin

package ptytest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestShell(t *testing.T) {
	t.Parallel()
	ctx := Context(t)
	p := Start(t, exec.Command("/bin/sh"))

	// The arithmetic makes the awaited text differ from the echoed input.
	p.WriteLine("echo $((6*7))")
	p.Expect(ctx, "42\r\n")

	p.WriteLine(`echo "pid=$$ tty=$(tty)"`)
	m := p.ExpectRegexp(ctx, regexp.MustCompile(`pid=(\d+) tty=(\S+)\r\n`))
	if m[1] != strconv.Itoa(p.cmd.Process.Pid) {
		t.Errorf("shell pid = %s, want %d", m[1], p.cmd.Process.Pid)
	}
	if !strings.HasPrefix(m[2], "/dev/") {
		t.Errorf("tty = %q, want a terminal", m[2])
	}

	p.WriteLine("stty size")
	p.Expect(ctx, "24 80\r\n")
	p.Resize(100, 30)
	p.WriteLine("stty size")
	p.Expect(ctx, "30 100\r\n")

	p.WriteLine("exit 3")
	if code := p.Wait(ctx); code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
	if out := p.Output(); !strings.Contains(out, "42\r\n") || !strings.Contains(out, "30 100\r\n") {
		t.Errorf("Output() = %q, missing earlier output", out)
	}
}

func TestOutputCompleteAfterWait(t *testing.T) {
	t.Parallel()
	ctx := Context(t)
	p := Start(t, exec.Command("/bin/sh", "-c", "seq 1 20000; echo the-end"))
	if code := p.Wait(ctx); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if out := p.Output(); !strings.HasSuffix(out, "20000\r\nthe-end\r\n") {
		t.Errorf("output ends %q", out[max(0, len(out)-40):])
	}
}

func TestExpectMovesPastMatch(t *testing.T) {
	t.Parallel()
	ctx := Context(t)
	f := &fakeTB{TB: t}
	p := Start(f, exec.Command("/bin/sh"))
	if msg := f.run(func() {
		p.WriteLine("echo A$((1))B; echo A$((2))B")
		p.Expect(ctx, "A1B")
		p.Expect(ctx, "A2B")
	}); msg != "" {
		t.Fatal(msg)
	}

	// A1B is behind the mark now, so waiting for it again must fail.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	msg := f.run(func() { p.Expect(short, "A1B") })
	for _, want := range []string{"deadline exceeded", `"A1B"`, `\r\n`} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message %q does not contain %q", msg, want)
		}
	}
}

func TestExpectAfterOutputEnds(t *testing.T) {
	t.Parallel()
	ctx := Context(t)
	f := &fakeTB{TB: t}
	p := Start(f, exec.Command("/bin/sh", "-c", "echo bye"))
	msg := f.run(func() { p.Expect(ctx, "never printed") })
	if !strings.Contains(msg, "output ended") || !strings.Contains(msg, `bye\r\n`) {
		t.Errorf("failure message = %q", msg)
	}
}

func TestInterrupt(t *testing.T) {
	t.Parallel()
	ctx := Context(t)
	p := Start(t, exec.Command("cat"))
	p.WriteLine("typed")
	p.Expect(ctx, "typed\r\ntyped\r\n") // the terminal's echo, then cat's copy
	p.Write("\x03")
	if code := p.Wait(ctx); code != 128+int(syscall.SIGINT) {
		t.Errorf("exit code = %d, want %d", code, 128+int(syscall.SIGINT))
	}
}

func TestCleanupKills(t *testing.T) {
	t.Parallel()
	var pid int
	t.Run("start", func(t *testing.T) {
		p := Start(t, exec.Command("sleep", "1000"))
		pid = p.cmd.Process.Pid
	})
	// The subtest's cleanup has killed and reaped it.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("sleep (pid %d) still there after cleanup: kill 0 = %v", pid, err)
	}
}

func TestSignalExitCode(t *testing.T) {
	t.Parallel()
	ctx := Context(t)
	p := Start(t, exec.Command("/bin/sh", "-c", "echo ready; kill -TERM $$"))
	if code := p.Wait(ctx); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit code = %d, want %d", code, 128+int(syscall.SIGTERM))
	}
}

func TestContextDeadline(t *testing.T) {
	t.Parallel()
	ctx := Context(t)
	d, ok := ctx.Deadline()
	if !ok {
		t.Fatal("Context has no deadline")
	}
	if left := time.Until(d); left > DefaultTimeout {
		t.Errorf("deadline in %v, more than DefaultTimeout", left)
	}
	if td, ok := t.Deadline(); ok && d.After(td) {
		t.Errorf("deadline %v after the test's %v", d, td)
	}
}

// fakeTB records the first fatal failure instead of failing the test, so
// that failure paths can be tested. Everything else goes to the real test.
type fakeTB struct {
	testing.TB

	mu  sync.Mutex
	msg string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

// run calls fn in a goroutine, as Fatalf ends the goroutine it runs on, and
// returns the failure message ("" if none).
func (f *fakeTB) run(fn func()) string {
	f.mu.Lock()
	f.msg = ""
	f.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msg
}
