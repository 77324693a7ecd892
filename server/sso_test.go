package server_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/clocktest"
	"github.com/postern/postern/server"
	"github.com/postern/postern/sso"
)

// ssoServer is a real server with single sign-on through a real OpenID
// provider (mockoidc), which maps the group eng-oncall to operators.
type ssoServer struct {
	*testServer
	idp *mockoidc.MockOIDC
}

func startSSOServer(t *testing.T) *ssoServer {
	t.Helper()
	idp, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	// The provider sends browsers back to the server's callback, so the
	// server's address must be known before it starts.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	p, err := sso.New(t.Context(), sso.Config{
		Issuer:       idp.Issuer(),
		ClientID:     idp.ClientID,
		ClientSecret: idp.ClientSecret,
		RedirectURL:  "https://" + addr + sso.PathCallback,
		GroupMap:     map[string][]string{"eng-oncall": {"operators"}},
	}, sso.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{dir: t.TempDir(), clk: clocktest.New(time.Now()), tune: func(c *server.Config) { c.SSO = p }}
	ts.run(t, addr)
	return &ssoServer{testServer: ts, idp: idp}
}

// ssoBrowser is one person's browser: it keeps cookies and stops at each
// redirect, so a test sees where it is sent.
type ssoBrowser struct {
	s  *ssoServer
	hc *http.Client
}

func (s *ssoServer) browser(t *testing.T) *ssoBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.srv.CA().CertPEM)
	return &ssoBrowser{s: s, hc: &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

// browse follows redirects from start until one leads where stop says,
// and returns that URL unvisited; or, if none does, the last status and
// body.
func (b *ssoBrowser) browse(t *testing.T, start string, stop func(*url.URL) bool) (*url.URL, int, string) {
	t.Helper()
	u, err := url.Parse(start)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		resp, err := b.hc.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			return nil, resp.StatusCode, string(body)
		}
		if u, err = u.Parse(resp.Header.Get("Location")); err != nil {
			t.Fatal(err)
		}
		if stop(u) {
			return u, 0, ""
		}
	}
	t.Fatal("too many redirects")
	return nil, 0, ""
}

// call sends a request from the browser: its cookies go along.
func (b *ssoBrowser) call(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, b.s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", b.s.url)
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (b *ssoBrowser) hasBinding() bool {
	u, _ := url.Parse(b.s.url)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == sso.BindingCookie {
			return true
		}
	}
	return false
}

// consoleStart is where the console's single sign-on button goes.
func (s *ssoServer) consoleStart() string {
	return s.url + sso.PathStart + "?redirect=" + url.QueryEscape("/sso")
}

