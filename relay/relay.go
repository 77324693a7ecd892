// Package relay carries live sessions between a node's agent and the
// people attached to them, and records them: every record the agent sends
// goes to the session's journal first, the journal is synced in groups,
// and the agent is told what is durable so it can let go of it. Clients
// read the output from the relay's memory while they keep up, and from
// the journal when they fall behind, resume or watch late.
//
// A relay works with what its Table's Deps give it (the two store calls
// it makes, a clock, a logger, the free-space monitor, the node links and
// callbacks into the server), never the server itself, so the part that
// carries the "nothing is lost" promise can be built and tested alone.
package relay

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/postern/postern/logger"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// DefaultOutputMemory bounds the recent output a relay keeps in memory for
// clients (Deps.OutputMemory). A client further behind (a resume after a
// long gap, a slow link, a late watcher) reads from the journal instead.
const DefaultOutputMemory = 8 << 20

// Store is what a relay writes to the metadata store: a session's final
// state, and the release of its deliveries once its journal is complete.
type Store interface {
	UpdateSession(ctx context.Context, s store.Session) error
	ReleaseDeliveries(ctx context.Context, account, sessionID string, now time.Time) error
}

// Disk is the data directory's free-space monitor (package diskspace).
type Disk interface {
	// Report tells it a write failed, and reports whether for lack of space.
	Report(err error) bool
	// Low reports whether the server is short of space.
	Low() bool
}

// Deps are what relays need from the server around them.
type Deps struct {
	Store Store
	Disk  Disk
	Now   func() time.Time
	Logf  logger.Logf
	// Agent returns the node's connected agent, or nil.
	Agent func(nodeID string) *Link
	// Grant signs the first frame of a stream to a node's agent (Open,
	// Resume or Forward) with the server's grant for it.
	Grant func(nodeID string, first any) (any, error)
	// HandOver takes over what the node's agent still holds of sessions
	// that have ended (their late output), and ends their commands.
	HandOver func(l *Link, ids ...string)
	// Ended is called once a session's end is recorded (journal closed,
	// final state stored, deliveries released), with a line that says
	// how it ended.
	Ended func(final store.Session, how string)
	// ClientState is told when a session's client comes (Connected the
	// first time, Resumed after it was gone) and goes (Disconnected,
	// while the session lives on for its grace period); nil: nobody.
	// Observers do not count.
	ClientState func(sess store.Session, state string)
	// CatchupRead counts one journal record read for a client the relay's
	// memory no longer covers: an observer's, or an owner's.
	CatchupRead func(observer bool)
	// Moved reports whether another server holds session id now (its
	// node dialled that one, which took it up); nil: none ever does.
	// A relay whose agent stays away asks before it ends the session.
	Moved func(id string) bool
	// Released is told that a relay let go of its session for another
	// server (Release), its journal shipped: the copy here is stale.
	Released func(account, id string)

	// OutputMemory is how much recent output each relay keeps for clients
	// (default DefaultOutputMemory).
	OutputMemory int
	// SyncInterval is how long the committer waits for more records
	// before it syncs the journal.
	SyncInterval time.Duration
	// GracePeriod is how long a session waits for its agent, or for a
	// client, before it ends.
	GracePeriod time.Duration

	// Ship starts copying a session's journal to object storage, the
	// recordings' system of record when one is configured (package
	// journalstore); fresh says the journal is new. nil: the journal on
	// this server's disk is the system of record.
	Ship func(account, id, path string, fresh bool) Shipper
	// ShipInterval is how long durable records wait at most before
	// they are shipped (default DefaultShipInterval); ShipStallTimeout
	// how long shipping may fail before the agent is acknowledged what
	// is durable here only (default DefaultShipStallTimeout).
	ShipInterval, ShipStallTimeout time.Duration
}

// Shipper copies one session's journal to object storage as it grows
// (journalstore.Shipper). The committer calls it, one call at a time.
type Shipper interface {
	// Ship stores the journal's bytes up to size, durable whole frames
	// ending with record seq.
	Ship(ctx context.Context, seq uint64, size int64) error
	// Shipped returns the last record and the bytes stored.
	Shipped() (seq uint64, size int64)
	// Finish stores the complete (closed) journal; Close lets go of it
	// without, for a restart to resume; Abandon lets go of it for
	// another server, which ships it from then on.
	Finish(ctx context.Context) error
	Close()
	Abandon() error
}

// ErrNotOwner is a Shipper's error when another server writes the
// session's recording in object storage: retrying cannot help, and the
// node must not be told anything is safe on the strength of this
// server's disk.
var ErrNotOwner = errors.New("another server writes this session's recording")

