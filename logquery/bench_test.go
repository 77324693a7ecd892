package logquery

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

var (
	benchOnce   sync.Once
	benchEvents []Event
)

// benchData returns 1,000,000 audit events shaped like Postern's, of which
// one in fifty is a sudo command.
func benchData() []Event {
	benchOnce.Do(func() {
		users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
		cmds := []string{"ls -la", "cat /etc/hosts", "vim notes.txt", "git status", "top", "cd /var/log", "grep -r error .", "make test"}
		t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
		benchEvents = make([]Event, 1_000_000)
		for i := range benchEvents {
			u := users[i%len(users)]
			cmd := cmds[(i/len(users))%len(cmds)]
			if i%50 == 7 {
				cmd = "sudo " + cmd
			}
			benchEvents[i] = Event{
				Timestamp: t0.Add(time.Duration(i) * 100 * time.Millisecond),
				Stream:    "mi-0123/" + u,
				Message: fmt.Sprintf(`{"eventType":"Command","command":%q,"exitCode":%d,"userIdentity":{"arn":"prn:postern:iam:000000000001:user/%s"},"target":{"id":"mi-%04x"},"sessionId":"%s-%016x0"}`,
					cmd, i%3, u, i%4096, u, i),
			}
		}
	})
	return benchEvents
}

func runBench(b *testing.B, query string) {
	evs := benchData()
	q, err := Parse(query)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		i := 0
		res, err := q.Run(context.Background(), func() (Event, bool) {
			if i == len(evs) {
				return Event{}, false
			}
			i++
			return evs[i-1], true
		}, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Scanned != int64(len(evs)) {
			b.Fatalf("scanned %d", res.Scanned)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(evs)), "ns/event")
}

// BenchmarkSelectiveQuery is the typical audit: find the rare sudo
// commands and count them per user. Each op is one query over 1,000,000
// events.
func BenchmarkSelectiveQuery(b *testing.B) {
	runBench(b, `filter command like /sudo/ | stats count(*) by userIdentity.arn`)
}

// BenchmarkFullScan reads a JSON field of every event.
func BenchmarkFullScan(b *testing.B) {
	runBench(b, `stats count(*), count_distinct(target.id) by userIdentity.arn`)
}

// BenchmarkTopN sorts every event and keeps the latest 20 failures.
func BenchmarkTopN(b *testing.B) {
	runBench(b, `fields @timestamp, command, exitCode | filter exitCode != 0 | sort @timestamp desc | limit 20`)
}