// cliStart is what a CLI listening on 127.0.0.1:1 with verifier opens.
func (s *ssoServer) cliStart(verifier string) string {
	return s.url + sso.PathStart + "?" + url.Values{
		"redirect":              {"http://127.0.0.1:1/callback?state=cli"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
	}.Encode()
}

func atConsole(u *url.URL) bool  { return u.Path == "/sso" }
func atCallback(u *url.URL) bool { return u.Path == sso.PathCallback }
func atCLI(u *url.URL) bool      { return u.Host == "127.0.0.1:1" }

func errCode(body string) string {
	var e api.Error
	json.Unmarshal([]byte(body), &e)
	return e.Code
}

func (s *ssoServer) queue(user string) {
	s.idp.QueueUser(&mockoidc.MockUser{Subject: "00u-" + user, PreferredUsername: user, Groups: []string{"eng-oncall"}})
}

// TestSSOConsoleBinding: the web console's single sign-on is finished,
// and its hand-off code redeemed, only in the browser that started it.
func TestSSOConsoleBinding(t *testing.T) {
	s := startSSOServer(t)
	signedInAs := func(b *ssoBrowser) string {
		status, body := b.call(t, "GET", api.PathWhoAmI, "")
		if status != http.StatusOK {
			return ""
		}
		var who api.WhoAmI
		json.Unmarshal([]byte(body), &who)
		return who.User
	}

	t.Run("normal", func(t *testing.T) {
		b := s.browser(t)
		s.queue("sam")
		u, status, body := b.browse(t, s.consoleStart(), atConsole)
		if u == nil || u.Query().Get("code") == "" {
			t.Fatalf("not sent back to the console with a code: %d %s", status, body)
		}
		status, body = b.call(t, "POST", api.PathConsole+"/login", fmt.Sprintf(`{"ssoCode":%q}`, u.Query().Get("code")))
		if status != http.StatusOK {
			t.Fatalf("console login: %d %s", status, body)
		}
		if who := signedInAs(b); who != "sam" {
			t.Errorf("signed in as %q; want sam", who)
		}
		if b.hasBinding() {
			t.Errorf("the browser keeps %s after signing in", sso.BindingCookie)
		}
	})

	// The attacker signs in at the provider as themselves and stops at
	// the redirect back; the victim's browser, lured to that URL, must
	// not end up signed in as the attacker.
	for _, victimStarted := range []bool{false, true} {
		t.Run(fmt.Sprintf("login CSRF, victim with a login of their own %v", victimStarted), func(t *testing.T) {
			attacker, victim := s.browser(t), s.browser(t)
			s.queue("mallory")
			callback, status, body := attacker.browse(t, s.consoleStart(), atCallback)
			if callback == nil {
				t.Fatalf("the attacker's login: %d %s", status, body)
			}
			if victimStarted {
				s.queue("sam")
				if u, _, _ := victim.browse(t, s.consoleStart(), atCallback); u == nil || !victim.hasBinding() {
					t.Fatal("the victim's login did not start")
				}
			}
			u, status, body := victim.browse(t, callback.String(), func(*url.URL) bool { return true })
			if u != nil || status != http.StatusForbidden || !strings.Contains(body, sso.CodeSignInElsewhere) || !strings.Contains(body, "started in another browser") {
				t.Fatalf("the attacker's callback in the victim's browser: sent to %v, %d %q; want 403 %s", u, status, body, sso.CodeSignInElsewhere)
			}
			if who := signedInAs(victim); who != "" {
				t.Errorf("the victim's browser is signed in as %q", who)
			}
		})
	}

	t.Run("code redeemed in another browser", func(t *testing.T) {
		victim, thief := s.browser(t), s.browser(t)
		s.queue("sam")
		u, status, body := victim.browse(t, s.consoleStart(), atConsole)
		if u == nil {
			t.Fatalf("the victim's login: %d %s", status, body)
		}
		login := fmt.Sprintf(`{"ssoCode":%q}`, u.Query().Get("code"))
		status, body = thief.call(t, "POST", api.PathConsole+"/login", login)
		if status != http.StatusForbidden || errCode(body) != sso.CodeSignInElsewhere {
			t.Fatalf("the code in another browser: %d %s; want 403 %s", status, body, sso.CodeSignInElsewhere)
		}
		if who := signedInAs(thief); who != "" {
			t.Errorf("the thief is signed in as %q", who)
		}
		// Tried once, the code is void.
		status, body = victim.call(t, "POST", api.PathConsole+"/login", login)
		if status != http.StatusUnauthorized || errCode(body) != sso.CodeInvalidCode {
			t.Errorf("the voided code: %d %s; want 401 %s", status, body, sso.CodeInvalidCode)
		}
	})
}

// TestSSOCLIBinding: the CLI's hand-off code is good only with the code
// verifier of the CLI that started the sign-in.
func TestSSOCLIBinding(t *testing.T) {
	s := startSSOServer(t)

	t.Run("normal, through the client", func(t *testing.T) {
		s.queue("sam")
		b := s.browser(t)
		b.hc.CheckRedirect = nil // the user's browser follows through to the CLI
		c, err := client.New(client.Config{Server: s.url, CA: string(s.srv.CA().CertPEM)})
		if err != nil {
			t.Fatal(err)
		}
		open := func(u string) error {
			resp, err := b.hc.Get(u)
			if err != nil {
				return err
			}
			return resp.Body.Close()
		}
		res, err := c.SSOLogin(t.Context(), open)
		if err != nil || res.User != "sam" || res.Token == "" {
			t.Fatalf("SSOLogin: %+v, %v", res, err)
		}
		c, err = client.New(client.Config{Server: s.url, CA: string(s.srv.CA().CertPEM), Token: res.Token})
		if err != nil {
			t.Fatal(err)
		}
		if who, err := c.WhoAmI(t.Context()); err != nil || who.User != "sam" {
			t.Errorf("whoami with the token: %+v, %v", who, err)
		}
	})

	exchange := func(code, verifier string) (int, string) {
		body, _ := json.Marshal(sso.ExchangeRequest{Code: code, CodeVerifier: verifier})
		resp, err := s.browser(t).hc.Post(s.url+sso.PathExchange, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	for _, tt := range []struct {
		name, verifier, wantCode string
	}{
		{"without a verifier", "", sso.CodeBadRequest},
		{"with another CLI's verifier", oauth2.GenerateVerifier(), sso.CodeVerifierMismatch},
	} {
		t.Run("code phished, redeemed "+tt.name, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			s.queue("sam")
			u, status, body := s.browser(t).browse(t, s.cliStart(verifier), atCLI)
			if u == nil || u.Query().Get("code") == "" {
				t.Fatalf("not sent to the CLI with a code: %d %s", status, body)
			}
			status, body = exchange(u.Query().Get("code"), tt.verifier)
			if status != http.StatusBadRequest || errCode(body) != tt.wantCode || strings.Contains(body, "token") {
				t.Fatalf("exchange %s: %d %s; want 400 %s", tt.name, status, body, tt.wantCode)
			}
			t.Logf("refused: %s", body)
		})
	}

	t.Run("a CLI sign-in needs a challenge", func(t *testing.T) {
		start := s.url + sso.PathStart + "?redirect=" + url.QueryEscape("http://127.0.0.1:1/callback")
		if u, status, body := s.browser(t).browse(t, start, atCLI); u != nil || status != http.StatusBadRequest || errCode(body) != sso.CodeInvalidChallenge {
			t.Errorf("start without code_challenge: %v %d %s; want 400 %s", u, status, body, sso.CodeInvalidChallenge)
		}
	})

	t.Run("the right verifier", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		s.queue("sam")
		u, status, body := s.browser(t).browse(t, s.cliStart(verifier), atCLI)
		if u == nil {
			t.Fatalf("not sent to the CLI: %d %s", status, body)
		}
		status, body = exchange(u.Query().Get("code"), verifier)
		var res api.LoginResponse
		if status != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil || res.User != "sam" || res.Token == "" {
			t.Fatalf("exchange: %d %s", status, body)
		}
	})
}

// TestSSOGroupChangeRevokes: a sign-in that brings other groups from the
// identity provider revokes what the user signed in with before, as an
// administrator's change of their groups does; one with the same groups
// does not.
func TestSSOGroupChangeRevokes(t *testing.T) {
	s := startSSOServer(t)
	signIn := func(groups ...string) *ssoBrowser {
		t.Helper()
		b := s.browser(t)
		s.idp.QueueUser(&mockoidc.MockUser{Subject: "00u-sam", PreferredUsername: "sam", Groups: groups})
		u, status, body := b.browse(t, s.consoleStart(), atConsole)
		if u == nil {
			t.Fatalf("sign-in: %d %s", status, body)
		}
		if status, body := b.call(t, "POST", api.PathConsole+"/login", fmt.Sprintf(`{"ssoCode":%q}`, u.Query().Get("code"))); status != http.StatusOK {
			t.Fatalf("console login: %d %s", status, body)
		}
		return b
	}
	signedIn := func(b *ssoBrowser) bool {
		status, _ := b.call(t, "GET", api.PathWhoAmI, "")
		return status == http.StatusOK
	}
	first := signIn("eng-oncall")
	second := signIn("eng-oncall")
	if !signedIn(first) || !signedIn(second) {
		t.Fatal("a second sign-in with the same groups signed the first out")
	}
	third := signIn() // out of eng-oncall: no longer an operator
	if signedIn(first) || signedIn(second) {
		t.Error("sign-ins from before the groups changed at the provider still work")
	}
	if !signedIn(third) {
		t.Error("the sign-in that brought the new groups does not work")
	}
}
