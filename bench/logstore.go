//go:build linux

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/postern/postern/keys"
	"github.com/postern/postern/logquery"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/store"
)

// The log store measurement's data: what the issue names, generated here.
const (
	storeSessions = 1000
	storeEvents   = 1_000_000
	storeBatch    = 500 // events per PutEvents: a busy session's flush
)

// logStoreResult is what the log store measurement found.
type logStoreResult struct {
	Events        int     `json:"events"`
	Sessions      int     `json:"sessions"`
	IngestPerSec  float64 `json:"ingest_events_per_s"`
	SelectiveMS   float64 `json:"selective_query_ms"`
	SelectiveRows int     `json:"selective_query_rows"`
	RegexMS       float64 `json:"indexed_regex_query_ms"`
	RegexRows     int     `json:"indexed_regex_query_rows"`
	FullScanMS    float64 `json:"full_scan_regex_query_ms"`
	FullScanRows  int     `json:"full_scan_regex_query_rows"`
	IndexLagMS    float64 `json:"index_lag_ms"`
	IndexedPerSec float64 `json:"ingest_and_index_events_per_s"`
	StoredBytes   int64   `json:"stored_bytes"`
	IndexBytes    int64   `json:"index_bytes"`
}

// Queries the issue names: a selective one and a full-scan regex.
const (
	selectiveQuery = `filter command like /sudo/ | stats count(*) by userIdentity.arn`
	// A regex whose literals the full-text index narrows to a few
	// events...
	regexQuery = `filter @message like /[Pp]ermission denied|segfault/ | stats count(*) by target.id`
	// ...and one with no literal it can use (an IP address), so that every
	// event is read and matched: the full scan the issue bounds.
	fullScanQuery = `filter @message like /\d+\.\d+\.\d+\.\d+/ | stats count(*) by target.id`
)

