package runcommand

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/clocktest"
	"github.com/postern/postern/store"
)

// fakeRunner stands in for the server's sessions: the test decides when
// and how each node's session ends.
type fakeRunner struct {
	mu      sync.Mutex // guards the fields below
	started []string   // node ids, in the order started
	execs   map[string]*fakeExec
	running int // started and not yet ended by the test
	most    int // the most running at once
	// startErr fails the start on a node; resume answers Resume by
	// session id; auto ends every session at once with exit 0.
	startErr map[string]error
	resume   map[string]func() (Execution, error)
	auto     bool
}

type fakeExec struct {
	r     *fakeRunner
	spec  Spec
	done  chan Outcome
	stops chan string
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{execs: map[string]*fakeExec{}, startErr: map[string]error{}, resume: map[string]func() (Execution, error){}}
}

func (f *fakeRunner) Start(ctx context.Context, spec Spec) (Execution, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, spec.NodeID)
	if err := f.startErr[spec.NodeID]; err != nil {
		return nil, err
	}
	e := &fakeExec{r: f, spec: spec, done: make(chan Outcome, 1), stops: make(chan string, 4)}
	f.execs[spec.NodeID] = e
	f.running++
	f.most = max(f.most, f.running)
	if f.auto {
		e.endLocked(store.StatusTerminated, "", 0, "ok\n")
	}
	return e, nil
}

func (f *fakeRunner) Resume(ctx context.Context, account, sessionID string) (Execution, error) {
	f.mu.Lock()
	fn := f.resume[sessionID]
	f.mu.Unlock()
	if fn == nil {
		return nil, fmt.Errorf("test: unexpected resume of %s", sessionID)
	}
	return fn()
}

func (f *fakeRunner) exec(t *testing.T, node string) *fakeExec {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.execs[node]
	if e == nil {
		t.Fatalf("node %s was not started (started: %v)", node, f.started)
	}
	return e
}

func (f *fakeRunner) startedNodes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.started)
}

// end ends the session as a node would: with status, reason and, if not
// negative, an exit code.
func (e *fakeExec) end(status, reason string, code int, stdout string) {
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	e.endLocked(status, reason, code, stdout)
}

func (e *fakeExec) endLocked(status, reason string, code int, stdout string) {
	e.r.running--
	o := Outcome{Session: store.Session{ID: e.spec.SessionID, Status: status, StatusReason: reason}}
	if code >= 0 {
		o.Session.ExitCode = &code
	}
	o.Stdout.Write([]byte(stdout))
	e.done <- o
}

func (e *fakeExec) Wait(ctx context.Context) (Outcome, bool) {
	select {
	case o := <-e.done:
		return o, true
	case <-ctx.Done():
		return Outcome{}, false
	}
}

func (e *fakeExec) Stop(reason string) { e.stops <- reason }

// fixture is a service on a real SQLite store, with the fake runner and
// the fake clock.
type fixture struct {
	svc    *Service
	st     *store.SQLite
	runner *fakeRunner
	clk    *clocktest.Clock
	tick   chan time.Time
}

const acct = store.DefaultAccount

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureAccount(t.Context(), store.Account{ID: acct, Name: "default"}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, runner: newFakeRunner(), clk: clocktest.New(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)), tick: make(chan time.Time, 1)}
	n := 0
	f.svc = New(Deps{
		Store: st, Nodes: st, Runner: f.runner, Now: f.clk.Now, Logf: t.Logf,
		Authorize: func(context.Context, string, string, string, []store.Node) error { return nil },
		NewSessionID: func(user string) string {
			n++
			return fmt.Sprintf("%s-%017x", user, n)
		},
	})
	return f
}

