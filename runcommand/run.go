package runcommand

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/postern/postern/ids"
	"github.com/postern/postern/store"
)

// run carries out one command: it starts invocations as its limits allow,
// stops those past their timeout or cancelled, and records each end. One
// goroutine owns it (Service.launch, or a test) and calls step; the
// invocations' goroutines only report to it, through events.
type run struct {
	svc  *Service
	cmd  store.Command
	invs []store.CommandInvocation
	// concurrency and maxErrors are the command's limits for its number
	// of nodes.
	concurrency, maxErrors int
	// execs are the started invocations' sessions, and stopWhy the
	// reason the run asked one to end (ReasonTimedOut, ReasonCancelled),
	// by invocation.
	execs   []Execution
	stopWhy []string
	errors  int  // invocations that count against maxErrors
	halted  bool // more than maxErrors failed: no more start
	// cancel is closed when the command is to be cancelled; cancelled is
	// set once the run has acted on it.
	cancel     chan struct{}
	cancelOnce sync.Once
	cancelled  bool
	events     chan event
	wg         sync.WaitGroup // the invocations' goroutines
}

// event is what an invocation's goroutine reports.
type event struct {
	i       int
	started Execution // it runs
	err     error     // it could not start
	outcome *Outcome  // it ended
}

func (s *Service) newRun(c store.Command, invs []store.CommandInvocation) *run {
	conc, _ := ParseMaxConcurrency(c.MaxConcurrency)
	errs, _ := ParseMaxErrors(c.MaxErrors)
	r := &run{
		svc: s, cmd: c, invs: invs,
		concurrency: concurrencyOf(conc, len(invs)), maxErrors: errs.Of(len(invs)),
		execs: make([]Execution, len(invs)), stopWhy: make([]string, len(invs)),
		cancel: make(chan struct{}), events: make(chan event),
	}
	for _, in := range invs {
		if countsAsError(in.Status, in.StatusDetails) {
			r.errors++
		}
	}
	r.halted = r.errors > r.maxErrors
	return r
}

// requestCancel asks the run to cancel the command.
func (r *run) requestCancel() { r.cancelOnce.Do(func() { close(r.cancel) }) }

// step starts what is due, and ends the run if nothing is left;
// otherwise it waits for one thing to happen (an invocation's report, a
// tick of the clock for the timeouts, a cancellation) and acts on it. It
// reports whether the run is over, or stopped with ctx (the server
// stopping: the command is taken up again by the next one).
func (r *run) step(ctx context.Context, tick <-chan time.Time) (over bool) {
	if ctx.Err() != nil {
		r.wg.Wait()
		return true
	}
	if !r.cancelled {
		select {
		case <-r.cancel:
			r.doCancel(ctx) // before anything more starts
			return false
		default:
		}
	}
	r.startDue(ctx)
	if r.running() == 0 && r.pending() == 0 {
		r.finish(ctx)
		return true
	}
	cancel := r.cancel
	if r.cancelled {
		cancel = nil
	}
	select {
	case ev := <-r.events:
		r.apply(ctx, ev)
	case <-cancel:
		r.doCancel(ctx)
	case <-tick:
		r.checkTimeouts(r.svc.Now())
	case <-ctx.Done():
		r.wg.Wait()
		return true
	}
	return false
}

func (r *run) count(status string) int {
	n := 0
	for _, in := range r.invs {
		if in.Status == status {
			n++
		}
	}
	return n
}

func (r *run) running() int { return r.count(StatusInProgress) }
func (r *run) pending() int { return r.count(StatusPending) }

// startDue starts pending invocations, in order, while fewer than the
// command's concurrency run, unless the command was halted or cancelled.
func (r *run) startDue(ctx context.Context) {
	if r.halted || r.cancelled {
		return
	}
	running := r.running()
	for i := range r.invs {
		if running >= r.concurrency {
			return
		}
		if r.invs[i].Status != StatusPending {
			continue
		}
		r.begin(ctx, i)
		running++
	}
}

