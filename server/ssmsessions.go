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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/document"
	"github.com/postern/postern/httpapi"
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
		// What the data channel carries: a terminal, or a port.
		if p.settings.Desktop != nil || p.pipes {
			return awsErrorf(http.StatusBadRequest, awsValidation, "document %s runs without a terminal, or is a desktop: through aws ssm start-session only shells, interactive commands and port forwarding are supported yet (use postern exec / postern desktop)", p.document)
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

// handleSSMDataChannel serves the plugin's data channel of a session: the
// opening frame's TokenValue must be the one StartSession gave for this
// session, whose user is decided on as on a resume.
func (s *Server) handleSSMDataChannel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return // Accept wrote the response
	}
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
	if c.Token.Name != ssmTokenName(id) {
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
	if rl == nil {
		refuse("session %s is not running on this server", id)
		return
	}
	if sess.Settings.Port != nil {
		s.serveSSMPort(ctx, r, ws, sess, rl)
		return
	}
	sc := &ssmClient{frames: make(chan []byte, 64), gone: make(chan struct{})}
	sc.ch = ssmchannel.NewChannel(ssmchannel.Options{
		SessionType: "Standard_Stream", SessionID: id, Target: sess.Target, Now: s.now, Logf: s.logf,
		Input:  sc.input,
		Resize: sc.resize,
	})
	var wg sync.WaitGroup
	wg.Go(func() { rl.ServeClient(ctx, sc, 0, false) })
	if err := sc.ch.Serve(ctx, ws); err != nil && ctx.Err() == nil {
		s.logf("server: session %s: data channel: %v", id, err)
	}
	sc.leave()
	wg.Wait()
}

// ssmClient is a session's client that is the plugin's data channel: the
// relay's frames (wire) in, the channel's messages out.
type ssmClient struct {
	ch     *ssmchannel.Channel
	frames chan []byte   // input and resize frames for the relay
	gone   chan struct{} // closed when the plugin's connection has ended

	mu   sync.Mutex // guards exit
	exit string     // what the channel's close tells the user
	once sync.Once
}

var _ relay.ClientConn = (*ssmClient)(nil)

// input takes the plugin's keys (or a flag, ignored for a terminal).
func (c *ssmClient) input(pt ssmchannel.PayloadType, b []byte) {
	if pt != ssmchannel.PayloadOutput {
		return
	}
	c.send(wire.AppendFrame(nil, wire.TInput, b))
}

func (c *ssmClient) resize(cols, rows int) {
	c.send(wire.AppendFrame(nil, wire.TResize, wire.AppendResize(nil, cols, rows)))
}

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

// Write takes the relay's frames: output goes to the plugin, a notice as
// a line of its own, the exit to the channel's close.
func (c *ssmClient) Write(ctx context.Context, _ websocket.MessageType, p []byte) error {
	f, err := wire.DecodeFrame(p)
	if err != nil {
		return err
	}
	switch f.Type {
	case wire.TOutput:
		_, data, err := wire.ParseOutput(f.Payload)
		if err != nil {
			return err
		}
		_, err = c.ch.Write(ctx, data)
		return err
	case wire.TNotice:
		_, err := c.ch.Write(ctx, []byte("\r\n"+string(f.Payload)+"\r\n"))
		return err
	case wire.TExit:
		var e wire.Exit
		if err := json.Unmarshal(f.Payload, &e); err != nil {
			return err
		}
		msg := fmt.Sprintf("%s, exit code %d", e.Status, e.Code)
		if e.Reason != "" && !slices.Contains([]string{"", "Exited"}, e.Reason) {
			msg += " (" + e.Reason + ")"
		}
		c.mu.Lock()
		c.exit = msg
		c.mu.Unlock()
	case wire.TError:
		c.mu.Lock()
		c.exit = string(f.Payload)
		c.mu.Unlock()
	}
	return nil
}

