package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// readClock is a clock that only the test moves. It counts how often it is
// read, so that a test can wait until the code under test has looked at the
// time since the last Advance (the agent checks its limits on a ticker).
type readClock struct {
	mu    sync.Mutex // guards t and reads
	t     time.Time
	reads int
}

func newReadClock() *readClock {
	return &readClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
}

func (c *readClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	return c.t
}

// Advance moves the clock on and returns how often it had been read.
func (c *readClock) Advance(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.reads
}

func (c *readClock) Reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// The messages a session's user sees when a limit strikes, with the limits
// the tests use: idleSessionTimeout 1, maxSessionDuration 2.
const (
	idleMsg = "no input for 1m0s: the session is ending (idleSessionTimeout)"
	warnMsg = "this session ends in 1m0s: maximum session duration is 2m0s"
	maxMsg  = "the session reached its maximum duration of 2m0s and is ending (maxSessionDuration)"
)

// limitsSession is one session under test with limits, on a server and an
// agent that each have their own clock. Only one side's clock moves (side),
// so whatever ends the session was enforced by that side alone.
type limitsSession struct {
	t        *testing.T
	ctx      context.Context
	side     string // "server" or "agent": the side whose clock moves
	ts       *testServer
	agentClk *readClock
	id       string
	fifo     string // writing a line n here makes the session print out-n
	outputs  int
	in       *io.PipeWriter
	out      syncBuffer    // the session's output on the user's terminal
	notices  syncBuffer    // Postern's own lines on the user's terminal
	ended    chan struct{} // closed when the client saw the session end
	exitErr  error
	exitInfo wire.Exit
	baseRead int // agent clock reads at the last Advance
}

// startLimitsSession starts a server and an agent, sets the account's
// preferences to prefs, and starts a session that prints "ready" and then
// out-N for each line N written to a FIFO, so that the test makes output
// without typing. A client is attached, as a user's terminal would be.
func startLimitsSession(t *testing.T, side, prefs string) *limitsSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	ts := startServer(t)
	if _, err := ts.admin.SetPreferences(ctx, prefs); err != nil {
		t.Fatalf("set preferences: %v", err)
	}
	ls := &limitsSession{t: t, ctx: ctx, side: side, ts: ts, agentClk: newReadClock(), ended: make(chan struct{})}
	node := runClockedAgent(t, ts, ls.agentClk)

	ls.fifo = filepath.Join(t.TempDir(), "make-output")
	if err := syscall.Mkfifo(ls.fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`echo ready; while :; do read -r n < '%s'; echo "out-$n"; done`, ls.fifo)
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", script}})
	if err != nil {
		t.Fatal(err)
	}
	ls.id = sess.ID
	pr, pw := io.Pipe()
	ls.in = pw
	t.Cleanup(func() { pw.Close() })
	go func() {
		ls.exitInfo, ls.exitErr = ts.admin.RunTerminal(ctx, sess.ID, client.TerminalIO{In: pr, Out: &ls.out, Notices: &ls.notices}, client.ResumeOptions{})
		close(ls.ended)
	}()
	ls.waitOutput("ready")
	return ls
}

// runClockedAgent runs an in-process agent whose limits run on clk, checked
// every few milliseconds, with sessions as the test's own user.
func runClockedAgent(t *testing.T, ts *testServer, clk *readClock) string {
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
	ag, err := agent.New(agent.Config{Dir: dir, Logf: t.Logf, DefaultRunAs: me.Username, Now: clk.Now, CheckInterval: 2 * time.Millisecond})
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

// advance moves the clock of the side under test.
func (ls *limitsSession) advance(d time.Duration) {
	if ls.side == "server" {
		ls.ts.clk.Advance(d)
		return
	}
	ls.baseRead = ls.agentClk.Advance(d)
}

// check makes the side under test check the session's limits at the
// current time and waits until it has.
func (ls *limitsSession) check() {
	ls.t.Helper()
	if ls.side == "server" {
		ls.ts.srv.CheckLimits(ls.id)
		return
	}
	// Two reads since the advance: the first check at the new time has
	// finished, since the checker reads the clock once per round.
	waitFor(ls.t, func() bool { return ls.agentClk.Reads() >= ls.baseRead+2 })
}

// expectRunning checks that the limits at the current time do not end the
// session and that its user has seen no message about them.
func (ls *limitsSession) expectRunning() {
	ls.t.Helper()
	ls.check()
	if ls.side == "agent" {
		// The agent's messages and its end of the session travel with the
		// output, so output made after the check shows there were none.
		ls.output()
	}
	s, err := ls.ts.admin.Session(ls.ctx, ls.id)
	if err != nil {
		ls.t.Fatal(err)
	}
	if s.Status != store.StatusConnected {
		ls.t.Fatalf("session is %s (%s), want it still Connected", s.Status, s.StatusReason)
	}
	if term := ls.terminal(); strings.Contains(term, idleMsg) || strings.Contains(term, maxMsg) {
		ls.t.Fatalf("the user was told the session is ending:\n%s", term)
	}
}

// output makes the session print a line without any input, and waits for
// the user to see it.
func (ls *limitsSession) output() {
	ls.t.Helper()
	ls.outputs++
	line := fmt.Sprintf("%d\n", ls.outputs)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Non-blocking: between reads the FIFO may have no reader.
		f, err := os.OpenFile(ls.fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			_, err = f.WriteString(line)
			f.Close()
			if err != nil {
				ls.t.Fatal(err)
			}
			break
		}
		select {
		case <-ls.ended:
			ls.t.Fatalf("the session ended (%s/%s); terminal:\n%s", ls.exitInfo.Status, ls.exitInfo.Reason, ls.terminal())
		default:
		}
		if !errors.Is(err, syscall.ENXIO) || time.Now().After(deadline) {
			ls.t.Fatalf("writing to the session's FIFO: %v\nterminal:\n%s", err, ls.terminal())
		}
		time.Sleep(5 * time.Millisecond)
	}
	ls.waitOutput(fmt.Sprintf("out-%d", ls.outputs))
}

