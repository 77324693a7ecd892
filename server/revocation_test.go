package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/wire"
)

// signIn signs bob in with his password and returns his client and
// refresh token.
func signIn(t *testing.T, ts *testServer, password string) (*client.Client, string) {
	t.Helper()
	anon, err := client.New(client.Config{Server: ts.url, CA: string(ts.srv.CA().CertPEM)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := anon.Login(context.Background(), "", "bob", password)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: ts.url, CA: string(ts.srv.CA().CertPEM), Token: res.Token})
	if err != nil {
		t.Fatal(err)
	}
	return c, res.RefreshToken
}

// TestRevocation: changing a user's password or groups, or deleting the
// user, revokes every token and refresh token they hold and ends their
// live sessions, saying why; and a sign-in has a lifetime however often
// it is refreshed (finding 4).
func TestRevocation(t *testing.T) {
	ts := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node := runAgent(t, ts, nil)
	admins := []string{"administrators"}
	if _, err := ts.admin.SetUserAttributes(ctx, "bob", api.SetUserAttributesRequest{Groups: &admins}); err != nil {
		t.Fatal(err)
	}
	revoked := func(what string, bob *client.Client, refresh string) {
		t.Helper()
		if _, err := bob.WhoAmI(ctx); err == nil || !strings.Contains(err.Error(), "unknown, expired or revoked") {
			t.Errorf("%s: bob's token still works: %v", what, err)
		}
		if _, err := bob.Refresh(ctx, refresh); err == nil {
			t.Errorf("%s: bob's refresh token still buys a session", what)
		}
	}

	bob, refresh := signIn(t, ts, "pw")
	if _, err := bob.WhoAmI(ctx); err != nil {
		t.Fatal(err)
	}
	newPW := "a-new-password-1"
	if _, err := ts.admin.SetUserAttributes(ctx, "bob", api.SetUserAttributesRequest{Password: &newPW}); err != nil {
		t.Fatal(err)
	}
	revoked("password changed", bob, refresh)

	bob, refresh = signIn(t, ts, newPW)
	groups := []string{"administrators", "auditors"}
	if _, err := ts.admin.SetUserAttributes(ctx, "bob", api.SetUserAttributesRequest{Groups: &groups}); err != nil {
		t.Fatal(err)
	}
	revoked("groups changed", bob, refresh)

	// A live session of bob's ends when he is deleted; its terminal says
	// why.
	bob, refresh = signIn(t, ts, newPW)
	sess, err := bob.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", "echo started; exec cat"}})
	if err != nil {
		t.Fatal(err)
	}
	var out, notices syncBuffer
	done := make(chan wire.Exit, 1)
	go func() {
		exit, _ := bob.RunTerminal(ctx, sess.ID, client.TerminalIO{Out: &out, Notices: &notices}, client.ResumeOptions{})
		done <- exit
	}()
	waitFor(t, func() bool { return strings.Contains(string(out.Bytes()), "started") })
	if err := ts.admin.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	select {
	case exit := <-done:
		if exit.Reason != "UserRevoked" || !strings.Contains(string(notices.Bytes()), "user bob deleted by admin: your access was revoked") {
			t.Fatalf("bob's session ended %+v with notices %q; want UserRevoked, saying why", exit, notices.Bytes())
		}
	case <-ctx.Done():
		t.Fatalf("bob's session went on after he was deleted; notices %q", notices.Bytes())
	}
	revoked("deleted", bob, refresh)

	// A sign-in lasts 30 days however often it is refreshed.
	if _, err := ts.admin.CreateUser(ctx, api.CreateUserRequest{Name: "bob", Password: newPW}); err != nil {
		t.Fatal(err)
	}
	bob, refresh = signIn(t, ts, newPW)
	ts.clk.Advance(20 * 24 * time.Hour)
	res, err := bob.Refresh(ctx, refresh)
	if err != nil {
		t.Fatalf("refresh 20 days in: %v", err)
	}
	ts.clk.Advance(20 * 24 * time.Hour)
	if _, err := bob.Refresh(ctx, res.RefreshToken); err == nil || !strings.Contains(err.Error(), "the longest a sign-in lasts") {
		t.Fatalf("refresh 40 days after signing in: %v; want it refused", err)
	}
}
