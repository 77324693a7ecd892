// Package runcommand runs command documents on managed nodes, as Systems
// Manager's Run Command does: a command (AWS-RunShellScript's commands,
// working directory and execution timeout) is sent to the nodes its
// targets pick, at most MaxConcurrency of them at a time, and no more are
// started once more than MaxErrors have failed; each node's part (an
// invocation) ends Success, Failed, TimedOut or Cancelled, with its exit
// code and the first 24,000 characters of its output.
//
// Each invocation runs as a session of the command's sender on its node,
// through the same path as `postern exec` (package server's Runner): it
// is authorized as a session start, recorded, audited, delivered to the
// preferences' destinations and listed with the sender's sessions, and its
// recording has the whole output. The service only decides what starts
// when and keeps the account of it in the metadata store (store.Commands),
// so that a command survives a server restart: what was running is taken
// up again from its sessions.
package runcommand

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/postern/postern/authz"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/store"
)

// Statuses of commands and of their invocations, as Run Command's.
const (
	StatusPending    = "Pending"
	StatusInProgress = "InProgress"
	StatusSuccess    = "Success"
	StatusFailed     = "Failed"
	StatusTimedOut   = "TimedOut"
	StatusCancelling = "Cancelling" // a command only: asked to cancel, nodes still ending
	StatusCancelled  = "Cancelled"
)

// Status details: what a status does not say.
const (
	// An invocation's command ran past its execution timeout (it
	// counts against MaxErrors).
	DetailExecutionTimedOut = "ExecutionTimedOut"
	// An invocation's node was not connected when its turn came (it
	// does not count against MaxErrors, nor for Success).
	DetailUndeliverable = "Undeliverable"
	// An invocation's session start was refused by the policies when its
	// turn came (they changed since the command was sent).
	DetailAccessDenied = "AccessDenied"
	// An invocation was not started because more than MaxErrors had
	// failed.
	DetailMaxErrorsExceeded = "MaxErrorsExceeded"
	// An invocation's session was terminated by someone.
	DetailTerminated = "Terminated"
	// A command ended with every node tried and some not Success, but
	// no more errors than MaxErrors: its status is Success.
	DetailIncomplete = "Incomplete"
	// An invocation whose end the server could not learn after a
	// restart.
	DetailUnknown = "Unknown"
)

// Why the service ends a node's session: the session's status reason.
const (
	ReasonTimedOut  = "ExecutionTimedOut"
	ReasonCancelled = "CommandCancelled"
)

// Bounds on what a command may ask for.
const (
	MaxNodes      = 1000     // nodes one command runs on
	MaxScript     = 64 << 10 // bytes of commands, once resolved
	MaxComment    = 100      // characters, as Run Command's
	maxParameters = 64 << 10 // bytes of parameter values, together
)

// Errors a Runner's Start returns, for the invocation's status.
var (
	// ErrUndeliverable: the node is not connected.
	ErrUndeliverable = errors.New("the node is not connected")
	// ErrAccessDenied: the policies refuse the session.
	ErrAccessDenied = errors.New("access denied")
	// ErrNoSession: Resume found no session of that id: it was never
	// started.
	ErrNoSession = errors.New("no such session")
)

// Runner runs invocations: each a session of the command's sender.
type Runner interface {
	// Start starts spec's command on its node as a session with id
	// spec.SessionID, and returns once it runs (or has already ended).
	Start(ctx context.Context, spec Spec) (Execution, error)
	// Resume takes up a session an earlier server started (before a
	// restart), running or ended; ErrNoSession if it never was.
	Resume(ctx context.Context, account, sessionID string) (Execution, error)
}

// Spec is one invocation to start.
type Spec struct {
	Account, Owner, CommandID string
	DocumentName, Comment     string
	NodeID                    string
	// SessionID is the session to start, chosen (and stored) before it
	// starts.
	SessionID        string
	Script           string
	WorkingDirectory string
	Timeout          time.Duration
}

// Execution is a started invocation: its session.
type Execution interface {
	// Wait waits for the session's end and returns it; ok is false if
	// ctx ended first.
	Wait(ctx context.Context) (out Outcome, ok bool)
	// Stop asks the node to end the session, for reason (ReasonTimedOut
	// or ReasonCancelled), which becomes the session's status reason.
	Stop(reason string)
}

// Outcome is how an invocation's session ended, and its output.
type Outcome struct {
	Session        store.Session
	Stdout, Stderr Output
	// OutputErr says why the output could not be read, if it could not.
	OutputErr error
}

// NodeLister lists an account's nodes, for targets to pick from.
type NodeLister interface {
	ListNodes(ctx context.Context, account string) ([]store.Node, error)
}

