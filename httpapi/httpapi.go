// Package httpapi is the frame of Postern's HTTP API: the shape of the
// route table, the guard that authenticates each route's caller and lets
// no answer out before the route's authorization was checked, API errors
// with their codes, and JSON in and out.
//
// The guard is what makes "every route is authorized" hold by
// construction rather than by review: a route either names the action it
// is authorized as, or says why it needs no user; a handler of an
// authorized route answers through a writer that refuses (500) anything
// but an error until the handler has checked (Caller.Checked); and a
// handler that forgot is logged and counted (Guard.Unchecked), which the
// server's route test fails on. The guard takes what it needs as
// callbacks (authentication, admission, error writing), never the server.
package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/store"
)

// Route is one endpoint of the API.
type Route struct {
	Pattern string
	// Action is what the route is authorized as; its handler checks it
	// on the resource it names.
	Action  authz.Action
	Handler func(http.ResponseWriter, *http.Request) error
	// Public, for routes that take no user's token, says how the route
	// authenticates instead; Open is its handler.
	Public string
	Open   http.HandlerFunc
}

// Caller is the authenticated user of a request.
type Caller struct {
	Account string
	User    store.User
	Token   store.Token
	// mark is set once the request's authorization has been checked;
	// nil outside the guard (a caller made by a test, or for /metrics).
	mark *atomic.Bool
}

// Checked records that the request's authorization has been checked:
// from then on its handler may answer.
func (c Caller) Checked() {
	if c.mark != nil {
		c.mark.Store(true)
	}
}

type callerKey struct{}

// CallerOf returns the caller of a request the guard let through.
func CallerOf(r *http.Request) Caller { return r.Context().Value(callerKey{}).(Caller) }

// Error is an error with an HTTP status and a code for the API body.
type Error struct {
	Status int
	Code   string // one of api's Code constants
	Msg    string
	// RetryAfter, when set, is sent as Retry-After (seconds).
	RetryAfter int
}

func (e *Error) Error() string { return e.Msg }

// Errorf makes an Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// WriteJSON answers with v as indented JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// MaxBody is the most of a request body ReadJSON reads.
const MaxBody = 1 << 20

// ReadJSON decodes a request body, rejecting unknown fields so typos in
// automation surface instead of being ignored.
func ReadJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(http.StatusBadRequest, api.CodeBadRequest, "invalid request body: %v", err)
	}
	return nil
}

// Guard authenticates and admits the callers of authorized routes, and
// holds their answers until their authorization was checked.
type Guard struct {
	// Authenticate finds the caller of a request.
	Authenticate func(*http.Request) (Caller, error)
	// Authenticated is told of each caller found (to stop counting the
	// connection as unauthenticated, to name the caller in the audit
	// record).
	Authenticated func(*http.Request, Caller)
	// Admit may refuse a request before its handler runs (a full disk);
	// nil admits all.
	Admit func(*http.Request) error
	// WriteError answers with err (an *Error, or any other error as an
	// internal one).
	WriteError func(http.ResponseWriter, *http.Request, error)
	// Unchecked is told of a handler that answered, or tried to, without
	// an authorization check (a bug): refused says the guard answered
	// 500 in its place.
	Unchecked func(r *http.Request, action authz.Action, refused bool)
}

// Mux serves routes: each authorized one through the guard, each public
// one as it is (behind Public's admission).
func (g *Guard) Mux(routes []Route) *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range routes {
		if rt.Public != "" {
			mux.HandleFunc(rt.Pattern, rt.Open)
			continue
		}
		mux.Handle(rt.Pattern, g.Authed(rt.Action, rt.Handler))
	}
	return mux
}

// Authed wraps a handler that needs a signed-in user, authorized as
// action. Its response is held back until the handler has checked
// authorization: one that forgot answers 500, never the resource.
func (g *Guard) Authed(action authz.Action, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := g.Authenticate(r)
		if err != nil {
			g.WriteError(w, r, err)
			return
		}
		if g.Authenticated != nil {
			g.Authenticated(r, c)
		}
		if len(c.Token.Scopes) > 0 && !slices.Contains(c.Token.Scopes, string(action)) {
			g.WriteError(w, r, Errorf(http.StatusForbidden, api.CodeAccessDenied, "%s's token %s may not %s: its scopes are %v", c.User.Name, c.Token.ID, action, c.Token.Scopes))
			return
		}
		if g.Admit != nil {
			if err := g.Admit(r); err != nil {
				g.WriteError(w, r, err)
				return
			}
		}
		c.mark = new(atomic.Bool)
		gw := &guardWriter{ResponseWriter: w, mark: c.mark, refuse: func() { g.Unchecked(r, action, true) }}
		ctx := context.WithValue(r.Context(), callerKey{}, c)
		if err := h(gw, r.WithContext(ctx)); err != nil {
			g.WriteError(gw, r, err)
		}
		if !c.mark.Load() && gw.status == 0 {
			g.Unchecked(r, action, false)
		}
	})
}

// WithCaller returns r carrying c as its caller, for a public route that
// authenticates by its own means (a Signature Version 4, package sigv4),
// and a function that reports whether the request's authorization has
// been checked since (Caller.Checked): such a route answers only if it
// was, as the guard's routes do.
func WithCaller(r *http.Request, c Caller) (*http.Request, func() bool) {
	c.mark = new(atomic.Bool)
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, c)), c.mark.Load
}

// Public adapts a handler of a route that takes no user's token.
func (g *Guard) Public(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var err error
		if g.Admit != nil {
			err = g.Admit(r)
		}
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			g.WriteError(w, r, err)
		}
	}
}

// ErrUnchecked is what a route that forgot its check gets from its
// writer instead of writing.
var ErrUnchecked = errors.New("httpapi: the route answered without an authorization check")

// guardWriter holds back a response until the request's authorization was
// checked. Errors pass (they say nothing the caller may not know: a
// handler refuses bad input or missing things before it can name a
// resource), as do responses after a check.
type guardWriter struct {
	http.ResponseWriter
	mark    *atomic.Bool
	refuse  func() // tells of a refused answer
	refused bool   // the guard answered instead of the handler
	status  int    // what the handler wrote, once it has
}

func (w *guardWriter) ok(status int) bool {
	if w.refused {
		return false
	}
	if w.status == 0 {
		w.status = status
	}
	if w.status >= 400 || w.mark.Load() {
		return true
	}
	w.refused = true
	w.refuse()
	WriteJSON(w.ResponseWriter, http.StatusInternalServerError, api.Error{Code: api.CodeInternalError, Message: "internal error: the server did not check this request's authorization"})
	return false
}

func (w *guardWriter) WriteHeader(code int) {
	if w.ok(code) {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *guardWriter) Write(b []byte) (int, error) {
	if !w.ok(http.StatusOK) {
		return 0, ErrUnchecked
	}
	return w.ResponseWriter.Write(b)
}

func (w *guardWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *guardWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && w.ok(http.StatusOK) {
		f.Flush()
	}
}

func (w *guardWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.ok(http.StatusSwitchingProtocols) {
		return nil, nil, ErrUnchecked
	}
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("httpapi: connection cannot be hijacked")
	}
	return h.Hijack()
}
