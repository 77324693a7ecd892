package server

import (
	"fmt"

	"github.com/hashicorp/yamux"
)

// AgentStream opens a stream to a node's agent directly, past the session
// logic and its grants: what anything that got a stream onto the agent's
// connection could do.
func (s *Server) AgentStream(nodeID string) (*yamux.Stream, error) {
	ac := s.agent(nodeID)
	if ac == nil {
		return nil, fmt.Errorf("node %s is not connected", nodeID)
	}
	return ac.Mux.OpenStream()
}
