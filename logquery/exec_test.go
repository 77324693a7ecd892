package logquery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// testEvents is a small audit log: JSON command events with assorted
// types and gaps, a plain-text line, and JSON with escapes.
var testEvents = []Event{
	{Timestamp: at(0), Ingestion: at(time.Second), Stream: "s1", Message: `{"eventType":"Command","command":"sudo ls","exitCode":1,"user":"alice","userIdentity":{"arn":"arn:alice"},"tags":["x","y"],"latency":120}`},
	{Timestamp: at(time.Minute), Stream: "s1", Message: `{"command":"ls","exitCode":0,"user":"bob","userIdentity":{"arn":"arn:bob"},"latency":"80"}`},
	{Timestamp: at(2 * time.Minute), Stream: "s2", Message: `{"command":"sudo rm -rf /tmp/x","exitCode":0,"user":"alice","userIdentity":{"arn":"arn:alice"},"latency":30.5}`},
	{Timestamp: at(7 * time.Minute), Stream: "s2", Message: `{"command":"SUDO reboot","exitCode":"2","user":"carol","userIdentity":{"arn":"arn:carol"}}`},
	{Timestamp: at(8 * time.Minute), Message: `user=dave cmd=vim exit=0`},
	{Timestamp: at(9 * time.Minute), Message: `{"command":"run \u0073udo now","user":"erin","ok":true,"n":null,"@id":"e6"}`},
	{Timestamp: at(20 * time.Minute), Message: `{ "command": "cat", "user": "bob", "exitCode": 10 }`},
}

func source(evs []Event) func() (Event, bool) {
	i := 0
	return func() (Event, bool) {
		if i >= len(evs) {
			return Event{}, false
		}
		i++
		return evs[i-1], true
	}
}

func run(t *testing.T, query string, evs []Event, lim Limits) (*Result, error) {
	t.Helper()
	q, err := Parse(query)
	if err != nil {
		t.Fatalf("Parse(%q): %v", query, err)
	}
	return q.Run(context.Background(), source(evs), lim)
}

