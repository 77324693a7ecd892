package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// defaultOutputMemory bounds the recent output a relay keeps in memory for
// clients (Config.OutputMemory). A client further behind (a resume after a
// long gap, a slow link, a late watcher) reads from the journal instead.
const defaultOutputMemory = 8 << 20

// relay carries one session between its agent and its clients and records
// it. The agent's records go to the journal first; the committer syncs the
// journal in groups and acknowledges to the agent what is durable.
type relay struct {
	s                          *Server
	id, account, owner, target string
	journalPath                string
	journal                    *recording.Journal
	kick                       chan struct{} // wakes the committer; capacity 1
	// pipes is set for a session without a terminal: clients get its
	// standard output and error as chunks (see clientOutput).
	pipes bool

	mu   sync.Mutex // guards the fields below
	cond *sync.Cond // broadcast on output, end, and attachment changes
	sess store.Session
	// ring holds the latest output; ring.end is the output so far.
	ring     outputRing
	chunkBuf []byte // scratch for clientOutput
	// agent is the current agent attachment, nil while the agent is
	// away since agentLostAt.
	agent       *agentAttachment
	agentLostAt time.Time
	clients     int
	clientsGone time.Time // when the last client left; zero while one is attached
	exitSeq     uint64    // seq of the exit record once received
	exitRec     wire.Record
	ending      bool // end has begun; nothing else may end the session
	ended       bool // artifacts and store are final
	exit        wire.Exit
	closed      bool // journal closed
	// owners is how far each attached owner's client has been sent
	// output, by attachment (numbered from lastOwner); pacing is set
	// while readAgent waits for them (see awaitOwner).
	owners    map[int]uint64
	lastOwner int
	pacing    bool
	// notices are lines for clients' terminals; each client shows those
	// added after it attached.
	notices []string
	// limits are the session's idle timeout and maximum duration (the
	// agent enforces them too, so neither side alone can be bypassed);
	// opened and lastActivity are what they are measured against, on the
	// server's clock; warned is set once the maximum-duration warning went
	// out. limits is fixed before the relay's goroutines start.
	limits store.SessionSettings
	opened time.Time
	// stdinClosed is set once a client ended the command's input (pipes
	// sessions); every new agent attachment is told again.
	stdinClosed bool
	// Port sessions: where connections go (fixed before the relay's
	// goroutines start), the open ones (by id), and the server's own
	// record numbering (there is no agent stream).
	port      *store.PortTarget
	conns     map[int]*openConn
	nextConn  int // the last connection id given out
	serverSeq uint64
	// marks are a port session's records not yet durable
	// (appendServerRecord).
	marks        []recording.Record
	lastActivity time.Time
	warned       bool
	// terminatingAt is when the server asked the agent to end the session
	// (termReason says why); if the agent has not ended it terminateWait
	// later, the server ends it alone.
	terminatingAt time.Time
	termReason    string
	// stalled is set while the journal cannot be written (a full disk;
	// see stall): the agent is detached and keeps the records, and the
	// session waits. resuming is set while a resume after it is under
	// way.
	stalled, resuming bool
	// shownSeq is the last record handed to clients. A record the
	// journal forgot in a stall comes again from the agent: it is
	// journaled again, but not shown twice.
	shownSeq uint64
}

// errStalled ends an agent stream whose records the journal cannot take.
var errStalled = errors.New("the session's recording cannot be written; paused")

// terminateWait is how long the server waits for a node to confirm the end
// of a session it was asked to end. A shell that ignores its hangup is
// killed by the agent within seconds; longer means the node's agent is
// stuck, or an unkillable process holds the session, and the session
// must not stay Terminating forever.
const terminateWait = 30 * time.Second

type agentAttachment struct {
	st *yamux.Stream
	w  *wire.Writer
	r  *wire.Reader
}