// command stores a command on nodes with the limits, and returns its run.
func (f *fixture) command(t *testing.T, nodes int, conc, maxErrs string, timeout time.Duration) *run {
	t.Helper()
	c := store.Command{Account: acct, ID: fmt.Sprintf("cmd-%d", time.Now().UnixNano()), Owner: "alice", DocumentName: "AWS-RunShellScript",
		Targets: "[]", MaxConcurrency: conc, MaxErrors: maxErrs, Script: "true", Timeout: timeout,
		Status: StatusPending, StatusDetails: StatusPending, TargetCount: nodes, RequestedAt: f.clk.Now()}
	var invs []store.CommandInvocation
	for i := range nodes {
		invs = append(invs, store.CommandInvocation{Account: acct, CommandID: c.ID, NodeID: node(i), Seq: i, Status: StatusPending, StatusDetails: StatusPending})
	}
	if err := f.st.CreateCommand(t.Context(), c, invs); err != nil {
		t.Fatal(err)
	}
	f.svc.ctx = t.Context()
	return f.svc.newRun(c, invs)
}

func node(i int) string { return fmt.Sprintf("mi-%017x", i+1) }

// step runs one step of r and fails if the run is over.
func (f *fixture) step(t *testing.T, r *run) {
	t.Helper()
	if r.step(t.Context(), f.tick) {
		t.Fatal("the run ended early")
	}
}

// finish runs r's last step.
func (f *fixture) finish(t *testing.T, r *run) {
	t.Helper()
	if !r.step(t.Context(), f.tick) {
		t.Fatalf("the run goes on: %+v", r.invs)
	}
}

