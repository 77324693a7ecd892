package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/xtaci/smux"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/document"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/relay"
	"github.com/postern/postern/ssmchannel"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// Sessions through `aws ssm start-session`: AWS's StartSession starts a
// session as the native API does and answers with a StreamUrl on this
// server and a TokenValue; AWS's session-manager-plugin dials the URL and
// speaks Session Manager's data channel (package ssmchannel), which is
// served as one more client of the session's relay (ssmClient): the same
// recording, limits, policies and deliveries as any session.

// PathSSMDataChannel is where the plugin dials a session's data channel:
// PathSSMDataChannel + "/" + session id.
const PathSSMDataChannel = "/v1/ssm/data-channel"

// ssmTokenTTL is how long StartSession's TokenValue may open the data
// channel.
const ssmTokenTTL = 10 * time.Minute

// ssmTokenName names the token of a session's data channel: only that
// session's channel takes it.
func ssmTokenName(sessionID string) string { return "ssm-data-channel " + sessionID }

// ssmResumeTokenName names the token ResumeSession gives: it opens the
// session's data channel only where the channel is, to go on with it.
func ssmResumeTokenName(sessionID string) string { return "ssm-data-channel-resume " + sessionID }

// ssmTokenScope is the only action a data channel's token may be used
// for elsewhere: starting (resuming) a session.
var ssmTokenScope = []string{string(authz.StartSession)}

