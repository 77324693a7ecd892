package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/postern/postern/journalstore"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/relay"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// Late output. When a node's agent stays away longer than the grace
// period, the server ends its sessions as failed (AgentDisconnected). The
// node itself may be fine behind a broken link: its commands go on, and
// the agent keeps their output, as it keeps every record until the server
// acknowledges it, up to its bound (agent.Config.MaxUnacked, 16 MiB by
// default, after which it stops reading the terminal and the command
// waits: nothing is dropped).
//
// When the agent comes back, its hello lists the sessions it holds. For
// one the server has already ended, the server takes a late hand-over: it
// reopens the session's journal and sends a Resume with Ended (wire); the
// agent puts a marker record right after what the journal has, labelled
// with when the session ended and when the rest arrived, numbers what it
// holds on from there, and ends the command as `postern terminate` would
// (a hangup, then a kill if it lingers; the exit record carries the
// session's end reason). The server journals the records as any others
// (same numbering, sealing, group commit and acknowledgements), so the
// recording holds every byte exactly once, with an `m` event in the .cast
// where the late part begins. Once the exit record is durable the agent
// lets the session go. The session stays Failed with its reason; its
// deliveries are reopened so that every destination gets the complete
// artifacts (deliverer.reopen).
//
// A session whose agent never comes back stays as it ended. An agent that
// restarted has lost its sessions and lists none: they fail as
// AgentRestarted while the server still runs them, and nothing is handed
// over for those it already ended.

// lateHandOvers keeps one late hand-over per session at a time.
type lateHandOvers struct {
	mu      sync.Mutex               // guards running
	running map[string]chan struct{} // closed when that session's hand-over ends
}

// handingOver reports whether session id's late output is being taken.
func (s *Server) handingOver(id string) bool {
	s.late.mu.Lock()
	defer s.late.mu.Unlock()
	return s.late.running[id] != nil
}

// handOverLate takes from the node's agent, in the background and one
// after the other, what it still holds of sessions ids that the server
// may have ended. Each is checked first: a session of another node, or
// one still running, is left alone.
func (s *Server) handOverLate(ac *relay.Link, ids ...string) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for _, id := range ids {
			if s.ctx.Err() != nil {
				return
			}
			if err := s.handOverOne(ac, id); err != nil {
				s.logf("server: session %s: late output from %s: %v", id, ac.NodeID, err)
			}
		}
	}()
}

// handOverOne waits for a hand-over of id already under way (the agent
// reconnected once more) and then takes what is left.
func (s *Server) handOverOne(ac *relay.Link, id string) error {
	for {
		s.late.mu.Lock()
		if s.late.running == nil {
			s.late.running = map[string]chan struct{}{}
		}
		prev := s.late.running[id]
		if prev == nil {
			done := make(chan struct{})
			s.late.running[id] = done
			s.late.mu.Unlock()
			defer func() {
				s.late.mu.Lock()
				delete(s.late.running, id)
				s.late.mu.Unlock()
				close(done)
			}()
			return s.takeLate(ac, id)
		}
		s.late.mu.Unlock()
		select {
		case <-prev:
		case <-s.ctx.Done():
			return nil
		}
	}
}

