package relay

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/recording"
	"github.com/postern/postern/wire"
)

// maxOutputFrame is the most output sent to a client in one message.
const maxOutputFrame = 256 << 10

// ClientConn is a client's connection: one of the session's frames (wire)
// per binary message. The native API's clients have a WebSocket; AWS's
// session-manager-plugin has a data channel of its own, which the server
// translates (server/ssmsessions.go).
type ClientConn interface {
	Read(ctx context.Context) (websocket.MessageType, []byte, error)
	Write(ctx context.Context, typ websocket.MessageType, p []byte) error
	Close(code websocket.StatusCode, reason string) error
	CloseNow() error
	Ping(ctx context.Context) error
}

// ServeClient relays a session to one attached client until the client
// goes away or the session ends and the client has everything. An
// observer (a read-only live view) gets the same output but its input is
// dropped, and it neither keeps the session alive nor sets its pace: only
// the owner's attachments count for the grace period and for awaitOwner.
func (r *Relay) ServeClient(ctx context.Context, ws ClientConn, offset uint64, observe bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	if offset > r.ring.end {
		// The client claims output that does not exist (a different
		// server's numbering, or a bug): start it over cleanly.
		offset = r.ring.end
	}
	owner := 0 // this attachment's key in r.owners; 0 for an observer
	var came string
	if !observe {
		if r.clients == 0 && !r.ended {
			came = "Connected"
			if r.hadClient {
				came = "Resumed"
			}
		}
		r.hadClient = true
		r.clients++
		r.clientsGone = time.Time{}
		r.lastOwner++
		owner = r.lastOwner
		if r.owners == nil {
			r.owners = map[int]uint64{}
		}
		r.owners[owner] = offset
	}
	noticeIdx := len(r.notices)
	sess := r.sess
	r.mu.Unlock()
	if came != "" && r.t.ClientState != nil {
		r.t.ClientState(sess, came)
	}
	defer func() {
		r.mu.Lock()
		left := false
		if !observe {
			delete(r.owners, owner)
			r.clients--
			if r.clients == 0 {
				r.clientsGone = r.t.Now()
				left = !r.ended && !r.ending
			}
		}
		sess := r.sess
		r.cond.Broadcast()
		r.mu.Unlock()
		if left && r.t.ClientState != nil {
			r.t.ClientState(sess, "Disconnected")
		}
	}()

	// Notice a vanished client, so its grace period starts.
	go wire.KeepAlive(ctx, ws)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.readClient(ctx, ws, observe)
		cancel()
		// Wake the sender so it sees ctx is done.
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	}()
	err := r.sendClient(ctx, ws, offset, noticeIdx, owner)
	if err == nil {
		ws.Close(websocket.StatusNormalClosure, "session ended")
	} else {
		ws.CloseNow()
	}
	cancel()
	<-done
}

