package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/postern/postern/api"
)

// The server's single sign-on endpoints (package sso).
const (
	pathSSOStart    = "/v1/sso/start"
	pathSSOExchange = "/v1/sso/exchange"
)

// SSOError is a sign-in that the identity provider or the server refused.
// Description is written for the person signing in.
type SSOError struct {
	Code        string // e.g. access_denied
	Description string
}

func (e *SSOError) Error() string {
	if e.Description == "" {
		return "single sign-on failed: " + e.Code
	}
	return "single sign-on failed: " + e.Description
}

// SSOLogin signs in through the server's single sign-on, as RFC 8252 has
// native apps do: it listens on 127.0.0.1:0, has open show the user
// serverURL/v1/sso/start?redirect=http://127.0.0.1:PORT/callback?state=...&code_challenge=...
// (open may start a browser or just print the URL), waits until the browser
// comes back to /callback with a one-time code (or an error), tells the
// browser it can close the tab, and then POSTs the code with its code
// verifier to serverURL/v1/sso/exchange with hc and decodes the JSON
// answer, the server's token, into out.
//
// Two secrets bind the sign-in to this call. The random state in the
// callback URL means only the sign-in this call started is accepted: a web
// page that finds the port cannot make the CLI sign in with a code of the
// page's choosing. The code verifier, of which the server sees only the
// S256 hash (code_challenge) until the exchange, means the code is good
// only here: one that leaks from the browser signs nobody else in.
func SSOLogin(ctx context.Context, hc *http.Client, serverURL string, open func(url string) error, out any) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	base := strings.TrimRight(serverURL, "/")
	verifier := oauth2.GenerateVerifier()
	code, err := waitForCode(ctx, base, oauth2.S256ChallengeFromVerifier(verifier), open)
	if err != nil {
		return err
	}

	body, _ := json.Marshal(struct {
		Code         string `json:"code"`
		CodeVerifier string `json:"codeVerifier"`
	}{code, verifier})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+pathSSOExchange, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("client: single sign-on: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the Postern server at %s: %w", base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e api.Error
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return &Error{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
		}
		return &Error{Status: resp.StatusCode, Message: fmt.Sprintf("POST %s: %s: %s", pathSSOExchange, resp.Status, strings.TrimSpace(string(b)))}
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: decoding POST %s: %w", pathSSOExchange, err)
	}
	return nil
}

// SSOLogin signs in through the server's single sign-on with the client's
// TLS settings; see the function SSOLogin. The client's own token, if any,
// is not sent.
func (c *Client) SSOLogin(ctx context.Context, open func(url string) error) (api.LoginResponse, error) {
	var out api.LoginResponse
	err := SSOLogin(ctx, c.hc, c.base, open, &out)
	return out, err
}

// callback is what the browser brought to the listener.
type callback struct {
	code string
	err  error
}

// waitForCode runs the loopback listener for one sign-in, bound to
// challenge, and returns the hand-off code the browser brings. The listener
// and its server live only for this call.
func waitForCode(ctx context.Context, base, challenge string, open func(string) error) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("client: single sign-on: listen for the browser: %w", err)
	}
	state := rand.Text()
	redirect := "http://" + ln.Addr().String() + "/callback?state=" + state

	got := make(chan callback, 1) // the first good arrival; later ones are dropped
	mux := http.NewServeMux()
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			writePage(w, http.StatusBadRequest, "Not this sign-in", "This is not the sign-in the Postern CLI is waiting for.")
			return
		}
		var cb callback
		switch {
		case q.Get("error") != "":
			cb.err = &SSOError{Code: q.Get("error"), Description: q.Get("error_description")}
			writePage(w, http.StatusOK, "Sign-in failed", cb.err.Error()+"\n\nYou can close this tab.")
		case q.Get("code") != "":
			cb.code = q.Get("code")
			writePage(w, http.StatusOK, "Signed in", "You are signed in to Postern. You can close this tab and go back to the terminal.")
		default:
			writePage(w, http.StatusBadRequest, "Sign-in failed", "The server sent neither a code nor an error.")
			return
		}
		select {
		case got <- cb:
		default: // a reload after the first arrival changes nothing
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln) // returns when srv shuts down below; it closes ln
	}()
	defer func() {
		// Shutdown lets the browser receive its page before the
		// listener goes; Close if it takes too long.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
		<-served
	}()

	start := base + pathSSOStart + "?" + url.Values{"redirect": {redirect}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode()
	if err := open(start); err != nil {
		return "", fmt.Errorf("client: single sign-on: open %s: %w", start, err)
	}
	select {
	case cb := <-got:
		return cb.code, cb.err
	case <-ctx.Done():
		return "", fmt.Errorf("client: single sign-on: gave up waiting for the browser: %w", context.Cause(ctx))
	}
}

// writePage answers the browser with a small page; msg is plain text.
func writePage(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html>
<html><head><meta charset="utf-8"><title>Postern: %[1]s</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>%[1]s</h1><p style="white-space: pre-wrap">%[2]s</p></body></html>
`, html.EscapeString(title), html.EscapeString(msg))
}
