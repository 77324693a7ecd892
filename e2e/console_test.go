package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/postern/postern/api"
	"github.com/postern/postern/firehose"
	"github.com/postern/postern/webhook"
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
	runBrowserTestOutput(t, ctx, e, node, web, script, extra...)
}

// runBrowserTestOutput is runBrowserTest, returning what the script printed.
func runBrowserTestOutput(t *testing.T, ctx context.Context, e *env, node, web, script string, extra ...string) string {
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
	return string(out)
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

// TestConsoleIntegrations drives the console's Integrations page in a real
// browser against a real `postern dev`. Set up with the CLI first: an
// HTTPS webhook delivery stream to a receiver in the test (checking each
// request's signature), a subscription filter on /postern/sessions with a
// name and pattern like markup, a rule on sessions' state changes whose
// webhook target answers 400, a session, its events at the stream's
// webhook and the rule's refusals in the dead letters. Then
// web/e2e/integrations.mjs sees the stream with its delivered events, the
// filter, the rule with its pattern and target, the dead letters with
// their reason and the recent events, all names and patterns as text;
// asks the test (POST $POSTERN_CONTROL_URL/fail) to make the stream's
// endpoint answer 503 and run a session, and after Refresh sees the stream
// failing, with its error and backlog; and, signed in as an operator, who
// may describe none of it, sees each card's refusal or an empty listing
// that says listings are filtered.
func TestConsoleIntegrations(t *testing.T) {
	node, web := consoleDeps(t)
	ctx := testCtx(t)
	secret := strings.Repeat("s", 40)
	var (
		mu        sync.Mutex // guards the fields below
		failing   bool       // the stream's endpoint answers 503
		delivered strings.Builder
		unsigned  int
		ruleCalls int
	)
	hook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, time.Now()) != nil {
			unsigned++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/rule":
			// A target that refuses every event for good: to the dead
			// letters, with this as the reason.
			ruleCalls++
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "Zq9 channel archived")
		case "/stream":
			if failing {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			var p firehose.Payload
			json.Unmarshal(body, &p) // format json: the payload as it is
			for _, ev := range p.LogEvents {
				delivered.WriteString(ev.Message + "\n")
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer hook.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw})
	caFile, secretFile := writeFile(t, "ca.pem", string(ca)), writeFile(t, "secret", secret)
	got := func() string {
		mu.Lock()
		defer mu.Unlock()
		return delivered.String()
	}

	e := startDev(t)
	host := hostname(t)
	const stream, filter, filterPattern = "console-hook", "<b>Zq9 ship</b>", `-"<b>Zq9Markup</b>"`
	e.mustRun(ctx, "delivery-streams", "create", stream, "--destination", "HTTP", "--buffer-interval", "0",
		"--http-url", hook.URL+"/stream", "--http-secret-file", secretFile, "--http-ca-file", caFile, "--http-format", "json")
	var ds api.DeliveryStream
	e.jsonOut(ctx, &ds, "delivery-streams", "describe", stream)
	// The session log group is made by the first session.
	e.mustRun(ctx, "exec", host, "--", "true")
	e.waitDelivered(ctx, e.sessions(ctx)[0].ID)
	e.mustRun(ctx, "logs", "subscription-filters", "put", "--group", "/postern/sessions", "--name", filter, "--pattern", filterPattern, "--destination", ds.ARN)
	targets, _ := json.Marshal([]api.RuleTarget{{ID: "chat", Webhook: &api.HTTPEndpoint{URL: hook.URL + "/rule", Secret: secret, CAPEM: string(ca), Format: "json"}}})
	e.mustRun(ctx, "events", "rules", "put", "console-rule", "--description", `<img src=x onerror="window.__pwned=1"> notify chat`,
		"--pattern-file", writeFile(t, "pattern.json", `{"source": ["postern.sessions"], "detail-type": ["Session State Change", "<b>Zq9Markup</b>"]}`),
		"--targets-file", writeFile(t, "targets.json", string(targets)))

	e.mustRun(ctx, "exec", host, "--", "echo", "Zq9Hooked")
	waitFor(ctx, t, "the session's events at the stream's webhook", func() bool { return strings.Contains(got(), "Zq9Hooked") })
	waitFor(ctx, t, "the rule's refused events in the dead letters", func() bool {
		out, _, _ := e.run(ctx, "logs", "tail", "--group", "/postern/events/dead-letter", "--since", "1h")
		return strings.Contains(out, "Zq9 channel archived")
	})
	waitFor(ctx, t, "the stream to have caught up", func() bool {
		e.jsonOut(ctx, &ds, "delivery-streams", "describe", stream)
		return ds.Status != nil && ds.Status.Events > 0 && ds.Status.Backlog == 0
	})

	// The page asks for the outage when it has shown the healthy stream:
	// the endpoint answers 503, a session's events then wait, and the
	// answer comes once the stream says it is failing with a backlog.
	ctl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/fail" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		failing = true
		mu.Unlock()
		if err := outage(r.Context(), e, host, stream); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer ctl.Close()

	const operatorPassword = "correct horse battery staple"
	cmd := exec.CommandContext(ctx, bin, "users", "create", "oscar", "--group", "operators", "--password")
	cmd.Env = append(os.Environ(), append(e.vars(), "POSTERN_PASSWORD="+operatorPassword)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("users create oscar: %v\n%s", err, out)
	}

	runBrowserTest(t, ctx, e, node, web, "integrations.mjs",
		"POSTERN_STREAM="+stream,
		"POSTERN_STREAM_URL="+hook.URL+"/stream",
		"POSTERN_RULE_URL="+hook.URL+"/rule",
		"POSTERN_FILTER="+filter,
		"POSTERN_FILTER_PATTERN="+filterPattern,
		"POSTERN_CONTROL_URL="+ctl.URL,
		"POSTERN_OPERATOR=oscar",
		"POSTERN_OPERATOR_PASSWORD="+operatorPassword,
	)
	mu.Lock()
	defer mu.Unlock()
	if unsigned != 0 {
		t.Errorf("%d requests were not signed right", unsigned)
	}
	if ruleCalls == 0 {
		t.Errorf("the rule's target was never called")
	}
}

// outage runs a session on host while the stream's endpoint fails, and
// waits until the stream reports the failure with a backlog. It runs in
// the control server's handler, so it reports errors rather than failing
// the test itself.
func outage(ctx context.Context, e *env, host, stream string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	postern := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), e.vars()...)
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("postern %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return out, nil
	}
	if _, err := postern("exec", host, "--", "echo", "Zq9Outage"); err != nil {
		return err
	}
	for {
		out, err := postern("delivery-streams", "describe", stream, "-o", "json")
		if err != nil {
			return err
		}
		var ds api.DeliveryStream
		if err := json.Unmarshal(out, &ds); err != nil {
			return fmt.Errorf("describe: %w: %s", err, out)
		}
		if st := ds.Status; st != nil && st.FailingSince != nil && st.Backlog > 0 && strings.Contains(st.LastError, "503") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stream %s never reported the outage with a backlog: %+v", stream, ds.Status)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