func (s *Server) newRelay(sess store.Session, j *recording.Journal, outEnd uint64) *relay {
	r := &relay{
		s: s, id: sess.ID, account: sess.Account, owner: sess.Owner, target: sess.Target,
		journalPath: s.journalPath(sess.Account, sess.ID), journal: j, pipes: j.Meta().Pipes,
		kick: make(chan struct{}, 1), sess: sess,
		ring:        newOutputRing(s.cfg.OutputMemory, outEnd),
		agentLostAt: s.now(), clientsGone: s.now(),
		opened: sess.StartedAt, lastActivity: s.now(),
		// From the store, so that a recovered session keeps them.
		limits: sess.Settings, port: sess.Settings.Port,
	}
	r.cond = sync.NewCond(&r.mu)
	s.relaysMu.Lock()
	s.relays[sess.ID] = r
	s.relaysMu.Unlock()
	s.wg.Add(2)
	go func() { defer s.wg.Done(); r.commit() }()
	go func() { defer s.wg.Done(); r.watch() }()
	return r
}

func (s *Server) relay(id string) *relay {
	s.relaysMu.Lock()
	defer s.relaysMu.Unlock()
	return s.relays[id]
}

// openAgent opens a stream to the agent and sends the first frame (Open,
// Resume or Forward) with the server's grant for it, returning the agent's
// answer.
func (r *relay) openAgent(ctx context.Context, ac *agentConn, t wire.Type, first any) (*agentAttachment, wire.OpenResult, error) {
	return r.s.openAgent(ctx, ac, t, first)
}

func (s *Server) openAgent(ctx context.Context, ac *agentConn, t wire.Type, first any) (*agentAttachment, wire.OpenResult, error) {
	first, err := s.grant(ac.nodeID, first)
	if err != nil {
		return nil, wire.OpenResult{}, err
	}
	st, err := ac.mux.OpenStream()
	if err != nil {
		return nil, wire.OpenResult{}, fmt.Errorf("open stream to %s: %w", ac.nodeID, err)
	}
	att := &agentAttachment{st: st, w: wire.NewWriter(st), r: wire.NewReader(st)}
	if err := att.w.WriteJSON(t, first); err != nil {
		st.Close()
		return nil, wire.OpenResult{}, fmt.Errorf("send %s to %s: %w", t, ac.nodeID, err)
	}
	type result struct {
		res wire.OpenResult
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := att.r.Read()
		if err != nil {
			ch <- result{err: err}
			return
		}
		if f.Type != wire.TOpenResult {
			ch <- result{err: fmt.Errorf("agent answered %s instead of open-result", f.Type)}
			return
		}
		var res wire.OpenResult
		ch <- result{res: res, err: wire.DecodeJSON(f, &res)}
	}()
	select {
	case rr := <-ch:
		if rr.err != nil {
			st.Close()
			return nil, wire.OpenResult{}, rr.err
		}
		if !rr.res.OK {
			st.Close()
		}
		return att, rr.res, nil
	case <-ctx.Done():
		st.Close()
		return nil, wire.OpenResult{}, fmt.Errorf("node %s did not answer in time: %w", ac.nodeID, ctx.Err())
	}
}

// attachAgent resumes the session on a (re)connected agent, asking it for
// everything after the journal's last record. A session that ended
// meanwhile (its grace period ran out as the agent came back) is handed
// over late instead.
func (r *relay) attachAgent(ac *agentConn) {
	if r.isEnding() {
		r.s.handOverLate(ac, r.id)
		return
	}
	ctx, cancel := context.WithTimeout(r.s.ctx, 30*time.Second)
	defer cancel()
	att, res, err := r.openAgent(ctx, ac, wire.TResume, wire.Resume{SessionID: r.id, AckedSeq: r.journal.LastSeq()})
	if err != nil {
		r.s.logf("server: session %s: resume on %s: %v", r.id, ac.nodeID, err)
		return
	}
	if !res.OK {
		if res.Unknown {
			r.fail("AgentRestarted", "the node's agent no longer has this session")
		} else {
			r.fail("ResumeFailed", res.Error)
		}
		return
	}
	if !r.runAgent(att) {
		att.st.Close()
		r.s.handOverLate(ac, r.id)
		return
	}
	r.s.logf("server: session %s resumed on %s after record %d", r.id, ac.nodeID, r.journal.LastSeq())
	r.notice("[postern: reconnected to the node]")
}

