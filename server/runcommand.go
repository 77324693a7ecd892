package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/document"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/relay"
	"github.com/postern/postern/runcommand"
	"github.com/postern/postern/store"
)

// Run Command (package runcommand): each node's part of a command is a
// session of the command's sender, started as `postern exec` starts one
// (planned under the account's preferences, decided as StartSession,
// recorded and delivered), with the server itself as its client.

// newRunCommand makes the Run Command service of the server.
func (s *Server) newRunCommand() *runcommand.Service {
	d := runcommand.Deps{
		Store: s.store, Nodes: s.store, Runner: commandRunner{s}, Now: s.now, Logf: s.logf,
		Authorize: s.authorizeCommand,
		AuthorizeRequest: func(r *http.Request, action authz.Action, resource authz.Entity) error {
			return s.authorize(r, action, resource)
		},
		Audit: s.appendAudit,
		NewSessionID: func(user string) string {
			return newSessionID(user)
		},
		Claim:    s.claimCommand,
		Released: func(account, id string) { s.unplace(commandKey(account, id)) },
	}
	if s.events != nil {
		d.Emit = s.events.Emit
	}
	return runcommand.New(d)
}

// RunCommand is the server's Run Command service: its Send runs a command
// on nodes as a user of an account, as POST /v1/commands does (for event
// rules' targets).
func (s *Server) RunCommand() *runcommand.Service { return s.runCommand }

// commandRoutes are the Run Command API's routes. A token limited to some
// actions sends commands only if it may start sessions too: each node's
// part is one.
func (s *Server) commandRoutes() []route {
	rs := s.runCommand.Routes()
	for i := range rs {
		if rs[i].Action != authz.SendCommand {
			continue
		}
		h := rs[i].Handler
		rs[i].Handler = func(w http.ResponseWriter, r *http.Request) error {
			c := callerOf(r)
			if sc := c.Token.Scopes; len(sc) > 0 && slices.Contains(sc, string(authz.SendCommand)) && !slices.Contains(sc, string(authz.StartSession)) {
				c.Checked()
				return errorf(http.StatusForbidden, api.CodeAccessDenied, "%s's token %s may not StartSession, which each node's part of a command is: its scopes are %v", c.User.Name, c.Token.ID, sc)
			}
			return h(w, r)
		}
	}
	return rs
}

// authorizeCommand decides whether user may send a command of doc to
// nodes: SendCommand on the account, and StartSession on every node, as
// the command's sessions will be decided on when they start.
func (s *Server) authorizeCommand(ctx context.Context, account, user, doc string, nodes []store.Node) error {
	c, err := s.commandCaller(ctx, account, user)
	if err != nil {
		return err
	}
	d, err := s.decide(ctx, c, authz.SendCommand, authz.AccountEntity(account), withContext("document", doc))
	if err != nil {
		return err
	}
	if !d.Allowed {
		return errorf(http.StatusForbidden, api.CodeAccessDenied, "%s is not allowed to SendCommand on account %s (%s)", user, account, d.Explain())
	}
	// The run-as user the sessions would have, for the decisions.
	plan, err := s.planSession(ctx, c, api.StartSessionRequest{Command: []string{document.Shell, "-c", "true"}, Pipes: true}, document.Linux)
	if err != nil {
		return err
	}
	var denied []string
	why := ""
	for _, n := range nodes {
		d, err := s.decide(ctx, c, authz.StartSession, nodeEntity(n), startContext(doc, "", plan.runAs)...)
		if err != nil {
			return err
		}
		if !d.Allowed {
			denied = append(denied, n.ID)
			why = d.Explain()
		}
	}
	if len(denied) > 0 {
		shown := denied[:min(len(denied), 5)]
		more := ""
		if len(denied) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(denied)-len(shown))
		}
		return errorf(http.StatusForbidden, api.CodeAccessDenied, "%s is not allowed to StartSession on %s%s (%s); each node's part of a command is a session of its sender", user, strings.Join(shown, ", "), more, why)
	}
	return nil
}

// commandCaller is user of account as the caller of a command's
// decisions and sessions.
func (s *Server) commandCaller(ctx context.Context, account, user string) (caller, error) {
	u, err := s.store.GetUser(ctx, account, user)
	if errors.Is(err, store.ErrNotFound) {
		return caller{}, errorf(http.StatusForbidden, api.CodeUserRevoked, "user %s of account %s does not exist", user, account)
	}
	if err != nil {
		return caller{}, err
	}
	return caller{Account: account, User: u}, nil
}

// commandRunner starts commands' invocations as sessions.
type commandRunner struct{ s *Server }

