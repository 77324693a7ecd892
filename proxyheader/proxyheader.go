// Package proxyheader takes clients' addresses from the PROXY protocol
// header (HAProxy's, versions 1 and 2) that a trusted TCP load balancer
// sends before a connection's own bytes, so that behind the balancer the
// server still sees each client's address: in its per-source limits
// (package connlimit), sign-in throttling and the audit trail.
//
// Only connections from the trusted prefixes are read for a header, and
// they must carry one; every other connection is passed on untouched, so a
// client cannot claim another address by sending a header itself. The
// header is read off the accept path, one goroutine per connection, so a
// balancer slow to send it holds up its own connection only.
package proxyheader

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
)

// readHeaderTimeout bounds the wait for a trusted connection's header. A
// balancer sends it with the connection's first bytes.
const readHeaderTimeout = 5 * time.Second

// Wrap returns ln with the PROXY header read from connections whose
// source is in trusted, their RemoteAddr then the client's (or the
// balancer's own, for a header of the LOCAL command, as a health check
// sends). With no trusted prefixes it returns ln.
func Wrap(ln net.Listener, trusted []netip.Prefix) net.Listener {
	if len(trusted) == 0 {
		return ln
	}
	inner := &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: readHeaderTimeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if isTrusted(o.Upstream, trusted) {
				return proxyproto.REQUIRE, nil
			}
			return proxyproto.SKIP, nil // the raw connection: nothing read
		},
	}
	return &listener{inner: inner, ready: make(chan accepted), done: make(chan struct{})}
}

func isTrusted(a net.Addr, trusted []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// listener hands connections over once their header is read.
type listener struct {
	inner *proxyproto.Listener
	ready chan accepted // connections ready, and the inner listener's error
	done  chan struct{} // closed by Close

	start     sync.Once // starts the accept loop, on the first Accept
	closeOnce sync.Once
}

type accepted struct {
	c   net.Conn
	err error
}

func (l *listener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case a := <-l.ready:
		return a.c, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// acceptLoop accepts until the inner listener fails (Close), reading each
// trusted connection's header in a goroutine of its own, which ends within
// readHeaderTimeout and the handover.
func (l *listener) acceptLoop() {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.hand(accepted{err: err})
			return
		}
		pc, ok := c.(*proxyproto.Conn)
		if !ok {
			l.hand(accepted{c: c})
			continue
		}
		go func() {
			// RemoteAddr reads the header (or fails to, when the
			// connection then fails its first read and is dropped
			// by whoever reads it).
			pc.RemoteAddr()
			l.hand(accepted{c: conn{pc}})
		}()
	}
}

// hand gives a to Accept, or closes its connection if the listener closed.
func (l *listener) hand(a accepted) {
	select {
	case l.ready <- a:
	case <-l.done:
		if a.c != nil {
			a.c.Close()
		}
	}
}

func (l *listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

func (l *listener) Addr() net.Addr { return l.inner.Addr() }

// conn is a connection that came with a header. NetConn lets whoever
// looks through wrappers (package wire's corking) find what it wraps.
type conn struct{ *proxyproto.Conn }

func (c conn) NetConn() net.Conn { return c.Raw() }