func (r *relay) isEnding() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ending
}

// runAgent makes att the current attachment and reads its records until
// the stream breaks. It reports false, and does nothing, if the session
// has begun to end: its journal takes no more records.
func (r *relay) runAgent(att *agentAttachment) bool {
	r.mu.Lock()
	if r.ending {
		r.mu.Unlock()
		return false
	}
	old := r.agent
	r.agent = att
	eof := r.stdinClosed
	wasStalled := r.stalled
	r.stalled = false
	terminating, termReason := r.terminatingAt, r.termReason
	r.cond.Broadcast()
	r.mu.Unlock()
	if old != nil {
		old.st.Close()
	}
	if eof {
		// The end of input may have been lost with the old attachment.
		att.w.Write(wire.TInputEOF, nil)
	}
	if wasStalled {
		r.s.logf("server: session %s: its recording can be written again; resumed after record %d", r.id, r.journal.LastSeq())
		r.notice("[postern: the recording can be written again; the session continues]")
		if !terminating.IsZero() {
			// Asked to end while paused: the agent hears it now.
			att.w.WriteJSON(wire.TTerminate, wire.Terminate{Reason: termReason})
		}
	}
	r.s.wg.Add(1)
	go func() {
		defer r.s.wg.Done()
		err := r.readAgent(att)
		r.mu.Lock()
		if r.agent == att {
			r.agent = nil
			r.agentLostAt = r.s.now()
		}
		ended, stalled := r.ended, r.stalled
		r.mu.Unlock()
		att.st.Close()
		if err != nil && !ended && !stalled {
			r.s.logf("server: session %s: agent stream: %v", r.id, err)
		}
	}()
	return true
}

