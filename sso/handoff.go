package sso

import (
	"crypto/rand"
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

// Handoffs holds short-lived, single-use random codes, each bound to a
// value: the server puts the token it issued after a login, sends the code
// to the client in a redirect, and the client takes the token with the code
// over a direct request. So the token itself never appears in a URL, a
// browser's history or a proxy's log. Safe for concurrent use.
type Handoffs[T any] struct {
	now func() time.Time

	mu  sync.Mutex
	m   map[string]handoff[T] // guarded by mu; by code
	max int                   // a variable so tests can fill it
}

type handoff[T any] struct {
	v       T
	expires time.Time
}

// NewHandoffs returns an empty set of codes; now is the clock, nil for
// time.Now.
func NewHandoffs[T any](now func() time.Time) *Handoffs[T] {
	if now == nil {
		now = time.Now
	}
	return &Handoffs[T]{now: now, m: make(map[string]handoff[T]), max: maxHandoffs}
}

// Put stores v under a new code, good once within HandoffTTL.
func (h *Handoffs[T]) Put(v T) (code string) {
	code = rand.Text() // 128 bits: not guessable within a minute
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	// Logins are rare, so each one can afford to sweep: tokens do not
	// linger in memory past their code's minute.
	expires := func(e handoff[T]) time.Time { return e.expires }
	sweep(h.m, now, expires)
	makeRoom(h.m, h.max, now, expires)
	h.m[code] = handoff[T]{v: v, expires: now.Add(HandoffTTL)}
	return code
}

// Take returns the value of code and forgets it; false if the code is
// unknown, already taken or expired.
func (h *Handoffs[T]) Take(code string) (T, bool) {
	now := h.now()
	h.mu.Lock()
	e, ok := h.m[code]
	delete(h.m, code)
	h.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		var zero T
		return zero, false
	}
	return e.v, true
}
