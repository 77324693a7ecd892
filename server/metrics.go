package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics. Without a registry they
// are still counted, just not exported.
type metrics struct {
	deliveries    *prometheus.CounterVec   // destination, artifact, result
	streamLatency *prometheus.HistogramVec // destination
}

func newMetrics(s *Server, reg prometheus.Registerer) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postern_deliveries_total",
			Help: "Attempts to deliver a session artifact to a destination, by result (delivered or failed).",
		}, []string{"destination", "artifact", "result"}),
		streamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "postern_stream_event_latency_seconds",
			Help:    "From a line's output on the node to the destination acknowledging its streamed event.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30, 60},
		}, []string{"destination"}),
	}
	if reg == nil {
		return m
	}
	backlog := func(value func(n int, oldest time.Time) float64) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
			defer cancel()
			n, oldest, err := s.store.DeliveryBacklog(ctx)
			if err != nil {
				s.logf("server: metrics: %v", err)
				return 0
			}
			return value(n, oldest)
		}
	}
	outbox := func(value func(bytes int64) float64) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
			defer cancel()
			n, _, err := s.outbox.size(ctx)
			if err != nil {
				s.logf("server: metrics: %v", err)
				return 0
			}
			return value(n)
		}
	}
	reg.MustRegister(s.metricFilters)
	reg.MustRegister(m.deliveries, m.streamLatency,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "postern_client_catchup_records_total",
			Help: "Journal records read to serve clients further behind than the relay's memory (resumes, late watchers, slow readers).",
		}, func() float64 { return float64(s.catchupRecords.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "postern_outbox_bytes",
			Help: "Bytes of session recordings the delivery outbox holds: those of sessions with an artifact not yet delivered.",
		}, outbox(func(n int64) float64 { return float64(n) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "postern_outbox_limit_bytes",
			Help: "The outbox's bound (outboxMaxBytes); at it, sessions that name a log destination are refused.",
		}, func() float64 { return float64(s.outbox.max) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "postern_outbox_full",
			Help: "1 while the outbox is at its bound and sessions that name a log destination are refused; alert on it.",
		}, outbox(func(n int64) float64 {
			if n >= s.outbox.max {
				return 1
			}
			return 0
		})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "postern_delivery_backlog",
			Help: "Session artifacts not yet delivered to their destinations (waiting for their sessions to end, pending or failing).",
		}, backlog(func(n int, _ time.Time) float64 { return float64(n) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "postern_delivery_backlog_oldest_seconds",
			Help: "Age of the oldest undelivered artifact's session; 0 when none is owed.",
		}, backlog(func(n int, oldest time.Time) float64 {
			if n == 0 || oldest.IsZero() {
				return 0
			}
			return s.now().Sub(oldest).Seconds()
		})),
	)
	return m
}
