package server

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/cluster"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
)

// Several servers on one database (package cluster): a node's agent link
// and its sessions' relays live on the server the agent dialled; requests
// for them that land elsewhere are forwarded there. A session whose server
// died is taken up by the server its agent dials next (adoptSessions),
// from its recording in object storage.

// newCluster makes this server's view of its peers.
func (s *Server) newCluster() (*cluster.Cluster, error) {
	peer, err := s.ca.PeerCertificate(s.instance)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	roots.AddCert(s.ca.Cert)
	return cluster.New(cluster.Deps{
		Store: s.store, ID: s.instance, Peer: peer, Roots: roots,
		TTL: s.cfg.LeaseTTL, Logf: s.logf,
		Unreachable: func(w http.ResponseWriter, r *http.Request, holder string, err error) {
			s.logf("server: %s %s: forwarding to %s, which holds it: %v", r.Method, r.URL.Path, holder, err)
			e := errorf(http.StatusServiceUnavailable, api.CodeSessionNotReady, "the server that holds this does not answer (%s); try again shortly: if it is gone, another server takes its sessions up", holder)
			e.RetryAfter = 2
			s.writeError(w, r, e)
		},
	}), nil
}

// advertise is the URL peers reach this server at: the configuration's,
// or where it listens (for every address, the host's name).
func (s *Server) advertise(ln net.Listener) string {
	if s.cfg.Advertise != "" {
		return s.cfg.Advertise
	}
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "127.0.0.1"
		}
	}
	return "https://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// clustered forwards a request about a node or session that a live peer
// holds to it, before anything here authenticates, audits or counts it:
// the peer does all of that, once. A request a peer forwarded is served
// here, never forwarded again.
func (s *Server) clustered(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cluster == nil || cluster.FromPeer(r) {
			next.ServeHTTP(w, r)
			return
		}
		key := s.holderKey(r)
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		holder, addr, err := s.cluster.Holder(r.Context(), key)
		if err != nil || holder == "" {
			// Here, or nowhere live: served here, which answers as
			// it can (a database error included).
			next.ServeHTTP(w, r)
			return
		}
		s.cluster.Forward(w, r, holder, addr)
	})
}

// sessionRoutes are the routes, under a session, that its relay serves.
var sessionRoutes = map[string]bool{"stream": true, "forward": true, "desktop": true, "terminate": true}

// maxStartBody bounds what is read of a session's start to find its
// target; a larger body is served here (and refused by the handler).
const maxStartBody = 64 << 10

// holderKey names what a request is about when only one server can serve
// it: a running session's relay ("session/ID"), for a new session its
// node's agent link ("node/ID"), for a command's cancellation the server
// carrying it out ("command/ACCOUNT/ID"); "" for anything any server
// serves. A request without credentials is served here (and refused):
// only a signed-in caller's requests cost a peer anything.
func (s *Server) holderKey(r *http.Request) string {
	if r.Header.Get("Authorization") == "" {
		if ck, err := r.Cookie(sessionCookie); err != nil || ck.Value == "" {
			return ""
		}
	}
	rest, ok := strings.CutPrefix(r.URL.Path, api.PathSessions+"/")
	if ok {
		id, sub, _ := strings.Cut(rest, "/")
		if id != "" && sessionRoutes[sub] {
			return "session/" + id
		}
		return ""
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, api.PathCommands+"/"); ok && r.Method == http.MethodPost {
		// A cancellation: to the server carrying the command out.
		id, sub, _ := strings.Cut(rest, "/")
		if sub != "cancel" || id == "" {
			return ""
		}
		c, err := s.authenticate(r)
		if err != nil {
			return ""
		}
		return commandKey(c.Account, id)
	}
	if r.Method != http.MethodPost || r.URL.Path != api.PathSessions {
		return ""
	}
	// A new session: on its node's server. The target may be a name,
	// which only the caller's account resolves.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxStartBody+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	if err != nil || len(body) > maxStartBody {
		return ""
	}
	var req api.StartSessionRequest
	if json.Unmarshal(body, &req) != nil || req.Target == "" {
		return ""
	}
	c, err := s.authenticate(r)
	if err != nil {
		return ""
	}
	n, err := s.resolveNode(r.Context(), c.Account, req.Target)
	if err != nil {
		return ""
	}
	return "node/" + n.ID
}

