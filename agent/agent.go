// Package agent is the node side of Postern: it registers the node, keeps one
// outbound TLS WebSocket to the server (authenticated by the node's client
// certificate), and runs the sessions the server opens on it in
// pseudo-terminals.
//
// The agent never imports server-side packages: it speaks the wire protocol
// and nothing else, so its binary path stays small.
//
// The agent trusts the connection for nothing but transport: it opens,
// resumes or forwards a session only for a request the server signed for
// this node with a key its CA certified as a session signer (verify.go).
//
// Sessions outlive connections. Every record a session produces stays in the
// agent's memory until the server acknowledges it as durably recorded; when
// the connection drops the shell keeps running, and after the agent
// reconnects the server resumes each session from its last acknowledged
// record.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"

	"github.com/postern/postern/api"
	"github.com/postern/postern/wire"
)

// Config configures an Agent.
type Config struct {
	// Dir holds the identity written by Register.
	Dir string
	// Server, if set, overrides the server URL stored at registration
	// (a dev server that moved to another port).
	Server string
	// Logf logs; nil discards.
	Logf func(format string, args ...any)
	// DefaultRunAs is the OS user for sessions whose request names none.
	// Empty: "ssm-user" (created if missing) when the agent runs as root
	// (LocalSystem on Windows), the agent's own user otherwise.
	DefaultRunAs string
	// Shell is the program that sessions without a command start on
	// Windows (default: PowerShell, cmd.exe where there is none);
	// elsewhere sessions start the user's login shell.
	Shell string
	// DialContext, if set, dials the server's TCP address (tests inject
	// fault-injecting proxies here).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// MinBackoff and MaxBackoff bound the reconnect delay (defaults 500ms
	// and 30s); the delay doubles per failed attempt, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// OrphanTimeout ends a session nobody has been attached to for this
	// long (default 10 minutes): the server lost it for good.
	OrphanTimeout time.Duration
	// Now is the clock for session limits (idle timeout, maximum
	// duration); nil: time.Now. CheckInterval is how often limits are
	// checked (default 1s).
	Now           func() time.Time
	CheckInterval time.Duration
	// MaxUnacked bounds the bytes of records a session keeps waiting for
	// acknowledgement before it stops reading its terminal (default 16 MiB).
	MaxUnacked int
	// GrantNow is the wall clock that the validity of the server's session
	// grants is checked against; nil: time.Now. It is not Now: grants are
	// an agreement with the server's clock, limits a measure of time
	// passing, and tests move one without the other.
	GrantNow func() time.Time
}

// Agent runs sessions for one registered node.
type Agent struct {
	cfg  Config
	id   Identity
	logf func(string, ...any)

	// grants verifies that each request on a stream was signed by the
	// server for this node.
	grants *grantVerifier

	mu       sync.Mutex // guards sessions
	sessions map[string]*session
}

