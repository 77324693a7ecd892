package server

import (
	"context"

	"github.com/postern/postern/events"
	"github.com/postern/postern/ids"
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
	if err != nil {
		s.logf("server: node %s: %v", id, err)
		return
	}
	s.nodeEvent(ctx, n, state)
}
