package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authn"
	"github.com/postern/postern/clocktest"
	"github.com/postern/postern/signin"
	"github.com/postern/postern/store"
)

// identityServer is a server with one user, alice (password "pw"), and a
// clock the test moves.
func identityServer(t *testing.T) (*Server, http.Handler, *clocktest.Clock) {
	t.Helper()
	ctx := t.Context()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default"})
	hash, _ := authn.HashPassword("pw")
	if err := st.CreateUser(ctx, store.User{Account: store.DefaultAccount, Name: "alice", PasswordHash: hash, Groups: []string{"operators"}}); err != nil {
		t.Fatal(err)
	}
	now := clocktest.New(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	s, err := New(Config{DataDir: t.TempDir(), Store: st, Logf: t.Logf, Now: now.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, s.Handler(), now
}

func post(t *testing.T, h http.Handler, path, from string, body any, token string) (*httptest.ResponseRecorder, api.Error) {
	t.Helper()
	b, _ := json.Marshal(body)
	req := httptest.NewRequestWithContext(t.Context(), "POST", path, bytes.NewReader(b))
	req.RemoteAddr = from
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var e api.Error
	json.Unmarshal(rec.Body.Bytes(), &e)
	return rec, e
}

func TestLockout(t *testing.T) {
	_, h, now := identityServer(t)
	const from = "192.0.2.10:5000"
	login := func(pw string) (int, string) {
		rec, e := post(t, h, api.PathLogin, from, api.LoginRequest{User: "alice", Password: pw}, "")
		return rec.Code, e.Code
	}
	for i := range signin.Failures {
		if code, ec := login("wrong"); code != http.StatusUnauthorized || ec != "AuthenticationFailed" {
			t.Fatalf("failure %d: %d %s", i+1, code, ec)
		}
	}
	// Locked: even the right password is refused, with the same cost.
	if code, ec := login("pw"); code != http.StatusTooManyRequests || ec != "LockedOut" {
		t.Fatalf("right password while locked: %d %s", code, ec)
	}
	now.Advance(signin.Window)
	if code, ec := login("pw"); code != http.StatusOK {
		t.Fatalf("right password after the window: %d %s", code, ec)
	}
	// Success forgives earlier failures.
	login("wrong")
	if code, _ := login("pw"); code != http.StatusOK {
		t.Errorf("after one more failure: %d", code)
	}
}

func TestSignInRateLimitPerSource(t *testing.T) {
	_, h, _ := identityServer(t)
	for i := range signin.Burst {
		// Unknown users: no lockout involved, only the source's budget.
		if rec, _ := post(t, h, api.PathLogin, "192.0.2.20:1", api.LoginRequest{User: "u" + string(rune('a'+i)), Password: "x"}, ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, rec.Code)
		}
	}
	rec, e := post(t, h, api.PathLogin, "192.0.2.20:2", api.LoginRequest{User: "alice", Password: "pw"}, "")
	if rec.Code != http.StatusTooManyRequests || e.Code != "TooManyRequests" || rec.Header().Get("Retry-After") == "" {
		t.Errorf("over the budget: %d %s %q", rec.Code, e.Code, rec.Header().Get("Retry-After"))
	}
	if rec, _ := post(t, h, api.PathLogin, "198.51.100.1:1", api.LoginRequest{User: "alice", Password: "pw"}, ""); rec.Code != http.StatusOK {
		t.Errorf("another source: %d", rec.Code)
	}
}

func TestRefresh(t *testing.T) {
	_, h, now := identityServer(t)
	const from = "192.0.2.30:1"
	rec, _ := post(t, h, api.PathLogin, from, api.LoginRequest{User: "alice", Password: "pw"}, "")
	var first api.LoginResponse
	json.Unmarshal(rec.Body.Bytes(), &first)
	if first.Token == "" || first.RefreshToken == "" || !first.ExpiresAt.Equal(now.Now().Add(time.Hour)) {
		t.Fatalf("login: %+v", first)
	}
	whoami := func(tok string) int {
		req := httptest.NewRequestWithContext(t.Context(), "GET", api.PathWhoAmI, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if whoami(first.RefreshToken) != http.StatusUnauthorized {
		t.Error("a refresh token was accepted as a bearer token")
	}
	now.Advance(2 * time.Hour) // the session token has expired
	if whoami(first.Token) != http.StatusUnauthorized {
		t.Error("an expired token was accepted")
	}
	rec, _ = post(t, h, api.PathRefresh, from, api.RefreshRequest{RefreshToken: first.RefreshToken}, "")
	var second api.LoginResponse
	json.Unmarshal(rec.Body.Bytes(), &second)
	if rec.Code != http.StatusOK || second.Token == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh: %d %+v", rec.Code, second)
	}
	if whoami(second.Token) != http.StatusOK {
		t.Error("the renewed token is refused")
	}
	// Each refresh token is good once.
	if rec, e := post(t, h, api.PathRefresh, from, api.RefreshRequest{RefreshToken: first.RefreshToken}, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("reused refresh token: %d %s", rec.Code, e.Message)
	}
	if rec, _ := post(t, h, api.PathRefresh, from, api.RefreshRequest{RefreshToken: "psr_forged"}, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("forged refresh token: %d", rec.Code)
	}
	// A session token does not refresh.
	if rec, _ := post(t, h, api.PathRefresh, from, api.RefreshRequest{RefreshToken: second.Token}, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("session token as refresh token: %d", rec.Code)
	}
	now.Advance(RefreshTTL + time.Hour)
	if rec, _ := post(t, h, api.PathRefresh, from, api.RefreshRequest{RefreshToken: second.RefreshToken}, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("expired refresh token: %d", rec.Code)
	}
}