// Defaults of Deps' shipping.
const (
	// DefaultShipInterval bounds how long a record waits for object
	// storage, and so how much an agent holds unacknowledged, at one
	// PUT per running session per interval at most.
	DefaultShipInterval = 2 * time.Second
	// DefaultShipStallTimeout is how long a session waits for object
	// storage that fails, before it is acknowledged on local disk alone:
	// its agent's buffer is bounded, and a command that cannot write
	// stops.
	DefaultShipStallTimeout = 30 * time.Second
	// shipEagerly is how many durable bytes ship at once, without
	// waiting for the interval.
	shipEagerly = 1 << 20
	// shipFinishWait bounds storing a session's whole journal at its
	// end; past it the backlog takes over.
	shipFinishWait = time.Minute
)

// Table holds the server's live relays, and owns their goroutines.
type Table struct {
	Deps
	// ctx ends when the server stops; every relay goroutine watches it.
	ctx context.Context
	wg  sync.WaitGroup // the relays' goroutines

	mu     sync.Mutex // guards relays
	relays map[string]*Relay
}

// NewTable makes an empty table whose relays run until ctx ends.
func NewTable(ctx context.Context, d Deps) *Table {
	if d.OutputMemory <= 0 {
		d.OutputMemory = DefaultOutputMemory
	}
	if d.CatchupRead == nil {
		d.CatchupRead = func(bool) {}
	}
	if d.ShipInterval <= 0 {
		d.ShipInterval = DefaultShipInterval
	}
	if d.ShipStallTimeout <= 0 {
		d.ShipStallTimeout = DefaultShipStallTimeout
	}
	return &Table{Deps: d, ctx: ctx, relays: map[string]*Relay{}}
}

// Get returns session id's relay, or nil.
func (t *Table) Get(id string) *Relay {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.relays[id]
}

// Select returns the relays for which keep reports true. keep runs with
// the table locked, so it may read only what a relay fixes at its start
// (its ids, account, owner and target).
func (t *Table) Select(keep func(*Relay) bool) []*Relay {
	t.mu.Lock()
	defer t.mu.Unlock()
	var rs []*Relay
	for _, r := range t.relays {
		if keep(r) {
			rs = append(rs, r)
		}
	}
	return rs
}

// OnNode returns the relays of a node's sessions.
func (t *Table) OnNode(nodeID string) []*Relay {
	return t.Select(func(r *Relay) bool { return r.target == nodeID })
}

// Close waits for the relays' goroutines, which end with the table's
// context, then closes (and so syncs) every journal still open. What is
// not shipped stays on the backlog, for the next start. It is not shipped
// now: its records were not acknowledged, so their nodes send them again
// to whichever server takes the sessions up, which may already be
// writing the journals in the bucket.
func (t *Table) Close() {
	t.wg.Wait()
	for _, r := range t.Select(func(*Relay) bool { return true }) {
		r.CloseJournal()
		if r.ship != nil {
			r.ship.Close()
		}
	}
}

