package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/netfault"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// runAgentWith is runAgent with the agent's configuration adjusted by set.
func runAgentWith(t *testing.T, ts *testServer, dial func(ctx context.Context, network, addr string) (net.Conn, error), set func(*agent.Config)) string {
	t.Helper()
	a := ts.activation(t, api.CreateActivationRequest{})
	dir := t.TempDir()
	id, err := agent.Register(context.Background(), agent.RegisterOptions{Server: ts.url, Code: a.Code, ID: a.ID, CAPin: a.CAPin, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg := agent.Config{Dir: dir, Logf: t.Logf, DialContext: dial, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	set(&cfg)
	ag, err := agent.New(cfg)
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

// lateMarkerRE finds the marker a late hand-over puts in the .cast.
var lateMarkerRE = regexp.MustCompile(`^late output: the server ended this session at \S+ \(AgentDisconnected\); node mi-[0-9a-f]{17} handed over what follows at \S+, and ended the command if it still ran$`)

// lostNode is a session whose node the server gave up on: its agent's
// link is black-holed, and the grace period has passed.
type lostNode struct {
	ts       *testServer
	proxy    *netfault.Proxy
	id       string
	pid      int // the command's, on the node
	agentLog *syncBuffer
}

const lostNodeMaxUnacked = 64 << 10

// loseNode starts a command printing numbered lines on an agent with a
// small buffer (lostNodeMaxUnacked), black-holes the agent's link and lets
// the grace period pass: the session fails as AgentDisconnected while the
// command goes on, paused once the agent's buffer is full.
func loseNode(t *testing.T, ctx context.Context) *lostNode {
	t.Cleanup(wire.SetLiveness(100*time.Millisecond, 300*time.Millisecond))
	ts := startServer(t)
	proxy, err := netfault.New(strings.TrimPrefix(ts.url, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Stall(false); proxy.Close() })
	var d net.Dialer
	agentLog := &syncBuffer{}
	node := runAgentWith(t, ts, func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, proxy.Addr())
	}, func(c *agent.Config) {
		c.MaxUnacked = lostNodeMaxUnacked
		c.Logf = func(format string, args ...any) {
			t.Logf(format, args...)
			fmt.Fprintf(agentLog, format+"\n", args...)
		}
	})

	script := `echo pid=$$; i=0; while :; do i=$((i+1)); echo line-$i; if [ $((i % 50)) -eq 0 ]; then sleep 0.01; fi; done`
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", script}})
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
	waitFor(t, func() bool { return bytes.Contains(out.Bytes(), []byte("line-100\r\n")) })
	m := regexp.MustCompile(`pid=(\d+)\r\n`).FindSubmatch(out.Bytes())
	if m == nil {
		t.Fatalf("no pid in the output: %q", out.Bytes())
	}
	pid, _ := strconv.Atoi(string(m[1]))

	// Black-holed: the server notices by its missed pings, and the grace
	// period (2 minutes) passes on its clock.
	proxy.Stall(true)
	waitFor(t, func() bool { return !ts.srv.AgentAttached(sess.ID) })
	ts.clk.Advance(3 * time.Minute)
	ts.srv.CheckSession(sess.ID)
	s, err := ts.admin.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != store.StatusFailed || s.StatusReason != "AgentDisconnected" {
		t.Fatalf("session after the grace period = %s/%s, want Failed/AgentDisconnected", s.Status, s.StatusReason)
	}
	select {
	case res := <-ended:
		if res.err != nil || res.exit.Status != store.StatusFailed || !strings.Contains(res.exit.Reason, "lost contact with node") {
			t.Errorf("the client saw %+v, %v; want Failed, saying contact was lost", res.exit, res.err)
		}
	case <-ctx.Done():
		t.Fatal("the client never saw the session fail")
	}
	// The command goes on meanwhile, paused once the agent's buffer is full.
	waitFor(t, func() bool {
		return regexp.MustCompile(`session ` + sess.ID + `: \d+ bytes of output wait for the server, which is away; the command waits`).Match(agentLog.Bytes())
	})
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the command is gone before its agent came back: %v", err)
	}
	return &lostNode{ts: ts, proxy: proxy, id: sess.ID, pid: pid, agentLog: agentLog}
}

// commandEnded waits until the node's command is gone and the agent has
// let go of the session.
func (ln *lostNode) commandEnded(t *testing.T) {
	t.Helper()
	waitFor(t, func() bool { return errors.Is(syscall.Kill(ln.pid, 0), syscall.ESRCH) })
	waitFor(t, func() bool {
		return bytes.Contains(ln.agentLog.Bytes(), []byte("agent: session "+ln.id+" closed: the server has all of it"))
	})
}

// TestLateOutputAfterGrace black-holes the agent's link past the grace
// period while a command prints numbered lines. The session fails; the
// command goes on, its output held by the agent up to the agent's bound,
// beyond which the command waits. When the link comes back the agent
// hands over what it holds: the recording then has every line exactly
// once, in order, with the late marker where the late part begins; the
// command on the node is gone; the session is still Failed.
func TestLateOutputAfterGrace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ln := loseNode(t, ctx)
	ts := ln.ts

	ln.proxy.Stall(false)
	ln.commandEnded(t)
	waitFor(t, func() bool {
		rc, err := ts.admin.Logs(ctx, ln.id, "log")
		if err != nil {
			return false
		}
		log, _ := io.ReadAll(rc)
		rc.Close()
		// The exit record is the hand-over's last.
		return regexp.MustCompile(`Script done on .* \[COMMAND_EXIT_CODE="\d+"\]\n$`).Match(log)
	})
	rc, err := ts.admin.Logs(ctx, ln.id, "cast")
	if err != nil {
		t.Fatal(err)
	}
	_, events, err := recording.ReadCast(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	var onTime, late bytes.Buffer
	markers := 0
	for _, ev := range events {
		switch {
		case ev.Type == "m" && strings.HasPrefix(ev.Data, "late output"):
			markers++
			if !lateMarkerRE.MatchString(ev.Data) {
				t.Errorf("late marker %q", ev.Data)
			}
		case ev.Type == "o" && markers == 0:
			onTime.WriteString(ev.Data)
		case ev.Type == "o":
			late.WriteString(ev.Data)
		}
	}
	if markers != 1 {
		t.Fatalf("%d late markers in the recording, want 1", markers)
	}
	if late.Len() == 0 {
		t.Fatal("nothing after the late marker: the output made while the agent was away is missing")
	}
	if late.Len() > lostNodeMaxUnacked+64<<10 {
		t.Errorf("%d bytes of late output: more than the agent may hold (%d) and one read", late.Len(), lostNodeMaxUnacked)
	}
	checkNumberedLines(t, append(onTime.Bytes(), late.Bytes()...), ln.pid)
	if s, err := ts.admin.Session(ctx, ln.id); err != nil || s.Status != store.StatusFailed || s.StatusReason != "AgentDisconnected" {
		t.Errorf("session after the late output = %+v, %v; want still Failed/AgentDisconnected", s, err)
	}
	t.Logf("%d bytes on time, %d late", onTime.Len(), late.Len())
}

// TestLateOutputOfDeletedLogs: a session whose logs were deleted after it
// failed keeps nothing, late output neither; its command is ended all
// the same.
func TestLateOutputOfDeletedLogs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ln := loseNode(t, ctx)
	if _, err := ln.ts.admin.DeleteLogs(ctx, ln.id); err != nil {
		t.Fatal(err)
	}
	ln.proxy.Stall(false)
	ln.commandEnded(t)
	if _, err := ln.ts.admin.Logs(ctx, ln.id, "cast"); err == nil || !strings.Contains(err.Error(), "deleted") {
		t.Errorf("logs of the deleted session after its late output: %v, want them still deleted", err)
	}
}

