package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/cluster"
	"github.com/postern/postern/runcommand"
	"github.com/postern/postern/store"
)

// Run Command across servers sharing a database: each command is carried
// out by one server (the placement "command/ACCOUNT/ID": the one it was
// sent to, or the one that took it up when that one was gone). Its
// invocations on nodes connected to other servers are started there, at
// its request (peerCommandStartPath), and followed through the store;
// a cancellation that lands elsewhere is forwarded to it (clustered).

// Paths of the peers' command calls (authenticated as peers).
const (
	peerCommandStartPath = "/v1/cluster/commands/start"
	peerCommandStopPath  = "/v1/cluster/commands/stop"
)

// remotePoll is how often an invocation running on another server is
// looked at in the store.
const remotePoll = time.Second

func commandKey(account, id string) string { return "command/" + account + "/" + id }

// claimCommand takes command id for this server unless another server
// carries it out that is not proved gone (runcommand.Deps.Claim); of
// servers claiming it at once, one gets it.
func (s *Server) claimCommand(ctx context.Context, account, id string) bool {
	key := commandKey(account, id)
	holder, _, l, err := s.holderOf(ctx, key)
	if err != nil {
		s.logf("server: command %s: %v", id, err)
		return false
	}
	if holder == s.instance {
		return true
	}
	if l != cluster.Gone {
		return false
	}
	ok, err := s.store.PlaceIf(ctx, key, s.instance, holder)
	if err != nil {
		s.logf("server: command %s: %v", id, err)
	}
	return ok
}

// peerCommandStart is an invocation a peer asks this server to start on
// a node connected here; the answer names its session, or why not.
type peerCommandStartResponse struct {
	SessionID string `json:"sessionId,omitempty"`
	// Refused is "undeliverable" or "accessDenied" (runcommand's
	// errors), "failed" for another error; empty: started.
	Refused string `json:"refused,omitempty"`
	Message string `json:"message,omitempty"`
}

type peerCommandStopRequest struct {
	SessionID string `json:"sessionId"`
	Reason    string `json:"reason"`
}

// startRemoteCommand has the peer holding spec's node start it there.
func (s *Server) startRemoteCommand(ctx context.Context, holder, addr string, spec runcommand.Spec) (runcommand.Execution, error) {
	var res peerCommandStartResponse
	if err := s.cluster.Call(ctx, holder, addr, peerCommandStartPath, spec, &res); err != nil {
		return nil, err
	}
	switch res.Refused {
	case "":
		return &remoteExecution{s: s, account: spec.Account, id: res.SessionID}, nil
	case "undeliverable":
		return nil, errors.Join(runcommand.ErrUndeliverable, errors.New(res.Message))
	case "accessDenied":
		return nil, errors.Join(runcommand.ErrAccessDenied, errors.New(res.Message))
	default:
		return nil, errors.New(res.Message)
	}
}

// handlePeerCommandStart starts, for the peer carrying out a command, an
// invocation on a node connected here, and holds its session to its end.
func (s *Server) handlePeerCommandStart(w http.ResponseWriter, r *http.Request) {
	var spec runcommand.Spec
	if !s.peerRequest(w, r, &spec) {
		return
	}
	// Within the asking server's wait for the answer (cluster.Call).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 25*time.Second)
	defer cancel()
	ex, err := commandRunner{s}.Start(ctx, spec)
	var res peerCommandStartResponse
	switch {
	case err == nil:
		res.SessionID = spec.SessionID
		// The session is held (the server is its client) until it
		// ends; the peer follows it in the store.
		s.wg.Go(func() { ex.Wait(s.ctx) })
	case errors.Is(err, runcommand.ErrUndeliverable):
		res.Refused, res.Message = "undeliverable", err.Error()
	case errors.Is(err, runcommand.ErrAccessDenied):
		res.Refused, res.Message = "accessDenied", err.Error()
	default:
		res.Refused, res.Message = "failed", err.Error()
	}
	writeJSON(w, http.StatusOK, res)
}

// handlePeerCommandStop ends an invocation's session relayed here, for
// the peer carrying out its command (a timeout, a cancellation).
func (s *Server) handlePeerCommandStop(w http.ResponseWriter, r *http.Request) {
	var req peerCommandStopRequest
	if !s.peerRequest(w, r, &req) {
		return
	}
	if rl := s.relays.Get(req.SessionID); rl != nil {
		rl.Terminate(req.Reason)
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// peerRequest refuses a request that is not a peer's, and decodes its
// JSON body into in.
func (s *Server) peerRequest(w http.ResponseWriter, r *http.Request, in any) bool {
	if !cluster.FromPeer(r) {
		s.writeError(w, r, errorf(http.StatusForbidden, api.CodeAccessDenied, "only the servers sharing this server's database may ask this"))
		return false
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(in); err != nil {
		s.writeError(w, r, errorf(http.StatusBadRequest, api.CodeValidationError, "a peer's request: %v", err))
		return false
	}
	return true
}

// remoteExecution is an invocation whose session another server relays:
// followed in the store, its output read from its recording (object
// storage) once it has ended.
type remoteExecution struct {
	s           *Server
	account, id string
}

// Wait implements runcommand.Execution.
func (e *remoteExecution) Wait(ctx context.Context) (runcommand.Outcome, bool) {
	t := time.NewTicker(remotePoll)
	defer t.Stop()
	for {
		sess, err := e.s.store.GetSession(ctx, e.id)
		if err == nil && !sess.Active() {
			out := runcommand.Outcome{Session: sess}
			out.OutputErr = e.s.commandOutput(ctx, sess, &out.Stdout, &out.Stderr)
			return out, true
		}
		if err != nil && !errors.Is(err, store.ErrUnavailable) && ctx.Err() == nil {
			e.s.logf("server: command session %s: %v", e.id, err)
		}
		select {
		case <-ctx.Done():
			return runcommand.Outcome{}, false
		case <-t.C:
		}
	}
}

// Stop implements runcommand.Execution: the server relaying the session
// ends it.
func (e *remoteExecution) Stop(reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.s.ctx), 30*time.Second)
	defer cancel()
	if rl := e.s.relays.Get(e.id); rl != nil { // it moved here
		rl.Terminate(reason)
		return
	}
	holder, addr := e.s.livePeerHolding(ctx, "session/"+e.id)
	if holder == "" {
		e.s.logf("server: command session %s: no live server relays it to end it (%s)", e.id, reason)
		return
	}
	var out struct{}
	if err := e.s.cluster.Call(ctx, holder, addr, peerCommandStopPath, peerCommandStopRequest{SessionID: e.id, Reason: reason}, &out); err != nil {
		e.s.logf("server: command session %s: %v", e.id, err)
	}
}

// takeOrphanCommands takes up the running commands of servers that are
// gone (takeOrphansOnce).
func (s *Server) takeOrphanCommands(ctx context.Context, peers map[string]string) error {
	cmds, err := s.store.PlacementsWith(ctx, "command/")
	if err != nil {
		return err
	}
	for key, holder := range cmds {
		if _, live := peers[holder]; live && holder != s.instance {
			continue
		}
		// This server's and not running here (a database error when it
		// started), or a server's whose lease expired.
		account, id, ok := strings.Cut(strings.TrimPrefix(key, "command/"), "/")
		if !ok || !s.claimCommand(ctx, account, id) {
			continue
		}
		if err := s.runCommand.TakeUp(ctx, account, id); err != nil {
			s.logf("server: command %s: taking it up: %v", id, err)
		}
	}
	return nil
}