// Start implements runcommand.Runner.
func (cr commandRunner) Start(ctx context.Context, spec runcommand.Spec) (runcommand.Execution, error) {
	s := cr.s
	c, err := s.commandCaller(ctx, spec.Account, spec.Owner)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", runcommand.ErrAccessDenied, err)
	}
	n, err := s.store.GetNode(ctx, spec.NodeID)
	if errors.Is(err, store.ErrNotFound) || err == nil && n.Account != spec.Account {
		return nil, fmt.Errorf("node %s is no longer registered: %w", spec.NodeID, runcommand.ErrUndeliverable)
	}
	if err != nil {
		return nil, err
	}
	if s.agent(n.ID) == nil {
		// Connected to another server: started there.
		if holder, addr := s.livePeerHolding(ctx, "node/"+n.ID); holder != "" {
			return s.startRemoteCommand(ctx, holder, addr, spec)
		}
	}
	if n.OS == document.Windows {
		// The documents Run Command takes are sh scripts
		// (AWS-RunShellScript's); a Windows node has no sh.
		return nil, fmt.Errorf("node %s runs Windows: Run Command runs shell scripts on Linux and macOS nodes only", n.ID)
	}
	script := spec.Script
	if spec.WorkingDirectory != "" {
		// Run Command fails a command whose working directory is
		// missing; so does sh, with its reason on standard error.
		script = "cd -- '" + strings.ReplaceAll(spec.WorkingDirectory, "'", `'\''`) + "' || exit 1\n" + script
	}
	reason := "Run Command " + spec.CommandID
	if spec.Comment != "" {
		reason += ": " + spec.Comment
	}
	req := api.StartSessionRequest{Target: n.ID, Command: []string{document.Shell, "-c", script}, Pipes: true, Reason: reason}
	plan, err := s.planSession(ctx, c, req, n.OS)
	if err != nil {
		return nil, err
	}
	plan.document, plan.sessionID = spec.DocumentName, spec.SessionID
	// A command has its execution timeout instead: nobody types into it.
	plan.settings.IdleTimeout, plan.settings.IdleCountsOutput = 0, false
	plan.settings.Command = spec.CommandID
	// As Systems Manager's agent tells the commands it runs.
	plan.env = map[string]string{"AWS_SSM_INSTANCE_ID": n.ID, "AWS_SSM_REGION_NAME": eventsRegion, "POSTERN_COMMAND_ID": spec.CommandID}
	d, err := s.decide(ctx, c, authz.StartSession, nodeEntity(n), startContext(spec.DocumentName, reason, plan.runAs)...)
	if err != nil {
		return nil, err
	}
	if !d.Allowed {
		return nil, fmt.Errorf("%s is not allowed to StartSession on %s (%s): %w", spec.Owner, onNodeAs(n.ID, plan.runAs), d.Explain(), runcommand.ErrAccessDenied)
	}
	if plan.deliveries, err = s.planDeliveries(ctx, c.Account, plan.inputs, false); err != nil {
		return nil, err
	}
	var release func()
	sess, rl, err := s.startSession(ctx, c, n, req, plan, &release)
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == api.CodeTargetNotConnected {
		return nil, fmt.Errorf("%s: %w", ae.Msg, runcommand.ErrUndeliverable)
	}
	if err != nil {
		return nil, err
	}
	return &sessionExecution{s: s, id: sess.ID, account: sess.Account, rl: rl, release: release}, nil
}

// Resume implements runcommand.Runner: a session this server recovered
// from its journal is held again; one that ended is read from the store.
func (cr commandRunner) Resume(ctx context.Context, account, id string) (runcommand.Execution, error) {
	s := cr.s
	if rl := s.relays.Get(id); rl != nil && rl.Account() == account {
		return &sessionExecution{s: s, id: id, account: account, rl: rl, release: rl.Hold()}, nil
	}
	sess, err := s.store.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && sess.Account != account {
		return nil, runcommand.ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	if sess.Active() {
		// Relayed by another server (or to be taken up by one):
		// followed in the store.
		return &remoteExecution{s: s, account: account, id: id}, nil
	}
	return &sessionExecution{s: s, id: id, account: account, final: sess}, nil
}

// sessionExecution is an invocation's session.
type sessionExecution struct {
	s           *Server
	id, account string
	rl          *relay.Relay // nil: it had ended when it was taken up
	release     func()
	final       store.Session // when rl is nil
}

// Wait implements runcommand.Execution: the session's end, and its output
// read back from its journal, which is complete once it has ended.
func (e *sessionExecution) Wait(ctx context.Context) (runcommand.Outcome, bool) {
	final := e.final
	if e.rl != nil {
		f, ok := e.rl.Wait(ctx)
		if !ok && e.rl.Released() {
			// Its node dialled another server, which relays it now:
			// followed in the store from here on.
			e.release()
			return (&remoteExecution{s: e.s, account: e.account, id: e.id}).Wait(ctx)
		}
		if !ok {
			return runcommand.Outcome{}, false
		}
		e.release()
		final = f
	}
	out := runcommand.Outcome{Session: final}
	out.OutputErr = e.s.commandOutput(ctx, final, &out.Stdout, &out.Stderr)
	return out, true
}

// Stop implements runcommand.Execution.
func (e *sessionExecution) Stop(reason string) {
	switch {
	case e.rl != nil && e.rl.Released():
		(&remoteExecution{s: e.s, account: e.account, id: e.id}).Stop(reason)
	case e.rl != nil:
		e.rl.Terminate(reason)
	}
}

// commandOutput reads an ended session's standard output and error from
// its journal.
func (s *Server) commandOutput(ctx context.Context, sess store.Session, stdout, stderr io.Writer) error {
	// Relayed, or ended, on another server: its journal is whole in the
	// bucket only (a copy here may lack its end, or be gone).
	if err := s.fetchJournal(ctx, sess.Account, sess.ID); err != nil {
		return err
	}
	key, err := s.journalKey(ctx, sess.Account, sess.ID)
	if err != nil {
		return err
	}
	jr, err := recording.ReadJournal(s.journalPath(sess.Account, sess.ID), key)
	if err != nil {
		return err
	}
	defer jr.Close()
	for rec, err := range jr.All() {
		if err != nil {
			return err
		}
		switch rec.Kind {
		case recording.KindOutput:
			stdout.Write(rec.Data)
		case recording.KindStderr:
			stderr.Write(rec.Data)
		}
	}
	return nil
}
