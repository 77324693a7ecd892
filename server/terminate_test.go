package server_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/netfault"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// TestTerminateWithoutTheNode terminates a session whose node never hears
// of it: the link to the node has lost its way there (the node's own
// messages still arrive, so nothing looks disconnected). The session waits
// for the node, then the server ends it alone, so that it does not stay
// Terminating.
func TestTerminateWithoutTheNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ts := startServer(t)
	proxy, err := netfault.New(strings.TrimPrefix(ts.url, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	defer proxy.StallBack(false) // before Close: let the agent's goodbyes through
	var d net.Dialer
	node := runAgent(t, ts, func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, proxy.Addr())
	})
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", "echo ready; exec sleep 600"}})
	if err != nil {
		t.Fatal(err)
	}
	var out, notices syncBuffer
	type result struct {
		exit wire.Exit
		err  error
	}
	ended := make(chan result, 1)
	go func() {
		exit, err := ts.admin.RunTerminal(ctx, sess.ID, client.TerminalIO{Out: &out, Notices: &notices}, client.ResumeOptions{})
		ended <- result{exit, err}
	}()
	waitFor(t, func() bool { return strings.Contains(string(out.Bytes()), "ready") })

	proxy.StallBack(true)
	s, err := ts.admin.Terminate(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != store.StatusTerminating {
		t.Fatalf("after terminate: %s, want Terminating", s.Status)
	}
	ts.clk.Advance(29 * time.Second)
	ts.srv.CheckSession(sess.ID)
	if s, err := ts.admin.Session(ctx, sess.ID); err != nil || s.Status != store.StatusTerminating {
		t.Fatalf("29s after terminate: %+v, %v; want still Terminating, waiting for the node", s, err)
	}
	ts.clk.Advance(time.Second)
	ts.srv.CheckSession(sess.ID)

	var res result
	select {
	case res = <-ended:
	case <-ctx.Done():
		t.Fatalf("the client never saw the session end; notices:\n%s", notices.Bytes())
	}
	const msg = "did not end the session within 30s of being asked (TerminatedByUser); the server ended it"
	if res.err != nil || res.exit.Status != store.StatusTerminated || !strings.Contains(res.exit.Reason, msg) {
		t.Errorf("client saw %+v, %v; want Terminated saying %q", res.exit, res.err, msg)
	}
	if !strings.Contains(string(notices.Bytes()), msg) {
		t.Errorf("the user was not told; notices:\n%s", notices.Bytes())
	}
	s, err = ts.admin.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != store.StatusTerminated || s.StatusReason != "TerminatedByUser" || s.EndedAt == nil {
		t.Errorf("history: %+v, want Terminated (TerminatedByUser) with an end time", s)
	}
}