// Relay carries one session between its agent and its clients and records
// it. The agent's records go to the journal first; the committer syncs the
// journal in groups and acknowledges to the agent what is durable.
type Relay struct {
	t *Table
	// ctx ends with the table's, or when the relay is released (Release);
	// wg is its committer and watcher.
	ctx                        context.Context
	cancel                     context.CancelFunc
	wg                         sync.WaitGroup
	id, account, owner, target string
	journalPath                string
	journal                    *recording.Journal
	kick                       chan struct{} // wakes the committer; capacity 1
	// ship copies the journal to object storage; nil without. Only the
	// committer uses it until the session ends, then only end.
	ship Shipper
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
	agent       *Attachment
	agentLostAt time.Time
	clients     int
	clientsGone time.Time // when the last client left; zero while one is attached
	exitSeq     uint64    // seq of the exit record once received
	exitRec     wire.Record
	ending      bool // end has begun, or a release; nothing else may end the session
	released    bool // let go of, alive, for another server (Release)
	ended       bool // artifacts and store are final
	hadClient   bool // a client (not an observer) has attached before
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
	marksBytes   int // the data in marks (Record refuses beyond MaxPendingRecords)
	lastActivity time.Time
	// inputIdle: only the user's input (Touch) counts as activity, not
	// the bytes of forwarded connections: a desktop's screen updates
	// flow whether or not anyone is at it. Fixed at Start.
	inputIdle bool
	warned    bool
	// terminatingAt is when the server asked the agent to end the session
	// (termReason says why); if the agent has not ended it TerminateWait
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

// TerminateWait is how long the server waits for a node to confirm the end
// of a session it was asked to end. A shell that ignores its hangup is
// killed by the agent within seconds; longer means the node's agent is
// stuck, or an unkillable process holds the session, and the session
// must not stay Terminating forever.
const TerminateWait = 30 * time.Second

// Link is a node's connected agent as relays see it: the connection on
// which they open a stream per attachment.
type Link struct {
	NodeID string
	Mux    *yamux.Session
}

// Attachment is a stream to a node's agent: a session's records come
// from it, its input and acknowledgements go to it.
type Attachment struct {
	Stream *yamux.Stream
	W      *wire.Writer
	R      *wire.Reader
}

// Start makes the relay of a session whose journal is j and whose client
// output so far is outEnd bytes, adds it to the table and starts its
// committer and watcher.
func (t *Table) Start(sess store.Session, journalPath string, j *recording.Journal, outEnd uint64) *Relay {
	return t.start(sess, journalPath, j, outEnd, true)
}

func (t *Table) start(sess store.Session, journalPath string, j *recording.Journal, outEnd uint64, fresh bool) *Relay {
	now := t.Now()
	r := &Relay{
		t: t, id: sess.ID, account: sess.Account, owner: sess.Owner, target: sess.Target,
		journalPath: journalPath, journal: j, pipes: j.Meta().Pipes,
		kick: make(chan struct{}, 1), sess: sess,
		ring:        newOutputRing(t.OutputMemory, outEnd),
		agentLostAt: now, clientsGone: now,
		opened: sess.StartedAt, lastActivity: now,
		// From the store, so that a recovered session keeps them.
		limits: sess.Settings, port: sess.Settings.Port,
		inputIdle: sess.Settings.Desktop != nil,
	}
	r.cond = sync.NewCond(&r.mu)
	r.ctx, r.cancel = context.WithCancel(t.ctx)
	if t.Ship != nil {
		r.ship = t.Ship(sess.Account, sess.ID, journalPath, fresh)
	}
	t.mu.Lock()
	t.relays[sess.ID] = r
	t.mu.Unlock()
	if r.ship != nil {
		r.kick <- struct{}{} // ship the header
	}
	r.wg.Add(2)
	t.wg.Go(func() { defer r.wg.Done(); r.commit() })
	t.wg.Go(func() { defer r.wg.Done(); r.watch() })
	return r
}

// ErrReleased ends what serves a session that was let go of, alive, for
// another server (Release): a client reconnects, and is sent there.
var ErrReleased = errors.New("the session moved to another server")

// Release lets go of a running session without ending it, for another
// server that its node dialled to take up: the agent's attachment and
// the clients are dropped (clients reconnect, and the server they land
// on sends them on), the committer and watcher stop, what is durable is
// shipped to object storage and the journal closed, and the relay leaves
// the table. It reports false, and does nothing, if the session has
// begun to end here. An error says the bucket does not have all of it:
// the journal then stays on this server's backlog, and the session must
// not be taken up elsewhere.
func (r *Relay) Release(ctx context.Context) (bool, error) {
	r.mu.Lock()
	if r.ending {
		r.mu.Unlock()
		return false, nil
	}
	r.ending, r.released = true, true
	att := r.agent
	r.agent = nil
	r.cond.Broadcast()
	r.mu.Unlock()
	if att != nil {
		att.Stream.Close()
	}
	r.cancel()
	r.wg.Wait()
	r.closeConns("the session moved to another server")
	var errs []error
	if err := r.journal.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("sync the recording: %w", err))
	}
	if r.ship != nil {
		if seq, size := r.journal.Durable(); len(errs) == 0 {
			if _, shipped := r.ship.Shipped(); size > shipped {
				if err := r.ship.Ship(ctx, seq, size); err != nil {
					errs = append(errs, fmt.Errorf("ship the recording: %w", err))
				}
			}
		}
		if len(errs) > 0 {
			// The bucket lacks some of it: it stays on this server's
			// backlog, the only place that has it.
			r.ship.Close()
		} else if err := r.ship.Abandon(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := r.CloseJournal(); err != nil && !errors.Is(err, recording.ErrClosed) {
		errs = append(errs, err)
	}
	r.t.mu.Lock()
	if r.t.relays[r.id] == r {
		delete(r.t.relays, r.id)
	}
	r.t.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return true, fmt.Errorf("relay: release session %s: %w", r.id, err)
	}
	if r.t.Released != nil {
		r.t.Released(r.account, r.id)
	}
	return true, nil
}

