// Package connlimit caps how many connections each source address may
// hold open before they authenticate. Whoever can reach a server's port
// can open connections; until one of them proves who it is (an agent's
// client certificate, a user's token), it is a stranger's, and a
// stranger must not be able to take every connection slot or file
// descriptor by opening many and saying nothing. Authenticated
// connections are not counted: a fleet of agents behind one NAT address
// holds thousands of them.
package connlimit

import (
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/postern/postern/clientaddr"
)

// Listener wraps a listener, closing at once each accepted connection
// whose source already holds Max unauthenticated ones.
type Listener struct {
	net.Listener
	max int

	mu      sync.Mutex // guards pending
	pending map[netip.Prefix]int

	refused atomic.Uint64
}

// Wrap returns ln with a cap of max unauthenticated connections per
// source (clientaddr.Prefix); max <= 0 means no cap.
func Wrap(ln net.Listener, max int) *Listener {
	return &Listener{Listener: ln, max: max, pending: map[netip.Prefix]int{}}
}

// Accept returns the next connection within the cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := clientaddr.Prefix(c.RemoteAddr().String())
		l.mu.Lock()
		over := l.max > 0 && l.pending[src] >= l.max
		if !over {
			l.pending[src]++
		}
		l.mu.Unlock()
		if over {
			l.refused.Add(1)
			c.Close()
			continue
		}
		return &Conn{Conn: c, l: l, src: src}, nil
	}
}

// Refused returns how many connections were closed for being over the
// cap.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// Pending returns how many unauthenticated connections src holds.
func (l *Listener) Pending(src netip.Prefix) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending[src]
}

func (l *Listener) release(src netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending[src]--; l.pending[src] <= 0 {
		delete(l.pending, src)
	}
}

// Conn is a connection a Listener accepted.
type Conn struct {
	net.Conn
	l    *Listener
	src  netip.Prefix
	once sync.Once // releases the source's count once
}

// NetConn returns the connection the Listener accepted, for code that
// looks through wrappers (as tls.Conn's NetConn does).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Authenticated takes the connection out of its source's count.
func (c *Conn) Authenticated() { c.once.Do(func() { c.l.release(c.src) }) }

// Close closes the connection and releases its count if it still holds
// one.
func (c *Conn) Close() error {
	c.Authenticated()
	return c.Conn.Close()
}

// Authenticated marks the connection under nc as authenticated, looking
// through TLS; it does nothing for a connection no Listener accepted.
func Authenticated(nc net.Conn) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if c, ok := nc.(*Conn); ok {
		c.Authenticated()
	}
}
