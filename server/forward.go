package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/authz"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// handleForward carries one forwarded TCP connection of a port session:
// client WebSocket <-> its own yamux stream <-> the agent's TCP connection
// to the target.
func (s *Server) handleForward(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	sess, err := s.session(r, authz.ResumeSession, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sess.Owner != c.User.Name {
		return errorf(http.StatusForbidden, "AccessDenied", "session %s belongs to %s", sess.ID, sess.Owner)
	}
	rl := s.relay(sess.ID)
	if rl == nil || rl.port == nil || !sess.Active() {
		return errorf(http.StatusConflict, "NotPortSession", "session %s is not an active port forwarding session", sess.ID)
	}
	if err := s.diskFull(); err != nil {
		return err // a connection's record could not be written
	}
	ac := s.agent(sess.Target)
	if ac == nil {
		return errorf(http.StatusConflict, "TargetNotConnected", "node %s is offline", sess.Target)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	att, res, err := rl.openAgent(ctx, ac, wire.TForward, wire.Forward{SessionID: sess.ID, Host: rl.port.Host, Port: rl.port.Port, AllowLinkLocal: rl.port.AllowLinkLocal})
	cancel()
	if err == nil && !res.OK {
		err = fmt.Errorf("%s", res.Error)
	}
	if err != nil {
		rl.marker(fmt.Sprintf("connection from %s refused: %v", r.RemoteAddr, err))
		return errorf(http.StatusBadGateway, "ConnectionFailed", "%v", err)
	}
	defer att.st.Close()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil
	}
	cctx, ccancel := context.WithCancel(s.ctx)
	defer ccancel()
	conn := wire.ForwardConn(cctx, ws, wire.CorkerFrom(r.Context()))
	done := rl.addConn(ccancel)
	if done == nil {
		conn.Close()
		return nil // the session ended meanwhile
	}
	defer done()
	rl.marker(fmt.Sprintf("connection %s -> %s:%d opened", r.RemoteAddr, hostOrLocal(rl.port.Host), rl.port.Port))
	in, out := rl.copyCounted(att.st, conn)
	rl.marker(fmt.Sprintf("connection %s -> %s:%d closed (%d bytes in, %d out)", r.RemoteAddr, hostOrLocal(rl.port.Host), rl.port.Port, in, out))
	if rl.port.Stdio {
		go rl.end(store.StatusTerminated, "ConnectionClosed", nil, "")
	}
	return nil
}

func hostOrLocal(h string) string {
	if h == "" {
		return "localhost"
	}
	return h
}

// addConn registers an open forwarded connection so the session's end
// closes it. It returns nil if the session already ended.
func (r *relay) addConn(cancel context.CancelFunc) (done func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ending {
		return nil
	}
	r.nextConn++
	id := r.nextConn
	if r.conns == nil {
		r.conns = map[int]context.CancelFunc{}
	}
	r.conns[id] = cancel
	r.clients++
	r.clientsGone = time.Time{}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.conns, id)
		r.clients--
		if r.clients == 0 {
			r.clientsGone = r.s.now()
		}
	}
}

// copyCounted pipes the agent's stream and the client's connection,
// counting bytes from either side as activity for the idle timeout.
func (r *relay) copyCounted(agentSide, clientSide io.ReadWriteCloser) (in, out int64) {
	out, in = wire.Pipe(activityConn{r, agentSide}, activityConn{r, clientSide})
	return in, out
}

// activityConn marks the relay active whenever bytes arrive.
type activityConn struct {
	r *relay
	io.ReadWriteCloser
}

func (a activityConn) Read(p []byte) (int, error) {
	n, err := a.ReadWriteCloser.Read(p)
	if n > 0 {
		now := a.r.s.now()
		a.r.mu.Lock()
		a.r.lastActivity = now
		a.r.mu.Unlock()
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

// marker records a line in a port session's journal: port sessions carry
// no terminal, so their recording is the list of connections. The server
// makes these records itself, so it keeps each until it is durable, as an
// agent keeps its own: if the journal cannot take it (a full disk), it is
// appended again after Recover (writeMarks, on each append and each tick).
func (r *relay) marker(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.serverSeq = max(r.serverSeq, r.journal.LastSeq()) + 1
	r.marks = append(r.marks, recording.Record{Seq: r.serverSeq, Time: r.s.now().Sub(r.opened), Kind: recording.KindMarker, Data: []byte(text)})
	r.writeMarksLocked()
}

// writeMarksLocked forgets the markers that are durable and appends those
// the journal does not have. r.mu must be held.
func (r *relay) writeMarksLocked() {
	durable := r.journal.DurableSeq()
	keep := r.marks[:0]
	for _, m := range r.marks {
		if m.Seq > durable {
			keep = append(keep, m)
		}
	}
	clear(r.marks[len(keep):])
	r.marks = keep
	wrote := false
	for _, m := range r.marks {
		if m.Seq <= r.journal.LastSeq() {
			continue
		}
		if _, err := r.journal.Append(m); err != nil {
			if werr := r.journal.Err(); werr != nil {
				r.s.disk.Report(werr)
				_, err = r.journal.Recover()
			}
			if err != nil {
				r.s.logf("server: session %s: journal: %v", r.id, err)
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

// closeConns ends every forwarded connection of a port session.
func (r *relay) closeConns() {
	r.mu.Lock()
	cs := r.conns
	r.conns = nil
	r.mu.Unlock()
	for _, cancel := range cs {
		cancel()
	}
}
