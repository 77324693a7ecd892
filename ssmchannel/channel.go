package ssmchannel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/logger"
)

// A Channel is the server's side of one session's data channel. It
// outlives the plugin's WebSocket connections (the plugin dials again
// after ResumeSession and goes on with the same sequence numbers), so it
// keeps both directions' sequence state and the output not acknowledged
// yet, and Serve runs one connection at a time.
//
// Output (Write) is cut into messages of at most outputChunk bytes,
// numbered, and kept until the plugin acknowledges each; the oldest is
// sent again when it has waited longer than the retransmission timeout,
// computed from round trips as TCP does (RFC 6298), as the plugin and
// AWS's agent do. At most maxUnacked bytes wait for acknowledgement:
// Write blocks beyond that, so a plugin that stops reading slows the
// session rather than growing the server's memory. Input is acknowledged
// at once (duplicates too: the plugin sends every 100 ms until it sees an
// acknowledgement), handed over in sequence order exactly once, and
// messages that arrive early wait, a bounded number of them.
type Channel struct {
	opts Options

	mu sync.Mutex // guards the fields below
	// cond is signalled when an acknowledgement frees room, a
	// connection comes or goes, or the channel closes.
	cond      *sync.Cond
	nextOut   int64      // the next output message's sequence number
	unacked   []*pending // sent (or to be sent), not acknowledged, in order
	unackedN  int        // their payload bytes
	rto, srtt time.Duration
	rttvar    time.Duration
	expectIn  int64             // the next input sequence number to hand over
	early     map[int64]Message // input that came before its turn
	responded bool              // the plugin answered the handshake request
	ready     bool              // the handshake completed: output may flow
	conn      *websocket.Conn   // the connection being served; nil between
	gen       uint64            // counts connections: which one conn is
	since     time.Time         // when conn began to be served
	// closing is set by Close: the channel ends, with closeOutput, once
	// its output is acknowledged (or closeDrainMax has passed) on a
	// connection, this one or the plugin's next; closeAt is when.
	closing     bool
	closeOutput string
	closeAt     time.Time
	closed      bool

	// kick wakes the send loop when output is queued or the
	// handshake completes.
	kick chan struct{}
}

// pending is an output message waiting for its acknowledgement.
type pending struct {
	m        Message
	frame    []byte
	sent     time.Time // first sent; zero until then
	lastSent time.Time // last sent on connection gen; zero if not on it yet
	gen      uint64    // the connection it was last sent on
	earlier  bool      // sent on a connection before gen too
	resends  int
}

// Options configure a Channel.
type Options struct {
	// SessionType is "Standard_Stream" (a shell or a command) or "Port";
	// Properties the session document's properties for a port session
	// (portNumber, type, localPortNumber: strings).
	SessionType string
	Properties  map[string]string
	// SessionID and Target name the session in channel_closed.
	SessionID, Target string
	// Input receives the plugin's input in order: keystrokes or port
	// data (PayloadOutput), flags (PayloadFlag). It must not block for
	// long: the connection's reader waits for it.
	Input func(PayloadType, []byte)
	// Resize receives the plugin's terminal size.
	Resize func(cols, rows int)
	Now    func() time.Time
	Logf   logger.Logf
}

// agentVersion is the version the handshake claims, which decides how
// the plugin forwards a port (src/version/versionvalidator.go): above
// 2.3.722.0 it ends a port session with a flag rather than its own call
// to TerminateSession; above 3.0.196.0 it multiplexes a local port's
// connections over the channel with smux, and above 3.1.1511.0 without
// smux's keep-alives (which would keep an idle session from timing out).
const agentVersion = "3.3.987.0"

// outputChunk is the most output one message carries, as AWS's agent
// sends.
const outputChunk = 1024

// maxUnacked bounds the output bytes waiting for acknowledgement.
const maxUnacked = 256 << 10

// maxEarly bounds the input messages kept for later when they come
// before their turn; beyond it they are dropped unacknowledged, and the
// plugin sends them again.
const maxEarly = 256

