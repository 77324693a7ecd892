package server

// HoldRendering makes the server call hold before rendering each ended
// session's artifacts, so tests can observe a session whose artifacts are
// still owed. Set it before any session ends.
func (s *Server) HoldRendering(hold func(id string)) {
	s.outbox.beforeDeliver = hold
}
