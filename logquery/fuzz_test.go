package logquery

import (
	"context"
	"testing"
	"time"
)

// fuzzSeeds are queries that reach most of the grammar.
var fuzzSeeds = []string{
	`fields @timestamp, command, exitCode | filter command like /sudo/ and exitCode != 0 | sort @timestamp desc | limit 20`,
	`filter command like /sudo/ | stats count(*) by userIdentity.arn`,
	`stats count(*) as n by bin(5m)`,
	`parse @message "user=* cmd=*" as user, cmd | filter user in ["alice","bob"] | dedup cmd`,
	`parse @message /(?<user>\w+)@(?<host>[^ ]+)/ | display user, host`,
	"fields `foo-bar` as x, @@id | filter not (x = 'a\\'b' or x < -1.5e3) and isblank(y)",
	`stats min(a), max(a), avg(a), sum(a), count_distinct(b) by c as cc, bin(1mon) | sort cc asc | limit 3`,
	"filter a not in [1, \"2\"] or b =~ \"x\" # comment\n| sort a, b asc",
	`filter a like /x\/y/ | fields a as b | stats count(b)`,
	`fields a,b | dedup a, b | limit 5`,
}

// FuzzParse checks that Parse never panics, that an accepted query prints
// as something that parses back to the same query, and that running it
// does not panic either.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	evs := []Event{
		{Timestamp: time.Unix(1700000000, 0), Stream: "s", Message: `{"a":1,"b":"x","c":{"d":[1,"2"]},"command":"sudo ls","user":"alice"}`},
		{Timestamp: time.Unix(1700000060, 0), Message: `user=bob cmd=ls a=2`},
		{Message: `{"a":"1e3","b":null}`},
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("Parse(%q) error %T, want *SyntaxError", s, err)
			}
			return
		}
		canon := q.String()
		q2, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q fails: %v", s, canon, err)
		}
		if got := q2.String(); got != canon {
			t.Fatalf("Parse(%q).String() = %q, which reparses as %q", s, canon, got)
		}
		if _, err := q.Run(context.Background(), source(evs), Limits{MaxRows: 1000, MaxGroups: 100}); err != nil {
			t.Logf("Run(%q): %v", s, err)
		}
	})
}
