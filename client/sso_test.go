package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/sso"
)

// ssoServer is a Postern server's single sign-on, over TLS, in front of a
// real OpenID provider (mockoidc).
type ssoServer struct {
	*httptest.Server
	idp *mockoidc.MockOIDC

	mu     sync.Mutex
	deny   bool           // guarded by mu; the provider refuses the next authorization
	refuse error          // guarded by mu; Issue's error
	issued []sso.Identity // guarded by mu
}

func startSSOServer(t *testing.T) *ssoServer {
	t.Helper()
	s := &ssoServer{}
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	m.AddMiddleware(s.denying)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	s.idp = m

	mux := http.NewServeMux()
	s.Server = httptest.NewTLSServer(mux)
	t.Cleanup(s.Close)
	p, err := sso.New(t.Context(), sso.Config{
		Issuer:       m.Issuer(),
		ClientID:     m.ClientID,
		ClientSecret: m.ClientSecret,
		RedirectURL:  s.URL + sso.PathCallback,
		GroupMap:     map[string][]string{"eng-oncall": {"operators"}},
	}, sso.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	rt := &sso.Routes[api.LoginResponse]{
		Provider: p,
		Handoffs: sso.NewHandoffs[api.LoginResponse](nil),
		Issue:    s.issue,
		Logf:     t.Logf,
	}
	mux.HandleFunc("GET "+sso.PathStart, rt.Start)
	mux.HandleFunc("GET "+sso.PathCallback, rt.Callback)
	mux.HandleFunc("POST "+sso.PathExchange, rt.Exchange)
	return s
}

func (s *ssoServer) issue(_ context.Context, id sso.Identity) (api.LoginResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse != nil {
		return api.LoginResponse{}, s.refuse
	}
	s.issued = append(s.issued, id)
	return api.LoginResponse{Token: "pst_" + id.Username, User: id.Username, Account: "000000000001"}, nil
}

// denying makes the provider answer the next authorization as when the
// user declines: a redirect back with error=access_denied.
func (s *ssoServer) denying(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		deny := s.deny && r.URL.Path == mockoidc.AuthorizationEndpoint
		if deny {
			s.deny = false
		}
		s.mu.Unlock()
		if !deny {
			next.ServeHTTP(w, r)
			return
		}
		r.ParseForm()
		u, _ := url.Parse(r.Form.Get("redirect_uri"))
		u.RawQuery = url.Values{"error": {"access_denied"}, "error_description": {"The user declined."}, "state": {r.Form.Get("state")}}.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	})
}

// browser follows redirects from the server (TLS) through the provider to
// the CLI's listener, and keeps the last page it was shown.
type browser struct {
	hc *http.Client

	mu   sync.Mutex
	page string // guarded by mu
}

// newBrowser is a browser with a cookie jar, which keeps the server's
// binding cookie from the start of a sign-in to its callback.
func newBrowser(t *testing.T, s *ssoServer) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{hc: &http.Client{Transport: s.Client().Transport, Jar: jar}}
}

func (b *browser) visit(u string) error {
	resp, err := b.hc.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	b.mu.Lock()
	b.page = string(page)
	b.mu.Unlock()
	return err
}

func (b *browser) lastPage() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.page
}

var startRE = regexp.MustCompile(`^https://127\.0\.0\.1:\d+/v1/sso/start\?code_challenge=[A-Za-z0-9_-]{43}&code_challenge_method=S256&redirect=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Fcallback%3Fstate%3D[A-Z2-7]{26}$`)

