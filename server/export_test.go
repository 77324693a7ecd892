package server

// CheckLimits runs the idle-timeout and maximum-duration check of session id
// at the server's current time, as the relay's watcher does on every tick,
// so that tests which move the clock need not wait for a tick. It reports
// whether the session has a relay.
func (s *Server) CheckLimits(id string) bool {
	r := s.relay(id)
	if r == nil {
		return false
	}
	r.enforceLimits(s.now())
	return true
}

// SessionAttached reports whether session id has both its agent and at
// least one client attached.
func (s *Server) SessionAttached(id string) bool {
	r := s.relay(id)
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.agent != nil && r.clients > 0
}

// CheckSession runs one round of session id's watcher (grace periods, the
// wait for a termination, limits) at the server's current time.
func (s *Server) CheckSession(id string) bool {
	r := s.relay(id)
	if r == nil {
		return false
	}
	r.check(s.now())
	return true
}

// AgentAttached reports whether session id's relay has its agent attached.
func (s *Server) AgentAttached(id string) bool {
	r := s.relay(id)
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.agent != nil
}
