package sso

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/postern/postern/api"
	"github.com/postern/postern/logger"
)

// Paths of the endpoints, for the server to mount Routes at.
const (
	PathStart    = "/v1/sso/start"    // GET ?redirect=...[&code_challenge=...&code_challenge_method=S256]: off to the provider
	PathCallback = "/v1/sso/callback" // GET: the provider's redirect; Config.RedirectURL
	PathExchange = "/v1/sso/exchange" // POST {"code": ..., "codeVerifier": ...}: the hand-off
)

// ExchangeRequest is the body of a POST to PathExchange.
type ExchangeRequest struct {
	Code string `json:"code"`
	// CodeVerifier is the secret whose S256 challenge the client sent
	// to PathStart as code_challenge.
	CodeVerifier string `json:"codeVerifier"`
}

// maxVerifierLen is RFC 7636's longest code verifier.
const maxVerifierLen = 128

// Error codes in the api.Error bodies of Routes.
const (
	CodeInvalidRedirect  = "InvalidRedirect"
	CodeInvalidChallenge = "InvalidCodeChallenge" // PathStart: code_challenge missing (CLI), given (console) or not S256
	CodeInvalidCode      = "InvalidCode"          // the hand-off code is unknown, used or expired
	CodeBadRequest       = "BadRequest"
	// CodeVerifierMismatch: the hand-off code was redeemed without the
	// code verifier of the client that started the sign-in.
	CodeVerifierMismatch = "CodeVerifierMismatch"
	// CodeSignInElsewhere: the browser finishing a sign-in, or
	// redeeming the console's code, is not the one that started it.
	CodeSignInElsewhere = "SignInStartedElsewhere"
	// CodeInvalidState: the provider's redirect names a sign-in that is
	// unknown or already finished.
	CodeInvalidState = "InvalidState"
	// CodeSignInFailed: any other failure of the callback, when there is
	// no client to send the user back to.
	CodeSignInFailed = "SignInFailed"
)

// Routes are the three HTTP endpoints of single sign-on. They need no
// signed-in caller; mount them outside the server's authentication.
type Routes[T any] struct {
	Provider *Provider
	Handoffs *Handoffs[T]
	// Issue is called after a successful Finish to mint Postern's token
	// for the identity: it finds the user by Issuer and Subject (creating
	// or updating them with Username and Groups, as the server's policy
	// says) and returns what the client receives from PathExchange. The
	// text of its error is shown to the user, so write it for them.
	Issue func(ctx context.Context, id Identity) (T, error)
	// Redeem, when set, is what PathExchange answers with for the
	// handed-off value, made only then (tokens minted for the client that
	// redeems the code, not before); nil answers with the value itself.
	// Its error's text is shown to the user.
	Redeem func(ctx context.Context, v T) (any, error)
	Logf   logger.Logf // nil discards
}

func (rt *Routes[T]) logf(format string, args ...any) {
	if rt.Logf != nil {
		rt.Logf(format, args...)
	}
}

// Start begins a login: GET ?redirect=CLIENT_REDIRECT answers 302 to the
// provider, or 400 if the redirect is not one CheckClientRedirect allows.
// A client that redeems its own hand-off code (the CLI, at a loopback
// redirect) adds &code_challenge=S256(VERIFIER)&code_challenge_method=S256.
// The answer sets BindingCookie, which binds the login to this browser.
func (rt *Routes[T]) Start(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, CodeBadRequest, "use GET")
		return
	}
	q := r.URL.Query()
	challenge := q.Get("code_challenge")
	if m := q.Get("code_challenge_method"); challenge != "" && m != "S256" {
		writeError(w, http.StatusBadRequest, CodeInvalidChallenge, fmt.Sprintf("code_challenge_method must be S256, not %q", printable(m, 20)))
		return
	}
	login, err := rt.Provider.Begin(q.Get("redirect"), challenge)
	if err != nil {
		code := CodeInvalidRedirect
		if errors.Is(err, ErrNoChallenge) || errors.Is(err, ErrBadChallenge) {
			code = CodeInvalidChallenge
		}
		writeError(w, http.StatusBadRequest, code, err.Error())
		return
	}
	addBrowserSecret(w, r, login.BrowserSecret)
	noStore(w)
	http.Redirect(w, r, login.AuthURL, http.StatusFound)
}

// Callback is where the provider sends the user back (Config.RedirectURL).
// On success it issues the token, keeps it under a hand-off code and
// redirects to the client's redirect with ?code=CODE. On failure it
// redirects there with ?error=access_denied&error_description=MESSAGE when
// the login is known, and otherwise answers with the message itself. The
// message says what to do; the details go to the log only.
func (rt *Routes[T]) Callback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, CodeBadRequest, "use GET")
		return
	}
	noStore(w)
	id, fin, err := rt.Provider.Finish(r.Context(), r, BrowserSecrets(r))
	if err == nil {
		var v T
		v, err = rt.Issue(r.Context(), id)
		if err == nil {
			code := rt.Handoffs.Put(v, fin.Challenge)
			if fin.Challenge != s256(fin.BrowserSecret) {
				// The client redeems the code with its own
				// verifier: the browser's part is done.
				forgetBrowserSecret(w, r, fin.BrowserSecret)
			}
			rt.logf("sso: %s signed in (%s %s)", id.Username, id.Issuer, id.Subject)
			redirectWith(w, r, fin.Redirect, url.Values{"code": {code}})
			return
		}
		msg := "Postern refused the sign-in: " + printable(err.Error(), 300)
		err = fmt.Errorf("sso: issue a token for %s (%s %s): %w", id.Username, id.Issuer, id.Subject, err)
		rt.fail(w, r, fin, err, CodeSignInFailed, msg)
		return
	}
	code := CodeSignInFailed
	switch {
	case errors.Is(err, ErrOtherBrowser):
		code = CodeSignInElsewhere
	case errors.Is(err, ErrUnknownState), errors.Is(err, ErrStateReused):
		code = CodeInvalidState
	}
	rt.fail(w, r, fin, err, code, userMessage(err))
}

