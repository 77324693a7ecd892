//go:build linux

// Command fleet is Postern's fleet load test: how many agents one `postern
// server` holds, what each costs it, how a fleet comes back after the
// server restarts, and whether an interactive session stays snappy while
// many others stream output.
//
//	go run ./bench/fleet            # 5,000 agents; 200 streaming sessions beside 1,000 idle agents
//	go run ./bench/fleet -quick     # 200 agents; 20 streaming sessions beside 100 idle: about a minute
//	go run ./bench/fleet -agents 2000 -idle-window 30s -profiles /tmp/p
//	go run ./bench/fleet -only storm,load
//
// It builds postern (without -race), starts a real `postern server` on
// 127.0.0.1 with a temporary data directory (its profiler and metrics
// listeners on too), signs in as its administrator, and registers -agents
// simulated nodes through the real activation path (agent.Register: a new
// key and certificate request per node, POST /v1/register). Each simulated
// node is a real agent.Agent of package agent, run in this process with its
// own identity directory: its own client certificate, its own TLS
// WebSocket speaking the wire protocol (hello, yamux keep-alives, the
// server's pings), and real sessions in real pseudo-terminals. They connect
// from -sources loopback addresses (127.0.0.2 on; Linux routes 127.0.0.0/8
// to the loopback interface), as nodes have addresses of their own: the
// server caps the unauthenticated connections of each source address, so
// -sources 1, a fleet behind one NAT address, comes back from a restart
// more slowly. The harness
// raises its own open-file limit (RLIMIT_NOFILE) and checks the server's,
// raising it with prlimit(2) if it is too low; it prints both.
//
// Then, one after the other:
//
//   - idle: the server is restarted (so its baseline holds nothing of the
//     registrations) and its memory measured with no agent connected; the
//     agents connect (at -connect-rate per second) and, once the server
//     lists them all online, its memory is measured again. Memory per agent
//     is the growth of the server's resident set (VmRSS) divided by the
//     agents, after a garbage collection (/debug/pprof/heap?gc=1), against
//     a target of 64 KiB; the Go heap and goroutine stacks (from /metrics)
//     are given beside it. Server CPU while the agents idle is its user and
//     system time over -idle-window, as CPU-seconds per minute.
//   - storm: the server is stopped (SIGTERM; SIGKILL after 30 s) with every
//     agent connected, and started again on the same data directory and
//     port. The time until it lists every agent online again (polling GET
//     /v1/nodes, what `postern nodes -o json` reads, once a second) counts
//     from the start of the new server process, against a target of 60 s;
//     how long the stop took, and the CPU it used, are printed beside it.
//     An agent the server turned away during the storm (an HTTP error
//     instead of the WebSocket, as the agent logs it) is counted, and one
//     still offline at the end is refused for good.
//   - load: all but -idle-agents + -sessions agents hang up; -sessions of
//     those left each run a session (bash printing a line of -line-bytes
//     every 1/-rate seconds in a pseudo-terminal) with a client of package
//     client attached (as `postern connect` is) that counts the output. A
//     further node, a separate `postern agent run` process, runs the
//     measured session: the real CLI, `postern exec NODE --tty -- cat`, in
//     its own process, gets one letter on its stdin at a time and the clock
//     stops when the terminal's echo is back on its stdout. Echo p99 is
//     against a target of 10 ms; it is measured first with no stream
//     running, then with all of them. The streams' rate as received is
//     printed: on a small machine the chosen rate may not be sustained.
//
// The echo session's node and client run in processes of their own so that
// the harness, which runs every simulated agent and streaming client, does
// not time itself; the server is what the load and the measured session
// share (and the machine: on 2 cores, the harness, the shells and the
// server compete for CPU).
//
// -only runs some of the scenarios (the agents connect all the same; without
// idle, the server is not restarted after the registrations either).
//
// Every process the harness starts is stopped on any way out, Ctrl-C
// included, and the temporary directory is removed (-keep keeps it: the
// server's log, its data, -profiles' profiles if they went there). It
// needs Linux (/proc, prlimit) and bash.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
)

// Targets of the issue that asked for this test.
const (
	targetBytesPerAgent = 64 << 10
	targetStorm         = 60 * time.Second
	targetEchoP99       = 10 * time.Millisecond
)

