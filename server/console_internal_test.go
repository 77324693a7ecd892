package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postern/postern/api"
)

// TestConsoleCookies signs a browser in and checks what its cookie is
// good for: reads as is, changes only with the CSRF header, nothing from
// another origin, WebSockets only with an origin, and nothing after
// signing out.
func TestConsoleCookies(t *testing.T) {
	_, h, _ := identityServer(t)
	send := func(method, path, body string, cookies []*http.Cookie, hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(t.Context(), method, path, bytes.NewBufferString(body))
		req.Host = "postern.example:8443"
		req.RemoteAddr = "192.0.2.40:1"
		for _, c := range cookies {
			req.AddCookie(c)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := send("POST", api.PathConsole+"/login", `{"user":"alice","password":"nope"}`, nil, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", rec.Code)
	}
	rec := send("POST", api.PathConsole+"/login", `{"user":"alice","password":"pw"}`, nil, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	var sess consoleSession
	json.Unmarshal(rec.Body.Bytes(), &sess)
	cookies := rec.Result().Cookies()
	var session *http.Cookie
	for _, c := range cookies {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteStrictMode || sess.CSRFToken == "" || strings.Contains(rec.Body.String(), session.Value) {
		t.Fatalf("cookies %+v, body %s", cookies, rec.Body)
	}
	check := func(name string, rec *httptest.ResponseRecorder, want int, code string) {
		t.Helper()
		var e api.Error
		json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != want || code != "" && e.Code != code {
			t.Errorf("%s: %d %s, want %d %s", name, rec.Code, rec.Body, want, code)
		}
	}
	check("read", send("GET", api.PathWhoAmI, "", cookies, nil), http.StatusOK, "")
	tokenReq := `{"name":"from the console"}`
	check("change without CSRF", send("POST", api.PathUsers+"/alice/tokens", tokenReq, cookies, nil), http.StatusForbidden, "CSRFTokenMissing")
	check("change with a wrong CSRF", send("POST", api.PathUsers+"/alice/tokens", tokenReq, cookies, map[string]string{csrfHeader: "guess"}), http.StatusForbidden, "CSRFTokenMissing")
	check("change with CSRF", send("POST", api.PathUsers+"/alice/tokens", tokenReq, cookies, map[string]string{csrfHeader: sess.CSRFToken, "Origin": "https://postern.example:8443"}), http.StatusOK, "")
	check("another origin", send("GET", api.PathWhoAmI, "", cookies, map[string]string{"Origin": "https://evil.example"}), http.StatusForbidden, "CrossOrigin")
	check("WebSocket without origin", send("GET", api.PathWhoAmI, "", cookies, map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"}), http.StatusForbidden, "CrossOrigin")
	// A bearer token needs none of this: no ambient credential to forge.
	check("console config", send("GET", api.PathConsole+"/config", "", nil, nil), http.StatusOK, "")
	check("logout without CSRF", send("POST", api.PathConsole+"/logout", "", cookies, nil), http.StatusForbidden, "CSRFTokenMissing")
	check("logout", send("POST", api.PathConsole+"/logout", "", cookies, map[string]string{csrfHeader: sess.CSRFToken}), http.StatusNoContent, "")
	check("after logout", send("GET", api.PathWhoAmI, "", cookies, nil), http.StatusUnauthorized, "Unauthenticated")
	check("single sign-on code without single sign-on", send("POST", api.PathConsole+"/login", `{"ssoCode":"x"}`, nil, nil), http.StatusBadRequest, "NoSingleSignOn")
}
