package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/postern/postern/authz"
	"github.com/postern/postern/events"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/store"
)

// eventsRegion is the region Postern's events name, as its streamed
// session events do.
const eventsRegion = "local"

// sessionEvent emits a session's state change (package events).
func (s *Server) sessionEvent(ctx context.Context, sess store.Session, node *store.Node, state string) {
	if s.events == nil {
		return
	}
	d := events.SessionState{
		SessionID: sess.ID, State: state, UserIdentity: events.Identity{ARN: ids.UserARN(sess.Account, sess.Owner)},
		Target: events.Target{ID: sess.Target}, DocumentName: sess.Document, RunAsUser: sess.RunAsUser,
	}
	if state == events.StateTerminated || state == events.StateFailed {
		d.Reason, d.ExitCode = sess.StatusReason, sess.ExitCode
	}
	if node == nil {
		if n, err := s.store.GetNode(ctx, sess.Target); err == nil {
			node = &n
		}
	}
	if node != nil {
		d.Target.Name, d.Target.Tags = node.Name, node.Tags
	}
	s.events.Emit(context.WithoutCancel(ctx), sess.Account, events.SourceSessions, events.SessionStateChange,
		[]string{ids.ARN("ssm", sess.Account, "session", sess.ID), ids.ARN("ssm", sess.Account, "managed-instance", sess.Target)}, d)
}

// nodeEvent emits a node's state change.
func (s *Server) nodeEvent(ctx context.Context, n store.Node, state string) {
	if s.events == nil {
		return
	}
	s.events.Emit(context.WithoutCancel(ctx), n.Account, events.SourceNodes, events.NodeStateChange,
		[]string{ids.ARN("ssm", n.Account, "managed-instance", n.ID)},
		events.NodeState{NodeID: n.ID, Name: n.Name, State: state, Tags: n.Tags})
}

// nodeEventByID emits a node's state change, the node read from the store.
func (s *Server) nodeEventByID(ctx context.Context, id, state string) {
	if s.events == nil {
		return
	}
	n, err := s.store.GetNode(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return // deregistered, which said so
	}
	if err != nil {
		s.logf("server: node %s: %v", id, err)
		return
	}
	s.nodeEvent(ctx, n, state)
}

// keyEvent emits a key's state change (or rotation), in the key's
// account.
func (s *Server) keyEvent(ctx context.Context, k keys.Key, action, by string) {
	if s.events == nil {
		return
	}
	d := events.KeyState{KeyID: k.ID, KeyARN: k.ARN, KeyState: k.State, Action: action, UserIdentity: events.Identity{ARN: by}}
	if !k.DeletionDate.IsZero() {
		t := k.DeletionDate.UTC()
		d.DeletionDate = &t
	}
	s.events.Emit(context.WithoutCancel(ctx), k.Account, events.SourceKeys, events.KeyStateChange, []string{k.ARN}, d)
}

// commandEvents emits a session's commands as events, their detail the
// command events streamed to the session's log groups.
func (s *Server) commandEvents(ctx context.Context, dl store.Delivery, cmds []string) {
	if s.events == nil {
		return
	}
	for _, c := range cmds {
		var target struct {
			Target struct {
				ID string `json:"id"`
			} `json:"target"`
		}
		_ = json.Unmarshal([]byte(c), &target)
		s.events.Emit(ctx, dl.Account, events.SourceSessions, events.SessionCommand,
			[]string{ids.ARN("ssm", dl.Account, "session", dl.SessionID), ids.ARN("ssm", dl.Account, "managed-instance", target.Target.ID)}, json.RawMessage(c))
	}
}

// handleDeregisterNode removes a node, as Systems Manager's
// DeregisterManagedInstance does: gone from the listing, its agent
// disconnected and refused from now on (its certificate names a node
// that no longer exists), its sessions' history kept.
func (s *Server) handleDeregisterNode(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	n, err := s.resolveNode(r.Context(), c.Account, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.authorize(r, authz.DeregisterNode, nodeEntity(n)); err != nil {
		return err
	}
	if err := s.store.DeleteNode(r.Context(), c.Account, n.ID); err != nil {
		return err
	}
	if ac := s.agent(n.ID); ac != nil {
		ac.Mux.Close()
	}
	s.logf("server: node %s (%s) deregistered by %s", n.ID, n.Name, c.User.Name)
	s.nodeEvent(r.Context(), n, events.NodeDeregistered)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
