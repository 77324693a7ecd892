// Package server is Postern's control plane: the HTTPS API, the endpoint
// agents dial out to, the session broker and relay, and the recorder that
// journals every session before anything else sees it.
//
// A session's bytes flow agent -> relay -> journal (group-committed to disk)
// -> acknowledgement back to the agent, and in parallel relay -> attached
// clients. Because the agent keeps every record until it is acknowledged,
// neither a network cut nor a server crash loses output: on reconnect the
// relay resumes the agent's stream after the journal's last durable record.
package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postern/postern/audit"
	"github.com/postern/postern/cluster"
	"github.com/postern/postern/connlimit"
	"github.com/postern/postern/delivery"
	"github.com/postern/postern/desktop"
	"github.com/postern/postern/diskspace"
	"github.com/postern/postern/events"
	"github.com/postern/postern/firehose"
	"github.com/postern/postern/lease"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/pki"
	"github.com/postern/postern/proxyheader"
	"github.com/postern/postern/relay"
	"github.com/postern/postern/runcommand"
	"github.com/postern/postern/searchindex"
	"github.com/postern/postern/signin"
	"github.com/postern/postern/snstopic"
	"github.com/postern/postern/sso"
	"github.com/postern/postern/store"
	"github.com/postern/postern/webhook"
	"github.com/postern/postern/wire"
)

// Config configures a Server.
type Config struct {
	// DataDir holds the CA, the server certificate and session recordings.
	DataDir string
	// Store is the metadata store.
	Store store.Store
	// Hosts are the names and addresses the server certificate covers, in
	// addition to localhost and 127.0.0.1.
	Hosts []string
	// CACertFile and CAKeyFile, when set, are the CA that signs agents'
	// client certificates (and the server's, unless CertFile is set);
	// otherwise a CA is created in DataDir on first start.
	CACertFile, CAKeyFile string
	// CertFile and KeyFile, when set, are the server's TLS certificate
	// (e.g. from a public CA); otherwise one is issued by the CA.
	CertFile, KeyFile string
	// Logf logs; nil discards.
	Logf logger.Logf
	// DesktopProgram is the desktop engine (postern-desktop); empty: beside
	// the server's executable, or on PATH.
	DesktopProgram string
	// AgentDownloads is a directory of postern-agent release builds that
	// the one-line node install downloads (package nodeinstall); empty:
	// none are offered.
	AgentDownloads string
	// GracePeriod is how long a session waits for its client or agent to
	// come back after a dropped connection (default 2 minutes).
	GracePeriod time.Duration
	// SignInLifetime and SSOSignInLifetime are how long a sign-in with a
	// password, resp. single sign-on, lasts however often it is refreshed
	// (defaults 30 days and 12 hours).
	SignInLifetime, SSOSignInLifetime time.Duration
	// TokenTTL is the lifetime of session tokens issued at sign-in
	// (default 1h); clients renew them with their refresh token.
	TokenTTL time.Duration
	// SyncInterval is the group-commit interval of recordings (default
	// 5ms): records arriving within it share one fsync.
	SyncInterval time.Duration
	// MaxPendingConns caps the connections one source address (an IPv6
	// address's /64) may hold open before they authenticate (default
	// 256; negative for no cap). See package connlimit.
	MaxPendingConns int
	// ProxyProtocolFrom are the load balancers whose connections start
	// with a PROXY protocol header: their clients' addresses are taken
	// from it (package proxyheader). Empty: none.
	ProxyProtocolFrom []netip.Prefix
	// OutputMemory is how much of each session's latest output the relay
	// keeps in memory for its clients (default 8 MiB); a client further
	// behind reads the recording instead.
	OutputMemory int
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// S3 delivers session logs to S3-compatible storage when preferences
	// name a bucket; nil: sessions whose preferences name one are refused.
	S3 S3Destination
	// CloudWatch delivers transcripts to CloudWatch Logs when preferences
	// name a log group; nil: sessions whose preferences name one are
	// refused.
	CloudWatch CloudWatchDestination
	// LogStore is Postern's own log groups: where preferences that name a
	// log group deliver when CloudWatch is nil. Nil too: such sessions are
	// refused.
	LogStore LogStore
	// Metrics is where the server registers its Prometheus metrics; nil:
	// not exported. MetricsHandler serves them.
	Metrics prometheus.Registerer
	// MetricFilterMaxSeries bounds the combinations of dimension values
	// each metric filter counts separately (default
	// DefaultMetricFilterMaxSeries); more count under "_other".
	MetricFilterMaxSeries int
	// Keys is the built-in key service; nil: no key API.
	Keys KeyService
	// AuditKey keys the audit trail's chain (keys.Service.AuditKey); nil:
	// plain SHA-256, which tells edits but not forgeries.
	AuditKey []byte
	// S3ClientSideEncryption makes the server encrypt the artifacts it
	// uploads to S3 itself (package envelope), for stores without KMS;
	// `postern logs decrypt` reads them.
	S3ClientSideEncryption bool
	// AuditArchive names where the audit trail is copied (through S3 and
	// CloudWatch above).
	AuditArchive AuditArchive
	// SSO, when set, signs users in through an OpenID Connect provider
	// (package sso).
	SSO *sso.Provider
	// Recordings keeps session journals in object storage, their system
	// of record (package journalstore); nil: this server's disk is.
	Recordings RecordingStore
	// Advertise is the URL the other servers sharing the database reach
	// this one at (https://host:port); empty: where it listens, or for
	// every address the host's name (package cluster).
	Advertise string
	// LeaseTTL is how long a lease on shared background work lasts
	// without renewal (default lease.DefaultTTL): how long a dead
	// server's work waits for another.
	LeaseTTL time.Duration
	// ShipInterval and ShipStallTimeout pace shipping to Recordings
	// (relay.Deps; zero: relay's defaults).
	ShipInterval, ShipStallTimeout time.Duration
	// OutboxMaxBytes bounds the recordings waiting for delivery to log
	// destinations (default DefaultOutboxMaxBytes); at the bound, sessions
	// whose preferences name a destination are refused.
	OutboxMaxBytes int64
	// MinFreeDisk is the free space the data directory's filesystem must
	// keep (default 64 MiB; negative: none but the last byte): below it,
	// new sessions and changes are refused with DiskFull (diskfull.go).
	MinFreeDisk int64
	// DiskCheckInterval is how often the free space is looked at (default
	// 5s; four times as often while it is low).
	DiskCheckInterval time.Duration
}

