package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/api"
	"github.com/postern/postern/ptytest"
)

// TestTerminateAndPlay ends a live session from another terminal, then
// replays its recording.
func TestTerminateAndPlay(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	pty := ptytest.Start(t, e.connectCmd(hostname(t)))
	id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
	pty.WriteLine("echo play-me-$((1+1))")
	pty.Expect(ctx, "play-me-2")

	var active []api.Session
	e.jsonOut(ctx, &active, "sessions", "--state", "active")
	if len(active) != 1 || active[0].ID != id || active[0].Status != "Connected" {
		t.Fatalf("active sessions = %+v", active)
	}
	// --target takes the node's name as well as its id (issue 17, item 7).
	var byName []api.Session
	e.jsonOut(ctx, &byName, "sessions", "--target", hostname(t))
	if len(byName) != 1 || byName[0].ID != id {
		t.Fatalf("sessions --target %s = %+v", hostname(t), byName)
	}
	out := e.mustRun(ctx, "terminate", id)
	if !strings.Contains(out, id) {
		t.Errorf("terminate printed %q", out)
	}
	if code := pty.Wait(ctx); code == 0 {
		t.Errorf("connect exited 0 after its session was terminated")
	}
	s := waitSession(ctx, t, e, id, func(s api.Session) bool { return s.Status == "Terminated" })
	if s.StatusReason != "TerminatedByUser" {
		t.Errorf("status reason %q, want TerminatedByUser", s.StatusReason)
	}
	if _, errOut, code := e.run(ctx, "terminate", id); code != 1 || !strings.Contains(errOut, "already ended") {
		t.Errorf("terminating an ended session: exit %d, %q", code, errOut)
	}

	played := e.mustRun(ctx, "logs", "play", id, "--speed", "1000")
	if !strings.Contains(played, "play-me-2") {
		t.Errorf("logs play output lacks the session's output:\n%q", played)
	}
	csv := e.mustRun(ctx, "sessions", "-o", "csv")
	if !strings.HasPrefix(csv, "SESSION,OWNER,TARGET,TARGET NAME,TYPE,STATUS") || !strings.Contains(csv, id) {
		t.Errorf("sessions -o csv:\n%s", csv)
	}
}

// TestClearErrors checks the refusals a user meets most: each is one line
// that says what is wrong, with exit code 1 (2 for usage mistakes).
func TestClearErrors(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown node", []string{"connect", "no-such-node"}, 1, `no node named "no-such-node"`},
		{"unknown node id", []string{"connect", "mi-00000000000000000"}, 1, "is not registered"},
		{"unknown session", []string{"sessions", "show", "admin-00000000000000000"}, 1, "does not exist"},
		{"bad format", []string{"logs", "get", "x", "--format", "pdf"}, 2, "must be log or cast"},
		{"missing argument", []string{"connect"}, 2, "takes one node"},
		{"bad flag", []string{"nodes", "--bogus"}, 2, "unknown flag"},
		{"wrong password", []string{"login", "-u", "admin"}, 1, "wrong user name or password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.CommandContext(ctx, bin, tt.args...)
			cmd.Env = append(e.vars(), "POSTERN_PASSWORD=not-the-password", "PATH=/usr/bin:/bin")
			var so, se strings.Builder
			cmd.Stdout, cmd.Stderr = &so, &se
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tt.code || !strings.Contains(se.String(), tt.want) {
				t.Errorf("postern %v: exit %d, stderr %q; want exit %d and %q", tt.args, code, se.String(), tt.code, tt.want)
			}
			if tt.code == 1 && strings.Count(strings.TrimSpace(se.String()), "\n") > 0 {
				t.Errorf("want one line, got:\n%s", se.String())
			}
		})
	}
	// A wrong password at login leaves the login there was in place, a
	// password login with its refresh token included (issue 17, item 1).
	pw, err := os.ReadFile(filepath.Join(e.dir, "data", "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range []string{strings.TrimSpace(string(pw)), "not-the-password"} {
		cmd := exec.CommandContext(ctx, bin, "login", "-u", "admin")
		cmd.Env = append(e.vars(), "POSTERN_PASSWORD="+p)
		out, err := cmd.CombinedOutput()
		if (err == nil) != (i == 0) {
			t.Fatalf("login %d: %v\n%s", i, err, out)
		}
	}
	if out, errOut, code := e.run(ctx, "whoami"); code != 0 {
		t.Errorf("whoami after a refused login: exit %d: %s%s", code, out, errOut)
	}
	// Not logged in at all.
	cmd := exec.CommandContext(ctx, bin, "nodes")
	cmd.Env = []string{"POSTERN_HOME=" + t.TempDir(), "HOME=" + t.TempDir()}
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "postern login") {
		t.Errorf("not logged in: exit %d, %q", cmd.ProcessState.ExitCode(), out)
	}
}

// TestExec runs a command and passes its output and exit code through.
func TestExec(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	out, _, code := e.run(ctx, "exec", hostname(t), "--", "sh", "-c", "echo out-$((2*21)); exit 6")
	if code != 6 || !strings.Contains(out, "out-42") {
		t.Errorf("exec: exit %d, stdout %q; want 6 and out-42", code, out)
	}
	if _, errOut, code := e.run(ctx, "exec", hostname(t)); code != 2 || !strings.Contains(errOut, "usage") {
		t.Errorf("exec without a command: exit %d, %q", code, errOut)
	}
}