func (s *Server) awsStartSession(r *http.Request, body []byte) (any, error) {
	var in struct {
		Target       string
		DocumentName string
		Parameters   map[string][]string
		Reason       string
	}
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	if in.Target == "" {
		return nil, awsErrorf(http.StatusBadRequest, awsValidation, "Target: a node id or name is required")
	}
	params := map[string]string{}
	for k, v := range in.Parameters {
		params[k] = strings.Join(v, "\n")
	}
	req := api.StartSessionRequest{Target: in.Target, Document: in.DocumentName, Parameters: params, Reason: in.Reason}
	sess, _, plan, err := s.startRequested(r, req, func(p sessionPlan) error {
		// What the data channel carries: a terminal, a command's
		// output, or a port.
		if p.settings.Desktop != nil {
			return awsErrorf(http.StatusBadRequest, awsValidation, "document %s is a desktop: open it in the console or with postern desktop; aws ssm start-session carries shells, commands and ports", p.document)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	url := "wss://" + r.Host + PathSSMDataChannel + "/" + sess.ID
	if plan.settings.Port != nil && !plan.settings.Port.Stdio {
		// The plugin learns the port it listens on from the
		// handshake only: the channel is told it by its URL.
		url += "?localPortNumber=" + strconv.Itoa(plan.localPort)
	}
	c := callerOf(r)
	tok, _, err := s.issueToken(r.Context(), store.Token{ID: newTokenID(), Account: c.Account, User: c.User.Name, Kind: store.TokenAPI,
		Name: ssmTokenName(sess.ID), Scopes: ssmTokenScope}, ssmTokenTTL)
	if err != nil {
		return nil, err
	}
	return map[string]string{"SessionId": sess.ID, "TokenValue": tok, "StreamUrl": url}, nil
}

// awsResumeSession gives the plugin, whose connection was cut, a token to
// dial the session's data channel again. A session that has ended gets
// none: the plugin then says the session timed out, and exits.
func (s *Server) awsResumeSession(r *http.Request, body []byte) (any, error) {
	var in struct{ SessionId string }
	if err := decodeAWS(body, &in); err != nil {
		return nil, err
	}
	if in.SessionId == "" {
		return nil, awsErrorf(http.StatusBadRequest, awsValidation, "SessionId is required")
	}
	sess, err := s.session(r, authz.ResumeSession, in.SessionId)
	if err != nil {
		return nil, err
	}
	c := callerOf(r)
	if sess.Owner != c.User.Name {
		return nil, errorf(http.StatusForbidden, api.CodeAccessDenied, "session %s belongs to %s", sess.ID, sess.Owner)
	}
	if !sess.Active() {
		return map[string]string{"SessionId": sess.ID}, nil
	}
	tok, _, err := s.issueToken(r.Context(), store.Token{ID: newTokenID(), Account: c.Account, User: c.User.Name, Kind: store.TokenAPI,
		Name: ssmResumeTokenName(sess.ID), Scopes: ssmTokenScope}, ssmTokenTTL)
	if err != nil {
		return nil, err
	}
	return map[string]string{"SessionId": sess.ID, "TokenValue": tok, "StreamUrl": "wss://" + r.Host + PathSSMDataChannel + "/" + sess.ID}, nil
}

// handleSSMDataChannel serves one of the plugin's connections to a
// session's data channel: the opening frame's TokenValue must be one that
// StartSession or ResumeSession gave for this session, whose user is
// decided on as on a resume. The first connection sets the channel up
// (ssmAttachment); after ResumeSession the plugin dials again and goes on
// with the same channel where it was.
func (s *Server) handleSSMDataChannel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return // Accept wrote the response
	}
	defer ws.CloseNow() // a channel that closed before it was served says nothing
	ctx := r.Context()
	refuse := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		s.logf("server: session %s: data channel refused: %s", id, msg)
		ws.Close(websocket.StatusPolicyViolation, clipTo(msg, 120))
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	open, err := ssmchannel.ReadOpen(octx, ws)
	cancel()
	if err != nil {
		refuse("%v", err)
		return
	}
	c, err := s.tokenCaller(ctx, open.TokenValue)
	if err != nil {
		refuse("%v", err)
		return
	}
	resuming := c.Token.Name == ssmResumeTokenName(id)
	if c.Token.Name != ssmTokenName(id) && !resuming {
		refuse("the token is not this session's data channel's")
		return
	}
	sess, err := s.store.GetSession(ctx, id)
	if err != nil || sess.Account != c.Account || sess.Owner != c.User.Name {
		refuse("no session %s of %s", id, c.User.Name)
		return
	}
	s.guard().Authenticated(r, c)
	cr, _ := httpapi.WithCaller(r, c)
	if err := s.authorizeResume(cr, sess); err != nil {
		refuse("%v", err)
		return
	}
	rl := s.relays.Get(id)
	if rl == nil && !sess.Active() && sess.Settings.Port == nil && !resuming {
		// It ended before the plugin came (a command quicker than
		// the plugin's start): its output and end, from the recording.
		s.serveSSMEnded(ctx, ws, sess)
		return
	}
	if rl == nil {
		refuse("session %s is not running on this server", id)
		return
	}
	a := s.ssm.get(id)
	if a == nil && resuming {
		// The plugin goes on with the sequence numbers of a channel
		// this server never had (the server that had it stopped): a
		// new channel would not be understood.
		refuse("the data channel of session %s was lost with the server that held it: start a new session", id)
		return
	}
	if a == nil {
		a = s.ssm.open(id, func() *ssmAttachment {
			return s.newSSMAttachment(sess, rl, r.RemoteAddr, r.URL.Query().Get("localPortNumber"))
		})
	}
	if a.shell {
		a.serveShell(ctx, ws, rl, s.logf)
		return
	}
	if err := a.ch.Serve(ctx, ws); err != nil && ctx.Err() == nil {
		s.logf("server: session %s: data channel: %v", id, err)
	}
}

// ssmChannels are the data channels of this server's sessions opened by
// the plugin, by session: a channel outlives the plugin's connections
// (ResumeSession), and is forgotten when its session ends here.
type ssmChannels struct {
	mu sync.Mutex // guards m
	m  map[string]*ssmAttachment
}

func (t *ssmChannels) get(id string) *ssmAttachment {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[id]
}

// open returns the session's channel, made by mk if it has none.
func (t *ssmChannels) open(id string, mk func() *ssmAttachment) *ssmAttachment {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.m[id]; a != nil {
		return a
	}
	if t.m == nil {
		t.m = map[string]*ssmAttachment{}
	}
	a := mk()
	t.m[id] = a
	return a
}

func (t *ssmChannels) forget(id string, a *ssmAttachment) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[id] == a {
		delete(t.m, id)
	}
}

