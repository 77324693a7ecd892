package sso

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/postern/postern/api"
)

// fakeClock is the injected clock: tests move it instead of sleeping. It
// starts at the real time because mockoidc stamps tokens with it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

func newClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// idp is a real OpenID provider for one test (mockoidc, on 127.0.0.1),
// with hooks to make it misbehave the ways a provider or an attacker can.
type idp struct {
	*mockoidc.MockOIDC

	mu      sync.Mutex
	deny    bool     // guarded by mu; the next authorization redirects back with error=access_denied
	reissue *reissue // guarded by mu; replaces the ID token of token responses
}

// reissue describes an ID token minted by mockoidc from the session of the
// code being redeemed, but not the one the provider would issue.
type reissue struct {
	edit  func(cfg *mockoidc.Config, s *mockoidc.Session) // changes claims before signing
	key   *mockoidc.Keypair                               // signs instead of the provider's key
	after func(token string) string                       // changes the signed token
}

func startIdP(t *testing.T) *idp {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &idp{MockOIDC: m}
	if err := m.AddMiddleware(f.middleware); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return f
}

func (f *idp) setDeny() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deny = true
}

func (f *idp) setReissue(re *reissue) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reissue = re
}

func (f *idp) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		deny, re := f.deny, f.reissue
		if r.URL.Path == mockoidc.AuthorizationEndpoint {
			f.deny = false
		}
		f.mu.Unlock()
		switch {
		case r.URL.Path == mockoidc.AuthorizationEndpoint && deny:
			// What a provider does when the user declines (RFC 6749
			// section 4.1.2.1).
			r.ParseForm()
			u, _ := url.Parse(r.Form.Get("redirect_uri"))
			u.RawQuery = url.Values{"error": {"access_denied"}, "error_description": {"The user declined."}, "state": {r.Form.Get("state")}}.Encode()
			http.Redirect(w, r, u.String(), http.StatusFound)
		case r.URL.Path == mockoidc.TokenEndpoint && re != nil:
			f.reissueToken(w, r, next, re)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// reissueToken runs the real token endpoint and swaps its ID token for one
// minted by mockoidc as re says.
func (f *idp) reissueToken(w http.ResponseWriter, r *http.Request, next http.Handler, re *reissue) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		var resp map[string]any
		if err := json.Unmarshal(body, &resp); err != nil {
			panic(err)
		}
		sess, err := f.SessionStore.GetSessionByID(r.Form.Get("code"))
		if err != nil {
			panic(err)
		}
		cfg, s := *f.Config(), *sess
		if re.edit != nil {
			re.edit(&cfg, &s)
		}
		tok, err := s.IDToken(&cfg, cmp.Or(re.key, f.Keypair), f.Now())
		if err != nil {
			panic(err)
		}
		if re.after != nil {
			tok = re.after(tok)
		}
		resp["id_token"] = tok
		body, _ = json.Marshal(resp)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

func (f *idp) config(redirectURL string) Config {
	return Config{
		Issuer:       f.Issuer(),
		ClientID:     f.ClientID,
		ClientSecret: f.ClientSecret,
		RedirectURL:  redirectURL,
		GroupMap: map[string][]string{
			"eng-oncall":  {"operators", "readers"},
			"engineering": {"readers"},
		},
	}
}

const testRedirectURL = "https://postern.example.com/v1/sso/callback"

func newProvider(t *testing.T, cfg Config, clock *fakeClock) *Provider {
	t.Helper()
	p, err := New(t.Context(), cfg, Options{Now: clock.Now, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// noFollow is a browser that stops at each redirect, so a test sees where
// it is sent.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize plays the browser at the provider: it follows authURL and
// returns the provider's redirect to the server's callback as the request
// Finish handles.
func authorize(t *testing.T, authURL string) *http.Request {
	t.Helper()
	resp, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, testRedirectURL) {
		t.Fatalf("provider answered %s, Location %q; want a redirect to the callback", resp.Status, loc)
	}
	return httptest.NewRequest("GET", loc, nil)
}

var jane = &mockoidc.MockUser{
	Subject:           "00u1jane",
	Email:             "jane.doe@example.com",
	EmailVerified:     true,
	PreferredUsername: "jane.doe",
	Groups:            []string{"eng-oncall", "engineering", "marketing"},
}

func TestFinish(t *testing.T) {
	otherKey, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     func(*Config)
		user    *mockoidc.MockUser
		before  func(t *testing.T, f *idp) // after the provider's redirect, before Finish
		request func(r *http.Request)      // changes the callback request
		want    Identity                   // when wantErr is nil
		wantErr error
		wantMsg string // in the error
	}{
		{
			name: "groups mapped, unmapped dropped",
			user: jane,
			want: Identity{Username: "jane.doe", Subject: "00u1jane", Email: "jane.doe@example.com", Groups: []string{"operators", "readers"}},
		},
		{
			name: "username falls back to the verified email",
			user: &mockoidc.MockUser{Subject: "00u2", Email: "bob@example.com", EmailVerified: true},
			want: Identity{Username: "bob@example.com", Subject: "00u2", Email: "bob@example.com"},
		},
		{
			name: "unverified email is not a username",
			user: &mockoidc.MockUser{Subject: "00u3", Email: "mallory@example.com"},
			want: Identity{Username: "00u3", Subject: "00u3"},
		},
		{
			name:    "configured username claim missing",
			cfg:     func(c *Config) { c.UsernameClaim = "upn" },
			user:    jane,
			wantErr: ErrMissingUsername,
			wantMsg: `"upn"`,
		},
		{
			name:    "username not a Postern user name",
			user:    &mockoidc.MockUser{Subject: "00u4", PreferredUsername: "jane doe"},
			wantErr: ErrInvalidUsername,
		},
		{
			name:    "not in an allowed group",
			cfg:     func(c *Config) { c.AllowedGroups = []string{"postern-users"} },
			user:    jane,
			wantErr: ErrNotAllowed,
		},
		{
			name: "allowed group",
			cfg:  func(c *Config) { c.AllowedGroups = []string{"marketing"} },
			user: jane,
			want: Identity{Username: "jane.doe", Subject: "00u1jane", Email: "jane.doe@example.com", Groups: []string{"operators", "readers"}},
		},
		{
			name: "wrong audience",
			user: jane,
			before: func(t *testing.T, f *idp) {
				f.setReissue(&reissue{edit: func(c *mockoidc.Config, _ *mockoidc.Session) { c.ClientID = "another-client" }})
			},
			wantErr: ErrTokenAudience,
			wantMsg: "another-client",
		},
		{
			name: "wrong issuer",
			user: jane,
			before: func(t *testing.T, f *idp) {
				f.setReissue(&reissue{edit: func(c *mockoidc.Config, _ *mockoidc.Session) { c.Issuer = "https://evil.example.com/oidc" }})
			},
			wantErr: ErrTokenIssuer,
			wantMsg: "evil.example.com",
		},
		{
			name: "signed by another key under the provider's key id",
			user: jane,
			before: func(t *testing.T, f *idp) {
				kid, err := f.Keypair.KeyID()
				if err != nil {
					t.Fatal(err)
				}
				key := *otherKey
				key.Kid = kid
				f.setReissue(&reissue{key: &key})
			},
			wantErr: ErrTokenSignature,
		},
		{
			name: "claims edited after signing",
			user: jane,
			before: func(t *testing.T, f *idp) {
				f.setReissue(&reissue{after: func(tok string) string { return editClaims(t, tok, "preferred_username", "admin") }})
			},
			wantErr: ErrTokenSignature,
		},
		{
			name: "signature bytes changed",
			user: jane,
			before: func(t *testing.T, f *idp) {
				f.setReissue(&reissue{after: flipSignature})
			},
			wantErr: ErrTokenSignature,
		},
		{
			name: "expired",
			user: jane,
			// The provider's clock an hour behind: it issues a token
			// that expired 50 minutes ago (its TTL is 10).
			before:  func(t *testing.T, f *idp) { f.FastForward(-time.Hour) },
			wantErr: ErrTokenExpired,
		},
		{
			name: "nonce of another login",
			user: jane,
			before: func(t *testing.T, f *idp) {
				f.setReissue(&reissue{edit: func(_ *mockoidc.Config, s *mockoidc.Session) { s.OIDCNonce = "nonce-of-another-login" }})
			},
			wantErr: ErrTokenNonce,
		},
		{
			name:    "code the provider never issued",
			user:    jane,
			request: func(r *http.Request) { setQuery(r, "code", "not-a-code") },
			wantErr: ErrExchange,
			wantMsg: "invalid_grant",
		},
		{
			name:    "no code",
			user:    jane,
			request: func(r *http.Request) { setQuery(r, "code", "") },
			wantErr: ErrNoCode,
		},
		{
			name:    "unknown state",
			user:    jane,
			request: func(r *http.Request) { setQuery(r, "state", "forged-state") },
			wantErr: ErrUnknownState,
		},
		{
			name:    "no state",
			user:    jane,
			request: func(r *http.Request) { setQuery(r, "state", "") },
			wantErr: ErrUnknownState,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startIdP(t)
			cfg := f.config(testRedirectURL)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			p := newProvider(t, cfg, newClock())
			f.QueueUser(tt.user)
			authURL, err := p.Begin("http://127.0.0.1:4242/callback")
			if err != nil {
				t.Fatal(err)
			}
			r := authorize(t, authURL)
			if tt.before != nil {
				tt.before(t, f)
			}
			if tt.request != nil {
				tt.request(r)
			}
			id, redirect, err := p.Finish(t.Context(), r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Finish: %v; want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("Finish: %v; want it to say %q", err, tt.wantMsg)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			tt.want.Issuer = f.Issuer()
			if fmt.Sprint(id) != fmt.Sprint(tt.want) {
				t.Errorf("identity %+v; want %+v", id, tt.want)
			}
			if redirect != "http://127.0.0.1:4242/callback" {
				t.Errorf("redirect %q", redirect)
			}
		})
	}
}

func setQuery(r *http.Request, k, v string) {
	q := r.URL.Query()
	q.Set(k, v)
	r.URL.RawQuery = q.Encode()
}

// editClaims changes one claim of a signed token, keeping its signature:
// what an attacker who holds someone's token would try.
func editClaims(t *testing.T, tok, claim, value string) string {
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	claims[claim] = value
	b, _ = json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// flipSignature changes the first character of the signature, which (unlike
// the last) always changes its bytes.
func flipSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 1
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func TestFinishIdPError(t *testing.T) {
	f := startIdP(t)
	p := newProvider(t, f.config(testRedirectURL), newClock())
	authURL, err := p.Begin("/console/signed-in")
	if err != nil {
		t.Fatal(err)
	}
	f.setDeny()
	_, redirect, err := p.Finish(t.Context(), authorize(t, authURL))
	var idpErr *IdPError
	if !errors.As(err, &idpErr) || idpErr.Code != "access_denied" || idpErr.Description != "The user declined." {
		t.Fatalf("Finish: %v; want the provider's access_denied", err)
	}
	if redirect != "/console/signed-in" {
		t.Errorf("redirect %q; want the client's, so the user is sent back with the error", redirect)
	}
}

func TestFinishState(t *testing.T) {
	tests := []struct {
		name         string
		run          func(t *testing.T, p *Provider, clock *fakeClock, r *http.Request) error
		wantErr      error
		wantRedirect bool
	}{
		{
			name: "replayed",
			run: func(t *testing.T, p *Provider, _ *fakeClock, r *http.Request) error {
				if _, _, err := p.Finish(t.Context(), r); err != nil {
					t.Fatalf("first Finish: %v", err)
				}
				_, redirect, err := p.Finish(t.Context(), r)
				if redirect != "" {
					t.Errorf("replay redirects to %q", redirect)
				}
				return err
			},
			wantErr: ErrStateReused,
		},
		{
			name: "expired",
			run: func(t *testing.T, p *Provider, clock *fakeClock, r *http.Request) error {
				clock.Advance(loginTTL)
				_, redirect, err := p.Finish(t.Context(), r)
				if redirect == "" {
					t.Error("no redirect: the CLI would wait for nothing")
				}
				return err
			},
			wantErr: ErrStateExpired,
		},
		{
			name: "just in time",
			run: func(t *testing.T, p *Provider, clock *fakeClock, r *http.Request) error {
				clock.Advance(loginTTL - time.Second)
				_, _, err := p.Finish(t.Context(), r)
				return err
			},
		},
		{
			name: "evicted by a flood of logins",
			run: func(t *testing.T, p *Provider, clock *fakeClock, r *http.Request) error {
				for range p.maxPending {
					clock.Advance(time.Millisecond)
					if _, err := p.Begin("/flood"); err != nil {
						t.Fatal(err)
					}
				}
				if n := len(p.pending); n != p.maxPending {
					t.Errorf("%d logins pending; want the bound %d", n, p.maxPending)
				}
				_, _, err := p.Finish(t.Context(), r)
				return err
			},
			wantErr: ErrUnknownState,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startIdP(t)
			clock := newClock()
			p := newProvider(t, f.config(testRedirectURL), clock)
			p.maxPending = 50
			authURL, err := p.Begin("http://[::1]:4242/callback")
			if err != nil {
				t.Fatal(err)
			}
			err = tt.run(t, p, clock, authorize(t, authURL))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("got %v; want %v", err, tt.wantErr)
			}
		})
	}
}

func TestBeginRefusesRedirect(t *testing.T) {
	f := startIdP(t)
	p := newProvider(t, f.config(testRedirectURL), newClock())
	for _, r := range []string{"https://evil.example.com/callback", "//evil.example.com/x", "http://192.168.1.10:8080/callback", ""} {
		if u, err := p.Begin(r); !errors.Is(err, ErrBadRedirect) {
			t.Errorf("Begin(%q) = %q, %v; want ErrBadRedirect", r, u, err)
		}
	}
	if len(p.pending) != 0 {
		t.Errorf("refused logins were recorded: %d", len(p.pending))
	}
}

func TestBeginAuthURL(t *testing.T) {
	f := startIdP(t)
	p := newProvider(t, f.config(testRedirectURL), newClock())
	a, err := p.Begin("/console")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.Begin("/console")
	ua, _ := url.Parse(a)
	ub, _ := url.Parse(b)
	qa, qb := ua.Query(), ub.Query()
	if got := ua.Scheme + "://" + ua.Host + ua.Path; got != f.AuthorizationEndpoint() {
		t.Errorf("auth URL %s; want the provider's endpoint %s", got, f.AuthorizationEndpoint())
	}
	for k, want := range map[string]string{"code_challenge_method": "S256", "redirect_uri": testRedirectURL, "client_id": f.ClientID, "scope": "openid profile email groups", "response_type": "code"} {
		if qa.Get(k) != want {
			t.Errorf("%s = %q; want %q", k, qa.Get(k), want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if qa.Get(k) == "" || qa.Get(k) == qb.Get(k) {
			t.Errorf("%s %q, then %q: want fresh random values", k, qa.Get(k), qb.Get(k))
		}
	}
}

func TestNew(t *testing.T) {
	f := startIdP(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/oidc"
	ln.Close()
	tests := []struct {
		name    string
		cfg     func(*Config)
		wantMsg string
		wantAs  any
	}{
		{name: "ok", cfg: func(*Config) {}},
		{
			name:    "issuer unreachable",
			cfg:     func(c *Config) { c.Issuer = closed },
			wantMsg: "discovery of issuer",
		},
		{
			name:    "discovery names another issuer",
			cfg:     func(c *Config) { c.Issuer = strings.Replace(f.Issuer(), "127.0.0.1", "localhost", 1) },
			wantMsg: "its discovery document names issuer " + fmt.Sprintf("%q", f.Issuer()),
			wantAs:  new(*oidc.IssuerMismatchError),
		},
		{
			name:    "invalid config",
			cfg:     func(c *Config) { c.ClientID = "" },
			wantMsg: "clientId is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := f.config(testRedirectURL)
			tt.cfg(&cfg)
			_, err := New(t.Context(), cfg, Options{})
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("New: %v; want it to say %q", err, tt.wantMsg)
			}
			if tt.wantAs != nil && !errors.As(err, tt.wantAs) {
				t.Errorf("New: %v is not a %T", err, tt.wantAs)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := Config{Issuer: "https://idp.example.com", ClientID: "postern", RedirectURL: testRedirectURL}
	tests := []struct {
		name    string
		cfg     func(*Config)
		wantMsg string // "" for valid
	}{
		{name: "minimal", cfg: func(*Config) {}},
		{name: "loopback http issuer", cfg: func(c *Config) { c.Issuer = "http://127.0.0.1:5556/dex" }},
		{name: "no issuer", cfg: func(c *Config) { c.Issuer = "" }, wantMsg: "issuer is required"},
		{name: "http issuer", cfg: func(c *Config) { c.Issuer = "http://idp.example.com" }, wantMsg: "must be an https:// URL"},
		{name: "relative redirect", cfg: func(c *Config) { c.RedirectURL = "/v1/sso/callback" }, wantMsg: "absolute"},
		{name: "no redirect", cfg: func(c *Config) { c.RedirectURL = "" }, wantMsg: "redirectUrl is required"},
		{name: "scopes without openid", cfg: func(c *Config) { c.Scopes = []string{"profile"} }, wantMsg: `must include "openid"`},
		{name: "empty mapped group", cfg: func(c *Config) { c.GroupMap = map[string][]string{"eng": {""}} }, wantMsg: `groupMap["eng"]`},
		{
			name:    "every problem at once",
			cfg:     func(c *Config) { *c = Config{} },
			wantMsg: "issuer is required\nsso: clientId is required\nsso: redirectUrl is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.cfg(&c)
			err := c.Validate()
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Validate: %v; want it to say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	var c Config
	err := json.Unmarshal([]byte(`{"issuer":"https://idp.example.com","clientId":"postern","clientSecret":"s",
		"redirectUrl":"https://postern.example.com/v1/sso/callback","scopes":["openid"],"groupsClaim":"roles",
		"usernameClaim":"upn","groupMap":{"eng-oncall":["operators"]},"allowedGroups":["eng"]}`), &c)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Issuer: "https://idp.example.com", ClientID: "postern", ClientSecret: "s", RedirectURL: testRedirectURL,
		Scopes: []string{"openid"}, GroupsClaim: "roles", UsernameClaim: "upn", GroupMap: map[string][]string{"eng-oncall": {"operators"}}, AllowedGroups: []string{"eng"}}
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("got %+v; want %+v", c, want)
	}
}

func TestCheckClientRedirect(t *testing.T) {
	tests := []struct {
		in, want string // want "" for refused
	}{
		{"http://127.0.0.1:43123/callback", "http://127.0.0.1:43123/callback"},
		{"http://127.0.0.1:43123/callback?state=abc", "http://127.0.0.1:43123/callback?state=abc"},
		{"http://[::1]:8080/cb", "http://[::1]:8080/cb"},
		{"http://LocalHost:80/", "http://localhost:80/"},
		{"HTTP://127.0.0.1:0080/x", "http://127.0.0.1:80/x"},
		{"/console/sso", "/console/sso"},
		{"/", "/"},
		{"/console?x=1", "/console?x=1"},
		{"", ""},
		{"https://127.0.0.1:8443/callback", ""},         // the CLI listens on http
		{"http://127.0.0.1/callback", ""},               // no port
		{"http://127.0.0.1:0/callback", ""},             // port 0
		{"http://127.0.0.1:70000/callback", ""},         // port out of range
		{"http://127.0.0.2:8080/callback", ""},          // not one of the three
		{"http://127.0.0.1.evil.com:80/", ""},           // not loopback
		{"http://localhost.:80/", ""},                   // not exactly localhost
		{"http://[::ffff:127.0.0.1]:80/", ""},           // mapped address
		{"http://evil.com@127.0.0.1:80/", ""},           // user info
		{"http://127.0.0.1:80@evil.com/", ""},           // user info, other host
		{"http://127.0.0.1:8080/cb#frag", ""},           // fragment
		{"https://evil.example.com/callback", ""},       // another site
		{"//evil.example.com/callback", ""},             // protocol-relative: another site
		{"/\\evil.example.com", ""},                     // browsers read \ as /
		{"/\t/evil.example.com", ""},                    // browsers drop tabs
		{"/\u00a0/x", ""},                               // non-ASCII
		{"javascript:alert(1)", ""},                     // script
		{"http:127.0.0.1:80", ""},                       // opaque
		{"console", ""},                                 // relative path
		{"/" + strings.Repeat("a", maxRedirectLen), ""}, // too long
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CheckClientRedirect(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrBadRedirect) {
					t.Fatalf("accepted as %q; want ErrBadRedirect", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// FuzzCheckClientRedirect checks that whatever CheckClientRedirect accepts
// sends the browser nowhere but this server or the machine's loopback, also
// after Callback adds its parameters.
func FuzzCheckClientRedirect(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got, err := CheckClientRedirect(s)
		if err != nil {
			if !errors.Is(err, ErrBadRedirect) {
				t.Fatalf("error %v is not ErrBadRedirect", err)
			}
			return
		}
		if again, err := CheckClientRedirect(got); err != nil || again != got {
			t.Fatalf("%q canonical %q checks as %q, %v", s, got, again, err)
		}
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", testRedirectURL, nil)
		redirectWith(w, r, got, url.Values{"code": {"C"}})
		loc := w.Header().Get("Location")
		base, _ := url.Parse(testRedirectURL)
		u, err := base.Parse(loc)
		if err != nil {
			t.Fatalf("%q: Location %q: %v", s, loc, err)
		}
		switch {
		case u.Scheme == "https" && u.Host == "postern.example.com":
		case u.Scheme == "http" && slices.Contains([]string{"127.0.0.1", "::1", "localhost"}, u.Hostname()) && u.Port() != "":
		default:
			t.Fatalf("%q accepted as %q sends the browser to %q", s, got, u)
		}
		if u.Query().Get("code") != "C" {
			t.Fatalf("%q: Location %q lost the code", s, loc)
		}
	})
}

func TestHandoffs(t *testing.T) {
	tests := []struct {
		name string
		run  func(h *Handoffs[string], clock *fakeClock) (string, bool)
		want string // "" for refused
	}{
		{
			name: "taken once",
			run:  func(h *Handoffs[string], _ *fakeClock) (string, bool) { return h.Take(h.Put("token")) },
			want: "token",
		},
		{
			name: "used twice",
			run: func(h *Handoffs[string], _ *fakeClock) (string, bool) {
				c := h.Put("token")
				h.Take(c)
				return h.Take(c)
			},
		},
		{
			name: "just before expiry",
			run: func(h *Handoffs[string], clock *fakeClock) (string, bool) {
				c := h.Put("token")
				clock.Advance(HandoffTTL - time.Millisecond)
				return h.Take(c)
			},
			want: "token",
		},
		{
			name: "expired",
			run: func(h *Handoffs[string], clock *fakeClock) (string, bool) {
				c := h.Put("token")
				clock.Advance(HandoffTTL)
				return h.Take(c)
			},
		},
		{
			name: "unknown",
			run: func(h *Handoffs[string], _ *fakeClock) (string, bool) {
				h.Put("token")
				return h.Take("NOTACODE")
			},
		},
		{
			name: "empty",
			run:  func(h *Handoffs[string], _ *fakeClock) (string, bool) { return h.Take("") },
		},
		{
			name: "oldest dropped when full",
			run: func(h *Handoffs[string], clock *fakeClock) (string, bool) {
				first := h.Put("first")
				for i := range h.max {
					clock.Advance(time.Millisecond)
					h.Put(fmt.Sprint(i))
				}
				if len(h.m) != h.max {
					return fmt.Sprintf("holds %d codes", len(h.m)), true
				}
				return h.Take(first)
			},
		},
		{
			name: "expired swept on Put",
			run: func(h *Handoffs[string], clock *fakeClock) (string, bool) {
				h.Put("old")
				clock.Advance(HandoffTTL)
				h.Put("new")
				return fmt.Sprint(len(h.m)), true
			},
			want: "1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			h := NewHandoffs[string](clock.Now)
			h.max = 5
			got, ok := tt.run(h, clock)
			if ok != (tt.want != "") || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestHandoffsConcurrent(t *testing.T) {
	h := NewHandoffs[int](nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				v := g*1000 + i
				if got, ok := h.Take(h.Put(v)); !ok || got != v {
					t.Errorf("Take = %d, %v; want %d", got, ok, v)
				}
			}
		})
	}
	wg.Wait()
}

// server mounts Routes as the Postern server would, with an Issue that
// hands out a LoginResponse.
type server struct {
	*httptest.Server
	idp   *idp
	clock *fakeClock
	rt    *Routes[api.LoginResponse]

	mu     sync.Mutex
	issued []Identity // guarded by mu
	refuse error      // guarded by mu; Issue's error
}

func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{idp: startIdP(t), clock: newClock()}
	mux := http.NewServeMux()
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	p := newProvider(t, s.idp.config(s.URL+PathCallback), s.clock)
	s.rt = &Routes[api.LoginResponse]{
		Provider: p,
		Handoffs: NewHandoffs[api.LoginResponse](s.clock.Now),
		Issue:    s.issue,
		Logf:     t.Logf,
	}
	mux.HandleFunc(PathStart, s.rt.Start)
	mux.HandleFunc(PathCallback, s.rt.Callback)
	mux.HandleFunc(PathExchange, s.rt.Exchange)
	return s
}

func (s *server) issue(_ context.Context, id Identity) (api.LoginResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse != nil {
		return api.LoginResponse{}, s.refuse
	}
	s.issued = append(s.issued, id)
	return api.LoginResponse{Token: "pst_token_for_" + id.Username, User: id.Username, Account: "000000000001"}, nil
}

// browse follows redirects from start like a browser, until one leads to
// the client (stop), and returns that URL unvisited; or, if none does, the
// last response and its body.
func browse(t *testing.T, start string, stop func(*url.URL) bool) (*url.URL, *http.Response, []byte) {
	t.Helper()
	u, _ := url.Parse(start)
	for range 10 {
		resp, err := noFollow.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			return nil, resp, body
		}
		if u, err = u.Parse(resp.Header.Get("Location")); err != nil {
			t.Fatal(err)
		}
		if stop(u) {
			return u, nil, nil
		}
	}
	t.Fatal("too many redirects")
	return nil, nil, nil
}

func atCLI(u *url.URL) bool { return u.Host == "127.0.0.1:4242" }

func (s *server) exchange(t *testing.T, code string) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(ExchangeRequest{Code: code})
	resp, err := http.Post(s.URL+PathExchange, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func startURL(s *server, redirect string) string {
	return s.URL + PathStart + "?redirect=" + url.QueryEscape(redirect)
}

func TestRoutesLogin(t *testing.T) {
	s := startServer(t)
	s.idp.QueueUser(jane)
	u, _, _ := browse(t, startURL(s, "http://127.0.0.1:4242/callback?state=cli"), atCLI)
	if u == nil {
		t.Fatal("never sent back to the CLI")
	}
	q := u.Query()
	if q.Get("state") != "cli" || q.Get("code") == "" || u.Path != "/callback" {
		t.Fatalf("sent back to %s; want /callback with the CLI's state and a code", u)
	}
	status, body := s.exchange(t, q.Get("code"))
	var got api.LoginResponse
	if status != http.StatusOK || json.Unmarshal(body, &got) != nil || got.Token != "pst_token_for_jane.doe" {
		t.Fatalf("exchange: %d %s", status, body)
	}
	s.mu.Lock()
	if len(s.issued) != 1 || !slices.Equal(s.issued[0].Groups, []string{"operators", "readers"}) {
		t.Errorf("issued for %+v", s.issued)
	}
	s.mu.Unlock()

	status, body = s.exchange(t, q.Get("code"))
	var e api.Error
	if status != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Code != CodeInvalidCode {
		t.Errorf("second exchange: %d %s; want 400 InvalidCode", status, body)
	}
}

func TestRoutesConsoleRedirect(t *testing.T) {
	s := startServer(t)
	u, _, _ := browse(t, startURL(s, "/console/signed-in"), func(u *url.URL) bool { return strings.HasPrefix(u.Path, "/console/") })
	if u == nil || u.Host != strings.TrimPrefix(s.URL, "http://") || u.Query().Get("code") == "" {
		t.Fatalf("sent to %v; want the console on this server with a code", u)
	}
}

func TestRoutesFailures(t *testing.T) {
	tests := []struct {
		name     string
		run      func(t *testing.T, s *server) (*url.URL, *http.Response, []byte)
		wantDesc string // in error_description of the redirect to the CLI
		wantBody string // in the body of the page, when there is no redirect
		status   int
	}{
		{
			name: "provider refuses",
			run: func(t *testing.T, s *server) (*url.URL, *http.Response, []byte) {
				s.idp.setDeny()
				return browse(t, startURL(s, "http://127.0.0.1:4242/callback"), atCLI)
			},
			wantDesc: "The identity provider did not sign you in: The user declined.",
		},
		{
			name: "Issue refuses",
			run: func(t *testing.T, s *server) (*url.URL, *http.Response, []byte) {
				s.mu.Lock()
				s.refuse = errors.New("jane.doe is disabled")
				s.mu.Unlock()
				return browse(t, startURL(s, "http://127.0.0.1:4242/callback"), atCLI)
			},
			wantDesc: "Postern refused the sign-in: jane.doe is disabled",
		},
		{
			name: "token fails verification",
			run: func(t *testing.T, s *server) (*url.URL, *http.Response, []byte) {
				s.idp.setReissue(&reissue{edit: func(c *mockoidc.Config, _ *mockoidc.Session) { c.ClientID = "another-client" }})
				return browse(t, startURL(s, "http://127.0.0.1:4242/callback"), atCLI)
			},
			wantDesc: "failed verification. Ask your administrator",
		},
		{
			name: "login expired",
			run: func(t *testing.T, s *server) (*url.URL, *http.Response, []byte) {
				resp, err := noFollow.Get(startURL(s, "http://127.0.0.1:4242/callback"))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				s.clock.Advance(loginTTL + time.Second)
				return browse(t, resp.Header.Get("Location"), atCLI)
			},
			wantDesc: "more than 10 minutes",
		},
		{
			name: "unknown state",
			run: func(t *testing.T, s *server) (*url.URL, *http.Response, []byte) {
				return browse(t, s.URL+PathCallback+"?state=forged&code=x", atCLI)
			},
			status:   http.StatusBadRequest,
			wantBody: "unknown or already finished",
		},
		{
			name: "redirect to another site refused",
			run: func(t *testing.T, s *server) (*url.URL, *http.Response, []byte) {
				return browse(t, startURL(s, "https://evil.example.com/callback"), atCLI)
			},
			status:   http.StatusBadRequest,
			wantBody: `"code":"InvalidRedirect"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			u, resp, body := tt.run(t, s)
			if tt.wantDesc != "" {
				if u == nil {
					t.Fatalf("not sent back to the CLI: %s", resp.Status)
				}
				q := u.Query()
				if q.Get("error") != "access_denied" || !strings.Contains(q.Get("error_description"), tt.wantDesc) || q.Has("code") {
					t.Fatalf("sent back to %s; want error=access_denied saying %q", u, tt.wantDesc)
				}
				return
			}
			if u != nil {
				t.Fatalf("sent to %s; want a page", u)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d; want %d", resp.StatusCode, tt.status)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("page %q; want it to say %q", body, tt.wantBody)
			}
		})
	}
}

func TestExchangeErrors(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		body     string
		advance  time.Duration
		status   int
		wantCode string
	}{
		{name: "expired code", method: "POST", body: "CODE", advance: HandoffTTL, status: 400, wantCode: CodeInvalidCode},
		{name: "unknown code", method: "POST", body: `{"code":"NOPE"}`, status: 400, wantCode: CodeInvalidCode},
		{name: "not JSON", method: "POST", body: `code=x`, status: 400, wantCode: CodeBadRequest},
		{name: "unknown field", method: "POST", body: `{"code":"x","token":"y"}`, status: 400, wantCode: CodeBadRequest},
		{name: "GET", method: "GET", status: 405, wantCode: CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			body := tt.body
			if body == "CODE" {
				body = fmt.Sprintf(`{"code":%q}`, s.rt.Handoffs.Put(api.LoginResponse{Token: "t"}))
			}
			s.clock.Advance(tt.advance)
			req, _ := http.NewRequest(tt.method, s.URL+PathExchange, strings.NewReader(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e api.Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != tt.status || e.Code != tt.wantCode || e.Message == "" {
				t.Fatalf("%s %+v (%v); want %d %s", resp.Status, e, err, tt.status, tt.wantCode)
			}
		})
	}
}