// place records that this server holds key (a node's link, a session's
// relay). A failure is logged: requests for it that land elsewhere are
// then served there, as without a cluster.
func (s *Server) place(ctx context.Context, key string) string {
	prev, err := s.store.Place(ctx, key, s.instance)
	if err != nil {
		s.logf("server: %s: %v", key, err)
	}
	return prev
}

// unplace forgets that this server holds key.
func (s *Server) unplace(key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
	defer cancel()
	if err := s.store.Unplace(ctx, key, s.instance); err != nil && !s.stopping.Load() {
		s.logf("server: %s: %v", key, err)
	}
}

// livePeerHolding returns the server other than this one that holds key,
// and its URL, if it is alive: its presence lease holds and it answers as
// itself.
func (s *Server) livePeerHolding(ctx context.Context, key string) (holder, addr string) {
	if s.cluster == nil {
		return "", ""
	}
	holder, addr, err := s.cluster.Holder(ctx, key)
	if err != nil || holder == "" || !s.cluster.Reachable(ctx, holder, addr) {
		return "", ""
	}
	return holder, addr
}

// adoptSessions takes up, before the agent is published, the node's
// running sessions that no relay here carries: those of a server that
// died (or stopped), and those of a live server the node left (a network
// blip, a balancer that sent it elsewhere), which is first asked to let
// go of them (Release). Each is recovered from its recording (object
// storage when configured) and resumed with the node's other sessions;
// the agent sends again what no server acknowledged, and a session the
// agent no longer has fails as it would after a restart. A session that
// cannot be recovered yet (object storage down) is tried again.
func (s *Server) adoptSessions(ctx context.Context, n store.Node) {
	active := true
	ss, err := s.store.ListSessions(ctx, store.SessionFilter{Account: n.Account, Target: n.ID, Active: &active})
	if err != nil {
		s.logf("server: node %s: its running sessions: %v", n.ID, err)
		return
	}
	asked := map[string]bool{} // live holders asked to let go of the node
	for _, sess := range ss {
		if s.relays.Get(sess.ID) != nil {
			continue
		}
		if _, later := s.recoveringLater.Load(sess.ID); later {
			continue // waiting for object storage already
		}
		holder, err := s.store.Placement(ctx, "session/"+sess.ID)
		if err != nil {
			s.logf("server: session %s: %v", sess.ID, err)
			continue
		}
		if holder == s.instance {
			continue // relayed, started or taken up here in a moment
		}
		holder, addr := s.livePeerHolding(ctx, "session/"+sess.ID)
		if holder != "" && s.cfg.Recordings == nil {
			// Its recording is on that server's disk alone: it cannot
			// move, and waits there for the node.
			s.logf("server: session %s: its node dialled this server while %s holds it, and without object storage for recordings it cannot move", sess.ID, holder)
			continue
		}
		if holder != "" && !asked[holder] {
			asked[holder] = true
			res, err := s.cluster.Release(ctx, holder, addr, n.ID)
			if err != nil {
				s.logf("server: node %s dialled this server; %v: its sessions there are taken up here all the same", n.ID, err)
			} else if len(res.Sessions) > 0 {
				s.logf("server: node %s dialled this server; %s let go of its sessions %s", n.ID, holder, strings.Join(res.Sessions, ", "))
			}
		}
		if err := s.adopt(ctx, sess); err != nil {
			s.logf("server: session %s cannot be taken up here yet: %v; trying again every %v", sess.ID, err, recoverLaterEvery)
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.recoverLater(sess) }()
		}
	}
}

