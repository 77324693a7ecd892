package sso

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"net/http"
	"sync"
	"time"
)

const (
	// HandoffTTL is how long a hand-off code is good for: the client
	// redeems it as soon as the browser arrives, so a minute is plenty,
	// and a code seen in a browser's history later is worthless.
	HandoffTTL = 60 * time.Second
	// maxHandoffs bounds the codes not yet redeemed. Only a completed
	// login makes one, so filling it takes that many logins; when full,
	// the oldest code is dropped.
	maxHandoffs = 10000
)

// Errors of Take and TakeInBrowser.
var (
	ErrCodeUnknown = errors.New("sso: sign-in code unknown, already used or expired")
	// ErrCodeElsewhere is a code presented without the verifier, or in
	// a browser without the binding secret, that it is bound to: it was
	// issued to whoever started the sign-in, and this is someone else.
	ErrCodeElsewhere = errors.New("sso: sign-in code bound to the client or browser that started the sign-in, which this is not")
)

// Handoffs holds short-lived, single-use random codes, each bound to a
// value: the server puts the token it issued after a login, sends the code
// to the client in a redirect, and the client takes the token with the code
// over a direct request. So the token itself never appears in a URL, a
// browser's history or a proxy's log. Each code is bound, as an
// authorization code is by PKCE, to the S256 challenge of a secret only the
// client that started the login holds, so a code that leaks (from a
// browser's history, a log, a phishing page) is worthless to anyone else.
// Safe for concurrent use.
type Handoffs[T any] struct {
	now func() time.Time

	mu  sync.Mutex
	m   map[string]handoff[T] // guarded by mu; by code
	max int                   // a variable so tests can fill it
}

type handoff[T any] struct {
	v         T
	challenge string // S256 of the secret that redeems it
	expires   time.Time
}

// NewHandoffs returns an empty set of codes; now is the clock, nil for
// time.Now.
func NewHandoffs[T any](now func() time.Time) *Handoffs[T] {
	if now == nil {
		now = time.Now
	}
	return &Handoffs[T]{now: now, m: make(map[string]handoff[T]), max: maxHandoffs}
}

// Put stores v under a new code, good once within HandoffTTL for the holder
// of the verifier whose S256 challenge is challenge (Finished.Challenge).
func (h *Handoffs[T]) Put(v T, challenge string) (code string) {
	code = rand.Text() // 128 bits: not guessable within a minute
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	// Logins are rare, so each one can afford to sweep: tokens do not
	// linger in memory past their code's minute.
	expires := func(e handoff[T]) time.Time { return e.expires }
	sweep(h.m, now, expires)
	makeRoom(h.m, h.max, now, expires)
	h.m[code] = handoff[T]{v: v, challenge: challenge, expires: now.Add(HandoffTTL)}
	return code
}

// Take returns the value of code, if verifier is the one it is bound to,
// and forgets the code either way: a code is good for one attempt, so a
// stolen code tried by someone else is void for its owner too, who signs
// in again. It returns ErrCodeUnknown if the code is unknown, already
// taken or expired, and ErrCodeElsewhere for a wrong verifier.
func (h *Handoffs[T]) Take(code, verifier string) (T, error) {
	v, _, err := h.take(code, []string{verifier})
	return v, err
}

// TakeInBrowser is Take for a code bound to the browser that started the
// login (the web console's): the verifier is one of the binding secrets of
// r's BindingCookie, which is then dropped from the cookie, as it has
// served.
func (h *Handoffs[T]) TakeInBrowser(w http.ResponseWriter, r *http.Request, code string) (T, error) {
	v, used, err := h.take(code, BrowserSecrets(r))
	if used != "" {
		forgetBrowserSecret(w, r, used)
	}
	return v, err
}

// take takes code with the first of verifiers it is bound to, and returns
// that verifier.
func (h *Handoffs[T]) take(code string, verifiers []string) (T, string, error) {
	now := h.now()
	h.mu.Lock()
	e, ok := h.m[code]
	delete(h.m, code)
	h.mu.Unlock()
	var zero T
	if !ok || !now.Before(e.expires) {
		return zero, "", ErrCodeUnknown
	}
	for _, vf := range verifiers {
		if vf != "" && subtle.ConstantTimeCompare([]byte(s256(vf)), []byte(e.challenge)) == 1 {
			return e.v, vf, nil
		}
	}
	return zero, "", ErrCodeElsewhere
}
