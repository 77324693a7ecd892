package relay

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// Why a forwarded connection closed: the closeReason of its record and
// of its ConnectionClosed event.
const (
	closeClientClosed    = "ClientClosed"       // the client ended the connection first
	closeTargetClosed    = "TargetClosed"       // the target ended it first (the node's side of the stream closed)
	closeClientLost      = "ClientDisconnected" // the client's WebSocket broke
	closeAgentLost       = "AgentDisconnected"  // the stream to the node broke: its agent went away, or reset it
	closeConnectFailed   = "ConnectFailed"      // the node could not connect to the target
	closeSessionEnded    = "SessionEnded"       // the session ended with the connection open (Detail says why)
	closeServerStopped   = "ServerStopped"      // the server stopped with the connection open
	closeServerRestarted = "ServerRestarted"    // found open in the recording of a session recovered after the server stopped
)

// ConnectError says the node could not open a forwarded connection to
// its target.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// Forward carries one forwarded TCP connection of a port session: the
// client's side <-> its own stream to the node (on l) <-> the node's TCP
// connection to the target. accept gives the client's side once the node
// has connected; it is handed the connection's context, which ends with
// the session (closeConns) or the server. The journal records the
// connection as it opens and as it closes (recording.Connection); that is
// the session's recording. ctx bounds the wait for the node; the error is
// a *ConnectError if the node could not connect, and nil once the
// connection was carried, however it ended.
func (r *Relay) Forward(ctx context.Context, l *Link, client string, accept func(connCtx context.Context) (io.ReadWriteCloser, error)) error {
	port := r.port
	if port == nil {
		return fmt.Errorf("session %s is not a port session", r.id)
	}
	conn := recording.Connection{
		ID: r.newConnID(), Event: recording.ConnectionOpened, Client: client,
		Host: HostOrLocal(port.Host), Port: port.Port, Start: r.t.Now(),
	}
	closed := func(reason, detail string) {
		conn.Event, conn.End, conn.CloseReason, conn.Detail = recording.ConnectionClosed, r.t.Now(), reason, detail
		if conn.End.Before(conn.Start) {
			conn.End = conn.Start // a clock stepped back
		}
		r.recordConn(conn)
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	att, res, err := r.Open(octx, l, wire.TForward, wire.Forward{SessionID: r.id, Host: port.Host, Port: port.Port, AllowLinkLocal: port.AllowLinkLocal})
	cancel()
	if err == nil && !res.OK {
		err = errors.New(res.Error)
	}
	if err != nil {
		closed(closeConnectFailed, err.Error())
		return &ConnectError{err}
	}
	defer att.Stream.Close()
	// The session's end cancels cctx with its reason (closeConns); the
	// server's stop cancels it through the table's context.
	cctx, ccancel := context.WithCancelCause(r.ctx)
	defer ccancel(nil)
	clientSide, err := accept(cctx)
	if err != nil {
		closed(closeClientLost, err.Error())
		return nil
	}
	oc := r.addConn(conn.ID, ccancel)
	if oc == nil {
		clientSide.Close()
		closed(closeSessionEnded, "the session ended as the connection opened")
		return nil
	}
	defer oc.finish()
	// A cancel ends both sides at once: the client's side goes with
	// cctx, and reading the node's stream must not wait for the target to
	// answer a half-close (yamux's Close only half-closes: the deadline
	// ends the read; the node's side gets a reset after its stream close
	// timeout if the target keeps its connection open).
	stop := context.AfterFunc(cctx, func() {
		att.Stream.SetReadDeadline(time.Now())
		att.Stream.Close()
	})
	defer stop()
	r.recordConn(conn)
	ends := connEnds{ctx: cctx}
	conn.BytesFromClient, conn.BytesFromTarget = r.copyCounted(att.Stream, clientSide, &ends)
	closed(ends.reason())
	oc.recorded()
	if port.Stdio {
		// One connection is the whole session (an SSH session's
		// ProxyCommand): it ends with it.
		r.t.wg.Go(func() { r.end(store.StatusTerminated, "ConnectionClosed", nil, "") })
	}
	return nil
}

// sessionEnding is the cause closeConns cancels open connections with.
type sessionEnding struct{ reason string }

func (e sessionEnding) Error() string { return "the session ended: " + e.reason }

// connEnds keeps how the first side of a forwarded connection ended: that
// is why the connection closed (the other side only follows).
type connEnds struct {
	// ctx is the connection's: once it is cancelled, whatever ends is
	// its doing.
	ctx    context.Context
	mu     sync.Mutex // guards the fields below
	first  string     // a close reason; empty until a side ends
	detail string
}

// note records that reading a side ended with err (io.EOF: it closed).
func (e *connEnds) note(closed, lost string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.first != "":
	case e.ctx.Err() != nil:
		e.first, e.detail = closeServerStopped, ""
		var se sessionEnding
		if errors.As(context.Cause(e.ctx), &se) {
			e.first, e.detail = closeSessionEnded, se.Error()
		}
	case errors.Is(err, io.EOF):
		e.first = closed
	default:
		e.first, e.detail = lost, err.Error()
	}
}

