package runcommand

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/postern/postern/api"
	"github.com/postern/postern/store"
)

func TestParseTargets(t *testing.T) {
	tests := []struct {
		flags []string
		want  []api.CommandTarget
		err   string
	}{
		{flags: []string{"Key=tag:env,Values=prod"}, want: []api.CommandTarget{{Key: "tag:env", Values: []string{"prod"}}}},
		{flags: []string{"key=tag:env,values=prod,staging"}, want: []api.CommandTarget{{Key: "tag:env", Values: []string{"prod", "staging"}}}},
		{flags: []string{"Key=InstanceIds,Values=mi-0123456789abcdef0,mi-0123456789abcdef1", "Key=tag-key,Values=role"},
			want: []api.CommandTarget{{Key: "InstanceIds", Values: []string{"mi-0123456789abcdef0", "mi-0123456789abcdef1"}}, {Key: "tag-key", Values: []string{"role"}}}},
		{flags: []string{`[{"Key":"tag:env","Values":["prod"]},{"Key":"tag:role","Values":["web","db"]}]`},
			want: []api.CommandTarget{{Key: "tag:env", Values: []string{"prod"}}, {Key: "tag:role", Values: []string{"web", "db"}}}},
		{flags: []string{`{"key":"tag:Name","values":["web server"]}`}, want: []api.CommandTarget{{Key: "tag:Name", Values: []string{"web server"}}}},
		{flags: []string{"tag:env=prod"}, err: "want Key=KEY,Values=VALUE"},
		{flags: []string{"Values=prod,Key=tag:env"}, err: "want Key=KEY,Values=VALUE"},
		{flags: []string{"Key=tag:env,Values="}, err: "targets[0].values: required"},
		{flags: []string{"Key=env,Values=prod"}, err: `targets[0].key: "env" is not a target key`},
		{flags: []string{"Key=tag:,Values=prod"}, err: `"" is not a tag name`},
		{flags: []string{"Key=InstanceIds,Values=web-1"}, err: `"web-1" is not a node id`},
		{flags: []string{"Key=tag:env,Values=prod,prod"}, err: `"prod" is given twice`},
		{flags: []string{"Key=tag:env,Values=prod,"}, err: "targets[0].values[1]: empty"},
		{flags: []string{`[{"Key":"tag:env","Values":["prod"],"Extra":1}]`}, err: `unknown field "Extra"`},
		{flags: []string{`{"Key":"tag:env","Values":["prod"]} x`}, err: "not a JSON target"},
		{flags: []string{"Key=tag:a,Values=1", "Key=tag:b,Values=1", "Key=tag:c,Values=1", "Key=tag:d,Values=1", "Key=tag:e,Values=1", "Key=tag:f,Values=1"}, err: "6 targets; a command takes at most 5"},
	}
	for _, tt := range tests {
		got, err := ParseTargets(tt.flags)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err = %v, want it to contain %q", tt.flags, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %+v, %v; want %+v", tt.flags, got, err, tt.want)
		}
	}
}

func TestMatches(t *testing.T) {
	web := store.Node{ID: "mi-0123456789abcdef0", Tags: map[string]string{"env": "prod", "role": "web"}}
	db := store.Node{ID: "mi-0123456789abcdef1", Tags: map[string]string{"env": "prod"}}
	tag := func(k string, v ...string) api.CommandTarget { return api.CommandTarget{Key: k, Values: v} }
	tests := []struct {
		ts          []api.CommandTarget
		web, dbNode bool
	}{
		{[]api.CommandTarget{tag("tag:env", "prod")}, true, true},
		{[]api.CommandTarget{tag("tag:env", "dev", "prod")}, true, true},
		{[]api.CommandTarget{tag("tag:env", "prod"), tag("tag:role", "web")}, true, false}, // every target
		{[]api.CommandTarget{tag("tag-key", "role")}, true, false},
		{[]api.CommandTarget{tag("InstanceIds", db.ID)}, false, true},
		{[]api.CommandTarget{tag("tag:Env", "prod")}, false, false}, // tag names are exact
		{nil, false, false},
	}
	for _, tt := range tests {
		if Matches(tt.ts, web) != tt.web || Matches(tt.ts, db) != tt.dbNode {
			t.Errorf("%+v: web %v db %v, want %v %v", tt.ts, Matches(tt.ts, web), Matches(tt.ts, db), tt.web, tt.dbNode)
		}
	}
}

