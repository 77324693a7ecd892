package relay

import (
	"context"

	"github.com/postern/postern/store"
)

// What a relay fixes at its start.

// ID is the session's id.
func (r *Relay) ID() string { return r.id }

// Account is the session's account.
func (r *Relay) Account() string { return r.account }

// Owner is the user who started the session.
func (r *Relay) Owner() string { return r.owner }

// Target is the session's node.
func (r *Relay) Target() string { return r.target }

// Port is where a port session's connections go; nil for other sessions.
func (r *Relay) Port() *store.PortTarget { return r.port }

// Pipes reports whether the session has no terminal: its clients get
// standard output and error as chunks (see clientOutput).
func (r *Relay) Pipes() bool { return r.pipes }

// Session returns the session as it stands now.
func (r *Relay) Session() store.Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sess
}

// SetRunAsUser records the OS user the node started the session as.
func (r *Relay) SetRunAsUser(user string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sess.RunAsUser = user
}

// Connected marks a session that has started as connected in the store,
// unless it is already ending (a command that was quick to exit, a
// termination), and returns it as it stands. Under the relay's lock, so
// that an end beginning now (end takes it first) writes its final state
// to the store after this.
func (r *Relay) Connected(ctx context.Context) (store.Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ending {
		r.sess.Status = store.StatusConnected
		if err := r.t.Store.UpdateSession(ctx, r.sess); err != nil {
			return r.sess, err
		}
	}
	return r.sess, nil
}

// TermReason is why the session was asked to end; empty if it was not.
func (r *Relay) TermReason() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.termReason
}

// ForgetShredKey drops the session's journal key, once the logs were
// deleted (an ended session's relay lingers a while for its clients).
func (r *Relay) ForgetShredKey() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sess.ShredKey = nil
}

// WaitEnded waits while the session's end is under way, and reports
// whether it is still running (its end has not begun), here or, released,
// on another server.
func (r *Relay) WaitEnded() (running bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.ending && !r.ended && !r.released {
		r.cond.Wait()
	}
	return !r.ending || r.released
}

// Ended reports whether the session has ended: its journal is complete.
func (r *Relay) Ended() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended
}

// Stalled reports whether the session is paused because its journal
// cannot be written (see stall).
func (r *Relay) Stalled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stalled
}

// SyncJournal makes what the session recorded so far durable, so that a
// reader of the journal sees it.
func (r *Relay) SyncJournal() error { return r.journal.Sync() }

// Resume attaches the session to its node's (re)connected agent on l, in
// a goroutine of the table's (see attachAgent).
func (r *Relay) Resume(l *Link) { r.t.wg.Go(func() { r.attachAgent(l) }) }

// Attached reports whether the session has its agent attached, and how
// many clients.
func (r *Relay) Attached() (agent bool, clients int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.agent != nil, r.clients
}

// OutputEnd is how much output the relay has handed to clients.
func (r *Relay) OutputEnd() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ring.end
}

// Pacing reports whether the relay is waiting for its owner's terminal
// before it takes in more output (awaitOwner), and how far the furthest
// owner client has been sent output.
func (r *Relay) Pacing() (waiting bool, ownerSent uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, at := range r.owners {
		ownerSent = max(ownerSent, at)
	}
	return r.pacing, ownerSent
}
