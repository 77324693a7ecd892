//go:build linux

package shell

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/postern/postern/recording"
)

func TestMain(m *testing.M) {
	// Keep hang-up tests fast. Set once, before any test runs, so there is
	// no race with tests running in parallel.
	hangupGrace = 100 * time.Millisecond
	drainWindow = 50 * time.Millisecond
	os.Exit(m.Run())
}

// term drives a Process: a goroutine copies its output into a buffer that
// expect searches.
type term struct {
	t *testing.T
	p *Process

	mu     sync.Mutex    // guards the fields below
	buf    []byte        // all output read so far
	mark   int           // offset in buf where the next expect starts searching
	err    error         // why reading stopped; nil while it goes on
	notify chan struct{} // closed and replaced when buf grows or err is set

	done chan struct{} // closed when the reader returns
}

func start(t *testing.T, ctx context.Context, s Spec) *term {
	t.Helper()
	p, err := Start(ctx, s)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	tm := &term{t: t, p: p, notify: make(chan struct{}), done: make(chan struct{})}
	go tm.read()
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		<-tm.done
	})
	return tm
}

func (tm *term) read() {
	defer close(tm.done)
	b := make([]byte, 4096)
	for {
		n, err := tm.p.Read(b)
		tm.mu.Lock()
		tm.buf = append(tm.buf, b[:n]...)
		if err != nil {
			tm.err = err
		}
		close(tm.notify)
		tm.notify = make(chan struct{})
		tm.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (tm *term) write(s string) {
	tm.t.Helper()
	if _, err := tm.p.Write([]byte(s)); err != nil {
		tm.t.Fatalf("Write(%q): %v", s, err)
	}
}

// expect waits until the output since the last match contains s.
func (tm *term) expect(ctx context.Context, s string) {
	tm.t.Helper()
	for {
		tm.mu.Lock()
		rest := tm.buf[tm.mark:]
		if i := bytes.Index(rest, []byte(s)); i >= 0 {
			tm.mark += i + len(s)
			tm.mu.Unlock()
			return
		}
		readErr, notify := tm.err, tm.notify
		tail := string(rest[max(0, len(rest)-500):])
		tm.mu.Unlock()
		if readErr != nil {
			tm.t.Fatalf("output ended (%v) before %q; got %q", readErr, s, tail)
		}
		select {
		case <-notify:
		case <-ctx.Done():
			tm.t.Fatalf("%v waiting for %q; got %q", ctx.Err(), s, tail)
		}
	}
}

// expectRegexp waits until the output since the last match matches re and
// returns the submatches.
func (tm *term) expectRegexp(ctx context.Context, re *regexp.Regexp) []string {
	tm.t.Helper()
	for {
		tm.mu.Lock()
		rest := tm.buf[tm.mark:]
		if m := re.FindSubmatch(rest); m != nil {
			tm.mark += bytes.Index(rest, m[0]) + len(m[0])
			tm.mu.Unlock()
			out := make([]string, len(m))
			for i, b := range m {
				out[i] = string(b)
			}
			return out
		}
		readErr, notify := tm.err, tm.notify
		tail := string(rest[max(0, len(rest)-500):])
		tm.mu.Unlock()
		if readErr != nil {
			tm.t.Fatalf("output ended (%v) before a match for %v; got %q", readErr, re, tail)
		}
		select {
		case <-notify:
		case <-ctx.Done():
			tm.t.Fatalf("%v waiting for a match for %v; got %q", ctx.Err(), re, tail)
		}
	}
}

// output waits for Read to report the end of output and returns all of it.
func (tm *term) output(ctx context.Context) string {
	tm.t.Helper()
	select {
	case <-tm.done:
	case <-ctx.Done():
		tm.t.Fatalf("%v waiting for end of output", ctx.Err())
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.err != io.EOF {
		tm.t.Fatalf("Read ended with %v, want io.EOF", tm.err)
	}
	return string(tm.buf)
}

func (tm *term) wait(ctx context.Context) int {
	tm.t.Helper()
	type result struct {
		code int
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		code, err := tm.p.Wait()
		ch <- result{code, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			tm.t.Fatalf("Wait: %v", r.err)
		}
		return r.code
	case <-ctx.Done():
		tm.mu.Lock()
		tail := string(tm.buf[max(0, len(tm.buf)-500):])
		tm.mu.Unlock()
		tm.t.Fatalf("%v waiting for exit; output ends %q", ctx.Err(), tail)
		return 0
	}
}

// waitForeground waits until the terminal's foreground job is a process
// called comm, so that a Ctrl-C written now reaches it and not the shell.
// It polls: there is no event for "the foreground process group changed".
func (tm *term) waitForeground(ctx context.Context, comm string) {
	tm.t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var pgrp int
		var ierr error
		if err := tm.p.conn.Control(func(fd uintptr) {
			pgrp, ierr = unix.IoctlGetInt(int(fd), unix.TIOCGPGRP)
		}); err != nil {
			tm.t.Fatal(err)
		}
		if ierr == nil && pgrp != tm.p.Pid() {
			// The group leader has exec'd once its name is comm; before
			// that it is still a copy of the shell.
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pgrp)); err == nil && strings.TrimSpace(string(b)) == comm {
				return
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			tm.t.Fatalf("%v waiting for %s in the foreground", ctx.Err(), comm)
		}
	}
}

// bash is an interactive bash that reads no startup files, for tests that
// must not depend on the node's dotfiles.
var bash = []string{"/bin/bash", "--norc", "--noprofile", "-i"}

func TestCommandExitCode(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tm := start(t, ctx, Spec{Command: []string{"/bin/sh", "-c", "echo hello; exit 3"}})
	if code := tm.wait(ctx); code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
	if out := tm.output(ctx); !strings.Contains(out, "hello\r\n") {
		t.Errorf("output = %q, want hello", out)
	}
	// Wait reports the same result every time.
	if code, err := tm.p.Wait(); code != 3 || err != nil {
		t.Errorf("second Wait = %d, %v; want 3, nil", code, err)
	}
}

func TestLoginShell(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	want := loginShellFor(ctx, u.Username)
	if !strings.HasSuffix(want, "bash") {
		t.Skipf("login shell of %s is %s, not bash", u.Username, want)
	}
	tm := start(t, ctx, Spec{})
	tm.write("echo $((6*7))\r")
	tm.expect(ctx, "42\r\n")
	// argv[0] starts with "-": bash considers itself a login shell.
	tm.write(`echo "<$0|$TERM|$(shopt -q login_shell && echo login)>"` + "\r")
	tm.expect(ctx, "<-bash|xterm-256color|login>")
	tm.write("exit 0\r")
	if code := tm.wait(ctx); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
}

// TestBashIntegration runs commands in a login bash with integration: the
// startup files still run, and the output carries the OSC 133 marks from
// which the recorder makes command events, with each command's line and
// exit code.
func TestBashIntegration(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if sh := loginShellFor(ctx, u.Username); !strings.HasSuffix(sh, "bash") {
		t.Skipf("login shell of %s is %s, not bash", u.Username, sh)
	}
	// A login startup file, to show the integration reads them.
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".bash_profile"), []byte("export FROM_PROFILE=yes\nPS1='my-prompt$ '\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tm := start(t, ctx, Spec{Integration: true, Env: []string{"HOME=" + home}})
	tm.expect(ctx, "my-prompt$ ")
	tm.write("echo profile=$FROM_PROFILE\r")
	tm.expect(ctx, "profile=yes\r\n")
	tm.write("false\r")
	tm.expect(ctx, "\x1b]133;D;1\x07")
	tm.write("(exit 7)\r")
	tm.expect(ctx, "\x1b]133;D;7\x07")
	tm.write("exit 0\r")
	if code := tm.wait(ctx); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}

	checkCommands(t, tm.output(ctx), "echo profile=$FROM_PROFILE=0/true", "false=1/true", "(exit 7)=7/true", "exit 0=0/false")
}