// ssmAttachment is a session's data channel to the plugin, across the
// plugin's connections. A shell's is the relay's client while a
// connection is served (ssmClient), which resumes from the output the
// channel has taken, as a native client resumes from what it has shown;
// between connections the session is without a client, and ends if the
// plugin is not back within the relay's grace period. A port session's
// forwards its connections (serveSSMPort) whether the plugin is connected
// or on its way back.
type ssmAttachment struct {
	ch    *ssmchannel.Channel
	shell bool // a shell or a command, not a port
	pipes bool // a command without a terminal

	mu     sync.Mutex // guards client
	client *ssmClient // the relay's client of the connection served, or nil

	// wmu serializes output into the channel (a client that is ending
	// and the next may overlap) and guards the fields below.
	wmu sync.Mutex
	// offset is how much of the session's client output stream has
	// been taken: put into the channel, or into out.
	offset uint64
	// out is output taken but not yet in the channel (its Write ended
	// before all of it went in: the connection was cut); it goes first
	// on the next connection. At most one of the relay's frames.
	out bytes.Buffer
	// demux turns a command's chunked standard output and error
	// (wire.StreamDemux) into out: the plugin shows both as output.
	demux *wire.StreamDemux
	exit  string // what the channel's close tells the user
}

// serveSSMEnded serves a session that ended before the plugin's first
// connection: what the recording holds, then how it ended.
func (s *Server) serveSSMEnded(ctx context.Context, ws *websocket.Conn, sess store.Session) {
	a, _ := s.newSSMChannel(sess, sess.Settings.Pipes, "")
	sc := &ssmClient{a: a, frames: make(chan []byte), gone: make(chan struct{})}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { s.serveEnded(ctx, sc, sess, 0) })
	if err := a.ch.Serve(ctx, ws); err != nil && ctx.Err() == nil {
		s.logf("server: session %s: data channel: %v", sess.ID, err)
	}
}

// newSSMAttachment sets up sess's data channel, and what ends it: the end
// of the session here.
func (s *Server) newSSMAttachment(sess store.Session, rl *relay.Relay, remote, localPort string) *ssmAttachment {
	a, p := s.newSSMChannel(sess, rl.Pipes(), localPort)
	s.wg.Go(func() {
		ctx, cancel := context.WithCancel(s.ctx)
		// Deferred in this order so that the forwarding is told to
		// end (cancel) before it is waited for.
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		if p != nil {
			wg.Go(func() {
				s.serveSSMPort(ctx, remote, a.ch, p, sess, rl)
				close(p.done)
				cancel()
			})
		}
		rl.Wait(ctx)
		s.ssm.forget(sess.ID, a)
		switch {
		case rl.Released():
			a.ch.Close(ctx, "session "+sess.ID+" moved to another server, which cannot take its data channel: start a new session")
		case s.ctx.Err() != nil:
			a.ch.Close(context.Background(), "the server is stopping")
		case p != nil:
			a.ch.Close(ctx, "")
		}
		// A shell's channel is closed by the relay's client, with the
		// rest of the output and how the session ended; a plugin that
		// is away then resumes into a session that has ended (its
		// ResumeSession gets no token: it says the session timed out).
	})
	return a
}

// newSSMChannel makes sess's data channel; for a port session also what
// the plugin sends of it.
func (s *Server) newSSMChannel(sess store.Session, pipes bool, localPort string) (*ssmAttachment, *ssmPort) {
	a := &ssmAttachment{shell: sess.Settings.Port == nil, pipes: pipes}
	// (On the wall clock, not the server's: the channel's timers are
	// its transport's, run by a ticker, as TCP's are.)
	opts := ssmchannel.Options{SessionID: sess.ID, Target: sess.Target, Logf: s.logf}
	var p *ssmPort
	if a.shell {
		// The plugin treats the three alike; the type says what it is.
		opts.SessionType = "Standard_Stream"
		if t := sess.Settings.Type; t == string(document.InteractiveCommands) || t == string(document.NonInteractiveCommands) {
			opts.SessionType = t
		}
		opts.Input = a.input
		if a.pipes {
			a.demux = &wire.StreamDemux{Stdout: &a.out, Stderr: &a.out}
		} else {
			opts.Resize = a.resize
		}
	} else {
		port := sess.Settings.Port
		opts.SessionType = "Port"
		opts.Properties = map[string]string{"portNumber": strconv.Itoa(port.Port)}
		if !port.Stdio {
			opts.Properties["type"] = document.LocalPortForwarding
			opts.Properties["localPortNumber"] = localPort
		}
		p = &ssmPort{data: make(chan []byte, 64), flags: make(chan ssmchannel.Flag, 4), done: make(chan struct{})}
		opts.Input = p.input
	}
	a.ch = ssmchannel.NewChannel(opts)
	return a, p
}