// Server is a Postern control plane.
type Server struct {
	cfg   Config
	logf  logger.Logf
	store store.Store
	ca    *pki.CA
	cert  tls.Certificate
	now   func() time.Time

	// signer signs every request the server sends an agent (signing.go).
	signer *pki.Signer

	agentsMu sync.Mutex // guards agents
	agents   map[string]*agentConn

	// registerMu serializes node registrations' choice of a name.
	registerMu sync.Mutex
	// relays are the live sessions (package relay).
	relays *relay.Table
	// ssm are the data channels of sessions opened through AWS's
	// session-manager-plugin (ssmsessions.go).
	ssm ssmChannels
	// desktops are the live desktop connections (desktop.go).
	desktops desktops

	// late keeps one late hand-over per session at a time (late.go).
	late lateHandOvers

	deliver *delivery.Worker // the outbox of artifacts owed to destinations
	// firehose ships log groups on through subscription filters and
	// archives (package firehose); nil without the built-in log store.
	firehose *firehose.Worker
	// events tells what happens as EventBridge events (package events);
	// nil without the built-in log store.
	events *events.Bus
	// webhooks posts to delivery streams' HTTP endpoints and rules'
	// webhooks.
	webhooks webhook.Client
	// sns publishes to rules' SNS topics.
	sns snstopic.Publisher
	// runCommand runs commands on nodes (package runcommand).
	runCommand *runcommand.Service
	outbox     *outbox // how much the outbox holds, and its bound
	// searchIndex indexes delivery streams' events in OpenSearch.
	searchIndex searchindex.Client
	// logSignal wakes tails of the built-in log store.
	logSignal logSignal
	// metricFilters count the built-in log groups' matching events.
	metricFilters *metricFilters
	metrics       *metrics
	// journalKeys are the keys of sealed journals (sealing.go).
	journalKeys journalKeys

	// catchupRecords counts journal records read to serve clients that
	// the relay's memory no longer covers (package relay): resumes, late
	// watchers, slow readers; and clients of ended sessions. Each reads a
	// record once, so it grows with what they are sent, never with how
	// often they fall behind.
	catchupRecords struct{ owner, observer, ended atomic.Uint64 }
	// chain links the audit trail's records (audit.go).
	chain audit.Chain
	// auditMu serializes appends to the audit trail, so that records
	// kept for a full disk (auditBacklog) go in before newer ones.
	auditMu      sync.Mutex
	auditBacklog auditBacklog
	// recoveredEnded are the sessions recoverSessions found with their
	// exit in the journal; New ends them once it has built the server.
	recoveredEnded []*relay.Relay
	// disk watches the data directory's free space (diskfull.go).
	disk *diskspace.Monitor
	// policyCache holds accounts' parsed authorization policies.
	policyCache policyCache
	// places holds accounts' places in their organizations (places.go).
	places placeCache
	// uncheckedRequests counts requests whose handler tried to answer
	// without an authorization check (a bug; see authed).
	uncheckedRequests atomic.Int64
	// logins limits sign-in attempts.
	logins *signin.Guard
	// auditFlood counts refused unauthenticated requests past a rate per
	// source instead of recording each (audit.go).
	auditFlood *audit.Throttle
	// ssoHandoffs carry single sign-on results to the CLI and the web
	// console; nil without single sign-on.
	ssoHandoffs *sso.Handoffs[ssoUser]
	// awsQueries are the AWS API's started Logs Insights queries.
	awsQueries awsQueries

	// configSeen is the last configuration stamp read or written
	// (configwatch.go); configGen counts the drops of the caches.
	configSeen atomic.Int64
	configGen  atomic.Uint64
	// recoveringLater holds the ids of the sessions recoverLater waits
	// to take up (a sync.Map: its own lock).
	recoveringLater sync.Map
	// cluster is this server's view of the others sharing its database.
	cluster *cluster.Cluster
	// instance names this server's process among those sharing the
	// database (host name and a random part): the holder of its leases.
	instance string

	// ctx ends when the server shuts down; every relay goroutine
	// watches it.
	ctx    context.Context
	cancel context.CancelFunc
	// stopping is set when Close begins, before ctx ends: agents' control
	// loops are sent away first (see Close).
	stopping atomic.Bool
	wg       sync.WaitGroup // relay and agent goroutines
}

