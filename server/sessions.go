package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/events"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/relay"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// DefaultDocument is the preferences document applied when a session names
// none; each account may store its own version.
const DefaultDocument = "Postern-SessionManagerRunShell"

func (s *Server) handleStartSession(w http.ResponseWriter, r *http.Request) error {
	var req api.StartSessionRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	sess, n, plan, err := s.startRequested(r, req, nil)
	if err != nil {
		return err
	}
	port := plan.settings.Port
	out := s.apiSession(sess)
	out.TargetName = s.targetName(r, sess, map[string]store.Node{n.ID: n}, nil)
	s.apiDeliveries(r.Context(), sess, &out)
	out.SessionType = plan.sessionType
	out.Pipes = plan.pipes
	if port != nil {
		out.Port = &api.PortForward{Host: port.Host, PortNumber: port.Port, LocalPortNumber: plan.localPort}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// startRequested plans, authorizes and starts the caller's session req,
// for the native API and AWS's StartSession. A non-nil accept may refuse
// a plan (what a client cannot carry) before anything starts.
func (s *Server) startRequested(r *http.Request, req api.StartSessionRequest, accept func(sessionPlan) error) (store.Session, store.Node, sessionPlan, error) {
	c := callerOf(r)
	if req.Target == "" {
		return store.Session{}, store.Node{}, sessionPlan{}, errorf(http.StatusBadRequest, api.CodeValidationError, "target: a node id or name is required")
	}
	n, err := s.resolveNode(r.Context(), c.Account, req.Target)
	if err != nil {
		return store.Session{}, store.Node{}, sessionPlan{}, err
	}
	doc := req.Document
	if doc == "" {
		doc = DefaultDocument
	}
	// The decision needs the OS user the session would run as, which
	// planning resolves: planning comes first, reading and checking
	// only; the destinations, which it may reach over the network, are
	// checked after the decision. A request that cannot be planned is
	// decided on without the run-as user, only to choose which refusal
	// the caller sees.
	plan, planErr := s.planSession(r.Context(), c, req, n.OS)
	if planErr != nil {
		if err := s.authorize(r, authz.StartSession, nodeEntity(n), withContext("document", doc), withContext("reason", req.Reason)); err != nil {
			return store.Session{}, n, plan, err
		}
		return store.Session{}, n, plan, planErr
	}
	if err := s.authorizeAs(r, authz.StartSession, nodeEntity(n), onNodeAs(n.ID, plan.runAs), startContext(doc, req.Reason, plan.runAs)...); err != nil {
		return store.Session{}, n, plan, err
	}
	if accept != nil {
		if err := accept(plan); err != nil {
			return store.Session{}, n, plan, err
		}
	}
	if plan.deliveries, err = s.planDeliveries(r.Context(), c.Account, plan.inputs, plan.settings.Desktop != nil); err != nil {
		return store.Session{}, n, plan, err
	}
	sess, _, err := s.startSession(r.Context(), c, n, req, plan, nil)
	return sess, n, plan, err
}

// startSession starts a planned and authorized session of c on node n:
// its record, recording, deliveries and relay, then the node's side, and
// returns it once it runs (or has already ended) with its relay. With
// held not nil, the server itself is the session's client from its start
// (see relay.Hold), and *held lets go; a session without a terminal then
// gets no input.
func (s *Server) startSession(ctx context.Context, c caller, n store.Node, req api.StartSessionRequest, plan sessionPlan, held *func()) (store.Session, *relay.Relay, error) {
	started := false
	if held != nil {
		defer func() {
			if !started && *held != nil {
				(*held)() // it failed to start: nothing to wait for
				*held = nil
			}
		}()
	}
	ac := s.agent(n.ID)
	if ac == nil {
		last := "never"
		if !n.LastSeen.IsZero() {
			last = "last seen " + n.LastSeen.UTC().Format(time.RFC3339)
		}
		return store.Session{}, nil, errorf(http.StatusConflict, api.CodeTargetNotConnected, "node %s (%s) is offline (%s): check that `postern-agent run` is running on it", n.ID, n.Name, last)
	}
	cols, rows := req.Cols, req.Rows
	if cols <= 0 || rows <= 0 || cols > 10000 || rows > 10000 {
		cols, rows = 80, 24
	}
	now := s.now()
	sess := store.Session{
		ID: newSessionID(c.User.Name), Account: c.Account, Owner: c.User.Name, Target: n.ID,
		Document: plan.document, Reason: req.Reason, Status: store.StatusConnecting,
		StartedAt: now, Cols: cols, Rows: rows, Settings: plan.settings,
	}
	sess.Settings.Type, sess.Settings.Pipes, sess.Settings.RunAs = plan.sessionType, plan.pipes, plan.runAs
	if plan.sessionID != "" {
		sess.ID = plan.sessionID
	}
	sealed, jkey, err := s.sealSession(ctx, c, &sess, plan.kmsKeyID)
	if err != nil {
		return store.Session{}, nil, err
	}
	// Placed before it exists: a node that dials again meanwhile finds
	// it this server's, not one to take up (adoptSessions).
	s.place(ctx, "session/"+sess.ID)
	if err := s.store.CreateSession(ctx, sess); err != nil {
		s.unplace("session/" + sess.ID)
		return store.Session{}, nil, err
	}
	jpath := s.journalPath(sess.Account, sess.ID)
	if err := os.MkdirAll(filepath.Dir(jpath), 0o700); err != nil {
		return store.Session{}, nil, err
	}
	meta := recording.Meta{
		SessionID: sess.ID, Start: now, Width: cols, Height: rows,
		Env:    map[string]string{"TERM": "xterm-256color"},
		Title:  fmt.Sprintf("%s on %s", sess.Owner, n.Name),
		Sealed: sealed,
	}
	if plan.pipes || plan.settings.Port != nil {
		// No terminal: no TERM and no size, so the transcript says
		// "<not executed on terminal>" as Session Manager's does.
		meta.Width, meta.Height, meta.Env = 0, 0, nil
		meta.Pipes, meta.Port = plan.pipes, plan.settings.Port != nil
	}
	j, err := recording.CreateJournal(jpath, meta, jkey)
	if err != nil {
		sess.Status, sess.StatusReason, sess.EndedAt = store.StatusFailed, "RecordingFailed", s.now()
		s.store.UpdateSession(context.WithoutCancel(ctx), sess)
		return store.Session{}, nil, err
	}
	// After the journal: a streamed delivery is due at once, and reads
	// the journal from its start (before, its first attempt could fail
	// on a journal not made yet, and wait out a retry).
	if err := s.createDeliveries(ctx, sess, plan.deliveries); err != nil {
		j.Close()
		os.Remove(jpath)
		sess.Status, sess.StatusReason, sess.EndedAt = store.StatusFailed, "DeliveryUnavailable", s.now()
		s.store.UpdateSession(context.WithoutCancel(ctx), sess)
		return store.Session{}, nil, err
	}
	rl := s.relays.Start(sess, jpath, j, 0)
	if held != nil {
		// The server is the session's client, from its first moment.
		*held = rl.Hold()
		if plan.pipes {
			rl.CloseInput()
		}
	}
	// A change of the user that landed after this request was
	// authenticated, and before the relay was in the table that the
	// change's sweep of live sessions reads, is seen now.
	if err := s.startStillValid(ctx, c, plan); err != nil {
		reason, msg := "StartFailed", err.Error()
		var ae *apiError
		if errors.As(err, &ae) {
			reason = ae.Code
		}
		rl.Fail(reason, msg)
		return store.Session{}, nil, err
	}
	port := plan.settings.Port
	if port != nil {
		// A port session opens a stream per forwarded connection; there is
		// nothing to start on the node yet.
		rl.Marker(fmt.Sprintf("port forwarding to %s:%d", relay.HostOrLocal(port.Host), port.Port))
	} else {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		att, res, err := rl.Open(octx, &ac.Link, wire.TOpen, wire.Open{
			SessionID: sess.ID, Owner: sess.Owner, RunAs: plan.runAs, AllowRoot: plan.allowRoot,
			Command: plan.command, Cols: cols, Rows: rows, ShellProfile: plan.profile, Pipes: plan.pipes, TypedMarks: ac.typedMarks,
			IdleTimeout: plan.settings.IdleTimeout, IdleCountsOutput: plan.settings.IdleCountsOutput, MaxDuration: plan.settings.MaxDuration,
			Env: plan.env,
		})
		if err == nil && !res.OK {
			err = errors.New(res.Error)
		}
		if err == nil && plan.pipes && !res.Pipes {
			att.W.WriteJSON(wire.TTerminate, wire.Terminate{Reason: "StartFailed"})
			att.Stream.Close()
			err = errors.New("its agent cannot run commands without a terminal; upgrade it, or use a terminal (postern exec --tty)")
		}
		if err != nil {
			rl.Fail("StartFailed", err.Error())
			return store.Session{}, nil, errorf(http.StatusBadGateway, api.CodeStartFailed, "node %s could not start the session: %v", n.ID, err)
		}
		rl.SetRunAsUser(res.RunAsUser)
		if !rl.RunAgent(att) {
			// Ended while the node started it (its user was revoked,
			// or their runAs changed): what the node just started is
			// taken over, and ended, as late output is.
			att.Stream.Close()
			s.handOverLate(&ac.Link, sess.ID)
			return store.Session{}, nil, endedWhileStarting(rl)
		}
	}
	// Connected, unless it is already ending (a command that was quick
	// to exit, a termination): the client that attaches gets its output
	// and how it ended.
	sess, err = rl.Connected(ctx)
	if err != nil {
		return store.Session{}, nil, err
	}
	s.logf("server: session %s (%s) started by %s on %s as %q", sess.ID, plan.document, sess.Owner, n.ID, sess.RunAsUser)
	s.auditEvent(sess, "SessionStarted", fmt.Sprintf("document %s on %s as %q", plan.document, n.ID, sess.RunAsUser))
	s.sessionEvent(ctx, sess, &n, events.StateStarted)
	started = true
	return sess, rl, nil
}

// startContext is what StartSession is decided on besides the node: the
// document, the reason given, and the OS user the session runs as
// (context.runAs; empty when the node's agent chooses).
func startContext(doc, reason, runAs string) []authzOption {
	return []authzOption{withContext("document", doc), withContext("reason", reason), withContext("runAs", runAs)}
}

// onNodeAs names node id and the run-as user in refusals.
func onNodeAs(id, runAs string) string {
	if runAs == "" {
		return "node " + id
	}
	return "node " + id + " as OS user " + runAs
}

// startStillValid checks, once a starting session is in the relay table,
// that its user has not changed since the request was authenticated in a
// way that ends live sessions: deleted, password or groups changed
// (revokeUser), or, for a session whose run-as user was taken from it,
// the runAs attribute (endRunAsSessions). Those changes sweep the table
// after storing the change, so a session registered too late for the
// sweep sees the change here.
func (s *Server) startStillValid(ctx context.Context, c caller, plan sessionPlan) error {
	u, err := s.store.GetUser(ctx, c.Account, c.User.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusForbidden, api.CodeUserRevoked, "user %s was deleted while the session started", c.User.Name)
	case err != nil:
		return fmt.Errorf("checking user %s: %w", c.User.Name, err)
	case u.PasswordHash != c.User.PasswordHash || !slices.Equal(u.Groups, c.User.Groups):
		return errorf(http.StatusForbidden, api.CodeUserRevoked, "user %s's password or groups changed while the session started, which revokes their access: sign in again", c.User.Name)
	case u.RunAs != c.User.RunAs && runAsStale(plan.runAs, u.RunAs):
		return errorf(http.StatusConflict, api.CodeRunAsChanged, "%s's runAs changed from %s to %s while the session started: start it again", c.User.Name, orNone(c.User.RunAs), orNone(u.RunAs))
	}
	return nil
}

// endedWhileStarting is the answer to a start whose session ended before
// it was under way.
func endedWhileStarting(rl *relay.Relay) error {
	reason := rl.TermReason()
	if reason == "" {
		reason = "SessionEnded"
	}
	return errorf(http.StatusConflict, reason, "session %s was ended (%s) while it started", rl.ID(), reason)
}

// newSessionID makes session ids; a variable so tests can force collisions.
var newSessionID = ids.NewSession

func (s *Server) apiSession(sess store.Session) api.Session {
	out := api.Session{
		ID: sess.ID, Owner: sess.Owner, Target: sess.Target, Document: sess.Document,
		Reason: sess.Reason, Status: sess.Status, StatusReason: sess.StatusReason,
		RunAsUser: sess.RunAsUser, StartedAt: sess.StartedAt, ExitCode: sess.ExitCode,
	}
	if !sess.EndedAt.IsZero() {
		t := sess.EndedAt
		out.EndedAt = &t
	}
	out.SessionType, out.Pipes = sess.Settings.Type, sess.Settings.Pipes
	if rl := s.relays.Get(sess.ID); rl != nil {
		out.Pipes = rl.Pipes()
	}
	if p := sess.Settings.Port; p != nil {
		out.Port = &api.PortForward{Host: p.Host, PortNumber: p.Port}
		if out.SessionType == "" {
			out.SessionType = "Port"
		}
	}
	local := api.LogLocation{Destination: "local", Format: "journal", Location: s.journalPath(sess.Account, sess.ID), Status: "Complete"}
	if fi, err := os.Stat(local.Location); err == nil {
		local.Bytes = fi.Size()
	} else {
		local.Status = "Missing"
	}
	if sess.Active() {
		out.StreamURL = api.PathSessions + "/" + sess.ID + "/stream"
		if sess.Settings.Desktop != nil {
			out.StreamURL = api.PathSessions + "/" + sess.ID + "/desktop"
		}
		local.Status = "Recording"
	}
	out.Logs = []api.LogLocation{local}
	return out
}

// session loads a session of the caller's account and checks that the
// caller may perform action on it. Sessions of other accounts do not
// exist, as far as the caller can tell.
func (s *Server) session(r *http.Request, action authz.Action, id string) (store.Session, error) {
	c := callerOf(r)
	var sess store.Session
	if rl := s.relays.Get(id); rl != nil {
		sess = rl.Session()
	} else {
		var err error
		if sess, err = s.store.GetSession(r.Context(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Session{}, err
		}
	}
	if sess.ID == "" || sess.Account != c.Account {
		s.listing(r) // nothing to authorize: it does not exist
		return store.Session{}, errorf(http.StatusNotFound, api.CodeSessionNotFound, "session %s does not exist", id)
	}
	return sess, s.authorizeSession(r, action, sess)
}

func (s *Server) handleGetSession(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.session(r, authz.DescribeSessions, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := s.apiSession(sess)
	out.TargetName = s.targetName(r, sess, nil, nil)
	s.apiDeliveries(r.Context(), sess, &out)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// targetName is the name of sess's target node, if it is still
// registered and the caller may describe it. seen and describable, if
// not nil, keep the nodes looked up and the decisions made for a listing.
func (s *Server) targetName(r *http.Request, sess store.Session, seen map[string]store.Node, describable map[string]bool) string {
	n := s.targetOf(r.Context(), sess, seen)
	if n.Name == "" {
		return "" // gone, or never named
	}
	ok, decided := describable[n.ID]
	if !decided {
		ok = s.allowed(r, authz.DescribeNodes, nodeEntity(n))
		if describable != nil {
			describable[n.ID] = ok
		}
	}
	if !ok {
		return ""
	}
	return n.Name
}

func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	q := r.URL.Query()
	f := store.SessionFilter{Account: c.Account, Target: q.Get("target"), Owner: q.Get("owner")}
	if f.Target != "" && !ids.ValidNode(f.Target) {
		// A node's name, as everything else that takes a node takes it.
		n, err := s.resolveNode(r.Context(), c.Account, f.Target)
		if err != nil {
			return err
		}
		f.Target = n.ID
	}
	switch q.Get("state") {
	case "", "all":
	case "active":
		t := true
		f.Active = &t
	case "history":
		t := false
		f.Active = &t
	default:
		return errorf(http.StatusBadRequest, api.CodeValidationError, "state: %q must be active or history", clip(q.Get("state")))
	}
	if v := q.Get("since"); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "since: %v", err)
		}
		f.Since = s.now().Add(-d)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "limit: %q is not a number", clip(v))
		}
		f.Limit = n
	}
	ss, err := s.store.ListSessions(r.Context(), f)
	if err != nil {
		return err
	}
	s.listing(r)
	out := []api.Session{}
	nodes := map[string]store.Node{} // the listing's targets, looked up once each
	describable := map[string]bool{} // whether the caller may describe each
	for _, sess := range ss {
		if rl := s.relays.Get(sess.ID); rl != nil {
			sess = rl.Session()
		}
		if e, opts := s.sessionEntity(r.Context(), sess, nodes); s.allowed(r, authz.DescribeSessions, e, opts...) {
			as := s.apiSession(sess)
			as.TargetName = s.targetName(r, sess, nodes, describable)
			if sess.Settings.Desktop != nil {
				// History shows where a desktop's recording went (its
				// bucket) and how big it is, as the reports list them.
				s.apiDeliveries(r.Context(), sess, &as)
			}
			out = append(out, as)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleTerminate(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.session(r, authz.TerminateSession, r.PathValue("id"))
	if err != nil {
		return err
	}
	rl := s.relays.Get(sess.ID)
	if rl == nil || !sess.Active() {
		return errorf(http.StatusConflict, api.CodeSessionEnded, "session %s already ended (%s)", sess.ID, sess.Status)
	}
	rl.Terminate("TerminatedByUser")
	sess = rl.Session()
	writeJSON(w, http.StatusOK, s.apiSession(sess))
	return nil
}

func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.session(r, authz.GetSessionLogs, r.PathValue("id"))
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "log"
	}
	switch {
	case format == "guac" && sess.Settings.Desktop == nil:
		return errorf(http.StatusConflict, api.CodeNotDesktopSession, "session %s is not a desktop session: it has no .guac recording (format log or cast)", sess.ID)
	case format != "log" && format != "cast" && format != "guac":
		return errorf(http.StatusBadRequest, api.CodeValidationError, "format: %q must be log, cast or guac (a desktop's recording)", format)
	}
	// The journal is the recording; the .cast and .log are views of it,
	// rendered as they are read (a few hundred MB/s), so that recording
	// costs one sequential write and the artifacts take no space.
	jpath, err := s.recordingFor(r.Context(), sess)
	if err != nil {
		return err
	}
	key, err := s.readerJournalKey(r.Context(), callerOf(r), sess.ID)
	if err != nil {
		return errorf(http.StatusForbidden, api.CodeLogUnreadable, "session %s: %v", sess.ID, err)
	}
	ctype := "text/plain; charset=utf-8"
	switch format {
	case "cast":
		ctype = "application/x-asciicast"
	case "guac":
		ctype = GuacContentType
	}
	w.Header().Set("Content-Type", ctype)
	bw := bufio.NewWriterSize(w, 64<<10)
	if format == "guac" {
		if _, err := recording.RenderGuac(jpath, key, bw); err != nil {
			s.logf("server: session %s: rendering its recording: %v", sess.ID, err)
			return nil
		}
		bw.Flush()
		return nil
	}
	var cast, log io.Writer
	if format == "cast" {
		cast = bw
	} else {
		log = bw
	}
	if err := recording.RenderJournal(jpath, key, cast, log); err != nil {
		// The status line is gone; the client sees a short body.
		s.logf("server: session %s: rendering its %s: %v", sess.ID, format, err)
		return nil
	}
	bw.Flush()
	return nil
}

