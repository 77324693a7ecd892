package server

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postern/postern/logstore"
)

// TestMetricFilterSeriesFollowFilters counts with a filter, replaces it with
// other dimensions, and checks that /metrics still gathers: the old label
// set is gone rather than clashing with the new one.
func TestMetricFilterSeriesFollowFilters(t *testing.T) {
	m := newMetricFilters(0, t.Logf)
	put := func(dims map[string]string) {
		t.Helper()
		cf, err := compile(logstore.MetricFilter{Account: "a", Group: "g", Name: "f", Pattern: `{ $.exitCode != 0 }`,
			Namespace: "NS", MetricName: "Failed", Value: "1", Dimensions: dims})
		if err != nil {
			t.Fatal(err)
		}
		m.mu.Lock()
		m.filters = map[groupKey][]*compiledFilter{{"a", "g"}: {cf}}
		m.mu.Unlock()
	}
	put(map[string]string{"user": "$.user"})
	m.observe("a", "g", []string{`{"exitCode":1,"user":"alice","node":"n1"}`, `{"exitCode":0,"user":"bob"}`})
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.forAccount("a"))
	if got := gather(t, reg, "postern_logs_"); got != `postern_logs_NS_Failed{filter="f",log_group="g",user="alice"} 1` {
		t.Fatalf("gathered %s", got)
	}

	put(map[string]string{"node": "$.node"})
	// What load does after a replacement, without a store.
	m.mu.Lock()
	m.dropStale()
	m.mu.Unlock()
	m.observe("a", "g", []string{`{"exitCode":2,"user":"alice","node":"n1"}`})
	if got := gather(t, reg, "postern_logs_"); got != `postern_logs_NS_Failed{filter="f",log_group="g",node="n1"} 1` {
		t.Errorf("after replacing the dimensions: %s", got)
	}
}

// gather renders what reg exports of the metrics named with prefix, one
// series a line, sorted.
func gather(t *testing.T, reg prometheus.Gatherer, prefix string) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var lines []string
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), prefix) {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			lines = append(lines, fmt.Sprintf("%s{%s} %g", mf.GetName(), strings.Join(ls, ","), m.GetCounter().GetValue()))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// putFilter installs filters as load would, without a store.
func putFilter(t *testing.T, m *metricFilters, fs ...logstore.MetricFilter) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.filters = map[groupKey][]*compiledFilter{}
	for _, f := range fs {
		if f.Value == "" {
			f.Value = "1"
		}
		cf, err := compile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := conflicting(m.filters, cf); err != nil {
			t.Fatal(err)
		}
		k := groupKey{f.Account, f.Group}
		m.filters[k] = append(m.filters[k], cf)
	}
	m.dropStale()
}

// TestMetricFilterCardinality: a filter whose dimension takes a new value
// with every event makes at most maxSeries series; the rest count under
// _other, the overflow counter says how many, and the totals stay right.
func TestMetricFilterCardinality(t *testing.T) {
	var logged []string
	m := newMetricFilters(3, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })
	putFilter(t, m,
		logstore.MetricFilter{Account: "a", Group: "g", Name: "by-user", Pattern: `{ $.exitCode != 0 }`, Namespace: "NS", MetricName: "Failed",
			Dimensions: map[string]string{"user": "$.user", "node": "$.node"}},
		logstore.MetricFilter{Account: "a", Group: "g", Name: "by-node", Pattern: `{ $.exitCode != 0 }`, Namespace: "NS", MetricName: "FailedByNode",
			Dimensions: map[string]string{"node": "$.node"}})
	var msgs []string
	for i := range 10 {
		msgs = append(msgs, fmt.Sprintf(`{"exitCode":1,"user":"u%d","node":"n"}`, i))
	}
	// Values already counted keep their series past the limit.
	msgs = append(msgs, `{"exitCode":1,"user":"u0","node":"n"}`, `{"exitCode":1,"user":"u2","node":"n"}`)
	m.observe("a", "g", msgs)
	// A value too long for a label goes to _other too.
	m.observe("a", "g", []string{`{"exitCode":1,"user":"` + strings.Repeat("x", maxDimensionValue+1) + `","node":"n"}`})

	reg := prometheus.NewRegistry()
	reg.MustRegister(m.forAccount("a"))
	want := strings.Join([]string{
		`postern_logs_NS_FailedByNode{filter="by-node",log_group="g",node="n"} 13`,
		`postern_logs_NS_Failed{filter="by-user",log_group="g",node="_other",user="_other"} 8`,
		`postern_logs_NS_Failed{filter="by-user",log_group="g",node="n",user="u0"} 2`,
		`postern_logs_NS_Failed{filter="by-user",log_group="g",node="n",user="u1"} 1`,
		`postern_logs_NS_Failed{filter="by-user",log_group="g",node="n",user="u2"} 2`,
	}, "\n")
	if got := gather(t, reg, "postern_logs_"); got != want {
		t.Errorf("series:\n%s\nwant\n%s", got, want)
	}
	want = strings.Join([]string{
		`postern_metric_filter_overflow_events_total{filter="by-node",log_group="g"} 0`,
		`postern_metric_filter_overflow_events_total{filter="by-user",log_group="g"} 8`,
	}, "\n")
	if got := gather(t, reg, "postern_metric_filter_overflow"); got != want {
		t.Errorf("overflow:\n%s\nwant\n%s", got, want)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "metric filter by-user of log group g") || !strings.Contains(logged[0], "3 combinations") {
		t.Errorf("logged %q, want one line about by-user's limit", logged)
	}
	// Memory is bounded whatever the events: a flood of new values adds
	// no series.
	for i := range 1000 {
		m.observe("a", "g", []string{fmt.Sprintf(`{"exitCode":1,"user":"flood-%d-%s","node":"n%d"}`, i, strings.Repeat("y", 500), i)})
	}
	m.mu.Lock()
	n := len(m.counts[filterKey{"a", "g", "by-user"}].series) + len(m.counts[filterKey{"a", "g", "by-node"}].series)
	m.mu.Unlock()
	if n != 4+4 {
		t.Errorf("%d series after the flood, want 8 (3 and _other per filter)", n)
	}
}

