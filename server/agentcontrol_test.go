package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/api"
	"github.com/postern/postern/server"
	"github.com/postern/postern/wire"
)

// rawAgent is a node's connection made by the test itself rather than by
// package agent, to send the server what a real agent would not.
type rawAgent struct {
	node string
	mux  *yamux.Session
	ctl  *yamux.Stream
}

// dialRawAgent registers a node and connects as it, opening the control
// stream; hello, if not nil, is sent on it.
func dialRawAgent(t *testing.T, ts *testServer, hello []byte) *rawAgent {
	t.Helper()
	a := ts.activation(t, api.CreateActivationRequest{})
	dir := t.TempDir()
	id, err := agent.Register(t.Context(), agent.RegisterOptions{Server: ts.url, Code: a.Code, ID: a.ID, CAPin: a.CAPin, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := id.TLSConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	ws, _, err := websocket.Dial(t.Context(), "wss"+strings.TrimPrefix(ts.url, "https")+api.PathAgent, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mux, err := wire.AgentMux(wire.MuxConn(ctx, ws, nil), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mux.Close(); cancel() })
	ctl, err := mux.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if hello != nil {
		if _, err := ctl.Write(hello); err != nil {
			t.Fatal(err)
		}
	}
	return &rawAgent{node: id.NodeID, mux: mux, ctl: ctl}
}

func helloFrame(node string) []byte {
	var w strings.Builder
	wire.NewWriter(&w).WriteJSON(wire.THello, wire.Hello{NodeID: node, AgentVersion: "test"})
	return []byte(w.String())
}

// TestAgentControlStream: no goroutine of the server's reads an agent's
// control stream; its heartbeat takes in what came at each beat. An agent
// that answers the pings stays connected, one that sends what has no
// place on the control stream is disconnected, and so is one whose first
// frame is not a hello; each time the server lets go of everything it
// held for the connection (the server's stop waits for that).
func TestAgentControlStream(t *testing.T) {
	t.Cleanup(server.SetAgentPingInterval(20 * time.Millisecond)) // after the server stops
	ts := startServer(t)

	// A well-behaved agent, answering pings byte by byte: the heartbeat
	// takes frames that arrive in pieces.
	good := dialRawAgent(t, ts, nil)
	if _, err := good.ctl.Write(helloFrame(good.node)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return ts.srv.NodeOnline(good.node) })
	go func() {
		r := wire.NewReader(good.ctl)
		for {
			f, err := r.Read()
			if err != nil {
				return
			}
			if f.Type == wire.TPing {
				for _, b := range wire.AppendFrame(nil, wire.TPong, f.Payload) {
					if _, err := good.ctl.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
		}
	}()

	// One that sends output on its control stream.
	bad := dialRawAgent(t, ts, nil)
	if _, err := bad.ctl.Write(helloFrame(bad.node)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return ts.srv.NodeOnline(bad.node) })
	if _, err := bad.ctl.Write(wire.AppendFrame(nil, wire.TOutput, wire.AppendOutput(nil, 0, []byte("x")))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !ts.srv.NodeOnline(bad.node) })
	waitFor(t, func() bool { return bad.mux.IsClosed() })

	// One that does not say hello.
	mute := dialRawAgent(t, ts, wire.AppendFrame(nil, wire.TPong, nil))
	waitFor(t, func() bool { return mute.mux.IsClosed() })
	if ts.srv.NodeOnline(mute.node) {
		t.Error("a node whose agent said no hello is online")
	}

	// Many heartbeats later the good one is still there.
	time.Sleep(50 * 20 * time.Millisecond)
	if !ts.srv.NodeOnline(good.node) || good.mux.IsClosed() {
		t.Fatal("an agent answering its pings was disconnected")
	}
	good.mux.Close()
	waitFor(t, func() bool { return !ts.srv.NodeOnline(good.node) })
}