// Deps are what the service works with.
type Deps struct {
	Store  store.Commands
	Nodes  NodeLister
	Runner Runner
	// Authorize decides whether user may send a command of document to
	// nodes: SendCommand on the account, and StartSession on each node
	// (each invocation's start is decided again when its turn comes).
	Authorize func(ctx context.Context, account, user, document string, nodes []store.Node) error
	// AuthorizeRequest checks action for an API request's caller on
	// resource.
	AuthorizeRequest func(r *http.Request, action authz.Action, resource authz.Entity) error
	// Audit appends a record of a command's lifecycle to the audit
	// trail; nil: none.
	Audit func(ctx context.Context, rec store.AuditRecord) error
	// Emit tells of status changes as events (package events' Bus.Emit);
	// nil: none.
	Emit func(ctx context.Context, account, source, detailType string, resources []string, detail any)
	Now  func() time.Time
	Logf logger.Logf
	// NewSessionID makes an invocation's session id (ids.NewSession).
	NewSessionID func(user string) string
	// TickEvery is how often running commands look at their nodes'
	// execution timeouts (default a second).
	TickEvery time.Duration
	// Claim reports whether this server is to carry out command id of
	// account, taking it for itself if so: among servers sharing the
	// database, one carries out each command. Released tells that a
	// command this server carried out is over. nil: always, nothing.
	Claim    func(ctx context.Context, account, id string) bool
	Released func(account, id string)
}

// Service sends commands and carries them out.
type Service struct {
	Deps
	// ctx is Start's: every run ends with it.
	ctx context.Context
	wg  sync.WaitGroup // the runs' goroutines

	mu   sync.Mutex      // guards runs
	runs map[string]*run // running commands of this server, by account/id
}

// New returns a service; Start takes up its running commands.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logf == nil {
		d.Logf = logger.Discard
	}
	if d.NewSessionID == nil {
		d.NewSessionID = ids.NewSession
	}
	if d.TickEvery <= 0 {
		d.TickEvery = time.Second
	}
	return &Service{Deps: d, runs: map[string]*run{}}
}

// Start takes up the commands that were running when the server stopped
// (see run.recover) and lets new ones be sent. What it starts ends with
// ctx; Wait waits for it.
func (s *Service) Start(ctx context.Context) error {
	s.ctx = ctx
	yes := true
	cmds, err := s.Store.ListCommands(ctx, store.CommandFilter{Active: &yes})
	if err != nil {
		return err
	}
	for _, c := range cmds {
		if s.Claim != nil && !s.Claim(ctx, c.Account, c.ID) {
			continue // another server's
		}
		invs, err := s.Store.ListCommandInvocations(ctx, c.Account, c.ID)
		if err != nil {
			return err
		}
		r := s.newRun(c, invs)
		r.recover(ctx)
		s.logf("runcommand: command %s of %s: taken up again after a restart (%s)", c.ID, c.Owner, c.Status)
		s.launch(r)
	}
	return nil
}

// TakeUp carries out command id of account here, taken up from the store
// as after a restart, unless it runs here already or is over: for a
// command whose server is gone (the caller has claimed it).
func (s *Service) TakeUp(ctx context.Context, account, id string) error {
	s.mu.Lock()
	_, running := s.runs[runKey(account, id)]
	s.mu.Unlock()
	if running {
		return nil
	}
	c, invs, err := s.Command(ctx, account, id)
	if err != nil || !c.EndedAt.IsZero() {
		return err
	}
	r := s.newRun(c, invs)
	r.recover(ctx)
	s.logf("runcommand: command %s of %s: taken up from a server that is gone (%s)", c.ID, c.Owner, c.Status)
	s.launch(r)
	return nil
}

// Wait waits for every run to stop, once Start's context has ended.
func (s *Service) Wait() { s.wg.Wait() }

func (s *Service) logf(format string, args ...any) { s.Logf(format, args...) }

func runKey(account, id string) string { return account + "/" + id }

// launch runs r until it is over or the service stops.
func (s *Service) launch(r *run) {
	key := runKey(r.cmd.Account, r.cmd.ID)
	s.mu.Lock()
	s.runs[key] = r
	s.mu.Unlock()
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.runs, key)
			s.mu.Unlock()
			// Over, not stopped with the server: nobody's now.
			if s.Released != nil && s.ctx.Err() == nil {
				s.Released(r.cmd.Account, r.cmd.ID)
			}
		}()
		tick := time.NewTicker(s.TickEvery)
		defer tick.Stop()
		for !r.step(s.ctx, tick.C) {
		}
	})
}

// audit appends a lifecycle record of c.
func (s *Service) audit(ctx context.Context, c store.Command, action, detail string) {
	if s.Audit == nil {
		return
	}
	err := s.Audit(context.WithoutCancel(ctx), store.AuditRecord{
		Account: c.Account, Actor: ids.UserARN(c.Account, c.Owner), Action: action,
		Resource: c.ID, Result: "Allowed", Detail: detail,
	})
	if err != nil {
		s.logf("runcommand: command %s: audit record %s: %v", c.ID, action, err)
	}
}
