package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postern/postern/api"
)

// FuzzAPI sends the whole HTTP API random methods, paths, queries,
// headers and bodies, as nobody, as a user without permissions and as an
// administrator, against a real server (store, keys, log store). Whatever
// arrives, the server answers: never a panic, never a 5xx, and never more
// than a bounded answer to a caller it does not know. The seed corpus, one
// request per route of the route table and some malformed ones, runs with
// the test suite.
func FuzzAPI(f *testing.F) {
	fx := newRouteFixture(f)
	tokens := []string{"", fx.token(f, "nobody"), fx.token(f, "admin"), "pst_forged"}
	h := fx.s.Handler()
	fill := strings.NewReplacer("{id}", fx.session, "{name}", "carol", "{action}", "describe")
	for _, rt := range fx.s.routes() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		for who := range tokens {
			f.Add(method, fill.Replace(path), "group="+fx.group, "Content-Type", "application/json", []byte(`{}`), uint8(who))
		}
	}
	f.Add("POST", api.PathRegister, "", "Content-Type", "application/json", []byte(`{"activationId":"act-1","activationCode":"x","name":"\x1b]0;x\x07"}`), uint8(0))
	f.Add("POST", api.PathLogin, "", "X-Forwarded-For", "1.2.3.4", []byte(`{"user":"admin","password":`+strings.Repeat("9", 400)+`}`), uint8(0))
	f.Add("GET", api.PathSessions+"/"+fx.session+"/stream", "offset=18446744073709551615", "Upgrade", "websocket", []byte(nil), uint8(2))
	f.Add("GET", api.PathAudit, "since=yesterday&limit=-1", "Accept", "*/*", []byte(nil), uint8(2))
	f.Add("PUT", api.PathPreferences, "", "Content-Type", "application/json", []byte(`{"content":"schemaVersion: '1.0'\ninputs: {idleSessionTimeout: 99}"}`), uint8(2))
	f.Add("DELETE", api.PathPolicies+"/../../etc/passwd", "", "", "", []byte(nil), uint8(2))
	f.Fuzz(func(t *testing.T, method, path, query, hk, hv string, body []byte, who uint8) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		target := path
		if query != "" {
			target += "?" + query
		}
		req, err := http.NewRequestWithContext(t.Context(), method, "https://postern.test"+target, bytes.NewReader(body))
		if err != nil {
			return // not a request any client could send
		}
		req.RemoteAddr = "192.0.2.7:4321"
		if hk != "" && httpHeaderName(hk) {
			req.Header.Set(hk, hv)
		}
		if strings.EqualFold(hk, "Upgrade") || strings.EqualFold(hk, "Connection") {
			// A recorder cannot be hijacked: WebSocket upgrades are the
			// e2e tests' to fuzz.
			req.Header.Del(hk)
		}
		tok := tokens[int(who)%len(tokens)]
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q (as %d): %d %s", method, target, who, rec.Code, rec.Body)
		}
		if tok == "" && rec.Body.Len() > 64<<10 && !strings.HasPrefix(path, "/assets/") && path != "/" {
			t.Fatalf("%s %q without a token: %d bytes back", method, target, rec.Body.Len())
		}
	})
}

// httpHeaderName reports whether k is a header name net/http would send.
func httpHeaderName(k string) bool {
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	return true
}
