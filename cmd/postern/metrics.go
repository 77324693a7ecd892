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

	"github.com/postern/postern/logger"
)

// newMetricsRegistry is the registry the server reports to, with the Go
// runtime's and the process's metrics beside Postern's.
func newMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics serves h (the server's MetricsHandler, which asks for a
// token allowed GetMetrics) at /metrics on addr until ctx ends: over HTTPS
// with the server's certificate (tc), or plain HTTP when addr is a
// loopback address. It returns the URL. Loopback is no reason to skip the
// token: every local user and process can reach it.
func serveMetrics(ctx context.Context, addr string, h http.Handler, tc *tls.Config, logf logger.Logf) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("--metrics-listen: %w", err)
	}
	// Listeners are TLS-only, with the server's certificate; plain HTTP
	// only on loopback, for a scraper on the same host.
	scheme := "http"
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		ln, scheme = tls.NewListener(ln, tc), "https"
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	// A scrape is one small request; nobody gets to hold a connection
	// open for free.
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	go func() {
		if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
			logf("metrics listener: %v", err)
		}
	}()
	u := fmt.Sprintf("%s://%s/metrics", scheme, ln.Addr())
	logf("metrics on %s (bearer token allowed GetMetrics: postern tokens create --name prometheus --scope GetMetrics)", u)
	return u, nil
}
