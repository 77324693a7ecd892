package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/hashicorp/yamux"

	"github.com/postern/postern/authz"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

func newUUID() string { return uuid.NewString() }

// agentConn is a connected agent.
type agentConn struct {
	nodeID  string
	mux     *yamux.Session
	ctl     *wire.Writer
	ctlRead *yamux.Stream // the control stream, which serveAgent reads
	since   time.Time
	// typedMarks: the agent marks typed lines when an Open asks.
	typedMarks bool
	// seen is when the agent last answered a ping, in Unix nanoseconds of
	// the server's clock: the node's last-seen time while it is connected
	// (the store's is written only now and then; see nodeSeenWrite).
	seen atomic.Int64
}

// lastSeen is when the agent last answered a ping, or connected.
func (ac *agentConn) lastSeen() time.Time { return time.Unix(0, ac.seen.Load()).UTC() }

// Heartbeats of connected agents.
var (
	// agentPingInterval is how often the server pings an agent on its
	// control stream; the answers keep the node's last-seen time. (The
	// connection's liveness is wire's business.) A variable so tests
	// can shorten it.
	agentPingInterval = 30 * time.Second
	// nodeSeenWrite is how often a connected node's last-seen time is
	// written to the store: a write per heartbeat would be one per
	// agent every ping interval, which for a fleet of thousands keeps
	// the store's one writer busy for nothing. Listings show the live
	// time of a connected node, and the store gets the last one when
	// the agent disconnects, so only a server that dies leaves a
	// last-seen time this old.
	nodeSeenWrite = 5 * time.Minute
)

// agent returns the connected agent of a node, or nil.
func (s *Server) agent(nodeID string) *agentConn {
	s.agentsMu.Lock()
	defer s.agentsMu.Unlock()
	return s.agents[nodeID]
}

// NodeOnline reports whether the node's agent is connected.
func (s *Server) NodeOnline(nodeID string) bool { return s.agent(nodeID) != nil }

// handleAgent accepts an agent's connection. The TLS layer has already
// verified any client certificate against the CA; here the certificate must
// exist and be the one issued to the node it names.
func (s *Server) handleAgent(w http.ResponseWriter, r *http.Request) {
	if s.stopping.Load() {
		// The agent comes back to the next server, after its backoff.
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, "ServerStopping", "the server is stopping"))
		return
	}
	n, err := s.authenticateAgent(r)
	if err != nil {
		s.logf("server: agent connection from %s refused: %v", r.RemoteAddr, err)
		s.writeError(w, r, errorf(http.StatusUnauthorized, "AgentUnauthorized", "%v", err))
		return
	}
	connAuthenticated(r)
	if ai := auditOf(r); ai != nil {
		ai.account, ai.actor = n.Account, "agent/"+n.ID
	}
	ps, err := s.policies(r.Context(), n.Account)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if d := ps.Decide(authz.Request{Principal: authz.Agent(n.Account, n.ID, n.Tags), Action: authz.ConnectAgent, Resource: nodeEntity(n)}); !d.Allowed {
		s.logf("server: agent %s (%s) refused: %s", n.ID, n.Name, d.Explain())
		s.writeError(w, r, errorf(http.StatusForbidden, "AccessDenied", "agent %s may not connect (%s)", n.ID, d.Explain()))
		return
	}
	// Lean buffers: the connection lasts as long as the agent runs, and
	// a server holds thousands.
	ws, err := websocket.Accept(wire.LeanHijack(w), r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		s.logf("server: agent %s: websocket: %v", n.ID, err)
		return
	}
	// The connection lasts as long as the agent runs, on a goroutine of
	// its own, and this handler returns: its goroutine's stack grew
	// with the TLS handshake and it holds the request, which a fleet of
	// thousands of idle agents would otherwise keep for nothing. (The
	// audit trail records the connection when the handler returns, so
	// at connect.)
	remote, cork := r.RemoteAddr, wire.CorkerFrom(r.Context())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithCancel(s.ctx)
		defer cancel()
		conn := wire.MuxConn(ctx, ws, cork)
		mux, err := wire.ServerMux(conn, s.logf)
		if err != nil {
			conn.Close()
			return
		}
		defer mux.Close()
		s.serveAgent(ctx, n, mux, remote)
	}()
}

func (s *Server) authenticateAgent(r *http.Request) (store.Node, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return store.Node{}, errors.New("no client certificate: agents authenticate with the certificate issued at registration")
	}
	leaf := r.TLS.PeerCertificates[0]
	nodeID := leaf.Subject.CommonName
	n, err := s.store.GetNode(r.Context(), nodeID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Node{}, fmt.Errorf("node %s is not registered", nodeID)
	} else if err != nil {
		return store.Node{}, err
	}
	if n.CertSerial != leaf.SerialNumber.Text(16) {
		return store.Node{}, fmt.Errorf("certificate %s is not the one issued to node %s", leaf.SerialNumber.Text(16), nodeID)
	}
	return n, nil
}

