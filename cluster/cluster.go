// Package cluster lets several servers that share a database find each
// other, and hands a request to the server that holds what it is about.
//
// Presence: each server holds the lease "server/INSTANCE" (package lease)
// with the URL its peers reach it at as the holder, renewed every TTL/8
// on the database's clock; a server whose lease has expired is gone, and
// what it held is free to take. A clean stop releases the lease at once.
//
// Holding: a node's agent link ("node/ID") and a running session's relay
// ("session/ID") live on one server at a time, recorded as placements in
// the store. A request for one that a live peer holds is proxied there
// (Forward), over TLS verified both ways by the cluster's CA: the peer
// presents its server certificate, this server a peer certificate
// (pki.PeerCertificate), and the user's credentials travel unchanged, so
// the peer authenticates, authorizes and audits the request itself, once.
package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/postern/postern/lease"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/pki"
)

// Store is what a cluster needs of the metadata store (store.Leases and
// store.Placements' reading half).
type Store interface {
	lease.Store
	LeaseHolders(ctx context.Context, prefix string) (map[string]string, error)
	Placement(ctx context.Context, key string) (string, error)
}

// presencePrefix names the servers' presence leases.
const presencePrefix = "server/"

// Headers of a proxied request. A peer's own requests are trusted with
// them only when they come with a peer certificate (FromPeer).
const (
	// HopHeader names the server that forwarded a request: the peer
	// serves it itself, so a request is never forwarded twice.
	HopHeader = "X-Postern-Forwarded-By"
	// ClientAddrHeader is the caller's address as the first server saw
	// it, for the peer's audit trail and per-client limits.
	ClientAddrHeader = "X-Postern-Client-Addr"
)

// peersFresh is how long the list of live peers is reused before it is
// read again: a peer that has just died is proxied to for at most this
// long plus the lease's TTL, and each attempt fails fast (connection
// refused) into Unreachable.
const peersFresh = time.Second

// Deps are what a Cluster needs.
type Deps struct {
	Store Store
	// ID is this server's instance name (the holder of its leases).
	ID string
	// Peer is the certificate this server presents to its peers;
	// Roots verify theirs (the cluster's CA, and the system's roots for
	// a server certificate from a public CA).
	Peer  tls.Certificate
	Roots *x509.CertPool
	// TTL is the presence lease's lifetime (default lease.DefaultTTL).
	TTL  time.Duration
	Logf logger.Logf
	// Unreachable answers a request whose holder could not be reached.
	Unreachable func(w http.ResponseWriter, r *http.Request, holder string, err error)
}

// Cluster is this server's view of its peers.
type Cluster struct {
	d     Deps
	proxy *httputil.ReverseProxy

	mu      sync.Mutex        // guards peers, fetched and known
	peers   map[string]string // live peers' instance → URL, this server's included
	fetched time.Time
	known   map[string]string // every server seen alive → its last URL
}

// New makes a cluster view.
func New(d Deps) *Cluster {
	if d.Logf == nil {
		d.Logf = logger.Discard
	}
	if d.TTL <= 0 {
		d.TTL = lease.DefaultTTL
	}
	c := &Cluster{d: d}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			RootCAs:      d.Roots,
			Certificates: []tls.Certificate{d.Peer},
			MinVersion:   tls.VersionTLS12,
			// WebSockets are upgraded over HTTP/1.1.
			NextProtos: []string{"http/1.1"},
		},
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     time.Minute,
	}
	c.proxy = &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(targetKey{}).(*url.URL)
			pr.SetURL(target)
			// The Host the caller asked for: the console's cookie
			// checks compare it with the Origin.
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set(HopHeader, d.ID)
			pr.Out.Header.Set(ClientAddrHeader, pr.In.RemoteAddr)
		},
		// Streams (terminal output, desktops) are flushed as they come.
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			holder, _ := r.Context().Value(holderKey{}).(string)
			c.forget()
			d.Unreachable(w, r, holder, err)
		},
		ErrorLog: nil,
	}
	return c
}

// ID is this server's instance name.
func (c *Cluster) ID() string { return c.d.ID }

// Announce holds this server's presence lease, naming addr (the URL
// peers reach it at), until ctx ends, then releases it.
func (c *Cluster) Announce(ctx context.Context, addr string) {
	lease.Run(ctx, c.d.Store, presencePrefix+c.d.ID, addr, c.d.TTL, logger.Discard, func(ctx context.Context) {
		<-ctx.Done()
	})
}

// InstancePath is where a server says which instance it is, to its
// peers (Probe); ReleasePath is where a peer asks it to let go of a
// node's sessions (Release).
const (
	InstancePath = "/v1/cluster/instance"
	ReleasePath  = "/v1/cluster/release"
)

// ReleaseRequest asks a server to let go of a node whose agent dialled
// another: its link to the node and the node's running sessions, which
// the asking server takes up.
type ReleaseRequest struct {
	Node string `json:"node"`
}

// ReleaseResponse names the sessions let go of.
type ReleaseResponse struct {
	Sessions []string `json:"sessions"`
}

