package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"testing"

	"github.com/postern/postern/ptytest"
)

// commandEvents returns a session's command events in Postern's own log
// group, each as command=exitCode (none when absent), with @prompt added
// for a line read off the terminal. It checks that each event says who,
// where and when, and that a line without an exit code has no duration.
func (e *env) commandEvents(id string) []string {
	e.t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(e.mustRun(testCtx(e.t), "logs", "events", "/postern/sessions", id)), "\n") {
		var ev struct {
			EventType  string   `json:"eventType"`
			SessionID  string   `json:"sessionId"`
			Command    string   `json:"command"`
			ExitCode   *int     `json:"exitCode"`
			DurationMS *int64   `json:"durationMs"`
			CastOffset *float64 `json:"castOffset"`
			Prompt     string   `json:"prompt"`
			RunAsUser  string   `json:"runAsUser"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			e.t.Fatalf("event %q: %v", line, err)
		}
		if ev.EventType != "Command" {
			continue
		}
		if ev.SessionID != id || ev.CastOffset == nil || ev.RunAsUser == "" {
			e.t.Errorf("command event lacks who or when: %s", line)
		}
		s := ev.Command + "="
		switch {
		case ev.Prompt != "":
			if ev.ExitCode != nil || ev.DurationMS != nil {
				e.t.Errorf("a line read off the terminal has an exit code or a duration: %s", line)
			}
			s += "none@" + ev.Prompt
		case ev.ExitCode != nil:
			s += fmt.Sprint(*ev.ExitCode)
		default:
			s += "none"
		}
		got = append(got, s)
	}
	return got
}

// TestNestedShellCommandEvents replaces and nests shells inside a session.
// A bash started by exec, or a zsh, marks its commands (exit codes
// included); a shell that cannot be marked (bash with PROMPT_COMMAND
// unset, dash) still gives one event per line entered at its prompt, with
// that prompt and no exit code. A secret typed at a prompt without echo
// appears nowhere.
func TestNestedShellCommandEvents(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine(setPrompt)
	pty.Expect(ctx, prompt)
	step := func(line, next string) {
		t.Helper()
		pty.WriteLine(line)
		pty.Expect(ctx, next)
	}
	want := []string{setPrompt + "=0"}

	// The login bash replaced: the new one finds the hook in its
	// environment. Its own startup files set a prompt of their own, so
	// wait for its first mark (the client sees them) before typing: a
	// line typed while bash goes from reading one line to running it is
	// echoed by the terminal, on the line being run.
	step("exec bash -i", "\x1b]133;A")
	step("PS1='E''X> '", "EX> ")
	step("sh -c 'exit 4'", "EX> ")
	want = append(want, "exec bash -i=none", "PS1='E''X> '=0", "sh -c 'exit 4'=4")

	if _, err := exec.LookPath("zsh"); err == nil {
		step("zsh", "\x1b]133;A")
		step("PS1='Z''S> '", "ZS> ")
		step("false", "ZS> ")
		step("exit 3", "EX> ")
		want = append(want, "zsh=none", "PS1='Z''S> '=0", "false=1", "exit 3=3")
	} else {
		t.Log("zsh is not installed: no nested zsh (scripts/install-test-deps installs it)")
	}

	// A bash that cannot be marked: lines read off the terminal.
	step("env -u PROMPT_COMMAND -u PS0 PS1='N''O> ' bash --norc --noprofile -i", "NO> ")
	step("echo no-$((2+3))", "NO> ")
	// Echo is off once the output says so (read -s would turn it off
	// after its prompt, dropping what was typed before).
	step("stty -echo; echo sec''ret:; read -r s; stty echo; echo got-${#s}", "secret:")
	step("hunter2-secret", "got-14")
	pty.Expect(ctx, "NO> ")
	step("exit", "EX> ")
	want = append(want, "echo no-$((2+3))=none@NO>", "stty -echo; echo sec''ret:; read -r s; stty echo; echo got-${#s}=none@NO>", "exit=none@NO>",
		"env -u PROMPT_COMMAND -u PS0 PS1='N''O> ' bash --norc --noprofile -i=0")

	// dash: no line editor, the terminal echoes.
	step("PS1='D''A> ' dash -i", "DA> ")
	step("echo dash-$((3+4))", "DA> ")
	step("exit 5", "EX> ")
	want = append(want, "echo dash-$((3+4))=none@DA>", "exit 5=none@DA>", "PS1='D''A> ' dash -i=5")

	pty.WriteLine("exit")
	pty.Wait(ctx)
	want = append(want, "exit=none") // the session ends with it
	e.waitDelivered(ctx, id)
	got := e.commandEvents(id)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("command events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	events := e.mustRun(ctx, "logs", "events", "/postern/sessions", id)
	for what, text := range map[string]string{"log events": events, "cast": e.logs(ctx, id, "cast"), "transcript": e.logs(ctx, id, "log")} {
		if strings.Contains(text, "hunter2") {
			t.Errorf("the secret typed without echo is in the %s", what)
		}
	}
}

// TestSuLoginCommandEvents: su - starts the other user's login shell with a
// fresh environment, so no integration; its lines are command events with
// the other user's prompt, and its password never shows.
func TestSuLoginCommandEvents(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("su - to another user without a password, and creating that user, need root (CI runs the tests as root)")
	}
	ctx := testCtx(t)
	name := fmt.Sprintf("pn%x", os.Getpid()&0xffffff)
	if out, err := exec.Command("useradd", "--create-home", "--shell", "/bin/bash", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", "--remove", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(u.HomeDir+"/.profile", []byte("PS1='\\u@db1$ '\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	e := startDev(t)
	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine(setPrompt)
	pty.Expect(ctx, prompt)
	pty.WriteLine("su - " + name)
	pty.Expect(ctx, name+"@db1$ ")
	pty.WriteLine("id -un")
	pty.Expect(ctx, name+"@db1$ ")
	pty.WriteLine("exit 2")
	pty.Expect(ctx, prompt)
	pty.WriteLine("exit")
	pty.Wait(ctx)
	e.waitDelivered(ctx, id)
	got := e.commandEvents(id)
	want := []string{setPrompt + "=0", "id -un=none@" + name + "@db1$", "exit 2=none@" + name + "@db1$", "su - " + name + "=2", "exit=none"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("command events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSSHInsideSessionCommandEvents: a shell on another host, reached with
// ssh from the session, has none of the session's environment, so no
// integration; each line entered at its prompt is an event with that prompt
// and no exit code, and the ssh command itself ends with the remote exit.
func TestSSHInsideSessionCommandEvents(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	port, key := startSSHD(t, ctx)
	e := startDev(t)
	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine(setPrompt)
	pty.Expect(ctx, prompt)
	ssh := fmt.Sprintf("ssh -F /dev/null -i %s -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p %d -t root@127.0.0.1 \"env PS1='R''M> ' bash --norc --noprofile -i\"", key, port)
	pty.WriteLine(ssh)
	pty.Expect(ctx, "RM> ")
	pty.WriteLine("echo remote-$((5*5))")
	pty.Expect(ctx, "remote-25")
	pty.Expect(ctx, "RM> ")
	pty.WriteLine("exit 6")
	pty.Expect(ctx, prompt)
	pty.WriteLine("exit")
	pty.Wait(ctx)
	e.waitDelivered(ctx, id)
	got := e.commandEvents(id)
	want := []string{setPrompt + "=0", "echo remote-$((5*5))=none@RM>", "exit 6=none@RM>", ssh + "=6", "exit=none"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("command events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