func (s *Server) serveAgent(ctx context.Context, n store.Node, mux *yamux.Session, remote string) {
	acceptCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ctlc := make(chan *yamux.Stream, 1)
	go func() {
		st, err := mux.AcceptStream()
		if err == nil {
			ctlc <- st
		}
	}()
	var ctl *yamux.Stream
	select {
	case ctl = <-ctlc:
	case <-acceptCtx.Done():
		cancel()
		s.logf("server: agent %s did not open its control stream; closing", n.ID)
		return
	}
	cancel()
	r := wire.NewReader(ctl)
	f, err := r.Read()
	if err != nil || f.Type != wire.THello {
		s.logf("server: agent %s: expected hello, got %v %v; closing", n.ID, f.Type, err)
		return
	}
	var hello wire.Hello
	if err := wire.DecodeJSON(f, &hello); err != nil {
		s.logf("server: agent %s: %v; closing", n.ID, err)
		return
	}
	if hello.NodeID != n.ID {
		s.logf("server: agent with the certificate of %s says it is %s; closing", n.ID, hello.NodeID)
		return
	}
	ip, _, _ := net.SplitHostPort(remote)
	if hello.IP != "" {
		ip = hello.IP
	}
	if err := s.store.TouchNode(ctx, n.ID, s.now(), ip, hello.AgentVersion); err != nil {
		s.logf("server: agent %s: %v", n.ID, err)
	}
	ac := &agentConn{nodeID: n.ID, mux: mux, ctl: wire.NewWriter(ctl), ctlRead: ctl, since: s.now(), typedMarks: hello.TypedMarks}
	ac.seen.Store(ac.since.UnixNano())
	stored := ac.since // the last-seen time in the store
	// Which sessions to resume is decided before the agent is published:
	// a session started on it afterwards is new, not one its hello forgot.
	toResume := s.relaysOn(n.ID)
	s.agentsMu.Lock()
	old := s.agents[n.ID]
	s.agents[n.ID] = ac
	s.agentsMu.Unlock()
	if old != nil {
		// The node reconnected before we noticed the old connection die.
		old.mux.Close()
	}
	s.logf("server: agent %s connected from %s (%d live sessions)", n.ID, remote, len(hello.Sessions))
	defer func() {
		s.agentsMu.Lock()
		current := s.agents[n.ID] == ac
		if current {
			delete(s.agents, n.ID)
		}
		s.agentsMu.Unlock()
		s.logf("server: agent %s disconnected", n.ID)
		// The store gets the last heartbeat; not from a connection the
		// node has already replaced, nor when the server stops, where
		// the agents come back to a new one in a moment anyway and a
		// write per agent would hold up the stop.
		if seen := ac.lastSeen(); current && !s.stopping.Load() && seen.After(stored) {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := s.store.TouchNode(tctx, n.ID, seen, ip, hello.AgentVersion); err != nil {
				s.logf("server: agent %s: %v", n.ID, err)
			}
			cancel()
		}
		s.agentGone(n.ID)
	}()

	s.resumeSessions(toResume, ac, hello.Sessions)

	defer pingAgent(ac).stop()
	for {
		f, err := r.Read()
		if err != nil {
			return
		}
		switch f.Type {
		case wire.TPong:
			now := s.now()
			ac.seen.Store(now.UnixNano())
			if now.Sub(stored) >= nodeSeenWrite {
				if err := s.store.TouchNode(ctx, n.ID, now, ip, hello.AgentVersion); err != nil {
					s.logf("server: agent %s: %v", n.ID, err)
				} else {
					stored = now
				}
			}
		case wire.TPing:
			ac.ctl.Write(wire.TPong, f.Payload)
		default:
			s.logf("server: agent %s: unexpected %s frame on the control stream; closing the connection", n.ID, f.Type)
			return
		}
	}
}

// pinger pings an agent on its control stream every agentPingInterval.
// It is a timer, not a goroutine: a fleet of idle agents costs the server
// no stack for it.
type pinger struct {
	mu      sync.Mutex // guards t and stopped
	t       *time.Timer
	stopped bool
}

// pingAgent starts pinging ac until stop.
func pingAgent(ac *agentConn) *pinger {
	p := &pinger{}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.t = time.AfterFunc(agentPingInterval, func() {
		// A write that fails means the connection is gone; its reader
		// ends it.
		if err := ac.ctl.Write(wire.TPing, nil); err != nil {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.stopped {
			p.t.Reset(agentPingInterval)
		}
	})
	return p
}

func (p *pinger) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	p.t.Stop()
}

// resumeSessions reattaches the relays of a node's active sessions after
// the agent (re)connects, all at once so a node with many sessions resumes
// in one round trip. Sessions the agent no longer has are failed. Sessions
// the agent still has but the server has ended (it gave up waiting for
// the agent) are handed over late (late.go).
func (s *Server) resumeSessions(rs []*relay, ac *agentConn, held []wire.LiveSession) {
	live := map[string]bool{}
	for _, ls := range held {
		live[ls.ID] = true
	}
	resumed := map[string]bool{}
	for _, r := range rs {
		if r.port != nil {
			continue // port sessions keep no state on the agent
		}
		if r.isEnding() {
			continue // over: handed over late below, if the agent has it
		}
		resumed[r.id] = true
		if !live[r.id] {
			r.fail("AgentRestarted", "the node's agent restarted and the session's shell is gone")
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			r.attachAgent(ac)
		}()
	}
	var late []string
	for _, ls := range held {
		if !resumed[ls.ID] {
			late = append(late, ls.ID)
		}
	}
	if len(late) > 0 {
		s.handOverLate(ac, late...)
	}
}

// agentGone tells the node's relays their agent connection is gone.
func (s *Server) agentGone(nodeID string) {
	for _, r := range s.relaysOn(nodeID) {
		r.agentLost()
	}
}

// relaysOn returns the relays of a node's sessions.
func (s *Server) relaysOn(nodeID string) []*relay {
	s.relaysMu.Lock()
	defer s.relaysMu.Unlock()
	var rs []*relay
	for _, r := range s.relays {
		if r.target == nodeID {
			rs = append(rs, r)
		}
	}
	return rs
}