// config is the command line.
type config struct {
	agents, sessions, idleAgents int
	quick                        bool
	idleWindow                   time.Duration
	rate                         float64 // lines per second per streaming session
	lineBytes                    int
	echoSamples, echoWarm        int
	echoGap                      time.Duration // mean pause between echo samples
	connectRate                  int           // agents started per second
	sources                      int           // loopback addresses the agents connect from
	keep                         bool
	bin                          string
	profiles                     string // where to write the server's profiles; empty: none
	only                         map[string]bool
	args                         []string
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.IntVar(&c.agents, "agents", 5000, "simulated agents (idle and storm scenarios)")
	fs.IntVar(&c.sessions, "sessions", 200, "streaming sessions in the load scenario, each on its own agent")
	fs.IntVar(&c.idleAgents, "idle-agents", 1000, "agents left idle beside the streaming sessions")
	fs.BoolVar(&c.quick, "quick", false, "a small run of about a minute: 200 agents, 20 sessions, 100 idle agents, 15s idle window, 300 echo samples (flags given win)")
	fs.DurationVar(&c.idleWindow, "idle-window", time.Minute, "how long server CPU is measured while the agents idle")
	fs.Float64Var(&c.rate, "rate", 10, "lines per second printed by each streaming session (2,000 lines a second from 200 sessions keeps 2 shared cores from saturating)")
	fs.IntVar(&c.lineBytes, "line-bytes", 64, "bytes per line of a streaming session, newline included")
	fs.IntVar(&c.echoSamples, "echo-samples", 1000, "echo round trips measured, idle and under load")
	fs.IntVar(&c.echoWarm, "echo-warm", 50, "echo round trips discarded before each measurement")
	fs.DurationVar(&c.echoGap, "echo-gap", 10*time.Millisecond, "mean pause before each echo round trip (uniform from half to 1.5 times it)")
	fs.IntVar(&c.connectRate, "connect-rate", 500, "agents started per second in the idle scenario")
	fs.IntVar(&c.sources, "sources", 250, "loopback addresses the agents connect from (127.0.0.2 on), as nodes have addresses of their own; 1: all from 127.0.0.1, a fleet behind one NAT address")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (server log and data)")
	fs.StringVar(&c.bin, "postern", "", "use this postern binary instead of building ./cmd/postern")
	fs.StringVar(&c.profiles, "profiles", "", "write the server's heap and CPU profiles of each scenario to this directory (profiling costs the server a little CPU)")
	onlyText := fs.String("only", "", "run only these scenarios, comma-separated: "+strings.Join(scenarios, ","))
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./bench/fleet [flags]\n\nRuns thousands of simulated agents against a real postern server on loopback and prints a table.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := []struct {
			name string
			do   func()
		}{
			{"agents", func() { c.agents = 200 }},
			{"sessions", func() { c.sessions = 20 }},
			{"idle-agents", func() { c.idleAgents = 100 }},
			{"idle-window", func() { c.idleWindow = 15 * time.Second }},
			{"echo-samples", func() { c.echoSamples = 300 }},
		}
		for _, q := range quick {
			if !set[q.name] {
				q.do()
			}
		}
	}
	switch {
	case c.agents < 1 || c.sessions < 1 || c.idleAgents < 0:
		return c, errors.New("-agents and -sessions must be at least 1, -idle-agents at least 0")
	case c.idleAgents+c.sessions > c.agents:
		return c, fmt.Errorf("-idle-agents (%d) plus -sessions (%d) is more than -agents (%d): the load scenario uses the agents of the others", c.idleAgents, c.sessions, c.agents)
	case c.idleWindow < 5*time.Second:
		return c, errors.New("-idle-window: at least 5s")
	case !(c.rate > 0 && c.rate <= 1000):
		return c, errors.New("-rate: more than 0 and at most 1000 lines per second")
	case c.lineBytes < 16 || c.lineBytes > 4096:
		return c, errors.New("-line-bytes: between 16 and 4096")
	case c.echoSamples < 10 || c.echoWarm < 0 || c.echoGap < 0:
		return c, errors.New("-echo-samples: at least 10; -echo-warm and -echo-gap: at least 0")
	case c.connectRate < 1:
		return c, errors.New("-connect-rate: at least 1")
	case c.sources < 1 || c.sources > 1<<16:
		return c, errors.New("-sources: between 1 and 65536")
	}
	if *onlyText != "" {
		c.only = map[string]bool{}
		for _, m := range strings.Split(*onlyText, ",") {
			m = strings.TrimSpace(m)
			if !slices.Contains(scenarios, m) {
				return c, fmt.Errorf("-only: unknown scenario %q (want %s)", m, strings.Join(scenarios, ", "))
			}
			c.only[m] = true
		}
	}
	c.args = args
	return c, nil
}

