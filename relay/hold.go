package relay

import (
	"context"
	"sync"
	"time"

	"github.com/postern/postern/store"
)

// The server itself as a session's client: Run Command runs each node's
// part as a session of its sender's, and the server, not a person, is
// what waits for it. It needs only what the narrow API below gives: to
// keep the session from ending for want of a client (the grace period),
// to end the command's input, and to learn how the session ended. The
// output it reads from the journal once the session has ended, as
// `postern logs get` does, so that nothing bypasses the recording.

// Hold counts the caller as an attached client of the owner's, which keeps
// the session from ending for want of one, without reading its output or
// setting its pace (an observer's part in that). release lets go; it may be
// called more than once.
func (r *Relay) Hold() (release func()) {
	r.mu.Lock()
	r.clients++
	r.clientsGone = time.Time{}
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			r.clients--
			if r.clients == 0 {
				r.clientsGone = r.t.Now()
			}
			r.cond.Broadcast()
			r.mu.Unlock()
		})
	}
}

// CloseInput ends the standard input of a session without a terminal, as
// a client that has nothing to send does; an agent attached later is told
// too.
func (r *Relay) CloseInput() { r.inputEOF() }

// Wait waits until the session has ended (its journal complete and closed,
// its final state stored) and returns that final state; ok is false if ctx
// ended first, or the relay was released (Released).
func (r *Relay) Wait(ctx context.Context) (final store.Session, ok bool) {
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for !r.ended && !r.released && ctx.Err() == nil {
		r.cond.Wait()
	}
	return r.sess, r.ended
}

// Released reports whether the relay let go of its session, alive, for
// another server (Release): Wait then returns without its end, which
// that server records.
func (r *Relay) Released() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.released
}