// handleRelease lets go of a node whose agent dialled another server of
// the cluster, at that server's request (cluster.ReleasePath): the link
// here is stale and closes, and the node's running sessions are released
// (relay.Relay.Release) for the asking server to take up.
func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request) {
	if !cluster.FromPeer(r) {
		s.writeError(w, r, errorf(http.StatusForbidden, api.CodeAccessDenied, "only the servers sharing this server's database may ask it to let go of a node"))
		return
	}
	var req cluster.ReleaseRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || !ids.ValidNode(req.Node) {
		s.writeError(w, r, errorf(http.StatusBadRequest, api.CodeValidationError, "a release names a node id"))
		return
	}
	if s.cfg.Recordings == nil {
		s.writeError(w, r, errorf(http.StatusConflict, api.CodeValidationError, "this server keeps recordings on its own disk (no recordings: in its configuration): its sessions cannot move to another server"))
		return
	}
	s.agentsMu.Lock()
	ac := s.agents[req.Node]
	s.agentsMu.Unlock()
	if ac != nil {
		ac.Mux.Close()
	}
	out := cluster.ReleaseResponse{Sessions: []string{}}
	for _, rl := range s.relays.OnNode(req.Node) {
		if rl.Session().Settings.Desktop != nil {
			continue // its engine ends with the node's link here
		}
		ok, err := rl.Release(r.Context())
		if err != nil {
			s.logf("server: %v", err)
		}
		if ok {
			s.unplace("session/" + rl.ID())
			// The other server writes the recording now: a copy here
			// could part from it, and reads fetch it afresh.
			if err := os.Remove(s.journalPath(rl.Account(), rl.ID())); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.logf("server: session %s: %v", rl.ID(), err)
			}
			out.Sessions = append(out.Sessions, rl.ID())
		}
	}
	if len(out.Sessions) > 0 {
		s.logf("server: node %s dialled %s; let go of its sessions %s", req.Node, r.Header.Get(cluster.HopHeader), strings.Join(out.Sessions, ", "))
	}
	writeJSON(w, http.StatusOK, out)
}

// adopt recovers one running session from its recording, here.
func (s *Server) adopt(ctx context.Context, sess store.Session) error {
	jpath := s.journalPath(sess.Account, sess.ID)
	from := "this server's disk"
	switch _, err := os.Stat(jpath); {
	case s.cfg.Recordings != nil:
		// Always from the bucket, which has what the node was told is
		// safe: a copy here is one made to read the session while
		// another server relayed it, and may lack its end, and a
		// journal resumed short of what was acknowledged has a gap.
		from = "object storage"
		if _, err := s.cfg.Recordings.Fetch(ctx, sess.Account, sess.ID, jpath); err != nil {
			return fmt.Errorf("its recording is kept in object storage, which did not give it: %w", err)
		}
	case errors.Is(err, os.ErrNotExist):
		return errors.New("its recording is on the disk of the server that relayed it, and no object storage holds recordings")
	}
	key, err := s.journalKey(ctx, sess.Account, sess.ID)
	if err != nil {
		return err
	}
	j, err := recording.OpenJournal(jpath, key)
	if err != nil {
		return err
	}
	prev := s.place(ctx, "session/"+sess.ID)
	s.agentsMu.Lock() // see setUpAgent
	if s.relays.Get(sess.ID) != nil {
		// Taken up meanwhile (its node dialled as the orphans were
		// looked for): once is all.
		s.agentsMu.Unlock()
		j.Close()
		return nil
	}
	rl, exited := s.relays.Recover(sess, jpath, j, key)
	s.agentsMu.Unlock()
	s.logf("server: took up session %s (held by %q) at record %d from %s", sess.ID, prev, j.LastSeq(), from)
	switch {
	case exited:
		rl.Finish()
	case sess.Settings.Desktop != nil:
		// Its engine ended with the server that ran it; its recording
		// up to then is kept and delivered.
		rl.Fail("ServerLost", "the server that ran the desktop connection is gone")
	}
	return nil
}