// scenarios are the names -only takes, in the order they run.
var scenarios = []string{"idle", "storm", "load"}

// runs reports whether scenario m is to run.
func (c config) runs(m string) bool { return c.only == nil || c.only[m] }

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first Ctrl-C the harness cleans up; a second one
		// kills it at once (its children die with it: Pdeathsig).
		<-ctx.Done()
		stop()
	}()
	err = run(ctx, cfg)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil && interrupted {
		fmt.Fprintln(os.Stderr, "fleet: interrupted; every process it started is stopped")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

// logf prints progress to stderr; the table goes to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// result is what the scenarios found, for the table.
type result struct {
	rows  []row
	notes []string
}

func (r *result) add(rs ...row) { r.rows = append(r.rows, rs...) }
func (r *result) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// harness is the state the scenarios share.
type harness struct {
	cfg    config
	reg    *registry
	tmp    string
	bin    string
	env    []string
	hz     int64
	srv    *posternServer
	c      *client.Client
	token  string
	runAs  string
	fleet  *fleet
	agents []*simAgent
	res    *result
}

func run(ctx context.Context, cfg config) error {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return errors.New("the fleet test needs Linux with /proc mounted")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		return errors.New("the streaming sessions need bash on PATH")
	}
	h := &harness{cfg: cfg, reg: &registry{}, res: &result{}, hz: clockTicks(ctx)}
	u, err := user.Current()
	if err != nil {
		return err
	}
	h.runAs = u.Username // the sessions run as the harness's own user

	// Each agent holds a socket in the harness and one in the server;
	// streaming sessions add a terminal, a client WebSocket and a journal.
	wantHarness := uint64(cfg.agents + 4*cfg.sessions + 1024)
	wantServer := uint64(cfg.agents + 8*cfg.sessions + 1024)
	before, after, err := raiseOwnNofile(wantHarness)
	if err != nil {
		return fmt.Errorf("open-file limit: %w", err)
	}
	logf("open-file limit (RLIMIT_NOFILE) of the harness: %s, raised to %s", before, after)
	if after.Soft < wantHarness {
		return fmt.Errorf("the harness needs %d open files for %d agents but may have only %d: raise the hard limit (ulimit -Hn) or use fewer -agents", wantHarness, cfg.agents, after.Soft)
	}

	if h.tmp, err = os.MkdirTemp("", "postern-fleet-"); err != nil {
		return err
	}
	defer func() {
		if cfg.keep {
			logf("kept %s", h.tmp)
		} else if err := os.RemoveAll(h.tmp); err != nil {
			logf("removing %s: %v", h.tmp, err)
		}
	}()
	defer h.reg.cleanup() // before the directory goes (defers run last first)
	h.env = childEnv(h.tmp)
	if err := h.build(ctx); err != nil {
		return err
	}
	load0 := loadAverage()
	t0 := time.Now()

	if h.srv, err = newServer(h.reg, h.tmp, h.bin, h.env, wantServer); err != nil {
		return err
	}
	logf("starting postern server on %s (data in %s)", h.srv.url(), h.srv.data)
	if err := h.srv.start(ctx); err != nil {
		return err
	}
	h.res.note("open files (RLIMIT_NOFILE): the harness raised its limit from %s to %s; the server's was %s", before, after, serverLimitNote(h.srv))
	logf("open-file limit of the server: %s", serverLimitNote(h.srv))
	if err := h.login(ctx); err != nil {
		return err
	}

	logf("registering %d agents (agent.Register: a key and certificate per node)", cfg.agents)
	h.fleet = &fleet{server: h.srv.url(), runAs: h.runAs}
	tr := time.Now()
	h.agents, err = register(ctx, h.c, h.srv.url(), filepath.Join(h.srv.data, "tls", "ca.crt"), filepath.Join(h.tmp, "agents"), cfg.agents, 8,
		func(n int) { logf("registered %d/%d", n, cfg.agents) })
	if err != nil {
		return err
	}
	logf("registered %d agents in %.1fs", cfg.agents, time.Since(tr).Seconds())
	for _, a := range h.agents {
		a.src = sourceAddr(a.i, cfg.sources)
	}
	h.res.note("agents: %s, each a real agent.Agent in the harness with its own certificate and TLS WebSocket, connecting from %s", thousands(cfg.agents), sourcesNote(min(cfg.sources, cfg.agents)))

	// The simulated agents end with ctx; stopping them before the server
	// goes keeps its log free of their reconnect attempts.
	fctx, fcancel := context.WithCancel(ctx)
	defer func() {
		fcancel()
		if err := stopAgents(h.agents); err != nil {
			logf("%v", err)
		}
	}()

	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"idle", h.idle},
		{"storm", h.storm},
		{"load", h.load},
	}
	if !cfg.runs("idle") {
		// The others need the agents connected all the same.
		steps[0].run = h.connect
	}
	for i, st := range steps {
		if i > 0 && !cfg.runs(st.name) {
			continue
		}
		if err := st.run(fctx); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
	}
	if cfg.profiles != "" {
		h.res.note("profiles of the server are in %s (profiling cost it some CPU)", cfg.profiles)
	}
	h.res.note("load average %.2f at the start, %.2f at the end (%d CPUs); the run took %s", load0, loadAverage(), nproc(), time.Since(t0).Round(time.Second))
	h.res.note("machine: %s", machineLine(ctx))
	h.res.note("postern: %s", h.describeBinary(ctx))
	h.res.note("command: %s", commandLine(cfg.args))
	return printTable(os.Stdout, h.res.rows, h.res.notes)
}