// Retransmission: the initial timeout, its bounds, how often the oldest
// message is looked at, and how long a message may go unacknowledged
// before the channel gives up (the plugin gives up after as long).
const (
	initialRTO    = 200 * time.Millisecond
	minRTO        = 10 * time.Millisecond
	maxRTO        = time.Second
	resendEvery   = 100 * time.Millisecond
	resendGiveUp  = 5 * time.Minute
	closeDrainMax = 5 * time.Second
)

// handshake sequence numbers: the request and the completion come first.
const (
	seqHandshakeRequest  = 0
	seqHandshakeComplete = 1
)

// ErrGaveUp is Serve's error when the plugin stopped acknowledging.
var ErrGaveUp = errors.New("the plugin acknowledged nothing for " + resendGiveUp.String())

// NewChannel returns a channel that has sent nothing yet.
func NewChannel(opts Options) *Channel {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = logger.Discard
	}
	if opts.Input == nil {
		opts.Input = func(PayloadType, []byte) {}
	}
	if opts.Resize == nil {
		opts.Resize = func(int, int) {}
	}
	c := &Channel{opts: opts, rto: initialRTO, early: map[int64]Message{}, kick: make(chan struct{}, 1)}
	c.cond = sync.NewCond(&c.mu)
	props := any(nil)
	if opts.Properties != nil {
		props = opts.Properties
	}
	req, _ := json.Marshal(HandshakeRequest{AgentVersion: agentVersion, RequestedClientActions: []RequestedAction{{
		ActionType: "SessionType", ActionParameters: SessionTypeRequest{SessionType: opts.SessionType, Properties: props},
	}}})
	complete, _ := json.Marshal(HandshakeComplete{})
	c.queueLocked(PayloadHandshakeRequest, req)       // seqHandshakeRequest
	c.queueLocked(PayloadHandshakeComplete, complete) // seqHandshakeComplete, sent once the plugin responds
	return c
}

// ReadOpen reads the plugin's first frame on a new connection: who it is
// and its token.
func ReadOpen(ctx context.Context, ws *websocket.Conn) (OpenDataChannel, error) {
	typ, b, err := ws.Read(ctx)
	if err != nil {
		return OpenDataChannel{}, fmt.Errorf("ssmchannel: reading the opening frame: %w", err)
	}
	var o OpenDataChannel
	if typ != websocket.MessageText {
		return o, fmt.Errorf("ssmchannel: the opening frame is binary, want the text of OpenDataChannelInput")
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return o, fmt.Errorf("ssmchannel: the opening frame: %w", err)
	}
	if o.TokenValue == "" {
		return o, errors.New("ssmchannel: the opening frame carries no TokenValue")
	}
	return o, nil
}