// linkedElsewhere returns whether a node's agent is connected to another
// live server, from one read of the placements: listings show those
// nodes online too. Without the answer (a database error), none is.
func (s *Server) linkedElsewhere(ctx context.Context) func(nodeID string) bool {
	none := func(string) bool { return false }
	if s.cluster == nil {
		return none
	}
	peers, err := s.cluster.Peers(ctx)
	if err != nil || len(peers) < 2 {
		return none // alone: what is connected is connected here
	}
	placed, err := s.store.PlacementsWith(ctx, "node/")
	if err != nil {
		s.logf("server: nodes connected to other servers: %v", err)
		return none
	}
	return func(nodeID string) bool {
		holder := placed["node/"+nodeID]
		_, live := peers[holder]
		return holder != s.instance && live
	}
}

// alone reports whether no other server sharing the database is alive:
// none holds its presence lease, or none of those that do answers as
// itself (a server killed a moment ago keeps its lease until it expires).
func (s *Server) alone(ctx context.Context) bool {
	if s.cluster == nil {
		return true
	}
	peers, err := s.cluster.Peers(ctx)
	if err != nil {
		return true // and the recovery's own reads say what is wrong
	}
	for id, addr := range peers {
		if id != s.instance && s.cluster.Reachable(ctx, id, addr) {
			return false
		}
	}
	return true
}

// orphansEvery is how often the holder of the "orphans" lease looks for
// sessions whose server is gone and whose node has not dialled another.
const orphansEvery = 30 * time.Second

// takeOrphans takes up, every orphansEvery until ctx ends, the running
// sessions held by a server that is gone whose node is connected to no
// live server: here they wait for the node for the grace period, and end
// (failed, recording delivered) if it never comes, instead of staying
// active for ever. A node that dials another server later is handed over
// from here as from any live server. Only with object storage, where
// any server finds their recordings.
func (s *Server) takeOrphans(ctx context.Context) {
	t := time.NewTicker(orphansEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.takeOrphansOnce(ctx); err != nil && ctx.Err() == nil {
			s.logf("server: sessions of servers that are gone: %v", err)
		}
	}
}

func (s *Server) takeOrphansOnce(ctx context.Context) error {
	if s.cluster == nil {
		return nil
	}
	peers, err := s.cluster.Peers(ctx)
	if err != nil {
		return err
	}
	if err := s.takeOrphanCommands(ctx, peers); err != nil {
		return err
	}
	if s.cfg.Recordings == nil {
		// Without object storage a session's recording is on its
		// server's disk alone: it waits for that server's restart.
		return nil
	}
	sessions, err := s.store.PlacementsWith(ctx, "session/")
	if err != nil {
		return err
	}
	var nodes map[string]string // read once, if any session is orphaned
	for key, holder := range sessions {
		if _, live := peers[holder]; live || holder == s.instance {
			continue
		}
		sess, err := s.store.GetSession(ctx, strings.TrimPrefix(key, "session/"))
		if err != nil || !sess.Active() || s.relays.Get(sess.ID) != nil {
			continue
		}
		if _, later := s.recoveringLater.Load(sess.ID); later {
			continue
		}
		if nodes == nil {
			if nodes, err = s.store.PlacementsWith(ctx, "node/"); err != nil {
				return err
			}
		}
		if _, live := peers[nodes["node/"+sess.Target]]; live {
			continue // its node is on a live server, which takes it up
		}
		s.logf("server: session %s: its server %s is gone and its node is not connected; waiting for the node here", sess.ID, holder)
		if err := s.adopt(ctx, sess); err != nil {
			s.logf("server: session %s cannot be taken up here yet: %v; trying again every %v", sess.ID, err, recoverLaterEvery)
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.recoverLater(sess) }()
		}
	}
	return nil
}
