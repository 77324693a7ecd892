package server

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/postern/postern/logstore"
	"github.com/postern/postern/store"
)

// TestMetricFilterReachesOtherServer: two servers sharing a database and a
// log store (as on PostgreSQL); a metric filter put on one is counted by
// the other, which reloads its filters when the configuration stamp moves,
// and dropped there when it is deleted.
func TestMetricFilterReachesOtherServer(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ls, err := logstore.Open(ctx, filepath.Join(dir, "logs.db"), logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	start := func(name string) *Server {
		cfg := Config{DataDir: filepath.Join(dir, name), Store: st, LogStore: ls, Logf: t.Logf}
		if name != "a" { // the first server's CA is the others'
			caDir := filepath.Join(dir, "a", "tls")
			cfg.CACertFile, cfg.CAKeyFile = filepath.Join(caDir, "ca.crt"), filepath.Join(caDir, "ca.key")
		}
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	a, b := start("a"), start("b")
	if err := ls.CreateGroup(ctx, logstore.Group{Account: store.DefaultAccount, Name: "/g"}); err != nil {
		t.Fatal(err)
	}
	has := func(s *Server) bool {
		s.metricFilters.mu.Lock()
		defer s.metricFilters.mu.Unlock()
		return len(s.metricFilters.filters[groupKey{store.DefaultAccount, "/g"}]) > 0
	}
	// The stamp is read every second; the bound only keeps a broken
	// reload from hanging the test.
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 30 s", what)
			}
		}
	}

	// As putMetricFilter does on server A.
	if err := ls.PutMetricFilter(ctx, logstore.MetricFilter{Account: store.DefaultAccount, Group: "/g", Name: "f",
		Pattern: "ERROR", Namespace: "NS", MetricName: "Errors", Value: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.metricFilters.load(ctx, ls); err != nil {
		t.Fatal(err)
	}
	a.configChanged()
	waitUntil("server B counting with the filter put on A", func() bool { return has(b) })

	// And as deleteMetricFilter does.
	if err := ls.DeleteMetricFilter(ctx, store.DefaultAccount, "/g", "f"); err != nil {
		t.Fatal(err)
	}
	if err := a.metricFilters.load(ctx, ls); err != nil {
		t.Fatal(err)
	}
	a.configChanged()
	waitUntil("server B dropping the filter deleted on A", func() bool { return !has(b) })
}
