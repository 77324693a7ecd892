package wire

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/postern/postern/netfault"
)

// TestKeepAliveDetectsDeadPeerButSparesIdleStreams runs a mux over a proxy
// with short liveness timing: an idle stream outlives many keep-alive
// intervals, and a black-holed link is declared dead, which the server's
// end reports (once) to its onClose.
func TestKeepAliveDetectsDeadPeerButSparesIdleStreams(t *testing.T) {
	t.Cleanup(SetLiveness(50*time.Millisecond, 200*time.Millisecond))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	proxy, err := netfault.New(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	accepted := make(chan *yamux.Session, 1)
	var closes atomic.Int32
	closed := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s, _ := ServerMux(c, t.Logf, func() {
			if closes.Add(1) == 1 {
				close(closed)
			}
		})
		accepted <- s
	}()
	c, err := net.Dial("tcp", proxy.Addr())
	if err != nil {
		t.Fatal(err)
	}
	agentSide, err := AgentMux(c, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer agentSide.Close()
	serverSide := <-accepted
	defer serverSide.Close()

	st, err := agentSide.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte("x")) // the stream reaches the other side on first data
	peer, err := serverSide.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	// Idle for 20 keep-alive intervals: nothing closes.
	time.Sleep(20 * 50 * time.Millisecond) // twenty keep-alive intervals (SetLiveness above)
	if agentSide.IsClosed() || serverSide.IsClosed() || closes.Load() != 0 {
		t.Fatal("keep-alive closed a healthy idle connection")
	}
	if _, err := st.Write([]byte("still here")); err != nil {
		t.Fatalf("idle stream broken: %v", err)
	}
	buf := make([]byte, 16)
	if n, err := peer.Read(buf); err != nil || string(buf[:n]) != "xstill here" && string(buf[:n]) != "x" {
		t.Fatalf("idle stream read %q %v", buf[:n], err)
	}

	// Black-hole the link: both ends must give up on their own.
	proxy.Stall(true)
	deadline := time.After(10 * time.Second)
	for !agentSide.IsClosed() || !serverSide.IsClosed() {
		select {
		case <-deadline:
			t.Fatalf("dead peer not detected: agent closed=%v server closed=%v", agentSide.IsClosed(), serverSide.IsClosed())
		case <-time.After(10 * time.Millisecond):
		}
	}
	proxy.Stall(false)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the server's end closed without calling onClose")
	}
	serverSide.Close() // again: onClose is not called twice
	time.Sleep(50 * time.Millisecond)
	if n := closes.Load(); n != 1 {
		t.Errorf("onClose called %d times, want once", n)
	}
}
