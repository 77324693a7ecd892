package netfault

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoTarget accepts connections and echoes them, sending each byte it
// received on got too.
func echoTarget(t *testing.T) (addr string, got <-chan byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan byte, 1024)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					for _, b := range buf[:n] {
						ch <- b
					}
					if n > 0 {
						c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), ch
}

// TestStallBack checks that StallBack holds only the way back.
func TestStallBack(t *testing.T) {
	target, got := echoTarget(t)
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	roundTrip := func(b byte) {
		t.Helper()
		if _, err := c.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || buf[0] != b {
			t.Fatalf("echo of %q: %q, %v", b, buf, err)
		}
		<-got
	}
	roundTrip('a')

	p.StallBack(true)
	if _, err := c.Write([]byte{'b'}); err != nil {
		t.Fatal(err)
	}
	// What the client sends still reaches the target...
	if b := <-got; b != 'b' {
		t.Fatalf("target got %q, want b", b)
	}
	// ...but nothing comes back while the way back is stalled.
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read during StallBack: %d bytes, %v; want nothing", n, err)
	}

	p.StallBack(false)
	buf := make([]byte, 1)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || buf[0] != 'b' {
		t.Fatalf("held echo: %q, %v", buf, err)
	}
	roundTrip('c')
}
