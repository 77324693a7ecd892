package wire

import (
	"context"
	"net"
	"sync"
)

// CorkLimit bounds what a corked connection holds before it sends anyway:
// a 256 KiB WebSocket message as TLS records, with room for their headers
// and tags.
const CorkLimit = 256<<10 + 16<<10

// corkBufs are the buffers corked connections gather writes in. A buffer
// is taken at a cork's first write and given back when it is sent, so an
// idle connection (an agent between sessions) holds none.
var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, CorkLimit); return &b }}

// CorkConn is a connection whose writes can be gathered and sent together,
// as TCP_CORK does in the kernel, but portable and without a system call
// per write: between Cork and Uncork, writes are kept (up to CorkLimit)
// and sent with one system call at Uncork.
//
// It sits under TLS, which seals a large write into 16 KiB records (4 KiB
// ones from a WebSocket client's masking buffer) and sends each with a
// system call of its own; on loopback each of those also runs the
// receiver's side of TCP and wakes it. Corked around a whole WebSocket
// message, the records of a 256 KiB message leave in one write.
//
// Outside Cork and Uncork it adds nothing but a lock: small messages
// (keystrokes, pings) are never held back.
type CorkConn struct {
	net.Conn

	mu     sync.Mutex // guards corked and buf; held across the socket write, so bytes keep their order
	corked int        // Cork calls not yet matched by Uncork
	buf    *[]byte    // gathered writes; nil when none
}

// NewCorkConn wraps c.
func NewCorkConn(c net.Conn) *CorkConn { return &CorkConn{Conn: c} }

// Cork starts gathering writes. Calls nest: writes are sent when every Cork
// has had its Uncork.
func (c *CorkConn) Cork() {
	c.mu.Lock()
	c.corked++
	c.mu.Unlock()
}

// Uncork ends a Cork; the last one sends what was gathered and returns the
// error of that write.
func (c *CorkConn) Uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked > 0 {
		c.corked--
	}
	if c.corked > 0 {
		return nil
	}
	return c.flushLocked()
}

func (c *CorkConn) flushLocked() error {
	if c.buf == nil {
		return nil
	}
	b := c.buf
	c.buf = nil
	_, err := c.Conn.Write(*b)
	*b = (*b)[:0]
	corkBufs.Put(b)
	return err
}

func (c *CorkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked == 0 {
		return c.Conn.Write(p)
	}
	if c.buf != nil && len(*c.buf)+len(p) > CorkLimit {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) >= CorkLimit {
		return c.Conn.Write(p)
	}
	if c.buf == nil {
		c.buf = corkBufs.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// Corker is what a WebSocket's writer needs of the connection under its
// TLS: a CorkConn, or nothing (nil) where there is none.
type Corker interface {
	Cork()
	Uncork() error
}

type corkKey struct{}

// WithCorker returns ctx carrying c, for the handlers of a connection (see
// http.Server.ConnContext).
func WithCorker(ctx context.Context, c Corker) context.Context {
	return context.WithValue(ctx, corkKey{}, c)
}

// CorkerFrom returns the Corker ctx carries, or nil.
func CorkerFrom(ctx context.Context) Corker {
	c, _ := ctx.Value(corkKey{}).(Corker)
	return c
}

// CorkListener wraps ln so every connection it accepts is a CorkConn.
func CorkListener(ln net.Listener) net.Listener { return corkListener{ln} }

type corkListener struct{ net.Listener }

func (l corkListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return NewCorkConn(c), nil
}

// ConnCorker returns the CorkConn under c (itself, or under TLS), or nil.
func ConnCorker(c net.Conn) Corker {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	if cc, ok := c.(*CorkConn); ok {
		return cc
	}
	return nil
}

// CorkDialer makes the connections of one HTTP transport (for one
// WebSocket) CorkConns and remembers the last, for the WebSocket's writer.
type CorkDialer struct {
	// Dial makes the connection; nil: a net.Dialer's DialContext.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex // guards last
	last *CorkConn
}

// DialContext is for http.Transport.DialContext.
func (d *CorkDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	dial := d.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	c, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc := NewCorkConn(c)
	d.mu.Lock()
	d.last = cc
	d.mu.Unlock()
	return cc, nil
}

// Corker is the last connection dialled, or nil. If the transport dialled
// more than one, corking a connection the WebSocket does not use costs
// nothing and gathers nothing.
func (d *CorkDialer) Corker() Corker {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == nil {
		return nil
	}
	return d.last
}
