package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/logstore/internal/pgdb"
)

const testAccount = "000000000001"

// fixedClock is a clock tests move by hand.
type fixedClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fixedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testSegment is the segment size of these tests: small, so that a few
// thousand events make many segments.
const testSegment = 500

// openAt opens the store at path: in SQLite, or in a PostgreSQL database
// standing for path under TestOnPostgres... (postgres_test.go).
func openAt(t *testing.T, path string, opts Options) (*Store, error) {
	t.Helper()
	if pgdb.Selected(t) {
		return OpenPostgres(t.Context(), pgdb.URL(t, path), opts)
	}
	return Open(t.Context(), path, opts)
}

func openIndexed(t *testing.T, path string, c *fixedClock) *Store {
	t.Helper()
	s, err := openAt(t, path, Options{Now: c.now, Logf: t.Logf, segmentSize: testSegment})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fillGroup writes n events of varied text (plain, escaped, non-ASCII) to
// the group in batches over a few streams, as sessions would.
func fillGroup(t *testing.T, s *Store, group string, n int, at time.Time) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	texts := []string{
		`{"eventType":"Command","command":"sudo -n true","exitCode":0}`,
		`{"eventType":"Command","command":"su\u0064o -i","exitCode":1}`,
		`{"sessionData":["cat: /etc/shadow: Permission denied"]}`,
		`{"sessionData":["\u001b[1;31mERROR\u001b[0m disk full"]}`,
		`{"sessionData":["naïve café"]}`,
		`{"sessionData":["say \"hi\" there"]}`,
		`plain text, no JSON`,
	}
	for i := 0; i < n; {
		stream := fmt.Sprintf("s%d", rng.IntN(5))
		var batch []Event
		for j := 0; j < 300 && i < n; i, j = i+1, j+1 {
			var msg string
			if rng.IntN(3) == 0 {
				msg = texts[rng.IntN(len(texts))]
			} else {
				msg = fmt.Sprintf(`{"sessionData":["event %d file-%d"]}`, i, rng.IntN(50000))
			}
			batch = append(batch, Event{Time: at.Add(time.Duration(i) * time.Millisecond), Message: msg})
		}
		if err := s.PutEvents(t.Context(), testAccount, group, stream, batch); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll reads the group with ReadGroup.
func readAll(t *testing.T, s *Store, group string, after int64, anyOf [][]string) []Event {
	t.Helper()
	rd := s.ReadGroup(t.Context(), testAccount, group, ReadOptions{After: after, AnyOf: anyOf})
	defer rd.Close()
	var out []Event
	for e, ok := rd.Next(); ok; e, ok = rd.Next() {
		out = append(out, e)
	}
	if err := rd.Err(); err != nil {
		t.Fatalf("ReadGroup: %v", err)
	}
	return out
}

// scanAll reads the group without the index, as before it existed.
func scanAll(t *testing.T, s *Store, group string, after int64, anyOf [][]string) []Event {
	t.Helper()
	var out []Event
	for {
		page, err := s.GroupEventsContaining(t.Context(), testAccount, group, after, 1000, anyOf)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].ID
	}
}

// checkSameAsScan: through the index, a read returns every event a scan
// returns, less only escaped events that do not hold the literals even
// decoded, in the same order.
func checkSameAsScan(t *testing.T, s *Store, group string, after int64, anyOf [][]string) int {
	t.Helper()
	got := readAll(t, s, group, after, anyOf)
	ref := scanAll(t, s, group, after, anyOf)
	holds := func(m string) bool {
		for _, lits := range anyOf {
			if len(lits) > 0 && !slices.ContainsFunc(lits, func(l string) bool {
				return strings.Contains(m, l) || strings.Contains(unescapeJSON(m), l)
			}) {
				return false
			}
		}
		return true
	}
	var want []Event
	for _, e := range ref {
		if holds(e.Message) {
			want = append(want, e)
		}
	}
	// got lies between want and ref.
	i, j := 0, 0
	for _, e := range got {
		for j < len(ref) && ref[j].ID < e.ID {
			j++
		}
		if j == len(ref) || ref[j] != e {
			t.Fatalf("%q after %d: read event %d (%q), which a scan does not return, or out of order", anyOf, after, e.ID, e.Message)
		}
	}
	for _, w := range want {
		for i < len(got) && got[i].ID < w.ID {
			i++
		}
		if i == len(got) || got[i].ID != w.ID {
			t.Fatalf("%q after %d: missed event %d (%q)", anyOf, after, w.ID, w.Message)
		}
	}
	return len(got)
}

func TestIndexedReadsMatchScans(t *testing.T) {
	c := &fixedClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := openIndexed(t, filepath.Join(t.TempDir(), "logs.db"), c)
	ctx := t.Context()
	if err := s.CreateGroup(ctx, Group{Account: testAccount, Name: "/i"}); err != nil {
		t.Fatal(err)
	}
	// Another group's events interleave, so that a segment's IDs are not
	// a contiguous range.
	if err := s.CreateGroup(ctx, Group{Account: testAccount, Name: "/other"}); err != nil {
		t.Fatal(err)
	}
	const n = 10*testSegment + 123 // ten segments and an unindexed tail
	fillGroup(t, s, "/other", 700, c.now())
	fillGroup(t, s, "/i", n/2, c.now())
	fillGroup(t, s, "/other", 700, c.now())
	fillGroup(t, s, "/i", n-n/2, c.now())
	// A replaced stream deletes events inside the indexed part.
	if err := s.ReplaceStream(ctx, testAccount, "/i", "s3", []Event{{Time: c.now(), Message: "replaced sudo"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexIdle(ctx); err != nil {
		t.Fatal(err)
	}
	var segs int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM index_segments s JOIN log_groups g ON g.id = s.group_id WHERE g.name = '/i'`).Scan(&segs); err != nil {
		t.Fatal(err)
	}
	if segs < 5 { // fewer than ten: the replaced stream's events went before some were indexed
		t.Fatalf("%d segments, want 5 or more", segs)
	}
	g, err := s.Group(ctx, testAccount, "/i")
	if err != nil || g.IndexBytes == 0 {
		t.Fatalf("Group: %+v, %v; want IndexBytes > 0", g, err)
	}

	all := readAll(t, s, "/i", 0, nil)
	mid := all[len(all)/3].ID // inside a segment
	for _, anyOf := range [][][]string{
		{{"sudo"}},
		{{"sudo -"}},
		{{"Permission denied"}},
		{{"ERROR\x1b[0m disk"}},
		{{`"hi" there`}},
		{{"café"}},
		{{"file-4242"}},
		{{"sudo"}, {"exitCode\":1"}},
		{{"denied", "ERROR"}},
		{{"event"}}, // most events: read by range instead
		{{"-->"}},   // no token: no index
		{{"absent-from-all"}},
	} {
		for _, after := range []int64{0, mid} {
			checkSameAsScan(t, s, "/i", after, anyOf)
		}
	}
	if n := checkSameAsScan(t, s, "/i", 0, [][]string{{"sudo"}}); n == 0 {
		t.Fatal("no sudo events read")
	}
	// The smaller group is read through events_group, not the table.
	for _, anyOf := range [][][]string{nil, {{"sudo"}}, {{"event"}}} {
		checkSameAsScan(t, s, "/other", 0, anyOf)
	}

	// A time range, and leaving out what is not needed.
	from, to := all[100].Time, all[len(all)-100].Time
	for _, anyOf := range [][][]string{nil, {{"sudo"}}} {
		rd := s.ReadGroup(ctx, testAccount, "/i", ReadOptions{AnyOf: anyOf, Since: from, Until: to, NoIngested: true, NoStream: true})
		var got []Event
		for e, ok := rd.Next(); ok; e, ok = rd.Next() {
			got = append(got, e)
		}
		rd.Close()
		if rd.Err() != nil {
			t.Fatal(rd.Err())
		}
		var want []int64
		for _, e := range readAll(t, s, "/i", 0, anyOf) {
			if !e.Time.Before(from) && !e.Time.After(to) {
				want = append(want, e.ID)
			}
		}
		var ids []int64
		for _, e := range got {
			ids = append(ids, e.ID)
			if e.Stream != "" || !e.Ingested.IsZero() || e.Time.IsZero() {
				t.Fatalf("%q: event %+v has what was left out, or lacks its time", anyOf, e)
			}
		}
		if !slices.Equal(ids, want) || len(ids) == 0 {
			t.Errorf("%q in [%v, %v]: read %d events, want %d", anyOf, from, to, len(ids), len(want))
		}
	}
}

func TestIndexCorruptSegmentIsReadWithout(t *testing.T) {
	c := &fixedClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := openIndexed(t, filepath.Join(t.TempDir(), "logs.db"), c)
	ctx := t.Context()
	if err := s.CreateGroup(ctx, Group{Account: testAccount, Name: "/c"}); err != nil {
		t.Fatal(err)
	}
	fillGroup(t, s, "/c", 3*testSegment+10, c.now())
	if err := s.IndexIdle(ctx); err != nil {
		t.Fatal(err)
	}
	want := readAll(t, s, "/c", 0, [][]string{{"sudo"}})
	if _, err := s.db.ExecContext(ctx, `UPDATE index_segments SET data = ?`, []byte("PXS1\x00")); err != nil {
		t.Fatal(err)
	}
	s.segs = newSegmentCache(segmentCacheBytes)
	got := readAll(t, s, "/c", 0, [][]string{{"sudo"}})
	if len(got) < len(want) {
		t.Fatalf("with a damaged segment: %d events, want at least %d", len(got), len(want))
	}
}

func TestIndexSegmentsExpireWithTheirEvents(t *testing.T) {
	c := &fixedClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := openIndexed(t, filepath.Join(t.TempDir(), "logs.db"), c)
	ctx := t.Context()
	if err := s.CreateGroup(ctx, Group{Account: testAccount, Name: "/e", RetentionDays: 1}); err != nil {
		t.Fatal(err)
	}
	fillGroup(t, s, "/e", testSegment, c.now())
	if err := s.IndexIdle(ctx); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM index_segments`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != 1 {
		t.Fatalf("%d segments before expiry, want 1", count())
	}
	c.advance(2 * 24 * time.Hour)
	if _, err := s.ExpireEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if count() != 0 {
		t.Errorf("%d segments after every event expired, want 0", count())
	}
}

// TestIndexCatchesUpAfterReopen: events written by a store that closed
// before indexing them are indexed by the next one.
func TestIndexCatchesUpAfterReopen(t *testing.T) {
	c := &fixedClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "logs.db")
	s, err := openAt(t, path, Options{Now: c.now, Logf: t.Logf, segmentSize: testSegment})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(t.Context(), Group{Account: testAccount, Name: "/r"}); err != nil {
		t.Fatal(err)
	}
	fillGroup(t, s, "/r", testSegment+5, c.now())
	// As an older version, without an index, would have left it.
	if err := s.IndexIdle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(t.Context(), `DELETE FROM index_segments`); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openIndexed(t, path, c)
	if err := s.IndexIdle(t.Context()); err != nil {
		t.Fatal(err)
	}
	g, err := s.Group(t.Context(), testAccount, "/r")
	if err != nil || g.IndexBytes == 0 {
		t.Fatalf("after reopening: %+v, %v; want an index", g, err)
	}
}

func TestGroupReaderCloseEarly(t *testing.T) {
	c := &fixedClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := openIndexed(t, ":memory:", c)
	ctx := t.Context()
	if err := s.CreateGroup(ctx, Group{Account: testAccount, Name: "/x"}); err != nil {
		t.Fatal(err)
	}
	fillGroup(t, s, "/x", 3*(readAhead+2)*testSegment, c.now())
	if err := s.IndexIdle(ctx); err != nil {
		t.Fatal(err)
	}
	rd := s.ReadGroup(ctx, testAccount, "/x", ReadOptions{AnyOf: [][]string{{"event"}}}) // pages of at most a segment
	for range 3 {
		if _, ok := rd.Next(); !ok {
			t.Fatal(rd.Err())
		}
	}
	rd.Close() // the reader is pages ahead, blocked on sending
	rd.Close()
	if _, ok := rd.Next(); ok {
		t.Error("Next after Close returned an event")
	}
	never := s.ReadGroup(ctx, testAccount, "/x", ReadOptions{})
	never.Close()
	if _, ok := never.Next(); ok {
		t.Error("Next after Close returned an event")
	}
}

// TestDeleteStreamsLeavesNothing: deleting a session's streams removes its
// events, and its words from the index, from the database files too; the
// other sessions stay readable through the index.
func TestDeleteStreamsLeavesNothing(t *testing.T) {
	c := &fixedClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "logs.db")
	s := openIndexed(t, path, c)
	ctx := t.Context()
	for _, g := range []string{"/postern/sessions", "/audit"} {
		if err := s.CreateGroup(ctx, Group{Account: testAccount, Name: g}); err != nil {
			t.Fatal(err)
		}
		fillGroup(t, s, g, 3*testSegment, c.now())
		var secret []Event
		for i := range 40 {
			secret = append(secret, Event{Time: c.now(), Message: fmt.Sprintf(`{"sessionData":["export TOKEN=zq7Secretvalue%d"]}`, i)})
		}
		if err := s.PutEvents(ctx, testAccount, g, "victim-0123456789abcdef0", secret); err != nil {
			t.Fatal(err)
		}
		fillGroup(t, s, g, 2*testSegment, c.now())
	}
	if err := s.IndexIdle(ctx); err != nil {
		t.Fatal(err)
	}
	holding := func(g string) int {
		n := 0
		for _, e := range readAll(t, s, g, 0, [][]string{{"zq7Secretvalue"}}) {
			if strings.Contains(e.Message, "zq7Secretvalue") {
				n++
			}
		}
		return n
	}
	if n := holding("/audit"); n != 40 {
		t.Fatalf("before: %d secret events, want 40", n)
	}
	n, err := s.DeleteStreams(ctx, testAccount, "victim-0123456789abcdef0")
	if err != nil || n != 2 {
		t.Fatalf("DeleteStreams = %d, %v; want 2", n, err)
	}
	for _, g := range []string{"/postern/sessions", "/audit"} {
		if n := holding(g); n != 0 {
			t.Errorf("%s: %d secret events after deletion", g, n)
		}
		checkSameAsScan(t, s, g, 0, [][]string{{"sudo"}})
		if ss, _ := s.Streams(ctx, testAccount, g); slices.ContainsFunc(ss, func(st Stream) bool { return strings.HasPrefix(st.Name, "victim") }) {
			t.Errorf("%s: the stream is still listed", g)
		}
	}
	if pgdb.Selected(t) {
		return // no files to read: PostgreSQL frees deleted rows with VACUUM (postgres.go)
	}
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(bytes.ToLower(b), []byte("zq7secretvalue")) {
			t.Errorf("%s still holds the deleted text", filepath.Base(f))
		}
	}
}
