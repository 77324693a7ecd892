package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

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
// server's start, as Prometheus counters do. Each account sees its own
// (forAccount).
//
// Dimension values come from the events, so they are bounded twice. What
// they may read: never the fields that hold what a session typed or showed
// (contentFields), nor a space-delimited pattern's words, which can fall
// anywhere in an event's text; a label is readable by whoever scrapes
// /metrics, without the log group's permission or key. And how many: as
// CloudWatch Logs disables a filter that makes 1,000 dimension values in a
// while, a filter here keeps at most maxSeries combinations of values;
// further new ones count under overflowValue in every dimension, so the
// totals stay right, and postern_metric_filter_overflow_events_total says
// how many events went there.
type metricFilters struct {
	maxSeries int
	logf      func(string, ...any)

	mu      sync.Mutex // guards filters and counts
	filters map[groupKey][]*compiledFilter
	counts  map[filterKey]*filterCounts
}

// DefaultMetricFilterMaxSeries is how many combinations of dimension
// values a metric filter counts separately by default.
const DefaultMetricFilterMaxSeries = 100

const (
	// overflowValue is every dimension's value of the series that counts
	// a filter's events past its maxSeries, or with a value that cannot
	// be a label.
	overflowValue = "_other"
	// maxDimensionValue bounds a dimension value, in bytes: CloudWatch's
	// limit for one.
	maxDimensionValue = 1024
)

// contentFields are the properties of Postern's session events that hold
// what a session showed (sessionData) or ran (command): passwords typed on
// a command line included. Metric values and dimensions may not read them;
// patterns may match on them, which only counts.
var contentFields = []string{"sessionData", "command"}

type groupKey struct{ account, group string }

type filterKey struct{ account, group, name string }

type compiledFilter struct {
	f        logstore.MetricFilter
	p        *filterpattern.Pattern
	promName string
	dimNames []string // sorted
}

// filterCounts are one filter's series.
type filterCounts struct {
	promName string
	dimNames []string
	series   map[string]*series // by dimension values, NUL-joined
	// overflow counts the events counted under overflowValue.
	overflow float64
	// warned is set once the server has logged that the filter overflowed.
	warned bool
}

type series struct {
	values []string // dimension values, in dimNames' order
	value  float64
}

func newMetricFilters(maxSeries int, logf func(string, ...any)) *metricFilters {
	if maxSeries <= 0 {
		maxSeries = DefaultMetricFilterMaxSeries
	}
	return &metricFilters{maxSeries: maxSeries, logf: logf, filters: map[groupKey][]*compiledFilter{}, counts: map[filterKey]*filterCounts{}}
}

// compile checks f the way CloudWatch's PutMetricFilter does, and that its
// value and dimensions read no session content.
func compile(f logstore.MetricFilter) (*compiledFilter, error) {
	p, err := filterpattern.Parse(f.Pattern)
	if err != nil {
		return nil, err
	}
	if err := p.CheckMetric(f.Value, f.Dimensions); err != nil {
		return nil, err
	}
	if err := checkContent(p, "metric value", f.Value); err != nil {
		return nil, err
	}
	dims := make([]string, 0, len(f.Dimensions))
	for d, spec := range f.Dimensions {
		if !validLabel(d) || d == "log_group" || d == "filter" {
			return nil, fmt.Errorf("dimension %q: want a name of letters, digits and _ other than log_group and filter", d)
		}
		if err := checkContent(p, fmt.Sprintf("dimension %q", d), spec); err != nil {
			return nil, err
		}
		dims = append(dims, d)
	}
	slices.Sort(dims)
	return &compiledFilter{f: f, p: p, promName: "postern_logs_" + promSafe(f.Namespace) + "_" + promSafe(f.MetricName), dimNames: dims}, nil
}

// checkContent refuses a metric value or dimension (what) that reads spec
// when spec is a field holding session content.
func checkContent(p *filterpattern.Pattern, what, spec string) error {
	if !strings.HasPrefix(strings.TrimSpace(spec), "$") {
		return nil // a number
	}
	root, err := p.FieldRoot(spec)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	const why = "metric labels and values are readable by whoever may scrape /metrics (GetMetrics), without the log group's read permission or key"
	switch {
	case root == "":
		return fmt.Errorf("%s %s: a space-delimited field is a word of the event's text wherever it falls, typed commands and output included; %s. Use a JSON pattern and a field such as $.userIdentity.arn", what, strings.TrimSpace(spec), why)
	case slices.Contains(contentFields, root):
		return fmt.Errorf("%s %s: $.%s holds what sessions typed or showed, secrets included; %s. Count such events with a pattern instead ({ $.command = \"sudo*\" }) and read them with postern logs query", what, strings.TrimSpace(spec), root, why)
	}
	return nil
}

// conflict reports a filter other than cf (another name or group) of the
// same account that counts into the same Prometheus metric with other
// dimensions: one metric must have one set of labels, or /metrics fails.
func (m *metricFilters) conflict(cf *compiledFilter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return conflicting(m.filters, cf)
}

