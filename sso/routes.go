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
	PathStart    = "/v1/sso/start"    // GET ?redirect=...: off to the provider
	PathCallback = "/v1/sso/callback" // GET: the provider's redirect; Config.RedirectURL
	PathExchange = "/v1/sso/exchange" // POST {"code": ...}: the hand-off
)

// ExchangeRequest is the body of a POST to PathExchange.
type ExchangeRequest struct {
	Code string `json:"code"`
}

// Error codes in the api.Error bodies of Routes.
const (
	CodeInvalidRedirect = "InvalidRedirect"
	CodeInvalidCode     = "InvalidCode"
	CodeBadRequest      = "BadRequest"
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
func (rt *Routes[T]) Start(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, CodeBadRequest, "use GET")
		return
	}
	authURL, err := rt.Provider.Begin(r.URL.Query().Get("redirect"))
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRedirect, err.Error())
		return
	}
	noStore(w)
	http.Redirect(w, r, authURL, http.StatusFound)
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
	id, redirect, err := rt.Provider.Finish(r.Context(), r)
	msg := ""
	if err == nil {
		var v T
		v, err = rt.Issue(r.Context(), id)
		if err == nil {
			code := rt.Handoffs.Put(v)
			rt.logf("sso: %s signed in (%s %s)", id.Username, id.Issuer, id.Subject)
			redirectWith(w, r, redirect, url.Values{"code": {code}})
			return
		}
		msg = "Postern refused the sign-in: " + printable(err.Error(), 300)
		err = fmt.Errorf("sso: issue a token for %s (%s %s): %w", id.Username, id.Issuer, id.Subject, err)
	} else {
		msg = userMessage(err)
	}
	rt.logf("sso: sign-in failed: %v", err)
	if redirect == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "Postern sign-in failed. "+msg+"\n")
		return
	}
	redirectWith(w, r, redirect, url.Values{"error": {"access_denied"}, "error_description": {msg}})
}

// Exchange redeems a hand-off code: POST {"code": "..."} answers 200 with
// the value Issue returned, once; an unknown, used or expired code gets 400
// with code InvalidCode.
func (rt *Routes[T]) Exchange(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, CodeBadRequest, "use POST")
		return
	}
	var req ExchangeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Code == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, `the body must be {"code": "..."} as JSON`)
		return
	}
	v, ok := rt.Handoffs.Take(req.Code)
	if !ok {
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
