package sso

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/postern/postern/api"
	"github.com/postern/postern/clocktest"
)

// newClock is the injected clock (the one fake clock of the tests): tests
// move it instead of sleeping. It starts at the real time because
// mockoidc stamps tokens with it.
func newClock() *clocktest.Clock { return clocktest.New(time.Now()) }

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

func newProvider(t *testing.T, cfg Config, clock *clocktest.Clock) *Provider {
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
			login, err := p.Begin("http://127.0.0.1:4242/callback", cliChallenge)
			if err != nil {
				t.Fatal(err)
			}
			r := authorize(t, login.AuthURL)
			if tt.before != nil {
				tt.before(t, f)
			}
			if tt.request != nil {
				tt.request(r)
			}
			id, fin, err := p.Finish(t.Context(), r, []string{login.BrowserSecret})
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
			if fin.Redirect != "http://127.0.0.1:4242/callback" {
				t.Errorf("redirect %q", fin.Redirect)
			}
			if fin.Challenge != cliChallenge || fin.BrowserSecret != login.BrowserSecret {
				t.Errorf("finished %+v; want the hand-off bound to the CLI's challenge %q", fin, cliChallenge)
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
	login, err := p.Begin("/console/signed-in", "")
	if err != nil {
		t.Fatal(err)
	}
	f.setDeny()
	_, fin, err := p.Finish(t.Context(), authorize(t, login.AuthURL), []string{login.BrowserSecret})
	var idpErr *IdPError
	if !errors.As(err, &idpErr) || idpErr.Code != "access_denied" || idpErr.Description != "The user declined." {
		t.Fatalf("Finish: %v; want the provider's access_denied", err)
	}
	if fin.Redirect != "/console/signed-in" {
		t.Errorf("redirect %q; want the client's, so the user is sent back with the error", fin.Redirect)
	}
}

func TestFinishState(t *testing.T) {
	tests := []struct {
		name         string
		run          func(t *testing.T, p *Provider, clock *clocktest.Clock, r *http.Request, secret []string) error
		wantErr      error
		wantRedirect bool
	}{
		{
			name: "replayed",
			run: func(t *testing.T, p *Provider, _ *clocktest.Clock, r *http.Request, secret []string) error {
				if _, _, err := p.Finish(t.Context(), r, secret); err != nil {
					t.Fatalf("first Finish: %v", err)
				}
				_, fin, err := p.Finish(t.Context(), r, secret)
				if fin.Redirect != "" {
					t.Errorf("replay redirects to %q", fin.Redirect)
				}
				return err
			},
			wantErr: ErrStateReused,
		},
		{
			name: "expired",
			run: func(t *testing.T, p *Provider, clock *clocktest.Clock, r *http.Request, secret []string) error {
				clock.Advance(loginTTL)
				_, fin, err := p.Finish(t.Context(), r, secret)
				if fin.Redirect == "" {
					t.Error("no redirect: the CLI would wait for nothing")
				}
				return err
			},
			wantErr: ErrStateExpired,
		},
		{
			name: "just in time",
			run: func(t *testing.T, p *Provider, clock *clocktest.Clock, r *http.Request, secret []string) error {
				clock.Advance(loginTTL - time.Second)
				_, _, err := p.Finish(t.Context(), r, secret)
				return err
			},
		},
		{
			name: "evicted by a flood of logins",
			run: func(t *testing.T, p *Provider, clock *clocktest.Clock, r *http.Request, secret []string) error {
				for range p.maxPending {
					clock.Advance(time.Millisecond)
					if _, err := p.Begin("/flood", ""); err != nil {
						t.Fatal(err)
					}
				}
				if n := len(p.pending); n != p.maxPending {
					t.Errorf("%d logins pending; want the bound %d", n, p.maxPending)
				}
				_, _, err := p.Finish(t.Context(), r, secret)
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
			login, err := p.Begin("http://[::1]:4242/callback", cliChallenge)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.run(t, p, clock, authorize(t, login.AuthURL), []string{login.BrowserSecret})
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
		if u, err := p.Begin(r, cliChallenge); !errors.Is(err, ErrBadRedirect) {
			t.Errorf("Begin(%q) = %+v, %v; want ErrBadRedirect", r, u, err)
		}
	}
	if len(p.pending) != 0 {
		t.Errorf("refused logins were recorded: %d", len(p.pending))
	}
}

func TestBeginAuthURL(t *testing.T) {
	f := startIdP(t)
	p := newProvider(t, f.config(testRedirectURL), newClock())
	a, err := p.Begin("/console", "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.Begin("/console", "")
	if !isBindingSecret(a.BrowserSecret) || a.BrowserSecret == b.BrowserSecret || strings.Contains(a.AuthURL, a.BrowserSecret) {
		t.Errorf("browser secrets %q, %q: want fresh random ones, not in the URL", a.BrowserSecret, b.BrowserSecret)
	}
	ua, _ := url.Parse(a.AuthURL)
	ub, _ := url.Parse(b.AuthURL)
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

// cliVerifier is the CLI's code verifier in these tests, and cliChallenge
// its S256 hash: all the server sees of it before the exchange.
var (
	cliVerifier  = oauth2.GenerateVerifier()
	cliChallenge = oauth2.S256ChallengeFromVerifier(cliVerifier)
)

// TestFinishBinding checks that only the browser that started a login can
// finish it, and what the hand-off is then bound to.
func TestFinishBinding(t *testing.T) {
	tests := []struct {
		name      string
		redirect  string
		challenge string
		deny      bool                              // the provider refuses
		secrets   func(login, other Login) []string // what the browser presents
		wantErr   error
		// wantBound is what the hand-off must be bound to, on success.
		wantBound func(login Login) string
	}{
		{
			name:      "the CLI's browser",
			redirect:  "http://127.0.0.1:4242/callback",
			challenge: cliChallenge,
			secrets:   func(login, _ Login) []string { return []string{login.BrowserSecret} },
			wantBound: func(Login) string { return cliChallenge },
		},
		{
			name:      "the console's browser",
			redirect:  "/sso",
			secrets:   func(login, _ Login) []string { return []string{login.BrowserSecret} },
			wantBound: func(login Login) string { return s256(login.BrowserSecret) },
		},
		{
			name:      "a browser with other logins in flight too",
			redirect:  "/sso",
			secrets:   func(login, other Login) []string { return []string{other.BrowserSecret, login.BrowserSecret} },
			wantBound: func(login Login) string { return s256(login.BrowserSecret) },
		},
		{
			name:     "a browser without the cookie",
			redirect: "/sso",
			secrets:  func(Login, Login) []string { return nil },
			wantErr:  ErrOtherBrowser,
		},
		{
			// The login CSRF: an attacker's login finished in the
			// victim's browser, which has a login of its own.
			name:      "a browser that started another login",
			redirect:  "http://127.0.0.1:4242/callback",
			challenge: cliChallenge,
			secrets:   func(_, other Login) []string { return []string{other.BrowserSecret} },
			wantErr:   ErrOtherBrowser,
		},
		{
			name:     "the login's hash instead of its secret",
			redirect: "/sso",
			secrets:  func(login, _ Login) []string { return []string{s256(login.BrowserSecret)} },
			wantErr:  ErrOtherBrowser,
		},
		{
			name:     "the provider's refusal, in another browser",
			redirect: "/sso",
			deny:     true,
			secrets:  func(Login, Login) []string { return nil },
			wantErr:  ErrOtherBrowser,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startIdP(t)
			p := newProvider(t, f.config(testRedirectURL), newClock())
			login, err := p.Begin(tt.redirect, tt.challenge)
			if err != nil {
				t.Fatal(err)
			}
			other, err := p.Begin("/sso", "")
			if err != nil {
				t.Fatal(err)
			}
			if tt.deny {
				f.setDeny()
			}
			r := authorize(t, login.AuthURL)
			id, fin, err := p.Finish(t.Context(), r, tt.secrets(login, other))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Finish: %v; want %v", err, tt.wantErr)
				}
				if fin != (Finished{}) {
					t.Errorf("finished %+v: another browser learns where the login goes", fin)
				}
				t.Logf("error: %v", err)
				// The refusal spent nothing: the browser that
				// started the login still finishes it.
				if _, _, err := p.Finish(t.Context(), r, []string{login.BrowserSecret}); err != nil && !tt.deny {
					t.Errorf("then in the browser that started it: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if id.Subject == "" || fin.Redirect != tt.redirect || fin.BrowserSecret != login.BrowserSecret || fin.Challenge != tt.wantBound(login) {
				t.Errorf("finished %+v for %+v; want the login's redirect and secret, bound to %q", fin, id, tt.wantBound(login))
			}
		})
	}
}

func TestBeginChallenge(t *testing.T) {
	f := startIdP(t)
	p := newProvider(t, f.config(testRedirectURL), newClock())
	for _, tt := range []struct {
		redirect, challenge string
		wantErr             error
	}{
		{"http://127.0.0.1:4242/callback", cliChallenge, nil},
		{"/sso", "", nil},
		{"http://127.0.0.1:4242/callback", "", ErrNoChallenge},
		{"http://localhost:4242/callback", "", ErrNoChallenge},
		{"/sso", cliChallenge, ErrBadChallenge},
		{"http://127.0.0.1:4242/callback", cliVerifier[:40], ErrBadChallenge},
		{"http://127.0.0.1:4242/callback", cliChallenge + "=", ErrBadChallenge},
		{"http://127.0.0.1:4242/callback", "+" + cliChallenge[1:], ErrBadChallenge},
		{"http://127.0.0.1:4242/callback", strings.Repeat("A", 4096), ErrBadChallenge},
	} {
		before := len(p.pending)
		_, err := p.Begin(tt.redirect, tt.challenge)
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("Begin(%q, %.50q): %v; want %v", tt.redirect, tt.challenge, err, tt.wantErr)
		}
		if got := len(p.pending) - before; err != nil && got != 0 {
			t.Errorf("Begin(%q, %.50q) refused, yet recorded", tt.redirect, tt.challenge)
		}
	}
}

func TestHandoffs(t *testing.T) {
	tests := []struct {
		name    string
		run     func(h *Handoffs[string], clock *clocktest.Clock) (string, error)
		want    string // when wantErr is nil
		wantErr error
	}{
		{
			name: "taken once",
			run: func(h *Handoffs[string], _ *clocktest.Clock) (string, error) {
				return h.Take(h.Put("token", cliChallenge), cliVerifier)
			},
			want: "token",
		},
		{
			name: "used twice",
			run: func(h *Handoffs[string], _ *clocktest.Clock) (string, error) {
				c := h.Put("token", cliChallenge)
				h.Take(c, cliVerifier)
				return h.Take(c, cliVerifier)
			},
			wantErr: ErrCodeUnknown,
		},
		{
			name: "another client's verifier",
			run: func(h *Handoffs[string], _ *clocktest.Clock) (string, error) {
				return h.Take(h.Put("token", cliChallenge), oauth2.GenerateVerifier())
			},
			wantErr: ErrCodeElsewhere,
		},
		{
			name: "no verifier",
			run: func(h *Handoffs[string], _ *clocktest.Clock) (string, error) {
				return h.Take(h.Put("token", cliChallenge), "")
			},
			wantErr: ErrCodeElsewhere,
		},
		{
			name: "the challenge as its own verifier",
			run: func(h *Handoffs[string], _ *clocktest.Clock) (string, error) {
				return h.Take(h.Put("token", cliChallenge), cliChallenge)
			},
			wantErr: ErrCodeElsewhere,
		},
		{
			name: "void after a wrong verifier",
			run: func(h *Handoffs[string], _ *clocktest.Clock) (string, error) {
				c := h.Put("token", cliChallenge)
				h.Take(c, oauth2.GenerateVerifier())
				return h.Take(c, cliVerifier)
			},
			wantErr: ErrCodeUnknown,
		},
		{
			name: "just before expiry",
			run: func(h *Handoffs[string], clock *clocktest.Clock) (string, error) {
				c := h.Put("token", cliChallenge)
				clock.Advance(HandoffTTL - time.Millisecond)
				return h.Take(c, cliVerifier)
			},
			want: "token",
		},
		{
			name: "expired",
			run: func(h *Handoffs[string], clock *clocktest.Clock) (string, error) {
				c := h.Put("token", cliChallenge)
				clock.Advance(HandoffTTL)
				return h.Take(c, cliVerifier)
			},
			wantErr: ErrCodeUnknown,
		},
		{
			name: "unknown",
			run: func(h *Handoffs[string], _ *clocktest.Clock) (string, error) {
				h.Put("token", cliChallenge)
				return h.Take("NOTACODE", cliVerifier)
			},
			wantErr: ErrCodeUnknown,
		},
		{
			name:    "empty",
			run:     func(h *Handoffs[string], _ *clocktest.Clock) (string, error) { return h.Take("", cliVerifier) },
			wantErr: ErrCodeUnknown,
		},
		{
			name: "oldest dropped when full",
			run: func(h *Handoffs[string], clock *clocktest.Clock) (string, error) {
				first := h.Put("first", cliChallenge)
				for i := range h.max {
					clock.Advance(time.Millisecond)
					h.Put(fmt.Sprint(i), cliChallenge)
				}
				if len(h.m) != h.max {
					return fmt.Sprintf("holds %d codes", len(h.m)), nil
				}
				return h.Take(first, cliVerifier)
			},
			wantErr: ErrCodeUnknown,
		},
		{
			name: "expired swept on Put",
			run: func(h *Handoffs[string], clock *clocktest.Clock) (string, error) {
				h.Put("old", cliChallenge)
				clock.Advance(HandoffTTL)
				h.Put("new", cliChallenge)
				return fmt.Sprint(len(h.m)), nil
			},
			want: "1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			h := NewHandoffs[string](clock.Now)
			h.max = 5
			got, err := tt.run(h, clock)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) || got != tt.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestTakeInBrowser checks the console's redemption: with the cookie of the
// browser that started the login only, which then forgets that secret.
func TestTakeInBrowser(t *testing.T) {
	mine, other, another := rand.Text(), rand.Text(), rand.Text()
	tests := []struct {
		name       string
		cookie     string // the BindingCookie the browser sends; "" none
		wantErr    error
		wantCookie string // the cookie's value after, when it is set; "-" cleared
	}{
		{name: "its browser", cookie: mine, wantCookie: "-"},
		{name: "its browser, with other logins", cookie: other + "." + mine + "." + another, wantCookie: other + "." + another},
		{name: "no cookie", wantErr: ErrCodeElsewhere},
		{name: "another browser", cookie: other + "." + another, wantErr: ErrCodeElsewhere},
		{name: "the hash of its secret", cookie: s256(mine), wantErr: ErrCodeElsewhere},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandoffs[string](nil)
			code := h.Put("token", s256(mine))
			r := httptest.NewRequest("POST", "/v1/console/login", nil)
			if tt.cookie != "" {
				r.Header.Set("Cookie", BindingCookie+"="+tt.cookie)
			}
			w := httptest.NewRecorder()
			v, err := h.TakeInBrowser(w, r, code)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) || (err == nil && v != "token") {
				t.Fatalf("got %q, %v; want %v", v, err, tt.wantErr)
			}
			set := w.Result().Cookies()
			switch {
			case tt.wantCookie == "" && len(set) != 0:
				t.Errorf("set cookies %v; want none", set)
			case tt.wantCookie == "-" && (len(set) != 1 || set[0].MaxAge >= 0):
				t.Errorf("set cookies %v; want %s cleared", set, BindingCookie)
			case tt.wantCookie != "" && tt.wantCookie != "-" && (len(set) != 1 || set[0].Value != tt.wantCookie):
				t.Errorf("set cookies %v; want %s=%s", set, BindingCookie, tt.wantCookie)
			}
			if _, err := h.TakeInBrowser(httptest.NewRecorder(), r, code); !errors.Is(err, ErrCodeUnknown) {
				t.Errorf("second try: %v; want ErrCodeUnknown (a code is good once, right or wrong)", err)
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
				if got, err := h.Take(h.Put(v, cliChallenge), cliVerifier); err != nil || got != v {
					t.Errorf("Take = %d, %v; want %d", got, err, v)
				}
			}
		})
	}
	wg.Wait()
}

// server mounts Routes as the Postern server would, with an Issue that
// hands out a LoginResponse, over TLS since the binding cookie is Secure.
// POST pathConsoleLogin {"code": ...} stands for the web console's
// redemption of its code, as the Postern server does it.
type server struct {
	*httptest.Server
	idp   *idp
	clock *clocktest.Clock
	rt    *Routes[api.LoginResponse]

	mu     sync.Mutex
	issued []Identity // guarded by mu
	refuse error      // guarded by mu; Issue's error
}

const pathConsoleLogin = "/test/console-login"

func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{idp: startIdP(t), clock: newClock()}
	mux := http.NewServeMux()
	s.Server = httptest.NewTLSServer(mux)
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
	mux.HandleFunc("POST "+pathConsoleLogin, func(w http.ResponseWriter, r *http.Request) {
		var req ExchangeRequest
		json.NewDecoder(r.Body).Decode(&req)
		v, err := s.rt.Handoffs.TakeInBrowser(w, r, req.Code)
		switch {
		case errors.Is(err, ErrCodeElsewhere):
			writeError(w, http.StatusForbidden, CodeSignInElsewhere, err.Error())
		case err != nil:
			writeError(w, http.StatusUnauthorized, CodeInvalidCode, err.Error())
		default:
			writeJSON(w, http.StatusOK, v)
		}
	})
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

func (s *server) issuedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.issued)
}

