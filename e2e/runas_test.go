package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/postern/postern/api"
	"github.com/postern/postern/ptytest"
)

// addUser creates an OS user for the test with useradd's options and
// removes it, with its home, when the test ends.
func addUser(t *testing.T, name string, options ...string) {
	t.Helper()
	args := append([]string{"--shell", "/bin/sh"}, options...)
	if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		// --force: a second name for root is "in use" by every root
		// process, and userdel warns (but removes it) only then.
		del := []string{"--force", name}
		if slices.Contains(options, "--create-home") {
			del = append([]string{"--remove"}, del...)
		}
		out, err := exec.Command("userdel", del...).CombinedOutput()
		if _, lerr := user.Lookup(name); lerr == nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
}

// TestRunAs runs sessions as OS users created for the test: the
// preferences' runAsDefaultUser, a user's runAs attribute winning over it,
// and root only when runAsAllowRoot says so. A run-as user that does not
// exist on the node is refused, with no fallback to another user.
func TestRunAs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("run-as needs root: the test creates OS users (useradd) and the agent switches to them; the tests run as root in CI")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("useradd not installed")
	}
	t.Parallel()
	ctx := testCtx(t)
	n := os.Getpid() % 100000
	def, attr := fmt.Sprintf("pe-def-%d", n), fmt.Sprintf("pe-attr-%d", n)
	toor := fmt.Sprintf("pe-toor-%d", n) // root by another name
	missing := fmt.Sprintf("pe-missing-%d", n)
	addUser(t, def, "--create-home")
	addUser(t, attr, "--create-home")
	// --non-unique --uid 0: a second name for root, as BSD's toor.
	addUser(t, toor, "--non-unique", "--uid", "0", "--gid", "0", "--no-create-home")

	e := startDev(t)
	c := e.api()
	node := hostname(t)
	prefs := func(defaultUser string, allowRoot bool) string {
		return fmt.Sprintf(`{"schemaVersion": "1.0", "sessionType": "Standard_Stream",
"inputs": {"runAsEnabled": true, "runAsDefaultUser": %q, "runAsAllowRoot": %t}}`, defaultUser, allowRoot)
	}

	// The attribute, through the CLI once.
	if out := e.mustRun(ctx, "users", "set-attr", "admin", "runAs="+attr); out != "User admin: groups administrators, runAs "+attr+"\n" {
		t.Errorf("users set-attr: %q", out)
	}
	if _, errOut, code := e.run(ctx, "users", "set-attr", "admin", "runAs=-rf"); code != 1 || !strings.Contains(errOut, `runAs: "-rf" is not a valid user name`) {
		t.Errorf("set-attr runAs=-rf: exit %d, %q", code, errOut)
	}
	if _, errOut, code := e.run(ctx, "users", "set-attr", "admin", "shell=/bin/zsh"); code != 2 || !strings.Contains(errOut, `unknown attribute "shell"`) {
		t.Errorf("set-attr shell=: exit %d, %q", code, errOut)
	}

	tests := []struct {
		name        string
		defaultUser string
		allowRoot   bool
		attr        string // the user's runAs attribute
		want        string // whoami in the session
		wantErr     string // or this refusal
		agentRefuse bool   // the agent refuses (a Failed session), not the server (no session)
	}{
		{name: "runAsDefaultUser", defaultUser: def, want: def},
		{name: "the user's runAs wins over runAsDefaultUser", defaultUser: def, attr: attr, want: attr},
		{name: "a runAs user missing on the node is refused", defaultUser: def, attr: missing,
			wantErr: "we couldn't start the session because the run-as user " + missing + " does not exist on this node", agentRefuse: true},
		{name: "a runAsDefaultUser missing on the node is refused", defaultUser: missing,
			wantErr: "the run-as user " + missing + " does not exist on this node", agentRefuse: true},
		{name: "root is refused", defaultUser: def, attr: "root",
			wantErr: "we couldn't start the session as root: the preferences do not allow it (set inputs.runAsAllowRoot to true"},
		{name: "root by another name is refused", defaultUser: toor,
			wantErr: "the run-as user " + toor + " is root, which the session preferences do not allow", agentRefuse: true},
		{name: "root with runAsAllowRoot", defaultUser: def, allowRoot: true, attr: "root", want: "root"},
		{name: "no runAs again: runAsDefaultUser", defaultUser: def, allowRoot: true, want: def},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.SetPreferences(ctx, prefs(tt.defaultUser, tt.allowRoot)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.SetUserAttributes(ctx, "admin", api.SetUserAttributesRequest{RunAs: &tt.attr}); err != nil {
				t.Fatal(err)
			}
			before := len(e.sessions(ctx))
			out, errOut, code := e.run(ctx, "exec", node, "--", "sh", "-c", `echo "I am $(id -un) ($(id -u))"`)
			after := e.sessions(ctx)
			if tt.wantErr == "" {
				if code != 0 || !strings.Contains(out, "I am "+tt.want+" (") {
					t.Fatalf("exec: exit %d, stdout %q, stderr %q; want it to run as %s", code, out, errOut, tt.want)
				}
				if s := e.waitEnded(ctx, after[0].ID); s.RunAsUser != tt.want || s.Status != "Terminated" {
					t.Errorf("session = %+v, want Terminated, run as %s", s, tt.want)
				}
				return
			}
			if code != 1 || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exec: exit %d, stderr %q; want exit 1 and %q", code, errOut, tt.wantErr)
			}
			if out != "" {
				t.Errorf("something ran, with no run-as user to run as: %q", out)
			}
			switch {
			case !tt.agentRefuse && len(after) != before:
				t.Errorf("the server refused, yet %d sessions were recorded", len(after)-before)
			case tt.agentRefuse && (len(after) != before+1 || after[0].Status != "Failed" || after[0].StatusReason != "StartFailed"):
				t.Errorf("want one Failed/StartFailed session in the history, got %+v", after[:len(after)-before])
			}
		})
	}

	// An interactive shell runs as the run-as user too.
	if _, err := c.SetPreferences(ctx, prefs(def, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetUserAttributes(ctx, "admin", api.SetUserAttributesRequest{RunAs: &attr}); err != nil {
		t.Fatal(err)
	}
	pty := ptytest.Start(t, e.connectCmd(node))
	pty.ExpectRegexp(ctx, sessionIDRE)
	pty.WriteLine("echo whoami says $(whoami)")
	pty.Expect(ctx, "whoami says "+attr)
	pty.WriteLine("exit 0")
	if code := pty.Wait(ctx); code != 0 {
		t.Errorf("connect exited %d", code)
	}

	// Changing the runAs ends a shell running as the old one, and its
	// terminal says why.
	pty = ptytest.Start(t, e.connectCmd(node))
	pty.ExpectRegexp(ctx, sessionIDRE)
	pty.WriteLine("echo whoami says $(whoami)")
	pty.Expect(ctx, "whoami says "+attr)
	e.mustRun(ctx, "users", "set-attr", "admin", "runAs="+def)
	pty.Expect(ctx, "user admin: runAs changed from "+attr+" to "+def+" by admin: this session runs as "+attr+", and is ending")
	if code := pty.Wait(ctx); code == 0 {
		t.Errorf("connect exited 0 after its session was ended")
	}

	// Policies decide on the run-as user: of a session (context.runAs),
	// and of a change of the attribute (resource.runAs).
	policy := filepath.Join(t.TempDir(), "run-as.cedar")
	if err := os.WriteFile(policy, []byte(`@id("no-def-sessions")
forbid (principal, action == Action::"StartSession", resource) when { context.runAs == "`+def+`" };
@id("no-root-run-as")
forbid (principal, action == Action::"UpdateUser", resource is User) when { resource.runAs == "root" };
`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(ctx, "policy", "put", "run-as", "-f", policy)
	if _, errOut, code := e.run(ctx, "exec", node, "--", "id", "-un"); code != 1 || !strings.Contains(errOut, "admin is not allowed to StartSession on node ") || !strings.Contains(errOut, " as OS user "+def+" (denied by no-def-sessions)") {
		t.Errorf("exec as %s under a policy forbidding it: exit %d, %q", def, code, errOut)
	}
	if _, errOut, code := e.run(ctx, "users", "set-attr", "admin", "runAs=root"); code != 1 || !strings.Contains(errOut, `admin may not set user admin's runAs to "root"`) || !strings.Contains(errOut, "denied by no-root-run-as") {
		t.Errorf("set-attr runAs=root under a policy forbidding it: exit %d, %q", code, errOut)
	}
}