// New returns an agent for the identity registered in cfg.Dir.
func New(cfg Config) (*Agent, error) {
	id, err := LoadIdentity(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Server != "" {
		id.Server = cfg.Server
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.OrphanTimeout == 0 {
		cfg.OrphanTimeout = 10 * time.Minute
	}
	if cfg.MaxUnacked == 0 {
		cfg.MaxUnacked = 16 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = time.Second
	}
	roots, err := id.CAPool(cfg.Dir)
	if err != nil {
		return nil, err
	}
	return &Agent{
		cfg: cfg, id: id, logf: cfg.Logf, sessions: map[string]*session{},
		grants: newGrantVerifier(roots, id.NodeID, cfg.GrantNow),
	}, nil
}

// NodeID returns the node's managed node id.
func (a *Agent) NodeID() string { return a.id.NodeID }

// Run connects to the server and serves sessions until ctx is done,
// reconnecting with exponential backoff and jitter whenever the connection
// drops. Sessions keep running across reconnects. When ctx ends, every
// session is hung up.
func (a *Agent) Run(ctx context.Context) error {
	tlsConf, err := a.id.TLSConfig(a.cfg.Dir)
	if err != nil {
		return err
	}
	defer a.closeAll()
	backoff := a.cfg.MinBackoff
	for {
		start := time.Now()
		err := a.connectOnce(ctx, tlsConf)
		if ctx.Err() != nil {
			a.logf("agent: stopped; its running sessions end (AgentStopped)")
			return nil
		}
		if time.Since(start) > time.Minute {
			backoff = a.cfg.MinBackoff // it was a working connection
		}
		// Full jitter keeps a fleet of agents from reconnecting in step
		// after a server restart.
		d := backoff/2 + rand.N(backoff/2+1)
		a.logf("agent: connection to %s lost: %v; reconnecting in %v", a.id.Server, err, d.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			a.logf("agent: stopped")
			return nil
		case <-time.After(d):
		}
		backoff = min(2*backoff, a.cfg.MaxBackoff)
	}
}

func (a *Agent) connectOnce(ctx context.Context, tlsConf *tls.Config) error {
	cd := &wire.BatchDialer{Dial: a.cfg.DialContext}
	tr := &http.Transport{TLSClientConfig: tlsConf, Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: false, DialContext: cd.DialContext}
	defer tr.CloseIdleConnections()
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	url := "wss" + strings.TrimPrefix(a.id.Server, "https") + api.PathAgent
	ws, resp, err := websocket.Dial(dialCtx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized || resp != nil && resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("server refused this node (%s): %w", resp.Status, err)
		}
		return err
	}
	connCtx, cancelConn := context.WithCancel(ctx)
	defer cancelConn()
	conn := wire.MuxConn(connCtx, ws, cd.Corker())
	mux, err := wire.AgentMux(conn, a.logf)
	if err != nil {
		conn.Close()
		return err
	}
	defer mux.Close()

	ctl, err := mux.OpenStream()
	if err != nil {
		return fmt.Errorf("open control stream: %w", err)
	}
	host, _ := os.Hostname()
	hello := wire.Hello{
		NodeID: a.id.NodeID, AgentVersion: Version, Hostname: host,
		OS: runtime.GOOS, Platform: platformName(), IP: primaryIP(),
		Sessions: a.liveSessions(), TypedMarks: true,
	}
	cw := wire.NewWriter(ctl)
	if err := cw.WriteJSON(wire.THello, hello); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	a.logf("agent: connected to %s as %s", a.id.Server, a.id.NodeID)

	var wg sync.WaitGroup
	defer wg.Wait()
	defer mux.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.serveControl(connCtx, ctl, cw)
		mux.Close()
	}()
	for {
		st, err := mux.AcceptStream()
		if err != nil {
			if errors.Is(err, yamux.ErrSessionShutdown) || ctx.Err() != nil {
				return errors.New("connection closed")
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.serveStream(connCtx, st)
		}()
	}
}

// serveControl answers pings on the control stream; it returns when the
// stream breaks, which means the connection is gone.
func (a *Agent) serveControl(ctx context.Context, ctl *yamux.Stream, cw *wire.Writer) {
	r := wire.NewReader(ctl)
	for {
		f, err := r.Read()
		if err != nil {
			return
		}
		switch f.Type {
		case wire.TPing:
			if err := cw.Write(wire.TPong, f.Payload); err != nil {
				return
			}
		case wire.TPong:
		default:
			a.logf("agent: unexpected %s frame on the control stream; ignoring", f.Type)
		}
	}
}

func (a *Agent) liveSessions() []wire.LiveSession {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []wire.LiveSession
	for id, s := range a.sessions {
		out = append(out, wire.LiveSession{ID: id, LastSeq: s.lastSeq()})
	}
	return out
}

func (a *Agent) closeAll() {
	a.mu.Lock()
	ss := make([]*session, 0, len(a.sessions))
	for _, s := range a.sessions {
		ss = append(ss, s)
	}
	a.mu.Unlock()
	for _, s := range ss {
		s.terminate("AgentStopped")
	}
}
