//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// posternServer is a `postern server` process on loopback, restartable on
// the same data directory and ports.
type posternServer struct {
	reg                      *registry
	bin, data, logPath       string
	env                      []string
	addr, debugAddr, metrics string // host:port of the API, the profiler, /metrics
	password                 string // the bootstrap administrator's
	metricsToken             string // a bearer token allowed GetMetrics
	wantNofile               uint64 // the open-file limit the server needs

	p    *proc
	caPE []byte // the server's CA certificate (PEM), once started
	hc   *http.Client

	// Limits is what the harness found and left of the server's
	// open-file limit at its last start.
	limitFound, limitNow nofileLimit
}

// newServer picks the server's ports (fixed across restarts: the agents
// keep the URL they registered with).
func newServer(reg *registry, tmp, bin string, env []string, wantNofile uint64) (*posternServer, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	s := &posternServer{
		reg: reg, bin: bin, data: filepath.Join(tmp, "server"), logPath: filepath.Join(tmp, "server.log"),
		addr:      fmt.Sprintf("127.0.0.1:%d", ports[0]),
		debugAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		metrics:   fmt.Sprintf("127.0.0.1:%d", ports[2]),
		password:  randomToken(),
		// Metrics and the profiler are plain HTTP on loopback.
		hc:         &http.Client{Timeout: 60 * time.Second},
		wantNofile: wantNofile,
	}
	s.env = append(env, "POSTERN_ADMIN_PASSWORD="+s.password)
	return s, nil
}

func (s *posternServer) url() string { return "https://" + s.addr }
func (s *posternServer) pid() int    { return s.p.pid() }

