package filterpattern

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const benchEvents = 1_000_000

var (
	benchOnce sync.Once
	// Session-audit-like JSON events, one in ten of them a sudo command.
	benchTypical []string
	// The same events with "sudo" somewhere in every one of them, so that
	// none is rejected before it is validated and walked.
	benchCandidates []string
)

func benchData() {
	commands := []string{"ls -la /var/log", "cat /etc/hosts", "systemctl status nginx", "vim /etc/nginx/nginx.conf", "tail -f app.log"}
	users := []string{"alice", "bob", "carol", "dave"}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	event := func(i int, user, command string) string {
		return fmt.Sprintf(`{"timestamp":"%s","session":"s-%08x","user":"%s","host":"web-%d","pid":%d,"command":"%s","exitCode":%d,"durationMs":%d}`,
			t0.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i*7919, user, i%16, 1000+i%30000, command, i%3, i%977)
	}
	benchTypical = make([]string, benchEvents)
	benchCandidates = make([]string, benchEvents)
	for i := range benchEvents {
		cmd := commands[i%len(commands)]
		if i%10 == 0 {
			cmd = "sudo " + cmd
		}
		benchTypical[i] = event(i, users[i%len(users)], cmd)
		benchCandidates[i] = event(i, "sudoer-"+users[i%len(users)], cmd)
	}
	// Do not let the collection of the setup's garbage run during the
	// measurement.
	runtime.GC()
}

// BenchmarkMatchJSON matches { $.command = "sudo*" } against a million
// JSON events per iteration; ns/event is the cost of one Match.
func BenchmarkMatchJSON(b *testing.B) {
	benchOnce.Do(benchData)
	for _, bc := range []struct {
		name   string
		events []string
	}{
		{"typical", benchTypical},       // 10% match; most are rejected unread
		{"candidates", benchCandidates}, // every event is validated and walked
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := mustParse(b, `{ $.command = "sudo*" }`)
			b.ResetTimer()
			matched := 0
			for b.Loop() {
				matched = 0
				for _, ev := range bc.events {
					if p.Match(ev) {
						matched++
					}
				}
			}
			if matched != benchEvents/10 {
				b.Fatalf("%d of %d events match, want %d", matched, benchEvents, benchEvents/10)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchEvents, "ns/event")
		})
	}
}

// BenchmarkMatchJSONOne matches one event over and over, which shows the
// cost of matching without that of fetching events from memory.
func BenchmarkMatchJSONOne(b *testing.B) {
	p := mustParse(b, `{ $.command = "sudo*" }`)
	msg := `{"timestamp":"2026-01-02T03:04:05.123Z","session":"s-0001e1f7","user":"sudoer-alice","host":"web-1","pid":1001,"command":"sudo ls -la /var/log","exitCode":1,"durationMs":1}`
	for b.Loop() {
		if !p.Match(msg) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkMatchTerms(b *testing.B) {
	p := mustParse(b, `ERROR -ARGUMENTS`)
	msg := strings.Repeat("x", 200) + " [ERROR 400] BAD REQUEST"
	for b.Loop() {
		p.Match(msg)
	}
}

func BenchmarkMatchDelimited(b *testing.B) {
	p := mustParse(b, `[ip, user, username, timestamp, request = *.html*, status_code = 4*, bytes > 1000]`)
	for b.Loop() {
		p.Match(docApache)
	}
}