// Recover takes up a session that was live when the server stopped, from
// its journal: the relay waits for its agent. It reports whether the
// journal already holds the session's exit (a server killed after the
// exit was durable and before the end was stored): then the caller ends
// it with Finish once the server is ready, rather than wait for an exit
// the agent has already seen acknowledged, and freed.
func (t *Table) Recover(sess store.Session, journalPath string, j *recording.Journal, key cipher.AEAD) (r *Relay, exited bool) {
	outEnd, exit, err := journalState(journalPath, key, j.Meta().Pipes)
	if err != nil {
		t.Logf("server: session %s: %v", sess.ID, err)
	}
	r = t.start(sess, journalPath, j, outEnd, false)
	if exit != nil {
		r.mu.Lock()
		r.exitSeq, r.exitRec = exit.Seq, *exit
		r.mu.Unlock()
	}
	if j.Meta().Port {
		if err := r.recoverConns(key); err != nil {
			t.Logf("server: session %s: %v", sess.ID, err)
		}
	}
	return r, exit != nil
}

// Open opens a stream to the agent on l and sends the first frame (Open,
// Resume or Forward) with the server's grant for it (grant), returning
// the agent's answer.
func Open(ctx context.Context, l *Link, grant func(nodeID string, first any) (any, error), t wire.Type, first any) (*Attachment, wire.OpenResult, error) {
	first, err := grant(l.NodeID, first)
	if err != nil {
		return nil, wire.OpenResult{}, err
	}
	st, err := l.Mux.OpenStream()
	if err != nil {
		return nil, wire.OpenResult{}, fmt.Errorf("open stream to %s: %w", l.NodeID, err)
	}
	att := &Attachment{Stream: st, W: wire.NewWriter(st), R: wire.NewReader(st)}
	if err := att.W.WriteJSON(t, first); err != nil {
		st.Close()
		return nil, wire.OpenResult{}, fmt.Errorf("send %s to %s: %w", t, l.NodeID, err)
	}
	type result struct {
		res wire.OpenResult
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := att.R.Read()
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
		return nil, wire.OpenResult{}, fmt.Errorf("node %s did not answer in time: %w", l.NodeID, ctx.Err())
	}
}

// Open opens a stream to the session's node on l (see Open).
func (r *Relay) Open(ctx context.Context, l *Link, t wire.Type, first any) (*Attachment, wire.OpenResult, error) {
	return Open(ctx, l, r.t.Grant, t, first)
}

// attachAgent resumes the session on a (re)connected agent, asking it for
// everything after the journal's last record. A session that ended
// meanwhile (its grace period ran out as the agent came back) is handed
// over late instead.
func (r *Relay) attachAgent(ac *Link) {
	if r.Ending() {
		r.t.HandOver(ac, r.id)
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	att, res, err := r.Open(ctx, ac, wire.TResume, wire.Resume{SessionID: r.id, AckedSeq: r.journal.LastSeq()})
	if err != nil {
		r.t.Logf("server: session %s: resume on %s: %v", r.id, ac.NodeID, err)
		return
	}
	if !res.OK {
		if res.Unknown {
			r.Fail("AgentRestarted", "the node's agent no longer has this session")
		} else {
			r.Fail("ResumeFailed", res.Error)
		}
		return
	}
	if !r.RunAgent(att) {
		att.Stream.Close()
		r.t.HandOver(ac, r.id)
		return
	}
	r.t.Logf("server: session %s resumed on %s after record %d", r.id, ac.NodeID, r.journal.LastSeq())
	r.Notice("[postern: reconnected to the node]")
}

func (r *Relay) Ending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ending
}

// runAgent makes att the current attachment and reads its records until
// the stream breaks. It reports false, and does nothing, if the session
// has begun to end: its journal takes no more records.
func (r *Relay) RunAgent(att *Attachment) bool {
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
		old.Stream.Close()
	}
	if eof {
		// The end of input may have been lost with the old attachment.
		att.W.Write(wire.TInputEOF, nil)
	}
	if wasStalled {
		r.t.Logf("server: session %s: its recording can be written again; resumed after record %d", r.id, r.journal.LastSeq())
		r.Notice("[postern: the recording can be written again; the session continues]")
		if !terminating.IsZero() {
			// Asked to end while paused: the agent hears it now.
			att.W.WriteJSON(wire.TTerminate, wire.Terminate{Reason: termReason})
		}
	}
	r.t.wg.Go(func() {
		err := r.readAgent(att)
		r.mu.Lock()
		if r.agent == att {
			r.agent = nil
			r.agentLostAt = r.t.Now()
		}
		ended, stalled := r.ended, r.stalled
		r.mu.Unlock()
		att.Stream.Close()
		if err != nil && !ended && !stalled {
			r.t.Logf("server: session %s: agent stream: %v", r.id, err)
		}
	})
	return true
}

