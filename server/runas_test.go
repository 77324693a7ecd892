package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/store"
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

// setRunAs sets user's runAs attribute as c.
func setRunAs(ctx context.Context, c *client.Client, user, runAs string) (api.User, error) {
	return c.SetUserAttributes(ctx, user, api.SetUserAttributesRequest{RunAs: &runAs})
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
