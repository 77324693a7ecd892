package logstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/clocktest"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/logstore/internal/pgdb"
	"github.com/postern/postern/store/postgres/pgtest"
)

const acct = "000000000001"

// newClock is the one fake clock of the tests, at a fixed time.
func newClock() *clocktest.Clock { return clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) }

func TestMain(m *testing.M) { pgtest.Main(m) }

// openStore opens the store at path: in SQLite, or in a PostgreSQL
// database standing for path under TestOnPostgres (postgres_test.go).
func openStore(t *testing.T, path string, opts logstore.Options) (*logstore.Store, error) {
	t.Helper()
	if pgdb.Selected(t) {
		return logstore.OpenPostgres(t.Context(), pgdb.URL(t, path), opts)
	}
	return logstore.Open(t.Context(), path, opts)
}

func open(t *testing.T, path string, c *clocktest.Clock) *logstore.Store {
	t.Helper()
	s, err := openStore(t, path, logstore.Options{Now: c.Now, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openTemp(t *testing.T) (*logstore.Store, *clocktest.Clock) {
	t.Helper()
	c := newClock()
	return open(t, filepath.Join(t.TempDir(), "logs.db"), c), c
}

func mustCreate(t *testing.T, s *logstore.Store, g logstore.Group) {
	t.Helper()
	if err := s.CreateGroup(t.Context(), g); err != nil {
		t.Fatal(err)
	}
}

func mustPut(t *testing.T, s *logstore.Store, account, group, stream string, events ...logstore.Event) {
	t.Helper()
	if err := s.PutEvents(t.Context(), account, group, stream, events); err != nil {
		t.Fatal(err)
	}
}

func mustEvents(t *testing.T, s *logstore.Store, account, group, stream string) []logstore.Event {
	t.Helper()
	es, err := s.Events(t.Context(), account, group, stream, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// ev makes an event at t with message msg.
func ev(t time.Time, msg string) logstore.Event {
	return logstore.Event{Time: t, Message: msg}
}

// messages returns the messages of es.
func messages(es []logstore.Event) []string {
	var ms []string
	for _, e := range es {
		ms = append(ms, e.Message)
	}
	return ms
}

// checkStats checks that the group's and its streams' statistics agree with
// the events the store returns.
func checkStats(t *testing.T, s *logstore.Store, account, group string) {
	t.Helper()
	g, err := s.Group(t.Context(), account, group)
	if err != nil {
		t.Fatal(err)
	}
	streams, err := s.Streams(t.Context(), account, group)
	if err != nil {
		t.Fatal(err)
	}
	var groupBytes int64
	for _, st := range streams {
		es := mustEvents(t, s, account, group, st.Name)
		var bytes int64
		var first, last time.Time
		for i, e := range es {
			bytes += int64(len(e.Message))
			if i == 0 || e.Time.Before(first) {
				first = e.Time
			}
			if i == 0 || e.Time.After(last) {
				last = e.Time
			}
		}
		if st.Events != int64(len(es)) || st.StoredBytes != bytes || !st.FirstEvent.Equal(first) || !st.LastEvent.Equal(last) {
			t.Errorf("stream %s: stats %d events, %d bytes, %v to %v; events hold %d, %d bytes, %v to %v",
				st.Name, st.Events, st.StoredBytes, st.FirstEvent, st.LastEvent, len(es), bytes, first, last)
		}
		groupBytes += bytes
	}
	if g.StoredBytes != groupBytes {
		t.Errorf("group %s: StoredBytes = %d, streams hold %d", group, g.StoredBytes, groupBytes)
	}
}

func TestGroups(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	created := time.Date(2025, 1, 2, 3, 4, 5, 678_901_234, time.UTC)

	mustCreate(t, s, logstore.Group{Account: acct, Name: "/sessions/prod", RetentionDays: 30, KMSKeyID: "arn:aws:kms:us-east-1:111122223333:key/k"})
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/app", CreatedAt: created})
	mustCreate(t, s, logstore.Group{Account: "other", Name: "/sessions/prod"}) // same name, other account

	t.Run("get", func(t *testing.T) {
		g, err := s.Group(ctx, acct, "/sessions/prod")
		if err != nil {
			t.Fatal(err)
		}
		want := logstore.Group{Account: acct, Name: "/sessions/prod", RetentionDays: 30,
			KMSKeyID: "arn:aws:kms:us-east-1:111122223333:key/k", CreatedAt: c.Now()}
		if g != want {
			t.Errorf("Group = %+v, want %+v", g, want)
		}
		g, err = s.Group(ctx, acct, "/app")
		if err != nil {
			t.Fatal(err)
		}
		if want := created.Truncate(time.Millisecond); !g.CreatedAt.Equal(want) {
			t.Errorf("CreatedAt = %v, want %v (ms precision)", g.CreatedAt, want)
		}
	})
	t.Run("list sorted by name", func(t *testing.T) {
		gs, err := s.Groups(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range gs {
			names = append(names, g.Name)
		}
		if want := []string{"/app", "/sessions/prod"}; !slices.Equal(names, want) {
			t.Errorf("Groups = %q, want %q", names, want)
		}
	})
	t.Run("exists", func(t *testing.T) {
		err := s.CreateGroup(ctx, logstore.Group{Account: acct, Name: "/app", RetentionDays: 7})
		if !errors.Is(err, logstore.ErrExists) {
			t.Fatalf("CreateGroup of an existing group: %v, want ErrExists", err)
		}
		if g, _ := s.Group(ctx, acct, "/app"); g.RetentionDays != 0 {
			t.Errorf("failed CreateGroup changed the group: %+v", g)
		}
	})
	t.Run("set retention", func(t *testing.T) {
		if err := s.SetRetention(ctx, acct, "/app", 14); err != nil {
			t.Fatal(err)
		}
		if g, _ := s.Group(ctx, acct, "/app"); g.RetentionDays != 14 {
			t.Errorf("RetentionDays = %d, want 14", g.RetentionDays)
		}
		if err := s.SetRetention(ctx, acct, "/app", 0); err != nil {
			t.Fatal(err)
		}
		if g, _ := s.Group(ctx, acct, "/app"); g.RetentionDays != 0 {
			t.Errorf("RetentionDays = %d, want 0", g.RetentionDays)
		}
	})
	t.Run("not found", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			call func() error
		}{
			{"Group", func() error { _, err := s.Group(ctx, acct, "/missing"); return err }},
			{"SetRetention", func() error { return s.SetRetention(ctx, acct, "/missing", 7) }},
			{"DeleteGroup", func() error { return s.DeleteGroup(ctx, acct, "/missing") }},
			{"Streams", func() error { _, err := s.Streams(ctx, acct, "/missing"); return err }},
			{"Events", func() error { _, err := s.Events(ctx, acct, "/missing", "s", 0, 0); return err }},
			{"PutEvents", func() error { return s.PutEvents(ctx, acct, "/missing", "s", []logstore.Event{ev(c.Now(), "x")}) }},
			{"ReplaceStream", func() error { return s.ReplaceStream(ctx, acct, "/missing", "s", nil) }},
		} {
			if err := tt.call(); !errors.Is(err, logstore.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", tt.name, err)
			}
		}
	})
	t.Run("account isolation", func(t *testing.T) {
		// "/app" exists only in acct: another account cannot reach it.
		for _, tt := range []struct {
			name string
			call func() error
		}{
			{"Group", func() error { _, err := s.Group(ctx, "other", "/app"); return err }},
			{"SetRetention", func() error { return s.SetRetention(ctx, "other", "/app", 7) }},
			{"DeleteGroup", func() error { return s.DeleteGroup(ctx, "other", "/app") }},
			{"Streams", func() error { _, err := s.Streams(ctx, "other", "/app"); return err }},
			{"Events", func() error { _, err := s.Events(ctx, "other", "/app", "s", 0, 0); return err }},
			{"PutEvents", func() error { return s.PutEvents(ctx, "other", "/app", "s", []logstore.Event{ev(c.Now(), "x")}) }},
			{"ReplaceStream", func() error { return s.ReplaceStream(ctx, "other", "/app", "s", nil) }},
		} {
			if err := tt.call(); !errors.Is(err, logstore.ErrNotFound) {
				t.Errorf("%s from another account: %v, want ErrNotFound", tt.name, err)
			}
		}
		// Same-named groups in two accounts hold their own events.
		mustPut(t, s, acct, "/sessions/prod", "s", ev(c.Now(), "mine"))
		mustPut(t, s, "other", "/sessions/prod", "s", ev(c.Now(), "theirs"))
		if got := messages(mustEvents(t, s, acct, "/sessions/prod", "s")); !slices.Equal(got, []string{"mine"}) {
			t.Errorf("events in %s = %q", acct, got)
		}
		if got := messages(mustEvents(t, s, "other", "/sessions/prod", "s")); !slices.Equal(got, []string{"theirs"}) {
			t.Errorf("events in other = %q", got)
		}
		gs, err := s.Groups(ctx, "other")
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) != 1 || gs[0].Name != "/sessions/prod" || gs[0].Account != "other" {
			t.Errorf("Groups(other) = %+v", gs)
		}
		if gs, _ := s.Groups(ctx, "nobody"); len(gs) != 0 {
			t.Errorf("Groups of an account without groups = %+v", gs)
		}
	})
	t.Run("delete", func(t *testing.T) {
		mustPut(t, s, acct, "/app", "s1", ev(c.Now(), "a"), ev(c.Now(), "b"))
		if err := s.DeleteGroup(ctx, acct, "/app"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Group(ctx, acct, "/app"); !errors.Is(err, logstore.ErrNotFound) {
			t.Errorf("Group after delete: %v, want ErrNotFound", err)
		}
		if err := s.DeleteGroup(ctx, acct, "/app"); !errors.Is(err, logstore.ErrNotFound) {
			t.Errorf("second DeleteGroup: %v, want ErrNotFound", err)
		}
		// A group re-created under the name starts empty.
		mustCreate(t, s, logstore.Group{Account: acct, Name: "/app"})
		if sts, err := s.Streams(ctx, acct, "/app"); err != nil || len(sts) != 0 {
			t.Errorf("Streams of the re-created group = %+v, %v; want none", sts, err)
		}
		if es := mustEvents(t, s, acct, "/app", "s1"); len(es) != 0 {
			t.Errorf("events of the re-created group = %+v", es)
		}
		if g, _ := s.Group(ctx, acct, "/app"); g.StoredBytes != 0 {
			t.Errorf("StoredBytes of the re-created group = %d", g.StoredBytes)
		}
		// The other account's same-named group is untouched.
		checkStats(t, s, "other", "/sessions/prod")
		if got := messages(mustEvents(t, s, "other", "/sessions/prod", "s")); !slices.Equal(got, []string{"theirs"}) {
			t.Errorf("events in other = %q", got)
		}
	})
}

func TestValidation(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/g"})
	now := c.Now()

	const allowedRetention = "want 0 (never expire) or one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"
	tests := []struct {
		name    string
		call    func() error
		want    []string // substrings of the error; nil: success
		created string   // group that must exist afterwards ("" none)
	}{
		{name: "empty group name", call: func() error { return s.CreateGroup(ctx, logstore.Group{Account: acct}) },
			want: []string{"invalid Name", "empty", "1 to 512 characters"}},
		{name: "group name of 513 characters", call: func() error {
			return s.CreateGroup(ctx, logstore.Group{Account: acct, Name: strings.Repeat("a", 513)})
		}, want: []string{"invalid Name", "513 characters long"}},
		{name: "group name with a space", call: func() error { return s.CreateGroup(ctx, logstore.Group{Account: acct, Name: "my group"}) },
			want: []string{`"my group"`, "invalid Name", "'#' (number sign)"}},
		{name: "group name with a colon", call: func() error { return s.CreateGroup(ctx, logstore.Group{Account: acct, Name: "a:b"}) },
			want: []string{"invalid Name"}},
		{name: "group name with non-ASCII", call: func() error { return s.CreateGroup(ctx, logstore.Group{Account: acct, Name: "/é"}) },
			want: []string{"invalid Name"}},
		{name: "group name of 512 characters of every allowed kind", call: func() error {
			return s.CreateGroup(ctx, logstore.Group{Account: acct, Name: strings.Repeat("aZ09._-/#", 56) + "abcdefgh"})
		}, created: strings.Repeat("aZ09._-/#", 56) + "abcdefgh"},
		{name: "retention 2", call: func() error { return s.CreateGroup(ctx, logstore.Group{Account: acct, Name: "/r2", RetentionDays: 2}) },
			want: []string{"invalid RetentionDays 2", allowedRetention}},
		{name: "retention -1", call: func() error {
			return s.CreateGroup(ctx, logstore.Group{Account: acct, Name: "/rneg", RetentionDays: -1})
		},
			want: []string{"invalid RetentionDays -1", allowedRetention}},
		{name: "retention 3654", call: func() error {
			return s.CreateGroup(ctx, logstore.Group{Account: acct, Name: "/rbig", RetentionDays: 3654})
		},
			want: []string{"invalid RetentionDays 3654"}},
		{name: "retention 3653", call: func() error {
			return s.CreateGroup(ctx, logstore.Group{Account: acct, Name: "/r10y", RetentionDays: 3653})
		},
			created: "/r10y"},
		{name: "set retention 10", call: func() error { return s.SetRetention(ctx, acct, "/g", 10) },
			want: []string{"invalid RetentionDays 10", allowedRetention}},
		{name: "empty stream name", call: func() error { return s.PutEvents(ctx, acct, "/g", "", []logstore.Event{ev(now, "x")}) },
			want: []string{"invalid stream name", "empty"}},
		{name: "stream name with a colon", call: func() error { return s.PutEvents(ctx, acct, "/g", "a:b", []logstore.Event{ev(now, "x")}) },
			want: []string{"invalid stream name", "':' (colon)"}},
		{name: "stream name with an asterisk", call: func() error { return s.ReplaceStream(ctx, acct, "/g", "a*", nil) },
			want: []string{"invalid stream name", "'*' (asterisk)"}},
		{name: "stream name of 513 characters", call: func() error {
			return s.PutEvents(ctx, acct, "/g", strings.Repeat("é", 513), []logstore.Event{ev(now, "x")})
		}, want: []string{"invalid stream name", "513 characters long"}},
		{name: "stream name not UTF-8", call: func() error { return s.PutEvents(ctx, acct, "/g", "a\xffb", []logstore.Event{ev(now, "x")}) },
			want: []string{"invalid stream name", "UTF-8"}},
		{name: "event without a time", call: func() error {
			return s.PutEvents(ctx, acct, "/g", "s", []logstore.Event{ev(now, "x"), {Message: "y"}})
		}, want: []string{"event 1", "Time is zero"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
			} else {
				if err == nil {
					t.Fatalf("got success, want an error containing %q", tt.want)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				if !strings.HasPrefix(err.Error(), "logstore: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				if errors.Is(err, logstore.ErrNotFound) || errors.Is(err, logstore.ErrExists) || !errors.Is(err, logstore.ErrInvalid) {
					t.Errorf("validation error %q: want it to match ErrInvalid only", err)
				}
			}
			if tt.created != "" {
				if _, err := s.Group(ctx, acct, tt.created); err != nil {
					t.Errorf("group %s: %v", tt.created, err)
				}
			}
		})
	}
	// Only the valid groups were created, and no stream.
	gs, err := s.Groups(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 3 {
		t.Errorf("%d groups after the validation tests, want 3: %+v", len(gs), gs)
	}
	if sts, _ := s.Streams(ctx, acct, "/g"); len(sts) != 0 {
		t.Errorf("refused writes created streams: %+v", sts)
	}
	if g, _ := s.Group(ctx, acct, "/g"); g.RetentionDays != 0 {
		t.Errorf("refused SetRetention changed retention to %d", g.RetentionDays)
	}
}

func TestPutEvents(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/g"})
	base := time.Date(2026, 3, 1, 11, 0, 0, 123_456_789, time.UTC)

	t.Run("order, IDs and stream creation", func(t *testing.T) {
		// Out-of-order times: insertion order is what counts.
		mustPut(t, s, acct, "/g", "s1", ev(base.Add(2*time.Second), "one"), ev(base, "two"), ev(base.Add(time.Second), "three"))
		ingested1 := c.Now()
		c.Advance(time.Minute)
		mustPut(t, s, acct, "/g", "s2", ev(base, "other stream"))
		mustPut(t, s, acct, "/g", "s1", ev(base.Add(3*time.Second), "four"))

		es := mustEvents(t, s, acct, "/g", "s1")
		if got, want := messages(es), []string{"one", "two", "three", "four"}; !slices.Equal(got, want) {
			t.Fatalf("messages = %q, want %q", got, want)
		}
		for i, e := range es {
			if i > 0 && e.ID <= es[i-1].ID {
				t.Errorf("event %d: ID %d not above %d", i, e.ID, es[i-1].ID)
			}
		}
		if want := base.Add(2 * time.Second).Truncate(time.Millisecond); !es[0].Time.Equal(want) || es[0].Time.Location() != time.UTC {
			t.Errorf("Time = %v, want %v (ms precision, UTC)", es[0].Time, want)
		}
		if !es[0].Ingested.Equal(ingested1) || !es[3].Ingested.Equal(c.Now()) {
			t.Errorf("Ingested = %v and %v, want %v and %v", es[0].Ingested, es[3].Ingested, ingested1, c.Now())
		}
		// s2's event was put between s1's batches: IDs are global.
		s2 := mustEvents(t, s, acct, "/g", "s2")
		if len(s2) != 1 || s2[0].ID <= es[2].ID || s2[0].ID >= es[3].ID {
			t.Errorf("s2 = %+v between s1's %d and %d", s2, es[2].ID, es[3].ID)
		}
		sts, err := s.Streams(ctx, acct, "/g")
		if err != nil {
			t.Fatal(err)
		}
		if len(sts) != 2 || sts[0].Name != "s1" || sts[1].Name != "s2" {
			t.Errorf("Streams = %+v, want s1 and s2", sts)
		}
		checkStats(t, s, acct, "/g")
	})
	t.Run("empty batch is a no-op", func(t *testing.T) {
		if err := s.PutEvents(ctx, acct, "/g", "empty", nil); err != nil {
			t.Fatal(err)
		}
		sts, _ := s.Streams(ctx, acct, "/g")
		for _, st := range sts {
			if st.Name == "empty" {
				t.Errorf("an empty batch created stream %+v", st)
			}
		}
	})
	t.Run("message size limit rejects the whole batch", func(t *testing.T) {
		err := s.PutEvents(ctx, acct, "/g", "big", []logstore.Event{
			ev(base, "fine"),
			ev(base, strings.Repeat("x", logstore.MaxMessageBytes)),
			ev(base, strings.Repeat("x", logstore.MaxMessageBytes+1)),
		})
		if err == nil || !strings.Contains(err.Error(), "event 2: message is 262145 bytes, more than MaxMessageBytes (262144)") {
			t.Fatalf("PutEvents with an oversized message: %v", err)
		}
		if es := mustEvents(t, s, acct, "/g", "big"); len(es) != 0 {
			t.Errorf("refused batch stored %d events", len(es))
		}
		// A message of exactly MaxMessageBytes is accepted, and a multi-byte
		// message is measured in bytes.
		mustPut(t, s, acct, "/g", "big", ev(base, strings.Repeat("x", logstore.MaxMessageBytes)))
		err = s.PutEvents(ctx, acct, "/g", "big", []logstore.Event{ev(base, strings.Repeat("é", logstore.MaxMessageBytes/2+1))})
		if err == nil || !strings.Contains(err.Error(), "MaxMessageBytes") {
			t.Errorf("PutEvents of %d bytes in %d characters: %v", logstore.MaxMessageBytes+2, logstore.MaxMessageBytes/2+1, err)
		}
		if es := mustEvents(t, s, acct, "/g", "big"); len(es) != 1 {
			t.Errorf("stream holds %d events, want 1", len(es))
		}
		checkStats(t, s, acct, "/g")
	})
	t.Run("messages are stored as valid UTF-8", func(t *testing.T) {
		mustPut(t, s, acct, "/g", "utf8", ev(base, "a\xffb"), ev(base, "nul\x00byte"), ev(base, ""))
		got := messages(mustEvents(t, s, acct, "/g", "utf8"))
		if want := []string{"a\uFFFDb", "nul\x00byte", ""}; !slices.Equal(got, want) {
			t.Errorf("messages = %q, want %q", got, want)
		}
		checkStats(t, s, acct, "/g")
	})
}

func TestReplaceStream(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/g"})
	base := c.Now().Add(-time.Hour)

	mustPut(t, s, acct, "/g", "t", ev(base, "partial 1"), ev(base, "partial 2"))
	mustPut(t, s, acct, "/g", "keep", ev(base, "untouched"))
	before := mustEvents(t, s, acct, "/g", "t")

	transcript := []logstore.Event{ev(base, "line 1"), ev(base.Add(time.Second), "line 2"), ev(base.Add(2*time.Second), "line 3")}
	var contents [][]string
	for range 2 {
		c.Advance(time.Minute)
		if err := s.ReplaceStream(ctx, acct, "/g", "t", transcript); err != nil {
			t.Fatal(err)
		}
		es := mustEvents(t, s, acct, "/g", "t")
		contents = append(contents, messages(es))
		var times []time.Time
		for _, e := range es {
			times = append(times, e.Time)
			if e.ID <= before[len(before)-1].ID {
				t.Errorf("replaced event has ID %d, not above the deleted ones' %d", e.ID, before[len(before)-1].ID)
			}
		}
		want := []time.Time{base, base.Add(time.Second), base.Add(2 * time.Second)}
		if !slices.EqualFunc(times, want, time.Time.Equal) {
			t.Errorf("times = %v, want %v", times, want)
		}
		checkStats(t, s, acct, "/g")
	}
	want := []string{"line 1", "line 2", "line 3"}
	if !slices.Equal(contents[0], want) || !slices.Equal(contents[1], want) {
		t.Errorf("after two ReplaceStream: %q then %q, want %q both times", contents[0], contents[1], want)
	}
	sts, err := s.Streams(ctx, acct, "/g")
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 2 || sts[1].Name != "t" || sts[1].Events != 3 || !sts[1].LastIngested.Equal(c.Now()) {
		t.Errorf("Streams = %+v", sts)
	}
	if got := messages(mustEvents(t, s, acct, "/g", "keep")); !slices.Equal(got, []string{"untouched"}) {
		t.Errorf("other stream = %q", got)
	}

	t.Run("refused replacement keeps the old content", func(t *testing.T) {
		err := s.ReplaceStream(ctx, acct, "/g", "t", []logstore.Event{ev(base, strings.Repeat("x", logstore.MaxMessageBytes+1))})
		if err == nil || !strings.Contains(err.Error(), "logstore: replace stream /g/t: event 0") {
			t.Fatalf("ReplaceStream with an oversized message: %v", err)
		}
		if got := messages(mustEvents(t, s, acct, "/g", "t")); !slices.Equal(got, want) {
			t.Errorf("after a refused ReplaceStream: %q, want %q", got, want)
		}
	})
	t.Run("with no events empties the stream", func(t *testing.T) {
		if err := s.ReplaceStream(ctx, acct, "/g", "t", nil); err != nil {
			t.Fatal(err)
		}
		if es := mustEvents(t, s, acct, "/g", "t"); len(es) != 0 {
			t.Errorf("stream holds %q", messages(es))
		}
		checkStats(t, s, acct, "/g")
	})
	t.Run("creates the stream", func(t *testing.T) {
		if err := s.ReplaceStream(ctx, acct, "/g", "new", transcript[:1]); err != nil {
			t.Fatal(err)
		}
		if got := messages(mustEvents(t, s, acct, "/g", "new")); !slices.Equal(got, []string{"line 1"}) {
			t.Errorf("new stream = %q", got)
		}
		checkStats(t, s, acct, "/g")
	})
}

func TestEventsPaging(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/g"})
	var batch []logstore.Event
	for i := range 25 {
		batch = append(batch, ev(c.Now(), fmt.Sprint(i)))
	}
	mustPut(t, s, acct, "/g", "s", batch...)
	all := mustEvents(t, s, acct, "/g", "s")
	if len(all) != 25 {
		t.Fatalf("limit 0 gave %d events, want all 25", len(all))
	}

	var pages []int
	var got []string
	after := int64(0)
	for {
		es, err := s.Events(ctx, acct, "/g", "s", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(es))
		if len(es) == 0 {
			break
		}
		got = append(got, messages(es)...)
		after = es[len(es)-1].ID
	}
	if want := []int{10, 10, 5, 0}; !slices.Equal(pages, want) {
		t.Errorf("page sizes = %v, want %v", pages, want)
	}
	if !slices.Equal(got, messages(all)) {
		t.Errorf("paged messages = %q, want %q", got, messages(all))
	}

	// Backwards from the newest, as GetLogEvents starts: the same
	// events, each page in ID order.
	pages, got = nil, nil
	before := int64(math.MaxInt64)
	for {
		es, err := s.EventsBefore(ctx, acct, "/g", "s", before, 10)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(es))
		if len(es) == 0 {
			break
		}
		got = append(messages(es), got...)
		before = es[0].ID
	}
	if want := []int{10, 10, 5, 0}; !slices.Equal(pages, want) {
		t.Errorf("backward page sizes = %v, want %v", pages, want)
	}
	if !slices.Equal(got, messages(all)) {
		t.Errorf("backward paged messages = %q, want %q", got, messages(all))
	}
	if es, err := s.EventsBefore(ctx, acct, "/g", "s", all[5].ID, 3); err != nil || !slices.Equal(messages(es), []string{"2", "3", "4"}) {
		t.Errorf("3 before event 5: %q, %v", messages(es), err)
	}

	for _, tt := range []struct {
		name      string
		stream    string
		after     int64
		limit     int
		wantFirst string
		wantLen   int
	}{
		{name: "from the middle", stream: "s", after: all[11].ID, limit: 3, wantFirst: "12", wantLen: 3},
		{name: "negative limit means the default", stream: "s", after: all[19].ID, limit: -1, wantFirst: "20", wantLen: 5},
		{name: "after the last", stream: "s", after: all[24].ID, limit: 10},
		{name: "unknown stream", stream: "nope", limit: 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			es, err := s.Events(ctx, acct, "/g", tt.stream, tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != tt.wantLen || (tt.wantLen > 0 && es[0].Message != tt.wantFirst) {
				t.Errorf("Events = %q, want %d starting at %q", messages(es), tt.wantLen, tt.wantFirst)
			}
		})
	}
}

func TestStreamStats(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/g"})
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/empty"})
	base := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

	mustPut(t, s, acct, "/g", "b", ev(base.Add(time.Hour), "12345"), ev(base, "é")) // 5 + 2 bytes
	c.Advance(time.Minute)
	mustPut(t, s, acct, "/g", "a", ev(base.Add(2*time.Hour), "xyz"))
	mustPut(t, s, acct, "/g", "b", ev(base.Add(30*time.Minute), "0123456789"))
	ingestedA := c.Now()
	if err := s.ReplaceStream(ctx, acct, "/g", "c", nil); err != nil {
		t.Fatal(err)
	}

	sts, err := s.Streams(ctx, acct, "/g")
	if err != nil {
		t.Fatal(err)
	}
	want := []logstore.Stream{
		{Name: "a", FirstEvent: base.Add(2 * time.Hour), LastEvent: base.Add(2 * time.Hour), LastIngested: ingestedA, Events: 1, StoredBytes: 3},
		{Name: "b", FirstEvent: base, LastEvent: base.Add(time.Hour), LastIngested: ingestedA, Events: 3, StoredBytes: 17},
		{Name: "c"}, // created empty
	}
	if !slices.Equal(sts, want) {
		t.Errorf("Streams =\n%+v\nwant\n%+v", sts, want)
	}

	gs, err := s.Groups(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 || gs[0].Name != "/empty" || gs[0].StoredBytes != 0 || gs[1].StoredBytes != 20 {
		t.Errorf("Groups = %+v, want /empty with 0 bytes and /g with 20", gs)
	}
	if g, _ := s.Group(ctx, acct, "/g"); g.StoredBytes != 20 {
		t.Errorf("Group StoredBytes = %d, want 20", g.StoredBytes)
	}
	if sts, err := s.Streams(ctx, acct, "/empty"); err != nil || sts != nil {
		t.Errorf("Streams of a group without streams = %+v, %v", sts, err)
	}
	checkStats(t, s, acct, "/g")
}

func TestExpireEvents(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	now := c.Now()
	day := 24 * time.Hour
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/week", RetentionDays: 7})
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/forever"})
	mustCreate(t, s, logstore.Group{Account: "other", Name: "/day", RetentionDays: 1})

	mustPut(t, s, acct, "/week", "s1",
		ev(now.Add(-8*day), "8 days old"),
		ev(now.Add(-2*day), "2 days old"),
		ev(now.Add(-7*day-time.Millisecond), "7 days and 1ms old"),
		ev(now.Add(-7*day), "exactly 7 days old"),
		ev(now, "new"))
	mustPut(t, s, acct, "/week", "s2", ev(now.Add(-30*day), "old"), ev(now.Add(-10*day), "old too"))
	mustPut(t, s, acct, "/week", "s3", ev(now.Add(-day), "recent"))
	mustPut(t, s, acct, "/forever", "s", ev(now.Add(-3650*day), "ancient"), ev(now, "new"))
	mustPut(t, s, "other", "/day", "s", ev(now.Add(-2*day), "2 days old"), ev(now.Add(-time.Hour), "1 hour old"))

	n, err := s.ExpireEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("ExpireEvents = %d, want 5", n)
	}
	for _, tt := range []struct {
		account, group, stream string
		want                   []string
	}{
		{acct, "/week", "s1", []string{"2 days old", "exactly 7 days old", "new"}},
		{acct, "/week", "s2", nil},
		{acct, "/week", "s3", []string{"recent"}},
		{acct, "/forever", "s", []string{"ancient", "new"}},
		{"other", "/day", "s", []string{"1 hour old"}},
	} {
		if got := messages(mustEvents(t, s, tt.account, tt.group, tt.stream)); !slices.Equal(got, tt.want) {
			t.Errorf("%s %s/%s after expiry = %q, want %q", tt.account, tt.group, tt.stream, got, tt.want)
		}
	}
	checkStats(t, s, acct, "/week")
	checkStats(t, s, acct, "/forever")
	checkStats(t, s, "other", "/day")
	// An emptied stream stays, with no events.
	sts, err := s.Streams(ctx, acct, "/week")
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 3 || sts[1].Name != "s2" || sts[1].Events != 0 || !sts[1].FirstEvent.IsZero() || !sts[1].LastIngested.Equal(now) {
		t.Errorf("Streams = %+v", sts)
	}

	if n, err := s.ExpireEvents(ctx); n != 0 || err != nil {
		t.Errorf("second ExpireEvents = %d, %v; want 0, nil", n, err)
	}

	// The clock moves: the exactly-7-days-old event is now older than
	// the retention.
	c.Advance(time.Millisecond)
	if n, err := s.ExpireEvents(ctx); n != 1 || err != nil {
		t.Errorf("ExpireEvents 1ms later = %d, %v; want 1, nil", n, err)
	}
	checkStats(t, s, acct, "/week")

	// Retention 0 keeps everything; a longer retention keeps more.
	if err := s.SetRetention(ctx, acct, "/week", 0); err != nil {
		t.Fatal(err)
	}
	c.Advance(365 * day)
	if n, err := s.ExpireEvents(ctx); n != 1 || err != nil { // only other's "1 hour old"
		t.Errorf("ExpireEvents with /week never expiring = %d, %v; want 1, nil", n, err)
	}
	if got := messages(mustEvents(t, s, acct, "/week", "s1")); len(got) != 2 {
		t.Errorf("/week s1 = %q, want its 2 events kept", got)
	}
	if err := s.SetRetention(ctx, acct, "/week", 400); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ExpireEvents(ctx); n != 0 || err != nil {
		t.Errorf("ExpireEvents with 400 days = %d, %v; want 0, nil", n, err)
	}
	if err := s.SetRetention(ctx, acct, "/week", 365); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ExpireEvents(ctx); n != 3 || err != nil {
		t.Errorf("ExpireEvents with 365 days = %d, %v; want 3, nil", n, err)
	}
	checkStats(t, s, acct, "/week")
	if g, _ := s.Group(ctx, acct, "/week"); g.StoredBytes != 0 {
		t.Errorf("StoredBytes of the expired group = %d", g.StoredBytes)
	}
	checkStats(t, s, "other", "/day")
	if got := messages(mustEvents(t, s, acct, "/forever", "s")); len(got) != 2 {
		t.Errorf("/forever = %q, want both events kept", got)
	}
}

func TestReopen(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "logs.db")
	ctx := t.Context()

	s, err := openStore(t, path, logstore.Options{Now: c.Now, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/g", RetentionDays: 30, KMSKeyID: "key"})
	mustPut(t, s, acct, "/g", "s", ev(c.Now(), "one"), ev(c.Now(), "two"), ev(c.Now(), "three"))
	// Delete the newest events: their IDs must not come back.
	mustPut(t, s, acct, "/g", "gone", ev(c.Now(), "four"), ev(c.Now(), "five"))
	deleted := mustEvents(t, s, acct, "/g", "gone")
	if err := s.ReplaceStream(ctx, acct, "/g", "gone", nil); err != nil {
		t.Fatal(err)
	}
	type snapshot struct {
		groups  []logstore.Group
		streams []logstore.Stream
		events  []logstore.Event
	}
	snap := func(s *logstore.Store) snapshot {
		gs, err := s.Groups(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		sts, err := s.Streams(ctx, acct, "/g")
		if err != nil {
			t.Fatal(err)
		}
		return snapshot{gs, sts, mustEvents(t, s, acct, "/g", "s")}
	}
	before := snap(s)
	versions := migrationCount(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for i := range 2 {
		s := open(t, path, c)
		after := snap(s)
		if !slices.Equal(before.groups, after.groups) || !slices.Equal(before.streams, after.streams) || !slices.Equal(before.events, after.events) {
			t.Errorf("reopen %d: got %+v, want %+v", i, after, before)
		}
		if n := migrationCount(t, path); n != versions {
			t.Errorf("reopen %d: %d migrations applied, want %d", i, n, versions)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	s = open(t, path, c)
	mustPut(t, s, acct, "/g", "s", ev(c.Now(), "six"))
	es := mustEvents(t, s, acct, "/g", "s")
	if len(es) != 4 || es[3].ID <= deleted[1].ID {
		t.Errorf("events after reopening = %+v; want the new one's ID above the deleted %d", es, deleted[1].ID)
	}
	checkStats(t, s, acct, "/g")
}

// migrationCount returns how many migrations the database at path records.
func migrationCount(t *testing.T, path string) int {
	t.Helper()
	driver, source := "sqlite", path // the driver package store and logstore use
	if pgdb.Selected(t) {
		driver, source = "pgx", pgdb.URL(t, path)+"&search_path="+logstore.PostgresSchema
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no migrations recorded")
	}
	return n
}

func TestConcurrentPutEvents(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/g", RetentionDays: 1})

	const writers, batches, perBatch = 4, 10, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				var batch []logstore.Event
				for i := range perBatch {
					batch = append(batch, ev(c.Now(), fmt.Sprintf("w%d b%d e%d", w, b, i)))
				}
				if err := s.PutEvents(ctx, acct, "/g", fmt.Sprint("s", w%2), batch); err != nil {
					errs <- err
				}
			}
		})
	}
	// Expiry and reads run alongside the writers.
	wg.Go(func() {
		for range batches {
			if _, err := s.ExpireEvents(ctx); err != nil {
				errs <- err
			}
			if _, err := s.Groups(ctx, acct); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	seen := map[int64]bool{}
	total := 0
	for _, name := range []string{"s0", "s1"} {
		es := mustEvents(t, s, acct, "/g", name)
		total += len(es)
		for _, e := range es {
			if seen[e.ID] {
				t.Errorf("ID %d used twice", e.ID)
			}
			seen[e.ID] = true
		}
	}
	if total != writers*batches*perBatch {
		t.Errorf("%d events stored, want %d", total, writers*batches*perBatch)
	}
	checkStats(t, s, acct, "/g")
}

// TestGroupEvents follows a whole group, as a tail does: events of every
// stream in the order the store took them, each with its stream, starting
// at a time or at the end.
func TestGroupEvents(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/tail"})
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/other"})
	t0 := c.Now()
	mustPut(t, s, acct, "/tail", "s1", ev(t0, "a1"))
	mustPut(t, s, acct, "/other", "x", ev(t0, "not this group"))
	mustPut(t, s, acct, "/tail", "s2", ev(t0.Add(time.Minute), "b1"))
	mustPut(t, s, acct, "/tail", "s1", ev(t0.Add(2*time.Minute), "a2"))

	all, err := s.GroupEvents(ctx, acct, "/tail", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range all {
		got = append(got, e.Stream+":"+e.Message)
	}
	if want := "s1:a1 s2:b1 s1:a2"; strings.Join(got, " ") != want {
		t.Errorf("GroupEvents = %q, want %q", got, want)
	}
	page, err := s.GroupEvents(ctx, acct, "/tail", all[0].ID, 1)
	if err != nil || len(page) != 1 || page[0].Message != "b1" {
		t.Errorf("GroupEvents(after the first, limit 1) = %+v, %v", page, err)
	}

	after, err := s.FirstEventSince(ctx, acct, "/tail", t0.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if es, _ := s.GroupEvents(ctx, acct, "/tail", after, 0); strings.Join(messages(es), " ") != "b1 a2" {
		t.Errorf("events since t0+30s: %q", messages(es))
	}
	after, err = s.FirstEventSince(ctx, acct, "/tail", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if es, _ := s.GroupEvents(ctx, acct, "/tail", after, 0); len(es) != 0 {
		t.Errorf("nothing since t0+1h, got %q", messages(es))
	}
	mustPut(t, s, acct, "/tail", "s3", ev(t0.Add(2*time.Hour), "new"))
	if es, _ := s.GroupEvents(ctx, acct, "/tail", after, 0); strings.Join(messages(es), " ") != "new" {
		t.Errorf("what came next: %q", messages(es))
	}
	if _, err := s.GroupEvents(ctx, "000000000002", "/tail", 0, 0); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("another account's group: %v, want ErrNotFound", err)
	}
}

// TestGroupEventsContaining checks the store's pre-filter for queries:
// only events holding one literal of each list, or a backslash, come out.
func TestGroupEventsContaining(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/q"})
	t0 := c.Now()
	mustPut(t, s, acct, "/q", "s1", ev(t0, `{"command":"sudo ls"}`), ev(t0, `{"command":"ls"}`),
		ev(t0, `{"command":"su\u0064o -i"}`), ev(t0, `{"command":"git push"}`), ev(t0, `{"command":"sudo git"}`))
	got := func(anyOf [][]string) string {
		es, err := s.GroupEventsContaining(ctx, acct, "/q", 0, 0, anyOf)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(messages(es), " ")
	}
	if g := got([][]string{{"sudo"}}); g != `{"command":"sudo ls"} {"command":"su\u0064o -i"} {"command":"sudo git"}` {
		t.Errorf("sudo (or a backslash): %s", g)
	}
	if g := got([][]string{{"sudo"}, {"git", "push"}}); g != `{"command":"su\u0064o -i"} {"command":"sudo git"}` {
		t.Errorf("sudo and (git or push): %s", g)
	}
	if g := got(nil); strings.Count(g, "command") != 5 {
		t.Errorf("no literals: %s", g)
	}
}

// TestReadGroup pages through a group with the reader queries use.
func TestReadGroup(t *testing.T) {
	s, c := openTemp(t)
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/r"})
	var want []string
	for i := range 25 {
		msg := fmt.Sprintf("event-%d", i)
		mustPut(t, s, acct, "/r", fmt.Sprintf("s%d", i%3), ev(c.Now(), msg))
		want = append(want, msg)
	}
	rd := s.ReadGroup(t.Context(), acct, "/r", logstore.ReadOptions{AnyOf: [][]string{{"event-"}}})
	var got []string
	for e, ok := rd.Next(); ok; e, ok = rd.Next() {
		got = append(got, e.Message)
	}
	if rd.Err() != nil || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("read %q, %v", got, rd.Err())
	}
	if rd := s.ReadGroup(t.Context(), acct, "/missing", logstore.ReadOptions{}); func() bool { _, ok := rd.Next(); return ok }() || !errors.Is(rd.Err(), logstore.ErrNotFound) {
		t.Errorf("a missing group: %v", rd.Err())
	}
}

// TestBatchedWritesStandAlone: writes that share a transaction (the writer
// takes all that wait) succeed or fail each on its own: one to a group
// that does not exist, or whose caller gave up, takes none of the others
// with it, and a stream's count is what it holds.
func TestBatchedWritesStandAlone(t *testing.T) {
	s, c := openTemp(t)
	ctx := t.Context()
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/g", RetentionDays: 1})
	gone, cancel := context.WithCancel(ctx)
	cancel()

	const writers = 64
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			group, wctx := "/g", ctx
			switch w % 4 {
			case 1:
				group = "/missing"
			case 2:
				wctx = gone
			}
			errs[w] = s.PutEvents(wctx, acct, group, fmt.Sprint("s", w), []logstore.Event{ev(c.Now(), fmt.Sprint("w", w)), ev(c.Now(), "more")})
		})
	}
	wg.Wait()
	stored := 0
	for w, err := range errs {
		switch w % 4 {
		case 1:
			if !errors.Is(err, logstore.ErrNotFound) {
				t.Errorf("writer %d (missing group): %v, want ErrNotFound", w, err)
			}
		case 2:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("writer %d (gave up): %v, want context.Canceled", w, err)
			}
		default:
			if err != nil {
				t.Errorf("writer %d: %v", w, err)
				continue
			}
			es := mustEvents(t, s, acct, "/g", fmt.Sprint("s", w))
			if len(es) != 2 || es[0].Message != fmt.Sprint("w", w) {
				t.Errorf("writer %d's stream holds %+v", w, es)
			}
			stored++
		}
	}
	streams, err := s.Streams(ctx, acct, "/g")
	if err != nil {
		t.Fatal(err)
	}
	if len(streams) != stored {
		t.Errorf("%d streams, want %d (none for the writes that failed)", len(streams), stored)
	}
	for _, st := range streams {
		if st.Events != 2 {
			t.Errorf("stream %s counts %d events, want 2", st.Name, st.Events)
		}
	}
}