// begin marks invocation i in progress, with the id of the session that
// will run it, durably, and then starts it: a server that stops in
// between finds the session, or that there is none, by that id.
func (r *run) begin(ctx context.Context, i int) {
	in := &r.invs[i]
	in.Status, in.StatusDetails = StatusInProgress, StatusInProgress
	in.StartedAt = r.svc.Now()
	in.SessionID = r.svc.NewSessionID(r.cmd.Owner)
	if err := r.svc.Store.UpdateCommandInvocation(ctx, *in); err != nil {
		r.svc.logf("runcommand: command %s on %s: %v", r.cmd.ID, in.NodeID, err)
		in.SessionID = ""
		r.end(ctx, i, result{status: StatusFailed, details: "InternalError", stderr: "[postern: the command could not be recorded as started, so it was not: " + err.Error() + "]"})
		return
	}
	r.invocationEvent(ctx, i)
	if r.cmd.Status == StatusPending {
		r.setStatus(ctx, StatusInProgress, StatusInProgress)
	}
	spec := Spec{
		Account: r.cmd.Account, Owner: r.cmd.Owner, CommandID: r.cmd.ID, DocumentName: r.cmd.DocumentName, Comment: r.cmd.Comment,
		NodeID: in.NodeID, SessionID: in.SessionID, Script: r.cmd.Script, WorkingDirectory: r.cmd.WorkingDirectory, Timeout: r.cmd.Timeout,
	}
	r.wg.Go(func() {
		ex, err := r.svc.Runner.Start(ctx, spec)
		if ctx.Err() != nil {
			return // the server is stopping: the next one takes it up
		}
		if err != nil {
			r.report(ctx, event{i: i, err: err})
			return
		}
		r.report(ctx, event{i: i, started: ex})
		r.await(ctx, i, ex)
	})
}

// await waits for invocation i's session to end, and reports it.
func (r *run) await(ctx context.Context, i int, ex Execution) {
	out, ok := ex.Wait(ctx)
	if ok {
		r.report(ctx, event{i: i, outcome: &out})
	}
}

func (r *run) report(ctx context.Context, ev event) {
	select {
	case r.events <- ev:
	case <-ctx.Done():
	}
}

// apply acts on an invocation's report.
func (r *run) apply(ctx context.Context, ev event) {
	i := ev.i
	switch {
	case ev.started != nil:
		r.execs[i] = ev.started
		if why := r.stopWhy[i]; why != "" {
			ev.started.Stop(why) // asked while it started
		} else {
			r.checkTimeouts(r.svc.Now())
		}
	case ev.err != nil:
		r.end(ctx, i, startFailed(ev.err, r.stopWhy[i]))
	case ev.outcome != nil:
		r.execs[i] = nil
		r.end(ctx, i, resultOf(*ev.outcome))
	}
}

// checkTimeouts stops the invocations that have run for their execution
// timeout, measured from when they were started (as stored, so that a
// restart does not give them more).
func (r *run) checkTimeouts(now time.Time) {
	for i, in := range r.invs {
		if in.Status != StatusInProgress || r.stopWhy[i] != "" || now.Sub(in.StartedAt) < r.cmd.Timeout {
			continue
		}
		r.stopWhy[i] = ReasonTimedOut
		if ex := r.execs[i]; ex != nil {
			r.svc.logf("runcommand: command %s on %s: execution timed out after %v; ending session %s", r.cmd.ID, in.NodeID, r.cmd.Timeout, in.SessionID)
			ex.Stop(ReasonTimedOut)
		}
	}
}

// doCancel cancels the command: what has not started never will, what
// runs is asked to end.
func (r *run) doCancel(ctx context.Context) {
	r.cancelled = true
	r.setStatus(ctx, StatusCancelling, StatusCancelling)
	for i, in := range r.invs {
		switch in.Status {
		case StatusPending:
			r.end(ctx, i, result{status: StatusCancelled, details: StatusCancelled})
		case StatusInProgress:
			if r.stopWhy[i] == "" {
				r.stopWhy[i] = ReasonCancelled
				if ex := r.execs[i]; ex != nil {
					ex.Stop(ReasonCancelled)
				}
			}
		}
	}
}

// result is how an invocation ended.
type result struct {
	status, details string
	exitCode        *int
	stdout, stderr  string
	outBytes        int64
	errBytes        int64
}

// countsAsError reports whether an invocation that ended so counts
// against MaxErrors: a failure or an execution timeout, not a node that
// could not be reached nor a cancellation.
func countsAsError(status, details string) bool {
	switch status {
	case StatusTimedOut:
		return true
	case StatusFailed:
		return details != DetailUndeliverable
	}
	return false
}

// resultOf maps an invocation's session's end to the invocation's.
func resultOf(out Outcome) result {
	s := out.Session
	res := result{exitCode: s.ExitCode, outBytes: out.Stdout.Bytes(), errBytes: out.Stderr.Bytes()}
	res.stdout, _ = out.Stdout.Text()
	res.stderr, _ = out.Stderr.Text()
	if out.OutputErr != nil {
		res.stderr += fmt.Sprintf("\n[postern: the output could not be read from session %s's recording: %v]", s.ID, out.OutputErr)
	}
	switch {
	case s.StatusReason == ReasonTimedOut || s.StatusReason == "MaxSessionDuration":
		res.status, res.details = StatusTimedOut, DetailExecutionTimedOut
	case s.StatusReason == ReasonCancelled:
		res.status, res.details = StatusCancelled, StatusCancelled
	case s.Status == store.StatusTerminated && s.StatusReason == "TerminatedByUser":
		res.status, res.details = StatusCancelled, DetailTerminated
	case s.Status == store.StatusTerminated && s.StatusReason == "" && s.ExitCode != nil && *s.ExitCode == 0:
		res.status, res.details = StatusSuccess, StatusSuccess
	case s.Status == store.StatusTerminated && s.StatusReason == "":
		res.status, res.details = StatusFailed, StatusFailed
	default:
		// Ended otherwise (the node went away for good, its recording
		// failed, its owner's access was revoked, ...): the session's
		// reason says why.
		res.status, res.details = StatusFailed, s.StatusReason
		if res.details == "" {
			res.details = StatusFailed
		}
	}
	return res
}