type trow = []any

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		q       string
		cols    []string
		rows    []trow
		matched int64 // checked when not zero
	}{
		{
			name:    "default columns",
			q:       `filter user = "bob"`,
			cols:    []string{"@timestamp", "@message"},
			rows:    []trow{{at(time.Minute), testEvents[1].Message}, {at(20 * time.Minute), testEvents[6].Message}},
			matched: 2,
		},
		{
			name: "like regex, and a JSON escape only the decoder sees",
			q:    `fields user, command | filter command like /sudo/ | sort @timestamp asc`,
			cols: []string{"user", "command"},
			rows: []trow{{"alice", "sudo ls"}, {"alice", "sudo rm -rf /tmp/x"}, {"erin", "run sudo now"}},
		},
		{
			name: "like is case-sensitive; (?i) is not",
			q:    `filter command like /(?i)^sudo/ | fields user`,
			cols: []string{"user"},
			rows: []trow{{"alice"}, {"alice"}, {"carol"}},
		},
		{
			name: "like substring and =~",
			q:    `filter command like "rm" or command =~ "cat" | fields user`,
			cols: []string{"user"},
			rows: []trow{{"alice"}, {"bob"}},
		},
		{
			name: "not like skips events without the field",
			q:    `filter command not like /sudo/ | fields user`,
			cols: []string{"user"},
			rows: []trow{{"bob"}, {"carol"}, {"bob"}},
		},
		{
			name: "numeric comparison when both sides are numbers",
			q:    `filter exitCode > 1 | fields user, exitCode`,
			cols: []string{"user", "exitCode"},
			rows: []trow{{"carol", "2"}, {"bob", int64(10)}},
		},
		{
			name: "numeric equality across types",
			q:    `filter exitCode = "0" | fields user`,
			cols: []string{"user"},
			rows: []trow{{"bob"}, {"alice"}},
		},
		{
			name: "string comparison otherwise",
			q:    `filter user > "bob" | fields user`,
			cols: []string{"user"},
			rows: []trow{{"carol"}, {"erin"}},
		},
		{
			name: "!= is false on null",
			q:    `filter exitCode != 0 | fields user`,
			cols: []string{"user"},
			rows: []trow{{"alice"}, {"carol"}, {"bob"}},
		},
		{
			name: "not negates",
			q:    `filter not exitCode = 0 | fields user`,
			cols: []string{"user"},
			rows: []trow{{"alice"}, {"carol"}, {nil}, {"erin"}, {"bob"}},
		},
		{
			name: "in and not in",
			q:    `filter user in ["alice", "carol"] and exitCode not in [1] | fields user`,
			cols: []string{"user"},
			rows: []trow{{"alice"}, {"carol"}},
		},
		{
			name: "in with numbers",
			q:    `filter exitCode in [0, 2] | fields user`,
			cols: []string{"user"},
			rows: []trow{{"bob"}, {"alice"}, {"carol"}},
		},
		{
			name: "precedence and parentheses",
			q:    `filter user = "bob" or user = "alice" and exitCode = 1 | fields user`,
			cols: []string{"user"},
			rows: []trow{{"alice"}, {"bob"}, {"bob"}},
		},
		{
			name: "precedence and parentheses 2",
			q:    `filter (user = "bob" or user = "alice") and exitCode = 0 | fields user`,
			cols: []string{"user"},
			rows: []trow{{"bob"}, {"alice"}},
		},
		{
			name: "ispresent, isempty, isblank",
			q:    `filter ispresent(latency) and not isempty(user) and not isblank(command) | fields user`,
			cols: []string{"user"},
			rows: []trow{{"alice"}, {"bob"}, {"alice"}},
		},
		{
			name: "timestamp against epoch milliseconds and dates",
			q:    fmt.Sprintf(`filter @timestamp >= %d and @timestamp < "2025-01-02 03:14:00" | fields user`, at(8*time.Minute).UnixMilli()),
			cols: []string{"user"},
			rows: []trow{{nil}, {"erin"}},
		},
		{
			name: "JSON types, arrays, containers, @@ keys, booleans and null",
			q:    `filter @timestamp < 1735787045001 or user = "erin" | fields tags.0, tags.1, tags.2, tags, userIdentity, latency, ok, n, @@id`,
			cols: []string{"tags.0", "tags.1", "tags.2", "tags", "userIdentity", "latency", "ok", "n", "@@id"},
			rows: []trow{
				{"x", "y", nil, nil, nil, int64(120), nil, nil, nil},
				{nil, nil, nil, nil, nil, nil, "true", nil, "e6"},
			},
		},
		{
			name: "system fields",
			q:    `filter user = "alice" or user = "erin" | fields @logStream, @ingestionTime, @timestamp`,
			cols: []string{"@logStream", "@ingestionTime", "@timestamp"},
			rows: []trow{{"s1", at(time.Second), at(0)}, {"s2", nil, at(2 * time.Minute)}, {nil, nil, at(9 * time.Minute)}},
		},
		{
			name: "aliases; fields commands add up",
			q:    `fields user as who | filter who = "carol" | fields command, who`,
			cols: []string{"who", "command"},
			rows: []trow{{"carol", "SUDO reboot"}},
		},
		{
			name: "display replaces the columns",
			q:    `fields user, command | display command | filter user = "carol"`,
			cols: []string{"command"},
			rows: []trow{{"SUDO reboot"}},
		},
		{
			name: "parse glob on a plain line",
			q:    `parse @message "user=* cmd=* exit=*" as u, c, e | filter ispresent(u) | fields u, c, e`,
			cols: []string{"u", "c", "e"},
			rows: []trow{{"dave", "vim", "0"}},
		},
		{
			name: "parse keeps rows that do not match, with null fields, and shadows JSON",
			q:    `parse "user=* " as user | fields user | limit 6`,
			cols: []string{"user"},
			rows: []trow{{nil}, {nil}, {nil}, {nil}, {"dave"}, {nil}},
		},
		{
			name: "parse glob anchored at the start and at the end",
			q:    `parse @logStream "*1" as a | parse @message "*dave*exit*" as b, c, d | filter ispresent(a) or ispresent(b) | fields a, b, c, d`,
			cols: []string{"a", "b", "c", "d"},
			rows: []trow{{"s", nil, nil, nil}, {"s", nil, nil, nil}, {nil, "user=", " cmd=vim ", "=0"}},
		},
		{
			name: "parse regex with named groups; unnamed ones are skipped",
			q:    `parse @message /"user": ?"(?<u>[a-z]+)"(,"(ok)":(?<ok>\w+))?/ | filter ispresent(u) | stats count(*) as n, count(ok) by u | sort u asc`,
			cols: []string{"u", "n", "count(ok)"},
			rows: []trow{{"alice", int64(2), int64(0)}, {"bob", int64(2), int64(0)}, {"carol", int64(1), int64(0)}, {"erin", int64(1), int64(1)}},
		},
		{
			name: "chained parse",
			q:    `parse @message "cmd=* " as cmd | parse cmd "v*" as rest | filter ispresent(rest) | fields cmd, rest`,
			cols: []string{"cmd", "rest"},
			rows: []trow{{"vim", "im"}},
		},
		{
			name:    "stats functions over mixed numbers",
			q:       `stats count(*), count(latency), count_distinct(user), min(latency), max(latency), avg(latency), sum(latency)`,
			cols:    []string{"count(*)", "count(latency)", "count_distinct(user)", "min(latency)", "max(latency)", "avg(latency)", "sum(latency)"},
			rows:    []trow{{int64(7), int64(3), int64(4), 30.5, int64(120), 230.5 / 3, 230.5}},
			matched: 7,
		},
		{
			name: "sum of integers stays an integer; min and max of strings",
			q:    `stats sum(exitCode) as s, min(user), max(user), avg(nothing), sum(nothing), min(nothing)`,
			cols: []string{"s", "min(user)", "max(user)", "avg(nothing)", "sum(nothing)", "min(nothing)"},
			rows: []trow{{int64(13), "alice", "erin", nil, nil, nil}},
		},
		{
			name: "stats by a JSON field: null is a group, order is first seen",
			q:    `stats count(*) as n by userIdentity.arn`,
			cols: []string{"userIdentity.arn", "n"},
			rows: []trow{{"arn:alice", int64(2)}, {"arn:bob", int64(1)}, {"arn:carol", int64(1)}, {nil, int64(3)}},
		},
		{
			name: "stats over no events: one row without by, none with",
			q:    `filter user = "nobody" | stats count(*) as n, sum(latency) as s`,
			cols: []string{"n", "s"},
			rows: []trow{{int64(0), nil}},
		},
		{
			name: "stats by with no events",
			q:    `filter user = "nobody" | stats count(*) by user`,
			cols: []string{"user", "count(*)"},
			rows: []trow{},
		},
		{
			name: "bin",
			q:    `stats count(*) as n by bin(5m) as t`,
			cols: []string{"t", "n"},
			rows: []trow{
				{time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC), int64(1)},
				{time.Date(2025, 1, 2, 3, 5, 0, 0, time.UTC), int64(2)},
				{time.Date(2025, 1, 2, 3, 10, 0, 0, time.UTC), int64(3)},
				{time.Date(2025, 1, 2, 3, 20, 0, 0, time.UTC), int64(1)},
			},
		},
		{
			name: "bin by calendar and by week",
			q:    `stats count(*) by bin(1mo), bin(1q), bin(1y), bin(1w), bin(1d), bin(2h)`,
			cols: []string{"bin(1mo)", "bin(1q)", "bin(1y)", "bin(1w)", "bin(1d)", "bin(2h)", "count(*)"},
			rows: []trow{{
				time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
				time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
				time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
				time.Date(2024, 12, 30, 0, 0, 0, 0, time.UTC), // a Monday
				time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC),
				time.Date(2025, 1, 2, 2, 0, 0, 0, time.UTC),
				int64(7),
			}},
		},
		{
			name: "two stats commands; fields after stats",
			q:    `stats count(*) as n by user | stats sum(n) as total, count(*) as users, max(n) as most | fields users, total`,
			cols: []string{"users", "total"},
			rows: []trow{{int64(5), int64(7)}}, // alice, bob, carol, erin and no user
		},
		{
			name: "after stats, only its columns exist",
			q:    `stats count(*) as n by user | filter n > 1 | sort user asc | fields user, n, command, @timestamp`,
			cols: []string{"user", "n", "command", "@timestamp"},
			rows: []trow{{"alice", int64(2), nil, nil}, {"bob", int64(2), nil, nil}},
		},
		{
			name: "sort asc: stable for ties, nulls last",
			q:    `sort exitCode asc | fields user, exitCode`,
			cols: []string{"user", "exitCode"},
			rows: []trow{{"bob", int64(0)}, {"alice", int64(0)}, {"alice", int64(1)}, {"carol", "2"}, {"bob", int64(10)}, {nil, nil}, {"erin", nil}},
		},
		{
			name: "sort desc: nulls still last, ties in arrival order",
			q:    `sort exitCode desc | fields user, exitCode | limit 5`,
			cols: []string{"user", "exitCode"},
			rows: []trow{{"bob", int64(10)}, {"carol", "2"}, {"alice", int64(1)}, {"bob", int64(0)}, {"alice", int64(0)}},
		},
		{
			name: "sort by two keys; filter after sort",
			q:    `sort user asc, @timestamp desc | filter ispresent(user) | fields user, command | limit 3`,
			cols: []string{"user", "command"},
			rows: []trow{{"alice", "sudo rm -rf /tmp/x"}, {"alice", "sudo ls"}, {"bob", "cat"}},
		},
		{
			name: "dedup without sort keeps the newest, newest first, and null keys",
			q:    `fields user, command | dedup user`,
			cols: []string{"user", "command"},
			rows: []trow{{"bob", "cat"}, {"erin", "run sudo now"}, {nil, nil}, {"carol", "SUDO reboot"}, {"alice", "sudo rm -rf /tmp/x"}},
		},
		{
			name: "dedup after sort keeps the first in that order",
			q:    `fields user, command | sort @timestamp asc | dedup user | limit 3`,
			cols: []string{"user", "command"},
			rows: []trow{{"alice", "sudo ls"}, {"bob", "ls"}, {"carol", "SUDO reboot"}},
		},
		{
			name: "dedup of sorted rows after a limit keeps arrival order",
			q:    `fields user | sort @timestamp asc | limit 4 | dedup user`,
			cols: []string{"user"},
			rows: []trow{{"alice"}, {"bob"}, {"carol"}},
		},
		{
			name: "dedup on two fields",
			q:    `fields user, exitCode | sort @timestamp asc | dedup user, exitCode`,
			cols: []string{"user", "exitCode"},
			rows: []trow{{"alice", int64(1)}, {"bob", int64(0)}, {"alice", int64(0)}, {"carol", "2"}, {nil, nil}, {"erin", nil}, {"bob", int64(10)}},
		},
		{
			name:    "limit, and Matched counts past it",
			q:       `filter ispresent(user) | fields user | limit 2`,
			cols:    []string{"user"},
			rows:    []trow{{"alice"}, {"bob"}},
			matched: 6,
		},
		{
			name: "limit then more commands",
			q:    `limit 3 | filter user = "alice" | fields command`,
			cols: []string{"command"},
			rows: []trow{{"sudo ls"}, {"sudo rm -rf /tmp/x"}},
		},
		{
			name: "stats then sort and limit",
			q:    `stats count(*) as n by user | sort n desc, user asc | limit 2`,
			cols: []string{"user", "n"},
			rows: []trow{{"alice", int64(2)}, {"bob", int64(2)}},
		},
		{
			name: "unknown @ fields are null",
			q:    `fields @requestId, @log | limit 1`,
			cols: []string{"@requestId", "@log"},
			rows: []trow{{nil, nil}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := run(t, tt.q, testEvents, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Columns, tt.cols) {
				t.Errorf("columns = %q, want %q", res.Columns, tt.cols)
			}
			if !reflect.DeepEqual(res.Rows, tt.rows) && !(len(res.Rows) == 0 && len(tt.rows) == 0) {
				t.Errorf("rows:\n got %v\nwant %v", res.Rows, tt.rows)
			}
			if res.Scanned != int64(len(testEvents)) {
				t.Errorf("Scanned = %d, want %d", res.Scanned, len(testEvents))
			}
			if tt.matched != 0 && res.Matched != tt.matched {
				t.Errorf("Matched = %d, want %d", res.Matched, tt.matched)
			}
		})
	}
}