func (r *Relay) readAgent(att *Attachment) error {
	for {
		f, err := att.R.Read()
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
func (r *Relay) record(rec wire.Record) error {
	if rec.Kind == wire.RecMarker {
		// An agent makes one only in a late hand-over (the server's late.go), of a
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
			r.lastActivity = r.t.Now()
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
// durable so it can free it. With object storage, durable means shipped
// there (see shipDue).
func (r *Relay) commit() {
	var acked uint64
	var lastSync time.Time
	// The first durable bytes ship at once: the journal's header is in
	// object storage from the session's first moments.
	var sh shipping
	shipTimer := time.NewTimer(time.Hour)
	shipTimer.Stop()
	defer shipTimer.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.kick:
		case <-shipTimer.C: // durable records wait to be shipped
		}
		time.Sleep(r.t.SyncInterval)
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
				r.t.Logf("server: session %s: sync recording: %v", r.id, err)
			}
			continue
		}
		durable := r.journal.DurableSeq()
		r.mu.Lock()
		att, exitSeq, ending := r.agent, r.exitSeq, r.ending
		r.mu.Unlock()
		if exitSeq != 0 && durable >= exitSeq && !ending {
			// end ships the rest (with object storage), stores the end
			// and acknowledges it.
			r.Finish()
		}
		if exitSeq != 0 && durable >= exitSeq {
			if r.ship == nil && att != nil && durable > acked {
				att.W.Write(wire.TAck, wire.AppendSeq(nil, durable))
			}
			return
		}
		ackable, wait := r.shipDue(&sh)
		if wait > 0 {
			shipTimer.Reset(wait)
		}
		if att != nil && ackable > acked {
			if err := att.W.Write(wire.TAck, wire.AppendSeq(nil, ackable)); err == nil {
				acked = ackable
			}
		}
	}
}

// shipping is the committer's view of shipping to object storage.
type shipping struct {
	last    time.Time // the last attempt
	failing time.Time // since when attempts fail; zero while they work
	local   bool      // acknowledging on local disk (failing too long)
	// notOwner: another server writes the recording (ErrNotOwner);
	// nothing more is shipped, or acknowledged.
	notOwner bool
}

// shipDue ships the journal's durable records to object storage when
// they are due (a megabyte of them, or the oldest waiting ShipInterval),
// and returns the last record the agent may free, and how long until
// shipping is due again if records wait. Without object storage that is
// the last durable record. With it, the last shipped one: the agent
// keeps the rest, so a server lost with its disk loses nothing. Once
// shipping has failed for ShipStallTimeout the relay acknowledges what
// is durable here instead, so that the node's command goes on; the
// journal is shipped when object storage is back, and until then it is
// on the backlog (journalstore.Store.Pending).
func (r *Relay) shipDue(sh *shipping) (ackable uint64, wait time.Duration) {
	seq, size := r.journal.Durable()
	if r.ship == nil {
		return seq, 0
	}
	shippedSeq, shippedSize := r.ship.Shipped()
	if sh.notOwner {
		return shippedSeq, 0
	}
	if size > shippedSize && (size-shippedSize >= shipEagerly || time.Since(sh.last) >= r.t.ShipInterval || !sh.failing.IsZero()) {
		if !sh.failing.IsZero() && time.Since(sh.last) < r.t.ShipInterval {
			// Failing: try once an interval, not at every sync.
			return r.shipAck(sh, seq, shippedSeq), r.t.ShipInterval - time.Since(sh.last)
		}
		sh.last = time.Now()
		if err := r.ship.Ship(r.ctx, seq, size); errors.Is(err, ErrNotOwner) {
			sh.notOwner = true
			r.t.Logf("server: session %s: ALARM: %v; this server ships and acknowledges nothing more of it", r.id, err)
			return shippedSeq, 0
		} else if err != nil {
			if sh.failing.IsZero() {
				sh.failing = sh.last
				r.t.Logf("server: session %s: shipping its recording to object storage: %v (the node keeps what is not shipped, for %s)", r.id, err, r.t.ShipStallTimeout)
			}
		} else {
			if sh.local {
				r.t.Logf("server: session %s: object storage takes its recording again", r.id)
			}
			sh.failing, sh.local = time.Time{}, false
			shippedSeq, shippedSize = r.ship.Shipped()
		}
	}
	if size > shippedSize {
		wait = max(r.t.ShipInterval-time.Since(sh.last), time.Millisecond)
	}
	return r.shipAck(sh, seq, shippedSeq), wait
}

