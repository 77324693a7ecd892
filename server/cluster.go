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
	"github.com/postern/postern/lease"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/relay"
	"github.com/postern/postern/sigv4"
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
		if s.cluster == nil {
			next.ServeHTTP(w, r)
			return
		}
		if cluster.FromPeer(r) {
			connAuthenticated(r) // a peer's connection is no stranger's
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
		if r.Header.Get("X-Amz-Target") == "" && !strings.HasPrefix(r.URL.Path, PathSSMDataChannel+"/") {
			// Only a signed-in caller's request costs a peer anything,
			// and its connection, which may carry a terminal for
			// hours, stops counting as a stranger's (connlimit). (An
			// AWS API call is checked by the peer: its signature
			// covers what only the peer verifies; so is a data
			// channel's token, in its first frame.)
			if _, err := s.authenticate(r); err != nil {
				next.ServeHTTP(w, r)
				return
			}
			connAuthenticated(r)
		}
		s.cluster.Forward(w, r, holder, addr)
	})
}

// sessionRoutes are the routes, under a session, that its relay serves.
var sessionRoutes = map[string]bool{"stream": true, "forward": true, "desktop": true, "terminate": true}

// maxStartBody bounds what is read of a request's body to find what it
// is about (peekBody); a larger body is served here (and refused by the
// handler).
const maxStartBody = 64 << 10

// peekBody reads up to maxStartBody of r's body and puts it back for the
// handler, or for the peer it is forwarded to.
func peekBody(r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxStartBody+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	return body, err == nil && len(body) <= maxStartBody
}