func (r *relay) readAgent(att *agentAttachment) error {
	for {
		f, err := att.r.Read()
		if err != nil {
			if errors.Is(err, yamux.ErrStreamClosed) || errors.Is(err, yamux.ErrSessionShutdown) || errors.Is(err, yamux.ErrConnectionReset) {
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
		if !r.awaitOwner(att, len(rec.Data)) {
			return nil // replaced; the agent sends rec again
		}
		if err := r.record(rec); err != nil {
			return err
		}
	}
}

// record journals one agent record and hands output to clients.
func (r *relay) record(rec wire.Record) error {
	if rec.Kind == wire.RecMarker {
		// An agent makes one only in a late hand-over (late.go), of a
		// session that has ended: here it could only pass for a
		// server's note.
		return fmt.Errorf("record %d: a marker from the agent in a running session; closing the stream", rec.Seq)
	}
	fresh, err := r.journal.Append(recording.Record{
		Seq: rec.Seq, Time: rec.Time, Kind: recording.Kind(rec.Kind),
		Data: rec.Data, Cols: rec.Cols, Rows: rec.Rows, ExitCode: rec.ExitCode,
	})
	if err != nil {
		if werr := r.journal.Err(); werr != nil {
			r.stall(werr)
			return errStalled
		}
		return fmt.Errorf("journal: %w", err)
	}
	if !fresh {
		return nil // a replay of something already recorded
	}
	r.mu.Lock()
	show := rec.Seq > r.shownSeq
	if show {
		r.shownSeq = rec.Seq
	}
	switch rec.Kind {
	case wire.RecOutput, wire.RecStderr:
		if r.limits.IdleCountsOutput {
			r.lastActivity = r.s.now()
		}
		if !show {
			break // shown before the journal forgot it (stall)
		}
		if r.pipes {
			r.chunkBuf = clientOutput(r.chunkBuf[:0], true, recording.Kind(rec.Kind), rec.Data)
			r.ring.write(r.chunkBuf)
			if cap(r.chunkBuf) > 1<<20 {
				r.chunkBuf = nil
			}
		} else if rec.Kind == wire.RecOutput {
			r.ring.write(rec.Data) // clientOutput's bytes, without a copy
		}
		r.cond.Broadcast()
	case wire.RecResize:
		r.sess.Cols, r.sess.Rows = rec.Cols, rec.Rows
	case wire.RecExit:
		r.exitSeq = rec.Seq
		rec.Data = append([]byte(nil), rec.Data...)
		r.exitRec = rec
	}
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return nil
}

// Pacing of a session's fsyncs. Nothing waits for them but the agent,
// which keeps every record until it is acknowledged durable (and resends
// it after a crash), and clients are shown output before it is durable:
// so a session that prints a line every few milliseconds need not cost an
// fsync each. It is synced at most every minSyncGap, and at once when
// syncEagerly bytes wait (a bulk transfer, which must not fill the
// agent's buffer) or its exit record does.
const (
	minSyncGap  = 500 * time.Millisecond
	syncEagerly = 1 << 20
)

// commit is the group commit: whatever was appended while the previous
// fsync ran is synced by the next one, and the agent is told what is
// durable so it can free it.
func (r *relay) commit() {
	var acked uint64
	var lastSync time.Time
	for {
		select {
		case <-r.s.ctx.Done():
			return
		case <-r.kick:
		}
		time.Sleep(r.s.cfg.SyncInterval)
		select {
		case <-r.kick: // coalesced into this sync
		default:
		}
		if !r.pace(lastSync) {
			return
		}
		lastSync = time.Now()
		if err := r.journal.Sync(); err != nil {
			// Without a durable journal nothing may be acknowledged; the
			// agent keeps the records.
			if werr := r.journal.Err(); werr != nil {
				r.stall(werr)
			} else if !errors.Is(err, recording.ErrClosed) {
				r.s.logf("server: session %s: sync recording: %v", r.id, err)
			}
			continue
		}
		durable := r.journal.DurableSeq()
		r.mu.Lock()
		att, exitSeq, ending := r.agent, r.exitSeq, r.ending
		r.mu.Unlock()
		if exitSeq != 0 && durable >= exitSeq && !ending {
			r.finish()
		}
		if att != nil && durable > acked {
			if err := att.w.Write(wire.TAck, wire.AppendSeq(nil, durable)); err == nil {
				acked = durable
			}
		}
		if exitSeq != 0 && durable >= exitSeq {
			return
		}
	}
}

// pace waits until the next fsync is due (see minSyncGap), or reports
// false if the server is stopping.
func (r *relay) pace(lastSync time.Time) bool {
	for {
		r.mu.Lock()
		now := r.exitSeq != 0 || r.ending
		r.mu.Unlock()
		wait := minSyncGap - time.Since(lastSync)
		if now || wait <= 0 || r.journal.Unsynced() >= syncEagerly {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-r.s.ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		case <-r.kick: // more appended: time to look again
			t.Stop()
		}
	}
}

// finish ends a session whose exit record is durable.
func (r *relay) finish() {
	r.mu.Lock()
	rec := r.exitRec
	r.mu.Unlock()
	status, reason := store.StatusTerminated, string(rec.Data)
	r.end(status, reason, &rec.ExitCode, "")
}

// fail ends a session that cannot continue.
func (r *relay) fail(reason, msg string) {
	r.s.logf("server: session %s failed: %s: %s", r.id, reason, msg)
	r.end(store.StatusFailed, reason, nil, msg)
}

// end records the final state and tells clients. The journal is closed
// (synced) before anyone sees the session as ended, so whoever sees
// "Terminated" can fetch the complete recording.
func (r *relay) end(status, reason string, code *int, msg string) {
	r.mu.Lock()
	if r.ending {
		r.mu.Unlock()
		return
	}
	r.ending = true
	final := r.sess
	final.Status = status
	final.StatusReason = reason
	final.EndedAt = r.s.now()
	final.ExitCode = code
	final.RecordedSeq = r.journal.LastSeq()
	exit := wire.Exit{Code: 255, Reason: reason, Status: status}
	if code != nil {
		exit.Code = *code
	}
	if msg != "" {
		exit.Reason = msg
	}
	att, port := r.agent, r.port
	r.mu.Unlock()

	if port != nil {
		r.closeConns(reason)
		r.mu.Lock()
		r.writeMarksLocked()
		// After the markers, or after what the journal has of them if
		// it still cannot take them all.
		seq := r.journal.LastSeq() + 1
		recorded := r.exitSeq != 0 // its end is in the journal already (a restart found it)
		r.mu.Unlock()
		if !recorded {
			if _, err := r.journal.Append(recording.Record{Seq: seq, Time: r.s.now().Sub(r.opened), Kind: recording.KindExit, Data: []byte(reason)}); err != nil {
				r.s.logf("server: session %s: journal: %v", r.id, err)
			}
		}
		if status == store.StatusTerminated {
			// A port session that ended as asked succeeded.
			final.ExitCode, exit.Code = new(int), 0
		}
	}
	if err := r.closeJournal(); err != nil {
		r.s.logf("server: session %s: %v", r.id, err)
	}
	if err := r.s.store.UpdateSession(context.WithoutCancel(r.s.ctx), final); err != nil {
		r.s.logf("server: session %s: %v", r.id, err)
	}
	// The journal is complete: its artifacts may go to the destinations.
	if err := r.s.store.ReleaseDeliveries(context.WithoutCancel(r.s.ctx), r.account, r.id, r.s.now()); err != nil {
		r.s.logf("server: session %s: %v", r.id, err)
	}
	r.s.deliver.Kick()
	if att != nil && status == store.StatusTerminated {
		// Let the agent free the session.
		att.w.Write(wire.TAck, wire.AppendSeq(nil, final.RecordedSeq))
	}
	if ac := r.s.agent(r.target); att == nil && port == nil && ac != nil && reason != "AgentRestarted" {
		// The node is connected but not attached to the session (a
		// resume failed, or raced the end): whatever it still holds
		// of the session, and the command itself, are taken over now
		// rather than at its next reconnect, which may never come.
		r.s.handOverLate(ac, r.id)
	}
	r.mu.Lock()
	r.sess = final
	r.exit = exit
	r.ended = true
	r.cond.Broadcast()
	r.mu.Unlock()
	r.s.logf("server: session %s ended: %s %s (exit %d)", r.id, status, reason, exit.Code)
	r.s.auditEvent(final, "SessionEnded", fmt.Sprintf("%s %s, exit %d", status, reason, exit.Code))
	// Clients still attached drain the remaining output and the exit;
	// the relay leaves the table when they are gone (see watch).
}

func (r *relay) closeJournal() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.journal.Close()
}

// stall pauses a session whose journal could not be written (a full disk,
// or another write error): the journal is cut back to its last durable
// record, the agent's stream is closed (the agent keeps every record not
// acknowledged, and holds the command's output once its buffer is full),
// and clients are told. resumeStalled takes the session up again.
func (r *relay) stall(cause error) {
	full := r.s.disk.Report(cause)
	if _, err := r.journal.Recover(); err != nil {
		r.fail("RecordingFailed", fmt.Sprintf("the session's recording cannot be written: %v", err))
		return
	}
	if r.port != nil {
		// No agent stream to pause: the server's own records are
		// appended again at the next tick (writeMarksLocked).
		return
	}
	r.mu.Lock()
	if r.ending {
		r.mu.Unlock()
		return
	}
	att := r.agent
	r.agent = nil
	first := !r.stalled
	r.stalled = true
	r.mu.Unlock()
	if att != nil {
		att.st.Close()
	}
	if !first {
		return
	}
	why := "the server's disk is full"
	if !full {
		why = fmt.Sprintf("the server cannot write the session's recording (%v)", cause)
	}
	r.s.logf("server: session %s paused after record %d: %v", r.id, r.journal.LastSeq(), cause)
	r.notice("[postern: " + why + ": the session is paused, and resumes by itself when its recording can be written again; what you type meanwhile is not sent]")
}

// resumeStalled resumes a paused session's agent stream, after the
// journal's last record, once the disk has space again. A node that went
// away meanwhile gets the usual grace period from then on.
func (r *relay) resumeStalled() {
	if r.s.disk.Low() {
		return
	}
	ac := r.s.agent(r.target)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.resuming || !r.stalled {
		return
	}
	if ac == nil {
		r.stalled, r.agentLostAt = false, r.s.now() // back to an agent that is away
		r.cond.Broadcast()
		return
	}
	r.resuming = true
	r.s.wg.Add(1)
	go func() {
		defer r.s.wg.Done()
		r.attachAgent(ac)
		r.mu.Lock()
		r.resuming = false
		r.mu.Unlock()
	}()
}

// notice shows a line on every attached client's terminal.
func (r *relay) notice(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, msg)
	r.cond.Broadcast()
}

