package proxyheader

import (
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/pires/go-proxyproto"
)

// listen wraps a loopback listener trusting trusted.
func listen(t *testing.T, trusted ...string) net.Listener {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ps []netip.Prefix
	for _, s := range trusted {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	ln := Wrap(raw, ps)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial connects to ln and sends data.
func dial(t *testing.T, ln net.Listener, data []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	return c
}

func header(t *testing.T, version byte, cmd proxyproto.ProtocolVersionAndCommand) []byte {
	t.Helper()
	h := &proxyproto.Header{
		Version: version, Command: cmd, TransportProtocol: proxyproto.TCPv4,
		SourceAddr:      &net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 4242},
		DestinationAddr: &net.TCPAddr{IP: net.ParseIP("10.0.0.11"), Port: 8443},
	}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// accept accepts one connection and reads n bytes from it.
func accept(t *testing.T, ln net.Listener, n int) (net.Conn, string) {
	t.Helper()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read from %s: %v", c.RemoteAddr(), err)
	}
	return c, string(b)
}

func TestTrustedHeaderGivesTheClient(t *testing.T) {
	for _, v := range []byte{1, 2} {
		ln := listen(t, "127.0.0.0/8")
		dial(t, ln, append(header(t, v, proxyproto.PROXY), "hello"...))
		c, got := accept(t, ln, 5)
		if c.RemoteAddr().String() != "203.0.113.7:4242" || got != "hello" {
			t.Errorf("v%d: from %s read %q; want 203.0.113.7:4242 and hello", v, c.RemoteAddr(), got)
		}
	}
}

// TestLocalHeaderIsTheBalancer: a health check's header (the LOCAL
// command) names no client; the connection is the balancer's own.
func TestLocalHeaderIsTheBalancer(t *testing.T) {
	ln := listen(t, "127.0.0.0/8")
	dial(t, ln, append(header(t, 2, proxyproto.LOCAL), "ok"...))
	c, got := accept(t, ln, 2)
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err != nil || !ap.Addr().IsLoopback() || got != "ok" {
		t.Errorf("from %s read %q; want the loopback balancer and ok", c.RemoteAddr(), got)
	}
}

// TestUntrustedHeaderIsData: a client outside the trusted prefixes cannot
// claim another address: its header is not read, only passed on as the
// bytes it is (where TLS refuses it).
func TestUntrustedHeaderIsData(t *testing.T) {
	ln := listen(t, "10.0.0.0/8")
	h := header(t, 1, proxyproto.PROXY)
	dial(t, ln, h)
	c, got := accept(t, ln, len(h))
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err != nil || !ap.Addr().IsLoopback() || got != string(h) {
		t.Errorf("from %s read %q; want the client's own address and its header as data", c.RemoteAddr(), got)
	}
}

// TestTrustedWithoutHeaderFails: a trusted source must send a header;
// without one its connection fails rather than counting as the
// balancer's.
func TestTrustedWithoutHeaderFails(t *testing.T) {
	ln := listen(t, "127.0.0.0/8")
	dial(t, ln, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("read from a trusted source that sent no header succeeded")
	}
}

// TestSilentBalancerHoldsOnlyItsConnection: a trusted connection whose
// header has not come does not hold up the next one's Accept.
func TestSilentBalancerHoldsOnlyItsConnection(t *testing.T) {
	ln := listen(t, "127.0.0.0/8")
	dial(t, ln, nil) // connected, nothing sent
	dial(t, ln, append(header(t, 2, proxyproto.PROXY), "next"...))
	c, got := accept(t, ln, 4)
	if c.RemoteAddr().String() != "203.0.113.7:4242" || got != "next" {
		t.Errorf("from %s read %q", c.RemoteAddr(), got)
	}
}

func TestCloseEndsAccept(t *testing.T) {
	ln := listen(t, "127.0.0.0/8")
	done := make(chan error)
	go func() { _, err := ln.Accept(); done <- err }()
	ln.Close()
	if err := <-done; err == nil {
		t.Error("Accept after Close returned no error")
	}
}
