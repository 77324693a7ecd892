package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/events"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/netfault"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/server"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

// runAgent registers and runs an in-process agent whose connection goes
// through dial.
func runAgent(t *testing.T, ts *testServer, dial func(ctx context.Context, network, addr string) (net.Conn, error)) string {
	t.Helper()
	a := ts.activation(t, api.CreateActivationRequest{})
	dir := t.TempDir()
	id, err := agent.Register(context.Background(), agent.RegisterOptions{Server: ts.url, Code: a.Code, ID: a.ID, CAPin: a.CAPin, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ag, err := agent.New(agent.Config{Dir: dir, Logf: t.Logf, DialContext: dial, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ag.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, func() bool { return ts.srv.NodeOnline(id.NodeID) })
	return id.NodeID
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestResumeAcrossConnectionCuts cuts the client's and the agent's
// connections again and again while a session prints a known stream. The
// client must show every byte exactly once and in order, and the recording
// must hold the same bytes.
func TestResumeAcrossConnectionCuts(t *testing.T) {
	// Short liveness timing, so black-holed links are noticed quickly.
	t.Cleanup(wire.SetLiveness(100*time.Millisecond, 300*time.Millisecond))
	// A log store, for the session's state changes as events.
	ls, err := logstore.Open(context.Background(), filepath.Join(t.TempDir(), "logs.db"), logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	ts := startServerWith(t, func(c *server.Config) { c.LogStore = ls })
	target := strings.TrimPrefix(ts.url, "https://")
	agentProxy, err := netfault.New(target)
	if err != nil {
		t.Fatal(err)
	}
	defer agentProxy.Close()
	clientProxy, err := netfault.New(target)
	if err != nil {
		t.Fatal(err)
	}
	defer clientProxy.Close()

	var d net.Dialer
	node := runAgent(t, ts, func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, agentProxy.Addr())
	})

	const lines = 4000
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do i=$((i+1)); echo "line-$i"; if [ $((i %% 200)) -eq 0 ]; then sleep 0.1; fi; done; exit 4`, lines)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", script}})
	if err != nil {
		t.Fatal(err)
	}
	tok := ts.adminToken
	c, err := client.New(client.Config{Server: "https://" + clientProxy.Addr(), CA: string(ts.srv.CA().CertPEM), Token: tok})
	if err != nil {
		t.Fatal(err)
	}

	// Faults, in turn until the session ends: cut the client's connection,
	// cut the agent's, stall the agent's briefly (flow control absorbs it),
	// and black-hole the client's long enough that only a missed ping can
	// reveal it.
	stop := make(chan struct{})
	faultsDone := make(chan int)
	go func() {
		cuts := 0
		for i := 0; ; i++ {
			select {
			case <-stop:
				faultsDone <- cuts
				return
			case <-time.After(150 * time.Millisecond):
			}
			switch i % 4 {
			case 0:
				cuts += clientProxy.Cut()
			case 1:
				cuts += agentProxy.Cut()
			case 2:
				agentProxy.Stall(true)
				time.Sleep(100 * time.Millisecond)
				agentProxy.Stall(false)
			case 3:
				clientProxy.Stall(true)
				time.Sleep(3 * 300 * time.Millisecond) // three liveness timeouts (SetLiveness above)
				clientProxy.Stall(false)
			}
		}
	}()
	var out, notices syncBuffer
	exit, err := c.RunTerminal(ctx, sess.ID, client.TerminalIO{Out: &out, Notices: &notices}, client.ResumeOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	close(stop)
	cuts := <-faultsDone
	if err != nil {
		t.Fatalf("RunTerminal: %v\nnotices: %s", err, notices.Bytes())
	}
	if exit.Code != 4 {
		t.Errorf("exit code %d, want 4", exit.Code)
	}
	if cuts < 4 {
		t.Errorf("only %d connections were cut; the test did not exercise resumption", cuts)
	}
	t.Logf("%d connections cut; notices:\n%s", cuts, notices.Bytes())

	got := out.Bytes()
	var want bytes.Buffer
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&want, "line-%d\r\n", i)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("client output differs from the stream the node produced (%d bytes, want %d)\n%s", len(got), want.Len(), firstDiff(got, want.Bytes()))
	}

	// Its state changes are events: the client's cuts are Disconnected,
	// its returns Resumed.
	var states []string
	waitFor(t, func() bool {
		evs, _ := ls.GroupEvents(ctx, store.DefaultAccount, events.LogGroup, 0, 10000)
		states = states[:0]
		for _, e := range evs {
			var ev struct {
				DetailType string              `json:"detail-type"`
				Detail     events.SessionState `json:"detail"`
			}
			if json.Unmarshal([]byte(e.Message), &ev) == nil && ev.DetailType == events.SessionStateChange && ev.Detail.SessionID == sess.ID {
				states = append(states, ev.Detail.State)
			}
		}
		return len(states) > 0 && states[len(states)-1] == events.StateTerminated
	})
	for _, want := range []string{events.StateStarted, events.StateConnected, events.StateDisconnected, events.StateResumed} {
		if !slices.Contains(states, want) {
			t.Errorf("the session's states %v lack %s", states, want)
		}
	}
	if states[0] != events.StateStarted && states[0] != events.StateConnected {
		t.Errorf("the session's states begin with %s: %v", states[0], states)
	}

	// The recording holds the same bytes.
	rc, err := ts.admin.Logs(ctx, sess.ID, "cast")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, events, err := recording.ReadCast(rc)
	if err != nil {
		t.Fatal(err)
	}
	var rec bytes.Buffer
	for _, ev := range events {
		if ev.Type == "o" {
			rec.WriteString(ev.Data)
		}
	}
	if !bytes.Equal(rec.Bytes(), want.Bytes()) {
		t.Fatalf("recording differs from the stream (%d bytes, want %d)\n%s", rec.Len(), want.Len(), firstDiff(rec.Bytes(), want.Bytes()))
	}
}

func firstDiff(got, want []byte) string {
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			lo := max(0, i-40)
			return fmt.Sprintf("first difference at byte %d:\n got: %q\nwant: %q", i, got[lo:min(len(got), i+40)], want[lo:min(len(want), i+40)])
		}
	}
	return fmt.Sprintf("one is a prefix of the other (got %d, want %d bytes)", len(got), len(want))
}

// TestRestartEndsARecordedExit: a server killed after a session's exit
// record was durable, and before the session's end was stored, finds the
// exit in the journal when it starts again and ends the session with it.
// (The agent freed the session once the exit was acknowledged: waiting for
// it to send the exit again would wait for ever.)
func TestRestartEndsARecordedExit(t *testing.T) {
	ts := startServer(t)
	node := runAgent(t, ts, nil)
	ctx := t.Context()
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", "echo hi; exit 7"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		s, err := ts.admin.Session(ctx, sess.ID)
		return err == nil && s.EndedAt != nil
	})
	// The store as the kill left it: the session still running.
	s, err := ts.srvStore.GetSession(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.Status, s.StatusReason, s.EndedAt, s.ExitCode = store.StatusConnected, "", time.Time{}, nil
	if err := ts.srvStore.UpdateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	ts.restart(t)
	got, err := ts.admin.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusTerminated || got.ExitCode == nil || *got.ExitCode != 7 || got.EndedAt == nil {
		t.Fatalf("after the restart: %s exit %v ended %v; want Terminated with the journal's exit 7", got.Status, got.ExitCode, got.EndedAt)
	}
}