// shipAck is what may be acknowledged: shipped, or durable here once
// shipping has failed for too long.
func (r *Relay) shipAck(sh *shipping, durable, shipped uint64) uint64 {
	if !sh.failing.IsZero() && time.Since(sh.failing) >= r.t.ShipStallTimeout {
		if !sh.local {
			sh.local = true
			r.t.Logf("server: session %s: object storage has failed for %s: acknowledging its records on this server's disk until it is back; a loss of this server's disk now would lose them", r.id, r.t.ShipStallTimeout)
		}
		return durable
	}
	return shipped
}

// pace waits until the next fsync is due (see minSyncGap), or reports
// false if the server is stopping.
func (r *Relay) pace(lastSync time.Time) bool {
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
		case <-r.ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		case <-r.kick: // more appended: time to look again
			t.Stop()
		}
	}
}

// finish ends a session whose exit record is durable.
func (r *Relay) Finish() {
	r.mu.Lock()
	rec := r.exitRec
	r.mu.Unlock()
	status, reason := store.StatusTerminated, string(rec.Data)
	r.end(status, reason, &rec.ExitCode, "")
}

// fail ends a session that cannot continue.
func (r *Relay) Fail(reason, msg string) {
	r.t.Logf("server: session %s failed: %s: %s", r.id, reason, msg)
	r.end(store.StatusFailed, reason, nil, msg)
}

// end records the final state and tells clients. The journal is closed
// (synced) before anyone sees the session as ended, so whoever sees
// "Terminated" can fetch the complete recording.
func (r *Relay) end(status, reason string, code *int, msg string) {
	r.mu.Lock()
	if r.ending {
		r.mu.Unlock()
		return
	}
	r.ending = true
	final := r.sess
	final.Status = status
	final.StatusReason = reason
	final.EndedAt = r.t.Now()
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
			if _, err := r.journal.Append(recording.Record{Seq: seq, Time: r.t.Now().Sub(r.opened), Kind: recording.KindExit, Data: []byte(reason)}); err != nil {
				r.t.Logf("server: session %s: journal: %v", r.id, err)
			}
		}
		if status == store.StatusTerminated {
			// A port session that ended as asked succeeded.
			final.ExitCode, exit.Code = new(int), 0
		}
	}
	if err := r.CloseJournal(); err != nil {
		r.t.Logf("server: session %s: %v", r.id, err)
	}
	freeTo := final.RecordedSeq // what the agent may free
	if r.ship != nil {
		// The whole recording in object storage before anyone sees the
		// session as ended, if object storage answers; if not, the
		// backlog ships it later, and the node keeps what is not there.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.t.ctx), shipFinishWait)
		if err := r.ship.Finish(ctx); err != nil {
			r.t.Logf("server: session %s: its recording stays on this server's disk until object storage takes it: %v", r.id, err)
			freeTo, _ = r.ship.Shipped()
		}
		cancel()
	}
	// The final state, and the release of the artifacts to the
	// destinations now that the journal is complete.
	r.storeEnd(final)
	if att != nil && status == store.StatusTerminated {
		// Let the agent free the session.
		att.W.Write(wire.TAck, wire.AppendSeq(nil, freeTo))
	}
	if ac := r.t.Agent(r.target); att == nil && port == nil && ac != nil && reason != "AgentRestarted" {
		// The node is connected but not attached to the session (a
		// resume failed, or raced the end): whatever it still holds
		// of the session, and the command itself, are taken over now
		// rather than at its next reconnect, which may never come.
		r.t.HandOver(ac, r.id)
	}
	r.mu.Lock()
	r.sess = final
	r.exit = exit
	r.ended = true
	r.cond.Broadcast()
	r.mu.Unlock()
	r.t.Logf("server: session %s ended: %s %s (exit %d)", r.id, status, reason, exit.Code)
	r.t.Ended(final, fmt.Sprintf("%s %s, exit %d", status, reason, exit.Code))
	// Clients still attached drain the remaining output and the exit;
	// the relay leaves the table when they are gone (see watch).
}

// storeEndTimeout bounds each try to store a session's end.
const storeEndTimeout = 10 * time.Second

// storeEndRetry bounds the wait between tries to store a session's end
// while the database does not answer.
const storeEndRetry = 15 * time.Second