// takeLate hands over session id's late output from the agent ac.
func (s *Server) takeLate(ac *relay.Link, id string) error {
	ctx := s.ctx
	if rl := s.relays.Get(id); rl != nil {
		// Its journal is closed once it has ended: not before, or two
		// writers would share it.
		if rl.WaitEnded() {
			return nil // resumed, not late
		}
	}
	sess, err := s.store.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		// Not this server's (or long deleted): the agent's orphan
		// timeout ends it.
		s.logf("server: node %s holds session %s, which this server does not know; leaving it to the node", ac.NodeID, id)
		return nil
	} else if err != nil {
		return err
	}
	if sess.Target != ac.NodeID {
		// A node may hand over only its own sessions' output.
		return fmt.Errorf("node %s says it holds the session, which ran on node %s; ignoring it", ac.NodeID, sess.Target)
	}
	if sess.Active() || sess.Settings.Port != nil {
		return nil // still running (another server's), or nothing held
	}
	now := s.now()
	ended := &wire.Ended{
		Reason: sess.StatusReason,
		Marker: fmt.Sprintf("late output: the server ended this session at %s (%s); node %s handed over what follows at %s, and ended the command if it still ran",
			sess.EndedAt.UTC().Format(time.RFC3339), sess.StatusReason, sess.Target, now.UTC().Format(time.RFC3339)),
	}

	path := s.journalPath(sess.Account, sess.ID)
	if s.relays.Get(sess.ID) == nil && sess.ShredKey != nil {
		// This server may never have seen the session, or lost its
		// disk: the late output goes after all of the recording.
		if err := s.fetchJournalNow(ctx, sess.Account, sess.ID); err != nil {
			return err // the node keeps what it holds for a later try
		}
	}
	key, err := s.journalKey(ctx, sess.Account, sess.ID)
	var j *recording.Journal
	if err == nil {
		j, err = recording.OpenJournal(path, key)
	}
	deleted := errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrShredded)
	if err != nil && !deleted {
		// The node keeps what it holds for a later try.
		return fmt.Errorf("its recording cannot be reopened: %w", err)
	}
	from := sess.RecordedSeq
	if j != nil {
		from = j.LastSeq()
	}
	var ship *journalstore.Shipper
	if rs := s.cfg.Recordings; rs != nil && j != nil {
		// On the backlog before the first late record is written, and
		// kept from it while they are: if this server stops before the
		// journal is shipped, the next start ships it.
		ship = rs.Shipper(sess.Account, sess.ID, path, false)
		defer ship.Close()
	}
	att, res, err := relay.Open(ctx, ac, s.grant, wire.TResume, wire.Resume{SessionID: sess.ID, AckedSeq: from, Ended: ended})
	if err == nil && !res.OK {
		att.Stream.Close()
		if res.Unknown {
			err = nil // nothing held after all
		} else {
			err = fmt.Errorf("the node refused the hand-over: %s", res.Error)
		}
		att = nil
	}
	if att == nil {
		if j != nil {
			err = errors.Join(err, j.Close())
		}
		return err
	}
	if deleted {
		// `postern logs delete` removed the recording on request:
		// nothing of the session is kept, late output neither. The
		// command is ended all the same.
		s.logf("server: session %s: node %s hands over late output of a session whose logs were deleted; it is discarded and the command ended", sess.ID, sess.Target)
	} else {
		s.logf("server: session %s: node %s is back and hands over what the session printed after it ended (from record %d)", sess.ID, sess.Target, from+1)
	}
	got, exit, err := s.receiveLate(att, j)
	att.Stream.Close()
	if j == nil {
		return err
	}
	err = errors.Join(err, j.Close())
	last := j.LastSeq()
	if last == from {
		return err
	}
	if _, serr := os.Stat(path); serr != nil {
		// Its logs were deleted while it arrived (a race with `postern
		// logs delete`): nothing to deliver.
		return errors.Join(err, serr)
	}
	// Record how far the recording goes, and deliver it again.
	bg := context.WithoutCancel(ctx)
	if ship != nil {
		// If object storage does not take it now, the backlog will.
		if serr := ship.Finish(bg); serr != nil {
			s.logf("server: session %s: its late output stays on this server's disk until object storage takes it: %v", sess.ID, serr)
		}
	}
	if cur, gerr := s.store.GetSession(bg, sess.ID); gerr != nil {
		err = errors.Join(err, gerr)
	} else {
		cur.RecordedSeq = last
		err = errors.Join(err, s.store.UpdateSession(bg, cur))
	}
	err = errors.Join(err, s.deliver.Reopen(bg, sess.Account, sess.ID))
	detail := fmt.Sprintf("%d records from node %s after the session ended (%s)", got, sess.Target, sess.StatusReason)
	if exit != nil {
		detail += fmt.Sprintf("; its command was ended (exit %d)", exit.ExitCode)
	} else {
		detail += "; the hand-over was cut short, the node keeps the rest"
	}
	s.logf("server: session %s: recorded %s", sess.ID, detail)
	s.auditEvent(sess, "SessionLateOutput", detail)
	return err
}

