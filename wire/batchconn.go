package wire

import (
	"context"
	"io"
	"net"
	"sync"
	"syscall"
)

// CorkLimit bounds what a corked connection holds before it sends anyway:
// a 256 KiB WebSocket message as TLS records, with room for their headers
// and tags.
const CorkLimit = 256<<10 + 16<<10

// ReadBatch is the most a BatchConn reads with one system call.
const ReadBatch = 256 << 10

// corkBufs are the buffers corked connections gather writes in, and
// readBufs those reads land in. A buffer is taken when there are bytes to
// hold and given back as soon as they are passed on, so an idle connection
// (an agent between sessions) holds none.
var (
	corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, CorkLimit); return &b }}
	readBufs = sync.Pool{New: func() any { b := make([]byte, ReadBatch); return &b }}
)

// BatchConn is the TCP connection under a WebSocket's TLS, moving bytes in
// fewer system calls.
//
// TLS seals a large write into 16 KiB records (4 KiB ones from a WebSocket
// client, which masks its frames through a 4 KiB buffer and flushes each)
// and sends each with a system call of its own; on loopback each of those
// also runs the receiver's side of TCP and wakes it. Between Cork and
// Uncork, a BatchConn gathers writes (up to CorkLimit) and sends them with
// one system call at Uncork, as TCP_CORK does in the kernel, but portable
// and without a system call per write. Corked around a whole WebSocket
// message, the records of a 256 KiB message leave in one write. Outside
// Cork and Uncork a write goes straight through: small messages
// (keystrokes, pings) are never held back.
//
// TLS reads a record or two at a time. Where the platform allows, a
// BatchConn reads what the socket holds, up to ReadBatch, with one system
// call, and serves TLS's reads from it; it waits for data holding no
// buffer, so an idle connection costs no memory.
type BatchConn struct {
	net.Conn
	raw syscall.RawConn // for batched reads; nil: reads go straight to Conn

	mu     sync.Mutex // guards corked and buf; held across the socket write, so bytes keep their order
	corked int        // Cork calls not yet matched by Uncork
	buf    *[]byte    // gathered writes; nil when none

	rmu  sync.Mutex // guards rbuf, r and w
	rbuf *[]byte    // bytes read and not yet passed on, (*rbuf)[r:w]; nil when none
	r, w int
}

// NewBatchConn wraps c.
func NewBatchConn(c net.Conn) *BatchConn {
	b := &BatchConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok && batchRead != nil {
		b.raw, _ = sc.SyscallConn()
	}
	return b
}

// Cork starts gathering writes. Calls nest: writes are sent when every Cork
// has had its Uncork.
func (c *BatchConn) Cork() {
	c.mu.Lock()
	c.corked++
	c.mu.Unlock()
}

// Uncork ends a Cork; the last one sends what was gathered and returns the
// error of that write.
func (c *BatchConn) Uncork() error {
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

func (c *BatchConn) flushLocked() error {
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

func (c *BatchConn) Write(p []byte) (int, error) {
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

func (c *BatchConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rbuf == nil && (c.raw == nil || len(p) >= ReadBatch/4) {
		return c.Conn.Read(p)
	}
	if c.rbuf == nil {
		b, n, err := batchRead(c.raw)
		if n <= 0 {
			if err == nil {
				err = io.EOF
			}
			return 0, c.readError(err)
		}
		c.rbuf, c.r, c.w = b, 0, n
	}
	n := copy(p, (*c.rbuf)[c.r:c.w])
	c.r += n
	if c.r == c.w {
		readBufs.Put(c.rbuf)
		c.rbuf = nil
	}
	return n, nil
}

// readError dresses an error of a batched read as net.Conn's Read does:
// the end of file as it is, anything else (a deadline, a closed
// connection, a reset) in a *net.OpError.
func (c *BatchConn) readError(err error) error {
	if err == io.EOF {
		return err
	}
	return &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Corker is what a WebSocket's writer needs of the connection under its
// TLS: a BatchConn, or nothing (nil) where there is none.
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

// BatchListener wraps ln so every connection it accepts is a BatchConn.
func BatchListener(ln net.Listener) net.Listener { return batchListener{ln} }

type batchListener struct{ net.Listener }

func (l batchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return NewBatchConn(c), nil
}

// ConnCorker returns the BatchConn under c (itself, or under TLS and other
// wrappers with a NetConn method), or nil.
func ConnCorker(c net.Conn) Corker {
	for {
		if cc, ok := c.(*BatchConn); ok {
			return cc
		}
		// Look through TLS and other wrappers that say what they wrap.
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = w.NetConn()
	}
}

// BatchDialer makes the connections of one HTTP transport (for one
// WebSocket) BatchConns and remembers the last, for the WebSocket's writer.
type BatchDialer struct {
	// Dial makes the connection; nil: a net.Dialer's DialContext.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex // guards last
	last *BatchConn
}

// DialContext is for http.Transport.DialContext.
func (d *BatchDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	dial := d.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	c, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc := NewBatchConn(c)
	d.mu.Lock()
	d.last = cc
	d.mu.Unlock()
	return cc, nil
}

// Corker is the last connection dialled, or nil. If the transport dialled
// more than one, corking a connection the WebSocket does not use costs
// nothing and gathers nothing.
func (d *BatchDialer) Corker() Corker {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == nil {
		return nil
	}
	return d.last
}