// storeEnd stores a session's final state and releases its deliveries.
// If the database does not take them, they are tried again until it does
// (or the server stops: a restart then finds the session's exit in its
// journal and ends it again), while the session's clients are told it
// ended: a database outage neither holds them nor loses the end.
func (r *Relay) storeEnd(final store.Session) {
	try := func() error {
		// Bounded: a database host gone without a reset must not hold
		// the session's clients from their exit.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.t.ctx), storeEndTimeout)
		defer cancel()
		if err := r.t.Store.UpdateSession(ctx, final); err != nil {
			return err
		}
		return r.t.Store.ReleaseDeliveries(ctx, r.account, r.id, r.t.Now())
	}
	err := try()
	if err == nil {
		return
	}
	if !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
		r.t.Logf("server: session %s: storing its end: %v", r.id, err)
		return
	}
	r.t.Logf("server: session %s: storing its end: %v; trying again until the database answers", r.id, err)
	r.t.wg.Go(func() {
		wait := time.Second
		for {
			select {
			case <-r.t.ctx.Done():
				return
			case <-time.After(wait):
			}
			if err := try(); err == nil {
				r.t.Logf("server: session %s: its end is stored", r.id)
				return
			}
			wait = min(2*wait, storeEndRetry)
		}
	})
}

func (r *Relay) CloseJournal() error {
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
func (r *Relay) stall(cause error) {
	full := r.t.Disk.Report(cause)
	if _, err := r.journal.Recover(); err != nil {
		r.Fail("RecordingFailed", fmt.Sprintf("the session's recording cannot be written: %v", err))
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
		att.Stream.Close()
	}
	if !first {
		return
	}
	why := "the server's disk is full"
	if !full {
		why = fmt.Sprintf("the server cannot write the session's recording (%v)", cause)
	}
	r.t.Logf("server: session %s paused after record %d: %v", r.id, r.journal.LastSeq(), cause)
	r.Notice("[postern: " + why + ": the session is paused, and resumes by itself when its recording can be written again; what you type meanwhile is not sent]")
}

// resumeStalled resumes a paused session's agent stream, after the
// journal's last record, once the disk has space again. A node that went
// away meanwhile gets the usual grace period from then on.
func (r *Relay) resumeStalled() {
	if r.t.Disk.Low() {
		return
	}
	ac := r.t.Agent(r.target)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.resuming || !r.stalled {
		return
	}
	if ac == nil {
		r.stalled, r.agentLostAt = false, r.t.Now() // back to an agent that is away
		r.cond.Broadcast()
		return
	}
	r.resuming = true
	r.t.wg.Go(func() {
		r.attachAgent(ac)
		r.mu.Lock()
		r.resuming = false
		r.mu.Unlock()
	})
}

// notice shows a line on every attached client's terminal.
func (r *Relay) Notice(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, msg)
	r.cond.Broadcast()
}

