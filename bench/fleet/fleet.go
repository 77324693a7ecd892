//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
)

// simAgent is one simulated node: a real agent.Agent of package agent, run
// in this process with its own identity directory (certificate and key),
// its own TLS WebSocket and its own sessions.
type simAgent struct {
	i      int
	dir    string
	nodeID string
	src    net.IP // the loopback address it connects from; nil: any

	cancel context.CancelFunc // nil: not running
	done   chan struct{}      // closed when Run has returned

	open    atomic.Int32 // TCP connections to the server open now
	dials   atomic.Int64 // TCP connections attempted
	refused atomic.Int64 // attempts the server answered with a refusal
	lost    atomic.Int64 // connections lost or attempts that failed otherwise
	lastErr atomic.Pointer[string]
}

// dial is the agent's DialContext: a plain TCP dial whose connection is
// counted while it is open.
func (a *simAgent) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	a.dials.Add(1)
	var d net.Dialer
	if a.src != nil {
		d.LocalAddr = &net.TCPAddr{IP: a.src}
	}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	a.open.Add(1)
	return &countedConn{Conn: c, open: &a.open}, nil
}

type countedConn struct {
	net.Conn
	once sync.Once
	open *atomic.Int32
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// logf receives the agent's log lines; the harness counts what they say
// about the connection.
func (a *simAgent) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	switch classifyAgentLog(line) {
	case logRefused:
		a.refused.Add(1)
		a.lastErr.Store(&line)
	case logLost:
		a.lost.Add(1)
		a.lastErr.Store(&line)
	}
}

// agentLogKind is what an agent's log line says about its connection.
type agentLogKind int

const (
	logOther   agentLogKind = iota
	logLost                 // a connection dropped, or an attempt failed before the server answered
	logRefused              // the server answered an attempt with an HTTP error instead of the WebSocket
)

// classifyAgentLog sorts the agent's "connection to ... lost: ERR;
// reconnecting in D" lines (agent.Run) by ERR: the agent's own message for
// 401 and 403, or the WebSocket library's for any other status.
func classifyAgentLog(line string) agentLogKind {
	rest, ok := strings.CutPrefix(line, "agent: connection to ")
	if !ok {
		return logOther
	}
	_, cause, ok := strings.Cut(rest, " lost: ")
	if !ok {
		return logOther
	}
	if strings.Contains(cause, "server refused this node") ||
		strings.Contains(cause, "expected handshake response status code 101 but got") {
		return logRefused
	}
	return logLost
}

// fleet is the simulated agents.
type fleet struct {
	server string // URL
	runAs  string // the OS user of their sessions
	agents []*simAgent
}

// register registers n agents through the real activation path, agent.Register
// (POST /v1/register with a fresh key's certificate request), with
// activations of up to 1,000 registrations each, workers at a time.
func register(ctx context.Context, c *client.Client, serverURL, caFile, dir string, n, workers int, progress func(done int)) ([]*simAgent, error) {
	const perActivation = 1000 // the server's maximum
	type act struct{ id, code string }
	var acts []act
	for left := n; left > 0; left -= perActivation {
		a, err := c.CreateActivation(ctx, api.CreateActivationRequest{
			Description: "fleet load test", RegistrationLimit: min(left, perActivation), ExpiresIn: "2h",
			Tags: map[string]string{"fleet": "simulated"},
		})
		if err != nil {
			return nil, fmt.Errorf("create activation: %w", err)
		}
		acts = append(acts, act{a.ID, a.Code})
	}
	agents := make([]*simAgent, n)
	jobs := make(chan int)
	errc := make(chan error, workers)
	var done atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				a := &simAgent{i: i, dir: filepath.Join(dir, fmt.Sprintf("agent-%05d", i))}
				ac := acts[i/perActivation]
				id, err := agent.Register(ctx, agent.RegisterOptions{
					Server: serverURL, Code: ac.code, ID: ac.id, CAFile: caFile, Dir: a.dir,
					Name: fmt.Sprintf("sim-%05d", i),
				})
				if err != nil {
					errc <- fmt.Errorf("register agent %d: %w", i, err)
					return
				}
				a.nodeID = id.NodeID
				agents[i] = a
				if d := done.Add(1); d%500 == 0 && progress != nil {
					progress(int(d))
				}
			}
		}()
	}
	var err error