func sourcesNote(n int) string {
	if n <= 1 {
		return "127.0.0.1 (one source address, as behind a NAT)"
	}
	return fmt.Sprintf("%d loopback addresses (%s to %s)", n, sourceAddr(0, n), sourceAddr(n-1, n))
}

func serverLimitNote(s *posternServer) string {
	if s.limitFound == s.limitNow {
		return s.limitNow.String() + ", enough"
	}
	return fmt.Sprintf("%s, raised to %s with prlimit", s.limitFound, s.limitNow)
}

// build builds the postern binary, or takes -postern's.
func (h *harness) build(ctx context.Context) error {
	if h.cfg.bin != "" {
		h.bin = absPath(h.cfg.bin)
		return nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	h.bin = filepath.Join(h.tmp, "postern")
	logf("building postern (go build -o %s ./cmd/postern)", h.bin)
	bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	b := exec.CommandContext(bctx, "go", "build", "-o", h.bin, "./cmd/postern")
	b.Dir = root
	if out, err := b.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/postern in %s: %v\n%s", root, err, out)
	}
	return nil
}

func (h *harness) describeBinary(ctx context.Context) string {
	if h.cfg.bin != "" {
		return h.bin
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "built"
	}
	rev, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "built from " + root
	}
	s := "built from commit " + strings.TrimSpace(string(rev))
	if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--", ".", ":!bench").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		s += " with uncommitted changes"
	}
	return s
}

// login signs in as the bootstrap administrator and keeps a client.
func (h *harness) login(ctx context.Context) error {
	anon, err := client.New(client.Config{Server: h.srv.url(), CA: string(h.srv.caPE)})
	if err != nil {
		return err
	}
	lr, err := anon.Login(ctx, "", "admin", h.srv.password)
	if err != nil {
		return fmt.Errorf("sign in as admin: %w", err)
	}
	cc := client.Config{Server: h.srv.url(), CA: string(h.srv.caPE), Token: lr.Token, RefreshToken: lr.RefreshToken, User: "admin", Account: lr.Account}
	h.token = lr.Token
	if h.c, err = client.New(cc); err != nil {
		return err
	}
	// The server's /metrics wants a token allowed GetMetrics, as a
	// Prometheus scraper has.
	tok, err := h.c.CreateToken(ctx, "admin", api.CreateTokenRequest{Name: "fleet-metrics", ExpiresIn: "1d", Scopes: []string{"GetMetrics"}})
	if err != nil {
		return fmt.Errorf("create a token for /metrics: %w", err)
	}
	h.srv.metricsToken = tok.Secret
	// The CLI of the measured session signs in the same way.
	return client.SaveConfig(filepath.Join(h.tmp, "home"), cc)
}

// reconnectClient replaces the API client after a server restart: its
// pooled connections went with the old process.
func (h *harness) reconnectClient() error {
	cfg, err := client.LoadConfig(filepath.Join(h.tmp, "home"))
	if err != nil {
		return err
	}
	h.c, err = client.New(cfg)
	return err
}

// restartServer stops the server and starts it again; started is when the
// new process started.
func (h *harness) restartServer(ctx context.Context) (stopped stopResult, started time.Time, err error) {
	stopped = h.srv.stop(30*time.Second, h.hz)
	if err := h.srv.start(ctx); err != nil {
		return stopped, started, err
	}
	return stopped, h.srv.p.start, h.reconnectClient()
}

// ---- idle ----