// checkCommands checks the commands the recorder finds in a session's
// output, each as line=exit/hasExit, and that it strips the marks.
func checkCommands(t *testing.T, output string, want ...string) {
	t.Helper()
	tr := recording.NewCommandTracker(80)
	clean, cmds := tr.Feed(nil, 0, []byte(output))
	_, more := tr.Close(clean, 0)
	cmds = append(cmds, more...)
	var got []string
	for _, c := range cmds {
		got = append(got, fmt.Sprintf("%s=%d/%v", c.Line, c.ExitCode, c.HasExit))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("commands %q, want %q\noutput: %q", got, want, output)
	}
	if bytes.Contains(clean, []byte("133;")) {
		t.Errorf("marks left in the output: %q", clean)
	}
}

// TestZshIntegration: a user whose login shell is zsh gets the same marks,
// and zsh still reads the user's startup files, from their home. At the
// prompt ZDOTDIR is as the user left it: unset.
func TestZshIntegration(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("zsh is not installed (scripts/install-test-deps installs it)")
	}
	u := throwawayUser(t)
	ensureMu.Lock()
	out, err := exec.Command("usermod", "--shell", zsh, u.Username).CombinedOutput()
	ensureMu.Unlock()
	if err != nil {
		t.Fatalf("usermod: %v: %s", err, out)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for name, text := range map[string]string{
		".zshenv":   "export FROM_ZSHENV=yes\n",
		".zprofile": "export FROM_ZPROFILE=yes\n",
		".zshrc":    "export FROM_ZSHRC=yes\nPS1='zsh-prompt%# '\nshow() { print -r -- \"zd=${ZDOTDIR-unset}.\" }\nprecmd_functions+=(show)\n",
		".zlogin":   "export FROM_ZLOGIN=yes\n",
	} {
		p := filepath.Join(u.HomeDir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	tm := start(t, ctx, Spec{User: u.Username, Integration: true})
	tm.expect(ctx, "zd=unset.")
	tm.expect(ctx, "zsh-prompt% ")
	tm.write("echo $FROM_ZSHENV,$FROM_ZPROFILE,$FROM_ZSHRC,$FROM_ZLOGIN\r")
	tm.expect(ctx, "yes,yes,yes,yes\r\n")
	tm.expect(ctx, "zd=unset.")
	tm.write("false\r")
	tm.expect(ctx, "\x1b]133;D;1\x07")
	tm.write("(exit 7)\r")
	tm.expect(ctx, "\x1b]133;D;7\x07")
	tm.write("exit 0\r")
	if code := tm.wait(ctx); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	checkCommands(t, tm.output(ctx), "echo $FROM_ZSHENV,$FROM_ZPROFILE,$FROM_ZSHRC,$FROM_ZLOGIN=0/true", "false=1/true", "(exit 7)=7/true", "exit 0=0/false")
}

func TestEcho(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tm := start(t, ctx, Spec{Command: bash})
	// The checks happen while bash's read builtin waits for a line: then
	// the terminal is in the mode stty left it in. (At the prompt, readline
	// turns echo off to draw the line itself.) The arithmetic makes the
	// awaited text differ from the echoed command line.
	tm.write("PS1='$((20+1))P '\r")
	tm.expect(ctx, "21P ")
	// At the prompt readline reads each key and draws it itself.
	if echo, canon, err := tm.p.Modes(); echo || canon || err != nil {
		t.Errorf("at readline's prompt, Modes() = echo %v, canonical %v, %v; want neither", echo, canon, err)
	}
	tm.write("stty -echo; echo $((40+1))X; read -r secret\r")
	tm.expect(ctx, "41X")
	if tm.p.Echo() {
		t.Errorf("Echo() = true after stty -echo")
	}
	// A prompt for a secret: a whole line, without echo.
	if echo, canon, err := tm.p.Modes(); echo || !canon || err != nil {
		t.Errorf("at read's prompt after stty -echo, Modes() = echo %v, canonical %v, %v; want a line without echo", echo, canon, err)
	}
	tm.write("hunter2\r")
	tm.write("stty echo; echo $((40+2))Y; read -r line\r")
	tm.expect(ctx, "42Y")
	if !tm.p.Echo() {
		t.Errorf("Echo() = false after stty echo")
	}
	tm.write("visible\r")
	tm.expect(ctx, "visible")

	tm.p.Close()
	if tm.p.Echo() {
		t.Errorf("Echo() = true after Close; want false (fail closed)")
	}
	if _, _, err := tm.p.Modes(); err == nil {
		t.Errorf("Modes() after Close: no error")
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if bytes.Contains(tm.buf, []byte("hunter2")) {
		t.Errorf("input typed with echo off appeared in the output: %q", tm.buf)
	}
}

func TestResize(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tm := start(t, ctx, Spec{
		Command: []string{"/bin/sh", "-c", "stty size; read x; stty size; read x"},
		Cols:    90, Rows: 30,
	})
	tm.expect(ctx, "30 90\r\n")
	if err := tm.p.Resize(132, 43); err != nil {
		t.Fatal(err)
	}
	tm.write("\r")
	tm.expect(ctx, "43 132\r\n")

	def := start(t, ctx, Spec{Command: []string{"stty", "size"}})
	def.expect(ctx, "24 80\r\n")
}

func TestInterruptAndJobControl(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tm := start(t, ctx, Spec{Command: bash})

	tm.write("sleep 1000\r")
	tm.waitForeground(ctx, "sleep")
	tm.write("\x03")
	tm.write("echo rc=$?\r")
	tm.expect(ctx, "rc=130") // 128+SIGINT: the job, not the shell, got it

	tm.write("sleep 1000\r")
	tm.waitForeground(ctx, "sleep")
	tm.write("\x1a") // Ctrl-Z
	tm.expect(ctx, "Stopped")
	tm.write("echo $((5*5))K\r")
	tm.expect(ctx, "25K") // the shell has its terminal back
	tm.write("fg\r")
	tm.waitForeground(ctx, "sleep")
	tm.write("\x03")
	tm.write("echo rc=$?\r")
	tm.expect(ctx, "rc=130")

	tm.write("exit 4\r")
	if code := tm.wait(ctx); code != 4 {
		t.Errorf("exit code = %d, want 4", code)
	}
}

func TestOutputTail(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tm := start(t, ctx, Spec{Command: []string{"/bin/sh", "-c", "seq 1 100000; exit 0"}})
	var want strings.Builder
	for i := 1; i <= 100000; i++ {
		want.WriteString(strconv.Itoa(i))
		want.WriteString("\r\n")
	}
	out := tm.output(ctx)
	if out != want.String() {
		t.Errorf("got %d bytes ending in %q; want %d bytes ending in %q",
			len(out), out[max(0, len(out)-20):], want.Len(), want.String()[want.Len()-20:])
	}
	if code := tm.wait(ctx); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
}

func TestOutputReadAfterExit(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p, err := Start(ctx, Spec{Command: []string{"/bin/sh", "-c", "echo late-output"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if code, err := p.Wait(); code != 0 || err != nil {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	// Nobody has read yet, and Read no longer blocks for more output: what
	// the shell wrote must still be there.
	<-p.drainStarted
	out, err := io.ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "late-output\r\n" {
		t.Errorf("output = %q, want %q", out, "late-output\r\n")
	}
}

func TestBackgroundJobHoldsTerminal(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	// The background sleep ignores the hang-up and keeps the terminal open
	// after the shell exits, so the master never reports end of file.
	tm := start(t, ctx, Spec{Command: []string{"/bin/sh", "-c", `trap "" HUP; sleep 1000 & echo "bg=$!"`}})
	m := tm.expectRegexp(ctx, regexp.MustCompile(`bg=(\d+)\r\n`))
	if pid, err := strconv.Atoi(m[1]); err == nil {
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	}
	if code := tm.wait(ctx); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	tm.output(ctx) // returns only if Read stops blocking
}

func TestSignal(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tm := start(t, ctx, Spec{Command: []string{"sleep", "1000"}})
	if err := tm.p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := tm.wait(ctx); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit code = %d, want %d", code, 128+int(syscall.SIGTERM))
	}
	if err := tm.p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit = %v, want os.ErrProcessDone", err)
	}
}

func TestContextEndHangsUp(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	sctx, cancel := context.WithCancel(ctx)
	tm := start(t, sctx, Spec{Command: []string{"sleep", "1000"}})
	cancel()
	if code := tm.wait(ctx); code != 128+int(syscall.SIGHUP) {
		t.Errorf("exit code = %d, want %d (SIGHUP)", code, 128+int(syscall.SIGHUP))
	}
}

// TestHangupUnderNohup: an agent started with SIGHUP ignored (nohup, some
// service managers) still hangs its commands up with SIGHUP, not SIGKILL
// after the grace period: ignored signals stay ignored across exec, so
// the package must not pass that on. The test runs itself again under
// nohup.
func TestHangupUnderNohup(t *testing.T) {
	if os.Getenv("POSTERN_SHELL_NOHUP") == "" {
		cmd := exec.Command("nohup", os.Args[0], "-test.run=^TestHangupUnderNohup$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "POSTERN_SHELL_NOHUP=1")
		if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("--- PASS")) {
			t.Fatalf("under nohup: %v\n%s", err, out)
		}
		return
	}
	if !signal.Ignored(syscall.SIGHUP) {
		t.Fatal("nohup did not start the test with SIGHUP ignored")
	}
	ctx := testContext(t)
	sctx, cancel := context.WithCancel(ctx)
	tm := start(t, sctx, Spec{Command: []string{"/bin/sh", "-c", "echo ready; exec sleep 1000"}})
	tm.expect(ctx, "ready")
	cancel()
	if code := tm.wait(ctx); code != 128+int(syscall.SIGHUP) {
		t.Errorf("exit code = %d, want %d (SIGHUP)", code, 128+int(syscall.SIGHUP))
	}
}

func TestCloseKillsWhatIgnoresHangup(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tm := start(t, ctx, Spec{Command: []string{"/bin/sh", "-c", `trap "" HUP; echo ready; sleep 1000`}})
	tm.expect(ctx, "ready")
	if err := tm.p.Close(); err != nil {
		t.Fatal(err)
	}
	if code := tm.wait(ctx); code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit code = %d, want %d (SIGKILL)", code, 128+int(syscall.SIGKILL))
	}
	if err := tm.p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := tm.p.Read(make([]byte, 10)); err != io.EOF {
		t.Errorf("Read after Close = %v, want io.EOF", err)
	}
}

func TestEnvironment(t *testing.T) {
	// Not parallel: t.Setenv.
	t.Setenv("POSTERN_TEST_SECRET", "leaked")
	ctx := testContext(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	tm := start(t, ctx, Spec{
		Command: []string{"/bin/sh", "-c", `echo "<$HOME|$USER|$LOGNAME|$PATH|$TERM|${POSTERN_TEST_SECRET-unset}|$FOO|$(pwd)>"`},
		Env:     []string{"FOO=1", "FOO=2"},
		Term:    "vt100",
		Dir:     "/tmp",
	})
	want := fmt.Sprintf("<%s|%s|%s|%s|vt100|unset|2|/tmp>", u.HomeDir, u.Username, u.Username, DefaultPath)
	tm.expect(ctx, want)

	tm = start(t, ctx, Spec{Command: []string{"/bin/sh", "-c", `echo "<$TERM|$(pwd)>"`}})
	tm.expect(ctx, fmt.Sprintf("<%s|%s>", DefaultTerm, workDir("", u.HomeDir)))
}

// throwawayUser creates a user for the test and deletes it afterwards.
func throwawayUser(t *testing.T) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating users needs root")
	}
	var b [4]byte
	rand.Read(b[:])
	name := "pt" + hex.EncodeToString(b[:])
	created, err := EnsureUser(testContext(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatalf("EnsureUser(%q) created = false for a new name", name)
	}
	t.Cleanup(func() {
		// Serialize with EnsureUser: useradd and userdel fail rather than
		// wait when the other holds the passwd lock.
		ensureMu.Lock()
		defer ensureMu.Unlock()
		if out, err := exec.Command("userdel", "--remove", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestEnsureUser(t *testing.T) {
	t.Parallel()
	u := throwawayUser(t)
	if u.Uid == "0" {
		t.Errorf("new user has uid 0")
	}
	gids, err := u.GroupIds()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gids, []string{u.Gid}) {
		t.Errorf("new user's groups = %v, want only its own group %s", gids, u.Gid)
	}
	if fi, err := os.Stat(u.HomeDir); err != nil || !fi.IsDir() {
		t.Errorf("home %s: %v", u.HomeDir, err)
	}
	created, err := EnsureUser(testContext(t), u.Username)
	if err != nil || created {
		t.Errorf("EnsureUser on an existing user = %v, %v; want false, nil", created, err)
	}
}

func TestRunAsUser(t *testing.T) {
	t.Parallel()
	u := throwawayUser(t)
	ctx := testContext(t)
	tm := start(t, ctx, Spec{User: u.Username})
	tm.write(`echo "<$0|$(id -un)|$(id -u)|$(id -G)|$HOME|$(pwd)|$(stat -c %U "$(tty)")>"` + "\r")
	m := tm.expectRegexp(ctx, regexp.MustCompile(`<(-\w+)\|([\w-]+)\|(\d+)\|([\d ]+)\|([^|]*)\|([^|]*)\|([\w-]+)>`))
	if m[2] != u.Username || m[3] != u.Uid {
		t.Errorf("running as %s (%s), want %s (%s)", m[2], m[3], u.Username, u.Uid)
	}
	if groups := strings.Fields(m[4]); !slices.Equal(groups, []string{u.Gid}) {
		t.Errorf("groups = %v, want only %s (none of root's)", groups, u.Gid)
	}
	if m[5] != u.HomeDir || m[6] != u.HomeDir {
		t.Errorf("HOME=%s, cwd %s; want both %s", m[5], m[6], u.HomeDir)
	}
	if m[7] != u.Username {
		t.Errorf("terminal device owned by %s, want %s", m[7], u.Username)
	}
	if m[1] != "-bash" {
		t.Errorf("$0 = %s, want -bash (the shell EnsureUser sets)", m[1])
	}
	tm.write("exit\r")
	tm.wait(ctx)
}

func TestUnknownUser(t *testing.T) {
	t.Parallel()
	_, err := Start(testContext(t), Spec{User: "postern-no-such-user", Command: []string{"true"}})
	if !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("err = %v, want ErrUnknownUser", err)
	}
	if want := `shell: user "postern-no-such-user" does not exist on this node`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	for _, tt := range []struct {
		name string
		spec Spec
		want string
	}{
		{"empty command", Spec{Command: []string{}}, "empty command"},
		{"not in PATH", Spec{Command: []string{"postern-no-such-program"}}, "shell: start postern-no-such-program: executable file not found"},
		{"missing file", Spec{Command: []string{"/nonexistent/prog"}}, "shell: start /nonexistent/prog:"},
		{"bad env", Spec{Command: []string{"true"}, Env: []string{"NOEQUALS"}}, `bad environment entry "NOEQUALS"`},
		{"missing dir", Spec{Command: []string{"true"}, Dir: "/nonexistent"}, "shell: start true:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(ctx, tt.spec)
			if err == nil {
				p.Close()
				t.Fatalf("Start succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Start(cctx, Spec{Command: []string{"true"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with a canceled context = %v, want context.Canceled", err)
	}
}