// Release asks server, at addr, to let go of node (ReleaseRequest), and
// waits until it has: its sessions' recordings are then whole in object
// storage up to what it acknowledged.
func (c *Cluster) Release(ctx context.Context, server, addr, node string) (ReleaseResponse, error) {
	var out ReleaseResponse
	err := c.Call(ctx, server, addr, ReleasePath, ReleaseRequest{Node: node}, &out)
	return out, err
}

// Call posts in, as JSON, to path on server at addr as this server (its
// peer certificate), and decodes the answer into out. An answer other
// than 200 OK is an error that quotes it.
func (c *Cluster) Call(ctx context.Context, server, addr, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(addr, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.proxy.Transport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("cluster: %s on %s: %w", path, server, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("cluster: %s on %s: %s: %s", path, server, res.Status, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("cluster: %s on %s: its answer: %w", path, server, err)
	}
	return nil
}

// Liveness is what a probe of a server found (Probe).
type Liveness int

const (
	// Alive: it answered as itself.
	Alive Liveness = iota
	// Gone: nothing listens at its address (connection refused), or
	// another instance answers there (a replacement).
	Gone
	// Unknown: no answer in time, a TLS failure, or another error. The
	// server may be alive; nothing it holds is to be taken.
	Unknown
)

func (l Liveness) String() string {
	return [...]string{"alive", "gone", "unknown"}[l]
}

// Probe asks server, at addr, who it is. A server killed outright keeps
// its presence lease until the lease expires; its sessions' nodes dial
// another server within seconds, which asks here rather than wait. Only
// an answer that proves it gone counts as Gone: a server that does not
// answer in time, or fails TLS, may be alive and holding what it holds.
func (c *Cluster) Probe(ctx context.Context, server, addr string) Liveness {
	if addr == "" {
		return Unknown
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(addr, "/")+InstancePath, nil)
	if err != nil {
		return Unknown
	}
	res, err := c.proxy.Transport.RoundTrip(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return Gone
		}
		c.d.Logf("cluster: server %s at %s: %v", server, addr, err)
		return Unknown
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	switch {
	case res.StatusCode != http.StatusOK:
		return Unknown
	case strings.TrimSpace(string(b)) == server:
		return Alive
	default:
		return Gone // another instance answers at its address
	}
}

// LastAddr is the URL server announced when this server last saw its
// presence lease ("" if never): to probe a server whose lease has
// expired, which may be alive but cut off from the database.
func (c *Cluster) LastAddr(server string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.known[server]
}

// Peers returns the live servers, this one included once it has
// announced itself: instance → URL.
func (c *Cluster) Peers(ctx context.Context) (map[string]string, error) {
	c.mu.Lock()
	if c.peers != nil && time.Since(c.fetched) < peersFresh {
		defer c.mu.Unlock()
		return c.peers, nil
	}
	c.mu.Unlock()
	held, err := c.d.Store.LeaseHolders(ctx, presencePrefix)
	if err != nil {
		return nil, fmt.Errorf("cluster: live servers: %w", err)
	}
	peers := make(map[string]string, len(held))
	for name, addr := range held {
		peers[strings.TrimPrefix(name, presencePrefix)] = addr
	}
	c.mu.Lock()
	c.peers, c.fetched = peers, time.Now()
	if c.known == nil {
		c.known = map[string]string{}
	}
	for id, addr := range peers {
		c.known[id] = addr
	}
	c.mu.Unlock()
	return peers, nil
}

// forget drops the cached peers (one did not answer).
func (c *Cluster) forget() {
	c.mu.Lock()
	c.peers = nil
	c.mu.Unlock()
}

// Alive reports whether server is a live peer, and its URL.
func (c *Cluster) Alive(ctx context.Context, server string) (string, bool, error) {
	peers, err := c.Peers(ctx)
	if err != nil {
		return "", false, err
	}
	addr, ok := peers[server]
	return addr, ok, nil
}

// Holder returns the live peer other than this server that holds key,
// and its URL; "" when this server, nobody, or a dead server holds it.
func (c *Cluster) Holder(ctx context.Context, key string) (server, addr string, err error) {
	server, err = c.d.Store.Placement(ctx, key)
	if err != nil || server == "" || server == c.d.ID {
		return "", "", err
	}
	addr, ok, err := c.Alive(ctx, server)
	if err != nil || !ok {
		return "", "", err
	}
	return server, addr, nil
}

type (
	targetKey struct{}
	holderKey struct{}
)

// Forward proxies r to the peer holder at addr, WebSocket upgrades
// included, and copies its answer back.
func (c *Cluster) Forward(w http.ResponseWriter, r *http.Request, holder, addr string) {
	u, err := url.Parse(addr)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		c.d.Unreachable(w, r, holder, fmt.Errorf("cluster: server %s announced the address %q, not an https:// URL", holder, addr))
		return
	}
	ctx := context.WithValue(context.WithValue(r.Context(), targetKey{}, u), holderKey{}, holder)
	c.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// FromPeer reports whether r comes from a server of the cluster (its TLS
// client certificate is a verified peer certificate), and if so takes
// the caller's address it forwarded as r's.
func FromPeer(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || !pki.IsPeer(r.TLS.VerifiedChains[0][0]) {
		return false
	}
	if a := r.Header.Get(ClientAddrHeader); a != "" {
		r.RemoteAddr = a
	}
	return true
}
