package wire

import (
	"context"
	"encoding/binary"
	"io"
	"log"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"
)

// StreamWindow is each stream's flow-control window. Every session and port
// forward is its own stream, so a bulk transfer fills only its own window
// and never delays another session's keystrokes.
const StreamWindow = 4 << 20

// Liveness timing of every link: a peer is pinged every keep-alive
// interval and declared dead when a ping or a write gets no answer within
// the liveness timeout, so a dead peer is detected within 30 seconds. (On an
// agent's connection only the agent pings; the server declares it dead
// when nothing has arrived for both together: see ServerMux.) Pings run on
// connections, never on streams, so idle sessions and forwarded
// connections stay open indefinitely. Tests shorten them with SetLiveness.
const (
	DefaultKeepAliveInterval = 10 * time.Second
	DefaultLivenessTimeout   = 20 * time.Second
)

// liveness is the timing in force: read by every link's goroutines, set
// by tests (SetLiveness), whose links from a previous test may still be
// winding down.
var liveness struct {
	mu                sync.RWMutex // guards the fields below
	interval, timeout time.Duration
}

func init() {
	liveness.interval, liveness.timeout = DefaultKeepAliveInterval, DefaultLivenessTimeout
}

// Liveness returns the keep-alive interval and the liveness timeout.
func Liveness() (interval, timeout time.Duration) {
	liveness.mu.RLock()
	defer liveness.mu.RUnlock()
	return liveness.interval, liveness.timeout
}

// SetLiveness sets them, for tests, and returns a function that restores
// the old ones.
func SetLiveness(interval, timeout time.Duration) (restore func()) {
	liveness.mu.Lock()
	oldI, oldT := liveness.interval, liveness.timeout
	liveness.interval, liveness.timeout = interval, timeout
	liveness.mu.Unlock()
	return func() { SetLiveness(oldI, oldT) }
}

// MuxConfig is the yamux configuration both ends of an agent connection use.
func MuxConfig(logf func(format string, args ...any)) *yamux.Config {
	c := yamux.DefaultConfig()
	c.AcceptBacklog = 1024
	c.EnableKeepAlive = true
	c.KeepAliveInterval, c.ConnectionWriteTimeout = Liveness()
	c.MaxStreamWindowSize = StreamWindow
	c.StreamOpenTimeout = 30 * time.Second
	c.StreamCloseTimeout = time.Minute
	c.LogOutput = nil
	c.Logger = log.New(logWriter(logf), "", 0)
	return c
}

type logWriter func(format string, args ...any)

func (f logWriter) Write(p []byte) (int, error) {
	if f != nil {
		f("yamux: %s", trimNewline(p))
	}
	return len(p), nil
}

func trimNewline(p []byte) string {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return string(p)
}

// MuxConn adapts the agent connection's WebSocket to the byte stream yamux
// runs over, in binary messages, one per yamux frame. ctx bounds the
// connection's lifetime. cork, if not nil, gathers the writes of the
// connection under the WebSocket's TLS (see BatchConn): each large frame
// then leaves in one system call.
func MuxConn(ctx context.Context, ws *websocket.Conn, cork Corker) net.Conn {
	// NetConn streams each message into the reader's buffer, so a
	// message's size costs no memory: it lifts the read limit itself.
	return &muxConn{Conn: websocket.NetConn(ctx, ws, websocket.MessageBinary), ws: ws, ctx: ctx, cork: cork}
}

// ForwardConn adapts a forwarded TCP connection's WebSocket (between the
// CLI and the server) to a net.Conn carrying its bytes in binary
// messages. cork is as for MuxConn.
func ForwardConn(ctx context.Context, ws *websocket.Conn, cork Corker) net.Conn {
	return &forwardConn{Conn: websocket.NetConn(ctx, ws, websocket.MessageBinary), cork: cork}
}

// corkAbove is the message size from which a write is corked: more than
// one TLS record's worth.
const corkAbove = 16 << 10

// corked runs write between cork's Cork and Uncork when there is a cork and
// n bytes are worth it.
func corked(cork Corker, n int, write func() (int, error)) (int, error) {
	if cork == nil || n <= corkAbove {
		return write()
	}
	cork.Cork()
	m, err := write()
	if uerr := cork.Uncork(); err == nil && uerr != nil {
		return 0, uerr
	}
	return m, err
}

type forwardConn struct {
	net.Conn
	cork Corker
}

func (c *forwardConn) Write(p []byte) (int, error) {
	return corked(c.cork, len(p), func() (int, error) { return c.Conn.Write(p) })
}

// yamux's frame header (its spec.md): version, type, flags, stream id and
// length; for a data frame, length bytes of body follow.
const (
	yamuxHeaderLen = 12
	yamuxTypeData  = 0
)