// handleStream attaches a client to a session's terminal over a WebSocket.
// The client says where to resume with ?offset=N (output bytes it has
// already shown).
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	// ?mode=observe is a read-only live view, for whoever may observe
	// the session; otherwise the owner attaches (or resumes) to type.
	observe := false
	switch m := r.URL.Query().Get("mode"); m {
	case "":
	case "observe":
		observe = true
	default:
		return errorf(http.StatusBadRequest, api.CodeValidationError, "mode: %q must be observe or left out", m)
	}
	action := authz.ResumeSession
	if observe {
		action = authz.ObserveSession
	}
	sess, err := s.session(r, action, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !observe && sess.Owner != c.User.Name {
		return errorf(http.StatusForbidden, api.CodeAccessDenied, "session %s belongs to %s; only its owner may type into it (others may watch it with mode=observe)", sess.ID, sess.Owner)
	}
	if sess.Settings.Desktop != nil {
		return errorf(http.StatusConflict, api.CodeDesktopOnly, "session %s is a desktop session: it has no terminal stream (its desktop: %s/%s/desktop)", sess.ID, api.PathSessions, sess.ID)
	}
	var offset uint64
	if v := r.URL.Query().Get("offset"); v != "" {
		if offset, err = strconv.ParseUint(v, 10, 64); err != nil {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "offset: %q is not a number", v)
		}
	}
	rl := s.relays.Get(sess.ID)
	if rl != nil && !observe {
		if err := s.authorizeResume(r, sess); err != nil {
			return err
		}
	}
	if rl == nil && sess.Active() {
		// Running, and not relayed here yet: its recording is on its way
		// from object storage (recoverLater). Clients retry a 503.
		e := errorf(http.StatusServiceUnavailable, api.CodeSessionNotReady, "session %s is running but this server has not taken it up yet (its recording is on its way from object storage): try again shortly", sess.ID)
		e.RetryAfter = 2
		return e
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil // Accept wrote the response
	}
	ws.SetReadLimit(wire.MaxPayload + wire.HeaderLen)
	if rl == nil {
		// The session ended and its relay is gone: the client gets what it
		// has not seen from the recording, then how the session ended.
		s.serveEnded(r.Context(), ws, sess, offset)
		return nil
	}
	if observe {
		s.logf("server: session %s: %s is watching", sess.ID, c.User.Name)
		s.auditEvent(sess, "SessionObserved", "by "+c.User.Name)
	}
	rl.ServeClient(r.Context(), ws, offset, observe)
	return nil
}

