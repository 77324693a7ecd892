package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/diskspace"
	"github.com/postern/postern/relay"
	"github.com/postern/postern/store"
)

// A full disk. The data directory's filesystem holds the journals and the
// metadata store (the audit trail included), and the server fails closed
// when it runs out of space, saying so, and recovers by itself when space
// returns:
//
//   - Below MinFreeDisk free (or after a write failed for lack of space,
//     until a look finds MinFreeDisk free again), new sessions, new
//     forwarded connections and every other audited change are refused with
//     DiskFull (507). Reads go on, and so do deletions, which free space;
//     the minimum is the headroom their audit records and the live sessions
//     use meanwhile.
//   - A live session whose journal cannot be written is paused, not failed
//     (relay.stall): the journal is cut back to its last durable record,
//     the agent's stream is closed, the user's terminal says why, and the
//     agent keeps every record not yet acknowledged, holding the command's
//     output once its buffer is full. When space returns the relay resumes
//     the agent's stream after the journal's last record and the agent
//     resends the rest: everything a client was shown reaches the journal
//     without a restart.
//   - An audit record that cannot be written fails the call it records,
//     when the call's answer has not gone out yet (every change's answer is
//     held until its record is written; see statusWriter), and is kept
//     (auditBacklog) and written, late and saying so, once space returns.

const (
	// DefaultMinFreeDisk is Config.MinFreeDisk's default: room for the
	// audit records of reads and deletions, and for live sessions to
	// finish what they are writing, once new work is refused.
	DefaultMinFreeDisk = 64 << 20
	// defaultDiskCheckEvery is Config.DiskCheckInterval's default.
	defaultDiskCheckEvery = 5 * time.Second
)

// diskFull returns a DiskFull error if the data directory is low on
// space, nil otherwise.
func (s *Server) diskFull() error {
	st := s.disk.State()
	if !st.Low {
		return nil
	}
	return errorf(http.StatusInsufficientStorage, api.CodeDiskFull, "%v: new sessions and changes are refused until space is freed (reads and deletions still work)", st.Error())
}

// refuseWhenFull refuses a change while the disk is low: every method but
// GET, HEAD and OPTIONS, and DELETE, which frees space. Its refusal is
// audited with the caller's name, so it runs after authentication.
func (s *Server) refuseWhenFull(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete:
		return nil
	}
	return s.diskFull()
}

// diskError turns a write's failure for lack of space into a DiskFull
// error (and tells the monitor); other errors pass unchanged.
func (s *Server) diskError(err error) error {
	var ae *apiError
	if err == nil || errors.As(err, &ae) || !s.disk.Report(err) {
		return err
	}
	s.logf("server: out of disk space: %v", err)
	return errorf(http.StatusInsufficientStorage, api.CodeDiskFull, "the server's disk is full: %v", err)
}

// watchDisk looks at the data directory's free space until ctx ends,
// logging each change, and once space is back writes the audit records
// that waited for it.
func (s *Server) watchDisk(ctx context.Context, every time.Duration) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.disk.Run(ctx, every) })
	for {
		changed := s.disk.Changed()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		st := s.disk.State()
		if st.Low {
			s.logf("server: %v: refusing new sessions and changes; live sessions pause if their recordings cannot be written", st.Error())
			continue
		}
		s.logf("server: disk space is back (%s free of %s): accepting sessions and changes again", diskspace.Bytes(st.Free), diskspace.Bytes(st.Total))
		s.flushAuditBacklog(ctx)
	}
}

// pausedSessions counts the sessions paused because their journals could
// not be written.
func (s *Server) pausedSessions() int {
	return len(s.relays.Select(func(r *relay.Relay) bool { return r.Stalled() }))
}

// auditBacklog keeps audit records that could not be written, in order,
// until they can be; past maxAuditBacklog it counts the ones it drops, and
// a record saying how many is written in their place.
type auditBacklog struct {
	mu   sync.Mutex // guards the fields below
	recs []store.AuditRecord
	// lost counts records dropped since the last summary, first and last
	// when the first and the last of them were made.
	lost        int
	first, last time.Time
}

// maxAuditBacklog bounds the audit records held for a full disk: a full
// disk under a flood of calls must not run the server out of memory.
const maxAuditBacklog = 10000

func (b *auditBacklog) add(rec store.AuditRecord) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.recs) < maxAuditBacklog {
		b.recs = append(b.recs, rec)
		return
	}
	if b.lost == 0 {
		b.first = rec.Time
	}
	b.lost++
	b.last = rec.Time
}

func (b *auditBacklog) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.recs)
}
