package server_test

import (
	"bytes"
	"context"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/api"
	"github.com/postern/postern/server"
	"github.com/postern/postern/store"
)

// startAgent registers a node and runs its agent in this process until the
// returned function stops it.
func startAgent(t *testing.T, ts *testServer) (nodeID string, stop func()) {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	a := ts.activation(t, api.CreateActivationRequest{})
	dir := t.TempDir()
	id, err := agent.Register(context.Background(), agent.RegisterOptions{Server: ts.url, Code: a.Code, ID: a.ID, CAPin: a.CAPin, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ag, err := agent.New(agent.Config{Dir: dir, Logf: t.Logf, DefaultRunAs: me.Username})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ag.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	waitFor(t, func() bool { return ts.srv.NodeOnline(id.NodeID) })
	return id.NodeID, stop
}

// TestNodeLastSeenFollowsHeartbeats checks that a connected node's
// last-seen time follows the agent's answers to the server's pings, that
// the store gets it only now and then (a write per heartbeat and agent
// would keep the store busy for a large fleet), and that it gets the last
// one when the agent goes.
func TestNodeLastSeenFollowsHeartbeats(t *testing.T) {
	t.Cleanup(server.SetAgentPingInterval(20 * time.Millisecond)) // after the server stops
	ts := startServer(t)
	ctx := t.Context()
	connected := ts.clk.Now().Truncate(time.Microsecond) // the store keeps microseconds
	node, stop := startAgent(t, ts)
	stored := func() time.Time {
		n, err := ts.srvStore.GetNode(ctx, node)
		if err != nil {
			t.Fatal(err)
		}
		return n.LastSeen
	}
	listed := func() time.Time {
		ns, err := ts.admin.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.ID == node {
				return n.LastSeen.Truncate(time.Microsecond) // as the store keeps it
			}
		}
		t.Fatalf("node %s not listed", node)
		return time.Time{}
	}
	if got := stored(); !got.Equal(connected) {
		t.Fatalf("stored last-seen time after connecting = %v, want the connection's %v", got, connected)
	}

	// A minute on, heartbeats move the listed time and leave the store's.
	ts.clk.Advance(time.Minute)
	waitFor(t, func() bool { return listed().Equal(connected.Add(time.Minute)) })
	if got := stored(); !got.Equal(connected) {
		t.Errorf("a heartbeat was written to the store: last-seen %v, want %v until it is minutes old", got, connected)
	}

	// Minutes on, a heartbeat is written.
	ts.clk.Advance(6 * time.Minute)
	waitFor(t, func() bool { return stored().Equal(connected.Add(7 * time.Minute)) })

	// A minute later the agent goes: the store gets its last heartbeat,
	// and the listing of the offline node shows it.
	ts.clk.Advance(time.Minute)
	last := connected.Add(8 * time.Minute)
	waitFor(t, func() bool { return listed().Equal(last) })
	stop()
	waitFor(t, func() bool { return !ts.srv.NodeOnline(node) })
	waitFor(t, func() bool { return stored().Equal(last) })
	if got := listed(); !got.Equal(last) {
		t.Errorf("offline node listed as last seen %v, want %v", got, last)
	}
}

// TestConnectedAgentsCostFewGoroutines checks what each connected idle
// agent keeps running in the server, which a fleet of thousands
// multiplies: the multiplexer's two goroutines, and no HTTP handler, no
// reader of its control stream (the heartbeat is a timer), no pinger and
// no keep-alive of the server's (the agents in this process run yamux's
// keep-alive of their own, one each).
func TestConnectedAgentsCostFewGoroutines(t *testing.T) {
	ts := startServer(t)
	const agents = 5
	for range agents {
		startAgent(t, ts)
	}
	waitFor(t, func() bool {
		return goroutinesIn("github.com/postern/postern/server.(*Server).handleAgent") == 0 &&
			goroutinesIn("github.com/postern/postern/server.(*Server).serveAgent") == 0
	})
	for frame, want := range map[string]int{
		"github.com/postern/postern/server.(*Server).setUpAgent": 0,
		"github.com/hashicorp/yamux.(*Stream).Read":              agents, // the agents' own control loops
		"github.com/hashicorp/yamux.(*Session).keepalive":        agents,
		"github.com/hashicorp/yamux.(*Session).recvLoop":         2 * agents,
		"github.com/hashicorp/yamux.(*Session).sendLoop":         2 * agents,
	} {
		if got := goroutinesIn(frame); got != want {
			t.Errorf("%d goroutines in %s with %d agents connected, want %d", got, frame, agents, want)
		}
	}
}

// goroutinesIn counts the goroutines that have function frame on their
// stack.
func goroutinesIn(frame string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	c := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		for _, line := range strings.Split(string(g), "\n") {
			if strings.HasPrefix(line, frame+"(") {
				c++
				break
			}
		}
	}
	return c
}

// TestRegistrationLeavesNoConnection registers nodes in this process, as
// postern dev and the fleet load test do: each registration is one request,
// and no connection may stay open after it (with thousands of nodes, the
// server held a connection and a goroutine for each until it stopped).
func TestRegistrationLeavesNoConnection(t *testing.T) {
	ts := startServer(t)
	acts := make([]api.Activation, 3)
	for i := range acts {
		acts[i] = ts.activation(t, api.CreateActivationRequest{})
	}
	base := goroutinesIn("net/http.(*conn).serve") // the admin client's
	for _, a := range acts {
		if _, err := ts.register(t, a, a.Code); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return goroutinesIn("net/http.(*conn).serve") == base })
}

// TestStopLeavesLastSeenAlone stops a server with an agent connected: the
// agent goes, but not because it went away, and a stop with thousands of
// agents must not write each one's last-seen time to the store (they come
// back to the next server in a moment).
func TestStopLeavesLastSeenAlone(t *testing.T) {
	t.Cleanup(server.SetAgentPingInterval(20 * time.Millisecond)) // after the server stops
	ts := startServer(t)
	ctx := t.Context()
	connected := ts.clk.Now().Truncate(time.Microsecond)
	node, _ := startAgent(t, ts)
	ts.clk.Advance(time.Minute)
	waitFor(t, func() bool {
		ns, err := ts.admin.Nodes(ctx)
		return err == nil && len(ns) == 1 && ns[0].LastSeen.Truncate(time.Microsecond).Equal(connected.Add(time.Minute))
	})
	ts.stop()
	st, err := store.OpenSQLite(ctx, filepath.Join(ts.dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.GetNode(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	if !n.LastSeen.Equal(connected) {
		t.Errorf("after the stop the store has last-seen %v, want the connection's %v: the stop wrote it", n.LastSeen, connected)
	}
}