func (h *harness) idle(ctx context.Context) error {
	n := len(h.agents)
	logf("restarting the server so that its baseline holds nothing of the registrations")
	if _, _, err := h.restartServer(ctx); err != nil {
		return err
	}
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	base, err := h.srv.sampleMemory(ctx)
	if err != nil {
		return err
	}
	logf("server with no agent: RSS %s, heap %s, stacks %s, %d goroutines", fmtBytes(float64(base.RSS)), fmtBytes(float64(base.HeapInuse)), fmtBytes(float64(base.StackInuse)), base.Goroutines)
	if err := h.connect(ctx); err != nil {
		return err
	}
	loaded, err := h.srv.sampleMemory(ctx)
	if err != nil {
		return err
	}
	if h.cfg.profiles != "" {
		if err := os.MkdirAll(h.cfg.profiles, 0o755); err != nil {
			return err
		}
		if err := h.srv.heapProfile(ctx, filepath.Join(h.cfg.profiles, "idle-heap.pprof")); err != nil {
			return err
		}
		if err := h.srv.goroutines(ctx, filepath.Join(h.cfg.profiles, "idle-goroutines.txt")); err != nil {
			return err
		}
	}
	rss := perAgent(base.RSS, loaded.RSS, n)
	logf("server with %d agents: RSS %s (%s per agent), heap %s, stacks %s, %d goroutines, %d threads, %d open files",
		n, fmtBytes(float64(loaded.RSS)), fmtBytes(rss), fmtBytes(float64(loaded.HeapInuse)), fmtBytes(float64(loaded.StackInuse)), loaded.Goroutines, loaded.Threads, loaded.FDs)
	heap, stacks := perAgent(base.HeapInuse, loaded.HeapInuse, n), perAgent(base.StackInuse, loaded.StackInuse, n)
	h.res.add(
		atMost(fmt.Sprintf("idle: server RSS per connected agent (%s agents)", thousands(n)), fmtBytes(rss), rss, targetBytesPerAgent, "<= 64 KiB"),
		atMost("idle: server Go heap + stacks per connected agent", fmtBytes(heap+stacks), heap+stacks, targetBytesPerAgent, "<= 64 KiB"),
		info("idle: of which heap in use (after GC), stacks", fmtBytes(heap)+", "+fmtBytes(stacks)),
		info("idle: server goroutines per agent", fmt.Sprintf("%.1f", perAgent(base.Goroutines, loaded.Goroutines, n))),
	)
	h.res.note("idle: server RSS %s with no agent, %s with %s (Go heap in use %s -> %s, stacks %s -> %s, heap held unused %s -> %s, all the Go runtime mapped %s -> %s; goroutines %d -> %d; %d open files); measured after %d GCs (/debug/pprof/heap?gc=1) a second apart",
		fmtBytes(float64(base.RSS)), fmtBytes(float64(loaded.RSS)), thousands(n), fmtBytes(float64(base.HeapInuse)), fmtBytes(float64(loaded.HeapInuse)),
		fmtBytes(float64(base.StackInuse)), fmtBytes(float64(loaded.StackInuse)), fmtBytes(float64(base.HeapFree)), fmtBytes(float64(loaded.HeapFree)),
		fmtBytes(float64(base.GoSys)), fmtBytes(float64(loaded.GoSys)), base.Goroutines, loaded.Goroutines, loaded.FDs, sampleGCs)
	if ms, err := readMemStatus(os.Getpid()); err == nil {
		h.res.note("idle: the harness (all simulated agents' side) had an RSS of %s, %s per agent", fmtBytes(float64(ms.RSS)), fmtBytes(float64(ms.RSS)/float64(n)))
	}

	w := h.cfg.idleWindow
	logf("measuring server CPU for %v while the agents idle", w)
	c0 := sumCounters(h.agents)
	cpu, err := h.serverCPU(ctx, w, "idle")
	if err != nil {
		return err
	}
	c1 := sumCounters(h.agents).minus(c0)
	perMin := cpu.Seconds() / w.Minutes()
	h.res.add(info(fmt.Sprintf("idle: server CPU with %s agents idle", thousands(n)), fmt.Sprintf("%.2f CPU-s/min (%.1f%% of a core)", perMin, 100*perMin/60)))
	h.res.note("idle: CPU over %v; in it %d agent connections dropped and %d were refused (0 and 0 expected)", w, c1.Lost, c1.Refused)
	logf("server CPU while idle: %.2f CPU-s per minute", perMin)
	return nil
}