// measureLogStore fills Postern's log store (package logstore, in this
// process, in the temp dir) with generated sessions, as the server's
// streams do, then runs queries over it as `postern logs query` does
// (package logquery over the group's events).
func measureLogStore(ctx context.Context, tmp string, res *results) error {
	const account, group = "000000000001", "/postern/sessions"
	// Sealed, as a server seals its groups: the key service over a
	// metadata store of its own.
	st, err := store.OpenSQLite(ctx, filepath.Join(tmp, "bench-postern.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.EnsureAccount(ctx, store.Account{ID: account, Name: "default"}); err != nil {
		return err
	}
	ks, err := keys.Open(ctx, st, filepath.Join(tmp, "bench-root.key"), keys.Options{})
	if err != nil {
		return err
	}
	ls, err := logstore.Open(ctx, filepath.Join(tmp, "bench-logs.db"), logstore.Options{Logf: logf, Keys: keys.LogGroupKeys{S: ks}})
	if err != nil {
		return err
	}
	defer ls.Close()
	if err := ls.CreateGroup(ctx, logstore.Group{Account: account, Name: group}); err != nil {
		return err
	}
	logf("log store: ingesting %d events of %d sessions in batches of %d", storeEvents, storeSessions, storeBatch)
	rng := rand.New(rand.NewPCG(1, 2))
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	commands := []string{"ls -la", "cd /var/log", "tail -n 50 syslog", "systemctl status nginx", "git pull", "make", "df -h", "ps aux", "sudo systemctl restart nginx", "sudo -n true"}
	t0 := time.Now().Add(-time.Hour)
	batch := make([]logstore.Event, 0, storeBatch)
	start := time.Now()
	for i := 0; i < storeEvents; {
		s := rng.IntN(storeSessions)
		user := users[s%len(users)]
		sid := fmt.Sprintf("%s-%017x", user, s)
		batch = batch[:0]
		for j := 0; j < storeBatch && i < storeEvents; j, i = j+1, i+1 {
			at := t0.Add(time.Duration(i) * time.Millisecond * 3)
			var msg string
			if rng.IntN(4) == 0 {
				c := commands[rng.IntN(len(commands))]
				msg = fmt.Sprintf(`{"eventVersion":"1.0","eventType":"Command","eventTime":%q,"awsRegion":"local","target":{"id":"mi-%017x"},"userIdentity":{"arn":"prn:postern:iam:%s:user/%s"},"runAsUser":"%s","sessionId":%q,"command":%q,"exitCode":%d,"durationMs":%d,"castOffset":%d.5}`,
					at.UTC().Format(time.RFC3339Nano), s%50, account, user, user, sid, c, rng.IntN(3)/2, rng.IntN(5000), i%3600)
			} else {
				line := fmt.Sprintf("drwxr-xr-x 2 %s %s 4096 Dec  1 04:%02d file-%d", user, user, i%60, rng.IntN(100000))
				if rng.IntN(500) == 0 {
					line = "cat: /etc/shadow: Permission denied"
				}
				msg = fmt.Sprintf(`{"eventVersion":"1.0","eventTime":%q,"awsRegion":"local","target":{"id":"mi-%017x"},"userIdentity":{"arn":"prn:postern:iam:%s:user/%s"},"runAsUser":"%s","sessionId":%q,"sessionData":[%q]}`,
					at.UTC().Format(time.RFC3339), s%50, account, user, user, sid, line)
			}
			batch = append(batch, logstore.Event{Time: at, Message: msg})
		}
		if err := ls.PutEvents(ctx, account, group, sid, batch); err != nil {
			return err
		}
	}
	r := &logStoreResult{Events: storeEvents, Sessions: storeSessions, IngestPerSec: storeEvents / time.Since(start).Seconds()}
	logf("log store: ingested %.0f events/s", r.IngestPerSec)
	// The indexer runs behind the writers; a query before it catches up
	// scans what is not indexed yet. Measure how far behind it was.
	idle := time.Now()
	if err := ls.IndexIdle(ctx); err != nil {
		return err
	}
	r.IndexLagMS = float64(time.Since(idle).Microseconds()) / 1000
	r.IndexedPerSec = storeEvents / time.Since(start).Seconds()
	g, err := ls.Group(ctx, account, group)
	if err != nil {
		return err
	}
	r.StoredBytes, r.IndexBytes = g.StoredBytes, g.IndexBytes
	logf("log store: index caught up %.0f ms after the last write (%.0f events/s ingested and indexed); %d bytes of messages, %d of index",
		r.IndexLagMS, r.IndexedPerSec, g.StoredBytes, g.IndexBytes)

	run := func(q string) (float64, int, error) {
		pq, err := logquery.Parse(q)
		if err != nil {
			return 0, 0, err
		}
		begin := time.Now()
		rd := ls.ReadGroup(ctx, account, group, logstore.QueryOptions(pq.Fields(), pq.MessageLiterals(), time.Time{}, time.Time{}))
		defer rd.Close()
		next := func() (logquery.Event, bool) {
			e, ok := rd.Next()
			return logquery.Event{Timestamp: e.Time, Ingestion: e.Ingested, Stream: e.Stream, Message: e.Message}, ok
		}
		out, err := pq.Run(ctx, next, logquery.Limits{})
		if err == nil {
			err = rd.Err()
		}
		if err != nil {
			return 0, 0, err
		}
		return float64(time.Since(begin).Microseconds()) / 1000, len(out.Rows), nil
	}
	// Best of three: the first warms SQLite's page cache, as a server's
	// would be.
	best := func(q string) (float64, int, error) {
		var ms float64
		var rows int
		for i := range 3 {
			m, n, err := run(q)
			if err != nil {
				return 0, 0, fmt.Errorf("log store: %s: %w", q, err)
			}
			if i == 0 || m < ms {
				ms, rows = m, n
			}
		}
		return ms, rows, nil
	}
	if r.SelectiveMS, r.SelectiveRows, err = best(selectiveQuery); err != nil {
		return err
	}
	if r.RegexMS, r.RegexRows, err = best(regexQuery); err != nil {
		return err
	}
	if r.FullScanMS, r.FullScanRows, err = best(fullScanQuery); err != nil {
		return err
	}
	logf("log store: selective query %.0f ms (%d rows), indexed regex query %.0f ms (%d rows), full-scan regex query %.0f ms (%d rows)",
		r.SelectiveMS, r.SelectiveRows, r.RegexMS, r.RegexRows, r.FullScanMS, r.FullScanRows)
	res.LogStore = r
	return nil
}