// receiveLate journals a late hand-over's records (or, with no journal,
// only counts them) and acknowledges them as they become durable, in
// groups as a relay does, until the exit record is acknowledged, the stream
// breaks, the server shuts down, or the node sends nothing for
// relay.TerminateWait. It returns how many records were new and the exit record
// if it came.
func (s *Server) receiveLate(att *relay.Attachment, j *recording.Journal) (int, *wire.Record, error) {
	kick := make(chan struct{}, 1)
	readDone := make(chan error, 1)
	var mu sync.Mutex // guards the three below
	var fresh int
	var lastSeq uint64 // without a journal: the last record received
	var exit *wire.Record
	go func() {
		readDone <- func() error {
			for {
				f, err := att.R.Read()
				if err != nil {
					if errors.Is(err, io.EOF) || errors.Is(err, yamux.ErrStreamClosed) || errors.Is(err, yamux.ErrSessionShutdown) || errors.Is(err, yamux.ErrConnectionReset) {
						return nil
					}
					return err
				}
				if f.Type != wire.TRecord {
					return fmt.Errorf("unexpected %s frame from the agent; closing the stream", f.Type)
				}
				rec, err := wire.ParseRecord(f.Payload)
				if err != nil {
					return err
				}
				isNew := true
				if j != nil {
					isNew, err = j.Append(recording.Record{
						Seq: rec.Seq, Time: rec.Time, Kind: recording.Kind(rec.Kind),
						Data: rec.Data, Cols: rec.Cols, Rows: rec.Rows, ExitCode: rec.ExitCode,
					})
					if err != nil {
						return fmt.Errorf("journal: %w", err)
					}
				}
				mu.Lock()
				if isNew {
					fresh++
				}
				lastSeq = max(lastSeq, rec.Seq)
				if rec.Kind == wire.RecExit && exit == nil {
					rec.Data = append([]byte(nil), rec.Data...)
					exit = &rec
				}
				mu.Unlock()
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		}()
	}()

	idle := time.NewTimer(relay.TerminateWait)
	defer idle.Stop()
	var acked uint64
	var readErr error
	reading := true
	for reading {
		select {
		case <-kick:
			idle.Reset(relay.TerminateWait)
			time.Sleep(s.cfg.SyncInterval) // group commit: what arrives meanwhile shares the sync
			select {
			case <-kick:
			default:
			}
		case readErr = <-readDone:
			reading = false
		case <-idle.C:
			s.logf("server: the node sent nothing of the late output for %v; stopping the hand-over", relay.TerminateWait)
			att.Stream.Close()
		case <-s.ctx.Done():
			att.Stream.Close()
		}
		durable := uint64(0)
		if j != nil {
			if err := j.Sync(); err != nil {
				// Nothing more is acknowledged: the node keeps it.
				att.Stream.Close()
				if reading {
					readErr = <-readDone
				}
				return fresh, nil, errors.Join(err, readErr)
			}
			durable = j.DurableSeq()
		} else {
			mu.Lock()
			durable = lastSeq // nothing is kept: all of it is "recorded"
			mu.Unlock()
		}
		mu.Lock()
		ex := exit
		mu.Unlock()
		if durable > acked {
			if err := att.W.Write(wire.TAck, wire.AppendSeq(nil, durable)); err == nil {
				acked = durable
			}
		}
		if ex != nil && acked >= ex.Seq && reading {
			// Complete: the agent lets the session go.
			att.Stream.Close()
			readErr = <-readDone
			reading = false
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if exit != nil && acked < exit.Seq {
		exit = nil // not recorded: the node keeps it
	}
	return fresh, exit, readErr
}
