package audit_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/postern/postern/audit"
)

func TestThrottle(t *testing.T) {
	th := &audit.Throttle{PerSource: 3, Window: time.Minute, MaxSources: 2}
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	admitted := 0
	for i := range 10 {
		if th.Admit("192.0.2.1:1", "POST /v1/register", t0.Add(time.Duration(i)*time.Second)) {
			admitted++
		}
	}
	if admitted != 3 {
		t.Fatalf("%d of 10 refusals admitted, want 3", admitted)
	}
	if !th.Admit("192.0.2.2:1", "GET /v1/nodes", t0) {
		t.Fatal("another source was throttled")
	}
	// A third source is past MaxSources: counted under the zero Prefix.
	if th.Admit("192.0.2.3:1", "GET /x", t0) {
		t.Fatal("a source past MaxSources got a record of its own")
	}
	if got := th.Flush(t0.Add(30*time.Second), false); len(got) != 0 {
		t.Fatalf("flushed %+v before the window ended", got)
	}
	got := th.Flush(t0.Add(time.Minute), false)
	counts := map[string]int{}
	for _, s := range got {
		counts[s.Source.String()] = s.Count
	}
	if counts["192.0.2.1/32"] != 7 || counts["invalid Prefix"] != 1 || len(got) != 2 {
		t.Fatalf("summaries %+v, want 7 from 192.0.2.1 and 1 from the overflow", got)
	}
	if !th.Admit("192.0.2.1:1", "POST /v1/register", t0.Add(time.Minute)) {
		t.Fatal("a new window did not admit again")
	}
}

// TestThrottleBounded: a spray from a million addresses keeps at most
// MaxSources counts.
func TestThrottleBounded(t *testing.T) {
	th := audit.NewThrottle()
	t0 := time.Now()
	for i := range 100_000 {
		th.Admit(fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255), "GET /", t0)
	}
	sum := th.Flush(t0, true)
	total := 0
	for _, s := range sum {
		total += s.Count
	}
	if len(sum) > th.MaxSources || total != 100_000-th.MaxSources {
		t.Fatalf("%d summaries totalling %d; want at most %d and %d suppressed", len(sum), total, th.MaxSources, 100_000-th.MaxSources)
	}
}
