package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/desktop"
	"github.com/postern/postern/document"
	"github.com/postern/postern/guac"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/relay"
	"github.com/postern/postern/store"
)

// Remote desktops: a desktop session is a port session to the node's RDP
// server (Postern-StartDesktopSession) whose client is the server's own
// desktop engine (package desktop), shown in the browser over the
// Guacamole protocol and recorded at the relay as what the browser was
// sent.

// DesktopSessionType is the session type desktop sessions are listed with.
const DesktopSessionType = "Desktop"

// desktopPrefsName is the account's connection recording preferences, kept
// as versions of a document of their own type, as the session preferences
// are (who changed what, when).
const (
	desktopPrefsName = "Postern-ConnectionRecordingPreferences"
	desktopPrefsType = "ConnectionRecordingPreferences"
)

// errDesktopPrefsDocument refuses the documents API on the connection
// recording preferences, which have their own (and its permissions).
var errDesktopPrefsDocument = errorf(http.StatusBadRequest, api.CodeValidationError,
	"%s are the connection recording preferences: use `postern desktop preferences get|set` (%s)", desktopPrefsName, api.PathDesktopPreferences)

// loginWait bounds how long a desktop's first browser has to send its
// login once the socket is open.
const loginWait = 60 * time.Second

// desktops are the live desktop connections, by session id.
type desktops struct {
	mu    sync.Mutex // guards conns and starting
	conns map[string]*desktop.Conn
}

// desktopPreferences returns the account's connection recording
// preferences (empty when none are set).
func (s *Server) desktopPreferences(ctx context.Context, account string) (api.DesktopPreferences, int, error) {
	d, err := s.store.GetDocument(ctx, account, desktopPrefsName, 0)
	if errors.Is(err, store.ErrNotFound) {
		return api.DesktopPreferences{}, 0, nil
	}
	if err != nil {
		return api.DesktopPreferences{}, 0, err
	}
	p, err := desktop.ParsePreferences([]byte(d.Content))
	if err != nil {
		return p, d.Version, errorf(http.StatusConflict, api.CodeInvalidDesktopPreferences, "the account's connection recording preferences (version %d) are no longer valid: %v; set them again with `postern desktop preferences set`", d.Version, err)
	}
	return p, d.Version, nil
}