// connect starts every simulated agent and waits until the server lists
// them all online, and a little more for the garbage of the handshakes to
// go and timers to settle.
func (h *harness) connect(ctx context.Context) error {
	n := len(h.agents)
	logf("connecting %d agents, %d a second", n, h.cfg.connectRate)
	tc := time.Now()
	if err := h.fleet.startAll(ctx, h.agents, h.cfg.connectRate); err != nil {
		return err
	}
	timeout := 2*time.Minute + 3*time.Duration(n/h.cfg.connectRate)*time.Second
	if _, _, err := waitOnline(ctx, h.c, nodeSet(h.agents), atLeast(n), time.Second, timeout, func(k int) { logf("%d/%d online", k, n) }); err != nil {
		return fmt.Errorf("connecting the agents: %w (%s)", err, describeCounters(sumCounters(h.agents), h.agents))
	}
	logf("all %d agents online %.1fs after the first started", n, time.Since(tc).Seconds())
	return sleep(ctx, 10*time.Second)
}

// serverCPU measures the server's CPU time over d, profiling it meanwhile
// into -profiles if set.
func (h *harness) serverCPU(ctx context.Context, d time.Duration, name string) (time.Duration, error) {
	stop, err := h.profileCPU(ctx, name)
	if err != nil {
		return 0, err
	}
	t0, err := cpuTicks(h.srv.pid())
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := sleep(ctx, d); err != nil {
		return 0, err
	}
	t1, err := cpuTicks(h.srv.pid())
	if err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if err := stop(); err != nil {
		return 0, err
	}
	return time.Duration(float64(t1-t0) / float64(h.hz) * float64(time.Second) * d.Seconds() / elapsed.Seconds()), nil
}

// profileCPU starts a CPU profile of the server when -profiles asks for
// them; the function it returns stops it and writes NAME-cpu.pprof.
func (h *harness) profileCPU(ctx context.Context, name string) (stop func() error, err error) {
	if h.cfg.profiles == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(h.cfg.profiles, 0o755); err != nil {
		return nil, err
	}
	if err := h.srv.startCPUProfile(ctx); err != nil {
		return nil, err
	}
	return func() error { return h.srv.stopCPUProfile(ctx, filepath.Join(h.cfg.profiles, name+"-cpu.pprof")) }, nil
}

// ---- storm ----

func (h *harness) storm(ctx context.Context) error {
	n := len(h.agents)
	refused0 := make([]int64, n)
	for i, a := range h.agents {
		refused0[i] = a.refused.Load()
	}
	c0 := sumCounters(h.agents)
	logf("reconnect storm: restarting the server with %d agents connected", n)
	stopped, started, err := h.restartServer(ctx)
	if err != nil {
		return err
	}
	ready := time.Now()
	logf("server stopped (%s); the new one started and answered its health check %.1fs later", stopped, ready.Sub(started).Seconds())
	nodes := nodeSet(h.agents)
	back, online, werr := waitOnline(ctx, h.c, nodes, atLeast(n), time.Second, 2*targetStorm, func(k int) { logf("%d/%d online", k, n) })
	if werr != nil && ctx.Err() != nil {
		return werr
	}
	c1 := sumCounters(h.agents).minus(c0)
	refusedAgents := 0
	for i, a := range h.agents {
		if a.refused.Load() > refused0[i] {
			refusedAgents++
		}
	}
	took := back.Sub(started)
	value := fmt.Sprintf("%.1f s", took.Seconds())
	if werr != nil {
		took, value = time.Duration(math.MaxInt64), fmt.Sprintf("%d of %d after %v", online, n, time.Since(started).Round(time.Second))
	}
	h.res.add(atMost(fmt.Sprintf("storm: all %s agents back after a server restart", thousands(n)), value, took.Seconds(), targetStorm.Seconds(), "<= 60 s"))
	h.res.add(info("storm: stopping the server with them connected", stopped.String()))
	forGood := n - online
	r := row{Metric: "storm: agents refused for good", Value: fmt.Sprintf("%d (%d refused at least once, %d refusals)", forGood, refusedAgents, c1.Refused), Target: "none", Ratio: math.NaN(), Met: yesNo(forGood == 0)}
	h.res.add(r)
	h.res.note("storm: timed from the start of the new server process (after the old one exited) to GET /v1/nodes listing every agent online (polled every second); the new server answered its health check %.1fs after it started; from the stop on, the agents lost or failed to make %d connections (the stop drops one each) in %d attempts, and the server refused %d",
		ready.Sub(started).Seconds(), c1.Lost, c1.Dials, c1.Refused)
	if msg := lastRefusal(h.agents); msg != "" && c1.Refused > 0 {
		h.res.note("storm: a refusal, as an agent logged it: %s", msg)
	}
	if werr != nil {
		logf("not all agents came back: %v", werr)
		return nil // reported in the table; the load scenario still runs
	}
	logf("all %d agents back %.1fs after the new server started (%d refusals)", n, took.Seconds(), c1.Refused)
	if err := sleep(ctx, 10*time.Second); err != nil {
		return err
	}
	return nil
}