// startFailed is the result of an invocation that could not start.
func startFailed(err error, stopWhy string) result {
	res := result{status: StatusFailed, details: "StartFailed", stderr: "[postern: " + err.Error() + "]"}
	switch {
	case stopWhy == ReasonCancelled:
		res.status, res.details = StatusCancelled, StatusCancelled
	case errors.Is(err, ErrUndeliverable):
		res.details = DetailUndeliverable
	case errors.Is(err, ErrAccessDenied):
		res.details = DetailAccessDenied
	}
	return res
}

// end records how invocation i ended, and halts the command once more
// than its MaxErrors have failed: those not started never will be.
func (r *run) end(ctx context.Context, i int, res result) {
	in := &r.invs[i]
	in.Status, in.StatusDetails, in.ExitCode = res.status, res.details, res.exitCode
	in.Stdout, in.Stderr, in.StdoutBytes, in.StderrBytes = res.stdout, res.stderr, res.outBytes, res.errBytes
	in.EndedAt = r.svc.Now()
	if err := r.svc.Store.UpdateCommandInvocation(context.WithoutCancel(ctx), *in); err != nil {
		r.svc.logf("runcommand: command %s on %s: %v", r.cmd.ID, in.NodeID, err)
	}
	r.invocationEvent(ctx, i)
	if countsAsError(res.status, res.details) {
		r.errors++
	}
	if r.errors > r.maxErrors && !r.halted {
		r.halted = true
		r.svc.logf("runcommand: command %s: %d errors, more than the %d allowed (maxErrors %s); no more nodes start", r.cmd.ID, r.errors, r.maxErrors, r.cmd.MaxErrors)
		for j := range r.invs {
			if r.invs[j].Status == StatusPending {
				r.end(ctx, j, result{status: StatusCancelled, details: DetailMaxErrorsExceeded})
			}
		}
	}
	r.saveCounts(ctx)
}

// saveCounts stores the command's counts as they stand.
func (r *run) saveCounts(ctx context.Context) {
	r.cmd.TargetCount, r.cmd.CompletedCount, r.cmd.ErrorCount = len(r.invs), 0, r.errors
	for _, in := range r.invs {
		if in.Status != StatusPending && in.Status != StatusInProgress {
			r.cmd.CompletedCount++
		}
	}
	if err := r.svc.Store.UpdateCommand(context.WithoutCancel(ctx), r.cmd); err != nil {
		r.svc.logf("runcommand: command %s: %v", r.cmd.ID, err)
	}
}

// setStatus changes the command's status, durably, and tells of it.
func (r *run) setStatus(ctx context.Context, status, details string) {
	r.cmd.Status, r.cmd.StatusDetails = status, details
	r.saveCounts(ctx)
	r.commandEvent(ctx)
}

// finish ends the command, every invocation having ended.
func (r *run) finish(ctx context.Context) {
	status, details := r.outcome()
	r.cmd.EndedAt = r.svc.Now()
	r.setStatus(ctx, status, details)
	r.svc.logf("runcommand: command %s of %s ended: %s (%s), %d of %d nodes with errors", r.cmd.ID, r.cmd.Owner, status, details, r.errors, len(r.invs))
	r.svc.audit(ctx, r.cmd, "CommandEnded", fmt.Sprintf("%s (%s): %d of %d nodes with errors", status, details, r.errors, len(r.invs)))
}

// outcome is the command's status once every invocation has ended, as
// Run Command words it: Cancelled if it was; Failed (or TimedOut, when
// every error was a timeout) if more than MaxErrors failed; Success
// otherwise, Incomplete in its details unless every node that could be
// reached succeeded. Nodes that could not be reached count for neither.
func (r *run) outcome() (status, details string) {
	if r.cancelled {
		return StatusCancelled, StatusCancelled
	}
	if r.halted {
		if r.count(StatusTimedOut) == r.errors {
			return StatusTimedOut, DetailExecutionTimedOut
		}
		return StatusFailed, StatusFailed
	}
	reached, succeeded := 0, 0
	for _, in := range r.invs {
		if in.StatusDetails == DetailUndeliverable {
			continue
		}
		reached++
		if in.Status == StatusSuccess {
			succeeded++
		}
	}
	switch {
	case reached == 0:
		return StatusFailed, DetailUndeliverable
	case succeeded == reached:
		return StatusSuccess, StatusSuccess
	}
	return StatusSuccess, DetailIncomplete
}

