package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// countingConn counts the writes that reach a real connection: what would
// be system calls.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes []int // the size of each
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, len(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countingConn) sizes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.writes...)
}

// tcpPair returns both ends of a loopback TCP connection, the dialled one
// counted.
func tcpPair(t *testing.T) (*countingConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return &countingConn{Conn: c}, peer
}

// readAll reads n bytes from c in the background.
func readAll(c net.Conn, n int) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, n)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		m, _ := io.ReadFull(c, b)
		got <- b[:m]
	}()
	return got
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func TestCorkGathersWritesUntilUncork(t *testing.T) {
	raw, peer := tcpPair(t)
	c := NewBatchConn(raw)
	data := randomBytes(100<<10, 1)
	got := readAll(peer, len(data))

	c.Cork()
	c.Cork() // nested: only the last Uncork sends
	for p := data; len(p) > 0; p = p[min(len(p), 4118):] {
		if n, err := c.Write(p[:min(len(p), 4118)]); err != nil || n != min(len(p), 4118) {
			t.Fatalf("corked write: %d, %v", n, err)
		}
	}
	if w := raw.sizes(); len(w) != 0 {
		t.Fatalf("corked writes reached the connection: %v", w)
	}
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	if w := raw.sizes(); len(w) != 0 {
		t.Fatalf("an inner Uncork sent: %v", w)
	}
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	if w := raw.sizes(); len(w) != 1 || w[0] != len(data) {
		t.Fatalf("writes %v, want one of %d bytes", w, len(data))
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("peer read %d bytes, not what was written", len(b))
	}
	if c.buf != nil {
		t.Error("an uncorked connection still holds a buffer")
	}
	// An extra Uncork is harmless, and writes pass straight through again.
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	got = readAll(peer, 3)
	c.Write([]byte("abc"))
	if w := raw.sizes(); len(w) != 2 || w[1] != 3 {
		t.Fatalf("uncorked write not sent at once: %v", w)
	}
	if b := <-got; string(b) != "abc" {
		t.Fatalf("peer read %q", b)
	}
}

// TestCorkIsBounded: a cork holds at most CorkLimit bytes however much is
// written, sends them in order, and a write larger than the limit goes
// straight through.
func TestCorkIsBounded(t *testing.T) {
	raw, peer := tcpPair(t)
	c := NewBatchConn(raw)
	data := randomBytes(5*CorkLimit+12345, 2)
	got := readAll(peer, len(data))
	c.Cork()
	p := data
	for i := 0; len(p) > 0; i++ {
		n := min(len(p), 1+i*7919%(40<<10))
		if i == 30 {
			n = min(len(p), CorkLimit+1) // larger than a cork holds
		}
		if _, err := c.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
		if c.buf != nil && len(*c.buf) > CorkLimit {
			t.Fatalf("the cork holds %d bytes, more than %d", len(*c.buf), CorkLimit)
		}
	}
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("peer read %d bytes, not what was written in order", len(b))
	}
	for _, w := range raw.sizes() {
		if w > CorkLimit+1 {
			t.Errorf("a write of %d bytes", w)
		}
	}
}

func TestCorkReportsFailedSend(t *testing.T) {
	raw, _ := tcpPair(t)
	c := NewBatchConn(raw)
	c.Cork()
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	raw.Conn.Close()
	if err := c.Uncork(); err == nil {
		t.Fatal("Uncork on a closed connection: no error")
	}
}

// wsPair connects a WebSocket client to a TLS server as Postern's ends do,
// each with a BatchConn under TLS, and returns the client's and server's
// WebSockets with their Corkers and the client's raw connection, counted.
func wsPair(t *testing.T) (client, server *websocket.Conn, clientCork, serverCork Corker, raw func() *countingConn) {
	t.Helper()
	type accepted struct {
		ws   *websocket.Conn
		cork Corker
	}
	acc := make(chan accepted, 1)
	done := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		acc <- accepted{ws, CorkerFrom(r.Context())}
		<-done
	}))
	srv.Listener = BatchListener(srv.Listener)
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if ck := ConnCorker(c); ck != nil {
			return WithCorker(ctx, ck)
		}
		return ctx
	}
	srv.StartTLS()
	t.Cleanup(func() { close(done); srv.Close() })

	var mu sync.Mutex
	var last *countingConn
	cd := &BatchDialer{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		last = &countingConn{Conn: c}
		return last, nil
	}}
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = cd.DialContext
	ws, _, err := websocket.Dial(context.Background(), "wss"+strings.TrimPrefix(srv.URL, "https"), &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		t.Fatal(err)
	}
	a := <-acc
	if cd.Corker() == nil || a.cork == nil {
		t.Fatalf("no cork under TLS: client %v, server %v", cd.Corker(), a.cork)
	}
	return ws, a.ws, cd.Corker(), a.cork, func() *countingConn { mu.Lock(); defer mu.Unlock(); return last }
}