// terminate asks the agent to end the session.
func (r *relay) terminate(reason string) {
	r.mu.Lock()
	att, ending := r.agent, r.ending
	if !ending {
		r.sess.Status = store.StatusTerminating
		if r.terminatingAt.IsZero() {
			r.terminatingAt, r.termReason = r.s.now(), reason
		}
	}
	r.mu.Unlock()
	if ending {
		return
	}
	if att == nil {
		r.mu.Lock()
		stalled := r.stalled
		r.mu.Unlock()
		if stalled {
			return // the agent is told when it is back (runAgent)
		}
		r.end(store.StatusTerminated, reason, nil, "")
		return
	}
	if err := att.w.WriteJSON(wire.TTerminate, wire.Terminate{Reason: reason}); err != nil {
		r.end(store.StatusTerminated, reason, nil, "")
	}
}

// input forwards what the user typed to the agent. Input typed while the
// agent is away is dropped, as a terminal would while its link is down.
func (r *relay) input(data []byte) {
	r.mu.Lock()
	att := r.agent
	r.lastActivity = r.s.now()
	r.mu.Unlock()
	if att == nil {
		return
	}
	for len(data) > 0 {
		n := min(len(data), wire.MaxPayload)
		if err := att.w.Write(wire.TInput, data[:n]); err != nil {
			return
		}
		data = data[n:]
	}
}