func conflicting(filters map[groupKey][]*compiledFilter, cf *compiledFilter) error {
	for k, fs := range filters {
		if k.account != cf.f.Account {
			continue // each account has its own /metrics (forAccount)
		}
		for _, o := range fs {
			same := o.f.Group == cf.f.Group && o.f.Name == cf.f.Name
			if same || o.promName != cf.promName || slices.Equal(o.dimNames, cf.dimNames) {
				continue
			}
			return fmt.Errorf("metric %s/%s is already counted by filter %s of log group %s with dimensions [%s]; use the same dimensions or another metric name",
				cf.f.Namespace, cf.f.MetricName, o.f.Name, o.f.Group, strings.Join(o.dimNames, ", "))
		}
	}
	return nil
}

// filterSource is where load finds the filters: the log store.
type filterSource interface {
	MetricFilters(ctx context.Context, account string) ([]logstore.MetricFilter, error)
}

// load replaces the filters with the store's.
func (m *metricFilters) load(ctx context.Context, ls filterSource) error {
	fs, err := ls.MetricFilters(ctx, "")
	if err != nil {
		return err
	}
	filters := map[groupKey][]*compiledFilter{}
	for _, f := range fs {
		cf, err := compile(f)
		if err != nil {
			m.logf("server: metric filter %s of log group %s: %v; ignoring it", f.Name, f.Group, err)
			continue
		}
		if err := conflicting(filters, cf); err != nil {
			m.logf("server: metric filter %s of log group %s: %v; ignoring it", f.Name, f.Group, err)
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

// dropStale drops the counts of filters deleted, or replaced with another
// metric or other dimensions: a metric keeps one set of labels. m.mu must
// be held.
func (m *metricFilters) dropStale() {
	for k, fc := range m.counts {
		keep := false
		for _, cf := range m.filters[groupKey{k.account, k.group}] {
			if cf.f.Name == k.name && cf.promName == fc.promName && slices.Equal(cf.dimNames, fc.dimNames) {
				keep = true
			}
		}
		if !keep {
			delete(m.counts, k)
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
			var values []string
			if len(cf.dimNames) > 0 {
				dims, ok := cf.p.Dimensions(cf.f.Dimensions, msg)
				if !ok {
					continue // CloudWatch publishes nothing without every dimension
				}
				values = make([]string, len(cf.dimNames))
				for i, d := range cf.dimNames {
					values[i] = dims[d]
				}
			}
			m.count(filterKey{account, group, cf.f.Name}, cf, values, v)
		}
	}
}

// count adds v to the filter's series of values, or to its overflow
// series. m.mu must be held.
func (m *metricFilters) count(k filterKey, cf *compiledFilter, values []string, v float64) {
	fc := m.counts[k]
	if fc == nil {
		fc = &filterCounts{promName: cf.promName, dimNames: cf.dimNames, series: map[string]*series{}}
		m.counts[k] = fc
	}
	key := strings.Join(values, "\x00")
	s := fc.series[key]
	if s == nil && len(values) > 0 {
		other := slices.Repeat([]string{overflowValue}, len(values))
		otherKey := strings.Join(other, "\x00")
		distinct := len(fc.series)
		if _, ok := fc.series[otherKey]; ok {
			distinct--
		}
		if reason := unlabelable(values, distinct >= m.maxSeries, m.maxSeries); reason != "" {
			fc.overflow++
			if !fc.warned {
				fc.warned = true
				m.logf("server: metric filter %s of log group %s (account %s): %s; such events count with every dimension %q (postern_metric_filter_overflow_events_total)",
					k.name, k.group, k.account, reason, overflowValue)
			}
			key, values = otherKey, other
			s = fc.series[key]
		}
	}
	if s == nil {
		s = &series{values: values}
		fc.series[key] = s
	}
	s.value += v
}

// unlabelable says why dimension values go to the overflow series, or "".
func unlabelable(values []string, full bool, max int) string {
	if full {
		return fmt.Sprintf("it has counted %d combinations of dimension values, the most it may (metricFilterMaxSeries)", max)
	}
	for _, v := range values {
		if len(v) > maxDimensionValue {
			return fmt.Sprintf("a dimension value is longer than %d bytes", maxDimensionValue)
		}
		if !utf8.ValidString(v) {
			return "a dimension value is not UTF-8"
		}
	}
	return ""
}

// forAccount is the account's metric filters' counts, for its /metrics.
func (m *metricFilters) forAccount(account string) prometheus.Collector {
	return accountFilters{m: m, account: account}
}

// accountFilters is an unchecked collector (Describe sends nothing): its
// metrics are the users', made as filters come.
type accountFilters struct {
	m       *metricFilters
	account string
}

func (accountFilters) Describe(chan<- *prometheus.Desc) {}

var overflowDesc = prometheus.NewDesc("postern_metric_filter_overflow_events_total",
	"Events a metric filter with dimensions counted under the dimension value "+overflowValue+": past its limit of distinct dimension values (metricFilterMaxSeries), or with a value too long or not UTF-8.",
	[]string{"log_group", "filter"}, nil)

func (a accountFilters) Collect(ch chan<- prometheus.Metric) {
	m := a.m
	m.mu.Lock()
	defer m.mu.Unlock()
	send := func(pm prometheus.Metric, err error) {
		if err != nil {
			m.logf("server: metrics: %v", err) // a bug: values are checked as they are counted
			return
		}
		ch <- pm
	}
	for k, fc := range m.counts {
		if k.account != a.account {
			continue
		}
		desc := prometheus.NewDesc(fc.promName, "Events of log group matching a metric filter (postern logs metric-filters).",
			append([]string{"log_group", "filter"}, fc.dimNames...), nil)
		for _, s := range fc.series {
			send(prometheus.NewConstMetric(desc, prometheus.CounterValue, s.value, append([]string{k.group, k.name}, s.values...)...))
		}
		if len(fc.dimNames) > 0 {
			send(prometheus.NewConstMetric(overflowDesc, prometheus.CounterValue, fc.overflow, k.group, k.name))
		}
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
	var req api.MetricFilter
	if err := readJSON(r, &req); err != nil {
		return err
	}
	out, err := s.putMetricFilter(r, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// putMetricFilter authorizes and puts a metric filter, for the native
// API and CloudWatch Logs'.
func (s *Server) putMetricFilter(r *http.Request, req api.MetricFilter) (api.MetricFilter, error) {
	c := callerOf(r)
	if err := s.authorize(r, authz.PutMetricFilter, logGroupEntity(c.Account, req.Group)); err != nil {
		return req, err
	}
	ls, err := s.logStore()
	if err != nil {
		return req, err
	}
	if req.Value == "" {
		req.Value = "1"
	}
	f := logstore.MetricFilter{Account: c.Account, Group: req.Group, Name: req.Name, Pattern: req.Pattern,
		Namespace: req.Namespace, MetricName: req.MetricName, Value: req.Value, Dimensions: req.Dimensions, CreatedAt: s.now()}
	cf, err := compile(f)
	if err != nil {
		return req, errorf(http.StatusBadRequest, api.CodeInvalidParameterException, "%v", err)
	}
	if err := s.metricFilters.conflict(cf); err != nil {
		return req, errorf(http.StatusConflict, api.CodeInvalidParameterException, "%v", err)
	}
	if err := ls.PutMetricFilter(r.Context(), f); err != nil {
		return req, logStoreError(err, "log group "+req.Group)
	}
	if err := s.metricFilters.load(r.Context(), ls); err != nil {
		return req, err
	}
	s.configChanged() // the other servers count with it too
	s.logf("server: %s put metric filter %s on log group %s: %s -> %s/%s", c.User.Name, f.Name, f.Group, f.Pattern, f.Namespace, f.MetricName)
	return req, nil
}

func (s *Server) handleListMetricFilters(w http.ResponseWriter, r *http.Request) error {
	out, err := s.listMetricFilters(r, r.URL.Query().Get("group"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listMetricFilters lists the metric filters (of group, if not empty)
// the caller may describe.
func (s *Server) listMetricFilters(r *http.Request, group string) ([]api.MetricFilter, error) {
	ls, err := s.logStore()
	if err != nil {
		return nil, err
	}
	fs, err := ls.MetricFilters(r.Context(), callerOf(r).Account)
	if err != nil {
		return nil, err
	}
	s.listing(r)
	out := []api.MetricFilter{}
	for _, f := range fs {
		if group != "" && f.Group != group || !s.allowed(r, authz.DescribeMetricFilters, logGroupEntity(f.Account, f.Group)) {
			continue
		}
		out = append(out, api.MetricFilter{Group: f.Group, Name: f.Name, Pattern: f.Pattern, Namespace: f.Namespace,
			MetricName: f.MetricName, Value: f.Value, Dimensions: f.Dimensions, CreationTime: f.CreatedAt})
	}
	return out, nil
}

func (s *Server) handleDeleteMetricFilter(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteMetricFilter(r, r.URL.Query().Get("group"), r.URL.Query().Get("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteMetricFilter authorizes and deletes a group's metric filter.
func (s *Server) deleteMetricFilter(r *http.Request, group, name string) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.DeleteMetricFilter, logGroupEntity(c.Account, group)); err != nil {
		return err
	}
	ls, err := s.logStore()
	if err != nil {
		return err
	}
	if err := ls.DeleteMetricFilter(r.Context(), c.Account, group, name); err != nil {
		if errors.Is(err, logstore.ErrNotFound) {
			return errorf(http.StatusNotFound, api.CodeResourceNotFoundException, "log group %s has no metric filter %s", group, name)
		}
		return err
	}
	if err := s.metricFilters.load(r.Context(), ls); err != nil {
		return err
	}
	s.configChanged() // the other servers stop counting it too
	return nil
}
