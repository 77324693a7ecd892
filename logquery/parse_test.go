package logquery

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseCanonical(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// The examples from the package's purpose.
		{
			`fields @timestamp, command, exitCode | filter command like /sudo/ and exitCode != 0 | sort @timestamp desc | limit 20`,
			`fields @timestamp, command, exitCode | filter command like /sudo/ and exitCode != 0 | sort @timestamp desc | limit 20`,
		},
		{
			`filter command like /sudo/ | stats count(*) by userIdentity.arn`,
			`filter command like /sudo/ | stats count(*) by userIdentity.arn`,
		},
		{`stats count(*) as n by bin(5m)`, `stats count(*) as n by bin(5m)`},
		{
			`parse @message "user=* cmd=*" as user, cmd | filter user in ["alice","bob"] | dedup cmd`,
			`parse @message "user=* cmd=*" as user, cmd | filter user in ["alice", "bob"] | dedup cmd`,
		},
		// Case, spacing, comments and line breaks are not significant.
		{"FIELDS a,b\n| FILTER x=1 AND y>=2 # trailing comment\n# a whole line\n| LIMIT 5", `fields a, b | filter x = 1 and y >= 2 | limit 5`},
		{`display a, b`, `display a, b`},
		{`fields a as b, c`, `fields a as b, c`},
		// Filter operators.
		{`filter a!=1 and b<2 and c<=3 and d>4 and e>=5`, `filter a != 1 and b < 2 and c <= 3 and d > 4 and e >= 5`},
		{`filter a =~ /x/`, `filter a like /x/`},
		{`filter a =~ "x"`, `filter a like "x"`},
		{`filter a not like 'x'`, `filter a not like "x"`},
		{`filter a not in [1, -2.5, "x"]`, `filter a not in [1, -2.5, "x"]`},
		{`filter a > - 3`, `filter a > -3`},
		{`filter "x" = a`, `filter "x" = a`},
		{`filter isPresent(a) and not isEmpty(b) or isblank(c)`, `filter ispresent(a) and not isempty(b) or isblank(c)`},
		{`filter @message like /(?i)Exception/`, `filter @message like /(?i)Exception/`},
		{`filter @message like /a\/b/`, `filter @message like /a\/b/`},
		// Precedence: and binds tighter than or; parentheses kept only where needed.
		{`filter (a=1 or b=2) and c=3`, `filter (a = 1 or b = 2) and c = 3`},
		{`filter a=1 or (b=2 and c=3)`, `filter a = 1 or b = 2 and c = 3`},
		{`filter a=1 or (b=2 or c=3)`, `filter a = 1 or (b = 2 or c = 3)`},
		{`filter ((a=1))`, `filter a = 1`},
		{`filter not (a=1 or b=2)`, `filter not (a = 1 or b = 2)`},
		{`filter not not a=1`, `filter not not a = 1`},
		// Strings and quoting.
		{`filter a = 'it''s'`, ``}, // two strings in a row: error, checked below
		{`filter a = "say \"hi\"\n"`, `filter a = "say \"hi\"\n"`},
		{`filter a = 'say "hi"'`, `filter a = "say \"hi\""`},
		{`filter a like "\d+"`, `filter a like "\\d+"`},
		{"fields `foo-bar`, `and`, `x`", "fields `foo-bar`, `and`, x"},
		{`fields @@timestamp, sessionData.0, a_b.c1`, `fields @@timestamp, sessionData.0, a_b.c1`},
		// parse.
		{`parse "a=*" as a`, `parse @message "a=*" as a`},
		{`parse @logStream "*/*" as env, svc`, `parse @logStream "*/*" as env, svc`},
		{`parse @message /user=(?<user>\w+) (?P<cmd>.*)/`, `parse @message /user=(?<user>\w+) (?P<cmd>.*)/`},
		// stats.
		{`stats count(*), count(a), count_distinct(b), min(c), max(d), avg(e), sum(f) by g, bin(1h)`, `stats count(*), count(a), count_distinct(b), min(c), max(d), avg(e), sum(f) by g, bin(1h)`},
		{`stats COUNT(*) as n, Avg(x) as m by h as host, BIN(30sec) as t`, `stats count(*) as n, avg(x) as m by h as host, bin(30sec) as t`},
		{`stats count(*) by bin(2hrs), bin(1mo), bin(1q), bin(1y), bin(100ms), bin(1w)`, `stats count(*) by bin(2hrs), bin(1mo), bin(1q), bin(1y), bin(100ms), bin(1w)`},
		{`stats sum(x) as s by bin(1m) | stats avg(s)`, `stats sum(x) as s by bin(1m) | stats avg(s)`},
		// sort: Insights sorts descending by default.
		{`sort a`, `sort a desc`},
		{`sort a asc, b, c desc`, `sort a asc, b desc, c desc`},
		{`sort @timestamp desc | dedup a, b | limit 3`, `sort @timestamp desc | dedup a, b | limit 3`},
		{`limit 100000`, `limit 100000`},
	}
	for _, tt := range tests {
		q, err := Parse(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %q, want error", tt.in, q)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := q.String(); got != tt.want {
			t.Errorf("Parse(%q).String()\n got %s\nwant %s", tt.in, got, tt.want)
			continue
		}
		q2, err := Parse(q.String())
		if err != nil {
			t.Errorf("reparse %q: %v", q, err)
		} else if q2.String() != q.String() {
			t.Errorf("reparse %q gave %q", q, q2)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{``, `query:1:1: empty query: expected a command such as fields, filter or stats`},
		{`  # just a comment`, `query:1:1: empty query: expected a command such as fields, filter or stats`},
		{`filter command like /sudo/ | stats count(*) by |`, `query:1:48: expected a field name after "by", found "|"`},
		{`stats count(*) by`, `query:1:18: expected a field name after "by", found end of query`},
		{`fields a |`, `query:1:11: expected a command after "|", found end of query`},
		{`fields a | | limit 1`, `query:1:12: expected a command after "|", found "|"`},
		{`fields a b`, `query:1:10: expected "|" or end of query after "a", found "b"`},
		{`fields`, `query:1:7: expected a field name after "fields", found end of query`},
		{`fields abs(x)`, `query:1:8: functions such as abs(...) are not supported in fields: list field names only`},
		{`display a as b`, `query:1:11: display does not take aliases: use "fields a as ..." instead`},
		{`select *`, `query:1:1: unknown command "select": expected fields, display, filter, parse, stats, sort, limit or dedup`},
		{`fields a | pattern @message`, `query:1:12: command "pattern" is not supported here: expected fields, display, filter, parse, stats, sort, limit or dedup`},
		{`| fields a`, `query:1:1: expected a command, found "|"`},
		{`filter`, `query:1:7: expected a condition after "filter", found end of query`},
		{`filter a`, `query:1:9: expected a comparison (=, !=, <, <=, >, >=, like, =~ or in) after "a", found end of query`},
		{`filter a = `, `query:1:12: expected a field name or a value after "=", found end of query`},
		{`filter a == 1`, `query:1:11: expected a field name or a value after "=", found "="`},
		{`filter a ! 1`, `query:1:10: unexpected "!": use "not" or "!="`},
		{`filter a like 5`, `query:1:15: expected a "string" or a /regex/ after "like", found "5"`},
		{`filter a not = 1`, `query:1:14: expected "like" or "in" after "not", found "="`},
		{`filter a in []`, `query:1:14: expected a "string" or a number after "[", found "]"`},
		{`filter a in [1,]`, `query:1:16: expected a "string" or a number after ",", found "]"`},
		{`filter a in [1 2]`, `query:1:16: expected "," or "]" after "1", found "2"`},
		{`filter a in 1`, `query:1:13: expected "[" after "in", found "1"`},
		{`filter (a = 1`, `query:1:14: expected ")" after "1", found end of query`},
		{`filter a = 1 and`, `query:1:17: expected a condition after "and", found end of query`},
		{`filter abs(a) > 1`, `query:1:8: unknown function "abs" in filter: supported are ispresent, isempty and isblank`},
		{`filter ispresent(*)`, `query:1:18: expected a field name after "(", found "*"`},
		{`filter a like /sudo/i`, `query:1:21: regex flags after the closing / are not supported: start the pattern with (?i) for a case-insensitive match, as Insights does`},
		{`filter a like /x(/`, "query:1:15: bad regex /x(/: missing closing ): `x(`"},
		{`filter a like /(?<n>x/`, "query:1:15: bad regex /(?<n>x/: missing closing ): `(?<n>x`"},
		{`filter a like /x`, `query:1:15: unterminated regex: add the closing /`},
		{`filter a = "x`, `query:1:12: unterminated string: add the closing "`},
		{"fields `a", "query:1:8: unterminated `field name`: add the closing back quote"},
		{"fields ``", "query:1:8: empty `` field name"},
		{`fields a..b`, `query:1:8: malformed field name "a..b": a dot must separate two names`},
		{`fields a.`, `query:1:8: malformed field name "a.": a dot must separate two names`},
		{`filter x = 5abc`, `query:1:12: malformed number "5abc": field names cannot start with a digit unless back-quoted`},
		{`fields a-b`, `query:1:9: expected "|" or end of query after "a", found "-"`},
		{`fields a ; b`, `query:1:10: unexpected character ';'`},
		{`fields and`, `query:1:8: expected a field name after "fields", found "and"`},
		// Columns count runes, and lines are counted.
		{"fields a\n| filter é = ! ", `query:2:14: unexpected "!": use "not" or "!="`},
		{"fields \"ü\" ", `query:1:8: expected a field name after "fields", found string "ü"`},
		// stats.
		{`stats`, `query:1:6: expected an aggregate function such as count(*) after "stats", found end of query`},
		{`stats median(x)`, `query:1:7: unknown function "median" in stats: supported are count, count_distinct, min, max, avg and sum`},
		{`stats count`, `query:1:12: expected "(" after "count", found end of query`},
		{`stats sum(*)`, `query:1:11: sum needs a field name, not *`},
		{`stats count(*), count(*)`, `query:1:17: stats has two columns named "count(*)": give one a different name with "as"`},
		{`stats count(*) as n by n`, `query:1:24: stats has two columns named "n": give one a different name with "as"`},
		{`stats count(*) by datefloor(@timestamp, 1h)`, `query:1:19: unknown function "datefloor" after "by": group by field names or bin(period)`},
		{`stats count(*) by bin(5x)`, `query:1:24: unknown time unit "x" in bin(5x): use ms, s, m, h, d, w, mo, q or y`},
		{`stats count(*) by bin(5ss)`, `query:1:24: unknown time unit "ss" in bin(5ss): use ms, s, m, h, d, w, mo, q or y`},
		{`stats count(*) by bin(1M)`, `query:1:24: unknown time unit "M" in bin(1M): use ms, s, m, h, d, w, mo, q or y`},
		{`stats count(*) by bin(5)`, `query:1:23: bin period 5 needs a time unit, as in 5m`},
		{`stats count(*) by bin(1.5h)`, `query:1:23: bin period 1.5h must be a whole number of a unit, as in 5m`},
		{`stats count(*) by bin(0m)`, `query:1:23: bin period 0m is out of range`},
		{`stats count(*) by bin(9999999999999d)`, `query:1:23: bin period 9999999999999d is out of range`},
		{`stats count(*) by bin()`, `query:1:23: expected a period such as 5m after "(", found ")"`},
		{`stats count(*) by bin(5m`, `query:1:25: expected ")" after "5m", found end of query`},
		// limit.
		{`limit 0`, `query:1:7: limit 0 is out of range: it must be between 1 and 100000`},
		{`limit 100001`, `query:1:7: limit 100001 is out of range: it must be between 1 and 100000`},
		{`limit 99999999999999999999999`, `query:1:7: limit 99999999999999999999999 is out of range: it must be between 1 and 100000`},
		{`limit -5`, `query:1:7: limit -5 is out of range: it must be between 1 and 100000`},
		{`limit 2.5`, `query:1:7: limit needs a whole number, found 2.5`},
		{`limit x`, `query:1:7: expected a number of rows after "limit", found "x"`},
		// parse.
		{`parse @message "a=* b=*" as a`, `query:1:16: parse pattern has 2 wildcard(s) (*) but 1 name(s) follow "as": give one name per *`},
		{`parse @message "a=*" as a, a`, `query:1:28: field "a" named twice`},
		{`parse @message "a=*"`, `query:1:21: expected "as" and a name for each * after string "a=*", found end of query`},
		{`parse @message`, `query:1:15: expected a "pattern" with * wildcards or a /regex/ after "@message", found end of query`},
		{`parse @message /(\d+)/`, `query:1:16: parse regex has no named group: write (?<name>...) around each part to extract`},
		{`parse @message /(?<a>\d+) (?<a>x)/`, `query:1:16: parse regex names group "a" twice`},
		{`parse @message /(?<a>\d+)/ as b`, `query:1:28: a parse regex names its fields with (?<name>...) groups: remove the as clause`},
		// sort and dedup.
		{`sort`, `query:1:5: expected a field name after "sort", found end of query`},
		{`sort a up`, `query:1:8: expected "|" or end of query after "a", found "up"`},
		{`dedup a | sort a`, `query:1:11: only limit can follow dedup, found "sort"`},
		{`dedup a | limit 2 | fields a`, `query:1:21: only limit can follow dedup, found "fields"`},
	}
	for _, tt := range tests {
		q, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want error %q", tt.in, q, tt.want)
			continue
		}
		if got := err.Error(); got != tt.want {
			t.Errorf("Parse(%q) error\n got %s\nwant %s", tt.in, got, tt.want)
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error is %T, want *SyntaxError", tt.in, err)
		}
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		q    string
		want []string
	}{
		{`filter command like /sudo/ | stats count(*) by userIdentity.arn`, []string{"command", "userIdentity.arn"}},
		{`fields a`, []string{"a"}},
		{`limit 5`, []string{"@message", "@timestamp"}},
		{`stats count(*) by bin(1h)`, []string{"@timestamp"}},
		// parse defines user, so only @message is read; later fields are parse's.
		{`parse @message "u=*" as user | filter user = "x" | fields user`, []string{"@message"}},
		// After stats only its columns exist: nothing more is read.
		{`stats count(*) as n by a | fields n, b, @message`, []string{"a"}},
		{`fields @@x, @requestId, @logStream, @ingestionTime`, []string{"@@x", "@ingestionTime", "@logStream"}},
		{`dedup a`, []string{"@message", "@timestamp", "a"}},
	}
	for _, tt := range tests {
		q, err := Parse(tt.q)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.q, err)
		}
		if got := q.Fields(); !slices.Equal(got, tt.want) {
			t.Errorf("Parse(%q).Fields() = %q, want %q", tt.q, got, tt.want)
		}
	}
}

// TestDeepNesting checks that a hostile query is refused, not recursed on.
func TestDeepNesting(t *testing.T) {
	q := "filter " + strings.Repeat("(", 10000) + "a = 1" + strings.Repeat(")", 10000)
	_, err := Parse(q)
	if err == nil || !strings.Contains(err.Error(), "nested more than 100 deep") {
		t.Errorf("got %v, want a nesting error", err)
	}
	q = "filter " + strings.Repeat("not ", 10000) + "a = 1"
	if _, err := Parse(q); err == nil {
		t.Errorf("10000 nots: no error")
	}
	// Long flat chains are fine.
	q = "filter a = 1" + strings.Repeat(" and a = 1", 10000)
	if _, err := Parse(q); err != nil {
		t.Errorf("long chain: %v", err)
	}
}