// terminate asks the agent to end the session.
func (r *Relay) Terminate(reason string) {
	r.mu.Lock()
	att, ending := r.agent, r.ending
	if !ending {
		r.sess.Status = store.StatusTerminating
		if r.terminatingAt.IsZero() {
			r.terminatingAt, r.termReason = r.t.Now(), reason
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
	if err := att.W.WriteJSON(wire.TTerminate, wire.Terminate{Reason: reason}); err != nil {
		r.end(store.StatusTerminated, reason, nil, "")
	}
}

// input forwards what the user typed to the agent. Input typed while the
// agent is away is dropped, as a terminal would while its link is down.
func (r *Relay) input(data []byte) {
	r.mu.Lock()
	att := r.agent
	r.lastActivity = r.t.Now()
	r.mu.Unlock()
	if att == nil {
		return
	}
	for len(data) > 0 {
		n := min(len(data), wire.MaxPayload)
		if err := att.W.Write(wire.TInput, data[:n]); err != nil {
			return
		}
		data = data[n:]
	}
}

// inputEOF ends the command's standard input in a session without a
// terminal; for a terminal session it means nothing.
func (r *Relay) inputEOF() {
	r.mu.Lock()
	att, pipes := r.agent, r.pipes
	r.lastActivity = r.t.Now()
	if pipes {
		r.stdinClosed = true
	}
	r.mu.Unlock()
	if pipes && att != nil {
		att.W.Write(wire.TInputEOF, nil)
	}
}

func (r *Relay) resize(cols, rows int) {
	r.mu.Lock()
	att := r.agent
	r.mu.Unlock()
	if att != nil {
		att.W.Write(wire.TResize, wire.AppendResize(nil, cols, rows))
	}
}

// agentLost is called when the node's connection drops.
func (r *Relay) AgentLost() {
	r.mu.Lock()
	ending := r.ending
	if r.port != nil {
		r.agentLostAt = r.t.Now()
	}
	r.mu.Unlock()
	if !ending {
		r.Notice(fmt.Sprintf("[postern: lost the connection to the node; waiting up to %v for it to come back]", r.t.GracePeriod))
	}
}

// watch enforces the grace periods and limits once a tick until the
// relay is done.
func (r *Relay) watch() {
	tick := time.NewTicker(min(r.t.GracePeriod/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		}
		if r.Check(r.t.Now()) {
			return
		}
	}
}

// check enforces, at now, the grace periods (a session nobody is attached
// to, or whose agent is away, for longer than the grace period ends), the
// wait for a node to confirm a termination, and the session's limits. It
// reports when the relay is done and has left the server.
func (r *Relay) Check(now time.Time) (done bool) {
	r.mu.Lock()
	ending, ended, clients, gone, agent, lost := r.ending, r.ended, r.clients, r.clientsGone, r.agent, r.agentLostAt
	endedAt, terminating, termReason, stalled := r.sess.EndedAt, r.terminatingAt, r.termReason, r.stalled
	r.mu.Unlock()
	grace := r.t.GracePeriod
	switch {
	case ending && !ended:
	case ended:
		if clients == 0 && now.Sub(endedAt) > min(grace, 10*time.Second) {
			r.t.mu.Lock()
			if r.t.relays[r.id] == r {
				delete(r.t.relays, r.id)
			}
			r.t.mu.Unlock()
			r.cancel() // its context leaves the table's
			return true
		}
	case stalled:
		// Paused for its recording: neither grace periods nor limits
		// run out meanwhile.
		r.resumeStalled()
	case !terminating.IsZero() && now.Sub(terminating) >= TerminateWait:
		msg := fmt.Sprintf("node %s did not end the session within %v of being asked (%s); the server ended it", r.target, TerminateWait, termReason)
		r.t.Logf("server: session %s: %s", r.id, msg)
		r.Notice("[postern: " + msg + "]")
		r.end(store.StatusTerminated, termReason, nil, msg)
		r.mu.Lock()
		att := r.agent
		r.mu.Unlock()
		if att != nil {
			att.Stream.Close() // nothing more of it is relayed or recorded
		}
	case (r.port != nil && r.t.Agent(r.target) == nil || r.port == nil && agent == nil) && now.Sub(lost) > grace && r.t.Moved != nil && r.t.Moved(r.id):
		// Its node dialled another server, which took the session up
		// (this one was restarting, say): let go of it, not end it.
		// Not from the watcher, which Release waits for.
		r.t.Logf("server: session %s: another server relays it now; letting go of it here", r.id)
		r.t.wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.t.ctx), time.Minute)
			defer cancel()
			if _, err := r.Release(ctx); err != nil {
				r.t.Logf("server: %v", err)
			}
		})
		return true
	case r.port != nil && r.t.Agent(r.target) == nil && now.Sub(lost) > grace:
		r.Fail("AgentDisconnected", fmt.Sprintf("node %s went offline", r.target))
	case r.port == nil && agent == nil && now.Sub(lost) > grace:
		r.Fail("AgentDisconnected", fmt.Sprintf("lost contact with node %s for more than %v", r.target, grace))
	case clients == 0 && now.Sub(gone) > grace:
		r.t.Logf("server: session %s: no client for %v; terminating", r.id, grace)
		r.Terminate("ClientDisconnected")
	default:
		r.EnforceLimits(now)
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
func (r *Relay) EnforceLimits(now time.Time) {
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
			r.Notice(fmt.Sprintf("[postern: the session reached its maximum duration of %v and is ending (maxSessionDuration)]", lim.MaxDuration))
			r.Terminate("MaxSessionDuration")
			return
		}
		if left <= time.Minute && !warned {
			r.mu.Lock()
			first := !r.warned // once, even if two checks race
			r.warned = true
			r.mu.Unlock()
			if first {
				r.Notice(fmt.Sprintf("[postern: this session ends in %v: maximum session duration is %v]", left.Round(time.Second), lim.MaxDuration))
			}
		}
	}
	if lim.IdleTimeout > 0 && now.Sub(last) >= lim.IdleTimeout {
		r.Notice(fmt.Sprintf("[postern: no input for %v: the session is ending (idleSessionTimeout)]", lim.IdleTimeout))
		r.Terminate("IdleTimeout")
	}
}
