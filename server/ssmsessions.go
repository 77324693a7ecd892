package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
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
	sess, _, _, err := s.startRequested(r, req, func(p sessionPlan) error {
		// What the data channel carries so far: a terminal.
		if p.settings.Port != nil || p.settings.Desktop != nil || p.pipes {
			return awsErrorf(http.StatusBadRequest, awsValidation, "document %s is not a shell or interactive command session: port forwarding and commands without a terminal through aws ssm start-session are not supported yet (use postern forward / postern exec)", p.document)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c := callerOf(r)
	tok, _, err := s.issueToken(r.Context(), store.Token{ID: newTokenID(), Account: c.Account, User: c.User.Name, Kind: store.TokenAPI,
		Name: ssmTokenName(sess.ID), Scopes: ssmTokenScope}, ssmTokenTTL)
	if err != nil {
		return nil, err
	}
	return map[string]string{"SessionId": sess.ID, "TokenValue": tok, "StreamUrl": "wss://" + r.Host + PathSSMDataChannel + "/" + sess.ID}, nil
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
