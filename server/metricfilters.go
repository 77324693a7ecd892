package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/filterpattern"
	"github.com/postern/postern/logstore"
)

// metricFilters counts the built-in log groups' events that match their
// metric filters, as CloudWatch Logs' metric filters do, and exports the
// counts as Prometheus counters named postern_logs_<namespace>_<metric>,
// labelled with the log group, the filter and the filter's dimensions.
// The filters live in the log store; the counts live in memory, from the
// server's start, as Prometheus counters do.
type metricFilters struct {
	mu      sync.Mutex // guards filters and series
	filters map[groupKey][]*compiledFilter
	series  map[string]*series // by promName and label values
}

type groupKey struct{ account, group string }

type compiledFilter struct {
	f        logstore.MetricFilter
	p        *filterpattern.Pattern
	promName string
	dimNames []string // sorted
}

type series struct {
	name   string
	labels []string // label names
	values []string
	value  float64
}

func newMetricFilters() *metricFilters {
	return &metricFilters{filters: map[groupKey][]*compiledFilter{}, series: map[string]*series{}}
}

// compile checks f the way CloudWatch's PutMetricFilter does.
func compile(f logstore.MetricFilter) (*compiledFilter, error) {
	p, err := filterpattern.Parse(f.Pattern)
	if err != nil {
		return nil, err
	}
	if err := p.CheckMetric(f.Value, f.Dimensions); err != nil {
		return nil, err
	}
	dims := make([]string, 0, len(f.Dimensions))
	for d := range f.Dimensions {
		if !validLabel(d) || d == "log_group" || d == "filter" {
			return nil, fmt.Errorf("dimension %q: want a name of letters, digits and _ other than log_group and filter", d)
		}
		dims = append(dims, d)
	}
	slices.Sort(dims)
	return &compiledFilter{f: f, p: p, promName: "postern_logs_" + promSafe(f.Namespace) + "_" + promSafe(f.MetricName), dimNames: dims}, nil
}

// conflict reports a filter other than cf (another name or group) that
// counts into the same Prometheus metric with other dimensions: one metric
// must have one set of labels, or /metrics fails for everyone.
func (m *metricFilters) conflict(cf *compiledFilter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return conflicting(m.filters, cf)
}

func conflicting(filters map[groupKey][]*compiledFilter, cf *compiledFilter) error {
	for _, fs := range filters {
		for _, o := range fs {
			same := o.f.Account == cf.f.Account && o.f.Group == cf.f.Group && o.f.Name == cf.f.Name
			if same || o.promName != cf.promName || slices.Equal(o.dimNames, cf.dimNames) {
				continue
			}
			return fmt.Errorf("metric %s/%s is already counted by filter %s of log group %s with dimensions [%s]; use the same dimensions or another metric name",
				cf.f.Namespace, cf.f.MetricName, o.f.Name, o.f.Group, strings.Join(o.dimNames, ", "))
		}
	}
	return nil
}

// load replaces the filters with the store's.
func (m *metricFilters) load(ctx context.Context, ls LogStore, logf func(string, ...any)) error {
	fs, err := ls.MetricFilters(ctx, "")
	if err != nil {
		return err
	}
	filters := map[groupKey][]*compiledFilter{}
	for _, f := range fs {
		cf, err := compile(f)
		if err != nil {
			logf("server: metric filter %s of log group %s: %v; ignoring it", f.Name, f.Group, err)
			continue
		}
		if err := conflicting(filters, cf); err != nil {
			logf("server: metric filter %s of log group %s: %v; ignoring it", f.Name, f.Group, err)
			continue
		}
		k := groupKey{f.Account, f.Group}
		filters[k] = append(filters[k], cf)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.filters = filters
	m.dropStale()
	return nil
}

// dropStale drops the counts of filters deleted, or replaced with other
// dimensions: a metric keeps one set of labels. m.mu must be held.
func (m *metricFilters) dropStale() {
	for key, se := range m.series {
		keep := false
		for _, fs := range m.filters {
			for _, cf := range fs {
				if cf.promName == se.name && slices.Equal(append([]string{"log_group", "filter"}, cf.dimNames...), se.labels) {
					keep = true
				}
			}
		}
		if !keep {
			delete(m.series, key)
		}
	}
}

// observe counts messages that arrived in an account's log group.
func (m *metricFilters) observe(account, group string, messages []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, cf := range m.filters[groupKey{account, group}] {
		for _, msg := range messages {
			v, ok := cf.p.Value(cf.f.Value, msg)
			if !ok {
				continue
			}
			labels := append([]string{"log_group", "filter"}, cf.dimNames...)
			values := []string{group, cf.f.Name}
			if len(cf.dimNames) > 0 {
				dims, ok := cf.p.Dimensions(cf.f.Dimensions, msg)
				if !ok {
					continue // CloudWatch publishes nothing without every dimension
				}
				for _, d := range cf.dimNames {
					values = append(values, dims[d])
				}
			}
			key := cf.promName + "\x00" + strings.Join(values, "\x00")
			s := m.series[key]
			if s == nil {
				s = &series{name: cf.promName, labels: labels, values: values}
				m.series[key] = s
			}
			s.value += v
		}
	}
}

// Describe sends nothing: the metrics are the users', made as filters come
// (an unchecked collector).
func (m *metricFilters) Describe(chan<- *prometheus.Desc) {}

func (m *metricFilters) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.series {
		desc := prometheus.NewDesc(s.name, "Events of log group matching a metric filter (postern logs metric-filters).", s.labels, nil)
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, s.value, s.values...)
	}
}