// serveShell serves one of the plugin's connections as the relay's
// client, from the output the channel has not taken yet.
func (a *ssmAttachment) serveShell(ctx context.Context, ws *websocket.Conn, rl *relay.Relay, logf logger.Logf) {
	sc := &ssmClient{a: a, frames: make(chan []byte, 64), gone: make(chan struct{})}
	a.mu.Lock()
	a.client = sc
	a.mu.Unlock()
	a.wmu.Lock()
	offset := a.offset
	a.wmu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		// What the last connection took but could not send first.
		a.wmu.Lock()
		err := a.flush(ctx)
		a.wmu.Unlock()
		if err == nil {
			rl.ServeClient(ctx, sc, offset, false)
		}
		if !a.ch.Closing() {
			cancel() // no client, no connection (a closing channel's Serve ends with its close)
		}
	})
	if err := a.ch.Serve(ctx, ws); err != nil && ctx.Err() == nil {
		logf("server: session %s: data channel: %v", rl.ID(), err)
	}
	sc.leave()
	wg.Wait()
	a.mu.Lock()
	if a.client == sc {
		a.client = nil
	}
	a.mu.Unlock()
}

// input takes the plugin's keys (or a flag, ignored for a terminal).
func (a *ssmAttachment) input(pt ssmchannel.PayloadType, b []byte) {
	if pt == ssmchannel.PayloadOutput {
		a.send(wire.AppendFrame(nil, wire.TInput, b))
	}
}

func (a *ssmAttachment) resize(cols, rows int) {
	a.send(wire.AppendFrame(nil, wire.TResize, wire.AppendResize(nil, cols, rows)))
}

// send hands a frame to the relay's reader of the connection served.
func (a *ssmAttachment) send(f []byte) {
	a.mu.Lock()
	c := a.client
	a.mu.Unlock()
	if c != nil {
		c.send(f)
	}
}

// ssmClient is the relay's client while one of the plugin's connections
// is served: the relay's frames (wire) in, the channel's messages out.
type ssmClient struct {
	a      *ssmAttachment
	frames chan []byte   // input and resize frames for the relay
	gone   chan struct{} // closed when the plugin's connection has ended
	once   sync.Once
}

var _ relay.ClientConn = (*ssmClient)(nil)

// send hands a frame to the relay's reader; the channel's reader waits
// for it (the plugin's input then waits for its acknowledgement).
func (c *ssmClient) send(f []byte) {
	select {
	case c.frames <- f:
	case <-c.gone:
	}
}

// leave ends the attachment: the plugin's connection ended.
func (c *ssmClient) leave() { c.once.Do(func() { close(c.gone) }) }

