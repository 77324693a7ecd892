package server_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/store"
)

// TestStartRefusals: a session whose document, parameters or preferences
// do not allow it is refused with the API error that says why, and leaves
// no session behind.
func TestStartRefusals(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	node := runClockedAgent(t, ts, newReadClock())
	if _, err := ts.admin.SetPreferences(ctx, `{"schemaVersion": "1.0", "sessionType": "Standard_Stream",
  "inputs": {"runAsEnabled": true, "runAsDefaultUser": "root"}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.CreateDocument(ctx, "say", `schemaVersion: "1.0"
sessionType: InteractiveCommands
parameters:
  word: {type: String, allowedPattern: "^[a-z]+$"}
  times: {type: Integer, default: 1}
properties:
  commands: echo {{ word }} {{ times }}
`); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		req      api.StartSessionRequest
		code     string
		wantMsgs []string
	}{
		{
			name:     "root by the preferences",
			req:      api.StartSessionRequest{},
			code:     "RunAsRootDenied",
			wantMsgs: []string{"we couldn't start the session as root", "inputs.runAsAllowRoot"},
		},
		{
			// Session Manager's name for the preferences is the account's
			// preferences, not the built-in default, which would run the
			// session as the agent's default user.
			name:     "root by the preferences, under Session Manager's name",
			req:      api.StartSessionRequest{Document: "SSM-SessionManagerRunShell"},
			code:     "RunAsRootDenied",
			wantMsgs: []string{"we couldn't start the session as root"},
		},
		{
			name:     "missing parameter",
			req:      api.StartSessionRequest{Document: "say"},
			code:     "InvalidParameters",
			wantMsgs: []string{"document say: parameter word: required (the document gives it no default)"},
		},
		{
			name:     "parameter failing its pattern",
			req:      api.StartSessionRequest{Document: "say", Parameters: map[string]string{"word": "a; reboot"}},
			code:     "InvalidParameters",
			wantMsgs: []string{`parameter word: "a; reboot" does not match allowedPattern ^[a-z]+$`},
		},
		{
			name:     "parameter of the wrong type",
			req:      api.StartSessionRequest{Document: "say", Parameters: map[string]string{"word": "hi", "times": "twice"}},
			code:     "InvalidParameters",
			wantMsgs: []string{`parameter times: "twice" is not an integer`},
		},
		{
			name:     "unknown parameter",
			req:      api.StartSessionRequest{Document: "say", Parameters: map[string]string{"word": "hi", "wrod": "x"}},
			code:     "InvalidParameters",
			wantMsgs: []string{"parameter wrod: not a parameter of this document (did you mean word?)"},
		},
		{
			name:     "no terminal without a command",
			req:      api.StartSessionRequest{Pipes: true},
			code:     "ValidationError",
			wantMsgs: []string{"pipes: a session without a terminal needs a command"},
		},
		{
			name:     "unknown document",
			req:      api.StartSessionRequest{Document: "AWS-StartShell"},
			code:     "InvalidDocument",
			wantMsgs: []string{`document "AWS-StartShell" does not exist`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Target = node
			_, err := ts.admin.StartSession(ctx, req)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Code != tt.code {
				t.Fatalf("StartSession = %v, want a %s error", err, tt.code)
			}
			for _, m := range tt.wantMsgs {
				if !strings.Contains(ce.Message, m) {
					t.Errorf("message %q lacks %q", ce.Message, m)
				}
			}
		})
	}

	st, err := store.OpenSQLite(ctx, filepath.Join(ts.dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ss, err := st.ListSessions(ctx, store.SessionFilter{Account: store.DefaultAccount})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 0 {
		t.Errorf("refused starts left %d sessions: %+v", len(ss), ss)
	}

	// The preferences under Session Manager's name are the account's.
	d, err := ts.admin.Document(ctx, "SSM-SessionManagerRunShell", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.Content, `"runAsDefaultUser": "root"`) {
		t.Errorf("SSM-SessionManagerRunShell shows\n%s\nwant the account's preferences", d.Content)
	}
}

// TestSetUserAttributes sets and clears a user's runAs attribute, which
// only administrators may.
func TestSetUserAttributes(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	set := func(c *client.Client, user, runAs string) (api.User, error) {
		return c.SetUserAttributes(ctx, user, api.SetUserAttributesRequest{RunAs: &runAs})
	}
	if u, err := set(ts.admin, "bob", "ops"); err != nil || u.RunAs != "ops" || u.Name != "bob" {
		t.Fatalf("set runAs: %+v, %v", u, err)
	}
	// Leaving runAs out keeps it.
	if u, err := ts.admin.SetUserAttributes(ctx, "bob", api.SetUserAttributesRequest{}); err != nil || u.RunAs != "ops" {
		t.Errorf("no change: %+v, %v", u, err)
	}
	if u, err := set(ts.admin, "bob", ""); err != nil || u.RunAs != "" {
		t.Errorf("clear runAs: %+v, %v", u, err)
	}
	tok, _, err := ts.srv.IssueToken(ctx, store.DefaultAccount, "bob", 0)
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := client.New(client.Config{Server: ts.url, CA: string(ts.srv.CA().CertPEM), Token: tok})
	tests := []struct {
		name  string
		c     *client.Client
		user  string
		runAs string
		want  string
	}{
		{"not an administrator", bob, "bob", "root", "bob is not allowed to UpdateUser on user bob (denied by system:no-self-elevation)"},
		{"no such user", ts.admin, "carol", "ops", `user "carol" does not exist`},
		{"not a user name", ts.admin, "bob", "-rf", `runAs: "-rf" is not a valid user name`},
		{"a uid", ts.admin, "bob", "0", `runAs: "0" is not a valid user name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := set(tt.c, tt.user, tt.runAs); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("set runAs=%q on %s: %v, want %q", tt.runAs, tt.user, err, tt.want)
			}
		})
	}
}
