package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/ptytest"
	"github.com/postern/postern/recording"
)

var sessionIDRE = regexp.MustCompile(`Starting session with SessionId: (\S+)`)

// shellPrompt sets a prompt that the typed command's echo cannot match.
const setPrompt = "export PS1='P''S> '"
const prompt = "PS> "

// readlineDone is what bash prints when readline hands the terminal to the
// command just entered (bracketed paste off).
const readlineDone = "\x1b[?2004l"

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestInteractiveShell is the core promise: a shell on this host through
// the dev server, with exit code, resize, and a complete recording that
// never holds what was typed at a password prompt.
func TestInteractiveShell(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t, "--grace", "10s")

	var nodes []api.Node
	e.jsonOut(ctx, &nodes, "nodes")
	if len(nodes) != 1 || !nodes[0].Online || !strings.HasPrefix(nodes[0].ID, "mi-") || nodes[0].Hostname != hostname(t) {
		t.Fatalf("nodes = %+v, want this host online", nodes)
	}

	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	if !regexp.MustCompile(`^admin-[0-9a-f]{17}$`).MatchString(id) {
		t.Errorf("session id %q is not <user>-<17 hex>", id)
	}
	pty.WriteLine(setPrompt)
	pty.Expect(ctx, prompt)
	pty.WriteLine("echo hel''lo")
	pty.Expect(ctx, "hello")
	pty.Expect(ctx, prompt)

	// Input is recorded while the terminal echoes: a cooked-mode read.
	// (At the bash prompt readline turns ECHO off and echoes by itself, so
	// keystrokes there appear as output only.)
	// read prints its prompt once it reads: typed before that, a line
	// can be lost to bash handing the terminal over (under load it was).
	pty.WriteLine(`read -r -p "in""put> " line; echo "line=$line"`)
	pty.Expect(ctx, readlineDone)
	pty.Expect(ctx, "input> ")
	pty.WriteLine("visible-input")
	pty.Expect(ctx, "line=visible-input")
	pty.Expect(ctx, prompt)

	// A password typed with echo off must not be recorded anywhere.
	const secret = "hunter2-Secret"
	pty.WriteLine(`stty -echo; echo "ready-for-""secret"; read -r -p "pass""word> " pw; stty echo; echo "got ${#pw} chars"`)
	pty.Expect(ctx, "ready-for-secret") // echo is off from here on
	pty.Expect(ctx, "password> ")
	pty.WriteLine(secret)
	pty.Expect(ctx, "got 14 chars")
	pty.Expect(ctx, prompt)

	// The size travels on its own (SIGWINCH to the client, then a resize
	// frame), so a command typed right after may still see the old one, as
	// with ssh; ask until the new size has arrived.
	pty.Resize(100, 30)
	sizeRE := regexp.MustCompile(`[\r\n\a](\d+ \d+)\r\n`) // \a: the end of a shell integration mark
	for try := 1; ; try++ {
		pty.WriteLine("stty size")
		got := pty.ExpectRegexp(ctx, sizeRE)[1]
		pty.Expect(ctx, prompt)
		if got == "30 100" {
			break
		}
		if try == 50 {
			t.Fatalf("stty size still says %q after resizing to 100x30", got)
		}
		time.Sleep(100 * time.Millisecond)
	}

	pty.WriteLine("exit 3")
	if code := pty.Wait(ctx); code != 3 {
		t.Fatalf("connect exited %d, want the shell's 3; output:\n%s", code, pty.Output())
	}

	var sess api.Session
	e.jsonOut(ctx, &sess, "sessions", "show", id)
	if sess.Status != "Terminated" || sess.ExitCode == nil || *sess.ExitCode != 3 {
		t.Errorf("session = %+v, want Terminated with exit code 3", sess)
	}

	cast := e.mustRun(ctx, "logs", "get", id, "--format", "cast")
	hdr, events, err := recording.ReadCast(strings.NewReader(cast))
	if err != nil {
		t.Fatalf("recording is not asciicast v2: %v\n%s", err, cast)
	}
	if hdr.Version != 2 || hdr.Width <= 0 {
		t.Errorf("cast header = %+v", hdr)
	}
	var out, in strings.Builder
	sawResize := false
	for _, ev := range events {
		switch ev.Type {
		case "o":
			out.WriteString(ev.Data)
		case "i":
			in.WriteString(ev.Data)
		case "r":
			sawResize = sawResize || ev.Data == "100x30"
		}
	}
	if !strings.Contains(out.String(), "hello") {
		t.Errorf("cast output lacks hello:\n%q", out.String())
	}
	if !strings.Contains(in.String(), "visible-input") {
		t.Errorf("cast input lacks what was typed with echo on; input events: %q", in.String())
	}
	if !sawResize {
		t.Errorf("cast has no 100x30 resize event")
	}

	log := e.mustRun(ctx, "logs", "get", id)
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "Script started on ") {
		t.Errorf("transcript starts %q", lines[0])
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "Script done on ") || !strings.HasSuffix(last, `[COMMAND_EXIT_CODE="3"]`) {
		t.Errorf("transcript ends %q", last)
	}
	if !strings.Contains(log, "\nhello\n") || strings.Contains(log, "\x1b") {
		t.Errorf("transcript should hold hello as a line and no escape codes:\n%s", log)
	}

	// Nothing anywhere under the data directory holds the password.
	filepath.Walk(filepath.Join(e.dir, "data"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s contains the password typed with echo off", p)
		}
		return nil
	})
	if strings.Contains(cast, secret) || strings.Contains(log, secret) {
		t.Errorf("a recording contains the password typed with echo off")
	}

	if asciinema, err := exec.LookPath("asciinema"); err == nil {
		// asciinema 2's cat wants a terminal.
		f := filepath.Join(t.TempDir(), id+".cast")
		os.WriteFile(f, []byte(cast), 0o600)
		cat := ptytest.Start(t, exec.Command(asciinema, "cat", f))
		cat.Expect(ctx, "hello")
		if code := cat.Wait(ctx); code != 0 {
			t.Errorf("asciinema cat exited %d:\n%s", code, cat.Output())
		}
	} else {
		t.Log("asciinema not installed; skipping the asciinema cat check (scripts/install-test-deps installs it)")
	}
}

