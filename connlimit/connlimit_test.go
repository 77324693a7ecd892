package connlimit

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/postern/postern/wire"
)

// TestCap: a source past its cap of unauthenticated connections has the
// next one closed at once; authenticating one, or closing one, makes room.
func TestCap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(inner, 3)
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var server []net.Conn
	for range 3 {
		dial()
		server = append(server, <-accepted)
	}
	src := netip.MustParsePrefix("127.0.0.1/32")
	over := dial()
	// The fourth is closed by the listener: the client reads EOF.
	over.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := over.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("over the cap: read %d, %v; want the connection closed", n, err)
	}
	if l.Refused() != 1 || l.Pending(src) != 3 {
		t.Fatalf("refused %d, pending %d; want 1 and 3", l.Refused(), l.Pending(src))
	}
	Authenticated(server[0])
	Authenticated(server[0]) // once only
	server[1].Close()
	server[1].Close()
	if l.Pending(src) != 1 {
		t.Fatalf("pending %d after one authenticated and one closed, want 1", l.Pending(src))
	}
	dial()
	<-accepted
	dial()
	<-accepted
	if l.Pending(src) != 3 {
		t.Fatalf("pending %d, want 3", l.Pending(src))
	}
}

// TestLooksThrough: the server's TLS connections sit on a Conn over a
// wire.BatchConn, and the WebSocket handlers must still find the latter.
func TestLooksThrough(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &Conn{Conn: wire.NewBatchConn(a)}
	if wire.ConnCorker(c) == nil {
		t.Fatal("wire.ConnCorker does not find the BatchConn under a connlimit.Conn")
	}
}
