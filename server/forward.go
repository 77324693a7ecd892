package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/coder/websocket"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/relay"
	"github.com/postern/postern/wire"
)

// handleForward carries one forwarded TCP connection of a port session
// through the session's relay (relay.Forward), which records it: client
// WebSocket <-> its own stream to the node <-> the node's TCP connection
// to the target.
func (s *Server) handleForward(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	sess, err := s.session(r, authz.ResumeSession, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sess.Owner != c.User.Name {
		return errorf(http.StatusForbidden, api.CodeAccessDenied, "session %s belongs to %s", sess.ID, sess.Owner)
	}
	if sess.Settings.Desktop != nil {
		// Its desktop is shown, and recorded, through the server's engine
		// only: a raw tunnel would carry it unrecorded.
		return errorf(http.StatusConflict, api.CodeDesktopOnly, "session %s is a desktop session: open it in the console (%s/%s/desktop), not as a port forward", sess.ID, api.PathSessions, sess.ID)
	}
	rl := s.relays.Get(sess.ID)
	if rl == nil || rl.Port() == nil || !sess.Active() {
		return errorf(http.StatusConflict, api.CodeNotPortSession, "session %s is not an active port forwarding session", sess.ID)
	}
	if err := s.diskFull(); err != nil {
		return err // a connection's record could not be written
	}
	ac := s.agent(sess.Target)
	if ac == nil {
		return errorf(http.StatusConflict, api.CodeTargetNotConnected, "node %s is offline", sess.Target)
	}
	err = rl.Forward(r.Context(), &ac.Link, r.RemoteAddr, func(connCtx context.Context) (io.ReadWriteCloser, error) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return nil, err // Accept wrote the response
		}
		return wire.ForwardConn(connCtx, ws, wire.CorkerFrom(r.Context())), nil
	})
	if ce := (*relay.ConnectError)(nil); errors.As(err, &ce) {
		return errorf(http.StatusBadGateway, api.CodeConnectionFailed, "%v", ce.Err)
	}
	return err
}

// handleConnections lists a port session's connections from its journal,
// each as it stands: open, or closed with its bytes and reason. Reading
// them takes what reading the session's logs does.
func (s *Server) handleConnections(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.session(r, authz.GetSessionLogs, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sess.Settings.Port == nil {
		return errorf(http.StatusConflict, api.CodeNotPortSession, "session %s is not a port forwarding session: it has no forwarded connections (its recording: postern logs get %s)", sess.ID, sess.ID)
	}
	jpath, err := s.recordingFor(r.Context(), sess)
	if err != nil {
		return err
	}
	key, err := s.readerJournalKey(r.Context(), callerOf(r), sess.ID)
	if err != nil {
		return errorf(http.StatusForbidden, api.CodeLogUnreadable, "session %s: %v", sess.ID, err)
	}
	cs, _, err := relay.JournalConnections(jpath, key)
	if err != nil {
		return fmt.Errorf("session %s: %w", sess.ID, err)
	}
	out := make([]api.Connection, 0, len(cs))
	for _, c := range cs {
		ac := api.Connection{ID: c.ID, ClientAddress: c.Client, TargetHost: c.Host, TargetPort: c.Port, StartTime: c.Start}
		if c.Event == recording.ConnectionClosed {
			end := c.End
			ac.EndTime, ac.CloseReason, ac.Detail = &end, c.CloseReason, c.Detail
			if !c.BytesUnknown {
				in, out := c.BytesFromClient, c.BytesFromTarget
				ac.BytesFromClient, ac.BytesFromTarget = &in, &out
			}
		}
		out = append(out, ac)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