func TestSSOLogin(t *testing.T) {
	tests := []struct {
		name string
		// setup prepares the server; open plays the user, given the
		// URL SSOLogin opens.
		setup    func(s *ssoServer)
		open     func(t *testing.T, s *ssoServer, b *browser, cancel context.CancelFunc, start string) error
		want     string // the token; "" for an error
		wantErr  func(error) bool
		wantPage string // on the browser's last page
	}{
		{
			name: "signs in",
			setup: func(s *ssoServer) {
				s.idp.QueueUser(&mockoidc.MockUser{Subject: "00u1", PreferredUsername: "jane", Groups: []string{"eng-oncall", "sales"}})
			},
			want:     "pst_jane",
			wantPage: "You can close this tab",
		},
		{
			name: "forged callback ignored",
			open: func(t *testing.T, s *ssoServer, b *browser, _ context.CancelFunc, start string) error {
				// A web page that found the port tries to sign the CLI
				// in with a code of its choosing.
				u, _ := url.Parse(start)
				cb, _ := url.Parse(u.Query().Get("redirect"))
				resp, err := http.Get("http://" + cb.Host + "/callback?code=ATTACKERS")
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("forged callback: %s; want 400", resp.Status)
				}
				return b.visit(start)
			},
			want:     "pst_jane.doe",
			wantPage: "You can close this tab",
		},
		{
			name:  "provider refuses",
			setup: func(s *ssoServer) { s.deny = true },
			wantErr: func(err error) bool {
				e := new(client.SSOError)
				return errors.As(err, &e) && strings.Contains(e.Description, "The user declined.")
			},
			wantPage: "The user declined.",
		},
		{
			name:  "server refuses",
			setup: func(s *ssoServer) { s.refuse = errors.New("jane.doe is disabled") },
			wantErr: func(err error) bool {
				return strings.Contains(err.Error(), "Postern refused the sign-in: jane.doe is disabled")
			},
			wantPage: "jane.doe is disabled",
		},
		{
			name: "code stolen on its way",
			open: func(t *testing.T, s *ssoServer, b *browser, _ context.CancelFunc, start string) error {
				// Something else tries the code on its way to the
				// CLI, with a verifier of its own: refused, and the
				// code is void, so the CLI must say the code is spent.
				b.hc.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
					if r.URL.Hostname() == "127.0.0.1" && r.URL.Path == "/callback" {
						if status := s.redeem(t, r.URL.Query().Get("code"), oauth2.GenerateVerifier()); status != http.StatusBadRequest {
							t.Errorf("the thief's exchange: %d; want 400", status)
						}
					}
					return nil
				}
				return b.visit(start)
			},
			wantErr: func(err error) bool {
				e := new(client.Error)
				return errors.As(err, &e) && e.Code == sso.CodeInvalidCode
			},
		},
		{
			name: "code stolen, tried without a verifier",
			open: func(t *testing.T, s *ssoServer, b *browser, _ context.CancelFunc, start string) error {
				b.hc.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
					if r.URL.Hostname() == "127.0.0.1" && r.URL.Path == "/callback" {
						if status := s.redeem(t, r.URL.Query().Get("code"), ""); status != http.StatusBadRequest {
							t.Errorf("the thief's exchange: %d; want 400", status)
						}
					}
					return nil
				}
				return b.visit(start)
			},
			want:     "pst_jane.doe",
			wantPage: "You can close this tab",
		},
		{
			name: "browser without cookies",
			open: func(t *testing.T, s *ssoServer, b *browser, cancel context.CancelFunc, start string) error {
				// The server cannot tell this browser from another
				// one: it says so on its page, and the CLI waits
				// until the user gives up.
				b.hc.Jar = nil
				err := b.visit(start)
				cancel()
				return err
			},
			wantErr:  func(err error) bool { return errors.Is(err, context.Canceled) },
			wantPage: "started in another browser",
		},
		{
			name: "open fails",
			open: func(*testing.T, *ssoServer, *browser, context.CancelFunc, string) error {
				return errors.New("no browser")
			},
			wantErr: func(err error) bool { return strings.Contains(err.Error(), "no browser") },
		},
		{
			name: "user gives up",
			open: func(_ *testing.T, _ *ssoServer, _ *browser, cancel context.CancelFunc, _ string) error {
				cancel() // as a ^C while the URL is on the screen
				return nil
			},
			wantErr: func(err error) bool { return errors.Is(err, context.Canceled) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSSOServer(t)
			if tt.setup != nil {
				s.mu.Lock()
				tt.setup(s)
				s.mu.Unlock()
			}
			b := newBrowser(t, s)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			open := func(start string) error {
				if !startRE.MatchString(start) {
					t.Errorf("opened %q", start)
				}
				if tt.open != nil {
					return tt.open(t, s, b, cancel, start)
				}
				return b.visit(start)
			}
			var got api.LoginResponse
			err := client.SSOLogin(ctx, s.Client(), s.URL+"/", open, &got)
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("SSOLogin: %v, token %q; want a specific error", err, got.Token)
				}
				t.Logf("error: %v", err)
			} else if err != nil || got.Token != tt.want {
				t.Fatalf("SSOLogin: %v, token %q; want %q", err, got.Token, tt.want)
			}
			if !strings.Contains(b.lastPage(), tt.wantPage) {
				t.Errorf("browser shows %q; want %q", b.lastPage(), tt.wantPage)
			}
		})
	}
}

// TestClientSSOLogin checks the method, which uses the client's TLS
// configuration, and the groups mapped on the way.
func TestClientSSOLogin(t *testing.T) {
	s := startSSOServer(t)
	s.idp.QueueUser(&mockoidc.MockUser{Subject: "00u9", PreferredUsername: "ops", Groups: []string{"eng-oncall"}})
	c, err := client.New(client.Config{Server: s.URL, CA: caPEM(t, s)})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s)
	got, err := c.SSOLogin(t.Context(), b.visit)
	if err != nil || got.Token != "pst_ops" || got.User != "ops" {
		t.Fatalf("SSOLogin: %+v, %v", got, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.issued) != 1 || !slices.Equal(s.issued[0].Groups, []string{"operators"}) {
		t.Errorf("issued for %+v; want groups [operators]", s.issued)
	}
}

// redeem tries code at the exchange with verifier, as a program other than
// the CLI that started the sign-in would, and returns the status.
func (s *ssoServer) redeem(t *testing.T, code, verifier string) int {
	t.Helper()
	body, _ := json.Marshal(sso.ExchangeRequest{Code: code, CodeVerifier: verifier})
	resp, err := s.Client().Post(s.URL+sso.PathExchange, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// caPEM is the test server's certificate, which is its own CA.
func caPEM(t *testing.T, s *ssoServer) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))
}
