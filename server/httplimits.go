package server

import (
	"io"
	"net"
	"net/http"
	"time"

	"github.com/postern/postern/connlimit"
)

// Limits of the HTTP server on how long a caller may hold a connection.
// Variables only so that tests need not wait a minute.
var (
	// idleTimeout closes a keep-alive connection idle between requests.
	idleTimeout = 60 * time.Second
	// bodyTimeout is how long a request's body may take to arrive.
	bodyTimeout = 60 * time.Second
)

// Limits of the HTTP server on what a caller may send.
const (
	// maxHeaderBytes bounds a request's line and headers: a token, a
	// cookie and a long query fit many times over; a megabyte path does
	// not.
	maxHeaderBytes = 64 << 10
)

// connKey is the context key of a request's connection (Serve's
// ConnContext).
type connKey struct{}

// connAuthenticated takes the request's connection out of its source's
// count of unauthenticated connections (package connlimit).
func connAuthenticated(r *http.Request) {
	if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		connlimit.Authenticated(c)
	}
}

// bodyDeadline gives each request's body bodyTimeout to arrive. Only
// while it is read: a response may stream for hours (logs tail -f) and
// the server's wait for the next request has idleTimeout; a request
// without a body (GETs, WebSocket upgrades) is not touched.
func bodyDeadline(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			// Not every writer can (a test's recorder); then there is
			// no connection to hold open either.
			if rc.SetReadDeadline(time.Now().Add(bodyTimeout)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline once the body is read to its end
// (not on an error: a body cut off by its deadline must stay cut off
// while the server discards the rest of it).
type deadlineBody struct {
	io.ReadCloser // Close is the body's own: what it leaves unread keeps its deadline
	rc            *http.ResponseController
	done          bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.lift()
	}
	return n, err
}

func (b *deadlineBody) lift() {
	if !b.done {
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	}
}