// sendClient writes output from offset on, notices, and finally the exit.
// Output the ring no longer holds comes from the journal through one
// cursor for the whole attachment, so a client that falls behind, catches
// up and falls behind again still reads each record once. An owner's
// attachment (owner, its key in r.owners; 0 for an observer) notes there
// how far it has been sent, which paces the session (see awaitOwner).
func (r *Relay) sendClient(ctx context.Context, ws ClientConn, sent uint64, noticeIdx int, owner int) error {
	cur := NewJournalCursor(r.journalPath, r.journal.Key(), r.pipes, func() { r.t.CatchupRead(owner == 0) })
	defer cur.close()
	var frame []byte
	for {
		r.mu.Lock()
		for ctx.Err() == nil && sent >= r.ring.end && !r.ended && !r.released && noticeIdx >= len(r.notices) {
			r.cond.Wait()
		}
		if ctx.Err() != nil {
			r.mu.Unlock()
			return ctx.Err()
		}
		if r.released {
			r.mu.Unlock()
			return ErrReleased
		}
		var notices []string
		if noticeIdx < len(r.notices) {
			notices = append(notices, r.notices[noticeIdx:]...)
			noticeIdx = len(r.notices)
		}
		// The frame is built in place: header, offset, then the output
		// copied straight from the ring.
		frame = wire.AppendOutputHeader(frame[:0], sent)
		hdrLen := len(frame)
		fromJournal := false
		switch {
		case sent < r.ring.start:
			fromJournal = true
		case sent < r.ring.end:
			frame = r.ring.appendFrom(frame, sent, maxOutputFrame)
		}
		ended, exit, outEnd := r.ended, r.exit, r.ring.end
		r.mu.Unlock()

		for _, n := range notices {
			if err := writeFrame(ctx, ws, wire.TNotice, []byte(n)); err != nil {
				return err
			}
		}
		if fromJournal {
			var err error
			// Not past what the ring has announced: the journal may hold a
			// record the ring has yet to see.
			want := int(min(maxOutputFrame, outEnd-sent))
			frame, err = cur.appendFrom(frame, sent, want)
			if err == nil && len(frame) == hdrLen {
				// What left the ring may still be in the journal's
				// write buffer.
				if ferr := r.journal.Flush(); ferr != nil {
					r.stall(ferr) // the bytes come again once it can be written
				} else {
					frame, err = cur.appendFrom(frame, sent, want)
				}
			}
			if err != nil {
				r.t.Logf("server: session %s: reading journal for a client: %v", r.id, err)
				return err
			}
			if len(frame) == hdrLen && r.waitStalled(ctx) {
				continue // the journal forgot them in a stall; the agent sends them again
			}
			if len(frame) == hdrLen {
				err := fmt.Errorf("the journal ends before output byte %d, which the relay no longer holds", sent)
				r.t.Logf("server: session %s: %v", r.id, err)
				return err
			}
		}
		if n := len(frame) - hdrLen; n > 0 {
			if err := writeOutput(ctx, ws, frame); err != nil {
				return err
			}
			sent += uint64(n)
			if owner != 0 {
				r.mu.Lock()
				r.owners[owner] = sent
				if r.pacing {
					r.cond.Broadcast()
				}
				r.mu.Unlock()
			}
			if cap(frame) > 2*maxOutputFrame {
				frame = nil
			}
			continue
		}
		if ended && sent >= outEnd {
			exit.OutputEnd = outEnd
			return SendExit(ctx, ws, exit)
		}
	}
}

// awaitOwner waits, before the relay takes in n more bytes of the agent's
// output on attachment att, while the session's owner is attached and
// they would put the furthest of its clients more than half the output the
// relay keeps in memory behind (a record that alone is more waits until
// the owner has everything else). The session then runs at the pace of
// the terminal it is shown on, as a command under ssh does: the agent's
// stream fills, then the agent's buffer, and the command's writes to its
// terminal wait. Without it a terminal that takes output slower than the
// command prints it falls ever further behind, into the journal, and
// reading the journal back costs the server more than the memory would
// have (a quarter of its CPU, serving one terminal in the benchmark).
// Observers (watchers) set no pace: a watcher never slows the session it
// watches; nor does a session with no owner attached. It reports false if
// att is no longer the agent's attachment.
func (r *Relay) awaitOwner(att *Attachment, n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The server's stop ends every client, which wakes this.
	for r.agent == att && !r.ending && r.ownerBehind(n) {
		r.pacing = true
		r.cond.Wait()
	}
	r.pacing = false
	return r.agent == att
}

// ownerBehind reports whether n more bytes of output would put the
// furthest attached owner's client more than half the relay's memory
// behind; r.mu must be held.
func (r *Relay) ownerBehind(n int) bool {
	if len(r.owners) == 0 {
		return false
	}
	var furthest uint64
	for _, at := range r.owners {
		furthest = max(furthest, at)
	}
	return furthest < r.ring.end && r.ring.end+uint64(n) > furthest+uint64(r.ring.max/2)
}

// waitStalled waits while the session is paused for its recording (see
// relay.stall), and reports whether it was.
func (r *Relay) waitStalled(ctx context.Context) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	was := r.stalled
	for r.stalled && ctx.Err() == nil {
		r.cond.Wait()
	}
	return was
}

