package logstore_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/postern/postern/logstore"
	"github.com/postern/postern/logstore/internal/pgdb"
	"github.com/postern/postern/store/postgres/pgtest"
)

// TestOnPostgres runs the store's tests again with their stores in
// PostgreSQL (package pgtest's server): the same behaviour from the same
// queries, rewritten for it (db.go).
func TestOnPostgres(t *testing.T) {
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"Groups", TestGroups},
		{"Validation", TestValidation},
		{"PutEvents", TestPutEvents},
		{"ReplaceStream", TestReplaceStream},
		{"EventsPaging", TestEventsPaging},
		{"StreamStats", TestStreamStats},
		{"ExpireEvents", TestExpireEvents},
		{"Reopen", TestReopen},
		{"ConcurrentPutEvents", TestConcurrentPutEvents},
		{"GroupEvents", TestGroupEvents},
		{"GroupEventsContaining", TestGroupEventsContaining},
		{"ReadGroup", TestReadGroup},
		{"BatchedWritesStandAlone", TestBatchedWritesStandAlone},
		{"BatchedWritesKeepTheirStreams", TestBatchedWritesKeepTheirStreams},
		{"MetricFilters", TestMetricFilters},
		{"SealedGroupKeyPolicy", TestSealedGroupKeyPolicy},
		{"SubscriptionFilters", TestSubscriptionFilters},
		{"DeliveryStreamRecords", TestDeliveryStreamRecords},
		{"SharedByServers", testSharedByServers},
	} {
		t.Run(tc.name, tc.test)
	}
}

