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

// Liveness timing of every link: a peer is pinged every KeepAliveInterval
// and declared dead when a ping or a write gets no answer within
// LivenessTimeout, so a dead peer is detected within 30 seconds. Pings run
// on connections, never on streams, so idle sessions and forwarded
// connections stay open indefinitely. Variables so tests can shorten them.
var (
	KeepAliveInterval = 10 * time.Second
	LivenessTimeout   = 20 * time.Second
)

// MuxConfig is the yamux configuration both ends of an agent connection use.
func MuxConfig(logf func(format string, args ...any)) *yamux.Config {
	c := yamux.DefaultConfig()
	c.AcceptBacklog = 1024
	c.EnableKeepAlive = true
	c.KeepAliveInterval = KeepAliveInterval
	c.ConnectionWriteTimeout = LivenessTimeout
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

// WebSocketConn adapts a WebSocket to a net.Conn carrying a byte stream in
// binary messages. ctx bounds the connection's lifetime.
func WebSocketConn(ctx context.Context, c *websocket.Conn) net.Conn {
	// A yamux frame body is at most one stream window; allow headroom.
	c.SetReadLimit(2*StreamWindow + 1<<16)
	return &frameConn{Conn: websocket.NetConn(ctx, c, websocket.MessageBinary)}
}

// yamux's frame header (its spec.md): version, type, flags, stream id and
// length; for a data frame, length bytes of body follow.
const (
	yamuxHeaderLen = 12
	yamuxTypeData  = 0
)

// frameConn sends a yamux data frame's header and body as one WebSocket
// message. yamux writes them with two calls, and over a WebSocket every
// write is a message of its own, with its own TLS record and system call:
// twice the cost per frame for nothing.
type frameConn struct {
	net.Conn

	mu  sync.Mutex // guards hdr; yamux writes from one goroutine, but Close may race it
	hdr []byte     // a data frame's header, held for its body
}

func (c *frameConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.hdr) > 0 {
		msg := append(c.hdr, p...)
		c.hdr = msg[:0]
		if cap(c.hdr) > 1<<20 {
			c.hdr = nil // do not pin a rare large frame's buffer
		}
		if _, err := c.Conn.Write(msg); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if len(p) == yamuxHeaderLen && p[1] == yamuxTypeData && binary.BigEndian.Uint32(p[8:]) > 0 {
		c.hdr = append(c.hdr[:0], p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// KeepAlive pings a WebSocket peer every KeepAliveInterval until ctx ends or
// a ping goes unanswered for LivenessTimeout; then it closes the connection,
// so the reader on it fails and its owner reconnects or gives up. Someone
// must be reading c for pongs to arrive.
func KeepAlive(ctx context.Context, c *websocket.Conn) {
	t := time.NewTicker(KeepAliveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, LivenessTimeout)
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
func ServerMux(conn io.ReadWriteCloser, logf func(string, ...any)) (*yamux.Session, error) {
	return yamux.Server(conn, MuxConfig(logf))
}