// Close ends the channel, telling the plugin how the session ended.
func (c *ssmClient) Close(websocket.StatusCode, string) error {
	c.mu.Lock()
	exit := c.exit
	c.mu.Unlock()
	err := c.ch.Close(context.Background(), exit)
	c.leave()
	return err
}

// CloseNow ends the channel at once.
func (c *ssmClient) CloseNow() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no waiting for acknowledgements
	err := c.ch.Close(ctx, "")
	c.leave()
	return err
}

// Ping answers for the channel, which keeps its own connection alive: a
// plugin that has gone ends Serve, and with it this attachment.
func (c *ssmClient) Ping(ctx context.Context) error {
	select {
	case <-c.gone:
		return errors.New("the plugin's connection ended")
	default:
		return nil
	}
}

// serveSSMPort carries a port session over the plugin's data channel:
// each connection the plugin accepts on its side (one, for ssh's
// ProxyCommand) is one connection through the session's relay, recorded
// as `postern forward`'s are. The plugin sends the connection's bytes as
// output payloads and ends it with a DisconnectToPort flag; the next bytes
// open the next.
func (s *Server) serveSSMPort(ctx context.Context, r *http.Request, ws *websocket.Conn, sess store.Session, rl *relay.Relay) {
	port := sess.Settings.Port
	props := map[string]string{"portNumber": strconv.Itoa(port.Port)}
	if !port.Stdio {
		props["type"] = document.LocalPortForwarding
		props["localPortNumber"] = r.URL.Query().Get("localPortNumber")
	}
	p := &ssmPort{data: make(chan []byte, 64), flags: make(chan ssmchannel.Flag, 4)}
	ch := ssmchannel.NewChannel(ssmchannel.Options{
		SessionType: "Port", Properties: props, SessionID: sess.ID, Target: sess.Target, Now: s.now, Logf: s.logf,
		Input: p.input,
	})
	// Deferred in this order so that the goroutines are told to end
	// (cancel) before they are waited for.
	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		defer cancel()
		if err := ch.Serve(sctx, ws); err != nil && sctx.Err() == nil {
			s.logf("server: session %s: data channel: %v", sess.ID, err)
		}
	})
	ended := make(chan struct{})
	wg.Go(func() { rl.Wait(sctx); close(ended) })
	for {
		// A connection begins with its first bytes.
		var first []byte
		select {
		case <-sctx.Done():
			return
		case first = <-p.data:
		case f := <-p.flags:
			if f == ssmchannel.FlagTerminateSession {
				rl.Terminate("TerminatedByUser")
			}
			continue
		case <-ended:
			ch.Close(sctx, "")
			return
		}
		ac := s.agent(sess.Target)
		if ac == nil {
			ch.Close(sctx, "node "+sess.Target+" is offline")
			return
		}
		err := rl.Forward(sctx, &ac.Link, r.RemoteAddr, func(connCtx context.Context) (io.ReadWriteCloser, error) {
			return &ssmPortConn{ctx: connCtx, channel: sctx, ch: ch, p: p, pending: first, closed: make(chan struct{})}, nil
		})
		if ce := (*relay.ConnectError)(nil); errors.As(err, &ce) {
			s.logf("server: session %s: data channel: %v", sess.ID, ce.Err)
		}
		if port.Stdio || rl.Ended() {
			// ssh's one connection is the session: it ends with it.
			ch.Close(sctx, "")
			return
		}
	}
}

// ssmPort is what the plugin sends of a port session: the connection's
// bytes, and flags.
type ssmPort struct {
	data  chan []byte
	flags chan ssmchannel.Flag
}

func (p *ssmPort) input(pt ssmchannel.PayloadType, b []byte) {
	switch pt {
	case ssmchannel.PayloadOutput:
		p.data <- bytes.Clone(b)
	case ssmchannel.PayloadFlag:
		p.flags <- ssmchannel.Flag(binary.BigEndian.Uint32(b))
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