// TestLimits: Run Command's forms, and what they come to for a number of
// nodes (its documented example: 10% of 50 nodes stops at the sixth
// error).
func TestLimits(t *testing.T) {
	conc := []struct {
		s        string
		nodes, n int
	}{{"1", 3, 1}, {"50", 3, 50}, {"10%", 50, 5}, {"10%", 5, 1}, {"100%", 7, 7}, {"33%", 10, 3}}
	for _, c := range conc {
		l, err := ParseMaxConcurrency(c.s)
		if err != nil {
			t.Fatalf("%s: %v", c.s, err)
		}
		if got := concurrencyOf(l, c.nodes); got != c.n {
			t.Errorf("max concurrency %s of %d nodes: %d, want %d", c.s, c.nodes, got, c.n)
		}
	}
	errs := []struct {
		s        string
		nodes, n int
	}{{"0", 3, 0}, {"2", 3, 2}, {"10%", 50, 5}, {"10%", 5, 0}, {"0%", 9, 0}, {"100%", 4, 4}}
	for _, c := range errs {
		l, err := ParseMaxErrors(c.s)
		if err != nil {
			t.Fatalf("%s: %v", c.s, err)
		}
		if got := l.Of(c.nodes); got != c.n {
			t.Errorf("max errors %s of %d nodes: %d, want %d", c.s, c.nodes, got, c.n)
		}
	}
	for _, s := range []string{"0", "0%", "101%", "-1", "1.5", "5 %", "", "%", "010", "1000000", "abc"} {
		if _, err := ParseMaxConcurrency(s); err == nil {
			t.Errorf("max concurrency %q accepted", s)
		}
	}
	for _, s := range []string{"101%", "-1", "00", "1e3", "", "1000000"} {
		if _, err := ParseMaxErrors(s); err == nil {
			t.Errorf("max errors %q accepted", s)
		}
	}
}

func TestOutput(t *testing.T) {
	var o Output
	o.Write([]byte("héllo\x00wor"))
	o.Write([]byte{0xff})
	o.Write([]byte("ld"))
	text, cut := o.Text()
	if text != "héllo\uFFFDwor\uFFFDld" || cut || o.Bytes() != 13 {
		t.Errorf("Text = %q, %v; bytes %d", text, cut, o.Bytes())
	}
	var long Output
	line := strings.Repeat("é", 1000) // 2 bytes a character
	for range 100 {
		long.Write([]byte(line))
	}
	text, cut = long.Text()
	if utf8.RuneCountInString(text) != MaxOutput || !cut || long.Bytes() != 200000 || !truncated(text, long.Bytes()) {
		t.Errorf("long output: %d characters, cut %v, %d bytes", utf8.RuneCountInString(text), cut, long.Bytes())
	}
	var exact Output
	exact.Write([]byte(strings.Repeat("x", MaxOutput)))
	if text, cut := exact.Text(); cut || truncated(text, exact.Bytes()) {
		t.Error("an output of exactly the limit counts as cut")
	}
}

// FuzzParseTargets: what ParseTargets accepts passes CheckTargets and
// picks nodes without panicking; what it refuses it says why.
func FuzzParseTargets(f *testing.F) {
	for _, s := range []string{"Key=tag:env,Values=prod,staging", "key=InstanceIds,values=mi-0123456789abcdef0",
		`[{"Key":"tag:env","Values":["prod"]}]`, `{"key":"tag-key","values":["role"]}`, "Key=tag:é,Values=ü", "Key=,Values=", "Values=x"} {
		f.Add(s, "Key=tag-key,Values=env")
	}
	n := store.Node{ID: "mi-0123456789abcdef0", Tags: map[string]string{"env": "prod", "role": "web"}}
	f.Fuzz(func(t *testing.T, a, b string) {
		ts, err := ParseTargets([]string{a, b})
		if err != nil {
			if ts != nil || err.Error() == "" {
				t.Fatalf("targets %v with error %q", ts, err)
			}
			return
		}
		if err := CheckTargets(ts); err != nil {
			t.Fatalf("ParseTargets accepted what CheckTargets refuses: %v", err)
		}
		Matches(ts, n)
	})
}

// FuzzLimits: the limits parse or are refused, and come to sensible
// numbers for any number of nodes.
func FuzzLimits(f *testing.F) {
	for _, s := range []string{"0", "1", "50", "10%", "100%", "0%", "101%", "-1", "9999999"} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, nodes int) {
		nodes = min(max(nodes, 1), MaxNodes)
		if l, err := ParseMaxConcurrency(s); err == nil {
			if c := concurrencyOf(l, nodes); c < 1 {
				t.Fatalf("max concurrency %q of %d nodes is %d", s, nodes, c)
			}
		}
		if l, err := ParseMaxErrors(s); err == nil {
			if e := l.Of(nodes); e < 0 || l.Percent && e > nodes {
				t.Fatalf("max errors %q of %d nodes is %d", s, nodes, e)
			}
		}
	})
}

// FuzzOutput: however a stream is cut into writes, its text is the same,
// valid UTF-8 without NUL, at most MaxOutput characters, and counted
// whole.
func FuzzOutput(f *testing.F) {
	f.Add([]byte("hello\nworld"), 3)
	f.Add([]byte("h\xe9llo\x00\xff\xfe"), 1)
	f.Add(bytes.Repeat([]byte("ü"), MaxOutput), MaxOutput)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		var whole, parts Output
		whole.Write(data)
		cut = min(max(cut, 0), len(data))
		parts.Write(data[:cut])
		parts.Write(data[cut:])
		a, ta := whole.Text()
		b, tb := parts.Text()
		if a != b || ta != tb || whole.Bytes() != int64(len(data)) || parts.Bytes() != whole.Bytes() {
			t.Fatalf("cut at %d: %q (%v) vs %q (%v)", cut, b, tb, a, ta)
		}
		if !utf8.ValidString(a) || strings.ContainsRune(a, 0) || utf8.RuneCountInString(a) > MaxOutput {
			t.Fatalf("text %q", a)
		}
		if !ta && utf8.Valid(data) && !bytes.ContainsRune(data, 0) && a != string(data) {
			t.Fatalf("uncut valid text changed: %q", a)
		}
	})
}