func (c *ssmClient) Read(ctx context.Context) (websocket.MessageType, []byte, error) {
	select {
	case f := <-c.frames:
		return websocket.MessageBinary, f, nil
	case <-c.gone:
		return 0, nil, io.EOF
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
}

// Write takes the relay's frames: output goes to the plugin (what the
// channel took on an earlier connection skipped), a notice as a line of
// its own, the exit to the channel's close.
func (c *ssmClient) Write(ctx context.Context, _ websocket.MessageType, p []byte) error {
	f, err := wire.DecodeFrame(p)
	if err != nil {
		return err
	}
	a := c.a
	a.wmu.Lock()
	defer a.wmu.Unlock()
	switch f.Type {
	case wire.TOutput:
		off, data, err := wire.ParseOutput(f.Payload)
		if err != nil {
			return err
		}
		if off > a.offset {
			return fmt.Errorf("output resumes at %d, the channel has taken %d", off, a.offset)
		}
		if skip := a.offset - off; skip < uint64(len(data)) {
			data = data[skip:]
			if a.demux != nil {
				if _, err := a.demux.Write(data); err != nil {
					return err
				}
			} else {
				a.out.Write(data)
			}
			a.offset += uint64(len(data))
		}
		return a.flush(ctx)
	case wire.TNotice:
		a.out.WriteString("\r\n" + string(f.Payload) + "\r\n")
		return a.flush(ctx)
	case wire.TExit:
		var e wire.Exit
		if err := json.Unmarshal(f.Payload, &e); err != nil {
			return err
		}
		a.exit = ssmExitMessage(e.Status, e.Code, e.Reason)
	case wire.TError:
		a.exit = string(f.Payload)
	}
	return nil
}

// ssmExitMessage is what the plugin prints when the session has ended.
func ssmExitMessage(status string, code int, reason string) string {
	msg := fmt.Sprintf("%s, exit code %d", status, code)
	if reason != "" && reason != "Exited" {
		msg += " (" + reason + ")"
	}
	return msg
}

// flush puts what was taken into the channel. a.wmu is held.
func (a *ssmAttachment) flush(ctx context.Context) error {
	n, err := a.ch.Write(ctx, a.out.Bytes())
	a.out.Next(n)
	return err
}

// Close ends the channel, telling the plugin how the session ended.
func (c *ssmClient) Close(websocket.StatusCode, string) error {
	c.a.wmu.Lock()
	exit := c.a.exit
	c.a.wmu.Unlock()
	err := c.a.ch.Close(context.Background(), exit)
	c.leave()
	return err
}

// CloseNow ends this client but not the channel: the relay lets go of a
// client that left (the plugin's connection was cut: it comes back) or
// failed, or of a session it handed over (newSSMAttachment tells the
// plugin); the connection's Serve then ends (serveShell).
func (c *ssmClient) CloseNow() error {
	c.leave()
	return nil
}

// Ping answers for the channel, which keeps its own connection alive: a
// plugin that has gone ends Serve, and with it this client.
func (c *ssmClient) Ping(ctx context.Context) error {
	select {
	case <-c.gone:
		return errors.New("the plugin's connection ended")
	default:
		return nil
	}
}

// serveSSMPort carries a port session over the plugin's data channel
// until ctx ends: each connection the plugin accepts on its side is one
// connection through the session's relay, recorded as `postern
// forward`'s are. A local port's connections are multiplexed (smux,
// serveSSMMux); ssh's ProxyCommand has one, whose bytes are the channel's
// output payloads, ended by a DisconnectToPort flag.
func (s *Server) serveSSMPort(ctx context.Context, remote string, ch *ssmchannel.Channel, p *ssmPort, sess store.Session, rl *relay.Relay) {
	if !sess.Settings.Port.Stdio {
		s.serveSSMMux(ctx, remote, ch, p, sess, rl)
		return
	}
	for {
		// A connection begins with its first bytes.
		var first []byte
		select {
		case <-ctx.Done():
			return
		case first = <-p.data:
		case f := <-p.flags:
			if f == ssmchannel.FlagTerminateSession {
				rl.Terminate("TerminatedByUser")
			}
			continue
		}
		ac := s.agent(sess.Target)
		if ac == nil {
			ch.Close(ctx, "node "+sess.Target+" is offline")
			return
		}
		err := rl.Forward(ctx, &ac.Link, remote, func(connCtx context.Context) (io.ReadWriteCloser, error) {
			return &ssmPortConn{ctx: connCtx, channel: ctx, ch: ch, p: p, pending: first, closed: make(chan struct{})}, nil
		})
		if ce := (*relay.ConnectError)(nil); errors.As(err, &ce) {
			s.logf("server: session %s: data channel: %v", sess.ID, ce.Err)
		}
		if sess.Settings.Port.Stdio || rl.Ended() {
			// ssh's one connection is the session: it ends with it.
			ch.Close(ctx, "")
			return
		}
	}
}

// serveSSMMux serves the smux session the plugin runs over the channel
// for a local port: each stream it opens is a connection it accepted,
// all of them at once if need be.
func (s *Server) serveSSMMux(ctx context.Context, remote string, ch *ssmchannel.Channel, p *ssmPort, sess store.Session, rl *relay.Relay) {
	cfg := smux.DefaultConfig()
	cfg.KeepAliveDisabled = true // as the plugin's: idle sessions must time out
	ms, err := smux.Server(&ssmMuxConn{ctx: ctx, ch: ch, p: p}, cfg)
	if err != nil {
		s.logf("server: session %s: data channel: %v", sess.ID, err)
		return
	}
	// Deferred in this order so that the streams and the flags'
	// reader are told to end (ms.Close, ctx) before they are waited for.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ms.Close()
	stop := context.AfterFunc(ctx, func() { ms.Close() })
	defer stop()
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-ms.CloseChan():
				return
			case f := <-p.flags:
				if f == ssmchannel.FlagTerminateSession {
					rl.Terminate("TerminatedByUser")
				}
			}
		}
	})
	for {
		st, err := ms.AcceptStream()
		if err != nil {
			return // the channel, or the session, ended
		}
		ac := s.agent(sess.Target)
		if ac == nil {
			st.Close()
			ch.Close(ctx, "node "+sess.Target+" is offline")
			return
		}
		wg.Go(func() {
			defer st.Close()
			err := rl.Forward(ctx, &ac.Link, remote, func(context.Context) (io.ReadWriteCloser, error) { return st, nil })
			if ce := (*relay.ConnectError)(nil); errors.As(err, &ce) {
				s.logf("server: session %s: data channel: %v", sess.ID, ce.Err)
			}
		})
	}
}

