package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/store"
)

// routeFixture is a real server (SQLite store, keys, log store) with
// resources for routes to name: a node, an ended session of admin's, a
// log group and a key, and users admin (administrators), nobody (no
// groups) and carol (operators).
type routeFixture struct {
	s               *Server
	nodeID, session string
	group, keyID    string
	command         string
}

func newRouteFixture(t testing.TB) routeFixture {
	t.Helper()
	t.Setenv(keys.RootKeyEnv, "")
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default"})
	for _, u := range []store.User{{Name: "admin", Groups: []string{"administrators"}}, {Name: "nobody"}, {Name: "carol", Groups: []string{"operators"}}} {
		u.Account = store.DefaultAccount
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := keys.Open(ctx, st, filepath.Join(dir, "root.key"), keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := logstore.Open(ctx, filepath.Join(dir, "logs.db"), logstore.Options{Logf: func(string, ...any) {}, Keys: keys.LogGroupKeys{S: ks}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	logf := t.Logf
	if _, fuzzing := t.(*testing.F); fuzzing {
		// The server logs from inside the fuzz target, where a testing.F
		// may not.
		logf = func(string, ...any) {}
	}
	s, err := New(Config{DataDir: dir, Store: st, Logf: logf, Keys: ks, LogStore: ls})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)

	now := time.Now()
	if err := st.CreateActivation(ctx, store.Activation{ID: "act-1", Account: store.DefaultAccount, CodeHash: strings.Repeat("00", 32), RegistrationLimit: 5, ExpiresAt: now.Add(time.Hour), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	f := routeFixture{s: s, nodeID: "mi-0123456789abcdef0", session: "admin-0123456789abcdef0", group: "/test/group"}
	if err := st.RegisterNode(ctx, "act-1", store.Node{ID: f.nodeID, Account: store.DefaultAccount, Name: "web", Tags: map[string]string{"env": "dev"}, RegisteredAt: now}, now); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, store.Session{ID: f.session, Account: store.DefaultAccount, Owner: "admin", Target: f.nodeID, Document: DefaultDocument,
		Status: store.StatusTerminated, StartedAt: now.Add(-time.Minute), EndedAt: now}); err != nil {
		t.Fatal(err)
	}
	f.command = "11111111-2222-4333-8444-555555555555"
	if err := st.CreateCommand(ctx, store.Command{Account: store.DefaultAccount, ID: f.command, Owner: "admin", DocumentName: "AWS-RunShellScript",
		Targets: "[]", MaxConcurrency: "50", MaxErrors: "0", Script: "true", Timeout: time.Hour, Status: "InProgress", RequestedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ls.CreateGroup(ctx, logstore.Group{Account: store.DefaultAccount, Name: f.group, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	key, err := ks.Create(ctx, store.DefaultAccount, keys.CreateOptions{Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	f.keyID = key.ID
	return f
}

// token issues a session token of user.
func (f routeFixture) token(t testing.TB, user string) string {
	t.Helper()
	tok, _, err := f.s.IssueToken(t.Context(), store.DefaultAccount, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestEveryRouteIsAuthorized goes through the server's whole route table:
// each route that takes a user must refuse one with no permissions (403,
// not 401, 404 or a leak) and one with no token (401), and no route may
// answer an administrator without having checked authorization.
func TestEveryRouteIsAuthorized(t *testing.T) {
	ctx := t.Context()
	f := newRouteFixture(t)
	s, nodeID, sessionID, group := f.s, f.nodeID, f.session, f.group
	key := struct{ ID string }{f.keyID}

	// What each route is sent: a valid request, so that only
	// authorization stands in the way.
	paths := strings.NewReplacer("{id}", sessionID, "{name}", "carol", "{action}", "describe")
	special := map[string]struct{ path, body string }{
		"DELETE " + api.PathUsers + "/{name}/tokens/{id}": {api.PathUsers + "/carol/tokens/tok-1", ""},
		"PUT " + api.PathPolicies + "/{id}":               {api.PathPolicies + "/extra", `{"text":"permit (principal, action, resource);"}`},
		"DELETE " + api.PathPolicies + "/{id}":            {api.PathPolicies + "/defaults", ""},
		"GET " + api.PathDocuments + "/{name}":            {api.PathDocuments + "/SSM-SessionManagerRunShell", ""},
		"DELETE " + api.PathNodes + "/{id}":               {api.PathNodes + "/" + nodeID, ""},
		"DELETE " + api.PathDocuments + "/{name}":         {api.PathDocuments + "/MyDoc", ""},
		"GET " + api.PathCommands + "/{id}":               {api.PathCommands + "/" + f.command, ""},
		"POST " + api.PathCommands + "/{id}/cancel":       {api.PathCommands + "/" + f.command + "/cancel", ""},
	}
	bodies := map[string]string{
		"POST " + api.PathActivations:                        `{"registrationLimit":1}`,
		"POST " + api.PathSessions:                           `{"target":"` + nodeID + `"}`,
		"POST " + api.PathSessions + "/{id}/logs/key":        `{"artifact":"log","wrappedKey":"AA==","context":{}}`,
		"POST " + api.PathLogGroups:                          `{"logGroupName":"/test/new"}`,
		"PUT " + api.PathLogGroups + "/metric-filters":       `{"logGroupName":"` + group + `","filterName":"f","filterPattern":"sudo","metricNamespace":"ns","metricName":"m"}`,
		"POST " + api.PathKeys:                               `{"description":"k"}`,
		"PUT " + api.PathLogGroups + "/subscription-filters": `{"logGroupName":"` + group + `","filterName":"f","destinationArn":"prn:postern:firehose:000000000001:deliverystream/s"}`,
		"PUT " + api.PathRules:                               `{"name":"r","eventPattern":"{\"source\":[\"x\"]}","targets":[]}`,
		"POST " + api.PathDeliveryStreams:                    `{"deliveryStreamName":"s","bucket":"b"}`,
		"POST " + api.PathKeys + "/{action}":                 `{"keyId":"` + key.ID + `"}`,
		"POST " + api.PathDocuments:                          `{"name":"MyDoc","content":"{}"}`,
		"POST " + api.PathDocuments + "/validate":            `{"content":"{}"}`,
		"PUT " + api.PathPreferences:                         `{"content":"{}"}`,
		"POST " + api.PathUsers:                              `{"name":"dave"}`,
		"PATCH " + api.PathUsers + "/{name}":                 `{"runAs":"ops"}`,
		"POST " + api.PathUsers + "/{name}/tokens":           `{"name":"ci"}`,
		"POST " + api.PathPolicies + "/test":                 `{"principal":"carol","action":"StartSession","resource":"node:` + nodeID + `"}`,
		"POST " + api.PathCommands:                           `{"documentName":"AWS-RunShellScript","parameters":{"commands":["true"]},"instanceIds":["` + nodeID + `"]}`,
	}
	query := "?group=" + group + "&name=" + group + "&days=7&q=fields+@message"

	h := s.Handler()
	do := func(token, pattern string) *httptest.ResponseRecorder {
		method, path, _ := strings.Cut(pattern, " ")
		path = paths.Replace(path)
		body := bodies[pattern]
		if sp, ok := special[pattern]; ok {
			path, body = sp.path, sp.body
		}
		req := httptest.NewRequestWithContext(ctx, method, path+query, bytes.NewBufferString(body))
		req.RemoteAddr = "192.0.2.1:1234"
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		// A stream or forward would upgrade; as plain requests they are
		// refused or answered before that.
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	tokenOf := func(user string) string { return f.token(t, user) }
	nobody, admin := tokenOf("nobody"), tokenOf("admin")

	checked := 0
	for _, rt := range s.routes() {
		if rt.Public != "" {
			t.Logf("public: %s (%s)", rt.Pattern, rt.Public)
			continue
		}
		if rt.Action == "" {
			t.Errorf("%s: no action", rt.Pattern)
		}
		checked++
		if rec := do("", rt.Pattern); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d %s, want 401", rt.Pattern, rec.Code, rec.Body)
		}
		tok := nobody
		if rt.Pattern == "POST "+api.PathConsole+"/logout" {
			tok = tokenOf("nobody") // signing out revokes the token
		}
		rec := do(tok, rt.Pattern)
		var e api.Error
		json.Unmarshal(rec.Body.Bytes(), &e)
		t.Logf("%s as nobody: %d %s", rt.Pattern, rec.Code, e.Message)
		switch {
		case (rt.Pattern == "GET "+api.PathWhoAmI || rt.Pattern == "POST "+api.PathConsole+"/logout") && rec.Code/100 == 2:
			// Everyone may see who they are and sign themselves out
			// (default policy self-service); checked below by the
			// guard's count.
		case rt.Pattern == "GET "+api.PathDashboard && rec.Code == http.StatusOK:
			// An aggregate of what the caller may describe: nothing.
			var d Dashboard
			json.Unmarshal(rec.Body.Bytes(), &d)
			if len(d.TopUsers) != 0 || len(d.TopNodes) != 0 || d.Refused != -1 {
				t.Errorf("dashboard of a user with no permissions shows %s", rec.Body)
			}
			for _, day := range d.Days {
				if day.Sessions != 0 {
					t.Errorf("dashboard of a user with no permissions counts sessions: %s", rec.Body)
				}
			}
		case strings.HasSuffix(rt.Pattern, "s") && strings.HasPrefix(rt.Pattern, "GET ") && rec.Code == http.StatusOK:
			// Listings filter what they show: nothing, here.
			if b := strings.TrimSpace(rec.Body.String()); b != "[]" {
				t.Errorf("%s as a user with no permissions lists %s", rt.Pattern, b)
			}
		case rec.Code != http.StatusForbidden || !strings.HasPrefix(e.Code, "AccessDenied"):
			t.Errorf("%s as a user with no permissions: %d %s, want 403 AccessDenied", rt.Pattern, rec.Code, rec.Body)
		}
	}
	if n := s.uncheckedRequests.Load(); n != 0 {
		t.Errorf("%d requests of a user with no permissions were answered without an authorization check", n)
	}
	// An administrator gets past authorization everywhere; every answer
	// still comes after a check.
	for _, rt := range s.routes() {
		if rt.Public == "" {
			tok := admin
			if rt.Pattern == "POST "+api.PathConsole+"/logout" {
				tok = tokenOf("admin")
			}
			if rec := do(tok, rt.Pattern); rec.Code >= 500 || rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
				t.Errorf("%s as an administrator: %d %s", rt.Pattern, rec.Code, rec.Body)
			}
		}
	}
	if n := s.uncheckedRequests.Load(); n != 0 {
		t.Errorf("%d requests were answered without an authorization check", n)
	}
	t.Logf("%d routes checked", checked)
}

// TestUncheckedRouteIsRefused shows the guard at work: a handler that
// forgets to authorize answers 500, not its data.
func TestUncheckedRouteIsRefused(t *testing.T) {
	ctx := t.Context()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default"})
	st.CreateUser(ctx, store.User{Account: store.DefaultAccount, Name: "admin", Groups: []string{"administrators"}})
	s, err := New(Config{DataDir: t.TempDir(), Store: st, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok, _, _ := s.IssueToken(ctx, store.DefaultAccount, "admin", time.Hour)
	h := s.guard().Authed("DescribeSecrets", func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, "the secret")
		return nil
	})
	req := httptest.NewRequestWithContext(ctx, "GET", "/v1/secret", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "the secret") {
		t.Errorf("unchecked handler answered %d %s", rec.Code, rec.Body)
	}
	if s.uncheckedRequests.Load() != 1 {
		t.Errorf("uncheckedRequests = %d, want 1", s.uncheckedRequests.Load())
	}
}
