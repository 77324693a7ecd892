package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/store"

	"github.com/postern/postern/journalstore"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/relay"
)

// RecordingStore keeps session journals in object storage, so that a
// recording outlives the server that relayed it and any server reads it
// (journalstore.Store).
type RecordingStore interface {
	// Shipper starts shipping a running session's journal.
	Shipper(account, id, path string, fresh bool) *journalstore.Shipper
	// Fetch appends to path what object storage holds beyond it.
	Fetch(ctx context.Context, account, id, path string) (int64, error)
	// Delete removes a session's journal from object storage.
	Delete(ctx context.Context, account, id string) error
	// Pending is the backlog of journals not wholly stored.
	Pending() journalstore.Pending
	// RunBacklog ships the backlog until ctx ends.
	RunBacklog(ctx context.Context, every time.Duration)
	// Forget takes a journal off the backlog: another server writes it.
	Forget(account, id string) error
}

// backlogEvery is how often journals that could not be stored when
// their sessions ended are tried again.
const backlogEvery = 30 * time.Second

// shipper is the relays' Ship: nil without object storage.
func (s *Server) shipper() func(account, id, path string, fresh bool) relay.Shipper {
	rs := s.cfg.Recordings
	if rs == nil {
		return nil
	}
	return func(account, id, path string, fresh bool) relay.Shipper {
		return ownedShipper{rs.Shipper(account, id, path, fresh)}
	}
}

// ownedShipper tells the relay when another server writes the recording.
type ownedShipper struct{ *journalstore.Shipper }

func (o ownedShipper) Ship(ctx context.Context, seq uint64, size int64) error {
	err := o.Shipper.Ship(ctx, seq, size)
	switch {
	case errors.Is(err, journalstore.ErrConflict) || errors.Is(err, journalstore.ErrGap):
		return fmt.Errorf("%w: %w", relay.ErrNotOwner, err)
	case errors.Is(err, journalstore.ErrFinished):
		return nil // the session's end shipped it; Shipped says how far
	}
	return err
}

// recordingFor readies a session's journal for a reader and returns its
// path: synced to include what was just recorded, if this server relays
// the session, else fetched from object storage as far as it goes; or
// the API's error for a recording deleted, missing or out of reach.
func (s *Server) recordingFor(ctx context.Context, sess store.Session) (string, error) {
	jpath := s.journalPath(sess.Account, sess.ID)
	if rl := s.relays.Get(sess.ID); rl != nil && sess.Active() {
		rl.SyncJournal()
	} else if sess.ShredKey != nil {
		if err := s.fetchJournal(ctx, sess.Account, sess.ID); err != nil {
			return "", errorf(http.StatusServiceUnavailable, api.CodeRecordingUnavailable, "session %s: %v", sess.ID, err)
		}
	}
	if _, err := os.Stat(jpath); errors.Is(err, os.ErrNotExist) {
		if sess.ShredKey == nil && !sess.Active() {
			return "", errorf(http.StatusGone, api.CodeLogDeleted, "session %s's logs were deleted (postern logs delete): they cannot be read", sess.ID)
		}
		return "", errorf(http.StatusNotFound, api.CodeLogNotFound, "session %s has no recording", sess.ID)
	} else if err != nil {
		return "", err
	}
	return jpath, nil
}

// recoverLaterEvery is how often a session whose recording object storage
// would not give at start is tried again.
const recoverLaterEvery = 10 * time.Second

// recoverLater takes up a running session once object storage gives its
// journal: the node keeps everything meanwhile, and the session is
// resumed on it if it is connected (if not, when it connects).
func (s *Server) recoverLater(sess store.Session) {
	// Once per session: at start, and when its node dials (adoptSessions).
	if _, dup := s.recoveringLater.LoadOrStore(sess.ID, true); dup {
		return
	}
	defer s.recoveringLater.Delete(sess.ID)
	t := time.NewTicker(recoverLaterEvery)
	defer t.Stop()
	fail := func(err error) {
		s.logf("server: session %s cannot be recovered: %v", sess.ID, err)
		sess.Status, sess.StatusReason, sess.EndedAt = store.StatusFailed, "ServerRestarted", s.now()
		if err := s.store.UpdateSession(context.WithoutCancel(s.ctx), sess); err != nil {
			s.logf("server: session %s: %v", sess.ID, err)
		}
	}
	for tries := 1; ; tries++ {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		// Meanwhile it may have ended, or another server may have
		// taken it up: then it is not this server's to take.
		if cur, err := s.store.GetSession(s.ctx, sess.ID); err == nil && !cur.Active() {
			return
		} else if err == nil {
			sess = cur
		}
		if holder, err := s.store.Placement(s.ctx, "session/"+sess.ID); err == nil && holder != "" && holder != s.instance {
			return
		}
		if err := s.fetchJournalNow(s.ctx, sess.Account, sess.ID); err != nil {
			if errors.Is(err, journalstore.ErrGap) {
				fail(err) // object storage answered: what it holds cannot be read
				return
			}
			if tries%30 == 1 { // every 5 minutes
				s.logf("server: session %s: object storage still does not give its recording: %v", sess.ID, err)
			}
			continue
		}
		key, err := s.journalKey(s.ctx, sess.Account, sess.ID)
		var j *recording.Journal
		if err == nil {
			j, err = recording.OpenJournal(s.journalPath(sess.Account, sess.ID), key)
		}
		if err != nil {
			// Object storage answered and holds nothing usable of it.
			fail(err)
			return
		}
		s.place(s.ctx, "session/"+sess.ID)
		s.agentsMu.Lock() // see setUpAgent: resumed here or there
		if s.relays.Get(sess.ID) != nil {
			s.agentsMu.Unlock()
			j.Close()
			return
		}
		rl, exited := s.relays.Recover(sess, s.journalPath(sess.Account, sess.ID), j, key)
		ac := s.agents[sess.Target]
		s.agentsMu.Unlock()
		s.logf("server: recovered session %s at record %d from object storage", sess.ID, j.LastSeq())
		switch {
		case exited:
			rl.Finish()
		case ac != nil:
			rl.Resume(&ac.Link)
		}
		if !exited && sess.Settings.Command != "" {
			s.holdCommandSession(rl)
		}
		return
	}
}

// fetchJournal brings this server's copy of a session's journal up to
// what object storage holds (all of it, for a server that never saw the
// session or lost its disk), before it is read. A journal this server
// writes (a session it relays, output it is being handed) is its own
// and the most there is: it is left alone.
func (s *Server) fetchJournal(ctx context.Context, account, id string) error {
	if s.relays.Get(id) != nil || s.handingOver(id) {
		return nil
	}
	return s.fetchJournalNow(ctx, account, id)
}

// fetchJournalNow is fetchJournal for the journal's writer, before it
// writes. Object storage that does not answer is an error only for a
// journal this server has no copy of: its own copy is read instead.
func (s *Server) fetchJournalNow(ctx context.Context, account, id string) error {
	if s.cfg.Recordings == nil {
		return nil
	}
	path := s.journalPath(account, id)
	n, err := s.cfg.Recordings.Fetch(ctx, account, id, path)
	if err != nil {
		if _, serr := os.Stat(path); serr == nil {
			s.logf("server: session %s: reading this server's copy of its recording, which may lack its end: %v", id, err)
			return nil
		}
		return fmt.Errorf("its recording is kept in object storage, which did not give it: %w", err)
	}
	if n > 0 {
		s.logf("server: session %s: fetched %d bytes of its recording from object storage", id, n)
	}
	return nil
}