// promSafe makes s usable in a Prometheus metric name.
func promSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func validLabel(s string) bool {
	return s != "" && promSafe(s) == s && !(s[0] >= '0' && s[0] <= '9') && !strings.HasPrefix(s, "__")
}

func (s *Server) handlePutMetricFilter(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var req api.MetricFilter
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := s.authorize(r, authz.PutMetricFilter, logGroupEntity(c.Account, req.Group)); err != nil {
		return err
	}
	ls, err := s.logStore()
	if err != nil {
		return err
	}
	if req.Value == "" {
		req.Value = "1"
	}
	f := logstore.MetricFilter{Account: c.Account, Group: req.Group, Name: req.Name, Pattern: req.Pattern,
		Namespace: req.Namespace, MetricName: req.MetricName, Value: req.Value, Dimensions: req.Dimensions, CreatedAt: s.now()}
	cf, err := compile(f)
	if err != nil {
		return errorf(http.StatusBadRequest, "InvalidParameterException", "%v", err)
	}
	if err := s.metricFilters.conflict(cf); err != nil {
		return errorf(http.StatusConflict, "InvalidParameterException", "%v", err)
	}
	if err := ls.PutMetricFilter(r.Context(), f); err != nil {
		return logStoreError(err, "log group "+req.Group)
	}
	if err := s.metricFilters.load(r.Context(), ls, s.logf); err != nil {
		return err
	}
	s.logf("server: %s put metric filter %s on log group %s: %s -> %s/%s", c.User.Name, f.Name, f.Group, f.Pattern, f.Namespace, f.MetricName)
	writeJSON(w, http.StatusOK, req)
	return nil
}

func (s *Server) handleListMetricFilters(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.logStore()
	if err != nil {
		return err
	}
	fs, err := ls.MetricFilters(r.Context(), callerOf(r).Account)
	if err != nil {
		return err
	}
	group := r.URL.Query().Get("group")
	s.listing(r)
	out := []api.MetricFilter{}
	for _, f := range fs {
		if group != "" && f.Group != group || !s.allowed(r, authz.DescribeMetricFilters, logGroupEntity(f.Account, f.Group)) {
			continue
		}
		out = append(out, api.MetricFilter{Group: f.Group, Name: f.Name, Pattern: f.Pattern, Namespace: f.Namespace,
			MetricName: f.MetricName, Value: f.Value, Dimensions: f.Dimensions, CreationTime: f.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleDeleteMetricFilter(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	group, name := r.URL.Query().Get("group"), r.URL.Query().Get("name")
	if err := s.authorize(r, authz.DeleteMetricFilter, logGroupEntity(c.Account, group)); err != nil {
		return err
	}
	ls, err := s.logStore()
	if err != nil {
		return err
	}
	if err := ls.DeleteMetricFilter(r.Context(), c.Account, group, name); err != nil {
		if errors.Is(err, logstore.ErrNotFound) {
			return errorf(http.StatusNotFound, "ResourceNotFoundException", "log group %s has no metric filter %s", group, name)
		}
		return err
	}
	if err := s.metricFilters.load(r.Context(), ls, s.logf); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