// ---- load ----

func (h *harness) load(ctx context.Context) error {
	cfg := h.cfg
	busy := h.agents[cfg.idleAgents : cfg.idleAgents+cfg.sessions]
	kept := h.agents[:cfg.idleAgents+cfg.sessions]
	if gone := h.agents[len(kept):]; len(gone) > 0 {
		logf("load: stopping %d agents, keeping %d idle and %d for streaming sessions", len(gone), cfg.idleAgents, cfg.sessions)
		if err := stopAgents(gone); err != nil {
			return err
		}
	}
	all := nodeSet(h.agents)
	if _, _, err := waitOnline(ctx, h.c, all, exactly(len(kept)), time.Second, 2*time.Minute, nil); err != nil {
		return fmt.Errorf("waiting for the server to see the stopped agents go: %w", err)
	}

	// The measured session's node: a real agent process of its own.
	echoNode, err := h.startEchoAgent(ctx)
	if err != nil {
		return err
	}
	cli := func(args ...string) *exec.Cmd {
		cmd := exec.Command(h.bin, args...)
		cmd.Env = h.env
		return cmd
	}
	logf("load: echo round trips on %s with no stream running", echoNode)
	e, err := openEcho(h.reg, cli("exec", echoNode, "--tty", "--", "cat"))
	if err != nil {
		return err
	}
	quiet, err := e.samples(cfg.echoWarm, cfg.echoSamples, cfg.echoGap)
	if err != nil {
		return err
	}
	logf("load: echo p50 %s p99 %s with %d agents idle", fmtDur(percentile(quiet, 50)), fmtDur(percentile(quiet, 99)), len(kept))

	delay := time.Duration(float64(time.Second) / cfg.rate)
	logf("load: starting %d sessions, each printing a %d-byte line every %v", cfg.sessions, cfg.lineBytes, delay)
	st, err := startStreams(ctx, h.c, busy, streamScript(cfg.lineBytes, delay))
	defer func() {
		if st != nil {
			if err := st.stop(context.WithoutCancel(ctx)); err != nil {
				logf("load: %v", err)
			}
		}
	}()
	if err != nil {
		return err
	}
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	b0, t0 := st.bytes.Load(), time.Now()
	cpu0, err := cpuTicks(h.srv.pid())
	if err != nil {
		return err
	}
	stopProfile, err := h.profileCPU(ctx, "load")
	if err != nil {
		return err
	}
	logf("load: echo round trips while the sessions stream")
	loaded, err := e.samples(cfg.echoWarm, cfg.echoSamples, cfg.echoGap)
	if err != nil {
		return err
	}
	b1, t1 := st.bytes.Load(), time.Now()
	cpu1, err := cpuTicks(h.srv.pid())
	if err != nil {
		return err
	}
	if err := stopProfile(); err != nil {
		return err
	}
	if err := e.close(); err != nil {
		logf("load: %v", err)
	}
	if err := st.err(); err != nil {
		return err
	}
	secs := t1.Sub(t0).Seconds()
	got := float64(b1-b0) / secs
	// The terminal turns each LF into CR LF.
	nominal := float64(cfg.sessions) * cfg.rate * float64(cfg.lineBytes+1)
	serverCPU := float64(cpu1-cpu0) / float64(h.hz) / secs
	p50, p99 := percentile(loaded, 50), percentile(loaded, 99)
	logf("load: echo p50 %s p99 %s while %d sessions streamed %.0f KB/s (%.0f%% of nominal); server CPU %.2f cores",
		fmtDur(p50), fmtDur(p99), cfg.sessions, got/1e3, 100*got/nominal, serverCPU)
	h.res.add(
		atMost(fmt.Sprintf("load: echo p99, %d sessions streaming, %s agents idle", cfg.sessions, thousands(cfg.idleAgents)), fmtDur(p99), float64(p99), float64(targetEchoP99), "<= 10 ms"),
		info("load: echo p50 under that load", fmtDur(p50)),
		info("load: echo p99 with no stream running", fmtDur(percentile(quiet, 99))),
		info("load: output received by the streaming clients", fmt.Sprintf("%.0f lines/s (%.2f MB/s), %.0f%% of nominal", got/float64(cfg.lineBytes+1), got/1e6, 100*got/nominal)),
		info("load: server CPU during it", fmt.Sprintf("%.2f cores", serverCPU)),
	)
	h.res.note("load: %d sessions on distinct simulated agents, each bash printing a %d-byte line every %v (nominal %.0f lines/s, %.2f MB/s with CR LF) to a client of package client; echo: %d samples after %d warm-up, on a separate `postern agent run` node through `postern exec --tty -- cat`, over %.1fs",
		cfg.sessions, cfg.lineBytes, delay, float64(cfg.sessions)*cfg.rate, nominal/1e6, cfg.echoSamples, cfg.echoWarm, secs)
	if got < nominal/2 {
		h.res.note("load: WARNING: the streams ran at %.0f%% of the chosen rate; the machine could not sustain it (lower -rate or -sessions)", 100*got/nominal)
	}
	return nil
}

