package server_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/server"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// Run-as users and the policies that restrict them (issue 16, finding 8):
// a user's runAs is decided on by the policies wherever it takes effect,
// against its value at that moment. The sessions here run as OS users
// every Debian system has (daemon, nobody), so that nothing is created.

// clientFor returns a client signed in as user with a fresh token.
func clientFor(t *testing.T, ts *testServer, user string) *client.Client {
	t.Helper()
	tok, _, err := ts.srv.IssueToken(t.Context(), store.DefaultAccount, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: ts.url, CA: string(ts.srv.CA().CertPEM), Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runAsPrefs are preferences that run sessions as defaultUser.
func runAsPrefs(defaultUser string) string {
	return `{"schemaVersion": "1.0", "sessionType": "Standard_Stream",
  "inputs": {"runAsEnabled": true, "runAsDefaultUser": "` + defaultUser + `"}}`
}

// setRunAs sets user's runAs attribute as c.
func setRunAs(ctx context.Context, c *client.Client, user, runAs string) (api.User, error) {
	return c.SetUserAttributes(ctx, user, api.SetUserAttributesRequest{RunAs: &runAs})
}

// runAsAdmin makes bob an administrator, in a test's setup: changing his
// groups revokes his tokens, so clients for him are made after it.
func runAsAdmin(t *testing.T, ts *testServer) {
	t.Helper()
	admins := []string{"administrators"}
	if _, err := ts.admin.SetUserAttributes(t.Context(), "bob", api.SetUserAttributesRequest{Groups: &admins}); err != nil {
		t.Fatal(err)
	}
}

// liveSession is a session of a shell command attached to a client.
type liveSession struct {
	id           string
	out, notices syncBuffer
	exit         chan wire.Exit
	errc         chan error
	cancel       context.CancelFunc
}

// startWhoami starts, as c, a session that prints its OS user and then
// waits, and attaches to it; it returns once that user was printed.
func startWhoami(t *testing.T, c *client.Client, req api.StartSessionRequest) (*liveSession, string) {
	t.Helper()
	req.Command = []string{"/bin/sh", "-c", "echo \"user=$(id -un).\"; exec cat"}
	sess, err := c.StartSession(t.Context(), req)
	if err != nil {
		t.Fatalf("start session: %v", err)
	}
	ls := attach(t, c, sess.ID)
	var user string
	waitFor(t, func() bool {
		_, rest, ok := strings.Cut(string(ls.out.Bytes()), "user=")
		user, _, ok = strings.Cut(rest, ".")
		return ok
	})
	return ls, user
}

// attach runs a client's terminal on session id until ls.cancel.
func attach(t *testing.T, c *client.Client, id string) *liveSession {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ls := &liveSession{id: id, exit: make(chan wire.Exit, 1), errc: make(chan error, 1), cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		exit, err := c.RunTerminal(ctx, id, client.TerminalIO{Out: &ls.out, Notices: &ls.notices}, client.ResumeOptions{})
		ls.exit <- exit
		ls.errc <- err
	}()
	return ls
}

// TestSetRunAsIsAuthorized: changing a user's runAs is decided on with
// the user as it becomes, so a policy that restricts run-as users
// restricts who may set them (as one that restricts groups does).
func TestSetRunAsIsAuthorized(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	// The help desk manages users' run-as users, but may not hand out
	// root.
	if _, err := ts.admin.PutPolicy(ctx, "helpdesk", `@id("helpdesk-run-as")
permit (principal in Group::"helpdesk", action == Action::"UpdateUser", resource is User)
unless { resource.runAs == "root" };`); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.CreateUser(ctx, api.CreateUserRequest{Name: "carol", Groups: []string{"helpdesk"}}); err != nil {
		t.Fatal(err)
	}
	carol := clientFor(t, ts, "carol")
	if u, err := setRunAs(ctx, carol, "bob", "daemon"); err != nil || u.RunAs != "daemon" {
		t.Fatalf("the help desk sets bob's runAs to daemon: %+v, %v", u, err)
	}
	_, err := setRunAs(ctx, carol, "bob", "root")
	var e *client.Error
	if !errors.As(err, &e) || e.Code != "AccessDenied" || !strings.Contains(e.Message, `carol may not set user bob's runAs to "root"`) || !strings.Contains(e.Message, "no policy permits it") {
		t.Fatalf("the help desk sets bob's runAs to root: %v; want AccessDenied saying so", err)
	}
	if us, err := ts.admin.Users(ctx); err != nil {
		t.Fatal(err)
	} else {
		for _, u := range us {
			if u.Name == "bob" && u.RunAs != "daemon" {
				t.Errorf("a refused change changed bob's runAs to %q", u.RunAs)
			}
		}
	}
	// Clearing it is a change too.
	if u, err := setRunAs(ctx, carol, "bob", ""); err != nil || u.RunAs != "" {
		t.Fatalf("the help desk clears bob's runAs: %+v, %v", u, err)
	}

	// A forbid on the new value binds administrators too, when they
	// change a user and when they create one.
	if _, err := ts.admin.PutPolicy(ctx, "no-root", `@id("no-root-run-as")
forbid (principal, action in [Action::"UpdateUser", Action::"CreateUser"], resource is User)
when { resource.runAs == "root" };`); err != nil {
		t.Fatal(err)
	}
	if _, err := setRunAs(ctx, ts.admin, "bob", "root"); err == nil || !strings.Contains(err.Error(), `admin may not set user bob's runAs to "root"`) || !strings.Contains(err.Error(), "denied by no-root-run-as") {
		t.Errorf("an administrator sets bob's runAs to root under a forbid: %v", err)
	}
	// Their own too, though the principal and the resource are then
	// one Cedar entity.
	if _, err := setRunAs(ctx, ts.admin, "admin", "root"); err == nil || !strings.Contains(err.Error(), `admin may not set user admin's runAs to "root"`) || !strings.Contains(err.Error(), "denied by no-root-run-as") {
		t.Errorf("an administrator sets their own runAs to root under a forbid: %v", err)
	}
	if _, err := ts.admin.CreateUser(ctx, api.CreateUserRequest{Name: "dave", RunAs: "root"}); err == nil || !strings.Contains(err.Error(), "denied by no-root-run-as") {
		t.Errorf("an administrator creates a user with runAs root under a forbid: %v", err)
	}
}

// TestStartSessionDecidesOnRunAs: StartSession is decided on with the OS
// user the session would run as (context.runAs), from the user's runAs as
// it is now, even with a token issued before it changed, or from the
// preferences' runAsDefaultUser.
func TestStartSessionDecidesOnRunAs(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	node := runAgent(t, ts, nil)
	runAsAdmin(t, ts)
	if _, err := ts.admin.SetPreferences(ctx, runAsPrefs("nobody")); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.PutPolicy(ctx, "no-daemon", `@id("no-daemon-sessions")
forbid (principal, action == Action::"StartSession", resource)
when { context.runAs == "daemon" };`); err != nil {
		t.Fatal(err)
	}
	bob := clientFor(t, ts, "bob") // before his runAs changes
	ls, user := startWhoami(t, bob, api.StartSessionRequest{Target: node})
	if user != "nobody" {
		t.Fatalf("bob's session runs as %q, want the preferences' nobody", user)
	}
	ls.cancel()

	refused := func(what string) {
		t.Helper()
		_, err := bob.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"id", "-un"}})
		var e *client.Error
		if !errors.As(err, &e) || e.Code != "AccessDenied" ||
			!strings.Contains(e.Message, "bob is not allowed to StartSession on node "+node+" as OS user daemon (denied by no-daemon-sessions)") {
			t.Errorf("%s: %v; want AccessDenied by no-daemon-sessions", what, err)
		}
	}
	if _, err := setRunAs(ctx, ts.admin, "bob", "daemon"); err != nil {
		t.Fatal(err)
	}
	refused("bob's runAs changed to daemon, with his earlier token")
	if _, err := setRunAs(ctx, ts.admin, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.SetPreferences(ctx, runAsPrefs("daemon")); err != nil {
		t.Fatal(err)
	}
	refused("the preferences' runAsDefaultUser is daemon")

	// `postern policy test` asks the same question.
	res, err := ts.admin.TestPolicy(ctx, api.PolicyTestRequest{Principal: "bob", Action: "StartSession", Resource: "node:" + node,
		Context: map[string]string{"document": server.DefaultDocument, "runAs": "daemon"}})
	if err != nil || res.Decision != "Deny" || !strings.Contains(res.Explanation, "no-daemon-sessions") {
		t.Errorf("policy test: %+v, %v", res, err)
	}
}