// recover takes up a command that was running when the server stopped:
// each invocation in progress is found by its session, which either still
// runs (its relay was recovered, and the node resumes it), has ended
// meanwhile, or was never created (the server stopped between choosing
// its id and starting it): then it never ran, and starts again.
func (r *run) recover(ctx context.Context) {
	for i := range r.invs {
		in := &r.invs[i]
		if in.Status != StatusInProgress {
			continue
		}
		var ex Execution
		err := ErrNoSession
		if in.SessionID != "" {
			ex, err = r.svc.Runner.Resume(ctx, r.cmd.Account, in.SessionID)
		}
		switch {
		case errors.Is(err, ErrNoSession):
			in.Status, in.StatusDetails, in.SessionID, in.StartedAt = StatusPending, StatusPending, "", time.Time{}
			if err := r.svc.Store.UpdateCommandInvocation(ctx, *in); err != nil {
				r.svc.logf("runcommand: command %s on %s: %v", r.cmd.ID, in.NodeID, err)
			}
		case err != nil:
			r.end(ctx, i, result{status: StatusFailed, details: DetailUnknown,
				stderr: fmt.Sprintf("[postern: after a server restart, session %s could not be taken up: %v]", in.SessionID, err)})
		default:
			r.execs[i] = ex
			r.wg.Go(func() { r.await(ctx, i, ex) })
		}
	}
	if r.cmd.Status == StatusCancelling {
		r.requestCancel() // the first step carries it out
	}
}

// Events about commands, in EventBridge's envelope (package events), as
// Systems Manager's EC2 Command Status-change Notification and EC2
// Command Invocation Status-change Notification.
const (
	EventSource                   = "postern.commands"
	CommandStatusChange           = "Command Status-change Notification"
	CommandInvocationStatusChange = "Command Invocation Status-change Notification"
)

// CommandStatus is a Command Status-change Notification's detail.
type CommandStatus struct {
	CommandID     string            `json:"command-id"`
	DocumentName  string            `json:"document-name"`
	Owner         string            `json:"owner"`
	Parameters    map[string]string `json:"parameters,omitempty"`
	RequestedAt   string            `json:"requested-date-time"`
	Status        string            `json:"status"`
	StatusDetails string            `json:"status-details"`
}

// InvocationStatus is a Command Invocation Status-change Notification's
// detail.
type InvocationStatus struct {
	CommandID     string `json:"command-id"`
	DocumentName  string `json:"document-name"`
	Owner         string `json:"owner"`
	InstanceID    string `json:"instance-id"`
	InstanceName  string `json:"instance-name,omitempty"`
	SessionID     string `json:"session-id,omitempty"`
	RequestedAt   string `json:"requested-date-time"`
	Status        string `json:"status"`
	StatusDetails string `json:"status-details"`
	ExitCode      *int   `json:"exit-code,omitempty"`
}

func (r *run) commandEvent(ctx context.Context) {
	if r.svc.Emit == nil {
		return
	}
	c := r.cmd
	r.svc.Emit(context.WithoutCancel(ctx), c.Account, EventSource, CommandStatusChange, []string{ids.ARN("ssm", c.Account, "command", c.ID)},
		CommandStatus{CommandID: c.ID, DocumentName: c.DocumentName, Owner: ids.UserARN(c.Account, c.Owner), Parameters: c.Parameters,
			RequestedAt: c.RequestedAt.UTC().Format(time.RFC3339), Status: c.Status, StatusDetails: c.StatusDetails})
}

func (r *run) invocationEvent(ctx context.Context, i int) {
	if r.svc.Emit == nil {
		return
	}
	c, in := r.cmd, r.invs[i]
	r.svc.Emit(context.WithoutCancel(ctx), c.Account, EventSource, CommandInvocationStatusChange,
		[]string{ids.ARN("ssm", c.Account, "command", c.ID), ids.ARN("ssm", c.Account, "managed-instance", in.NodeID)},
		InvocationStatus{CommandID: c.ID, DocumentName: c.DocumentName, Owner: ids.UserARN(c.Account, c.Owner), InstanceID: in.NodeID,
			InstanceName: in.NodeName, SessionID: in.SessionID, RequestedAt: c.RequestedAt.UTC().Format(time.RFC3339),
			Status: in.Status, StatusDetails: in.StatusDetails, ExitCode: in.ExitCode})
}
