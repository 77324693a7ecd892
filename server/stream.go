package server

import "context"

// sessionEnded reports whether a session has ended, so that what its
// journal holds is all there will be.
func (s *Server) sessionEnded(ctx context.Context, id string) bool {
	if rl := s.relays.Get(id); rl != nil {
		return rl.Ended()
	}
	sess, err := s.store.GetSession(ctx, id)
	return err == nil && !sess.Active()
}

// outputSoFar returns how much a running session has printed.
func (s *Server) outputSoFar(id string) (uint64, bool) {
	rl := s.relays.Get(id)
	if rl == nil {
		return 0, false
	}
	return rl.OutputEnd(), true
}
