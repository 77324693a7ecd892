package e2e

import (
	"context"
	"crypto/tls"
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
	"time"

	"github.com/oauth2-proxy/mockoidc"
)

// chromiumPath is Debian's Chromium, which scripts/install-test-deps
// installs; Playwright drives it (it downloads no browser of its own).
const chromiumPath = "/usr/bin/chromium"

// TestConsole drives the web console in a real browser against a real
// `postern dev`: web/e2e/console.mjs signs in, opens a shell on the node,
// types into it, drops and resumes the connection, watches it live, plays
// the recording back and seeks it from the command timeline, runs a query
// and sees its chart, and gets an inline error for an out-of-range
// preference. It saves a screenshot of each page in $POSTERN_ARTIFACTS
// (or the test's temporary directory).
func TestConsole(t *testing.T) {
	node, web := consoleDeps(t)

	// Single sign-on through a real OpenID provider, for the console's
	// SSO button: the provider signs "sam" in as an operator.
	idp, e := startDevWithSSO(t)
	ctx := testCtx(t)

	// The console is served at the server's root.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

	// Another browser (with cookies of its own) signs "mallory" in at
	// the provider and stops at the redirect back to the server: the
	// console's browser is then given that URL, which must not sign it
	// in (login CSRF).
	idp.QueueUser(&mockoidc.MockUser{Subject: "00u-mallory", PreferredUsername: "mallory", Groups: []string{"eng-oncall"}})
	forged := ssoCallbackOf(t, e.url+"/v1/sso/start?redirect=%2Fsso")
	idp.QueueUser(&mockoidc.MockUser{Subject: "00u-sam", PreferredUsername: "sam", Groups: []string{"eng-oncall"}})
	res, err := hc.Get(e.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), `<div id="app">`) {
		t.Fatalf("GET / does not serve the console: %s\n%s", res.Status, page)
	}

	// A port session with one connection, which the console must show
	// as such: its type and port, the connection, no player.
	portSession, portTarget := endedPortSession(t, ctx, e)

	runBrowserTest(t, ctx, e, node, web, "console.mjs",
		"POSTERN_SSO_USER=sam",
		"POSTERN_SSO_FORGED_CALLBACK="+forged,
		"POSTERN_PORT_SESSION="+portSession,
		"POSTERN_PORT_TARGET="+portTarget,
	)
}

// TestConsoleOrganization drives the console's Organization page in a
// real browser against a real `postern dev`: web/e2e/organization.mjs
// creates the organization, units and accounts through the page, moves an
// account, is refused deleting a unit that holds one (in the server's
// words), checks that names are shown as text and not markup, then signs
// in as a user of a member account (made with the role the management
// account assumes) and sees only the organization's id and management
// account.
func TestConsoleOrganization(t *testing.T) {
	node, web := consoleDeps(t)
	e := startDev(t)
	runBrowserTest(t, testCtx(t), e, node, web, "organization.mjs")
}

// TestConsoleOrganizationRollout drives the Organization page's rollout
// in a real browser against a real `postern dev`: web/e2e/rollout.mjs
// makes an organization, a unit of two accounts and a stack set of the
// accounts' preferences (smallTemplate), deploys it to the unit through
// the API, sees each instance Current in the page, in its unit, with its
// deployment; has one account change its preferences (as that account,
// through the API) and, after Detect drift, sees that instance Drifted
// with the field that changed, its deployed and its actual value; and
// checks that a member account's user sees no rollout.
func TestConsoleOrganizationRollout(t *testing.T) {
	node, web := consoleDeps(t)
	e := startDev(t)
	runBrowserTest(t, testCtx(t), e, node, web, "rollout.mjs", "POSTERN_TEMPLATE="+smallTemplate, "POSTERN_MEMBER_PREFS="+memberPrefs)
}

// consoleDeps returns node and the web directory, or skips the test when
// the browser test cannot run (unless POSTERN_REQUIRE_CHROMIUM is set).
func consoleDeps(t *testing.T) (node, web string) {
	t.Helper()
	need := func(what, fix string) {
		t.Helper()
		if os.Getenv("POSTERN_REQUIRE_CHROMIUM") != "" {
			t.Fatalf("%s is missing (%s); POSTERN_REQUIRE_CHROMIUM is set", what, fix)
		}
		t.Skipf("%s is missing (%s)", what, fix)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		need(chromiumPath, "apt-get install chromium, or scripts/install-test-deps")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		need("node", "Node.js runs the browser test")
	}
	web, err = filepath.Abs("../web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(web, "node_modules", "playwright-core", "package.json")); err != nil {
		need("web/node_modules/playwright-core", "npm ci --prefix web, or scripts/install-test-deps")
	}
	return node, web
}

// runBrowserTest runs web/e2e/script against e's server, signed in as its
// administrator, with extra in its environment; screenshots go to
// $POSTERN_ARTIFACTS/console (or a temporary directory).
func runBrowserTest(t *testing.T, ctx context.Context, e *env, node, web, script string, extra ...string) {
	t.Helper()
	password := os.Getenv("POSTERN_ADMIN_PASSWORD")
	if b, err := os.ReadFile(filepath.Join(e.dir, "data", "admin-password")); err == nil {
		password = strings.TrimSpace(string(b))
	}
	shots := t.TempDir()
	if dir := os.Getenv("POSTERN_ARTIFACTS"); dir != "" {
		shots = filepath.Join(dir, "console")
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(web, "e2e", script))
	cmd.Dir = web
	cmd.Env = append(os.Environ(), append([]string{
		"POSTERN_URL=" + e.url,
		"POSTERN_USER=admin",
		"POSTERN_PASSWORD=" + password,
		"POSTERN_SCREENSHOTS=" + shots,
		"CHROMIUM=" + chromiumPath,
	}, extra...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("browser test %s failed (%v); screenshots in %s\n%s", script, err, shots, out)
	}
	t.Logf("screenshots in %s\n%s", shots, out)
}

// ssoCallbackOf is a browser of its own starting a single sign-on at start:
// it follows the redirects through the provider and returns the provider's
// redirect back to the server's callback, unvisited.
func ssoCallbackOf(t *testing.T, start string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{
		Timeout:       10 * time.Second,
		Jar:           jar,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	u := start
	for range 5 {
		resp, err := b.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("GET %s: %s, no redirect", u, resp.Status)
		}
		if u = loc.String(); strings.Contains(loc.Path, "/v1/sso/callback") {
			return u
		}
	}
	t.Fatalf("no redirect to the callback from %s", start)
	return ""
}

// endedPortSession runs a port session through `postern forward` with one
// connection, on which the client sends 1000 bytes and the target answers
// 5000 and closes, and returns the ended session's id and its target
// (localhost:PORT).
func endedPortSession(t *testing.T, ctx context.Context, e *env) (string, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.CopyN(io.Discard, c, 1000)
		c.Write(make([]byte, 5000))
		c.Close()
	}()
	port, local := ln.Addr().(*net.TCPAddr).Port, freePort(t)
	fwd := start(t, e.vars(), "forward", hostname(t), "--port", fmt.Sprint(port), "--local-port", fmt.Sprint(local))
	id := fwd.waitFor(ctx, regexp.MustCompile(`Port \d+ opened for sessionId (\S+)\.`))[1]
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", local))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	c.Write(make([]byte, 1000))
	if b, err := io.ReadAll(c); len(b) != 5000 || err != nil {
		t.Fatalf("the port session's connection read %d bytes, %v; want 5000", len(b), err)
	}
	c.Close()
	fwd.stop(ctx)
	e.waitEnded(ctx, id)
	return id, fmt.Sprintf("localhost:%d", port)
}
