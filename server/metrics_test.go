package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/server"
	"github.com/postern/postern/store"
)

// TestMetricsNeedGetMetrics: /metrics answers only a bearer token allowed
// GetMetrics on its account (issue 16, finding 6: it served metric filter
// labels taken from log content to anyone who could reach the port).
func TestMetricsNeedGetMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startServerWith(t, func(c *server.Config) { c.Metrics = reg })
	ctx := t.Context()
	hs := httptest.NewServer(ts.srv.MetricsHandler(reg))
	defer hs.Close()

	scoped := func(c *client.Client, user string, scopes ...string) string {
		t.Helper()
		tok, err := c.CreateToken(ctx, user, api.CreateTokenRequest{Name: "prometheus", Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Secret
	}
	bobSession, _, err := ts.srv.IssueToken(ctx, store.DefaultAccount, "bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := client.New(client.Config{Server: ts.url, CA: string(ts.srv.CA().CertPEM), Token: bobSession})
	if err != nil {
		t.Fatal(err)
	}

	get := func(method string, header http.Header) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, hs.URL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

	refusals := []struct {
		name   string
		method string
		header http.Header
		status int
		code   string
		says   string
	}{
		{"no token", "GET", nil, 401, "Unauthenticated", "metrics need a token: send an API token allowed GetMetrics"},
		{"basic auth", "GET", http.Header{"Authorization": {"Basic YWRtaW46cHc="}}, 401, "Unauthenticated", "postern tokens create --name prometheus --scope GetMetrics"},
		{"an unknown token", "GET", bearer("pst_not-a-token"), 401, "Unauthenticated", "unknown, expired or revoked"},
		{"the console's cookie", "GET", http.Header{"Cookie": {"postern_session=" + ts.adminToken}}, 401, "Unauthenticated", "metrics need a token"},
		{"an admin's token scoped to other actions", "GET", bearer(scoped(ts.admin, "admin", "DescribeSessions", "QueryLogs")), 403, "AccessDenied",
			"token tok-"},
		{"a token allowed GetMetrics by its scope but not by policy", "GET", bearer(scoped(bob, "bob", "GetMetrics")), 403, "AccessDenied",
			"bob is not allowed to GetMetrics on account " + store.DefaultAccount + " (denied: no policy permits it)"},
		{"a user's own session token, not allowed by policy", "GET", bearer(bobSession), 403, "AccessDenied", "bob is not allowed to GetMetrics"},
		{"POST", "POST", bearer(ts.adminToken), 405, "MethodNotAllowed", "GET"},
	}
	for _, r := range refusals {
		status, h, body := get(r.method, r.header)
		var e api.Error
		if err := json.Unmarshal([]byte(body), &e); err != nil || status != r.status || e.Code != r.code || !strings.Contains(e.Message, r.says) {
			t.Errorf("%s: %d %s, want %d %s saying %q", r.name, status, body, r.status, r.code, r.says)
		}
		if strings.Contains(body, "postern_") {
			t.Errorf("%s: the refusal shows metrics: %s", r.name, body)
		}
		if status == 401 && h.Get("WWW-Authenticate") != `Bearer realm="postern metrics"` {
			t.Errorf("%s: WWW-Authenticate %q", r.name, h.Get("WWW-Authenticate"))
		}
	}

	// An administrator's token scoped to GetMetrics (what a scraper
	// holds), or unscoped, is served.
	for name, tok := range map[string]string{"scoped": scoped(ts.admin, "admin", "GetMetrics"), "unscoped": ts.adminToken} {
		status, _, body := get("GET", bearer(tok))
		if status != 200 || !strings.Contains(body, "postern_outbox_bytes") {
			t.Errorf("%s admin token: %d\n%.300s", name, status, body)
		}
		if !strings.Contains(body, `postern_metrics_requests_refused_total{reason="unauthenticated"} 4`) ||
			!strings.Contains(body, `postern_metrics_requests_refused_total{reason="forbidden"} 3`) {
			t.Errorf("%s admin token: refusals not counted:\n%s", name, grep(body, "refused"))
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