func (s *Server) handleGetDesktopPreferences(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.GetPreferences, authz.Named("Document", c.Account, desktopPrefsName)); err != nil {
		return err
	}
	p, _, err := s.desktopPreferences(r.Context(), c.Account)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) handlePutDesktopPreferences(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.UpdatePreferences, authz.Named("Document", c.Account, desktopPrefsName)); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, desktop.MaxPreferences+1))
	if err != nil {
		return err
	}
	p, err := desktop.ParsePreferences(body)
	if err != nil {
		return errorf(http.StatusBadRequest, api.CodeInvalidDesktopPreferences, "%v", err)
	}
	// The bucket is checked now, as a session's destinations are at its
	// start: preferences that could only refuse every connection are
	// refused themselves.
	if _, err := s.desktopDeliveryInputs(r.Context(), p); err != nil {
		return err
	}
	if _, err := s.store.PutDocument(r.Context(), store.Document{
		Account: c.Account, Name: desktopPrefsName, Content: string(body), SessionType: desktopPrefsType,
		Description: "connection recording preferences for remote desktops", CreatedBy: c.User.Name, CreatedAt: s.now(),
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// desktopDeliveryInputs turns connection recording preferences into the
// logging inputs deliveries are planned from: S3 only (a desktop has no
// transcript for CloudWatch Logs), checked now.
func (s *Server) desktopDeliveryInputs(ctx context.Context, p api.DesktopPreferences) (document.Inputs, error) {
	c := p.ConnectionRecordingPreferences
	if c == nil {
		return document.Inputs{}, nil
	}
	b := c.RecordingDestinations.S3Buckets[0]
	in := document.Inputs{S3BucketName: b.BucketName, S3KeyPrefix: c.KeyPrefix, KMSKeyID: c.KMSKeyArn}
	if s.cfg.S3 == nil {
		return in, errorf(http.StatusConflict, api.CodeDestinationUnavailable,
			"the connection recording preferences send recordings to S3 bucket %s, but this server has no S3 destination configured", b.BucketName)
	}
	t := s3TargetFor(in, s.cfg.S3ClientSideEncryption)
	if err := check(ctx, func(ctx context.Context) error { return s.cfg.S3.Check(ctx, t) }); err != nil {
		return in, err
	}
	return in, nil
}

// planDesktop completes the plan of a desktop session: its recording
// preferences, and a desktop engine to run it.
func (s *Server) planDesktop(ctx context.Context, account string, p *sessionPlan) error {
	if _, err := desktop.FindProgram(s.cfg.DesktopProgram); err != nil {
		return errorf(http.StatusConflict, api.CodeDesktopUnavailable, "this server cannot show desktops: %v", err)
	}
	prefs, _, err := s.desktopPreferences(ctx, account)
	if err != nil {
		return err
	}
	p.sessionType = DesktopSessionType
	p.settings.Type = DesktopSessionType
	p.settings.Desktop = &store.DesktopSettings{}
	// The recording goes where the connection recording preferences
	// say, sealed with their key; the session preferences' destinations
	// are for terminals.
	p.inputs = document.Inputs{}
	if c := prefs.ConnectionRecordingPreferences; c != nil {
		b := c.RecordingDestinations.S3Buckets[0]
		p.inputs = document.Inputs{S3BucketName: b.BucketName, S3KeyPrefix: c.KeyPrefix, KMSKeyID: c.KMSKeyArn}
		p.kmsKeyID = c.KMSKeyArn
		p.settings.Desktop.RecordKeys = c.RecordKeyEvents
	}
	return nil
}

// GuacContentType is a desktop recording's media type: Guacamole protocol
// text, as guacamole-common-js's session recording player reads it.
const GuacContentType = "application/vnd.postern.guac; charset=utf-8"

// desktopArtifacts are what a desktop session delivers: its recording and
// the recording's metadata.
var desktopArtifacts = []string{"guac", "json"}

// handleDesktop serves a desktop session to a browser: the owner (who
// opens the connection with the desktop's credentials, and may come back
// to it), or a watcher (?mode=observe or ?watch=1, read-only).
func (s *Server) handleDesktop(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	q := r.URL.Query()
	watch := q.Get("mode") == "observe" || q.Get("watch") == "1"
	action := authz.ResumeSession
	if watch {
		action = authz.ObserveSession
	}
	sess, err := s.session(r, action, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sess.Settings.Desktop == nil {
		return errorf(http.StatusConflict, api.CodeNotDesktopSession, "session %s is not a desktop session (start one with document %s)", sess.ID, "Postern-StartDesktopSession")
	}
	if !watch && sess.Owner != c.User.Name {
		return errorf(http.StatusForbidden, api.CodeAccessDenied, "session %s belongs to %s; only its owner may use the desktop (others may watch it with mode=observe)", sess.ID, sess.Owner)
	}
	rl := s.relays.Get(sess.ID)
	if rl == nil || !sess.Active() || sess.Status == store.StatusTerminating || rl.Ending() {
		return errorf(http.StatusConflict, api.CodeSessionEnded, "session %s has ended (%s %s): play its recording instead", sess.ID, sess.Status, sess.StatusReason)
	}
	if !watch {
		if err := s.authorizeResume(r, sess); err != nil {
			return err
		}
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled, Subprotocols: []string{"guacamole"}})
	if err != nil {
		return nil // Accept wrote the response
	}
	ws.SetReadLimit(4 * guac.MaxInstruction)
	defer ws.CloseNow()
	ctx := r.Context()
	t := wsTransport{ws}
	// guacamole-common-js's tunnel opens once it has its id.
	if err := t.Write(ctx, guac.Encode("", sess.ID)); err != nil {
		return nil
	}
	conn := s.desktops.get(sess.ID)
	if conn == nil && watch {
		t.Write(ctx, guac.ErrorInstruction("the desktop is not connected yet; watch again once its owner has connected", guac.StatusResourceNotFound))
		ws.Close(websocket.StatusNormalClosure, "")
		return nil
	}
	if conn == nil {
		if conn, err = s.openDesktop(ctx, t, sess, rl, r.RemoteAddr); err != nil {
			code := guac.StatusServerError
			var ge *guacError
			if errors.As(err, &ge) {
				code = ge.code
			}
			t.Write(ctx, guac.ErrorInstruction(err.Error(), code))
			ws.Close(websocket.StatusNormalClosure, "")
			return nil
		}
	}
	if watch {
		s.logf("server: session %s: %s is watching the desktop", sess.ID, c.User.Name)
		s.auditEvent(sess, "SessionObserved", "by "+c.User.Name)
	}
	conn.Serve(ctx, t, watch)
	ws.Close(websocket.StatusNormalClosure, "")
	return nil
}

// guacError is an error the browser is told with a Guacamole status.
type guacError struct {
	code guac.Status
	msg  string
}

func (e *guacError) Error() string { return e.msg }

// openDesktop reads the owner's login and starts the desktop engine.
func (s *Server) openDesktop(ctx context.Context, t wsTransport, sess store.Session, rl *relay.Relay, remote string) (*desktop.Conn, error) {
	lctx, cancel := context.WithTimeout(ctx, loginWait)
	msg, err := t.Read(lctx)
	cancel()
	if err != nil {
		return nil, &guacError{guac.StatusClientTimeout, fmt.Sprintf("no login within %v of connecting", loginWait)}
	}
	in, _, err := guac.NewReader(bytes.NewReader(msg), 0).Next()
	if err != nil {
		return nil, &guacError{guac.StatusClientBadRequest, fmt.Sprintf("the login is not a Guacamole instruction: %v", err)}
	}
	login, err := desktop.ParseLogin(in)
	if err != nil {
		return nil, &guacError{guac.StatusClientBadRequest, err.Error()}
	}
	if err := s.diskFull(); err != nil {
		return nil, &guacError{guac.StatusServerError, err.Error()} // the recording could not be written
	}
	prog, err := desktop.FindProgram(s.cfg.DesktopProgram)
	if err != nil {
		return nil, &guacError{guac.StatusUnsupported, "this server cannot show desktops: " + err.Error()}
	}
	dir := filepath.Join(s.cfg.DataDir, "desktops")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s.desktops.mu.Lock()
	defer s.desktops.mu.Unlock()
	if s.desktops.conns[sess.ID] != nil {
		return nil, &guacError{guac.StatusSessionConflict, "the desktop was opened in another window at the same moment"}
	}
	hold := rl.Hold() // the engine is the session's client while it runs
	logf := logger.WithPrefix(s.logf, "server: session "+sess.ID+": ")
	conn, err := desktop.Start(s.ctx, desktop.Deps{
		Program: prog, SocketDir: dir, Logf: logf, Grace: s.cfg.GracePeriod,
		RecordKeys: sess.Settings.Desktop.RecordKeys,
		Carry: func(ctx context.Context, nc net.Conn) error {
			ac := s.agent(sess.Target)
			if ac == nil {
				return fmt.Errorf("node %s is offline", sess.Target)
			}
			err := rl.Forward(ctx, &ac.Link, "desktop engine for "+remote, func(context.Context) (io.ReadWriteCloser, error) { return nc, nil })
			if ce := (*relay.ConnectError)(nil); errors.As(err, &ce) {
				// The engine sees the socket close and reports the
				// desktop unreachable; the node's reason is in the log
				// and the connection's record.
				return fmt.Errorf("the node could not connect to its RDP port: %w", ce.Err)
			}
			return err
		},
		Record: rl.Record,
		Touch:  rl.Touch,
		Ended: func(res desktop.Result) (string, guac.Status) {
			return s.desktopEnded(sess, rl, res)
		},
	}, login, func(info recording.DesktopInfo) {
		if data, err := recording.EncodeDesktop(info); err == nil {
			if err := rl.Record(recording.KindDesktop, data); err != nil {
				logf("desktop facts not recorded: %v", err)
			}
		}
	})
	if err != nil {
		hold()
		return nil, err
	}
	s.desktops.conns[sess.ID] = conn
	s.logf("server: session %s: desktop engine started for %s (security %s)", sess.ID, sess.Owner, login.Security)
	s.wg.Add(1)
	go func() {
		// Ends the engine when the session ends from the server's side
		// (terminated, idle, maximum duration, revoked), and forgets
		// the connection once it is over.
		defer s.wg.Done()
		wctx, cancel := context.WithCancel(s.ctx)
		go func() {
			select {
			case <-conn.Done():
				cancel()
			case <-wctx.Done():
			}
		}()
		if _, ended := rl.Wait(wctx); ended {
			conn.Close()
		}
		<-conn.Done()
		cancel()
		hold()
		s.desktops.mu.Lock()
		delete(s.desktops.conns, sess.ID)
		s.desktops.mu.Unlock()
	}()
	return conn, nil
}

// desktopEnded ends a desktop session as its engine ended, and says what
// its viewers are told last.
func (s *Server) desktopEnded(sess store.Session, rl *relay.Relay, res desktop.Result) (string, guac.Status) {
	if s.stopping.Load() || s.ctx.Err() != nil {
		// The server stops (the engine was told to go with it): the
		// session is not over but lost, and the next start's recovery
		// ends it as ServerRestarted, its recording delivered.
		return "the server is shutting down; the desktop connection is lost", guac.StatusServerError
	}
	if rl.Ending() {
		// The session ended first (terminated, a limit, a revoked user):
		// that is why the engine stopped.
		ctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
		defer cancel()
		final, _ := rl.Wait(ctx)
		return fmt.Sprintf("the session ended: %s", final.StatusReason), guac.StatusSessionClosed
	}
	switch {
	case res.Err != nil:
		s.logf("server: session %s: desktop connection failed (%s): %s; the desktop program's %s", sess.ID, res.Err.Reason(), res.Err.Message, res.Exit)
		rl.Fail(res.Err.Reason(), res.Err.Message)
		return res.Err.Message, res.Err.Code
	case res.Closed != "":
		rl.Terminate("DesktopEnded")
		return "the desktop ended the session: " + res.Closed, guac.StatusSessionClosed
	case res.Disconnected:
		rl.Terminate("TerminatedByUser")
		return "disconnected", guac.StatusSuccess
	}
	rl.Terminate("ClientDisconnected")
	return "the desktop connection ended", guac.StatusSessionClosed
}

func (d *desktops) get(id string) *desktop.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conns[id]
}

// wsTransport is a browser's WebSocket as package desktop uses it: text
// messages of whole instructions.
type wsTransport struct{ ws *websocket.Conn }

func (t wsTransport) Read(ctx context.Context) ([]byte, error) {
	_, b, err := t.ws.Read(ctx)
	return b, err
}

func (t wsTransport) Write(ctx context.Context, msg []byte) error {
	return t.ws.Write(ctx, websocket.MessageText, msg)
}