// input types a line, and waits for the terminal to echo it.
func (ls *limitsSession) input(s string) {
	ls.t.Helper()
	if _, err := io.WriteString(ls.in, s+"\n"); err != nil {
		ls.t.Fatal(err)
	}
	ls.waitOutput(s)
}

func (ls *limitsSession) waitOutput(s string) {
	ls.t.Helper()
	ls.waitFor(&ls.out, s, "output")
}

// waitFor waits until buf shows s; it fails at once if the session ends
// without it.
func (ls *limitsSession) waitFor(buf *syncBuffer, s, what string) {
	ls.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(string(buf.Bytes()), s) {
		select {
		case <-ls.ended:
			if !strings.Contains(string(buf.Bytes()), s) {
				ls.t.Fatalf("the session ended (%s/%s) before the %s showed %q; terminal:\n%s", ls.exitInfo.Status, ls.exitInfo.Reason, what, s, ls.terminal())
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			ls.t.Fatalf("the %s never showed %q; terminal:\n%s", what, s, ls.terminal())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// terminal is everything the user saw.
func (ls *limitsSession) terminal() string {
	return string(ls.out.Bytes()) + string(ls.notices.Bytes())
}

// waitMessage waits for the side under test to show msg on the user's
// terminal: the server as a notice, the agent in the session's output.
func (ls *limitsSession) waitMessage(msg string) {
	ls.t.Helper()
	if ls.side == "agent" {
		ls.waitFor(&ls.out, msg, "agent (in the output)")
	} else {
		ls.waitFor(&ls.notices, msg, "server (as a notice)")
	}
}

// expectEnd checks the limits, expects them to end the session for reason
// with msg on the user's terminal, and checks the session history.
func (ls *limitsSession) expectEnd(reason, msg string) {
	ls.t.Helper()
	if ls.side == "server" {
		ls.check()
	} // the agent's checker stops once it ends the session: just wait
	select {
	case <-ls.ended:
		if ls.exitErr != nil {
			ls.t.Fatalf("RunTerminal: %v", ls.exitErr)
		}
	case <-ls.ctx.Done():
		ls.t.Fatalf("the session did not end; terminal:\n%s", ls.terminal())
	}
	if ls.exitInfo.Reason != reason || ls.exitInfo.Status != store.StatusTerminated {
		ls.t.Errorf("client saw the session end %s/%s, want Terminated/%s", ls.exitInfo.Status, ls.exitInfo.Reason, reason)
	}
	ls.waitMessage(msg)

	// The history, as stored.
	st, err := store.OpenSQLite(ls.ctx, filepath.Join(ls.ts.dir, "postern.db"))
	if err != nil {
		ls.t.Fatal(err)
	}
	defer st.Close()
	s, err := st.GetSession(ls.ctx, ls.id)
	if err != nil {
		ls.t.Fatal(err)
	}
	if s.Status != store.StatusTerminated || s.StatusReason != reason || s.EndedAt.IsZero() {
		ls.t.Errorf("stored session: status %s, reason %q, ended %v; want Terminated, %q", s.Status, s.StatusReason, s.EndedAt, reason)
	}

	// Only the side whose clock moved said anything: the other did not
	// enforce, so this side alone did.
	other, otherName := string(ls.out.Bytes()), "agent (in the output)"
	if ls.side == "agent" {
		other, otherName = string(ls.notices.Bytes()), "server (as a notice)"
	}
	if strings.Contains(other, msg) {
		ls.t.Errorf("the %s also showed %q, though its clock never moved", otherName, msg)
	}
	if ls.side == "agent" {
		// The agent's message is part of the session's output, so the
		// recording says why it ended.
		rc, err := ls.ts.admin.Logs(ls.ctx, ls.id, "log")
		if err != nil {
			ls.t.Fatal(err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		// The transcript wraps long lines at the terminal's width.
		if !strings.Contains(strings.ReplaceAll(string(b), "\n", ""), msg) {
			ls.t.Errorf("the transcript lacks %q:\n%s", msg, b)
		}
	}
}

func limitsPrefs(idle, max int, countsOutput bool) string {
	return fmt.Sprintf(`{
  "schemaVersion": "1.0",
  "sessionType": "Standard_Stream",
  "inputs": {
    "idleSessionTimeout": "%d",
    "maxSessionDuration": "%d",
    "idleSessionTimeoutCountsOutput": %t
  }
}`, idle, max, countsOutput)
}

// TestSessionLimits ends sessions at their idle timeout and maximum
// duration with each side's clock in turn: the server's alone, with the
// agent's standing still, and the agent's alone, with the server's standing
// still. Nothing sleeps for the limits: the test moves the clocks.
func TestSessionLimits(t *testing.T) {
	tests := []struct {
		name  string
		prefs string
		run   func(t *testing.T, ls *limitsSession)
	}{
		{
			name:  "idle timeout ends the session",
			prefs: limitsPrefs(1, 0, false),
			run: func(t *testing.T, ls *limitsSession) {
				ls.advance(59 * time.Second)
				ls.expectRunning()
				ls.advance(time.Second)
				ls.expectEnd("IdleTimeout", idleMsg)
			},
		},
		{
			name:  "input resets the idle timeout",
			prefs: limitsPrefs(1, 0, false),
			run: func(t *testing.T, ls *limitsSession) {
				ls.advance(50 * time.Second)
				ls.input("typed-at-50s")
				ls.advance(50 * time.Second) // 100s after the start, 50s after the input
				ls.expectRunning()
				ls.advance(10 * time.Second)
				ls.expectEnd("IdleTimeout", idleMsg)
			},
		},
		{
			name:  "output is not activity by default",
			prefs: limitsPrefs(1, 0, false),
			run: func(t *testing.T, ls *limitsSession) {
				ls.advance(50 * time.Second)
				ls.output()
				ls.advance(10 * time.Second) // 10s after the output
				ls.expectEnd("IdleTimeout", idleMsg)
			},
		},
		{
			name:  "idleSessionTimeoutCountsOutput makes output activity",
			prefs: limitsPrefs(1, 0, true),
			run: func(t *testing.T, ls *limitsSession) {
				ls.advance(50 * time.Second)
				ls.output()
				ls.advance(50 * time.Second) // 100s after the start, 50s after the output
				ls.expectRunning()           // (prints once more, for the agent)
				ls.advance(60 * time.Second)
				ls.expectEnd("IdleTimeout", idleMsg)
			},
		},
		{
			name:  "max duration warns a minute before and ends the session",
			prefs: limitsPrefs(60, 2, false),
			run: func(t *testing.T, ls *limitsSession) {
				ls.advance(59 * time.Second)
				ls.expectRunning()
				if strings.Contains(ls.terminal(), warnMsg) {
					t.Fatalf("warned 61s before the end:\n%s", ls.terminal())
				}
				ls.advance(time.Second)
				ls.check()
				ls.waitMessage(warnMsg)
				ls.expectRunning()
				ls.input("typing-does-not-extend-it")
				ls.advance(59 * time.Second)
				ls.expectRunning()
				ls.advance(time.Second)
				ls.expectEnd("MaxSessionDuration", maxMsg)
				if n := strings.Count(ls.terminal(), warnMsg); n != 1 {
					t.Errorf("warned %d times, want once:\n%s", n, ls.terminal())
				}
			},
		},
	}
	for _, side := range []string{"server", "agent"} {
		t.Run(side, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					tt.run(t, startLimitsSession(t, side, tt.prefs))
				})
			}
		})
	}
}

// TestSessionLimitsSurviveRestart restarts the server during a session:
// the new server still enforces the session's idle timeout (kept in the
// store), with only its own clock moving.
func TestSessionLimitsSurviveRestart(t *testing.T) {
	ls := startLimitsSession(t, "server", limitsPrefs(1, 0, false))
	ls.ts.restart(t)
	// The agent reconnects and resumes the session; the client, cut off,
	// reattaches.
	waitFor(t, func() bool { return ls.ts.srv.SessionAttached(ls.id) })
	ls.output()
	ls.advance(59 * time.Second)
	ls.expectRunning()
	ls.advance(time.Second)
	ls.expectEnd("IdleTimeout", idleMsg)
}
