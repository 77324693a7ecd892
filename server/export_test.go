package server

import (
	"context"
	"time"
)

// CheckLimits runs the idle-timeout and maximum-duration check of session id
// at the server's current time, as the relay's watcher does on every tick,
// so that tests which move the clock need not wait for a tick. It reports
// whether the session has a relay.
func (s *Server) CheckLimits(id string) bool {
	r := s.relays.Get(id)
	if r == nil {
		return false
	}
	r.EnforceLimits(s.now())
	return true
}

// SessionAttached reports whether session id has both its agent and at
// least one client attached.
func (s *Server) SessionAttached(id string) bool {
	r := s.relays.Get(id)
	if r == nil {
		return false
	}
	agent, clients := r.Attached()
	return agent && clients > 0
}

// CheckSession runs one round of session id's watcher (grace periods, the
// wait for a termination, limits) at the server's current time.
func (s *Server) CheckSession(id string) bool {
	r := s.relays.Get(id)
	if r == nil {
		return false
	}
	r.Check(s.now())
	return true
}

// CatchupRecords is how many journal records have been read to serve
// clients behind the relay's memory, or of ended sessions.
func (s *Server) CatchupRecords() uint64 {
	c := &s.catchupRecords
	return c.owner.Load() + c.observer.Load() + c.ended.Load()
}

// OwnerCatchupRecords is how many journal records have been read to
// serve owners' clients behind the relay's memory.
func (s *Server) OwnerCatchupRecords() uint64 { return s.catchupRecords.owner.Load() }

// OutputEnd is how much output session id's relay has handed to clients,
// and whether it has a relay.
func (s *Server) OutputEnd(id string) (uint64, bool) {
	return s.outputSoFar(id)
}

// Pacing reports whether session id's relay is waiting for its owner's
// terminal before it takes in more output, and how far the furthest owner
// client has been sent output.
func (s *Server) Pacing(id string) (waiting bool, ownerSent uint64) {
	r := s.relays.Get(id)
	if r == nil {
		return false, 0
	}
	return r.Pacing()
}

// JournalPath is where session id of account keeps its journal.
func (s *Server) JournalPath(account, id string) string { return s.journalPath(account, id) }

// SetHTTPTimeouts sets how long a keep-alive connection may idle and a
// request body may take, for servers started after it, and returns a
// function that restores them.
func SetHTTPTimeouts(idle, body time.Duration) (restore func()) {
	oldIdle, oldBody := idleTimeout, bodyTimeout
	idleTimeout, bodyTimeout = idle, body
	return func() { idleTimeout, bodyTimeout = oldIdle, oldBody }
}

// AgentAttached reports whether session id's relay has its agent attached.
func (s *Server) AgentAttached(id string) bool {
	r := s.relays.Get(id)
	if r == nil {
		return false
	}
	agent, _ := r.Attached()
	return agent
}

// SetAgentPingInterval sets how often the server pings agents, for tests
// that watch heartbeats; the returned function restores it.
func SetAgentPingInterval(d time.Duration) (restore func()) {
	old := agentPingInterval
	agentPingInterval = d
	return func() { agentPingInterval = old }
}

// PausedSessions counts the sessions paused for their recordings.
func (s *Server) PausedSessions() int { return s.pausedSessions() }

// DiskLow reports whether the server is refusing work for lack of space.
func (s *Server) DiskLow() bool { return s.disk.Low() }

// SetSessionIDHook has f called with the owner of every session the
// server starts, after its decision and before the session exists, and
// returns a function that removes it. Set it before the server starts.
func SetSessionIDHook(f func(user string)) (restore func()) {
	old := newSessionID
	newSessionID = func(user string) string {
		f(user)
		return old(user)
	}
	return func() { newSessionID = old }
}

// TakeOrphans looks once for the running sessions of servers that are
// gone whose nodes are connected nowhere, and takes them up here, as the
// holder of the "orphans" lease does every lease TTL.
func (s *Server) TakeOrphans(ctx context.Context) error { return s.takeOrphansOnce(ctx) }