// Serve runs the channel over ws, whose opening frame has been read,
// until the connection fails, ctx ends, or the channel is closed (nil).
// The output not acknowledged on a previous connection is sent again
// first. One connection at a time: Serve on another connection takes
// over.
func (c *Channel) Serve(ctx context.Context, ws *websocket.Conn) error {
	ws.SetReadLimit(payloadOffset + MaxPayload)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	if c.conn != nil {
		c.conn.Close(websocket.StatusGoingAway, "the plugin connected again")
	}
	c.conn = ws
	c.gen++
	c.since = c.opts.Now()
	for _, p := range c.unacked {
		// All of it again, on the new connection: the plugin may
		// have it already (its acknowledgement lost with the old
		// connection), see acknowledged.
		p.earlier = p.earlier || !p.sent.IsZero()
		p.lastSent = time.Time{}
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.conn == ws {
			c.conn = nil
		}
		c.cond.Broadcast()
		c.mu.Unlock()
	}()

	errc := make(chan error, 2)
	go func() { errc <- c.sendLoop(ctx, ws) }()
	go func() { errc <- c.readLoop(ctx, ws) }()
	err := <-errc
	cancel()
	if err2 := <-errc; errors.Is(err2, ErrGaveUp) {
		err = err2 // the reader may have seen the close first
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed && !errors.Is(err, ErrGaveUp) {
		return nil
	}
	return err
}

// sendLoop sends what is due: messages never sent on this connection,
// and the oldest again once its timeout passed.
func (c *Channel) sendLoop(ctx context.Context, ws *websocket.Conn) error {
	t := time.NewTicker(resendEvery)
	defer t.Stop()
	for {
		frames, err := c.due(ws)
		if errors.Is(err, ErrGaveUp) {
			// The plugin is there but takes nothing (AWS's agent and
			// the plugin give up as long after): it is told why, as
			// a user who is still looking would want.
			c.finish(ctx, "the session's output went unacknowledged for "+resendGiveUp.String()+": the plugin is not taking it; the channel is closed")
			return err
		}
		if err != nil {
			return err
		}
		for _, f := range frames {
			if err := ws.Write(ctx, websocket.MessageBinary, f); err != nil {
				return err
			}
		}
		if output, ok := c.finishing(ws); ok {
			return c.finish(ctx, output)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-c.kick:
		}
	}
}

// poke wakes the send loop.
func (c *Channel) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// due returns the frames to send on ws now, marking them sent. It fails
// once the oldest message has gone unacknowledged for resendGiveUp.
func (c *Channel) due(ws *websocket.Conn) ([][]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != ws {
		return nil, errors.New("ssmchannel: another connection took over")
	}
	now := c.opts.Now()
	var out [][]byte
	for i, p := range c.unacked {
		if p.m.Seq == seqHandshakeComplete && !c.responded || p.m.Seq > seqHandshakeComplete && !c.ready {
			// The completion waits for the plugin's response, and
			// output for the completion's acknowledgement: output
			// the plugin takes before it has set its session up is
			// lost (src/datachannel/streaming.go).
			break
		}
		switch {
		case p.lastSent.IsZero():
			// Never sent on this connection.
		case i == 0 && now.Sub(p.lastSent) >= c.rto:
			if now.Sub(p.sent) >= resendGiveUp {
				return nil, fmt.Errorf("ssmchannel: message %d: %w", p.m.Seq, ErrGaveUp)
			}
			p.resends++
		default:
			continue
		}
		if p.sent.IsZero() {
			p.sent = now
		}
		p.lastSent, p.gen = now, c.gen
		out = append(out, p.frame)
	}
	return out, nil
}

// queueLocked numbers a stream message and queues it. c.mu is held (or
// c is not shared yet).
func (c *Channel) queueLocked(pt PayloadType, payload []byte) {
	m := Message{Type: OutputStreamData, SchemaVersion: 1, Created: c.opts.Now(), Seq: c.nextOut, ID: newID(), PayloadType: pt, Payload: payload}
	c.nextOut++
	c.unacked = append(c.unacked, &pending{m: m, frame: m.Marshal()})
	c.unackedN += len(payload)
}

// Write sends p to the plugin as output, in messages of at most
// outputChunk bytes. It blocks while maxUnacked bytes wait for
// acknowledgement, until ctx ends or the channel closes.
func (c *Channel) Write(ctx context.Context, p []byte) (int, error) {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for len(p) > 0 {
		for !c.closed && ctx.Err() == nil && c.unackedN >= maxUnacked {
			c.cond.Wait()
		}
		if c.closed {
			return n, net.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k := min(len(p), outputChunk)
		c.queueLocked(PayloadOutput, bytes.Clone(p[:k]))
		p, n = p[k:], n+k
		c.poke()
	}
	return n, nil
}

// Close ends the channel: once its output is acknowledged (or
// closeDrainMax has passed) on a connection, it tells the plugin the
// channel closed, with output to print (the plugin prints a line of its
// own when it is empty), and ends Serve. Without a connection (the
// plugin has not dialled yet, or is on its way back) the end waits for
// the next: what was written, and how it ended, is not lost. Output may
// still be written until then. Close waits for the end up to
// closeDrainMax, or ctx; the first Close's output is the one told.
func (c *Channel) Close(ctx context.Context, output string) error {
	ctx, cancel := context.WithTimeout(ctx, closeDrainMax)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && !c.closing {
		c.closing, c.closeOutput, c.closeAt = true, output, c.opts.Now()
		c.poke()
	}
	for !c.closed && ctx.Err() == nil {
		c.cond.Wait()
	}
	return nil
}

// Closing reports whether Close was called.
func (c *Channel) Closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing || c.closed
}

// finishing reports whether the channel, closing, may end on ws now, and
// with what output.
func (c *Channel) finishing(ws *websocket.Conn) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closing || c.closed || c.conn != ws {
		return "", false
	}
	start := c.since
	if c.closeAt.After(start) {
		start = c.closeAt
	}
	return c.closeOutput, len(c.unacked) == 0 || c.opts.Now().Sub(start) >= closeDrainMax
}

