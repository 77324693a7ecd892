package server

import "context"

// sessionEnded reports whether a session has ended, so that what its
// journal holds is all there will be.
func (s *Server) sessionEnded(ctx context.Context, id string) bool {
	if rl := s.relay(id); rl != nil {
		rl.mu.Lock()
		defer rl.mu.Unlock()
		return rl.ended
	}
	sess, err := s.store.GetSession(ctx, id)
	return err == nil && !sess.Active()
}

// outputSoFar returns how much a running session has printed.
func (s *Server) outputSoFar(id string) (uint64, bool) {
	rl := s.relay(id)
	if rl == nil {
		return 0, false
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.ring.end, true
}