// browser is one person's browser: it keeps cookies, and stops at each
// redirect so a test sees where it is sent.
type browser struct {
	hc *http.Client
	s  *server
}

func (s *server) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{s: s, hc: &http.Client{
		Transport:     s.Client().Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// binding is the browser's BindingCookie for the server; "" if none.
func (b *browser) binding() string {
	u, _ := url.Parse(b.s.URL)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == BindingCookie {
			return c.Value
		}
	}
	return ""
}

// browse follows redirects from start like a browser, until one leads to
// where stop says, and returns that URL unvisited; or, if none does, the
// last response and its body.
func (b *browser) browse(t *testing.T, start string, stop func(*url.URL) bool) (*url.URL, *http.Response, []byte) {
	t.Helper()
	u, _ := url.Parse(start)
	for range 10 {
		resp, err := b.hc.Get(u.String())
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

// post sends body to path on the server, from this browser.
func (b *browser) post(t *testing.T, path string, body any) (int, []byte) {
	t.Helper()
	j, _ := json.Marshal(body)
	resp, err := b.hc.Post(b.s.URL+path, "application/json", strings.NewReader(string(j)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

const cliRedirect = "http://127.0.0.1:4242/callback"

func atCLI(u *url.URL) bool      { return u.Host == "127.0.0.1:4242" }
func atConsole(u *url.URL) bool  { return u.Path == "/sso" }
func atCallback(u *url.URL) bool { return u.Path == PathCallback }

// exchange redeems code as a CLI with verifier would.
func (s *server) exchange(t *testing.T, code, verifier string) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(ExchangeRequest{Code: code, CodeVerifier: verifier})
	resp, err := s.Client().Post(s.URL+PathExchange, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// startURL is PathStart for redirect; challenge, if any, is the client's.
func startURL(s *server, redirect, challenge string) string {
	q := url.Values{"redirect": {redirect}}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	return s.URL + PathStart + "?" + q.Encode()
}

// errorCode is the api.Error code of body; "" if it is none.
func errorCode(body []byte) string {
	var e api.Error
	json.Unmarshal(body, &e)
	return e.Code
}

func TestRoutesLogin(t *testing.T) {
	s := startServer(t)
	s.idp.QueueUser(jane)
	b := s.browser(t)
	u, _, _ := b.browse(t, startURL(s, cliRedirect+"?state=cli", cliChallenge), atCLI)
	if u == nil {
		t.Fatal("never sent back to the CLI")
	}
	q := u.Query()
	if q.Get("state") != "cli" || q.Get("code") == "" || u.Path != "/callback" {
		t.Fatalf("sent back to %s; want /callback with the CLI's state and a code", u)
	}
	if c := b.binding(); c != "" {
		t.Errorf("the browser keeps %s=%s; want it cleared once the CLI has its code", BindingCookie, c)
	}
	status, body := s.exchange(t, q.Get("code"), cliVerifier)
	var got api.LoginResponse
	if status != http.StatusOK || json.Unmarshal(body, &got) != nil || got.Token != "pst_token_for_jane.doe" {
		t.Fatalf("exchange: %d %s", status, body)
	}
	s.mu.Lock()
	if len(s.issued) != 1 || !slices.Equal(s.issued[0].Groups, []string{"operators", "readers"}) {
		t.Errorf("issued for %+v", s.issued)
	}
	s.mu.Unlock()

	status, body = s.exchange(t, q.Get("code"), cliVerifier)
	if status != http.StatusBadRequest || errorCode(body) != CodeInvalidCode {
		t.Errorf("second exchange: %d %s; want 400 InvalidCode", status, body)
	}
}

// TestRoutesPhishedCode: a hand-off code that leaks from the browser on its
// way to the CLI is worthless to another CLI, which lacks the verifier; and
// the code is then void.
func TestRoutesPhishedCode(t *testing.T) {
	for _, tt := range []struct {
		name, verifier, wantCode string
	}{
		{"without a verifier", "", CodeBadRequest},
		{"with another CLI's verifier", oauth2.GenerateVerifier(), CodeVerifierMismatch},
		{"with the challenge", cliChallenge, CodeVerifierMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			u, resp, body := s.browser(t).browse(t, startURL(s, cliRedirect, cliChallenge), atCLI)
			if u == nil {
				t.Fatalf("never sent back to the CLI: %v %s", resp.Status, body)
			}
			code := u.Query().Get("code")
			status, body := s.exchange(t, code, tt.verifier)
			if status != http.StatusBadRequest || errorCode(body) != tt.wantCode {
				t.Fatalf("exchange %s: %d %s; want 400 %s", tt.name, status, body, tt.wantCode)
			}
			t.Logf("refused: %s", body)
			status, body = s.exchange(t, code, cliVerifier)
			want, wantCode := http.StatusBadRequest, CodeInvalidCode
			if tt.wantCode == CodeBadRequest {
				// A malformed request spends nothing.
				want, wantCode = http.StatusOK, ""
			}
			if status != want || errorCode(body) != wantCode {
				t.Errorf("then by the CLI: %d %s; want %d %s", status, body, want, wantCode)
			}
		})
	}
}

// TestRoutesConsole: the console's code is good in the browser that started
// the login only.
func TestRoutesConsole(t *testing.T) {
	s := startServer(t)
	b := s.browser(t)
	u, _, _ := b.browse(t, startURL(s, "/sso", ""), atConsole)
	if u == nil || u.Host != strings.TrimPrefix(s.URL, "https://") || u.Query().Get("code") == "" {
		t.Fatalf("sent to %v; want the console on this server with a code", u)
	}
	if b.binding() == "" {
		t.Fatalf("the browser lost its %s before redeeming the console's code", BindingCookie)
	}
	// The browser that started the login redeems its code, and forgets
	// the binding.
	status, body := b.post(t, pathConsoleLogin, ExchangeRequest{Code: u.Query().Get("code")})
	if status != http.StatusOK || !strings.Contains(string(body), "pst_token_for_") {
		t.Fatalf("the console's code in its browser: %d %s", status, body)
	}
	if c := b.binding(); c != "" {
		t.Errorf("the browser keeps %s=%s after redeeming; want it cleared", BindingCookie, c)
	}

	// Someone else, with the code (from the victim's history, say) but
	// not the cookie, is refused, and the code is void.
	u, _, _ = b.browse(t, startURL(s, "/sso", ""), atConsole)
	code := u.Query().Get("code")
	status, body = s.browser(t).post(t, pathConsoleLogin, ExchangeRequest{Code: code})
	if status != http.StatusForbidden || errorCode(body) != CodeSignInElsewhere {
		t.Fatalf("the code in another browser: %d %s; want 403 %s", status, body, CodeSignInElsewhere)
	}
	status, body = b.post(t, pathConsoleLogin, ExchangeRequest{Code: code})
	if status != http.StatusUnauthorized || errorCode(body) != CodeInvalidCode {
		t.Fatalf("the voided code: %d %s; want 401 %s", status, body, CodeInvalidCode)
	}

	// A console code is no CLI's.
	u, _, _ = b.browse(t, startURL(s, "/sso", ""), atConsole)
	if status, body := s.exchange(t, u.Query().Get("code"), cliVerifier); status != http.StatusBadRequest || errorCode(body) != CodeVerifierMismatch {
		t.Errorf("the console's code at %s: %d %s", PathExchange, status, body)
	}
}

// TestRoutesLoginCSRF: a login is finished only in the browser that started
// it. The attacker starts a login and stops at the provider's redirect back;
// the victim's browser, given that URL, must not sign the victim in as the
// attacker.
func TestRoutesLoginCSRF(t *testing.T) {
	tests := []struct {
		name   string
		victim func(t *testing.T, s *server, v *browser) // the victim's browser before the attack
	}{
		{name: "victim without the cookie", victim: func(*testing.T, *server, *browser) {}},
		{
			name: "victim with a login of their own",
			victim: func(t *testing.T, s *server, v *browser) {
				if u, _, _ := v.browse(t, startURL(s, "/sso", ""), atCallback); u == nil || v.binding() == "" {
					t.Fatal("the victim's own login did not start")
				}
			},
		},
	}
	for _, redirect := range []string{"/sso", cliRedirect} {
		for _, tt := range tests {
			t.Run(tt.name+" "+redirect, func(t *testing.T) {
				s := startServer(t)
				challenge := ""
				if redirect == cliRedirect {
					challenge = cliChallenge
				}
				attacker, victim := s.browser(t), s.browser(t)
				s.idp.QueueUser(&mockoidc.MockUser{Subject: "00u-mallory", PreferredUsername: "mallory"})
				callback, _, _ := attacker.browse(t, startURL(s, redirect, challenge), atCallback)
				if callback == nil {
					t.Fatal("the attacker's login did not reach the callback")
				}
				tt.victim(t, s, victim)
				before := victim.binding()

				u, resp, body := victim.browse(t, callback.String(), func(*url.URL) bool { return true })
				if u != nil {
					t.Fatalf("the victim's browser was sent to %s; want a page saying no", u)
				}
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "started in another browser") || !strings.Contains(string(body), CodeSignInElsewhere) {
					t.Errorf("victim's page: %s %q; want 403 saying the sign-in was started in another browser", resp.Status, body)
				}
				if n := s.issuedCount(); n != 0 {
					t.Errorf("issued %d sign-ins", n)
				}
				if after := victim.binding(); after != before {
					t.Errorf("the victim's cookie went from %q to %q", before, after)
				}
				// The attacker's own browser still can: the
				// victim's refusal spent nothing of it.
				stop := atConsole
				if redirect == cliRedirect {
					stop = atCLI
				}
				if u, resp, body := attacker.browse(t, callback.String(), stop); u == nil || u.Query().Get("code") == "" {
					t.Errorf("the attacker's own callback: %v %v %s", u, resp, body)
				}
			})
		}
	}
}

// TestRoutesConcurrentLogins: one browser may have a few logins in flight
// (two tabs, the console and the CLI); past maxBindings, the oldest goes.
func TestRoutesConcurrentLogins(t *testing.T) {
	s := startServer(t)
	b := s.browser(t)
	var callbacks []*url.URL
	for range maxBindings + 1 {
		u, _, _ := b.browse(t, startURL(s, "/sso", ""), atCallback)
		if u == nil {
			t.Fatal("login did not reach the callback")
		}
		callbacks = append(callbacks, u)
	}
	if n := len(strings.Split(b.binding(), ".")); n != maxBindings {
		t.Errorf("the cookie holds %d secrets; want at most %d", n, maxBindings)
	}
	// Newest first, each in its turn.
	for i := len(callbacks) - 1; i >= 1; i-- {
		if u, resp, body := b.browse(t, callbacks[i].String(), atConsole); u == nil || u.Query().Get("code") == "" {
			t.Fatalf("login %d: %v %v %s", i, u, resp, body)
		}
	}
	u, resp, body := b.browse(t, callbacks[0].String(), atConsole)
	if u != nil || resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), CodeSignInElsewhere) {
		t.Errorf("the oldest login, pushed out of the cookie: %v %v %s; want 403 %s", u, resp, body, CodeSignInElsewhere)
	}
}

func TestStartCookie(t *testing.T) {
	s := startServer(t)
	resp, err := s.browser(t).hc.Get(startURL(s, "/sso", ""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == BindingCookie {
			c = k
		}
	}
	switch {
	case c == nil:
		t.Fatalf("no %s set: %v", BindingCookie, resp.Header["Set-Cookie"])
	case !c.HttpOnly, !c.Secure, c.SameSite != http.SameSiteLaxMode, c.Path != "/", c.Domain != "":
		t.Errorf("cookie %s; want HttpOnly, Secure, SameSite=Lax, Path=/ and no Domain (a __Host- cookie)", c)
	case c.MaxAge != int(loginTTL.Seconds()):
		t.Errorf("cookie lasts %d s; want a login's %v", c.MaxAge, loginTTL)
	case !isBindingSecret(c.Value) || strings.Contains(resp.Header.Get("Location"), c.Value):
		t.Errorf("cookie value %q; want a secret, not in the provider's URL", c.Value)
	}
}

func TestStartChallengeErrors(t *testing.T) {
	s := startServer(t)
	for _, u := range []string{
		s.URL + PathStart + "?" + url.Values{"redirect": {cliRedirect}}.Encode(),
		startURL(s, "/sso", cliChallenge),
		startURL(s, cliRedirect, "short"),
		s.URL + PathStart + "?" + url.Values{"redirect": {cliRedirect}, "code_challenge": {cliVerifier}, "code_challenge_method": {"plain"}}.Encode(),
	} {
		b := s.browser(t)
		resp, err := b.hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || errorCode(body) != CodeInvalidChallenge || b.binding() != "" {
			t.Errorf("GET %s: %s %s, cookie %q; want 400 %s and no cookie", u, resp.Status, body, b.binding(), CodeInvalidChallenge)
		}
	}
}

func TestRoutesFailures(t *testing.T) {
	tests := []struct {
		name     string
		run      func(t *testing.T, s *server, b *browser) (*url.URL, *http.Response, []byte)
		wantDesc string // in error_description of the redirect to the CLI
		wantBody string // in the body of the page, when there is no redirect
		status   int
	}{
		{
			name: "provider refuses",
			run: func(t *testing.T, s *server, b *browser) (*url.URL, *http.Response, []byte) {
				s.idp.setDeny()
				return b.browse(t, startURL(s, cliRedirect, cliChallenge), atCLI)
			},
			wantDesc: "The identity provider did not sign you in: The user declined.",
		},
		{
			name: "Issue refuses",
			run: func(t *testing.T, s *server, b *browser) (*url.URL, *http.Response, []byte) {
				s.mu.Lock()
				s.refuse = errors.New("jane.doe is disabled")
				s.mu.Unlock()
				return b.browse(t, startURL(s, cliRedirect, cliChallenge), atCLI)
			},
			wantDesc: "Postern refused the sign-in: jane.doe is disabled",
		},
		{
			name: "token fails verification",
			run: func(t *testing.T, s *server, b *browser) (*url.URL, *http.Response, []byte) {
				s.idp.setReissue(&reissue{edit: func(c *mockoidc.Config, _ *mockoidc.Session) { c.ClientID = "another-client" }})
				return b.browse(t, startURL(s, cliRedirect, cliChallenge), atCLI)
			},
			wantDesc: "failed verification. Ask your administrator",
		},
		{
			name: "login expired",
			run: func(t *testing.T, s *server, b *browser) (*url.URL, *http.Response, []byte) {
				resp, err := b.hc.Get(startURL(s, cliRedirect, cliChallenge))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				s.clock.Advance(loginTTL + time.Second)
				return b.browse(t, resp.Header.Get("Location"), atCLI)
			},
			wantDesc: "more than 10 minutes",
		},
		{
			name: "unknown state",
			run: func(t *testing.T, s *server, b *browser) (*url.URL, *http.Response, []byte) {
				return b.browse(t, s.URL+PathCallback+"?state=forged&code=x", atCLI)
			},
			status:   http.StatusBadRequest,
			wantBody: "unknown or already finished",
		},
		{
			name: "replayed",
			run: func(t *testing.T, s *server, b *browser) (*url.URL, *http.Response, []byte) {
				// The console's browser keeps its secret until it
				// redeems the code: a reload of the callback is
				// told it is done.
				cb, _, _ := b.browse(t, startURL(s, "/sso", ""), atCallback)
				b.browse(t, cb.String(), atConsole)
				return b.browse(t, cb.String(), atConsole)
			},
			status:   http.StatusBadRequest,
			wantBody: "already finished. Start the sign-in again.\n\n(error " + CodeInvalidState + ")",
		},
		{
			name: "redirect to another site refused",
			run: func(t *testing.T, s *server, b *browser) (*url.URL, *http.Response, []byte) {
				return b.browse(t, startURL(s, "https://evil.example.com/callback", cliChallenge), atCLI)
			},
			status:   http.StatusBadRequest,
			wantBody: `"code":"InvalidRedirect"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			b := s.browser(t)
			u, resp, body := tt.run(t, s, b)
			if tt.wantDesc != "" {
				if u == nil {
					t.Fatalf("not sent back to the CLI: %s", resp.Status)
				}
				q := u.Query()
				if q.Get("error") != "access_denied" || !strings.Contains(q.Get("error_description"), tt.wantDesc) || q.Has("code") {
					t.Fatalf("sent back to %s; want error=access_denied saying %q", u, tt.wantDesc)
				}
				if c := b.binding(); c != "" {
					t.Errorf("the browser keeps %s=%s after a failed login", BindingCookie, c)
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
		body     string // CODE is replaced by a fresh code bound to cliChallenge
		advance  time.Duration
		status   int
		wantCode string
	}{
		{name: "expired code", method: "POST", body: `{"code":"CODE","codeVerifier":"` + cliVerifier + `"}`, advance: HandoffTTL, status: 400, wantCode: CodeInvalidCode},
		{name: "unknown code", method: "POST", body: `{"code":"NOPE","codeVerifier":"` + cliVerifier + `"}`, status: 400, wantCode: CodeInvalidCode},
		{name: "no verifier", method: "POST", body: `{"code":"CODE"}`, status: 400, wantCode: CodeBadRequest},
		{name: "wrong verifier", method: "POST", body: `{"code":"CODE","codeVerifier":"` + oauth2.GenerateVerifier() + `"}`, status: 400, wantCode: CodeVerifierMismatch},
		{name: "verifier too long", method: "POST", body: `{"code":"CODE","codeVerifier":"` + strings.Repeat("a", maxVerifierLen+1) + `"}`, status: 400, wantCode: CodeBadRequest},
		{name: "not JSON", method: "POST", body: `code=x`, status: 400, wantCode: CodeBadRequest},
		{name: "unknown field", method: "POST", body: `{"code":"x","codeVerifier":"y","token":"y"}`, status: 400, wantCode: CodeBadRequest},
		{name: "GET", method: "GET", status: 405, wantCode: CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			body := strings.ReplaceAll(tt.body, "CODE", s.rt.Handoffs.Put(api.LoginResponse{Token: "t"}, cliChallenge))
			s.clock.Advance(tt.advance)
			req, _ := http.NewRequest(tt.method, s.URL+PathExchange, strings.NewReader(body))
			resp, err := s.Client().Do(req)
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

// FuzzBrowserSecrets: whatever a cookie holds, only well-formed secrets
// come out, at most maxBindings of them, and writing them back reads the
// same.
func FuzzBrowserSecrets(f *testing.F) {
	for _, seed := range []string{
		"", rand.Text(), rand.Text() + "." + rand.Text(), strings.Repeat(rand.Text()+".", 9),
		"..", "A.B", rand.Text() + "=", `"` + rand.Text() + `"`, rand.Text() + ";" + rand.Text(),
		strings.ToLower(rand.Text()), rand.Text() + "." + rand.Text()[:25] + "1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("GET", PathCallback, nil)
		r.Header.Set("Cookie", BindingCookie+"="+v)
		got := BrowserSecrets(r)
		if len(got) > maxBindings {
			t.Fatalf("%d secrets", len(got))
		}
		for i, s := range got {
			if !isBindingSecret(s) || slices.Contains(got[:i], s) {
				t.Fatalf("secret %q of %q", s, got)
			}
		}
		w := httptest.NewRecorder()
		setBrowserSecrets(w, got)
		r2 := httptest.NewRequest("GET", PathCallback, nil)
		for _, c := range w.Result().Cookies() {
			if c.MaxAge >= 0 {
				r2.AddCookie(c)
			}
		}
		if again := BrowserSecrets(r2); !slices.Equal(again, got) {
			t.Fatalf("wrote %q, read back %q", got, again)
		}
	})
}

// FuzzCheckChallenge: what checkChallenge accepts is the base64url of 32
// bytes, as every S256 challenge is.
func FuzzCheckChallenge(f *testing.F) {
	for _, seed := range []string{cliChallenge, cliVerifier, "", "A", cliChallenge + "=", strings.Replace(cliChallenge, cliChallenge[:1], "+", 1), strings.Repeat("_", 43), strings.Repeat("é", 43)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, c string) {
		if err := checkChallenge(c); err != nil {
			if !errors.Is(err, ErrBadChallenge) {
				t.Fatalf("error %v is not ErrBadChallenge", err)
			}
			return
		}
		if b, err := base64.RawURLEncoding.DecodeString(c); err != nil || len(b) != 32 {
			t.Fatalf("accepted %q: %d bytes, %v", c, len(b), err)
		}
		if checkChallenge(s256(c)) != nil {
			t.Fatalf("refused the S256 of %q", c)
		}
	})
}