// finish closes the channel at once: channel_closed with output on the
// connection served, if any, and Serve ends.
func (c *Channel) finish(ctx context.Context, output string) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	ws := c.conn
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	if ws == nil {
		return nil
	}
	now := c.opts.Now()
	payload, _ := json.Marshal(ChannelClosedPayload{
		MessageID: UUID(newID()), CreatedDate: now.UTC().Format(time.RFC3339Nano), DestinationID: c.opts.Target,
		SessionID: c.opts.SessionID, MessageType: ChannelClosed, SchemaVersion: 1, Output: output,
	})
	m := Message{Type: ChannelClosed, SchemaVersion: 1, Created: now, ID: newID(), Payload: payload}
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), closeDrainMax)
	defer wcancel()
	err := ws.Write(wctx, websocket.MessageBinary, m.Marshal())
	ws.Close(websocket.StatusNormalClosure, "")
	return err
}

// newID returns a random version 4 UUID, as the plugin makes.
func newID() [16]byte {
	var id [16]byte
	rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// readLoop reads the plugin's messages until the connection fails.
func (c *Channel) readLoop(ctx context.Context, ws *websocket.Conn) error {
	for {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageBinary {
			continue // the plugin sends only its opening frame as text
		}
		m, err := Unmarshal(b)
		if err != nil {
			// Dropped, as the plugin drops what it cannot read: a
			// stream message comes again, unacknowledged.
			c.opts.Logf("ssmchannel: session %s: %v; dropped", c.opts.SessionID, err)
			continue
		}
		switch m.Type {
		case Acknowledge:
			c.acknowledged(m)
		case InputStreamData:
			if err := c.input(ctx, ws, m); err != nil {
				return err
			}
		default:
			c.opts.Logf("ssmchannel: session %s: message type %q from the plugin; ignored", c.opts.SessionID, m.Type)
		}
	}
}

// acknowledged takes an acknowledgement: the message it names is done.
// Acknowledgements are individual, not cumulative.
//
// One inference makes up for the plugin's silence about duplicates: it
// drops a message it has handed over already without acknowledging it
// again (src/datachannel/streaming.go), so a message whose
// acknowledgement was lost with a connection would be sent again
// forever. The plugin reads a connection's messages in order and
// acknowledges each it takes before reading the next; messages are first
// sent on a connection in sequence order. So when it acknowledges a
// message, every earlier one sent on the same connection was either
// acknowledged before it, or dropped as a duplicate: those still waiting
// that had also been sent on an earlier connection are done. (A message
// first sent on this connection cannot be a duplicate, and is left to
// its own acknowledgement.)
func (c *Channel) acknowledged(m Message) {
	var a Ack
	if err := json.Unmarshal(m.Payload, &a); err != nil {
		c.opts.Logf("ssmchannel: session %s: acknowledgement: %v; ignored", c.opts.SessionID, err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.unacked, func(p *pending) bool { return p.m.Seq == a.Seq })
	if i < 0 {
		return
	}
	p := c.unacked[i]
	if p.resends == 0 && !p.earlier && !p.sent.IsZero() {
		c.sampleRTT(c.opts.Now().Sub(p.sent))
	}
	gen := p.gen
	c.unacked = slices.DeleteFunc(c.unacked, func(q *pending) bool {
		done := q == p || q.m.Seq < p.m.Seq && q.earlier && q.gen == gen && !q.lastSent.IsZero()
		if done {
			c.unackedN -= len(q.m.Payload)
			if q.m.Seq == seqHandshakeComplete {
				c.ready = true
				c.poke()
			}
		}
		return done
	})
	if c.closing {
		c.poke() // it may end now
	}
	c.cond.Broadcast()
}

// sampleRTT updates the retransmission timeout with a round trip
// (RFC 6298, without its 1 s floor: the plugin's peers use 10 ms).
func (c *Channel) sampleRTT(r time.Duration) {
	if c.srtt == 0 {
		c.srtt, c.rttvar = r, r/2
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.rto = min(max(c.srtt+max(minRTO, 4*c.rttvar), minRTO), maxRTO)
}

// input acknowledges a stream message and hands it, and those that were
// waiting for it, over in order.
func (c *Channel) input(ctx context.Context, ws *websocket.Conn, m Message) error {
	c.mu.Lock()
	switch {
	case m.Seq < c.expectIn:
		// Handed over already: its acknowledgement was lost.
	case m.Seq > c.expectIn:
		if _, ok := c.early[m.Seq]; !ok {
			if len(c.early) >= maxEarly {
				c.mu.Unlock()
				return nil // not acknowledged: it comes again
			}
			m.Payload = bytes.Clone(m.Payload)
			c.early[m.Seq] = m
		}
	}
	c.mu.Unlock()
	ack, _ := json.Marshal(Ack{Type: m.Type, ID: UUID(m.ID), Seq: m.Seq, Sequential: true})
	am := Message{Type: Acknowledge, SchemaVersion: 1, Created: c.opts.Now(), Flags: 3, ID: newID(), Payload: ack}
	if err := ws.Write(ctx, websocket.MessageBinary, am.Marshal()); err != nil {
		return err
	}
	for {
		c.mu.Lock()
		if c.conn != ws {
			c.mu.Unlock()
			return errors.New("ssmchannel: another connection took over")
		}
		if m.Seq != c.expectIn {
			next, ok := c.early[c.expectIn]
			if !ok {
				c.mu.Unlock()
				return nil
			}
			delete(c.early, c.expectIn)
			m = next
		}
		c.expectIn++
		c.mu.Unlock()
		c.handle(m)
	}
}

// handle acts on one input message, in sequence order.
func (c *Channel) handle(m Message) {
	switch m.PayloadType {
	case PayloadHandshakeResponse:
		var r HandshakeResponse
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			c.opts.Logf("ssmchannel: session %s: handshake response: %v", c.opts.SessionID, err)
		}
		for _, a := range r.ProcessedClientActions {
			if a.ActionStatus != 1 {
				c.opts.Logf("ssmchannel: session %s: the plugin did not take %s: status %d %s", c.opts.SessionID, a.ActionType, a.ActionStatus, a.Error)
			}
		}
		c.mu.Lock()
		c.responded = true
		c.mu.Unlock()
		c.poke()
	case PayloadSize:
		var s SizeData
		if err := json.Unmarshal(m.Payload, &s); err == nil && s.Cols > 0 && s.Rows > 0 && s.Cols <= 10000 && s.Rows <= 10000 {
			c.opts.Resize(int(s.Cols), int(s.Rows))
		}
	case PayloadOutput:
		c.opts.Input(PayloadOutput, m.Payload)
	case PayloadFlag:
		if len(m.Payload) == 4 {
			c.opts.Input(PayloadFlag, m.Payload)
		}
	default:
		c.opts.Logf("ssmchannel: session %s: input of payload type %d; ignored", c.opts.SessionID, m.PayloadType)
	}
}