// check compares the stored invocations' statuses and the command's.
func (f *fixture) check(t *testing.T, r *run, status, details string, invs ...string) {
	t.Helper()
	c, stored, err := f.svc.Command(t.Context(), acct, r.cmd.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != status || c.StatusDetails != details {
		t.Errorf("command: %s (%s), want %s (%s)", c.Status, c.StatusDetails, status, details)
	}
	var got []string
	for _, in := range stored {
		got = append(got, in.Status+"/"+in.StatusDetails)
	}
	if !slices.Equal(got, invs) {
		t.Errorf("invocations: %v, want %v", got, invs)
	}
}

// TestOneAtATimeStopsAtFirstError: with max concurrency 1 and max errors
// 0, the nodes run one after the other; the first failure starts no
// more, and the command fails.
func TestOneAtATimeStopsAtFirstError(t *testing.T) {
	f := newFixture(t)
	r := f.command(t, 3, "1", "0", time.Hour)
	f.step(t, r) // node 1 starts
	if got := f.runner.startedNodes(); !slices.Equal(got, []string{node(0)}) {
		t.Fatalf("started %v, want only the first node", got)
	}
	f.runner.exec(t, node(0)).end(store.StatusTerminated, "", 0, "fine\n")
	f.step(t, r) // it ends
	f.step(t, r) // node 2 starts
	f.runner.exec(t, node(1)).end(store.StatusTerminated, "", 3, "")
	f.step(t, r) // it fails: no more start
	f.finish(t, r)
	if got := f.runner.startedNodes(); !slices.Equal(got, []string{node(0), node(1)}) {
		t.Errorf("started %v, want the first two nodes only", got)
	}
	f.check(t, r, StatusFailed, StatusFailed, "Success/Success", "Failed/Failed", "Cancelled/MaxErrorsExceeded")
	c, invs, _ := f.svc.Command(t.Context(), acct, r.cmd.ID)
	if c.TargetCount != 3 || c.CompletedCount != 3 || c.ErrorCount != 1 || c.EndedAt.IsZero() {
		t.Errorf("command counts: %d targets, %d completed, %d errors, ended %v", c.TargetCount, c.CompletedCount, c.ErrorCount, c.EndedAt)
	}
	if invs[0].Stdout != "fine\n" || invs[0].ExitCode == nil || *invs[0].ExitCode != 0 || invs[1].ExitCode == nil || *invs[1].ExitCode != 3 {
		t.Errorf("results: %+v", invs[:2])
	}
	if invs[0].SessionID == "" || invs[0].SessionID == invs[1].SessionID || invs[2].SessionID != "" {
		t.Errorf("session ids %q %q %q: want one per node started", invs[0].SessionID, invs[1].SessionID, invs[2].SessionID)
	}
}

// TestConcurrencyAndMaxErrors: 50% of 4 nodes run at once; max errors 1
// lets one failure by, the second stops the starts; what runs finishes.
func TestConcurrencyAndMaxErrors(t *testing.T) {
	f := newFixture(t)
	r := f.command(t, 4, "50%", "1", time.Hour)
	f.step(t, r) // nodes 1 and 2 start, one reports
	f.step(t, r) // the other reports
	if got := f.runner.startedNodes(); len(got) != 2 {
		t.Fatalf("started %v, want two at once", got)
	}
	f.runner.exec(t, node(0)).end(store.StatusTerminated, "", 1, "")
	f.step(t, r) // node 1 fails: one error is allowed
	f.step(t, r) // node 3 starts
	f.runner.exec(t, node(1)).end(store.StatusTerminated, "", 2, "")
	f.step(t, r) // node 2 fails: two errors, more than one
	f.runner.exec(t, node(2)).end(store.StatusTerminated, "", 0, "")
	f.step(t, r) // node 3, which ran, finishes
	f.finish(t, r)
	if f.runner.most > 2 {
		t.Errorf("%d nodes ran at once, want at most 2", f.runner.most)
	}
	if got := f.runner.startedNodes(); len(got) != 3 {
		t.Errorf("started %v, want three: the fourth not after the second error", got)
	}
	f.check(t, r, StatusFailed, StatusFailed, "Failed/Failed", "Failed/Failed", "Success/Success", "Cancelled/MaxErrorsExceeded")
}

// TestExecutionTimeout: a node running past the execution timeout, on
// the fake clock, is asked to end; its session's reason makes it TimedOut,
// which counts as an error.
func TestExecutionTimeout(t *testing.T) {
	f := newFixture(t)
	r := f.command(t, 1, "1", "0", time.Minute)
	f.step(t, r)
	e := f.runner.exec(t, node(0))
	f.clk.Advance(59 * time.Second)
	f.tick <- f.clk.Now()
	f.step(t, r)
	select {
	case why := <-e.stops:
		t.Fatalf("stopped (%s) before its timeout", why)
	default:
	}
	f.clk.Advance(time.Second)
	f.tick <- f.clk.Now()
	f.step(t, r)
	if why := <-e.stops; why != ReasonTimedOut {
		t.Fatalf("stopped for %q, want %q", why, ReasonTimedOut)
	}
	e.end(store.StatusTerminated, ReasonTimedOut, -1, "partial")
	f.step(t, r)
	f.finish(t, r)
	f.check(t, r, StatusTimedOut, DetailExecutionTimedOut, "TimedOut/ExecutionTimedOut")
}

// TestCancel: cancelling ends what runs and starts nothing more.
func TestCancel(t *testing.T) {
	f := newFixture(t)
	r := f.command(t, 3, "1", "0", time.Hour)
	f.step(t, r)
	r.requestCancel()
	f.step(t, r) // cancels: the running one is asked to end
	e := f.runner.exec(t, node(0))
	if why := <-e.stops; why != ReasonCancelled {
		t.Fatalf("stopped for %q, want %q", why, ReasonCancelled)
	}
	stored, _ := f.st.GetCommand(t.Context(), acct, r.cmd.ID)
	if stored.Status != StatusCancelling {
		t.Errorf("while its node ends, the command is %s, want Cancelling", stored.Status)
	}
	e.end(store.StatusTerminated, ReasonCancelled, -1, "")
	f.step(t, r)
	f.finish(t, r)
	f.check(t, r, StatusCancelled, StatusCancelled, "Cancelled/Cancelled", "Cancelled/Cancelled", "Cancelled/Cancelled")
	if got := f.runner.startedNodes(); len(got) != 1 {
		t.Errorf("started %v after the cancel", got)
	}
}

// TestUndeliverableAndIncomplete: a node that is not connected is
// Undeliverable, which neither counts against max errors nor keeps the
// command from Success; a failure within max errors makes it Incomplete.
func TestUndeliverableAndIncomplete(t *testing.T) {
	f := newFixture(t)
	f.runner.auto = true
	f.runner.startErr[node(1)] = fmt.Errorf("node %s is offline: %w", node(1), ErrUndeliverable)
	r := f.command(t, 3, "10", "0", time.Hour)
	for !r.step(t.Context(), f.tick) {
	}
	f.check(t, r, StatusSuccess, StatusSuccess, "Success/Success", "Failed/Undeliverable", "Success/Success")
	_, invs, _ := f.svc.Command(t.Context(), acct, r.cmd.ID)
	if invs[1].Stderr == "" {
		t.Error("an undeliverable node's result says nothing of why")
	}

	f.runner.startErr[node(1)] = errors.New("its agent cannot run commands without a terminal")
	r = f.command(t, 3, "10", "1", time.Hour)
	for !r.step(t.Context(), f.tick) {
	}
	f.check(t, r, StatusSuccess, DetailIncomplete, "Success/Success", "Failed/StartFailed", "Success/Success")
}

// TestResultOf maps sessions' ends to invocations'.
func TestResultOf(t *testing.T) {
	zero, three := 0, 3
	tests := []struct {
		s               store.Session
		status, details string
	}{
		{store.Session{Status: store.StatusTerminated, ExitCode: &zero}, StatusSuccess, StatusSuccess},
		{store.Session{Status: store.StatusTerminated, ExitCode: &three}, StatusFailed, StatusFailed},
		{store.Session{Status: store.StatusTerminated}, StatusFailed, StatusFailed},
		{store.Session{Status: store.StatusTerminated, StatusReason: ReasonTimedOut}, StatusTimedOut, DetailExecutionTimedOut},
		{store.Session{Status: store.StatusTerminated, StatusReason: "MaxSessionDuration", ExitCode: &three}, StatusTimedOut, DetailExecutionTimedOut},
		{store.Session{Status: store.StatusTerminated, StatusReason: ReasonCancelled}, StatusCancelled, StatusCancelled},
		{store.Session{Status: store.StatusTerminated, StatusReason: "TerminatedByUser"}, StatusCancelled, DetailTerminated},
		{store.Session{Status: store.StatusFailed, StatusReason: "AgentDisconnected"}, StatusFailed, "AgentDisconnected"},
		{store.Session{Status: store.StatusTerminated, StatusReason: "UserRevoked", ExitCode: &zero}, StatusFailed, "UserRevoked"},
	}
	for _, tt := range tests {
		res := resultOf(Outcome{Session: tt.s})
		if res.status != tt.status || res.details != tt.details {
			t.Errorf("%+v: %s (%s), want %s (%s)", tt.s, res.status, res.details, tt.status, tt.details)
		}
	}
}

// TestRecoverAfterRestart: a command taken up after a server restart
// learns the end of a session that ended meanwhile, starts again an
// invocation whose session was never created, and goes on to the end.
func TestRecoverAfterRestart(t *testing.T) {
	f := newFixture(t)
	f.runner.auto = true
	c := store.Command{Account: acct, ID: "c-restarted", Owner: "alice", DocumentName: "AWS-RunShellScript", Targets: "[]",
		MaxConcurrency: "1", MaxErrors: "0", Script: "true", Timeout: time.Hour, Status: StatusInProgress, StatusDetails: StatusInProgress,
		TargetCount: 3, RequestedAt: f.clk.Now()}
	started := f.clk.Now()
	invs := []store.CommandInvocation{
		{Account: acct, CommandID: c.ID, NodeID: node(0), Seq: 0, Status: StatusInProgress, StatusDetails: StatusInProgress, SessionID: "alice-ended", StartedAt: started},
		{Account: acct, CommandID: c.ID, NodeID: node(1), Seq: 1, Status: StatusInProgress, StatusDetails: StatusInProgress, SessionID: "alice-never", StartedAt: started},
		{Account: acct, CommandID: c.ID, NodeID: node(2), Seq: 2, Status: StatusPending, StatusDetails: StatusPending},
	}
	if err := f.st.CreateCommand(t.Context(), c, invs); err != nil {
		t.Fatal(err)
	}
	seven := 7
	f.runner.resume["alice-ended"] = func() (Execution, error) {
		e := &fakeExec{r: f.runner, done: make(chan Outcome, 1), stops: make(chan string, 1)}
		e.done <- Outcome{Session: store.Session{ID: "alice-ended", Status: store.StatusTerminated, ExitCode: &seven}}
		return e, nil
	}
	f.runner.resume["alice-never"] = func() (Execution, error) { return nil, ErrNoSession }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := f.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.svc.Wait() // the run ends by itself: nothing is left to run
	f.check(t, &run{cmd: c}, StatusFailed, StatusFailed, "Failed/Failed", "Cancelled/MaxErrorsExceeded", "Cancelled/MaxErrorsExceeded")
	if got := f.runner.startedNodes(); len(got) != 0 {
		t.Errorf("started %v after the first node's failure (max errors 0)", got)
	}

	// Again, with room for errors: the never-started node runs now.
	c.ID, c.MaxErrors = "c-restarted-2", "5"
	for i := range invs {
		invs[i].CommandID = c.ID
	}
	if err := f.st.CreateCommand(t.Context(), c, invs); err != nil {
		t.Fatal(err)
	}
	f.svc = New(f.svc.Deps)
	if err := f.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.svc.Wait()
	f.check(t, &run{cmd: c}, StatusSuccess, DetailIncomplete, "Failed/Failed", "Success/Success", "Success/Success")
	if got := f.runner.startedNodes(); !slices.Equal(got, []string{node(1), node(2)}) {
		t.Errorf("started %v, want the node never started, then the pending one", got)
	}
}

// TestSend goes through Send's checks on a store with real nodes.
func TestSend(t *testing.T) {
	f := newFixture(t)
	f.runner.auto = true
	ctx := t.Context()
	now := f.clk.Now()
	if err := f.st.CreateActivation(ctx, store.Activation{ID: "act", Account: acct, RegistrationLimit: 10, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for i, tags := range []map[string]string{{"env": "prod", "role": "web"}, {"env": "prod", "role": "db"}, {"env": "dev"}} {
		if err := f.st.RegisterNode(ctx, "act", store.Node{ID: node(i), Account: acct, Name: fmt.Sprintf("n%d", 3-i), Tags: tags}, now); err != nil {
			t.Fatal(err)
		}
	}
	var authorized []string
	f.svc.Authorize = func(_ context.Context, _, user, doc string, nodes []store.Node) error {
		for _, n := range nodes {
			if n.Tags["role"] == "db" && user == "mallory" {
				return errors.New("denied on " + n.ID)
			}
			authorized = append(authorized, n.ID)
		}
		return nil
	}
	svcCtx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); f.svc.Wait() }()
	if err := f.svc.Start(svcCtx); err != nil {
		t.Fatal(err)
	}
	cmds := map[string][]string{"commands": {"[ -f /etc/hostname ] && echo yes", "uptime"}}
	bad := []struct {
		req  api.SendCommandRequest
		want string
	}{
		{api.SendCommandRequest{Parameters: cmds, Targets: []api.CommandTarget{{Key: "tag:env", Values: []string{"prod"}}}}, "documentName: required"},
		{api.SendCommandRequest{DocumentName: "AWS-StartSSHSession", Parameters: cmds, NodeIDs: []string{node(0)}}, "not a command document"},
		{api.SendCommandRequest{DocumentName: "AWS-RunShellScript", Parameters: cmds}, "targets: required"},
		{api.SendCommandRequest{DocumentName: "AWS-RunShellScript", Parameters: cmds, NodeIDs: []string{node(0)}, Targets: []api.CommandTarget{{Key: "tag:env", Values: []string{"prod"}}}}, "one or the other"},
		{api.SendCommandRequest{DocumentName: "AWS-RunShellScript", Parameters: cmds, NodeIDs: []string{"web-1"}}, `"web-1" is not a node id`},
		{api.SendCommandRequest{DocumentName: "AWS-RunShellScript", Parameters: cmds, NodeIDs: []string{node(7)}}, "is not registered"},
		{api.SendCommandRequest{DocumentName: "AWS-RunShellScript", Parameters: cmds, Targets: []api.CommandTarget{{Key: "tag:env", Values: []string{"staging"}}}}, "no node of account"},
		{api.SendCommandRequest{DocumentName: "AWS-RunShellScript", Parameters: cmds, Targets: []api.CommandTarget{{Key: "env", Values: []string{"prod"}}}}, "is not a target key"},
		{api.SendCommandRequest{DocumentName: "AWS-RunShellScript", NodeIDs: []string{node(0)}}, "parameter commands: required"},
		{api.SendCommandRequest{DocumentName: "AWS-RunShellScript", Parameters: map[string][]string{"commands": {"ls"}, "executionTimeout": {"1", "2"}}, NodeIDs: []string{node(0)}}, "takes one value, not 2"},
		{api.SendCommandRequest{DocumentName: "AWS-RunShellScript", Parameters: cmds, NodeIDs: []string{node(0)}, MaxConcurrency: "0"}, "maxConcurrency: \"0\""},
		{api.SendCommandRequest{DocumentName: "AWS-RunShellScript", Parameters: cmds, NodeIDs: []string{node(0)}, MaxErrors: "101%"}, "maxErrors: \"101%\""},
	}
	for _, b := range bad {
		if _, err := f.svc.Send(ctx, acct, "alice", b.req); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: %v, want an error with %q", b.req, err, b.want)
		}
	}
	if _, err := f.svc.Send(ctx, acct, "mallory", api.SendCommandRequest{DocumentName: "AWS-RunShellScript", Parameters: cmds,
		Targets: []api.CommandTarget{{Key: "tag:env", Values: []string{"prod"}}}}); err == nil || !strings.Contains(err.Error(), "denied on "+node(1)) {
		t.Errorf("a send to a node the policies refuse: %v", err)
	}
	authorized = nil
	id, err := f.svc.Send(ctx, acct, "alice", api.SendCommandRequest{DocumentName: "AWS-RunShellScript", Parameters: cmds,
		Targets: []api.CommandTarget{{Key: "tag:env", Values: []string{"prod"}}, {Key: "tag-key", Values: []string{"role"}}}, Comment: "check"})
	if err != nil {
		t.Fatal(err)
	}
	// By name: n2 (node 2) before n3 (node 1).
	if !slices.Equal(authorized, []string{node(1), node(0)}) {
		t.Errorf("authorized on %v, want the prod nodes by name", authorized)
	}
	c, invs, err := f.svc.Command(ctx, acct, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Script != "[ -f /etc/hostname ] && echo yes\nuptime" || c.Timeout != time.Hour || c.MaxConcurrency != "50" || c.MaxErrors != "0" || len(invs) != 2 || invs[0].NodeName != "n2" {
		t.Errorf("command %+v, invocations %+v", c, invs)
	}
	if got := APICommand(c, nil).Parameters["commands"]; !slices.Equal(got, cmds["commands"]) {
		t.Errorf("the API shows the commands as %q", got)
	}
}
