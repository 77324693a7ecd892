package agent

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/wire"
)

// testClock is a clock that only the test moves. It counts reads, so that a
// test can wait until the agent's limit checker has looked at the time
// since the last Advance.
type testClock struct {
	mu    sync.Mutex // guards t and reads
	t     time.Time
	reads int
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	return c.t
}

// Advance moves the clock on and returns how often it had been read.
func (c *testClock) Advance(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.reads
}

func (c *testClock) Reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// newTestAgent is an agent with no server connection and no identity,
// whose sessions run as the test's own user and whose limits run on clk.
// It trusts a CA of its own, whose signer openSession and openForward sign
// requests with, as the server does.
func newTestAgent(t *testing.T, clk *testClock) *Agent {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{
		cfg: Config{
			Logf: t.Logf, DefaultRunAs: me.Username, Now: clk.Now, CheckInterval: time.Millisecond,
			OrphanTimeout: time.Hour, MaxUnacked: 16 << 20,
		},
		logf:     t.Logf,
		sessions: map[string]*session{},
	}
	trustForTest(t, a)
	t.Cleanup(a.closeAll)
	return a
}

// fakeServer opens a session on an agent over a real multiplexed
// connection, the way the server does, acknowledges every record and
// otherwise does nothing: in particular it never ends a session, so what
// ends one is the agent alone.
type fakeServer struct {
	t    *testing.T
	w    *wire.Writer
	mu   sync.Mutex   // guards out, all and exit
	out  bytes.Buffer // output records
	all  []wire.Record
	exit *wire.Record
	done chan struct{} // closed when the exit record arrived
}

func openSession(t *testing.T, a *Agent, o wire.Open) (*fakeServer, wire.OpenResult) {
	t.Helper()
	st := serverStream(t, a)
	fs := &fakeServer{t: t, w: wire.NewWriter(st), done: make(chan struct{})}
	r := wire.NewReader(st)
	if o.Grant == nil {
		o.Grant = trustOf(t, a).grant(t, o.Request())
	}
	if err := fs.w.WriteJSON(wire.TOpen, o); err != nil {
		t.Fatal(err)
	}
	f, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	var res wire.OpenResult
	if err := wire.DecodeJSON(f, &res); err != nil {
		t.Fatal(err)
	}
	if res.OK {
		go fs.read(r)
	}
	return fs, res
}

func (fs *fakeServer) read(r *wire.Reader) {
	for {
		f, err := r.Read()
		if err != nil {
			return
		}
		rec, err := wire.ParseRecord(f.Payload)
		if err != nil {
			fs.t.Errorf("agent sent a bad record: %v", err)
			return
		}
		fs.mu.Lock()
		rec.Data = append([]byte(nil), rec.Data...)
		fs.all = append(fs.all, rec)
		switch rec.Kind {
		case wire.RecOutput:
			fs.out.Write(rec.Data)
		case wire.RecExit:
			rec.Data = append([]byte(nil), rec.Data...)
			fs.exit = &rec
			close(fs.done)
		}
		fs.mu.Unlock()
		fs.w.Write(wire.TAck, wire.AppendSeq(nil, rec.Seq))
	}
}

func (fs *fakeServer) output() string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.out.String()
}