// ssmMuxConn is the channel's byte stream both ways, on which the plugin
// runs an smux client: what it sends as output payloads in, Write out.
type ssmMuxConn struct {
	ctx     context.Context
	ch      *ssmchannel.Channel
	p       *ssmPort
	pending []byte // read, not yet handed over
}

func (c *ssmMuxConn) Read(b []byte) (int, error) {
	for len(c.pending) == 0 {
		select {
		case c.pending = <-c.p.data:
		case <-c.ctx.Done():
			return 0, io.EOF
		}
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *ssmMuxConn) Write(b []byte) (int, error) { return c.ch.Write(c.ctx, b) }

// Close leaves the channel to its owner (newSSMAttachment).
func (c *ssmMuxConn) Close() error { return nil }

// ssmPort is what the plugin sends of a port session: the connection's
// bytes, and flags.
type ssmPort struct {
	data  chan []byte
	flags chan ssmchannel.Flag
	done  chan struct{} // closed when the session's forwarding has ended
}

func (p *ssmPort) input(pt ssmchannel.PayloadType, b []byte) {
	switch pt {
	case ssmchannel.PayloadOutput:
		select {
		case p.data <- bytes.Clone(b):
		case <-p.done:
		}
	case ssmchannel.PayloadFlag:
		select {
		case p.flags <- ssmchannel.Flag(binary.BigEndian.Uint32(b)):
		case <-p.done:
		}
	}
}

// ssmPortConn is one forwarded connection's plugin side, for the relay.
// It ends when the plugin ends it (a flag), the plugin's channel ends
// (channel), the relay closes it (the target closed its side), or the
// session ends (ctx).
type ssmPortConn struct {
	ctx, channel context.Context
	ch           *ssmchannel.Channel
	p            *ssmPort
	pending      []byte // read, not yet handed over
	closed       chan struct{}
	closeOnce    sync.Once
}

func (c *ssmPortConn) Read(b []byte) (int, error) {
	for len(c.pending) == 0 {
		select {
		case c.pending = <-c.p.data:
		case f := <-c.p.flags:
			if f == ssmchannel.FlagDisconnectToPort || f == ssmchannel.FlagTerminateSession {
				if f == ssmchannel.FlagTerminateSession {
					c.p.flags <- f // for serveSSMPort, which ends the session
				}
				return 0, io.EOF
			}
		case <-c.ctx.Done():
			return 0, io.EOF
		case <-c.channel.Done():
			return 0, io.EOF
		case <-c.closed:
			return 0, io.EOF
		}
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *ssmPortConn) Write(b []byte) (int, error) { return c.ch.Write(c.ctx, b) }

func (c *ssmPortConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}