// muxConn sends a yamux data frame's header and body as one WebSocket
// message. yamux writes them with two calls, and over a WebSocket every
// write is a message of its own, with its own TLS record: twice the cost
// per frame for nothing. The message is written as two fragments, header
// and body, so the body is not copied once more to join them.
type muxConn struct {
	net.Conn // websocket.NetConn: reads, frames without a body, Close

	ws   *websocket.Conn
	ctx  context.Context
	cork Corker // nil: none

	mu   sync.Mutex // guards hdr and held; yamux writes from one goroutine, but Close may race it
	hdr  [yamuxHeaderLen]byte
	held bool // hdr is a data frame's header, waiting for its body
}

func (c *muxConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		c.held = false
		return corked(c.cork, len(p), func() (int, error) { return c.writeFrame(p) })
	}
	if len(p) == yamuxHeaderLen && p[1] == yamuxTypeData && binary.BigEndian.Uint32(p[8:]) > 0 {
		copy(c.hdr[:], p)
		c.held = true
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// writeFrame writes the held header and body as one message.
func (c *muxConn) writeFrame(body []byte) (int, error) {
	w, err := c.ws.Writer(c.ctx, websocket.MessageBinary)
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(c.hdr[:]); err != nil {
		return 0, err
	}
	if _, err := w.Write(body); err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return len(body), nil
}

// Pinger is a connection KeepAlive watches: a WebSocket, or what stands
// for one.
type Pinger interface {
	Ping(ctx context.Context) error
	CloseNow() error
}

// KeepAlive pings a WebSocket peer every keep-alive interval until ctx
// ends or a ping goes unanswered for the liveness timeout (Liveness); then it closes the connection,
// so the reader on it fails and its owner reconnects or gives up. Someone
// must be reading c for pongs to arrive.
func KeepAlive(ctx context.Context, c Pinger) {
	interval, timeout := Liveness()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := c.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.CloseNow()
			}
			return
		}
	}
}

// AgentMux starts the agent's end of the multiplexed connection.
func AgentMux(conn io.ReadWriteCloser, logf func(string, ...any)) (*yamux.Session, error) {
	return yamux.Client(conn, MuxConfig(logf))
}

// ServerMux starts the server's end of an agent's multiplexed connection.
//
// One server holds thousands of these, so its end is leaner than the
// agent's. It sends no keep-alive pings of its own: the agent pings every
// keep-alive interval, so a connection that brings nothing at all for the
// interval and the liveness timeout together has a dead agent at the other end, and
// a read deadline closes it then (the same 30 seconds the agent takes to
// notice a dead server). That halves the pings and saves a goroutine per
// agent. And where the agent accepts every stream the server opens, the
// agent itself opens just one, its control stream, so the server keeps a
// short accept backlog (each slot of yamux's backlog costs memory for as
// long as the connection lasts).
//
// onClose, if not nil, is called once the connection has closed, whatever
// closed it (the agent went away, nothing arrived for too long, the
// session was closed), in a goroutine of its own: so the server needs no
// goroutine per agent that waits for the end.
func ServerMux(conn net.Conn, logf func(string, ...any), onClose func()) (*yamux.Session, error) {
	c := MuxConfig(logf)
	c.EnableKeepAlive = false
	c.AcceptBacklog = serverAcceptBacklog
	interval, timeout := Liveness()
	idle := interval + timeout
	return yamux.Server(&idleConn{Conn: conn, idle: idle, refresh: min(time.Second, idle/8), onClose: onClose}, c)
}

// serverAcceptBacklog is the server's yamux accept backlog. It also bounds
// the streams the server has opened that the agent has not yet
// acknowledged, which each take one round trip: a node with more sessions
// or forwarded connections starting in the same instant waits that long
// for the excess.
const serverAcceptBacklog = 64

// idleConn is a connection whose reads fail once nothing has arrived for
// idle, and which calls onClose when it is closed. yamux reads it from one
// goroutine only, so set is unguarded.
type idleConn struct {
	net.Conn
	idle, refresh time.Duration
	set           time.Time // when the deadline was last moved

	onClose func()
	closed  sync.Once
}

func (c *idleConn) Read(p []byte) (int, error) {
	// Moving the deadline is a timer reset: do it at most every refresh,
	// which makes the effective timeout between idle-refresh and idle.
	if now := time.Now(); now.Sub(c.set) >= c.refresh {
		if err := c.Conn.SetReadDeadline(now.Add(c.idle)); err != nil {
			return 0, err
		}
		c.set = now
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() {
		if c.onClose != nil {
			// Not in the caller's goroutine: yamux closes the
			// connection holding its session's locks.
			go c.onClose()
		}
	})
	return err
}