feed:
	for i := range n {
		select {
		case jobs <- i:
		case err = <-errc:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return agents, err
}

// sourceAddr is the loopback address agent i of a fleet spread over
// sources addresses connects from: 127.0.0.2 on (Linux routes all of
// 127.0.0.0/8 to the loopback interface), as nodes have addresses of
// their own; 1 source is a fleet behind one NAT address, 127.0.0.1.
func sourceAddr(i, sources int) net.IP {
	if sources <= 1 {
		return net.IPv4(127, 0, 0, 1)
	}
	k := 2 + i%sources
	return net.IPv4(127, byte(k>>16), byte(k>>8), byte(k))
}

// start runs agent a until stop or parent ends.
func (f *fleet) start(parent context.Context, a *simAgent) error {
	ag, err := agent.New(agent.Config{Dir: a.dir, Server: f.server, Logf: a.logf, DefaultRunAs: f.runAs, DialContext: a.dial})
	if err != nil {
		return fmt.Errorf("agent %d: %w", a.i, err)
	}
	ctx, cancel := context.WithCancel(parent)
	a.cancel, a.done = cancel, make(chan struct{})
	go func() {
		defer close(a.done)
		ag.Run(ctx) // returns only when ctx ends
	}()
	return nil
}

// startAll starts agents at up to rate per second.
func (f *fleet) startAll(ctx context.Context, agents []*simAgent, rate int) error {
	t0 := time.Now()
	for k, a := range agents {
		if err := f.start(ctx, a); err != nil {
			return err
		}
		// Pace: agent k starts k/rate seconds after the first.
		if wait := time.Until(t0.Add(time.Duration(k+1) * time.Second / time.Duration(rate))); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	return nil
}

// stop stops agents and waits (up to 30 s) for them to hang up.
func stopAgents(agents []*simAgent) error {
	for _, a := range agents {
		if a.cancel != nil {
			a.cancel()
		}
	}
	deadline := time.After(30 * time.Second)
	for _, a := range agents {
		if a.cancel == nil {
			continue
		}
		select {
		case <-a.done:
			a.cancel = nil
		case <-deadline:
			return errors.New("simulated agents did not stop within 30s")
		}
	}
	return nil
}

// counters sums the agents' connection counters.
type counters struct {
	Open, Dials, Refused, Lost int64
	RefusedAgents              int // agents refused at least once
}

func sumCounters(agents []*simAgent) counters {
	var c counters
	for _, a := range agents {
		c.Open += int64(a.open.Load())
		c.Dials += a.dials.Load()
		r := a.refused.Load()
		c.Refused += r
		c.Lost += a.lost.Load()
		if r > 0 {
			c.RefusedAgents++
		}
	}
	return c
}

func (c counters) minus(o counters) counters {
	return counters{Open: c.Open, Dials: c.Dials - o.Dials, Refused: c.Refused - o.Refused, Lost: c.Lost - o.Lost}
}

// lastRefusal returns one agent's last refusal message, for the report.
func lastRefusal(agents []*simAgent) string {
	for _, a := range agents {
		if a.refused.Load() > 0 {
			if p := a.lastErr.Load(); p != nil {
				return *p
			}
		}
	}
	return ""
}

// onlineCount asks the server (GET /v1/nodes, what `postern nodes -o json`
// lists) how many of the given nodes it has online.
func onlineCount(ctx context.Context, c *client.Client, nodes map[string]bool) (int, error) {
	ns, err := c.Nodes(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, x := range ns {
		if x.Online && nodes[x.ID] {
			n++
		}
	}
	return n, nil
}

// onlineGoal is how many nodes waitOnline waits for.
type onlineGoal struct {
	n     int
	exact bool // exactly n (after agents hung up), else at least n
}

func atLeast(n int) onlineGoal { return onlineGoal{n: n} }
func exactly(n int) onlineGoal { return onlineGoal{n: n, exact: true} }

func (g onlineGoal) met(k int) bool {
	if g.exact {
		return k == g.n
	}
	return k >= g.n
}

// waitOnline polls the server every so often until the count of nodes it
// lists online meets want, or timeout. It returns when that was (the end of
// the answering request), and the count it saw last.
func waitOnline(ctx context.Context, c *client.Client, nodes map[string]bool, want onlineGoal, every, timeout time.Duration, progress func(n int)) (time.Time, int, error) {
	deadline := time.Now().Add(timeout)
	last := -1
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := onlineCount(rctx, c, nodes)
		cancel()
		now := time.Now()
		if err == nil {
			if want.met(n) {
				return now, n, nil
			}
			if n != last && progress != nil {
				progress(n)
			}
			last = n
		} else if ctx.Err() != nil {
			return now, last, ctx.Err()
		}
		if now.After(deadline) {
			if err != nil {
				return now, last, fmt.Errorf("%d nodes online after %v, waiting for %d; last error: %w", max(last, 0), timeout, want.n, err)
			}
			return now, last, fmt.Errorf("%d nodes online after %v, waiting for %d", last, timeout, want.n)
		}
		select {
		case <-ctx.Done():
			return now, last, ctx.Err()
		case <-time.After(every):
		}
	}
}

func nodeSet(agents []*simAgent) map[string]bool {
	m := make(map[string]bool, len(agents))
	for _, a := range agents {
		m[a.nodeID] = true
	}
	return m
}
