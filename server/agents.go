package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/hashicorp/yamux"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/events"
	"github.com/postern/postern/relay"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

func newUUID() string { return uuid.NewString() }

// agentConn is a connected agent.
type agentConn struct {
	relay.Link // its node and connection, as relays open streams on it
	ctl        *wire.Writer
	ctlRead    *yamux.Stream // the control stream, which the heartbeat reads
	since      time.Time
	// typedMarks: the agent marks typed lines when an Open asks.
	typedMarks bool
	// seen is when the server last took in the agent's answer to a ping
	// (at the heartbeat after the ping), in Unix nanoseconds of the
	// server's clock: the node's last-seen time while it is connected
	// (the store's is written only now and then; see nodeSeenWrite).
	seen atomic.Int64
	// ip and version are what the store's node gets with its last-seen
	// time.
	ip, version string

	hb heartbeat
}

// lastSeen is when the agent last answered a ping, or connected.
func (ac *agentConn) lastSeen() time.Time { return time.Unix(0, ac.seen.Load()).UTC() }

// Heartbeats of connected agents.
var (
	// agentPingInterval is how often the server pings an agent on its
	// control stream; the answers keep the node's last-seen time (see
	// heartbeat). A variable so tests can shorten it.
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
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, api.CodeServerStopping, "the server is stopping"))
		return
	}
	n, err := s.authenticateAgent(r)
	if err != nil {
		s.logf("server: agent connection from %s refused: %v", r.RemoteAddr, err)
		s.writeError(w, r, errorf(http.StatusUnauthorized, api.CodeAgentUnauthorized, "%v", err))
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
		s.writeError(w, r, errorf(http.StatusForbidden, api.CodeAccessDenied, "agent %s may not connect (%s)", n.ID, d.Explain()))
		return
	}
	// Lean buffers: the connection lasts as long as the agent runs, and
	// a server holds thousands.
	ws, err := websocket.Accept(wire.LeanHijack(w), r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		s.logf("server: agent %s: websocket: %v", n.ID, err)
		return
	}
	// The connection lasts as long as the agent runs, and this handler
	// returns: its goroutine's stack grew with the TLS handshake and it
	// holds the request, which a fleet of thousands of idle agents would
	// otherwise keep for nothing. (The audit trail records the
	// connection when the handler returns, so at connect.)
	remote, cork := r.RemoteAddr, wire.CorkerFrom(r.Context())
	s.wg.Add(1) // done once the connection has closed and agentClosed ran
	go s.serveAgent(n, ws, cork, remote)
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

// serveAgent sets up an agent's connection, and returns once it is up.
// The connection then lives on the multiplexer's two goroutines, and a
// timer for the heartbeat (see heartbeat): no goroutine of the server's
// waits on it, since a fleet of thousands of idle agents would keep that
// many stacks for nothing. When it closes, agentClosed cleans up.
func (s *Server) serveAgent(n store.Node, ws *websocket.Conn, cork wire.Corker, remote string) {
	ctx, cancel := context.WithCancel(s.ctx)
	// The connection may close while it is being set up: the cleanup
	// waits for the agent it set up, nil if none.
	up := make(chan *agentConn, 1)
	conn := wire.MuxConn(ctx, ws, cork)
	mux, err := wire.ServerMux(conn, s.logf, func() {
		defer s.wg.Done()
		defer cancel()
		if ac := <-up; ac != nil {
			s.agentClosed(ac)
		}
	})
	if err != nil {
		conn.Close()
		cancel()
		s.wg.Done()
		return
	}
	ac := s.setUpAgent(ctx, n, mux, remote)
	up <- ac
	if ac == nil {
		mux.Close()
	}
}