// TestRunAsChangeEndsSessions: when a user's runAs changes, their live
// sessions that run as a run-as user other than the new one end, with
// their terminal saying why; sessions that run as the node's default user
// (run-as off) go on, and so do the user's tokens, which carry no run-as
// user.
func TestRunAsChangeEndsSessions(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	node := runAgent(t, ts, nil)
	runAsAdmin(t, ts)
	if _, err := ts.admin.SetPreferences(ctx, runAsPrefs("nobody")); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.CreateDocument(ctx, "no-run-as", `{"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": {"runAsEnabled": false}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := setRunAs(ctx, ts.admin, "bob", "daemon"); err != nil {
		t.Fatal(err)
	}
	bob := clientFor(t, ts, "bob")
	asDaemon, user := startWhoami(t, bob, api.StartSessionRequest{Target: node})
	if user != "daemon" {
		t.Fatalf("bob's session runs as %q, want his runAs daemon", user)
	}
	asDefault, defUser := startWhoami(t, bob, api.StartSessionRequest{Target: node, Document: "no-run-as"})

	if _, err := setRunAs(ctx, ts.admin, "bob", "nobody"); err != nil {
		t.Fatal(err)
	}
	select {
	case exit := <-asDaemon.exit:
		if exit.Reason != "RunAsChanged" || !strings.Contains(string(asDaemon.notices.Bytes()), "user bob: runAs changed from daemon to nobody by admin: this session runs as daemon, and is ending") {
			t.Errorf("bob's session as daemon ended %+v with notices %q; want RunAsChanged, saying why", exit, asDaemon.notices.Bytes())
		}
	case <-time.After(time.Minute):
		t.Fatalf("bob's session as daemon goes on after his runAs changed to nobody; notices %q", asDaemon.notices.Bytes())
	}
	if s, err := ts.admin.Session(ctx, asDaemon.id); err != nil || s.Status != "Terminated" || s.StatusReason != "RunAsChanged" {
		t.Errorf("session as daemon: %+v, %v; want Terminated, RunAsChanged", s, err)
	}
	if s, err := ts.admin.Session(ctx, asDefault.id); err != nil || s.Status != "Connected" {
		t.Errorf("bob's session as the node's default user %s: %+v, %v; want it still Connected", defUser, s, err)
	}
	if _, err := bob.WhoAmI(ctx); err != nil {
		t.Errorf("bob's token after his runAs changed: %v", err)
	}
	if ls, user := startWhoami(t, bob, api.StartSessionRequest{Target: node}); user != "nobody" {
		t.Errorf("bob's new session runs as %q, want nobody", user)
	} else {
		ls.cancel()
	}
	// Setting the same value again changes nothing.
	asNobody, _ := startWhoami(t, bob, api.StartSessionRequest{Target: node})
	if _, err := setRunAs(ctx, ts.admin, "bob", "nobody"); err != nil {
		t.Fatal(err)
	}
	if s, err := ts.admin.Session(ctx, asNobody.id); err != nil || s.Status != "Connected" {
		t.Errorf("bob's session as nobody after runAs=nobody again: %+v, %v; want it still Connected", s, err)
	}
}

// TestResumeDecidesOnRunAs: resuming a session is a new connection to a
// shell running as its run-as user, so it is decided on as starting it
// would be now: a policy that since forbids that user refuses the resume.
func TestResumeDecidesOnRunAs(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	node := runAgent(t, ts, nil)
	runAsAdmin(t, ts)
	if _, err := ts.admin.SetPreferences(ctx, runAsPrefs("daemon")); err != nil {
		t.Fatal(err)
	}
	bob := clientFor(t, ts, "bob")
	ls, user := startWhoami(t, bob, api.StartSessionRequest{Target: node})
	if user != "daemon" {
		t.Fatalf("bob's session runs as %q, want daemon", user)
	}
	ls.cancel() // bob's connection drops
	<-ls.errc
	waitFor(t, func() bool { return !ts.srv.SessionAttached(ls.id) })

	if _, err := ts.admin.PutPolicy(ctx, "no-daemon", `@id("no-daemon-sessions")
forbid (principal, action == Action::"StartSession", resource)
when { context.runAs == "daemon" };`); err != nil {
		t.Fatal(err)
	}
	again := attach(t, bob, ls.id)
	var err error
	select {
	case err = <-again.errc:
	case <-time.After(time.Minute):
		t.Fatalf("bob resumed his session as daemon after a policy forbade it; output %q", again.out.Bytes())
	}
	var e *client.Error
	if !errors.As(err, &e) || e.Code != "AccessDenied" ||
		!strings.Contains(e.Message, "bob may no longer resume session "+ls.id+": starting it now, on node "+node+" as OS user daemon, is denied by no-daemon-sessions") {
		t.Fatalf("resume after a policy forbids daemon: %v; want AccessDenied saying why", err)
	}
	// Watching it runs nothing as anyone: still allowed.
	if ws, err := ts.admin.Observe(ctx, ls.id, 0); err != nil {
		t.Errorf("observe: %v", err)
	} else {
		ws.CloseNow()
	}
}

// TestRunAsChangeWhileStarting: a runAs change that lands while a session
// of the user is being set up, after its decision and before the server
// knows of the session, still reaches it: the session is refused rather
// than started as the old run-as user.
func TestRunAsChangeWhileStarting(t *testing.T) {
	// The hook is in place before the server starts (and gone after it
	// stopped), so that its goroutines see it.
	var armed atomic.Bool
	reached, release := make(chan struct{}), make(chan struct{})
	t.Cleanup(server.SetSessionIDHook(func(user string) {
		if user == "bob" && armed.CompareAndSwap(true, false) {
			close(reached)
			<-release
		}
	}))
	ts := startServer(t)
	ctx := t.Context()
	node := runAgent(t, ts, nil)
	runAsAdmin(t, ts)
	if _, err := ts.admin.SetPreferences(ctx, runAsPrefs("nobody")); err != nil {
		t.Fatal(err)
	}
	if _, err := setRunAs(ctx, ts.admin, "bob", "daemon"); err != nil {
		t.Fatal(err)
	}
	bob := clientFor(t, ts, "bob")
	armed.Store(true)
	errc := make(chan error, 1)
	go func() {
		_, err := bob.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", "echo \"user=$(id -un).\"; exec cat"}})
		errc <- err
	}()
	<-reached
	if _, err := setRunAs(ctx, ts.admin, "bob", "nobody"); err != nil {
		t.Fatal(err)
	}
	close(release)
	err := <-errc
	var e *client.Error
	if !errors.As(err, &e) || e.Code != "RunAsChanged" || !strings.Contains(e.Message, "bob's runAs changed from daemon to nobody while the session started: start it again") {
		t.Fatalf("start across a runAs change: %v; want RunAsChanged", err)
	}
	ss, err := ts.admin.Sessions(ctx, client.SessionFilter{Owner: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if s.Status == "Connected" || s.Status == "Connecting" || s.RunAsUser == "daemon" {
			t.Errorf("session %s: %s as %q after bob's runAs changed while it started", s.ID, s.Status, s.RunAsUser)
		}
	}
}