// authorizeResume decides on a client attaching to type into a live
// session as on starting it now: StartSession on its node, with its
// document, reason and run-as user (context.runAs). Attaching is a new
// connection to a shell that runs as that user, as an SSH connection is
// in Teleport, which decides on the login at each one; so a policy that
// has since come to forbid the run-as user (or the node, or the document)
// refuses the resume. The session goes on without the client, and ends
// when the grace period for one runs out.
func (s *Server) authorizeResume(r *http.Request, sess store.Session) error {
	c := callerOf(r)
	d, err := s.decide(r.Context(), c, authz.StartSession, nodeEntity(s.targetOf(r.Context(), sess, nil)), startContext(sess.Document, sess.Reason, sess.Settings.RunAs)...)
	if err != nil {
		return err
	}
	if d.Allowed {
		return nil
	}
	if ai := auditOf(r); ai != nil {
		ai.authz = string(authz.StartSession) + " " + d.Explain()
	}
	return errorf(http.StatusForbidden, api.CodeAccessDenied, "%s may no longer resume session %s: starting it now, on %s, is %s (a resume needs what a start needs)",
		c.User.Name, sess.ID, onNodeAs(sess.Target, sess.Settings.RunAs), d.Explain())
}

// serveEnded sends a client of an ended session whose relay is gone the
// output after offset from its journal, then the exit.
func (s *Server) serveEnded(ctx context.Context, ws relay.ClientConn, sess store.Session, offset uint64) {
	exit := wire.Exit{Code: 255, Reason: sess.StatusReason, Status: sess.Status}
	if sess.ExitCode != nil {
		exit.Code = *sess.ExitCode
	}
	cur, err := s.endedCursor(ctx, sess)
	if err != nil {
		exit.OutputError = err.Error()
		err = relay.SendExit(ctx, ws, exit)
	} else {
		err = relay.SendEnded(ctx, ws, cur, offset, exit)
	}
	if err != nil {
		ws.CloseNow()
		return
	}
	ws.Close(websocket.StatusNormalClosure, "session ended")
}