// reason returns why the connection closed, and what more there is to say.
func (e *connEnds) reason() (string, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first == "" {
		// Both copies ended without a read ending: a write failed.
		return closeClientLost, "the connection could not be written to"
	}
	return e.first, e.detail
}

// HostOrLocal is how a port session's target host is shown: an empty one
// is the node itself.
func HostOrLocal(h string) string {
	if h == "" {
		return "localhost"
	}
	return h
}

// openConn is a forwarded connection of a port session being carried.
type openConn struct {
	r      *Relay
	id     int
	cancel context.CancelCauseFunc
	// done is closed once its ConnectionClosed record is written (or
	// will not be): the session's end waits for it, so the record lands
	// before the journal closes.
	done     chan struct{}
	doneOnce sync.Once
}

// newConnID numbers the session's next connection.
func (r *Relay) newConnID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextConn++
	return r.nextConn
}

// addConn registers an open forwarded connection so the session's end
// closes it. It returns nil if the session already ended.
func (r *Relay) addConn(id int, cancel context.CancelCauseFunc) *openConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ending {
		return nil
	}
	if r.conns == nil {
		r.conns = map[int]*openConn{}
	}
	oc := &openConn{r: r, id: id, cancel: cancel, done: make(chan struct{})}
	r.conns[id] = oc
	r.clients++
	r.clientsGone = time.Time{}
	return oc
}

// recorded says the connection's close is in the journal.
func (oc *openConn) recorded() { oc.doneOnce.Do(func() { close(oc.done) }) }

// finish forgets the connection.
func (oc *openConn) finish() {
	oc.recorded()
	r := oc.r
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, oc.id)
	r.clients--
	if r.clients == 0 {
		r.clientsGone = r.t.Now()
	}
}

// copyCounted pipes the agent's stream and the client's connection,
// counting bytes from either side as activity for the idle timeout, and
// noting in ends which side ended first. It returns the bytes each way.
func (r *Relay) copyCounted(agentSide, clientSide io.ReadWriteCloser, ends *connEnds) (fromClient, fromTarget int64) {
	fromTarget, fromClient = wire.Pipe(
		activityConn{r: r, ReadWriteCloser: agentSide, ends: ends, closed: closeTargetClosed, lost: closeAgentLost},
		activityConn{r: r, ReadWriteCloser: clientSide, ends: ends, closed: closeClientClosed, lost: closeClientLost})
	return fromClient, fromTarget
}

// activityConn marks the relay active whenever bytes arrive, and notes
// when reading from its side ends, and how.
type activityConn struct {
	r *Relay
	io.ReadWriteCloser
	ends         *connEnds
	closed, lost string // the close reasons when reading ends at io.EOF, or with another error
}

func (a activityConn) Read(p []byte) (int, error) {
	n, err := a.ReadWriteCloser.Read(p)
	if n > 0 && !a.r.inputIdle {
		now := a.r.t.Now()
		a.r.mu.Lock()
		a.r.lastActivity = now
		a.r.mu.Unlock()
	}
	if err != nil && a.ends != nil {
		a.ends.note(a.closed, a.lost, err)
	}
	return n, err
}

// CloseWrite passes a half-close on when the connection supports one.
func (a activityConn) CloseWrite() error {
	if cw, ok := a.ReadWriteCloser.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return a.Close()
}

// MaxPendingRecords bounds the data of the server's records a relay keeps
// until they are durable: a journal that cannot take them (a full disk)
// must stop a desktop, not grow the server's memory with its screen.
const MaxPendingRecords = 32 << 20

// ErrRecordingBehind is Record's refusal past MaxPendingRecords.
var ErrRecordingBehind = errors.New("the recording cannot be written fast enough (is the data directory's disk full?)")

// Record appends a record the server makes to the session's journal (a
// desktop session's display and facts), kept until durable as markers
// are. It refuses one that would keep more than MaxPendingRecords waiting:
// its caller must stop producing them.
func (r *Relay) Record(kind recording.Kind, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	// What has become durable since the last append no longer counts.
	r.forgetDurableLocked()
	if r.marksBytes+len(data) > MaxPendingRecords {
		return ErrRecordingBehind
	}
	r.appendServerRecordLocked(kind, data)
	return nil
}

// Touch marks the user active now, for the idle timeout of a session
// whose input the server sees itself (a desktop's keys and mouse).
func (r *Relay) Touch() {
	now := r.t.Now()
	r.mu.Lock()
	r.lastActivity = now
	r.mu.Unlock()
}

// marker records a line in a port session's journal: port sessions carry
// no terminal, so their recording is their notes and connections.
func (r *Relay) Marker(text string) {
	r.appendServerRecord(recording.KindMarker, []byte(text))
}