// testSharedByServers: two stores on one PostgreSQL database, as two
// servers, write one group's streams at once while a reader follows the
// group from a third, paging by ID as a tail and a subscription do. The
// reader sees every event exactly once, whichever server wrote it, because
// a group's IDs are in commit order (lockGroup); a reader that passed over
// an event committed late would miss it.
func testSharedByServers(t *testing.T) {
	if !pgdb.Selected(t) {
		t.Skip("PostgreSQL only")
	}
	c := newClock()
	path := t.TempDir() + "/shared"
	servers := []*logstore.Store{open(t, path, c), open(t, path, c)}
	reader := open(t, path, c)
	ctx := t.Context()
	mustCreate(t, servers[0], logstore.Group{Account: acct, Name: "/g"})

	const writers, batches, perBatch = 4, 25, 8
	want := len(servers) * writers * batches * perBatch
	var wg sync.WaitGroup
	for si, s := range servers {
		for w := range writers {
			wg.Go(func() {
				for b := range batches {
					var batch []logstore.Event
					for i := range perBatch {
						batch = append(batch, ev(c.Now(), fmt.Sprintf("server%d w%d b%d e%d", si, w, b, i)))
					}
					if err := s.PutEvents(ctx, acct, "/g", fmt.Sprintf("s%d-%d", si, w%2), batch); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	seen := map[string]int{}
	var last int64
	// follow reads what is there now, and reports whether it was at
	// the end.
	follow := func() bool {
		es, err := reader.GroupEvents(ctx, acct, "/g", last, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.ID <= last {
				t.Fatalf("event %d after %d", e.ID, last)
			}
			last = e.ID
			seen[e.Message]++
		}
		return len(es) == 0
	}
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()
	for done := false; !done; {
		select {
		case <-writing:
			for !follow() {
			}
			done = true
		default:
			follow()
		}
	}
	var twice []string
	for m, n := range seen {
		if n != 1 {
			twice = append(twice, m)
		}
	}
	slices.Sort(twice)
	if len(seen) != want || len(twice) > 0 {
		t.Errorf("the reader saw %d distinct events of %d; more than once: %q", len(seen), want, twice)
	}
	// Every server's counts and the index agree with what is held.
	checkStats(t, reader, acct, "/g")
	for _, s := range servers {
		if err := s.IndexIdle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rd := reader.ReadGroup(ctx, acct, "/g", logstore.ReadOptions{AnyOf: [][]string{{"server1"}}})
	n := 0
	for e, ok := rd.Next(); ok; e, ok = rd.Next() {
		if e.Stream[:2] == "s1" {
			n++
		}
	}
	if rd.Err() != nil || n != want/2 {
		t.Errorf("a search for server1 found %d events, want %d (%v)", n, want/2, rd.Err())
	}
}

// TestImportSQLite moves a SQLite log store, with something in every
// table, into PostgreSQL: everything reads the same there, IDs included
// (cursors name them), new events number after the old, and a second
// import is refused unless it replaces.
func TestImportSQLite(t *testing.T) {
	c := newClock()
	ctx := t.Context()
	src := open(t, filepath.Join(t.TempDir(), "logs.db"), c)
	mustCreate(t, src, logstore.Group{Account: acct, Name: "/a", RetentionDays: 30})
	mustCreate(t, src, logstore.Group{Account: acct, Name: "/b", KMSKeyID: "alias/k"})
	// More than a segment's worth (8192), so that the index is copied.
	for b := range 30 {
		var batch []logstore.Event
		for i := range 300 {
			batch = append(batch, ev(c.Now(), fmt.Sprintf(`{"n":%d,"text":"line %d"}`, b*300+i, i)))
		}
		mustPut(t, src, acct, "/a", fmt.Sprint("s", b%3), batch...)
	}
	mustPut(t, src, acct, "/b", "odd", ev(c.Now(), "nul\x00byte"), ev(c.Now(), "naïve"), ev(c.Now(), ""))
	if err := src.PutMetricFilter(ctx, logstore.MetricFilter{Account: acct, Group: "/a", Name: "mf", Pattern: "line", Namespace: "NS", MetricName: "Lines", Value: "1", Dimensions: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	if err := src.PutSubscriptionFilter(ctx, logstore.SubscriptionFilter{Account: acct, Group: "/a", Name: "sf", Pattern: "", DestinationARN: "arn:aws:firehose:us-east-1:000000000001:deliverystream/d"}); err != nil {
		t.Fatal(err)
	}
	if err := src.SaveCursor(ctx, acct, "/a", "sf", 42); err != nil {
		t.Fatal(err)
	}
	if err := src.CreateDeliveryStream(ctx, logstore.DeliveryStream{Account: acct, Name: "d", Settings: `{"x":1}`}); err != nil {
		t.Fatal(err)
	}
	if err := src.PutRule(ctx, logstore.Rule{Account: acct, Name: "r", Pattern: `{"source":["postern"]}`, State: "ENABLED", Targets: "[]"}); err != nil {
		t.Fatal(err)
	}
	if err := src.IndexIdle(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("to PostgreSQL", func(t *testing.T) {
		dsn := pgtest.NewDatabase(t)
		dst, err := logstore.OpenPostgres(ctx, dsn, logstore.Options{Now: c.Now, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		counts, err := dst.ImportSQLite(ctx, src, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range counts {
			if tc.Source != tc.Target || tc.Source == 0 {
				t.Errorf("%+v: want the same, non-zero count in both", tc)
			}
		}
		same := func(what string, get func(*logstore.Store) (any, error)) {
			t.Helper()
			want, err1 := get(src)
			got, err2 := get(dst)
			if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s on PostgreSQL = %+v, %v; want as on SQLite %+v, %v", what, got, err2, want, err1)
			}
		}
		same("Groups", func(s *logstore.Store) (any, error) { return s.Groups(ctx, acct) })
		for _, g := range []string{"/a", "/b"} {
			same(g+" streams", func(s *logstore.Store) (any, error) { return s.Streams(ctx, acct, g) })
			same(g+" events", func(s *logstore.Store) (any, error) { return s.GroupEvents(ctx, acct, g, 0, 0) })
		}
		same("MetricFilters", func(s *logstore.Store) (any, error) { return s.MetricFilters(ctx, acct) })
		same("SubscriptionFilters", func(s *logstore.Store) (any, error) { return s.SubscriptionFilters(ctx, acct) })
		same("DeliveryStreams", func(s *logstore.Store) (any, error) { return s.DeliveryStreams(ctx, acct) })
		same("Rules", func(s *logstore.Store) (any, error) { return s.Rules(ctx, acct) })

		last, err := dst.LastEventID(ctx, acct, "/b")
		if err != nil {
			t.Fatal(err)
		}
		mustPut(t, dst, acct, "/b", "odd", ev(c.Now(), "after the move"))
		if es := mustEvents(t, dst, acct, "/b", "odd"); es[len(es)-1].ID <= last {
			t.Errorf("a new event took ID %d, not after the imported %d", es[len(es)-1].ID, last)
		}
		if _, err := dst.ImportSQLite(ctx, src, false); !errors.Is(err, logstore.ErrNotEmpty) {
			t.Errorf("importing into a full store: %v, want ErrNotEmpty", err)
		}
		if _, err := dst.ImportSQLite(ctx, src, true); err != nil {
			t.Errorf("importing with replace: %v", err)
		}
		same("/b events after replacing", func(s *logstore.Store) (any, error) { return s.GroupEvents(ctx, acct, "/b", 0, 0) })
	})
}