// SendEnded serves a client of a session whose relay is gone: everything
// after offset that the journal holds, then how the session ended. The
// exit says how long the output is, so a client that could not be given
// all of it knows; if the journal cannot be read, it says why instead.
func SendEnded(ctx context.Context, ws ClientConn, cur *JournalCursor, sent uint64, exit wire.Exit) error {
	defer cur.close()
	var frame []byte
	for {
		frame = wire.AppendOutputHeader(frame[:0], sent)
		hdrLen := len(frame)
		var err error
		frame, err = cur.appendFrom(frame, sent, maxOutputFrame)
		if err != nil {
			exit.OutputError = fmt.Sprintf("the recording could not be read after byte %d: %v", sent, err)
			break
		}
		if len(frame) == hdrLen {
			exit.OutputEnd = sent
			break
		}
		if err := writeOutput(ctx, ws, frame); err != nil {
			return err
		}
		sent += uint64(len(frame) - hdrLen)
	}
	return SendExit(ctx, ws, exit)
}

// writeOutput sends an output frame built by wire.AppendOutputHeader and
// the output appended to it.
func writeOutput(ctx context.Context, ws ClientConn, frame []byte) error {
	wire.SetFrameLen(frame)
	return ws.Write(ctx, websocket.MessageBinary, frame)
}

// readClient applies the client's frames until it disconnects. A malformed
// frame ends only this client's attachment.
func (r *Relay) readClient(ctx context.Context, ws ClientConn, observe bool) {
	for {
		typ, msg, err := ws.Read(ctx)
		if err != nil {
			// A client that goes when its session has ended, or closes
			// its connection without a close frame (an EOF), is not
			// worth a line: that is how clients leave.
			r.mu.Lock()
			ended := r.ended
			r.mu.Unlock()
			cs := websocket.CloseStatus(err)
			if ctx.Err() == nil && !ended && cs != websocket.StatusNormalClosure && cs != websocket.StatusGoingAway && !errors.Is(err, io.EOF) {
				r.t.Logf("server: session %s: client connection: %v", r.id, err)
			}
			return
		}
		if typ != websocket.MessageBinary {
			r.t.Logf("server: session %s: client sent a text message; closing its attachment", r.id)
			ws.Close(websocket.StatusUnsupportedData, "binary frames only")
			return
		}
		f, err := wire.DecodeFrame(msg)
		if err != nil {
			r.t.Logf("server: session %s: client: %v; closing its attachment", r.id, err)
			ws.Close(websocket.StatusProtocolError, err.Error())
			return
		}
		switch {
		case observe && (f.Type == wire.TInput || f.Type == wire.TInputEOF || f.Type == wire.TResize):
			continue // a live view only watches
		}
		switch f.Type {
		case wire.TInput:
			r.input(f.Payload)
		case wire.TInputEOF:
			r.inputEOF()
		case wire.TResize:
			cols, rows, err := wire.ParseResize(f.Payload)
			if err != nil {
				r.t.Logf("server: session %s: client: %v; ignoring", r.id, err)
				continue
			}
			r.resize(cols, rows)
		default:
			r.t.Logf("server: session %s: client sent a %s frame; closing its attachment", r.id, f.Type)
			ws.Close(websocket.StatusProtocolError, "unexpected "+f.Type.String()+" frame")
			return
		}
	}
}

// clientOutput appends to b the bytes that a record adds to the output
// stream clients see and count their offsets in: a terminal's output as it
// is; for a session without a terminal (pipes), standard output and error
// as wire stream chunks. The relay uses it as records arrive and
// journalOutput when it reads them back, so offsets always agree.
func clientOutput(b []byte, pipes bool, kind recording.Kind, data []byte) []byte {
	switch {
	case !pipes && kind == recording.KindOutput:
		return append(b, data...)
	case pipes && kind == recording.KindOutput:
		return wire.AppendStreamChunk(b, wire.StreamStdout, data)
	case pipes && kind == recording.KindStderr:
		return wire.AppendStreamChunk(b, wire.StreamStderr, data)
	}
	return b
}