// TestMetricFilterLabelValues: a value too long for a dimension or not
// UTF-8 counts under _other even below the limit, and /metrics still
// gathers.
func TestMetricFilterLabelValues(t *testing.T) {
	m := newMetricFilters(100, t.Logf)
	putFilter(t, m, logstore.MetricFilter{Account: "a", Group: "g", Name: "f", Pattern: `{ $.n = 1 }`, Namespace: "NS", MetricName: "M",
		Dimensions: map[string]string{"v": "$.v"}})
	m.observe("a", "g", []string{
		`{"n":1,"v":"` + strings.Repeat("x", maxDimensionValue+1) + `"}`,
		"{\"n\":1,\"v\":\"bad \xff utf-8\"}",
		`{"n":1,"v":"ok"}`,
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.forAccount("a"))
	want := `postern_logs_NS_M{filter="f",log_group="g",v="_other"} 2` + "\n" + `postern_logs_NS_M{filter="f",log_group="g",v="ok"} 1`
	if got := gather(t, reg, "postern_logs_"); got != want {
		t.Errorf("series:\n%s\nwant\n%s", got, want)
	}
}

// TestMetricFiltersPerAccount: each account's /metrics shows its own
// filters' counts only, and one account's metric names do not constrain
// another's.
func TestMetricFiltersPerAccount(t *testing.T) {
	m := newMetricFilters(0, t.Logf)
	f := logstore.MetricFilter{Group: "/postern/sessions", Name: "f", Pattern: `{ $.exitCode != 0 }`, Namespace: "NS", MetricName: "Failed"}
	a, b := f, f
	a.Account, b.Account = "000000000001", "000000000002"
	a.Dimensions = map[string]string{"user": "$.user"}
	putFilter(t, m, a, b)
	m.observe(a.Account, f.Group, []string{`{"exitCode":1,"user":"alice"}`})
	m.observe(b.Account, f.Group, []string{`{"exitCode":1,"user":"bob"}`, `{"exitCode":2,"user":"bob"}`})
	for acct, want := range map[string]string{
		a.Account: `postern_logs_NS_Failed{filter="f",log_group="/postern/sessions",user="alice"} 1`,
		b.Account: `postern_logs_NS_Failed{filter="f",log_group="/postern/sessions"} 2`,
		"other":   ``,
	} {
		reg := prometheus.NewRegistry()
		reg.MustRegister(m.forAccount(acct))
		if got := gather(t, reg, "postern_logs_"); got != want {
			t.Errorf("account %s sees\n%s\nwant\n%s", acct, got, want)
		}
	}
}

// TestMetricFiltersReadNoContent: metric values and dimensions may not
// read what sessions typed or showed, which the log group's permission and
// key guard and a label would not (issue 16, finding 6: cmd=$.command put
// "export DBPASS=..." on /metrics).
func TestMetricFiltersReadNoContent(t *testing.T) {
	refused := []struct {
		pattern, value string
		dims           map[string]string
		want           string
	}{
		{`{ $.eventType = "Command" }`, "1", map[string]string{"cmd": "$.command"}, `dimension "cmd" $.command: $.command holds what sessions typed or showed`},
		{`{ $.eventType = "Command" }`, "1", map[string]string{"cmd": "$.['command']"}, `$.command holds what sessions typed or showed`},
		{`{ $.sessionId = "*" }`, "1", map[string]string{"line": "$.sessionData[0]"}, `$.sessionData holds what sessions typed or showed`},
		{`{ $.eventType = "Command" }`, "$.command", nil, `metric value $.command: $.command holds`},
		{`[version, time, rest]`, "1", map[string]string{"w": "$rest"}, `dimension "w" $rest: a space-delimited field is a word of the event's text`},
		{`[version, time, rest]`, "$3", nil, `metric value $3: a space-delimited field`},
	}
	for _, tc := range refused {
		_, err := compile(logstore.MetricFilter{Account: "a", Group: "g", Name: "f", Pattern: tc.pattern, Namespace: "NS", MetricName: "M", Value: tc.value, Dimensions: tc.dims})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "GetMetrics") {
			t.Errorf("compile(%s, value %s, dims %v) = %v, want an error saying %q and why", tc.pattern, tc.value, tc.dims, err, tc.want)
		}
	}
	// Who, where and how: fields about a session, not from it.
	for _, dims := range []map[string]string{{"user": "$.userIdentity.arn"}, {"node": "$.target.id", "runas": "$.runAsUser", "code": "$.exitCode"}} {
		if _, err := compile(logstore.MetricFilter{Account: "a", Group: "g", Name: "f", Pattern: `{ $.command = "sudo*" }`, Namespace: "NS", MetricName: "M",
			Value: "$.durationMs", Dimensions: dims}); err != nil {
			t.Errorf("dimensions %v: %v", dims, err)
		}
	}
	// A filter stored before this rule is ignored when loaded, and says why.
	var logged []string
	m := newMetricFilters(0, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })
	ls := storedFilters{{Account: "a", Group: "g", Name: "cmds", Pattern: `{ $.eventType = "Command" }`, Namespace: "NS", MetricName: "M", Value: "1",
		Dimensions: map[string]string{"cmd": "$.command"}}}
	if err := m.load(t.Context(), ls); err != nil {
		t.Fatal(err)
	}
	m.observe("a", "g", []string{`{"eventType":"Command","command":"export DBPASS=S3cr3tPassw0rd"}`})
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.forAccount("a"))
	if got := gather(t, reg, ""); got != "" {
		t.Errorf("a filter reading $.command counted:\n%s", got)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "metric filter cmds of log group g") || !strings.Contains(logged[0], "ignoring it") {
		t.Errorf("logged %q", logged)
	}
}