// TestControlKeysAndFullScreen checks that control characters reach the
// remote terminal and full-screen programs run.
func TestControlKeysAndFullScreen(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t, "--grace", "10s")
	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	pty.ExpectRegexp(ctx, sessionIDRE)
	pty.WriteLine(setPrompt)
	pty.Expect(ctx, prompt)

	// Ctrl-C interrupts the foreground job, not the session.
	// Whether the SIGINT lands on sleep or on bash before it forks, the
	// command list is abandoned and "slept" is never printed. (Bash
	// ignores a SIGINT that arrives after readline returns and before the
	// list starts, while it prints PS0: wait until the list runs.)
	pty.WriteLine("echo sta''rted; sleep 100; echo sl''ept")
	pty.Expect(ctx, "started\r\n")
	pty.Write("\x03")
	pty.Expect(ctx, prompt)
	pty.WriteLine("echo after-interrupt")
	pty.Expect(ctx, "after-interrupt")
	if strings.Contains(pty.Output(), "slept") {
		t.Errorf("Ctrl-C did not interrupt the command:\n%q", pty.Output())
	}

	// A full-screen program: less switches to the alternate screen and
	// quits on q.
	pty.WriteLine("seq 1 500 | less")
	pty.Expect(ctx, "\x1b[?1049h")
	pty.Write("q")
	pty.Expect(ctx, prompt)

	// Ctrl-D ends the shell with exit code 0.
	pty.Write("\x04")
	if code := pty.Wait(ctx); code != 0 {
		t.Fatalf("connect exited %d after Ctrl-D, want 0", code)
	}
}

// TestDevRestartKeepsState checks that a second `postern dev` on the same
// data directory resumes: same node, same history, sessions work. The
// data directory it restarts on is a backup of the first, taken while it
// ran, restored after the original was lost.
func TestDevRestartKeepsState(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	var before []api.Node
	e.jsonOut(ctx, &before, "nodes")
	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine("echo backed-$((3*5))")
	pty.Expect(ctx, "backed-15")
	pty.WriteLine("exit 0")
	pty.Wait(ctx)

	data, bk := filepath.Join(e.dir, "data"), filepath.Join(e.dir, "backup")
	if out := e.mustRun(ctx, "admin", "backup", bk, "--data", data); !strings.Contains(out, "backed up") {
		t.Errorf("admin backup printed %q", out)
	}
	e.dev.stop(ctx)
	if err := os.Rename(data, data+".lost"); err != nil {
		t.Fatal(err)
	}
	if out := e.mustRun(ctx, "admin", "restore", bk, "--data", data); !strings.Contains(out, "restored") {
		t.Errorf("admin restore printed %q", out)
	}

	e.startDevIn(ctx)
	if log := e.mustRun(ctx, "logs", "get", id); !strings.Contains(log, "backed-15") {
		t.Errorf("the restored recording of %s:\n%s", id, log)
	}
	var after []api.Node
	e.jsonOut(ctx, &after, "nodes")
	if len(after) != 1 || after[0].ID != before[0].ID || !after[0].Online {
		t.Fatalf("after restart nodes = %+v, want %s online", after, before[0].ID)
	}
	var hist []api.Session
	e.jsonOut(ctx, &hist, "sessions", "--state", "history")
	if len(hist) != 1 || hist[0].ID != id {
		t.Fatalf("history after restart = %+v, want %s", hist, id)
	}
	pty = ptytest.Start(t, e.connectCmd(hostname(t)))
	pty.ExpectRegexp(ctx, sessionIDRE)
	pty.WriteLine("exit 7")
	if code := pty.Wait(ctx); code != 7 {
		t.Fatalf("exit code %d, want 7", code)
	}
}

// TestKilledClientEndsSessionCleanly kills `postern connect`; the session
// must end after the grace period with everything recorded.
func TestKilledClientEndsSessionCleanly(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t, "--grace", "1s")
	cmd := e.connectCmd(hostname(t))
	pty := ptytest.Start(t, cmd)
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine("echo before-kill-$((40+2))")
	pty.Expect(ctx, "before-kill-42")
	cmd.Process.Kill()

	sess := waitSession(ctx, t, e, id, func(s api.Session) bool { return s.Status != "Connected" && s.Status != "Terminating" })
	if sess.Status != "Terminated" || sess.StatusReason != "ClientDisconnected" {
		t.Errorf("session = %+v, want Terminated/ClientDisconnected", sess)
	}
	log := e.mustRun(ctx, "logs", "get", id)
	if !strings.Contains(log, "before-kill-42") || !strings.Contains(log, "Script done on") {
		t.Errorf("transcript incomplete:\n%s", log)
	}
}

// waitSession polls a session until cond holds.
func waitSession(ctx context.Context, t *testing.T, e *env, id string, cond func(api.Session) bool) api.Session {
	t.Helper()
	for {
		var s api.Session
		e.jsonOut(ctx, &s, "sessions", "show", id)
		if cond(s) {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("session %s stayed %+v", id, s)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
