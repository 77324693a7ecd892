package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/postern/postern/logger"
)

// newMetricsRegistry is the registry the server reports to, with the Go
// runtime's and the process's metrics beside Postern's.
func newMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics serves reg at /metrics on addr, over plain HTTP as
// Prometheus scrapes, until ctx ends. It exposes counts, not session
// content, so any address may be used; keep it off the public internet.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, logf logger.Logf) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	go func() {
		if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
			logf("metrics listener: %v", err)
		}
	}()
	logf("metrics on http://%s/metrics", ln.Addr())
	return nil
}