// setUpAgent reads the agent's hello, publishes the connection and resumes
// the node's sessions on it; nil if the agent does not say hello.
func (s *Server) setUpAgent(ctx context.Context, n store.Node, mux *yamux.Session, remote string) *agentConn {
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
		return nil
	case <-mux.CloseChan():
		cancel()
		return nil
	}
	cancel()
	r := wire.NewReader(ctl)
	f, err := r.Read()
	if err != nil || f.Type != wire.THello {
		s.logf("server: agent %s: expected hello, got %v %v; closing", n.ID, f.Type, err)
		return nil
	}
	var hello wire.Hello
	if err := wire.DecodeJSON(f, &hello); err != nil {
		s.logf("server: agent %s: %v; closing", n.ID, err)
		return nil
	}
	if hello.NodeID != n.ID {
		s.logf("server: agent with the certificate of %s says it is %s; closing", n.ID, hello.NodeID)
		return nil
	}
	ip, _, _ := net.SplitHostPort(remote)
	if hello.IP != "" {
		ip = hello.IP
	}
	if err := s.store.TouchNode(ctx, n.ID, s.now(), ip, hello.AgentVersion); err != nil {
		s.logf("server: agent %s: %v", n.ID, err)
	}
	// Sessions of a server that is gone, which this node carries: taken
	// up here before the node's relays are resumed.
	s.adoptSessions(ctx, n)
	ac := &agentConn{Link: relay.Link{NodeID: n.ID, Mux: mux}, ctl: wire.NewWriter(ctl), ctlRead: ctl, since: s.now(), typedMarks: hello.TypedMarks, ip: ip, version: hello.AgentVersion}
	ac.seen.Store(ac.since.UnixNano())
	ac.hb.stored = ac.since // the last-seen time in the store
	// Which sessions to resume is decided as the agent is published: a
	// session started on it afterwards is new, not one its hello forgot,
	// and one recovered late (recoverLater) is either here or finds the
	// agent published.
	s.agentsMu.Lock()
	toResume := s.relays.OnNode(n.ID)
	old := s.agents[n.ID]
	s.agents[n.ID] = ac
	s.agentsMu.Unlock()
	if old != nil {
		// The node reconnected before we noticed the old connection die.
		old.Mux.Close()
	}
	s.place(ctx, "node/"+n.ID)
	s.logf("server: agent %s connected from %s (%d live sessions)", n.ID, remote, len(hello.Sessions))
	s.nodeEvent(ctx, n, events.NodeOnline)
	s.resumeSessions(toResume, ac, hello.Sessions)
	s.startHeartbeat(ctx, ac)
	return ac
}

// agentClosed cleans up after an agent's connection has closed.
func (s *Server) agentClosed(ac *agentConn) {
	stored := ac.hb.stop()
	s.agentsMu.Lock()
	current := s.agents[ac.NodeID] == ac
	if current {
		delete(s.agents, ac.NodeID)
	}
	s.agentsMu.Unlock()
	s.logf("server: agent %s disconnected", ac.NodeID)
	if current && !s.stopping.Load() {
		s.nodeEventByID(s.ctx, ac.NodeID, events.NodeOffline)
		s.unplace("node/" + ac.NodeID)
	}
	// The store gets the last heartbeat; not from a connection the node
	// has already replaced, nor when the server stops, where the agents
	// come back to a new one in a moment anyway and a write per agent
	// would hold up the stop.
	if seen := ac.lastSeen(); current && !s.stopping.Load() && seen.After(stored) {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
		if err := s.store.TouchNode(tctx, ac.NodeID, seen, ac.ip, ac.version); err != nil {
			s.logf("server: agent %s: %v", ac.NodeID, err)
		}
		cancel()
	}
	s.agentGone(ac.NodeID)
}

// heartbeat pings an agent on its control stream every agentPingInterval
// and, at the next beat, takes in what came back: the answers keep the
// node's last-seen time (the connection's liveness is wire's business).
// It is a timer, not a goroutine blocked on the stream: a fleet of idle
// agents costs the server no stack for it.
type heartbeat struct {
	mu      sync.Mutex // guards all below
	t       *time.Timer
	stopped bool
	stored  time.Time // the last-seen time in the store
	pending []byte    // the start of a frame not yet all read
}