// recordConn records a connection's state in a port session's journal.
func (r *Relay) recordConn(c recording.Connection) {
	data, err := recording.EncodeConnection(c)
	if err != nil {
		r.t.Logf("server: session %s: connection %d: %v", r.id, c.ID, err)
		return
	}
	r.appendServerRecord(recording.KindConnection, data)
}

// appendServerRecord appends a record the server makes (there is no
// agent stream in a port session). The server keeps each until it is
// durable, as an agent keeps its own: if the journal cannot take it (a
// full disk), it is appended again after Recover (writeMarks, on each
// append and each tick).
func (r *Relay) appendServerRecord(kind recording.Kind, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.appendServerRecordLocked(kind, data)
}

// appendServerRecordLocked is appendServerRecord with r.mu held.
func (r *Relay) appendServerRecordLocked(kind recording.Kind, data []byte) {
	if r.closed {
		return
	}
	r.serverSeq = max(r.serverSeq, r.journal.LastSeq()) + 1
	r.marks = append(r.marks, recording.Record{Seq: r.serverSeq, Time: r.t.Now().Sub(r.opened), Kind: kind, Data: data})
	r.marksBytes += len(data)
	r.writeMarksLocked()
}

// writeMarksLocked forgets the records of appendServerRecord that are
// durable and appends those the journal does not have. r.mu must be held.
func (r *Relay) writeMarksLocked() {
	r.forgetDurableLocked()
	wrote := false
	for _, m := range r.marks {
		if m.Seq <= r.journal.LastSeq() {
			continue
		}
		if _, err := r.journal.Append(m); err != nil {
			if werr := r.journal.Err(); werr != nil {
				r.t.Disk.Report(werr)
				_, err = r.journal.Recover()
			}
			if err != nil {
				r.t.Logf("server: session %s: journal: %v", r.id, err)
			}
			break // kept: tried again at the next tick
		}
		wrote = true
	}
	if wrote {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// forgetDurableLocked drops the marks the journal has made durable. r.mu
// must be held.
func (r *Relay) forgetDurableLocked() {
	durable := r.journal.DurableSeq()
	keep := r.marks[:0]
	r.marksBytes = 0
	for _, m := range r.marks {
		if m.Seq > durable {
			keep = append(keep, m)
			r.marksBytes += len(m.Data)
		}
	}
	clear(r.marks[len(keep):])
	r.marks = keep
}

// connCloseWait bounds how long a port session's end waits for its open
// connections to record their close. A cancel ends both sides of each at
// once, so this is only a guard.
const connCloseWait = 10 * time.Second

// closeConns ends every forwarded connection of a port session, saying
// why, and waits (within connCloseWait) until each has recorded its
// close.
func (r *Relay) closeConns(reason string) {
	r.mu.Lock()
	cs := r.conns
	r.conns = nil
	r.mu.Unlock()
	for _, oc := range cs {
		oc.cancel(sessionEnding{reason})
	}
	deadline := time.NewTimer(connCloseWait)
	defer deadline.Stop()
	for _, oc := range cs {
		select {
		case <-oc.done:
		case <-deadline.C:
			r.t.Logf("server: session %s: connection %d did not close within %v of the session's end; its close is not recorded", r.id, oc.id, connCloseWait)
			return
		}
	}
}

// JournalConnections reads a port session's connections from its journal:
// one per connection, each as its last record says (a connection without
// a close record is open, or was when the recording stopped). It also
// returns the time of the journal's last record, since the session began.
func JournalConnections(path string, key cipher.AEAD) ([]recording.Connection, time.Duration, error) {
	var cs recording.Connections
	var last time.Duration
	var bad error
	err := eachRecord(path, key, func(rec recording.Record) bool {
		last = max(last, rec.Time)
		if rec.Kind != recording.KindConnection {
			return true
		}
		c, err := recording.ParseConnection(rec.Data)
		if err != nil {
			bad = fmt.Errorf("record %d: %w", rec.Seq, err)
			return false
		}
		cs.Add(c)
		return true
	})
	return cs.List(), last, errors.Join(err, bad)
}

// recoverConns closes, in the journal of a port session recovered after
// the server stopped, the connections it recorded as open: they went with
// the server, uncounted. The session's next connection is numbered after
// the last one recorded.
func (r *Relay) recoverConns(key cipher.AEAD) error {
	cs, last, err := JournalConnections(r.journalPath, key)
	if err != nil {
		return fmt.Errorf("reading its connections: %w", err)
	}
	stopped := r.opened.Add(last)
	for _, c := range cs {
		r.mu.Lock()
		r.nextConn = max(r.nextConn, c.ID)
		r.mu.Unlock()
		if c.Event != recording.ConnectionOpened {
			continue
		}
		c.Event, c.CloseReason, c.BytesUnknown, c.End = recording.ConnectionClosed, closeServerRestarted, true, stopped
		if c.End.Before(c.Start) {
			c.End = c.Start
		}
		c.Detail = "the server stopped while it was open: it ended then, at the latest after the recording's last record (the end given here), and its bytes were not counted"
		r.recordConn(c)
	}
	return nil
}
