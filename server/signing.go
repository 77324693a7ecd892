package server

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/postern/postern/wire"
)

// Every request the server sends an agent to open, resume or forward
// carries a grant signed with the server's session-signing key for that node
// and exactly those parameters (wire.SignGrant). The agent refuses anything
// else, so a request reaches a node only through the session logic that
// checked it here, never straight from a client token or from anything else
// that gets a stream onto an agent's connection.

// grantTTL is how long a grant is valid. A request is signed just before
// it is sent, and the agent answers at once; the agent also allows a minute
// of clock skew either way.
const grantTTL = 2 * time.Minute

// grantNow is the clock grants are issued by. It is the wall clock, not
// Config.Now: a grant is checked against the node's own clock, which tests
// that move the server's clock do not move.
var grantNow = time.Now

// grant returns first, the first frame of a stream to node nodeID, with a
// fresh grant for it.
func (s *Server) grant(nodeID string, first any) (any, error) {
	var err error
	switch m := first.(type) {
	case wire.Open:
		if m, err = asDecoded(m); err == nil {
			m.Grant, err = s.signGrant(nodeID, m.Request())
		}
		return m, err
	case wire.Resume:
		if m, err = asDecoded(m); err == nil {
			m.Grant, err = s.signGrant(nodeID, m.Request())
		}
		return m, err
	case wire.Forward:
		if m, err = asDecoded(m); err == nil {
			m.Grant, err = s.signGrant(nodeID, m.Request())
		}
		return m, err
	}
	return nil, fmt.Errorf("server: no grant for a %T request", first)
}

func (s *Server) signGrant(nodeID string, req wire.Request) ([]byte, error) {
	tok, err := wire.SignGrant(req, nodeID, grantNow(), grantTTL, s.signer.Sign)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return tok, nil
}

// asDecoded returns m as the agent decodes it: JSON turns invalid UTF-8
// into U+FFFD, and what the server signs must be what the agent hashes and
// acts on.
func asDecoded[T any](m T) (T, error) {
	var out T
	b, err := json.Marshal(m)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		return out, fmt.Errorf("server: grant: %w", err)
	}
	return out, nil
}