// TestMuxOverCorkedWebSocket carries bulk data both ways on two yamux
// streams at once over TLS WebSockets as the agent's connection does:
// every byte arrives, in order, and the client's large frames leave in
// few system calls.
func TestMuxOverCorkedWebSocket(t *testing.T) {
	cws, sws, ccork, scork, raw := wsPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agentSide, err := AgentMux(MuxConn(ctx, cws, ccork), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer agentSide.Close()
	serverSide, err := ServerMux(MuxConn(ctx, sws, scork), t.Logf, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer serverSide.Close()

	const size = 4 << 20
	before := len(raw().sizes())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 2 {
		st, err := agentSide.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		peer, err := serverSide.AcceptStream()
		if err != nil {
			t.Fatal(err)
		}
		up, down := randomBytes(size, uint64(10+i)), randomBytes(size, uint64(20+i))
		send := func(w io.WriteCloser, b []byte) {
			defer wg.Done()
			for p := b; len(p) > 0; p = p[min(len(p), 256<<10):] {
				if _, err := w.Write(p[:min(len(p), 256<<10)]); err != nil {
					errs <- err
					return
				}
			}
		}
		recv := func(r io.Reader, want []byte, what string) {
			defer wg.Done()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(r, got); err != nil {
				errs <- fmt.Errorf("%s: %w", what, err)
				return
			}
			if !bytes.Equal(got, want) {
				errs <- fmt.Errorf("%s: the bytes differ", what)
			}
		}
		wg.Add(4)
		go send(st, up)
		go send(peer, down)
		go recv(peer, up, fmt.Sprintf("stream %d up", i))
		go recv(st, down, fmt.Sprintf("stream %d down", i))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Uncorked, the client's masking buffer would send each 4 KiB record
	// with its own write.
	writes := raw().sizes()[before:]
	var sum int
	for _, w := range writes {
		sum += w
	}
	if sum < 2*size || len(writes) > sum/(32<<10) {
		t.Errorf("the client sent %d bytes in %d writes: not corked", sum, len(writes))
	}
}

// TestForwardConnSendsEveryWriteAtOnce: a forwarded connection carries raw
// bytes, so a write that looks like a yamux data frame's header is sent at
// once, not held for a body that will never come.
func TestForwardConnSendsEveryWriteAtOnce(t *testing.T) {
	cws, sws, ccork, scork, _ := wsPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, s := ForwardConn(ctx, cws, ccork), ForwardConn(ctx, sws, scork)
	// No close handshake: neither end reads at the end.
	defer cws.CloseNow()
	defer sws.CloseNow()
	hdrLike := []byte{0, yamuxTypeData, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0}
	for _, dir := range []struct {
		name string
		w, r net.Conn
	}{{"client to server", c, s}, {"server to client", s, c}} {
		if _, err := dir.w.Write(hdrLike); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(hdrLike))
		dir.r.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(dir.r, got); err != nil || !bytes.Equal(got, hdrLike) {
			t.Fatalf("%s: read %x, %v", dir.name, got, err)
		}
		big := randomBytes(1<<20, 3)
		go dir.w.Write(big)
		got = make([]byte, len(big))
		if _, err := io.ReadFull(dir.r, got); err != nil || !bytes.Equal(got, big) {
			t.Fatalf("%s: a corked write: %v", dir.name, err)
		}
	}
}

// TestBatchedReads reads what a peer wrote in pieces of every size, as TLS
// does, through batched reads: every byte in order, then the end of file;
// and a connection with nothing left to read holds no buffer.
func TestBatchedReads(t *testing.T) {
	raw, peer := tcpPair(t)
	c := NewBatchConn(peer)
	if batchRead != nil && c.raw == nil {
		t.Fatal("reads of a TCP connection are not batched")
	}
	data := randomBytes(3*ReadBatch+777, 4)
	go func() {
		for p := data; len(p) > 0; {
			n := min(len(p), 1+len(p)%(90<<10))
			raw.Write(p[:n])
			p = p[n:]
		}
		raw.Close()
	}()
	var got []byte
	buf := make([]byte, ReadBatch)
	for i := 0; ; i++ {
		size := []int{5, 4118, 8236, 16 << 10, 1, ReadBatch / 4}[i%6]
		n, err := c.Read(buf[:size])
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, not the %d written in order", len(got), len(data))
	}
	if c.rbuf != nil {
		t.Error("a connection with nothing left to read holds a buffer")
	}
	if n, err := c.Read(buf[:10]); n != 0 || err != io.EOF {
		t.Errorf("read after the end: %d, %v", n, err)
	}
}

// TestBatchedReadDeadlineAndClose: a batched read waiting for data ends at
// its deadline with a timeout, as net.Conn's does (HTTP's header timeout
// relies on it), and on Close with net.ErrClosed.
func TestBatchedReadDeadlineAndClose(t *testing.T) {
	_, peer := tcpPair(t)
	c := NewBatchConn(peer)
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err := c.Read(make([]byte, 100))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past its deadline: %v, want a timeout", err)
	}
	c.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 100))
		done <- err
	}()
	c.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a closed connection: %v, want net.ErrClosed", err)
	}
}
