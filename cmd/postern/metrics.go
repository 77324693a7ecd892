package main

import (
	"context"
	"crypto/tls"
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

// serveMetrics serves reg at /metrics on addr until ctx ends: over HTTPS
// with the server's certificate (tc), or plain HTTP when addr is a
// loopback address. It exposes counts, not session content; keep it off
// the public internet all the same.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, tc *tls.Config, logf logger.Logf) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-listen: %w", err)
	}
	// Listeners are TLS-only, with the server's certificate; plain HTTP
	// only on loopback, for a scraper on the same host.
	scheme := "http"
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		ln, scheme = tls.NewListener(ln, tc), "https"
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
	logf("metrics on %s://%s/metrics", scheme, ln.Addr())
	return nil
}