// inputEOF ends the command's standard input in a session without a
// terminal; for a terminal session it means nothing.
func (r *relay) inputEOF() {
	r.mu.Lock()
	att, pipes := r.agent, r.pipes
	r.lastActivity = r.s.now()
	if pipes {
		r.stdinClosed = true
	}
	r.mu.Unlock()
	if pipes && att != nil {
		att.w.Write(wire.TInputEOF, nil)
	}
}

func (r *relay) resize(cols, rows int) {
	r.mu.Lock()
	att := r.agent
	r.mu.Unlock()
	if att != nil {
		att.w.Write(wire.TResize, wire.AppendResize(nil, cols, rows))
	}
}

// agentLost is called when the node's connection drops.
func (r *relay) agentLost() {
	r.mu.Lock()
	ending := r.ending
	if r.port != nil {
		r.agentLostAt = r.s.now()
	}
	r.mu.Unlock()
	if !ending {
		r.notice(fmt.Sprintf("[postern: lost the connection to the node; waiting up to %v for it to come back]", r.s.cfg.GracePeriod))
	}
}

// watch enforces the grace periods and limits once a tick until the
// relay is done.
func (r *relay) watch() {
	tick := time.NewTicker(min(r.s.cfg.GracePeriod/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-r.s.ctx.Done():
			return
		case <-tick.C:
		}
		if r.check(r.s.now()) {
			return
		}
	}
}