// New prepares a server: it loads or creates the CA and server certificate
// and recovers the sessions that were active when the server last stopped.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" || cfg.Store == nil {
		return nil, errors.New("server: DataDir and Store are required")
	}
	dummyHash()
	if cfg.Logf == nil {
		cfg.Logf = logger.Discard
	}
	if cfg.GracePeriod == 0 {
		cfg.GracePeriod = 2 * time.Minute
	}
	if cfg.SignInLifetime == 0 {
		cfg.SignInLifetime = defaultSignInLifetime
	}
	if cfg.SSOSignInLifetime == 0 {
		cfg.SSOSignInLifetime = defaultSSOSignInLifetime
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.MaxPendingConns == 0 {
		cfg.MaxPendingConns = 256
	}
	if cfg.OutputMemory <= 0 {
		cfg.OutputMemory = relay.DefaultOutputMemory
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = 5 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.MinFreeDisk == 0:
		cfg.MinFreeDisk = DefaultMinFreeDisk
	case cfg.MinFreeDisk < 0:
		cfg.MinFreeDisk = 0
	}
	if cfg.DiskCheckInterval <= 0 {
		cfg.DiskCheckInterval = defaultDiskCheckEvery
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data directory: %w", err)
	}
	ca, cert, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	signer, err := ca.SessionSigner(filepath.Join(cfg.DataDir, "tls"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	instance, err := instanceName(cfg.DataDir)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Server{
		cfg: cfg, logf: cfg.Logf, store: cfg.Store, ca: ca, cert: cert, signer: signer, now: cfg.Now,
		agents: map[string]*agentConn{}, logins: signin.New(), auditFlood: audit.NewThrottle(),
		ctx: ctx, cancel: cancel, chain: audit.NewChain(cfg.AuditKey),
		disk:     diskspace.New(cfg.DataDir, uint64(cfg.MinFreeDisk), cfg.Now),
		instance: instance,
	}
	s.relays = relay.NewTable(ctx, s.relayDeps())
	s.desktops.conns = map[string]*desktop.Conn{}
	if cfg.SSO != nil {
		s.ssoHandoffs = sso.NewHandoffs[ssoUser](s.now)
	}
	if err := s.cfg.Store.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default", CreatedAt: s.now()}); err != nil {
		cancel()
		return nil, fmt.Errorf("server: %w", err)
	}
	if s.cluster, err = s.newCluster(); err != nil {
		cancel()
		return nil, err
	}
	if err := s.recoverSessions(ctx); err != nil {
		cancel()
		return nil, err
	}
	s.outbox = newOutbox(s, cfg.OutboxMaxBytes)
	s.metricFilters = newMetricFilters(cfg.MetricFilterMaxSeries, s.logf)
	if cfg.LogStore != nil {
		if err := s.metricFilters.load(ctx, cfg.LogStore); err != nil {
			cancel()
			return nil, fmt.Errorf("server: metric filters: %w", err)
		}
	}
	s.metrics = newMetrics(s, cfg.Metrics)
	s.deliver = delivery.New(s.deliveryDeps())
	// Work on what the servers of a deployment share runs on one of them
	// at a time.
	s.leased("deliveries", s.deliver.Run)
	if cfg.LogStore != nil {
		// Servers sharing a database share the log store too
		// (PostgreSQL): its retention and its delivery streams run on
		// one of them. A Kick here reaches only this server's worker;
		// the one running finds new events within a second anyway.
		s.leased("log-retention", func(ctx context.Context) { s.expireLogs(ctx, logRetentionEvery) })
		s.firehose = firehose.New(s.firehoseDeps())
		s.events = &events.Bus{Store: cfg.LogStore, Now: s.now, Logf: s.logf, Region: eventsRegion, Put: s.firehose.Kick}
		s.leased("firehose", s.firehose.Run)
	}
	if cfg.Keys != nil {
		s.leased("keys", func(ctx context.Context) { s.runKeys(ctx, keysEvery) })
	}
	if cfg.Recordings != nil {
		// After recovery, which gave each running session its shipper:
		// what remains on the backlog is complete.
		s.wg.Add(1)
		go func() { defer s.wg.Done(); cfg.Recordings.RunBacklog(ctx, backlogEvery) }()
	}
	s.leased("audit-archive", s.archiveAudit)
	s.leased("orphans", s.takeOrphans)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.watchConfig(ctx) }()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.flushAuditFlood(ctx) }()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.watchDisk(ctx, cfg.DiskCheckInterval) }()
	// Sessions whose journals already hold their exit end now, with
	// everything above ready for it (deliveries, the outbox).
	for _, rl := range s.recoveredEnded {
		s.logf("server: session %s: its journal holds its exit; ending it", rl.ID())
		rl.Finish()
	}
	s.recoveredEnded = nil
	// Commands that were running take up their sessions, recovered
	// above, again.
	s.runCommand = s.newRunCommand()
	if err := s.runCommand.Start(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("server: run command: %w", err)
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); <-ctx.Done(); s.runCommand.Wait() }()
	return s, nil
}