// start starts the server and returns once it answers its health check.
func (s *posternServer) start(ctx context.Context) error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own copy
	fmt.Fprintf(logFile, "---- %s: postern server starting\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, "server", "--data", s.data, "--listen", s.addr,
		"--debug-listen", s.debugAddr, "--metrics-listen", s.metrics)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if s.p, err = s.reg.start("postern server", cmd); err != nil {
		return err
	}
	// Go raises its own soft limit to the hard one at start; check that
	// this is enough, and raise it from outside if not.
	if s.limitFound, s.limitNow, err = ensureNofile(s.pid(), s.wantNofile); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s.p.exited() {
			return fmt.Errorf("postern server exited at start (%v); see %s:\n%s", s.p.err, s.logPath, lastLines(s.logPath, 10))
		}
		if err := s.healthy(ctx); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("postern server did not answer %s/healthz within 60s (%v); see %s", s.url(), err, s.logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// healthy asks the server's health endpoint, trusting only its CA (which
// the server writes into its data directory at its first start).
func (s *posternServer) healthy(ctx context.Context) error {
	if s.caPE == nil {
		b, err := os.ReadFile(filepath.Join(s.data, "tls", "ca.crt"))
		if err != nil {
			return err
		}
		s.caPE = b
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.caPE) {
		return errors.New("the server's ca.crt holds no certificate")
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, "GET", s.url()+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz: %s", resp.Status)
	}
	return nil
}

// stop stops the server the way an operator does (SIGTERM), killing it if
// it has not exited within grace. It returns how long stopping took.
func (s *posternServer) stop(grace time.Duration, hz int64) stopResult {
	t0 := time.Now()
	ticks, _ := cpuTicks(s.pid())
	s.p.stop(grace)
	r := stopResult{Took: time.Since(t0)}
	if ps := s.p.cmd.ProcessState; ps != nil {
		total := ps.UserTime() + ps.SystemTime()
		r.CPU = total - time.Duration(float64(ticks)/float64(hz)*float64(time.Second))
		r.Killed = !ps.Exited() // ended by a signal: SIGKILL after grace
	}
	return r
}

// stopResult is how a stop of the server went.
type stopResult struct {
	Took   time.Duration // from SIGTERM to exit
	CPU    time.Duration // the server's CPU time meanwhile
	Killed bool          // it did not exit within the grace period
}

func (r stopResult) String() string {
	s := fmt.Sprintf("%.1fs, %.1f CPU-s", r.Took.Seconds(), r.CPU.Seconds())
	if r.Killed {
		s += ", killed after the grace period"
	}
	return s
}

// sampleGCs is how many garbage collections sampleMemory runs first.
const sampleGCs = 4

// memSample is the server's memory at one moment.
type memSample struct {
	RSS, RSSAnon int64 // /proc/PID/status
	Threads      int
	HeapInuse    int64 // go_memstats_heap_inuse_bytes
	StackInuse   int64 // go_memstats_stack_inuse_bytes
	// HeapFree is heap the runtime holds but does not use (idle minus
	// released): the garbage collector's room to grow, which the
	// scavenger returns to the system only slowly.
	HeapFree   int64
	GoSys      int64 // go_memstats_sys_bytes: all the runtime has mapped
	Goroutines int64 // go_goroutines
	FDs        int   // entries of /proc/PID/fd
}

// sampleMemory collects garbage in the server (the profiler's heap
// endpoint does, with gc=1) a few times, a second apart, and reads the
// process's and the runtime's numbers. Several collections, because each
// shrinks a goroutine's stack by half at most: a server that has run a
// while (the runtime collects at least every two minutes) holds its
// goroutines' stacks at the size they need.
func (s *posternServer) sampleMemory(ctx context.Context) (memSample, error) {
	for range sampleGCs {
		if err := s.get(ctx, "http://"+s.debugAddr+"/debug/pprof/heap?gc=1", io.Discard); err != nil {
			return memSample{}, fmt.Errorf("collect garbage in the server: %w", err)
		}
		select {
		case <-ctx.Done():
			return memSample{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	st, err := readMemStatus(s.pid())
	if err != nil {
		return memSample{}, err
	}
	var b strings.Builder
	if err := s.do(ctx, "GET", "http://"+s.metrics+"/metrics", &b, s.metricsToken); err != nil {
		return memSample{}, err
	}
	vals, err := parseMetrics(strings.NewReader(b.String()), "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_goroutines",
		"go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes", "go_memstats_sys_bytes")
	if err != nil {
		return memSample{}, err
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pid()))
	return memSample{
		RSS: st.RSS, RSSAnon: st.RSSAnon, Threads: st.Threads, FDs: len(fds),
		HeapInuse: int64(vals["go_memstats_heap_inuse_bytes"]), StackInuse: int64(vals["go_memstats_stack_inuse_bytes"]),
		Goroutines: int64(vals["go_goroutines"]), GoSys: int64(vals["go_memstats_sys_bytes"]),
		HeapFree: int64(vals["go_memstats_heap_idle_bytes"] - vals["go_memstats_heap_released_bytes"]),
	}, nil
}

// startCPUProfile starts a CPU profile of the server (its profiler's
// /debug/postern/cpuprofile/start), for finding out where its time goes.
func (s *posternServer) startCPUProfile(ctx context.Context) error {
	return s.post(ctx, "http://"+s.debugAddr+"/debug/postern/cpuprofile/start", io.Discard)
}

// stopCPUProfile stops the profile and writes it to path.
func (s *posternServer) stopCPUProfile(ctx context.Context, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.post(ctx, "http://"+s.debugAddr+"/debug/postern/cpuprofile/stop", f)
}

// heapProfile writes the server's heap profile to path.
func (s *posternServer) heapProfile(ctx context.Context, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.get(ctx, "http://"+s.debugAddr+"/debug/pprof/heap", f)
}

// goroutines writes the server's goroutines, grouped by stack, to path.
func (s *posternServer) goroutines(ctx context.Context, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.get(ctx, "http://"+s.debugAddr+"/debug/pprof/goroutine?debug=1", f)
}

func (s *posternServer) get(ctx context.Context, url string, w io.Writer) error {
	return s.do(ctx, "GET", url, w, "")
}

func (s *posternServer) post(ctx context.Context, url string, w io.Writer) error {
	return s.do(ctx, "POST", url, w, "")
}

func (s *posternServer) do(ctx context.Context, method, url string, w io.Writer, token string) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(b)))
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// parseMetrics reads Prometheus's text format and returns the value of
// each named metric that has no labels (gauges and counters). A name that
// is missing is an error: the numbers would be silently wrong.
func parseMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	out := map[string]float64{}
	for _, n := range names {
		fam, ok := fams[n]
		if !ok || len(fam.GetMetric()) == 0 {
			return nil, fmt.Errorf("metrics: no %s", n)
		}
		m := fam.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			out[n] = m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			out[n] = m.GetCounter().GetValue()
		case m.GetUntyped() != nil:
			out[n] = m.GetUntyped().GetValue()
		default:
			return nil, fmt.Errorf("metrics: %s is neither a gauge nor a counter", n)
		}
	}
	return out, nil
}

// freePorts returns n distinct TCP ports that were free on 127.0.0.1 a
// moment ago.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// lastLines returns the last n lines of a file, for error messages.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
