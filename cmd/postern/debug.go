package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	rpprof "runtime/pprof"
	"sync"
	"time"

	"github.com/postern/postern/logger"
)

// serveDebug serves Go's profiler on addr until ctx ends. It is plain
// HTTP without authentication, so anything but a loopback address is
// refused.
//
// Besides net/http/pprof's handlers it serves a CPU profile whose length
// need not be known up front (the benchmark profiles a whole bulk run):
//
//	POST /debug/postern/cpuprofile/start   starts it (409 if a CPU profile already runs)
//	POST /debug/postern/cpuprofile/stop    stops it and returns the profile (409 if none runs)
//
// The profile is the same gzipped protobuf as /debug/pprof/profile's; the
// process has one CPU profiler, so either one runs at a time. A profile
// that is started and never stopped runs until the process exits.
func serveDebug(ctx context.Context, addr string, logf logger.Logf) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--debug-listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--debug-listen %q: the profiler has no authentication; use a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--debug-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	var cp cpuProfile
	mux.HandleFunc("/debug/postern/cpuprofile/start", cp.start)
	mux.HandleFunc("/debug/postern/cpuprofile/stop", cp.stop)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	go func() {
		if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
			logf("debug listener: %v", err)
		}
	}()
	logf("profiler on http://%s/debug/pprof/", ln.Addr())
	return nil
}

// cpuProfile is the CPU profile of the start and stop handlers.
type cpuProfile struct {
	mu  sync.Mutex
	buf *bytes.Buffer // where the running profile goes; nil: none runs
}

// post refuses what is not a POST, and requests from web pages: a page in
// a browser on this machine can send a plain POST to a loopback address,
// and browsers mark such requests with Origin.
func post(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return false
	}
	if r.Header.Get("Origin") != "" {
		http.Error(w, "requests from web pages are refused", http.StatusForbidden)
		return false
	}
	return true
}

func (c *cpuProfile) start(w http.ResponseWriter, r *http.Request) {
	if !post(w, r) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf != nil {
		http.Error(w, "a CPU profile is already running; POST /debug/postern/cpuprofile/stop first", http.StatusConflict)
		return
	}
	buf := new(bytes.Buffer)
	if err := rpprof.StartCPUProfile(buf); err != nil {
		// Another profiler, such as /debug/pprof/profile, is running.
		http.Error(w, "cannot start a CPU profile: "+err.Error(), http.StatusConflict)
		return
	}
	c.buf = buf
	fmt.Fprintln(w, "CPU profile started")
}

func (c *cpuProfile) stop(w http.ResponseWriter, r *http.Request) {
	if !post(w, r) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		http.Error(w, "no CPU profile is running; POST /debug/postern/cpuprofile/start first", http.StatusConflict)
		return
	}
	rpprof.StopCPUProfile() // returns once the profile is written to c.buf
	b := c.buf.Bytes()
	c.buf = nil
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="cpu.pprof"`)
	w.Write(b)
}