// checkNumberedLines checks output of `echo pid=$$` and then line-1,
// line-2, ... : every line once, in order; the last may be cut off.
func checkNumberedLines(t *testing.T, out []byte, pid int) {
	t.Helper()
	lines := bytes.Split(out, []byte("\r\n"))
	if string(lines[0]) != fmt.Sprintf("pid=%d", pid) {
		t.Fatalf("first line %q", lines[0])
	}
	lines = lines[1:]
	for i, l := range lines {
		want := fmt.Sprintf("line-%d", i+1)
		if string(l) != want && !(i == len(lines)-1 && strings.HasPrefix(want, string(l))) {
			t.Fatalf("line %d is %q, want %q: output was lost, repeated or reordered", i+1, l, want)
		}
	}
}

// TestRestartedAgentLosesItsSessions: an agent that restarted has lost its
// sessions' shells and lists none when it connects again, so a session the
// server still runs fails as AgentRestarted at once, and one the server
// had already failed stays as it was: nothing is late.
func TestRestartedAgentLosesItsSessions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ts := startServer(t)
	a := ts.activation(t, api.CreateActivationRequest{})
	dir := t.TempDir()
	id, err := agent.Register(ctx, agent.RegisterOptions{Server: ts.url, Code: a.Code, ID: a.ID, CAPin: a.CAPin, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// run starts the node's agent afresh, with no memory of sessions.
	run := func() (stop func()) {
		ag, err := agent.New(agent.Config{Dir: dir, Logf: t.Logf, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		actx, acancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { ag.Run(actx); close(done) }()
		waitFor(t, func() bool { return ts.srv.NodeOnline(id.NodeID) })
		stop = func() { acancel(); <-done }
		t.Cleanup(stop)
		return stop
	}
	start := func() api.Session {
		s, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: id.NodeID, Command: []string{"/bin/sh", "-c", "exec sleep 600"}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	status := func(id string) string {
		s, err := ts.admin.Session(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return s.Status + "/" + s.StatusReason
	}

	stop := run()
	gaveUp := start()
	stop()
	waitFor(t, func() bool { return !ts.srv.NodeOnline(id.NodeID) && !ts.srv.AgentAttached(gaveUp.ID) })
	ts.clk.Advance(3 * time.Minute)
	ts.srv.CheckSession(gaveUp.ID)
	if got := status(gaveUp.ID); got != "Failed/AgentDisconnected" {
		t.Fatalf("session whose agent stayed away: %s, want Failed/AgentDisconnected", got)
	}

	stop = run()
	lost := start()
	stop()
	waitFor(t, func() bool { return !ts.srv.NodeOnline(id.NodeID) && !ts.srv.AgentAttached(lost.ID) })
	run()
	waitFor(t, func() bool { return status(lost.ID) != "Connected/" })
	if got := status(lost.ID); got != "Failed/AgentRestarted" {
		t.Errorf("session whose agent restarted within the grace period: %s, want Failed/AgentRestarted", got)
	}
	if got := status(gaveUp.ID); got != "Failed/AgentDisconnected" {
		t.Errorf("session the server had given up on, after its agent restarted: %s, want still Failed/AgentDisconnected", got)
	}
}