// endedCursor opens the journal of an ended session for a client, with
// the key its relay used: whoever may resume or watch a session was shown
// its output live, and is shown the rest the same way.
func (s *Server) endedCursor(ctx context.Context, sess store.Session) (*relay.JournalCursor, error) {
	if err := s.fetchJournal(ctx, sess.Account, sess.ID); err != nil {
		return nil, err
	}
	path := s.journalPath(sess.Account, sess.ID)
	meta, err := recording.ReadJournalMeta(path)
	if errors.Is(err, os.ErrNotExist) && sess.ShredKey == nil {
		return nil, errors.New("its logs were deleted (postern logs delete)")
	}
	if err != nil {
		return nil, err
	}
	key, err := s.journalKey(ctx, sess.Account, sess.ID)
	if err != nil {
		return nil, err
	}
	return relay.NewJournalCursor(path, key, meta.Pipes, func() { s.catchupRecords.ended.Add(1) }), nil
}

// recoverSessions reopens the journals of sessions that were active when
// the server stopped. Their agents resume them when they reconnect.
func (s *Server) recoverSessions(ctx context.Context) error {
	active := true
	ss, err := s.store.ListSessions(ctx, store.SessionFilter{Active: &active})
	if err != nil {
		return fmt.Errorf("server: recover sessions: %w", err)
	}
	alone := len(ss) == 0 || s.alone(ctx)
	checked := map[string]bool{} // servers probed: whether each is alive
	for _, sess := range ss {
		// Sharing the database with live servers: another server's
		// sessions are its own, or, if it is gone, are taken up by
		// the server their node dials next (adoptSessions). Alone,
		// every running session is this server's to take up (a
		// server that lost its disk, or whose host was renamed, is
		// another instance). Sessions of no server are from before
		// servers recorded what they hold.
		if holder, err := s.store.Placement(ctx, "session/"+sess.ID); err != nil {
			return fmt.Errorf("server: recover sessions: %w", err)
		} else if holder != "" && holder != s.instance && !alone {
			// Another server's. If it answers for it, what this
			// server's disk and backlog hold of it (from before it
			// moved) is not to be shipped; in doubt, it is kept.
			if s.cfg.Recordings != nil && s.heldAlive(ctx, holder, checked) {
				if err := s.cfg.Recordings.Forget(sess.Account, sess.ID); err != nil {
					s.logf("server: session %s: %v", sess.ID, err)
				}
				os.Remove(s.journalPath(sess.Account, sess.ID))
			}
			continue
		}
		s.place(ctx, "session/"+sess.ID)
		jpath := s.journalPath(sess.Account, sess.ID)
		if _, serr := os.Stat(jpath); errors.Is(serr, os.ErrNotExist) && s.cfg.Recordings != nil && sess.Settings.Desktop == nil {
			if err := s.fetchJournalNow(ctx, sess.Account, sess.ID); err != nil {
				// Object storage does not answer: the session waits
				// for it, rather than fail for want of its recording.
				s.logf("server: session %s: its recording is in object storage, which does not answer (%v); taking the session up when it does", sess.ID, err)
				s.wg.Add(1)
				go func() { defer s.wg.Done(); s.recoverLater(sess) }()
				continue
			}
		}
		key, err := s.journalKey(ctx, sess.Account, sess.ID)
		var j *recording.Journal
		if err == nil {
			j, err = recording.OpenJournal(jpath, key)
		}
		if err != nil {
			s.logf("server: session %s cannot be recovered: %v", sess.ID, err)
			sess.Status, sess.StatusReason, sess.EndedAt = store.StatusFailed, "ServerRestarted", s.now()
			if err := s.store.UpdateSession(ctx, sess); err != nil {
				return err
			}
			continue
		}
		rl, exited := s.relays.Recover(sess, jpath, j, key)
		if !exited && sess.Settings.Command != "" && sess.Settings.Desktop == nil {
			s.holdCommandSession(rl)
		}
		if exited {
			s.recoveredEnded = append(s.recoveredEnded, rl)
		} else if sess.Settings.Desktop != nil {
			// Its engine ended with the server that ran it; its
			// recording up to then is kept and delivered.
			rl.Fail("ServerRestarted", "the server restarted during the desktop connection")
			continue
		}
		s.logf("server: recovered session %s at record %d; waiting for its agent", sess.ID, j.LastSeq())
	}
	// Sessions that ended as the server went down, before their
	// deliveries were released: release them now.
	for {
		waiting, err := s.store.WaitingDeliveries(ctx, 1000)
		if err != nil {
			return fmt.Errorf("server: recover deliveries: %w", err)
		}
		released := 0
		for _, d := range waiting {
			if s.relays.Get(d.SessionID) != nil {
				continue // still running
			}
			if err := s.store.ReleaseDeliveries(ctx, d.Account, d.SessionID, s.now()); err != nil {
				return fmt.Errorf("server: recover deliveries: %w", err)
			}
			released++
		}
		if released == 0 || len(waiting) < 1000 {
			return nil
		}
	}
}
