package wire

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestLeanHijackBuffers: the connection is handed over with small
// buffers, through whatever wraps the ResponseWriter.
func TestLeanHijackBuffers(t *testing.T) {
	sizes := make(chan [2]int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := LeanHijack(unwrapper{w}).(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		sizes <- [2]int{brw.Reader.Size(), brw.Writer.Size()}
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
	}
	if got := <-sizes; got != [2]int{leanReadBuffer, leanWriteBuffer} {
		t.Errorf("reader and writer of %d and %d bytes, want %d and %d", got[0], got[1], leanReadBuffer, leanWriteBuffer)
	}
}

// unwrapper hides the Hijack method of the writer it wraps, as the
// server's middleware may, leaving Unwrap.
type unwrapper struct{ w http.ResponseWriter }

func (u unwrapper) Header() http.Header         { return u.w.Header() }
func (u unwrapper) Write(p []byte) (int, error) { return u.w.Write(p) }
func (u unwrapper) WriteHeader(code int)        { u.w.WriteHeader(code) }
func (u unwrapper) Unwrap() http.ResponseWriter { return u.w }

// TestLeanHijackKeepsEarlyBytes: a WebSocket accepted through LeanHijack
// works, including a message its client sent together with its upgrade
// request, which the server read before the hijack.
func TestLeanHijackKeepsEarlyBytes(t *testing.T) {
	got := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(LeanHijack(w), r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			t.Error(err)
			return
		}
		defer ws.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for range 2 {
			_, msg, err := ws.Read(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			got <- string(msg)
			if err := ws.Write(ctx, websocket.MessageBinary, append([]byte("echo "), msg...)); err != nil {
				t.Error(err)
				return
			}
		}
	}))
	defer srv.Close()

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	req := fmt.Sprintf("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	// The request and a first message in one write: the server's HTTP
	// reader takes both.
	early := strings.Repeat("early ", 200) // more than the lean reader holds
	if _, err := conn.Write(append([]byte(req), clientFrame(early)...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if m := recvWithin(t, got); m != early {
		t.Fatalf("the server read %q, want the early message", m)
	}
	if m := readServerFrame(t, br); m != "echo "+early {
		t.Fatalf("echo %q", m)
	}
	if _, err := conn.Write(clientFrame("later")); err != nil {
		t.Fatal(err)
	}
	if m := recvWithin(t, got); m != "later" {
		t.Fatalf("the server read %q, want later", m)
	}
	if m := readServerFrame(t, br); m != "echo later" {
		t.Fatalf("echo %q", m)
	}
}

func recvWithin(t *testing.T, c <-chan string) string {
	t.Helper()
	select {
	case m := <-c:
		return m
	case <-time.After(15 * time.Second):
		t.Fatal("the server read no message")
		return ""
	}
}

// clientFrame is a masked binary WebSocket frame holding p.
func clientFrame(p string) []byte {
	b := []byte{0x82}
	switch {
	case len(p) < 126:
		b = append(b, 0x80|byte(len(p)))
	default:
		b = append(b, 0x80|126, byte(len(p)>>8), byte(len(p)))
	}
	mask := [4]byte{1, 2, 3, 4}
	b = append(b, mask[:]...)
	for i := range len(p) {
		b = append(b, p[i]^mask[i%4])
	}
	return b
}

// readServerFrame reads an unmasked binary frame.
func readServerFrame(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			t.Fatal(err)
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
	return string(p)
}