// startHeartbeat starts ac's heartbeat; agentClosed stops it.
func (s *Server) startHeartbeat(ctx context.Context, ac *agentConn) {
	hb := &ac.hb
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.stopped {
		return
	}
	hb.t = time.AfterFunc(agentPingInterval, func() {
		hb.mu.Lock()
		if hb.stopped {
			hb.mu.Unlock()
			return
		}
		err := s.takeControl(ctx, ac)
		hb.mu.Unlock()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, yamux.ErrStreamClosed) && !errors.Is(err, yamux.ErrSessionShutdown) && !errors.Is(err, yamux.ErrConnectionReset) {
				s.logf("server: agent %s: %v; closing the connection", ac.NodeID, err)
			}
			ac.Mux.Close() // its cleanup stops this timer
			return
		}
		// A write that fails means the connection is gone, and it
		// closes.
		if err := ac.ctl.Write(wire.TPing, nil); err != nil {
			return
		}
		hb.mu.Lock()
		defer hb.mu.Unlock()
		if !hb.stopped {
			hb.t.Reset(agentPingInterval)
		}
	})
}

// stop stops the heartbeat and returns the last-seen time in the store.
func (hb *heartbeat) stop() time.Time {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.stopped = true
	if hb.t != nil {
		hb.t.Stop()
	}
	return hb.stored
}

// takeControl reads, without waiting, what the agent has sent on its
// control stream since the last beat, and takes in each frame: a pong is
// a heartbeat, a ping is answered. hb.mu must be held.
func (s *Server) takeControl(ctx context.Context, ac *agentConn) error {
	hb := &ac.hb
	// What is there is read at once; with nothing, the read times out.
	if err := ac.ctlRead.SetReadDeadline(time.Now()); err != nil {
		return err
	}
	var buf [256]byte
	for {
		n, err := ac.ctlRead.Read(buf[:])
		hb.pending = append(hb.pending, buf[:n]...)
		if errors.Is(err, yamux.ErrTimeout) {
			break
		}
		if err != nil {
			return err
		}
		if len(hb.pending) > wire.HeaderLen+wire.MaxPayload {
			return fmt.Errorf("a control frame of more than %d bytes", wire.MaxPayload)
		}
	}
	p := hb.pending
	for len(p) >= wire.HeaderLen {
		t, n, err := wire.ParseHeader([wire.HeaderLen]byte(p))
		if err != nil {
			return err
		}
		if len(p) < wire.HeaderLen+n {
			break
		}
		payload := p[wire.HeaderLen : wire.HeaderLen+n]
		p = p[wire.HeaderLen+n:]
		switch t {
		case wire.TPong:
			now := s.now()
			ac.seen.Store(now.UnixNano())
			if now.Sub(hb.stored) >= nodeSeenWrite {
				if err := s.store.TouchNode(ctx, ac.NodeID, now, ac.ip, ac.version); err != nil {
					s.logf("server: agent %s: %v", ac.NodeID, err)
				} else {
					hb.stored = now
				}
			}
		case wire.TPing:
			ac.ctl.Write(wire.TPong, payload)
		default:
			return fmt.Errorf("unexpected %s frame on the control stream", t)
		}
	}
	// Usually nothing is left: then no buffer is kept either.
	hb.pending = append(hb.pending[:0], p...)
	if len(hb.pending) == 0 {
		hb.pending = nil
	}
	return nil
}

// resumeSessions reattaches the relays of a node's active sessions after
// the agent (re)connects, all at once so a node with many sessions resumes
// in one round trip. Sessions the agent no longer has are failed. Sessions
// the agent still has but the server has ended (it gave up waiting for
// the agent) are handed over late (late.go).
func (s *Server) resumeSessions(rs []*relay.Relay, ac *agentConn, held []wire.LiveSession) {
	live := map[string]bool{}
	for _, ls := range held {
		live[ls.ID] = true
	}
	resumed := map[string]bool{}
	for _, r := range rs {
		if r.Port() != nil {
			continue // port sessions keep no state on the agent
		}
		if r.Ending() {
			continue // over: handed over late below, if the agent has it
		}
		resumed[r.ID()] = true
		if !live[r.ID()] {
			r.Fail("AgentRestarted", "the node's agent restarted and the session's shell is gone")
			continue
		}
		r.Resume(&ac.Link)
	}
	var late []string
	for _, ls := range held {
		if !resumed[ls.ID] {
			late = append(late, ls.ID)
		}
	}
	if len(late) > 0 {
		s.handOverLate(&ac.Link, late...)
	}
}

// agentGone tells the node's relays their agent connection is gone.
func (s *Server) agentGone(nodeID string) {
	for _, r := range s.relays.OnNode(nodeID) {
		r.AgentLost()
	}
}
