package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// subscriptionMetrics exports what reads log groups onward (subscription
// filters' delivery streams, event rules' targets, archives): what each
// delivered and failed, and what each source still owes and since when.
// They are read from the firehose worker and the log store at each
// scrape, so there is nothing to keep in step.
type subscriptionMetrics struct{ s *Server }

var (
	subObjectsDesc = prometheus.NewDesc("postern_delivery_stream_objects_total",
		"Objects (or, for webhooks and rules, batches of records) a delivery stream delivered since the server started.", []string{"stream"}, nil)
	subEventsDesc = prometheus.NewDesc("postern_delivery_stream_events_total",
		"Log events a delivery stream delivered since the server started.", []string{"stream"}, nil)
	subErrorsDesc = prometheus.NewDesc("postern_delivery_stream_refused_total",
		"Batches or records a destination refused for good, sent to the error prefix or the dead letters.", []string{"stream"}, nil)
	subFailingDesc = prometheus.NewDesc("postern_delivery_stream_failing",
		"1 while a delivery stream's last attempt failed.", []string{"stream"}, nil)
	subBufferedDesc = prometheus.NewDesc("postern_delivery_stream_buffered_bytes",
		"Bytes a delivery stream holds in memory, not yet delivered.", []string{"stream"}, nil)
	subBacklogDesc = prometheus.NewDesc("postern_subscription_backlog_events",
		"Events of a log group a reader (subscription filter, rule target, archive) has yet to deliver.", []string{"account", "log_group", "reader"}, nil)
	subOldestDesc = prometheus.NewDesc("postern_subscription_oldest_pending_seconds",
		"Age of the oldest event a reader has yet to deliver; 0 when it owes nothing.", []string{"account", "log_group", "reader"}, nil)
)

func (m subscriptionMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{subObjectsDesc, subEventsDesc, subErrorsDesc, subFailingDesc, subBufferedDesc, subBacklogDesc, subOldestDesc} {
		ch <- d
	}
}

func (m subscriptionMetrics) Collect(ch chan<- prometheus.Metric) {
	s := m.s
	if s.firehose == nil || s.cfg.LogStore == nil {
		return
	}
	for arn, st := range s.firehose.Status() {
		failing := 0.0
		if st.LastError != "" {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(subObjectsDesc, prometheus.CounterValue, float64(st.Objects), arn)
		ch <- prometheus.MustNewConstMetric(subEventsDesc, prometheus.CounterValue, float64(st.Events), arn)
		ch <- prometheus.MustNewConstMetric(subErrorsDesc, prometheus.CounterValue, float64(st.ErrorObjects), arn)
		ch <- prometheus.MustNewConstMetric(subFailingDesc, prometheus.GaugeValue, failing, arn)
		ch <- prometheus.MustNewConstMetric(subBufferedDesc, prometheus.GaugeValue, float64(st.Buffered), arn)
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	srcs, err := s.subscriptions().Sources(ctx)
	if err != nil {
		s.logf("server: metrics: %v", err)
		return
	}
	now := s.now()
	for _, src := range srcs {
		n, oldest, err := s.cfg.LogStore.Backlog(ctx, src.Account, src.Group, src.Cursor)
		if err != nil {
			continue
		}
		age := 0.0
		if n > 0 && !oldest.IsZero() {
			age = now.Sub(oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(subBacklogDesc, prometheus.GaugeValue, float64(n), src.Account, src.Group, src.Filter)
		ch <- prometheus.MustNewConstMetric(subOldestDesc, prometheus.GaugeValue, age, src.Account, src.Group, src.Filter)
	}
}