// check enforces, at now, the grace periods (a session nobody is attached
// to, or whose agent is away, for longer than the grace period ends), the
// wait for a node to confirm a termination, and the session's limits. It
// reports when the relay is done and has left the server.
func (r *relay) check(now time.Time) (done bool) {
	r.mu.Lock()
	ending, ended, clients, gone, agent, lost := r.ending, r.ended, r.clients, r.clientsGone, r.agent, r.agentLostAt
	endedAt, terminating, termReason, stalled := r.sess.EndedAt, r.terminatingAt, r.termReason, r.stalled
	r.mu.Unlock()
	grace := r.s.cfg.GracePeriod
	switch {
	case ending && !ended:
	case ended:
		if clients == 0 && now.Sub(endedAt) > min(grace, 10*time.Second) {
			r.s.relaysMu.Lock()
			if r.s.relays[r.id] == r {
				delete(r.s.relays, r.id)
			}
			r.s.relaysMu.Unlock()
			return true
		}
	case stalled:
		// Paused for its recording: neither grace periods nor limits
		// run out meanwhile.
		r.resumeStalled()
	case !terminating.IsZero() && now.Sub(terminating) >= terminateWait:
		msg := fmt.Sprintf("node %s did not end the session within %v of being asked (%s); the server ended it", r.target, terminateWait, termReason)
		r.s.logf("server: session %s: %s", r.id, msg)
		r.notice("[postern: " + msg + "]")
		r.end(store.StatusTerminated, termReason, nil, msg)
		r.mu.Lock()
		att := r.agent
		r.mu.Unlock()
		if att != nil {
			att.st.Close() // nothing more of it is relayed or recorded
		}
	case r.port != nil && !r.s.NodeOnline(r.target) && now.Sub(lost) > grace:
		r.fail("AgentDisconnected", fmt.Sprintf("node %s went offline", r.target))
	case r.port == nil && agent == nil && now.Sub(lost) > grace:
		r.fail("AgentDisconnected", fmt.Sprintf("lost contact with node %s for more than %v", r.target, grace))
	case clients == 0 && now.Sub(gone) > grace:
		r.s.logf("server: session %s: no client for %v; terminating", r.id, grace)
		r.terminate("ClientDisconnected")
	default:
		r.enforceLimits(now)
	}
	if r.port != nil {
		r.mu.Lock()
		if len(r.marks) > 0 && !r.closed {
			r.writeMarksLocked()
		}
		r.mu.Unlock()
	}
	return false
}

// enforceLimits ends the session at its idle timeout or maximum duration,
// warning a minute before the latter.
func (r *relay) enforceLimits(now time.Time) {
	r.mu.Lock()
	lim, opened, last, warned := r.limits, r.opened, r.lastActivity, r.warned
	// Already on its way out (a limit, the user): say it once, not every tick.
	stopping := r.ending || r.sess.Status == store.StatusTerminating
	r.mu.Unlock()
	if stopping {
		return
	}
	if lim.MaxDuration > 0 {
		left := lim.MaxDuration - now.Sub(opened)
		if left <= 0 {
			r.notice(fmt.Sprintf("[postern: the session reached its maximum duration of %v and is ending (maxSessionDuration)]", lim.MaxDuration))
			r.terminate("MaxSessionDuration")
			return
		}
		if left <= time.Minute && !warned {
			r.mu.Lock()
			first := !r.warned // once, even if two checks race
			r.warned = true
			r.mu.Unlock()
			if first {
				r.notice(fmt.Sprintf("[postern: this session ends in %v: maximum session duration is %v]", left.Round(time.Second), lim.MaxDuration))
			}
		}
	}
	if lim.IdleTimeout > 0 && now.Sub(last) >= lim.IdleTimeout {
		r.notice(fmt.Sprintf("[postern: no input for %v: the session is ending (idleSessionTimeout)]", lim.IdleTimeout))
		r.terminate("IdleTimeout")
	}
}