// fail ends a callback that did not sign anyone in: it sends the user back
// to the client with msg when the login is known and this browser's, and
// otherwise shows msg and code on a page of its own. err is for the log.
func (rt *Routes[T]) fail(w http.ResponseWriter, r *http.Request, fin Finished, err error, code, msg string) {
	rt.logf("sso: sign-in failed: %v", err)
	if fin.BrowserSecret != "" {
		forgetBrowserSecret(w, r, fin.BrowserSecret)
	}
	if fin.Redirect == "" {
		status := http.StatusBadRequest
		if code == CodeSignInElsewhere {
			status = http.StatusForbidden
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		io.WriteString(w, "Postern sign-in failed. "+msg+"\n\n(error "+code+")\n")
		return
	}
	redirectWith(w, r, fin.Redirect, url.Values{"error": {"access_denied"}, "error_description": {msg}})
}

// Exchange redeems a hand-off code: POST {"code": "...", "codeVerifier":
// "..."} answers 200 with the value Issue returned, once; an unknown, used
// or expired code gets 400 with code InvalidCode, and a code with the wrong
// verifier 400 with CodeVerifierMismatch (the code is then void).
func (rt *Routes[T]) Exchange(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, CodeBadRequest, "use POST")
		return
	}
	var req ExchangeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Code == "" || req.CodeVerifier == "" || len(req.CodeVerifier) > maxVerifierLen {
		writeError(w, http.StatusBadRequest, CodeBadRequest, `the body must be {"code": "...", "codeVerifier": "..."} as JSON, with the verifier (at most 128 characters) whose S256 hash was the code_challenge of the sign-in`)
		return
	}
	v, err := rt.Handoffs.Take(req.Code, req.CodeVerifier)
	switch {
	case errors.Is(err, ErrCodeElsewhere):
		rt.logf("sso: a sign-in code was presented with the wrong code verifier (not by the client that started the sign-in); the code is void")
		writeError(w, http.StatusBadRequest, CodeVerifierMismatch, "this sign-in code belongs to the program that started the sign-in, and the code verifier sent is not its own: start the sign-in again")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, CodeInvalidCode, "the sign-in code is unknown, already used or expired (codes last a minute): sign in again")
		return
	}
	var out any = v
	if rt.Redeem != nil {
		var err error
		if out, err = rt.Redeem(r.Context(), v); err != nil {
			rt.logf("sso: redeeming a sign-in code: %v", err)
			writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
			return
		}
	}
	noStore(w)
	writeJSON(w, http.StatusOK, out)
}

// userMessage is what the person signing in reads about err: what happened
// and what to do, without the detail that belongs in the server's log.
func userMessage(err error) string {
	var idp *IdPError
	switch {
	case errors.As(err, &idp):
		return "The identity provider did not sign you in: " + strings.TrimRight(printable(cmp.Or(idp.Description, idp.Code), 200), ".") + "."
	case errors.Is(err, ErrOtherBrowser):
		return "This sign-in was started in another browser (or this browser did not keep Postern's sign-in cookie). Start the sign-in again, in the browser you will finish it in."
	case errors.Is(err, ErrUnknownState), errors.Is(err, ErrStateReused):
		return "This sign-in is unknown or already finished. Start the sign-in again."
	case errors.Is(err, ErrStateExpired):
		return "The sign-in took more than 10 minutes. Start it again."
	case errors.Is(err, ErrNotAllowed):
		return "You are not in a group that may sign in to Postern. Ask your administrator for access."
	case errors.Is(err, ErrMissingUsername), errors.Is(err, ErrInvalidUsername):
		return "The identity provider did not give a usable Postern user name. Ask your administrator to check the SSO username claim."
	case errors.Is(err, ErrBadGroupsClaim):
		return "The identity provider sent groups Postern cannot read. Ask your administrator to check the SSO groups claim."
	case errors.Is(err, ErrNoCode), errors.Is(err, ErrExchange), errors.Is(err, ErrNoIDToken):
		return "Postern could not complete the sign-in with the identity provider. Try again; if it keeps failing, ask your administrator to check the server log."
	}
	for _, te := range tokenErrors {
		if errors.Is(err, te) {
			return "The identity provider's answer failed verification. Ask your administrator to check the server log."
		}
	}
	return "Something went wrong; the server log has the details."
}

// printable keeps the first max runes of s that are printable, since it
// comes from a URL anyone can craft and ends up on someone's terminal.
func printable(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("...")
			break
		}
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// redirectWith sends the user to redirect, one CheckClientRedirect
// accepted, with params added to its query.
func redirectWith(w http.ResponseWriter, r *http.Request, redirect string, params url.Values) {
	u, err := url.Parse(redirect)
	if err != nil { // Begin checked it; cannot happen
		http.Error(w, "bad redirect", http.StatusInternalServerError)
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, api.Error{Code: code, Message: msg})
}
