package logstore_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/postern/postern/logstore"
	"github.com/postern/postern/logstore/internal/pgdb"
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