// storedFilters is a log store that holds only metric filters.
type storedFilters []logstore.MetricFilter

func (s storedFilters) MetricFilters(context.Context, string) ([]logstore.MetricFilter, error) {
	return s, nil
}

// FuzzMetricFilterLabels: whatever events arrive, the counts gather
// without error, every label value is one Prometheus takes, and a filter
// keeps at most maxSeries series and _other.
func FuzzMetricFilterLabels(f *testing.F) {
	for _, seed := range []string{
		`{"n":1,"a":"x","b":"y"}`,
		`{"n":1,"a":"","b":"_other"}`,
		"{\"n\":1,\"a\":\"\xff\xfe\",\"b\":1}",
		`{"n":1,"a":"\ud800","b":"\u0000"}`,
		`{"n":1,"a":true,"b":-1.5e300}`,
		`{"n":1,"a":"` + strings.Repeat("z", maxDimensionValue+1) + `","b":"y"}`,
		`not json`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		var bugs []string
		m := newMetricFilters(2, func(format string, a ...any) {
			if line := fmt.Sprintf(format, a...); strings.HasPrefix(line, "server: metrics:") {
				bugs = append(bugs, line)
			}
		})
		putFilter(t, m, logstore.MetricFilter{Account: "a", Group: "g", Name: "f", Pattern: `{ $.n = 1 }`, Namespace: "NS", MetricName: "M",
			Dimensions: map[string]string{"a": "$.a", "b": "$.b"}})
		// The message, and variations that make new values of it.
		for i := range 4 {
			m.observe("a", "g", []string{strings.Replace(msg, `"a":"`, fmt.Sprintf(`"a":"%d`, i), 1), msg})
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(m.forAccount("a"))
		mfs, err := reg.Gather()
		if err != nil || len(bugs) > 0 {
			t.Fatalf("gather after %q: %v %q", msg, err, bugs)
		}
		for _, mf := range mfs {
			if mf.GetName() == "postern_logs_NS_M" && len(mf.GetMetric()) > 3 {
				t.Fatalf("%d series after %q, want at most 2 and _other", len(mf.GetMetric()), msg)
			}
		}
	})
}
