package server

import (
	"context"
	"crypto/cipher"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/recording"
	"github.com/postern/postern/wire"
)

// maxOutputFrame is the most output sent to a client in one message.
const maxOutputFrame = 256 << 10

// serveClient relays a session to one attached client until the client
// goes away or the session ends and the client has everything. An
// observer (a read-only live view) gets the same output but its input is
// dropped, and it does not keep the session alive: only the owner's
// attachment counts for the grace period.
func (r *relay) serveClient(ctx context.Context, ws *websocket.Conn, offset uint64, observe bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	if offset > r.ring.end {
		// The client claims output that does not exist (a different
		// server's numbering, or a bug): start it over cleanly.
		offset = r.ring.end
	}
	if !observe {
		r.clients++
		r.clientsGone = time.Time{}
	}
	noticeIdx := len(r.notices)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if !observe {
			r.clients--
			if r.clients == 0 {
				r.clientsGone = r.s.now()
			}
		}
		r.cond.Broadcast()
		r.mu.Unlock()
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
	err := r.sendClient(ctx, ws, offset, noticeIdx)
	if err == nil {
		ws.Close(websocket.StatusNormalClosure, "session ended")
	} else {
		ws.CloseNow()
	}
	cancel()
	<-done
}

// sendClient writes output from offset on, notices, and finally the exit.
func (r *relay) sendClient(ctx context.Context, ws *websocket.Conn, sent uint64, noticeIdx int) error {
	var frame []byte
	for {
		r.mu.Lock()
		for ctx.Err() == nil && sent >= r.ring.end && !r.ended && noticeIdx >= len(r.notices) {
			r.cond.Wait()
		}
		if ctx.Err() != nil {
			r.mu.Unlock()
			return ctx.Err()
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
			data, err := journalOutput(r.journalPath, r.journal.Key(), r.pipes, sent, maxOutputFrame)
			if err != nil {
				r.s.logf("server: session %s: reading journal for a client: %v", r.id, err)
				return err
			}
			if len(data) == 0 {
				return errors.New("journal is behind the relay")
			}
			frame = append(frame, data...)
		}
		if n := len(frame) - hdrLen; n > 0 {
			wire.SetFrameLen(frame)
			if err := ws.Write(ctx, websocket.MessageBinary, frame); err != nil {
				return err
			}
			sent += uint64(n)
			if cap(frame) > 2*maxOutputFrame {
				frame = nil
			}
			continue
		}
		if ended && sent >= outEnd {
			return writeFrame(ctx, ws, wire.TExit, mustJSON(exit))
		}
	}
}

// readClient applies the client's frames until it disconnects. A malformed
// frame ends only this client's attachment.
func (r *relay) readClient(ctx context.Context, ws *websocket.Conn, observe bool) {
	for {
		typ, msg, err := ws.Read(ctx)
		if err != nil {
			if ctx.Err() == nil && websocket.CloseStatus(err) != websocket.StatusNormalClosure && websocket.CloseStatus(err) != websocket.StatusGoingAway {
				r.s.logf("server: session %s: client connection: %v", r.id, err)
			}
			return
		}
		if typ != websocket.MessageBinary {
			r.s.logf("server: session %s: client sent a text message; closing its attachment", r.id)
			ws.Close(websocket.StatusUnsupportedData, "binary frames only")
			return
		}
		f, err := wire.DecodeFrame(msg)
		if err != nil {
			r.s.logf("server: session %s: client: %v; closing its attachment", r.id, err)
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
				r.s.logf("server: session %s: client: %v; ignoring", r.id, err)
				continue
			}
			r.resize(cols, rows)
		default:
			r.s.logf("server: session %s: client sent a %s frame; closing its attachment", r.id, f.Type)
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

// journalOutput reads up to max bytes of the client output stream (see
// clientOutput) starting at offset from, from a journal.
func journalOutput(path string, key cipher.AEAD, pipes bool, from uint64, max int) ([]byte, error) {
	var out, buf []byte
	var pos uint64
	err := eachRecord(path, key, func(rec recording.Record) bool {
		buf = clientOutput(buf[:0], pipes, rec.Kind, rec.Data)
		end := pos + uint64(len(buf))
		if end > from {
			start := uint64(0)
			if from > pos {
				start = from - pos
			}
			out = append(out, buf[start:]...)
		}
		pos = end
		return len(out) < max
	})
	if len(out) > max {
		out = out[:max]
	}
	return out, err
}

// journalOutputLen is the length of the client output stream a journal
// holds.
func journalOutputLen(path string, key cipher.AEAD, pipes bool) (uint64, error) {
	var n uint64
	var buf []byte
	err := eachRecord(path, key, func(rec recording.Record) bool {
		buf = clientOutput(buf[:0], pipes, rec.Kind, rec.Data)
		n += uint64(len(buf))
		return true
	})
	return n, err
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
