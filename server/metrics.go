package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
)

// metrics are the server's Prometheus metrics. Without a registry they
// are still counted, just not exported.
type metrics struct {
	deliveries    *prometheus.CounterVec   // destination, artifact, result
	streamLatency *prometheus.HistogramVec // destination
	// metricsRefused counts requests to /metrics refused, by reason
	// (unauthenticated, forbidden).
	metricsRefused *prometheus.CounterVec
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
		metricsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postern_metrics_requests_refused_total",
			Help: "Requests to /metrics refused: without a valid token (unauthenticated) or allowed GetMetrics (forbidden).",
		}, []string{"reason"}),
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
	reg.MustRegister(m.deliveries, m.streamLatency, m.metricsRefused, subscriptionMetrics{s},
		catchupCounter("owner", &s.catchupRecords.owner),
		catchupCounter("observer", &s.catchupRecords.observer),
		catchupCounter("ended", &s.catchupRecords.ended),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "postern_data_free_bytes",
			Help: "Free space of the data directory's filesystem at the last look.",
		}, func() float64 { return float64(s.disk.State().Free) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "postern_data_min_free_bytes",
			Help: "The free space the data directory must keep (minFreeDisk); below it new sessions and changes are refused.",
		}, func() float64 { return float64(s.disk.State().Min) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "postern_data_disk_low",
			Help: "1 while the data directory is below its minimum free space or a write failed for lack of space: new sessions and changes are refused with DiskFull; alert on it.",
		}, func() float64 {
			if s.disk.Low() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "postern_sessions_paused",
			Help: "Live sessions paused because their recordings cannot be written; they resume by themselves when they can.",
		}, func() float64 { return float64(s.pausedSessions()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "postern_audit_backlog_records",
			Help: "Audit records kept in memory because the trail could not be written; written, late, when it can be.",
		}, func() float64 { return float64(s.auditBacklog.len()) }),
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
	if rs := s.cfg.Recordings; rs != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "postern_recordings_unshipped_journals",
				Help: "Session journals not yet wholly in object storage, the recordings' system of record: running sessions, and ended ones waiting for object storage.",
			}, func() float64 { return float64(rs.Pending().Journals) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "postern_recordings_unshipped_bytes",
				Help: "Bytes of session journals that are on this server's disk only; alert when it grows: a loss of this disk would lose them.",
			}, func() float64 { return float64(rs.Pending().Bytes) }),
		)
	}
	return m
}

// MetricsHandler serves the metrics g gathers, with the caller's account's
// metric filter counts, in Prometheus' formats, to callers whose bearer
// token may GetMetrics on their account: an administrator's token, best
// one scoped to it (postern tokens create --scope GetMetrics), which a
// scraper sends as Authorization: Bearer. Metric filter labels are taken
// from log groups' events, which their read permission and key guard; the
// listener must not hand them to anyone who can reach its port. Scrapes are
// not audited (one every few seconds would bury the trail); refusals are
// counted in postern_metrics_requests_refused_total.
func (s *Server) MetricsHandler(g prometheus.Gatherer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, api.Error{Code: api.CodeMethodNotAllowed, Message: "/metrics answers GET"})
			return
		}
		c, err := s.metricsCaller(r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				s.logf("server: metrics: %v", err)
				ae = errorf(http.StatusInternalServerError, api.CodeInternalError, "internal error; see the server log")
			}
			switch ae.Status {
			case http.StatusUnauthorized:
				s.metrics.metricsRefused.WithLabelValues("unauthenticated").Inc()
				w.Header().Set("WWW-Authenticate", `Bearer realm="postern metrics"`)
			case http.StatusForbidden:
				s.metrics.metricsRefused.WithLabelValues("forbidden").Inc()
			}
			writeJSON(w, ae.Status, api.Error{Code: ae.Code, Message: ae.Msg})
			return
		}
		own := prometheus.NewRegistry()
		own.MustRegister(s.metricFilters.forAccount(c.Account))
		promhttp.HandlerFor(prometheus.Gatherers{g, own}, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	})
}

// metricsCaller authenticates a request to /metrics by its bearer token
// (never the console's cookie, which a browser would send to any port of
// the host) and checks that it may GetMetrics on its account.
func (s *Server) metricsCaller(r *http.Request) (caller, error) {
	const how = "send an API token allowed GetMetrics as Authorization: Bearer (an administrator makes one with `postern tokens create --name prometheus --scope GetMetrics`)"
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return caller{}, errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "metrics need a token: %s", how)
	}
	c, err := s.authenticate(r)
	if err != nil {
		if ae := (*apiError)(nil); errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			return caller{}, errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "%s; %s", ae.Msg, how)
		}
		return caller{}, err
	}
	d, err := s.decide(r.Context(), c, authz.GetMetrics, accountEntity(c))
	if err != nil {
		return caller{}, err
	}
	switch {
	case d.Allowed:
		return c, nil
	case slices.Equal(d.Policies, []string{"token-scope"}):
		return caller{}, errorf(http.StatusForbidden, api.CodeAccessDenied, "%s's token %s may not GetMetrics: its scopes are %v", c.User.Name, c.Token.ID, c.Token.Scopes)
	}
	return caller{}, errorf(http.StatusForbidden, api.CodeAccessDenied, "%s is not allowed to GetMetrics on account %s (%s)", c.User.Name, c.Account, d.Explain())
}

// catchupCounter is postern_client_catchup_records_total for one kind of
// client: an owner's, an observer's, or one of an ended session.
func catchupCounter(client string, n *atomic.Uint64) prometheus.CounterFunc {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "postern_client_catchup_records_total",
		Help:        "Journal records read to serve clients further behind than the relay's memory (resumes, late watchers, slow readers), or of ended sessions, by kind of client.",
		ConstLabels: prometheus.Labels{"client": client},
	}, func() float64 { return float64(n.Load()) })
}