// startEchoAgent registers one more node and runs `postern agent run` for
// it as a process of its own; it returns the node id once the server lists
// it online.
func (h *harness) startEchoAgent(ctx context.Context) (string, error) {
	act, err := h.c.CreateActivation(ctx, api.CreateActivationRequest{Description: "fleet load test: measured node", ExpiresIn: "1h"})
	if err != nil {
		return "", err
	}
	dir := filepath.Join(h.tmp, "echo-agent")
	id, err := agent.Register(ctx, agent.RegisterOptions{Server: h.srv.url(), Code: act.Code, ID: act.ID, CAFile: filepath.Join(h.srv.data, "tls", "ca.crt"), Dir: dir, Name: "measured"})
	if err != nil {
		return "", err
	}
	logFile, err := os.Create(filepath.Join(h.tmp, "echo-agent.log"))
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	cmd := exec.Command(h.bin, "agent", "run", "--dir", dir, "--run-as", h.runAs)
	cmd.Env = h.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if _, err := h.reg.start("postern agent run", cmd); err != nil {
		return "", err
	}
	if _, _, err := waitOnline(ctx, h.c, map[string]bool{id.NodeID: true}, atLeast(1), 200*time.Millisecond, time.Minute, nil); err != nil {
		return "", fmt.Errorf("the measured node's agent: %w", err)
	}
	return id.NodeID, nil
}

// ---- helpers ----

// childEnv is the environment of every process the harness starts: its
// own, with a throwaway HOME, the CLI's home in the temp dir and a fixed
// TERM.
func childEnv(tmp string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "POSTERN_HOME", "POSTERN_AGENT_DIR", "TERM", "POSTERN_ADMIN_PASSWORD":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+tmp, "POSTERN_HOME="+filepath.Join(tmp, "home"), "TERM=xterm-256color")
}

func describeCounters(c counters, agents []*simAgent) string {
	s := fmt.Sprintf("%d connections open in the harness, %d attempts, %d lost, %d refused", c.Open, c.Dials, c.Lost, c.Refused)
	for _, a := range agents {
		if p := a.lastErr.Load(); p != nil {
			return s + "; last: " + *p
		}
	}
	return s
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// moduleRoot is the directory of Postern's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the fleet test inside the Postern module (go run ./bench/fleet from the repository root)")
	}
	return filepath.Dir(gomod), nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	var v float64
	fmt.Sscan(string(b), &v)
	return v
}

func nproc() int {
	n, _ := os.ReadDir("/sys/devices/system/cpu")
	c := 0
	for _, e := range n {
		if name := e.Name(); strings.HasPrefix(name, "cpu") && len(name) > 3 && name[3] >= '0' && name[3] <= '9' {
			c++
		}
	}
	return c
}

func machineLine(ctx context.Context) string {
	parts := []string{fmt.Sprintf("%d CPUs", nproc())}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				parts = append(parts, strings.TrimSpace(v))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if l, _, ok := strings.Cut(string(b), "\n"); ok {
			parts = append(parts, strings.Join(strings.Fields(l), " "))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		parts = append(parts, "Linux "+strings.TrimSpace(string(b)))
	}
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		parts = append(parts, strings.TrimPrefix(strings.TrimSpace(string(out)), "go version "))
	}
	return strings.Join(parts, ", ")
}

// commandLine is how the harness was invoked, for the report.
func commandLine(args []string) string {
	q := []string{"go", "run", "./bench/fleet"}
	return strings.Join(append(q, args...), " ")
}
