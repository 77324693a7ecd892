package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
)

// startDevWithSSO runs a real OpenID provider (mockoidc) and `postern dev`
// configured to sign in through it, mapping the provider's group
// eng-oncall to operators.
func startDevWithSSO(t *testing.T) (*mockoidc.MockOIDC, *env) {
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
	// The provider sends browsers back to the server's callback: the
	// server's port must be known before it starts.
	port := freePort(t)
	cfg := filepath.Join(t.TempDir(), "postern.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`sso:
  issuer: %s
  clientId: %s
  clientSecret: %s
  redirectUrl: https://127.0.0.1:%d/v1/sso/callback
  groupMap:
    eng-oncall: [operators]
`, idp.Issuer(), idp.ClientID, idp.ClientSecret, port)), 0o600)
	return idp, startDev(t, "--config", cfg, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
}

// TestSingleSignOn signs in with `postern login --sso` against a real
// OpenID Connect provider (mockoidc, started here) through `postern dev`
// configured with an sso: section. The test is the browser: it follows
// the URL the CLI prints. The provider's groups claim maps to Postern's
// operators, whose default policy then applies.
func TestSingleSignOn(t *testing.T) {
	ctx := testCtx(t)
	idp, e := startDevWithSSO(t)

	ccfg, err := client.LoadConfig(e.home)
	if err != nil {
		t.Fatal(err)
	}
	sam := &env{t: t, dir: e.dir, home: filepath.Join(e.dir, "cli-sam"), url: e.url}
	client.SaveConfig(sam.home, client.Config{Server: ccfg.Server, CA: ccfg.CA})

	signIn := func(user *mockoidc.MockUser) (string, string, error) {
		idp.QueueUser(user)
		cmd := exec.CommandContext(ctx, bin, "login", "--sso")
		cmd.Env = append(os.Environ(), append(sam.vars(), "POSTERN_NO_BROWSER=1")...)
		stderr, _ := cmd.StderrPipe()
		var stdout strings.Builder
		cmd.Stdout = &stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The browser: follow the printed URL through the provider and
		// back to the CLI's loopback listener.
		sc := bufio.NewScanner(stderr)
		var errOut strings.Builder
		for sc.Scan() {
			errOut.WriteString(sc.Text() + "\n")
			if u := strings.TrimSpace(sc.Text()); strings.HasPrefix(u, "https://") {
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM([]byte(ccfg.CA))
				// A browser keeps cookies: the server binds the
				// sign-in to the browser that started it by one.
				jar, _ := cookiejar.New(nil)
				browser := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
				resp, err := browser.Get(u)
				if err != nil {
					t.Fatalf("browser: %v", err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		err := cmd.Wait()
		return stdout.String(), errOut.String(), err
	}

	out, errOut, err := signIn(&mockoidc.MockUser{Subject: "00u-sam", Email: "sam@example.com", EmailVerified: true, PreferredUsername: "sam", Groups: []string{"eng-oncall"}})
	if err != nil || !strings.Contains(out, "as sam") {
		t.Fatalf("login --sso: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	var who api.WhoAmI
	sam.jsonOut(ctx, &who, "whoami")
	if who.User != "sam" || strings.Join(who.Groups, ",") != "operators" {
		t.Errorf("whoami after single sign-on: %+v", who)
	}
	var nodes []api.Node
	e.jsonOut(ctx, &nodes, "nodes")
	if out := sam.mustRun(ctx, "exec", nodes[0].ID, "--", "echo", "sso-ok"); !strings.Contains(out, "sso-ok") {
		t.Errorf("exec as sam: %q", out)
	}
	sam.mustFail([]string{"users", "create", "mallory"}, "sam is not allowed to CreateUser")

	// Removed from the group at the provider: no longer an operator at
	// the next sign-in.
	if _, errOut, err := signIn(&mockoidc.MockUser{Subject: "00u-sam", PreferredUsername: "sam", Groups: []string{"sales"}}); err != nil {
		t.Fatalf("second login: %v\n%s", err, errOut)
	}
	who = api.WhoAmI{}
	sam.jsonOut(ctx, &who, "whoami")
	if len(who.Groups) != 0 {
		t.Errorf("groups after leaving eng-oncall: %v", who.Groups)
	}
	sam.mustFail([]string{"exec", nodes[0].ID, "--", "true"}, "sam is not allowed to StartSession")

	// Another identity calling itself admin does not become the admin.
	_, errOut, err = signIn(&mockoidc.MockUser{Subject: "00u-evil", PreferredUsername: "admin", Groups: []string{"eng-oncall"}})
	if err == nil || !regexp.MustCompile(`a Postern user named admin already exists and is not linked`).MatchString(errOut) {
		t.Errorf("login --sso as a second 'admin': %v\n%s", err, errOut)
	}
}