// instanceName names a server among those sharing a database: its host,
// so that an operator reading the leases knows the machine, and a random
// ID kept in its data directory, so that a server restarted (even after
// SIGKILL) is the same holder and takes its leases up at once rather than
// after they expire, while two servers (two containers with the same
// paths, say) never share a name.
func instanceName(dataDir string) (string, error) {
	h, _ := os.Hostname()
	p := filepath.Join(dataDir, "instance-id")
	id, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		var b [8]byte
		rand.Read(b[:])
		id = []byte(hex.EncodeToString(b[:]))
		err = os.WriteFile(p, id, 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("server: instance id: %w", err)
	}
	return h + "/" + strings.TrimSpace(string(id)), nil
}

// leased runs work while this server holds the lease name (package
// lease): on one server at a time of those sharing the database.
func (s *Server) leased(name string, work func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		lease.Run(s.ctx, s.store, name, s.instance, s.cfg.LeaseTTL, s.logf, work)
	}()
}

// logRetentionEvery is how often the built-in log groups' retention is
// enforced; CloudWatch Logs, too, deletes expired events within hours.
const logRetentionEvery = time.Hour

// loadTLS loads or creates the CA and the server certificate.
func loadTLS(cfg Config) (*pki.CA, tls.Certificate, error) {
	tlsDir := filepath.Join(cfg.DataDir, "tls")
	var ca *pki.CA
	var err error
	switch {
	case cfg.CACertFile != "" && cfg.CAKeyFile != "":
		ca, err = pki.LoadCA(cfg.CACertFile, cfg.CAKeyFile)
	case cfg.CACertFile != "" || cfg.CAKeyFile != "":
		err = errors.New("server: a CA needs both a certificate and a key file")
	default:
		ca, err = pki.LoadOrCreateCA(tlsDir, "Postern CA")
	}
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, tls.Certificate{}, fmt.Errorf("server: TLS certificate: %w", err)
		}
		// Issued by the CA but without it in the file: the chain sent
		// gets it, so that agents can pin it (pki.VerifyPinned looks for
		// it there).
		if cert.Leaf.CheckSignatureFrom(ca.Cert) == nil && !slices.ContainsFunc(cert.Certificate, func(raw []byte) bool { return bytes.Equal(raw, ca.Cert.Raw) }) {
			cert.Certificate = append(cert.Certificate, ca.Cert.Raw)
		}
		return ca, cert, nil
	}
	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, cfg.Hosts...)
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	cert, err := ca.ServerCertificate(tlsDir, hosts)
	return ca, cert, err
}

// CA returns the server's certificate authority.
func (s *Server) CA() *pki.CA { return s.ca }