// holderKey names what a request is about when only one server can serve
// it: a running session's relay ("session/ID"), for a new session its
// node's agent link ("node/ID"), for a command's cancellation the server
// carrying it out ("command/ACCOUNT/ID"); "" for anything any server
// serves. A request without credentials is served here (and refused):
// only a signed-in caller's requests cost a peer anything.
func (s *Server) holderKey(r *http.Request) string {
	if id, ok := strings.CutPrefix(r.URL.Path, PathSSMDataChannel+"/"); ok && id != "" {
		// The plugin's data channel: its credentials come in its
		// first frame, which only the session's server reads. Until
		// then its connection counts here as a stranger's, which
		// bounds what strangers can make peers hold.
		return "session/" + id
	}
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
	if r.Method == http.MethodPost && r.URL.Path == "/" && r.Header.Get("X-Amz-Target") == "AmazonSSM.TerminateSession" {
		var in struct{ SessionId string }
		if body, ok := peekBody(r); ok && json.Unmarshal(body, &in) == nil && in.SessionId != "" {
			return "session/" + in.SessionId
		}
		return ""
	}
	if r.Method == http.MethodPost && r.URL.Path == "/" && r.Header.Get("X-Amz-Target") == "AmazonSSM.StartSession" {
		// A new session through AWS's API, on its node's server,
		// whose StreamUrl the plugin then dials. Only a validly
		// signed request is forwarded (and the peer checks it again).
		var in struct{ Target string }
		body, ok := peekBody(r)
		if !ok || json.Unmarshal(body, &in) != nil || in.Target == "" {
			return ""
		}
		v, err := sigv4.Verify(r, body, s.now(), awsServices["AmazonSSM"], s.awsLookup(r))
		if err != nil {
			return ""
		}
		n, err := s.resolveNode(r.Context(), v.Principal.Account, in.Target)
		if err != nil {
			return ""
		}
		return "node/" + n.ID
	}
	if r.Method != http.MethodPost || r.URL.Path != api.PathSessions {
		return ""
	}
	// A new session: on its node's server. The target may be a name,
	// which only the caller's account resolves.
	body, ok := peekBody(r)
	if !ok {
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

// holderOf returns who holds key, its URL, and whether it is alive: for
// this server, Alive; for nobody, Gone; for a server whose presence lease
// holds or whose lease expired (cut off from the database, perhaps),
// what a probe of its (last known) address finds. Only Gone lets another
// server take what it holds.
func (s *Server) holderOf(ctx context.Context, key string) (holder, addr string, l cluster.Liveness, err error) {
	holder, err = s.store.Placement(ctx, key)
	switch {
	case err != nil:
		return "", "", cluster.Unknown, err
	case holder == "":
		return "", "", cluster.Gone, nil
	case holder == s.instance:
		return holder, "", cluster.Alive, nil
	case s.cluster == nil:
		return holder, "", cluster.Unknown, nil
	}
	addr, _, err = s.cluster.Alive(ctx, holder)
	if err != nil {
		return holder, "", cluster.Unknown, err
	}
	if addr == "" {
		addr = s.cluster.LastAddr(holder) // its lease has expired
		if addr == "" {
			// Never seen alive by this server: it announced itself
			// and went before this one looked.
			return holder, "", cluster.Gone, nil
		}
	}
	return holder, addr, s.cluster.Probe(ctx, holder, addr), nil
}

// livePeerHolding returns the server other than this one that holds key,
// and its URL, if it answers as itself.
func (s *Server) livePeerHolding(ctx context.Context, key string) (holder, addr string) {
	holder, addr, l, err := s.holderOf(ctx, key)
	if err != nil || holder == s.instance || l != cluster.Alive {
		return "", ""
	}
	return holder, addr
}

// adoptSessions takes up, before the agent is published, the node's
// running sessions that no relay here carries: those of a server that is
// gone (or stopped), and those of a live server the node left (a network
// blip, a balancer that sent it elsewhere), which is first asked to let
// go of them (Release); only those it let go of are taken. Each is
// recovered from its recording in object storage and resumed with the
// node's other sessions; the agent sends again what no server
// acknowledged, and a session the agent no longer has fails as it would
// after a restart. One whose server may be alive but does not answer is
// left to it; one that cannot be recovered yet (object storage down) is
// tried again.
func (s *Server) adoptSessions(ctx context.Context, n store.Node) {
	active := true
	ss, err := s.store.ListSessions(ctx, store.SessionFilter{Account: n.Account, Target: n.ID, Active: &active})
	if err != nil {
		s.logf("server: node %s: its running sessions: %v", n.ID, err)
		return
	}
	type holderState struct {
		addr     string
		l        cluster.Liveness
		asked    bool
		released map[string]bool // what it let go of, once asked
	}
	holders := map[string]*holderState{} // each probed and asked once
	for _, sess := range ss {
		if s.relays.Get(sess.ID) != nil {
			continue
		}
		if _, later := s.recoveringLater.Load(sess.ID); later {
			continue // waiting for object storage already
		}
		key := "session/" + sess.ID
		holder, err := s.store.Placement(ctx, key)
		if err != nil {
			s.logf("server: session %s: %v", sess.ID, err)
			continue
		}
		if holder == s.instance {
			continue // relayed, started or taken up here in a moment
		}
		from := holder
		if holder != "" {
			if s.cfg.Recordings == nil {
				// Its recording is on that server's disk alone: it
				// waits for that server.
				s.logf("server: session %s: its node dialled this server while %s holds it, and without object storage for recordings it cannot move", sess.ID, holder)
				continue
			}
			h := holders[holder]
			if h == nil {
				h = &holderState{}
				_, h.addr, h.l, _ = s.holderOf(ctx, key)
				holders[holder] = h
			}
			switch h.l {
			case cluster.Unknown:
				s.logf("server: session %s: its node dialled this server, and %s, which holds the session, does not answer but may be alive: left to it", sess.ID, holder)
				continue
			case cluster.Alive:
				if !h.asked {
					h.asked = true
					res, err := s.cluster.Release(ctx, holder, h.addr, n.ID)
					if err != nil {
						s.logf("server: node %s dialled this server; %v", n.ID, err)
					} else if len(res.Sessions) > 0 {
						s.logf("server: node %s dialled this server; %s let go of its sessions %s", n.ID, holder, strings.Join(res.Sessions, ", "))
					}
					h.released = map[string]bool{}
					for _, id := range res.Sessions {
						h.released[id] = true
					}
				}
				if !h.released[sess.ID] {
					s.logf("server: session %s: %s did not let go of it; left to it", sess.ID, holder)
					continue
				}
				from = "" // unplaced as it was let go of
			}
		}
		if err := s.adopt(ctx, sess, from); err != nil {
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
			// The bucket lacks some of it: the journal stays here, on
			// the backlog, and the session is not the other's to take.
			s.logf("server: %v", err)
			continue
		}
		if ok {
			s.unplace("session/" + rl.ID())
			out.Sessions = append(out.Sessions, rl.ID())
		}
	}
	if len(out.Sessions) > 0 {
		s.logf("server: node %s dialled %s; let go of its sessions %s", req.Node, r.Header.Get(cluster.HopHeader), strings.Join(out.Sessions, ", "))
	}
	writeJSON(w, http.StatusOK, out)
}

// adopt takes one running session up here, from from (its holder, ""
// for nobody): it takes the placement only if from still has it (of
// servers taking it up at once, one does), then recovers the session from
// its recording. A session of a Run Command command is held as its
// client, as on the server that started it.
func (s *Server) adopt(ctx context.Context, sess store.Session, from string) error {
	key := "session/" + sess.ID
	if from != s.instance {
		ok, err := s.store.PlaceIf(ctx, key, s.instance, from)
		if err != nil {
			return err
		}
		if !ok {
			s.logf("server: session %s: another server took it up first", sess.ID)
			return nil
		}
	}
	jpath := s.journalPath(sess.Account, sess.ID)
	from = "this server's disk"
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
	key2, err := s.journalKey(ctx, sess.Account, sess.ID)
	if err != nil {
		return err
	}
	j, err := recording.OpenJournal(jpath, key2)
	if err != nil {
		return err
	}
	s.agentsMu.Lock() // see setUpAgent
	if s.relays.Get(sess.ID) != nil {
		s.agentsMu.Unlock()
		j.Close()
		return nil // taken up meanwhile: once is all
	}
	rl, exited := s.relays.Recover(sess, jpath, j, key2)
	s.agentsMu.Unlock()
	s.logf("server: took up session %s at record %d from %s", sess.ID, j.LastSeq(), from)
	switch {
	case exited:
		rl.Finish()
	case sess.Settings.Desktop != nil:
		// Its engine ended with the server that ran it; its recording
		// up to then is kept and delivered.
		rl.Fail("ServerLost", "the server that ran the desktop connection is gone")
	case sess.Settings.Command != "":
		s.holdCommandSession(rl)
	}
	return nil
}

// holdCommandSession holds a Run Command invocation's session as its
// client until it ends: nobody else attaches to it, and a session
// without a client ends after the grace period.
func (s *Server) holdCommandSession(rl *relay.Relay) {
	release := rl.Hold()
	s.wg.Go(func() {
		defer release()
		rl.Wait(s.ctx)
	})
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
// none holds its presence lease, or every one that does is proved gone
// (a server killed a moment ago keeps its lease until it expires). When
// in doubt (a database error, a server that does not answer), it is not.
func (s *Server) alone(ctx context.Context) bool {
	if s.cluster == nil {
		return true
	}
	peers, err := s.cluster.Peers(ctx)
	if err != nil {
		return false // not known: nothing of others' is taken
	}
	for id, addr := range peers {
		if id != s.instance && s.cluster.Probe(ctx, id, addr) != cluster.Gone {
			return false
		}
	}
	return true
}

// takeOrphans takes up, every lease TTL (how long a server's presence
// outlives it) until ctx ends, the running
// sessions held by a server that is gone whose node is connected to no
// live server: here they wait for the node for the grace period, and end
// (failed, recording delivered) if it never comes, instead of staying
// active for ever. A node that dials another server later is handed over
// from here as from any live server. Only with object storage, where
// any server finds their recordings.
func (s *Server) takeOrphans(ctx context.Context) {
	every := s.cfg.LeaseTTL
	if every <= 0 {
		every = lease.DefaultTTL
	}
	t := time.NewTicker(every)
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
	gone := map[string]bool{} // servers probed: whether each is proved gone
	isGone := func(server string) bool {
		g, ok := gone[server]
		if !ok {
			// Its lease expired, but it may only be cut off from the
			// database, relaying its sessions all the same.
			g = s.cluster.Probe(ctx, server, s.cluster.LastAddr(server)) == cluster.Gone || s.cluster.LastAddr(server) == ""
			gone[server] = g
		}
		return g
	}
	for key, holder := range sessions {
		if _, live := peers[holder]; live || holder == s.instance || !isGone(holder) {
			continue
		}
		sess, err := s.store.GetSession(ctx, strings.TrimPrefix(key, "session/"))
		if err != nil || !sess.Active() || s.relays.Get(sess.ID) != nil {
			continue
		}
		if _, later := s.recoveringLater.Load(sess.ID); later {
			continue
		}
		// Read now, not once for all: its node may have dialled a
		// server since, which takes it up (and if both try, the
		// placement goes to one).
		node, err := s.store.Placement(ctx, "node/"+sess.Target)
		if err != nil {
			return err
		}
		if _, live := peers[node]; live {
			continue
		}
		s.logf("server: session %s: its server %s is gone and its node is not connected; waiting for the node here", sess.ID, holder)
		if err := s.adopt(ctx, sess, holder); err != nil {
			s.logf("server: session %s cannot be taken up here yet: %v; trying again every %v", sess.ID, err, recoverLaterEvery)
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.recoverLater(sess) }()
		}
	}
	return nil
}

// heldAlive reports whether server, another one, answers as itself,
// probing it once per map.
func (s *Server) heldAlive(ctx context.Context, server string, checked map[string]bool) bool {
	alive, ok := checked[server]
	if !ok {
		addr, _, err := s.cluster.Alive(ctx, server)
		if err == nil && addr == "" {
			addr = s.cluster.LastAddr(server)
		}
		alive = err == nil && s.cluster.Probe(ctx, server, addr) == cluster.Alive
		checked[server] = alive
	}
	return alive
}

// sessionMoved reports whether another server holds session id now
// (relay.Deps.Moved).
func (s *Server) sessionMoved(id string) bool {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	holder, err := s.store.Placement(ctx, "session/"+id)
	return err == nil && holder != "" && holder != s.instance
}

// sessionReleased removes this server's copy of a session's journal once
// its relay let go of it (relay.Deps.Released): the other server writes
// the recording now, a copy here could part from it, and reads fetch it
// afresh.
func (s *Server) sessionReleased(account, id string) {
	if err := os.Remove(s.journalPath(account, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logf("server: session %s: %v", id, err)
	}
}