func (fs *fakeServer) waitOutput(s string) {
	fs.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(fs.output(), s) {
		if time.Now().After(deadline) {
			fs.t.Fatalf("output never showed %q; got:\n%s", s, fs.output())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitExit waits for the session's exit record and returns its reason.
func (fs *fakeServer) waitExit() string {
	fs.t.Helper()
	select {
	case <-fs.done:
	case <-time.After(30 * time.Second):
		fs.t.Fatalf("the session never ended; output:\n%s", fs.output())
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return string(fs.exit.Data)
}

// checked waits until the limit checker has finished a check at the time
// set by the Advance that returned base.
func checked(t *testing.T, clk *testClock, base int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	// The checker reads the clock once per round: after two reads, the
	// round that read the new time is over.
	for clk.Reads() < base+2 {
		if time.Now().After(deadline) {
			t.Fatal("the agent never checked the session's limits")
		}
		time.Sleep(time.Millisecond)
	}
}

// ending reports why the agent is ending session id, or "".
func ending(a *Agent, id string) string {
	a.mu.Lock()
	s := a.sessions[id]
	a.mu.Unlock()
	if s == nil {
		return "(gone)"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.termReason
}

// TestLimitsWithoutServer ends sessions at their limits although the
// server never does: the agent enforces them by itself.
func TestLimitsWithoutServer(t *testing.T) {
	cat := []string{"/bin/sh", "-c", "echo ready; exec cat"}
	tests := []struct {
		name string
		open wire.Open
		run  func(t *testing.T, a *Agent, clk *testClock, fs *fakeServer, id string)
	}{
		{
			name: "idle timeout",
			open: wire.Open{IdleTimeout: time.Minute},
			run: func(t *testing.T, a *Agent, clk *testClock, fs *fakeServer, id string) {
				checked(t, clk, clk.Advance(59*time.Second))
				if r := ending(a, id); r != "" {
					t.Fatalf("ending (%s) after 59s of a 1m idle timeout", r)
				}
				clk.Advance(time.Second)
				if r := fs.waitExit(); r != "IdleTimeout" {
					t.Errorf("exit reason %q, want IdleTimeout", r)
				}
				fs.waitOutput("[postern: no input for 1m0s: the session is ending (idleSessionTimeout)]")
			},
		},
		{
			name: "input resets the idle timeout",
			open: wire.Open{IdleTimeout: time.Minute},
			run: func(t *testing.T, a *Agent, clk *testClock, fs *fakeServer, id string) {
				clk.Advance(50 * time.Second)
				fs.w.Write(wire.TInput, []byte("typed\n"))
				fs.waitOutput("typed\r\ntyped") // the echo, and cat
				checked(t, clk, clk.Advance(50*time.Second))
				if r := ending(a, id); r != "" {
					t.Fatalf("ending (%s) 50s after input", r)
				}
				clk.Advance(10 * time.Second)
				if r := fs.waitExit(); r != "IdleTimeout" {
					t.Errorf("exit reason %q, want IdleTimeout", r)
				}
			},
		},
		{
			name: "max duration warns, then ends",
			open: wire.Open{MaxDuration: 2 * time.Minute},
			run: func(t *testing.T, a *Agent, clk *testClock, fs *fakeServer, id string) {
				checked(t, clk, clk.Advance(59*time.Second))
				const warn = "[postern: this session ends in 1m0s: maximum session duration is 2m0s]"
				if strings.Contains(fs.output(), warn) {
					t.Fatalf("warned 61s before the end")
				}
				checked(t, clk, clk.Advance(time.Second))
				fs.waitOutput(warn)
				checked(t, clk, clk.Advance(59*time.Second))
				if r := ending(a, id); r != "" {
					t.Fatalf("ending (%s) a second before the maximum duration", r)
				}
				clk.Advance(time.Second)
				if r := fs.waitExit(); r != "MaxSessionDuration" {
					t.Errorf("exit reason %q, want MaxSessionDuration", r)
				}
				out := fs.output()
				if !strings.Contains(out, "[postern: the session reached its maximum duration of 2m0s and is ending (maxSessionDuration)]") {
					t.Errorf("no end message; output:\n%s", out)
				}
				if n := strings.Count(out, warn); n != 1 {
					t.Errorf("warned %d times, want once", n)
				}
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			a := newTestAgent(t, clk)
			o := tt.open
			o.SessionID = fmt.Sprintf("test-%017x", i)
			o.Command = cat
			fs, res := openSession(t, a, o)
			if !res.OK {
				t.Fatalf("open: %s", res.Error)
			}
			fs.waitOutput("ready")
			tt.run(t, a, clk, fs, o.SessionID)
		})
	}
}

// TestRunAsRefusals: the agent itself refuses root unless the session
// allows it, and a run-as user that does not exist, whatever the server
// asks; nothing starts, and nothing falls back to another user.
func TestRunAsRefusals(t *testing.T) {
	clk := &testClock{}
	a := newTestAgent(t, clk)
	tests := []struct {
		name    string
		open    wire.Open
		needs   string // "root": only as root
		wantErr string // "": starts
		wantAs  string
	}{
		{name: "root is refused", open: wire.Open{RunAs: "root"}, wantErr: "the run-as user root is root, which the session preferences do not allow"},
		{name: "a user that does not exist is refused", open: wire.Open{RunAs: "postern-no-such-user"}, wantErr: "the run-as user postern-no-such-user does not exist on this node"},
		{name: "another name for uid 0 is refused", open: wire.Open{RunAs: "$uid0"}, needs: "root", wantErr: "is root, which the session preferences do not allow"},
		{name: "root when allowed", open: wire.Open{RunAs: "root", AllowRoot: true}, needs: "root", wantAs: "root"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needs == "root" && os.Geteuid() != 0 {
				t.Skip("needs root (to create users and run sessions as root); the tests run as root in CI")
			}
			o := tt.open
			if o.RunAs == "$uid0" {
				o.RunAs = addUID0User(t)
			}
			o.SessionID = fmt.Sprintf("runas-%017x", i)
			o.Command = []string{"/bin/sh", "-c", "echo started-as-$(id -un)"}
			fs, res := openSession(t, a, o)
			if tt.wantErr != "" {
				if res.OK || !strings.Contains(res.Error, tt.wantErr) {
					t.Fatalf("open = %+v, want an error containing %q", res, tt.wantErr)
				}
				a.mu.Lock()
				n := len(a.sessions)
				a.mu.Unlock()
				if n != 0 {
					t.Errorf("%d sessions started", n)
				}
				return
			}
			if !res.OK || res.RunAsUser != tt.wantAs {
				t.Fatalf("open = %+v, want it to start as %s", res, tt.wantAs)
			}
			fs.waitOutput("started-as-" + tt.wantAs)
			fs.waitExit()
		})
	}
}

// addUID0User creates a user that is root under another name, as some
// systems have (toor), and removes it when the test ends.
func addUID0User(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("pt-uid0-%d", os.Getpid()%100000)
	if out, err := exec.Command("useradd", "--non-unique", "--uid", "0", "--gid", "0", "--no-create-home", "--shell", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		// --force: the user is "in use" by every root process; userdel
		// then warns, but removes it.
		out, err := exec.Command("userdel", "--force", name).CombinedOutput()
		if _, lerr := user.Lookup(name); lerr == nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	return name
}