// TLSConfig is the listener's configuration: the server certificate, and
// client certificates from agents verified against the CA when presented.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{s.cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.ca.Pool(),
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// Serve serves HTTPS on ln until ctx is done, then shuts down: listeners
// close, agents and clients are disconnected, and every journal is synced.
// Sessions stay active in the store; the next start resumes them.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler: bodyDeadline(s.Handler()),
		// A TLS handshake and a request's headers get ReadHeaderTimeout,
		// its body bodyTimeout (bodyDeadline), a keep-alive connection
		// IdleTimeout between requests: a caller who sends a byte now and
		// then holds nothing open for long.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          nil,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		// The request's connection, for connlimit; WebSocket handlers
		// cork it under TLS around each large message (wire.BatchConn).
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			ctx = context.WithValue(ctx, connKey{}, c)
			if ck := wire.ConnCorker(c); ck != nil {
				return wire.WithCorker(ctx, ck)
			}
			return ctx
		},
	}
	// TLS over the per-source cap over the clients' addresses behind a
	// balancer over batched socket I/O.
	tln := tls.NewListener(connlimit.Wrap(proxyheader.Wrap(wire.BatchListener(ln), s.cfg.ProxyProtocolFrom), s.cfg.MaxPendingConns), s.TLSConfig())
	addr := s.advertise(ln)
	if u, err := url.Parse(addr); err == nil && s.cert.Leaf != nil && s.cert.Leaf.VerifyHostname(u.Hostname()) != nil {
		s.logf("server: ERROR: this server's certificate does not name %s, the address the other servers sharing its database reach it at (advertise): they cannot verify it, and take it for gone; add %s to hosts: in the configuration", addr, u.Hostname())
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.cluster.Announce(s.ctx, addr) }()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		s.Close()
		return fmt.Errorf("server: %w", err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// No new connections first: agents reconnect at once when theirs
	// closes, and thousands of handshakes would keep the stop busy with
	// connections it is only going to close.
	tln.Close()
	s.Close()
	hs.Shutdown(shutCtx)
	return nil
}

// Close disconnects everyone and syncs every recording.
func (s *Server) Close() {
	s.stopping.Store(true)
	s.agentsMu.Lock()
	agents := make([]*agentConn, 0, len(s.agents))
	for _, a := range s.agents {
		agents = append(agents, a)
	}
	s.agentsMu.Unlock()
	// yamux (v0.1.2) spins a stream's reader at full speed from the
	// moment its session shuts down until the session has closed its
	// connection (hashicorp/yamux#176): no goroutine waits on an agent's
	// control stream (see heartbeat), or thousands of them would starve
	// the ones that end it, for minutes. The connections close all at
	// once, as each waits for its connection's reader to let go.
	s.cancel()
	var closing sync.WaitGroup
	for _, a := range agents {
		closing.Go(func() { a.Mux.Close() })
	}
	closing.Wait()
	s.wg.Wait()
	s.relays.Close()
	s.searchIndex.Close()
}

// relayDeps are what the relays get of the server.
func (s *Server) relayDeps() relay.Deps {
	return relay.Deps{
		Store: s.store, Disk: s.disk, Now: s.now, Logf: s.logf,
		Agent: func(nodeID string) *relay.Link {
			if ac := s.agent(nodeID); ac != nil {
				return &ac.Link
			}
			return nil
		},
		Grant:    s.grant,
		HandOver: s.handOverLate,
		Ended: func(final store.Session, how string) {
			s.unplace("session/" + final.ID)
			s.deliver.Kick()
			s.auditEvent(final, "SessionEnded", how)
			state := events.StateTerminated
			if final.Status == store.StatusFailed {
				state = events.StateFailed
			}
			s.sessionEvent(s.ctx, final, nil, state)
		},
		ClientState: func(sess store.Session, state string) {
			s.sessionEvent(s.ctx, sess, nil, state)
		},
		CatchupRead: func(observer bool) {
			if observer {
				s.catchupRecords.observer.Add(1)
			} else {
				s.catchupRecords.owner.Add(1)
			}
		},
		Moved:        s.sessionMoved,
		Released:     s.sessionReleased,
		OutputMemory: s.cfg.OutputMemory, SyncInterval: s.cfg.SyncInterval, GracePeriod: s.cfg.GracePeriod,
		Ship: s.shipper(), ShipInterval: s.cfg.ShipInterval, ShipStallTimeout: s.cfg.ShipStallTimeout,
	}
}

// sessionDir is where a session's journal lives while it runs.
func (s *Server) journalPath(account, id string) string {
	return filepath.Join(s.cfg.DataDir, "sessions", account, id+".journal")
}
