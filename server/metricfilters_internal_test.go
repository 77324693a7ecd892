package server

import (
	"fmt"
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
	m := newMetricFilters()
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
	reg.MustRegister(m)
	if got := gather(t, reg); got != `postern_logs_NS_Failed{filter="f",log_group="g",user="alice"} 1` {
		t.Fatalf("gathered %s", got)
	}

	put(map[string]string{"node": "$.node"})
	// What load does after a replacement, without a store.
	m.mu.Lock()
	m.dropStale()
	m.mu.Unlock()
	m.observe("a", "g", []string{`{"exitCode":2,"user":"alice","node":"n1"}`})
	if got := gather(t, reg); got != `postern_logs_NS_Failed{filter="f",log_group="g",node="n1"} 1` {
		t.Errorf("after replacing the dimensions: %s", got)
	}
}

// gather renders what reg exports, one series a line.
func gather(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var lines []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			lines = append(lines, fmt.Sprintf("%s{%s} %g", mf.GetName(), strings.Join(ls, ","), m.GetCounter().GetValue()))
		}
	}
	return strings.Join(lines, "\n")
}