// JournalCursor reads a session's client output stream (see clientOutput)
// from its journal, keeping its place between reads: a client that has
// fallen behind the ring, a late watcher or a resume after the end reads
// each record once, however many frames its catch-up takes, so catching up
// costs what reading the journal once costs. It may read while the relay
// appends: the reader stops cleanly at the end of what is written and
// finds later records on the next read.
//
// A cursor belongs to one client's sender; it is not safe for concurrent
// use.
type JournalCursor struct {
	path  string
	key   cipher.AEAD
	pipes bool
	// read is told of each record read, for the catch-up metric.
	read func()

	jr *recording.JournalReader // nil until the first read, and after close
	// pending is the client output of the last record read that is not yet
	// handed out: bytes [pendingAt, pendingAt+len(pending)) of the stream.
	pending   []byte
	pendingAt uint64
}

func NewJournalCursor(path string, key cipher.AEAD, pipes bool, read func()) *JournalCursor {
	return &JournalCursor{path: path, key: key, pipes: pipes, read: read}
}

// appendFrom appends to dst up to max bytes of the output stream starting
// at offset from, as far as the journal holds them now. Offsets move
// forward as a client's do; a read before the cursor's place starts it
// over from the journal's first record.
func (c *JournalCursor) appendFrom(dst []byte, from uint64, max int) ([]byte, error) {
	if c.jr != nil && from < c.pendingAt {
		c.close()
	}
	if c.jr == nil {
		jr, err := recording.ReadJournal(c.path, c.key)
		if err != nil {
			return dst, err
		}
		c.jr, c.pending, c.pendingAt = jr, c.pending[:0], 0
	}
	for max > 0 {
		if end := c.pendingAt + uint64(len(c.pending)); from < end {
			chunk := c.pending[from-c.pendingAt:]
			chunk = chunk[:min(len(chunk), max)]
			dst = append(dst, chunk...)
			from += uint64(len(chunk))
			max -= len(chunk)
			continue
		}
		rec, err := c.jr.Next()
		if err == io.EOF {
			return dst, nil // the rest is not written yet
		}
		if err != nil {
			return dst, err
		}
		c.read()
		c.pendingAt += uint64(len(c.pending))
		c.pending = clientOutput(c.pending[:0], c.pipes, rec.Kind, rec.Data)
	}
	return dst, nil
}

// close releases the journal's file; a later read reopens it.
func (c *JournalCursor) close() {
	if c.jr != nil {
		c.jr.Close()
		c.jr = nil
	}
}

// journalState reads a journal for a relay that takes it up again (a
// server restart): the length of the client output stream it holds (see
// clientOutput), and its exit record if it has one.
func journalState(path string, key cipher.AEAD, pipes bool) (uint64, *wire.Record, error) {
	var n uint64
	var exit *wire.Record
	var buf []byte
	err := eachRecord(path, key, func(rec recording.Record) bool {
		buf = clientOutput(buf[:0], pipes, rec.Kind, rec.Data)
		n += uint64(len(buf))
		if rec.Kind == recording.KindExit {
			exit = &wire.Record{Seq: rec.Seq, Time: rec.Time, Kind: wire.RecExit, Data: bytes.Clone(rec.Data), ExitCode: rec.ExitCode}
		}
		return true
	})
	return n, exit, err
}

// eachRecord calls fn for each record of a journal until fn returns false.
// Record data is valid only during the call.
func eachRecord(path string, key cipher.AEAD, fn func(recording.Record) bool) error {
	jr, err := recording.ReadJournal(path, key)
	if err != nil {
		return err
	}
	defer jr.Close()
	for rec, err := range jr.All() {
		if err != nil {
			return err
		}
		if !fn(rec) {
			return nil
		}
	}
	return nil
}

// SendExit tells a client how its session ended.
func SendExit(ctx context.Context, ws ClientConn, exit wire.Exit) error {
	b, err := json.Marshal(exit)
	if err != nil {
		return fmt.Errorf("exit frame: %w", err)
	}
	return writeFrame(ctx, ws, wire.TExit, b)
}

func writeFrame(ctx context.Context, ws ClientConn, t wire.Type, payload []byte) error {
	return ws.Write(ctx, websocket.MessageBinary, wire.AppendFrame(nil, t, payload))
}