// TestPrecheck covers the raw-message shortcut where it must not apply.
func TestPrecheck(t *testing.T) {
	evs := []Event{
		{Message: `{"n":1e3,"s":"a\"b","t":"x\u0041y"}`},
		{Message: `{"n":999,"s":"plain"}`},
	}
	tests := []struct {
		q    string
		want int
	}{
		{`filter n like "1000"`, 1}, // the number prints as 1000; the message says 1e3
		{`filter n = "1000"`, 1},
		{`filter n in ["1000"]`, 1},
		{`filter s = 'a"b'`, 1},
		{`filter t like "AY"`, 0},
		{`filter t like /xAy/`, 1},
		{`filter t = "xAy" or s = "plain"`, 2},
		{`filter s like "plain" and n = 999`, 1},
		{`filter s in ["zzz", "plain"]`, 1},
	}
	for _, tt := range tests {
		res, err := run(t, tt.q, evs, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != tt.want {
			t.Errorf("%s: %d rows, want %d", tt.q, len(res.Rows), tt.want)
		}
	}
	// The precheck does reject: a selective query decodes nothing it need not.
	q, _ := Parse(`filter command like /sudo/ | stats count(*)`)
	if len(q.pl.checks) != 1 || !slices.Equal(q.pl.checks[0].lits, []string{"sudo"}) {
		t.Errorf("checks = %+v, want one for sudo", q.pl.checks)
	}
	for _, s := range []string{`filter command like /(?i)sudo/`, `filter n like "1000"`, `filter command not like /sudo/`, `parse "*" as command | filter command like "x"`} {
		if q, _ := Parse(s); len(q.pl.checks) != 0 {
			t.Errorf("%s: unexpected precheck %+v", s, q.pl.checks)
		}
	}
}

func TestDefaultLimit(t *testing.T) {
	evs := make([]Event, DefaultLimit+5)
	for i := range evs {
		evs[i] = Event{Timestamp: at(time.Duration(i) * time.Second), Message: fmt.Sprint(i)}
	}
	res, err := run(t, `fields @message`, evs, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != DefaultLimit || res.Matched != int64(len(evs)) {
		t.Errorf("got %d rows, %d matched; want %d, %d", len(res.Rows), res.Matched, DefaultLimit, len(evs))
	}
	// The default limit also caps a sort, as a top-N.
	res, err = run(t, `sort @timestamp desc`, evs, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != DefaultLimit || res.Rows[0][1] != fmt.Sprint(len(evs)-1) {
		t.Errorf("sort: got %d rows, first %v", len(res.Rows), res.Rows[0])
	}
}

// TestTopN checks the heap against a plain stable sort.
func TestTopN(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var evs []Event
	for i := range 2000 {
		msg := fmt.Sprintf(`{"k":%d,"s":"v%d","i":%d}`, r.IntN(50), r.IntN(30), i)
		if r.IntN(10) == 0 {
			msg = fmt.Sprintf(`{"i":%d}`, i) // k and s missing: nulls
		}
		evs = append(evs, Event{Timestamp: at(time.Duration(r.IntN(100)) * time.Second), Message: msg})
	}
	for _, order := range []string{"k asc", "k desc", "s asc, k desc", "@timestamp desc, k asc"} {
		for _, n := range []int{1, 7, 100, 1999, 5000} {
			full, err := run(t, fmt.Sprintf(`fields i | sort %s | limit 5000 | fields i`, order), evs, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			// A limit that does not directly follow sort keeps the full sort.
			full2, err := run(t, fmt.Sprintf(`fields i | sort %s | limit 5000 | limit %d`, order, n), evs, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			top, err := run(t, fmt.Sprintf(`fields i | sort %s | limit %d`, order, n), evs, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			want := full.Rows[:min(n, len(full.Rows))]
			if !reflect.DeepEqual(top.Rows, want) || !reflect.DeepEqual(full2.Rows, want) {
				t.Errorf("sort %s | limit %d: top-N differs from full sort", order, n)
			}
		}
	}
}

func TestNaturalSort(t *testing.T) {
	// The example in Insights' sort documentation, in ascending order.
	want := []string{"!:", "#", "*%04", "0#", "5A", "111A", "2345_", "@", "@_", "A", "A9876fghj", "a12345hfh", "0", "01", "1", "2", "3"}
	got := slices.Clone(want)
	rand.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
	slices.SortStableFunc(got, func(a, b string) int { return cmpSort(strValue(a), strValue(b)) })
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestLimits(t *testing.T) {
	var evs []Event
	for i := range 50 {
		evs = append(evs, Event{Timestamp: at(0), Message: fmt.Sprintf(`{"u":"u%d","v":%d}`, i, i)})
	}
	tests := []struct {
		q    string
		lim  Limits
		want string
	}{
		{`stats count(*) by u`, Limits{MaxGroups: 10}, "query: more than 10 groups: narrow the query or add a filter"},
		{`stats count_distinct(u)`, Limits{MaxRows: 10}, "query: count_distinct holds more than 10 distinct values: narrow the query or add a filter"},
		{`sort v | limit 5 | sort u`, Limits{MaxRows: 3}, "query: more than 3 rows to sort: lower the limit"},
		{`sort v | stats count(*)`, Limits{MaxRows: 10}, "query: more than 10 rows to sort: add a limit right after sort, or a filter"},
		{`dedup u`, Limits{MaxRows: 10}, "query: more than 10 rows held for dedup: add a filter"},
		{`fields u | limit 20`, Limits{MaxRows: 10}, "query: more than 10 result rows: lower the limit"},
	}
	for _, tt := range tests {
		_, err := run(t, tt.q, evs, tt.lim)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s with %+v: got %v, want %q", tt.q, tt.lim, err, tt.want)
		}
	}
	// Within the limits, all is well.
	if _, err := run(t, `stats count(*) by u`, evs, Limits{MaxGroups: 50}); err != nil {
		t.Errorf("50 groups within 50: %v", err)
	}
}

func TestCancel(t *testing.T) {
	q, err := Parse(`stats count(*)`)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = q.Run(ctx, func() (Event, bool) {
		n++
		if n == 5000 {
			cancel()
		}
		return Event{Message: "x"}, true // endless
	}, Limits{})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "query canceled after reading 5120 events") {
		t.Errorf("got %v", err)
	}
	if _, err := q.Run(ctx, source(testEvents), Limits{}); !errors.Is(err, context.Canceled) {
		t.Errorf("already canceled: got %v", err)
	}
	if _, err := q.Run(context.Background(), nil, Limits{}); err == nil {
		t.Error("nil source: no error")
	}
}

// TestConcurrentRuns checks that a Query is safe to share (run with -race).
func TestConcurrentRuns(t *testing.T) {
	q, err := Parse(`parse @message /"user":"(?<u>\w+)"/ | filter command like /sudo/ | stats count(*) by u, bin(1h) | sort u`)
	if err != nil {
		t.Fatal(err)
	}
	want, err := q.Run(context.Background(), source(testEvents), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 8)
	for range 8 {
		go func() {
			got, err := q.Run(context.Background(), source(testEvents), Limits{})
			if err == nil && !reflect.DeepEqual(got, want) {
				err = fmt.Errorf("got %v, want %v", got.Rows, want.Rows)
			}
			errc <- err
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}

// TestPrefilteredSameAsSerial: spreading the filters over workers (as Run
// does when it has more than one CPU) gives the results one goroutine gives,
// rows in the same order, counts included.
func TestPrefilteredSameAsSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	evs := make([]Event, 5000)
	for i := range evs {
		evs[i] = testEvents[rng.IntN(len(testEvents))]
		evs[i].Timestamp = at(time.Duration(rng.IntN(3600)) * time.Second)
	}
	queries := []string{
		`filter command like /sudo/ | stats count(*) by user`,
		`filter @message like /"exitCode":[1-9]/ | fields @timestamp, command | sort @timestamp desc | limit 17`,
		`filter exitCode != 0 | dedup user`,
		`parse @message "cmd=* " as cmd | filter ispresent(cmd) | fields cmd`,
		`filter user in ["alice", "bob"] and not command like "ls" | stats count(*) by bin(10m)`,
		`fields command | filter command like /^s/ | limit 3`,
	}
	for _, q := range queries {
		prev := runtime.GOMAXPROCS(1)
		serial, err1 := run(t, q, evs, Limits{})
		runtime.GOMAXPROCS(4)
		parallel, err2 := run(t, q, evs, Limits{})
		runtime.GOMAXPROCS(prev)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v, %v", q, err1, err2)
		}
		if !reflect.DeepEqual(serial, parallel) {
			t.Errorf("%s:\nserial   %+v\nparallel %+v", q, serial, parallel)
		}
		if serial.Matched == 0 || serial.Matched == serial.Scanned {
			t.Errorf("%s: matched %d of %d; the filter should drop some", q, serial.Matched, serial.Scanned)
		}
	}
}
