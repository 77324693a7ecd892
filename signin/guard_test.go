package signin

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func TestLockout(t *testing.T) {
	g := New()
	now := t0
	for i := range Failures {
		if !g.Locked("1", "alice", now).IsZero() {
			t.Fatalf("locked after %d failures", i)
		}
		g.Fail("1", "alice", now)
		now = now.Add(time.Minute)
	}
	until := g.Locked("1", "alice", now)
	if want := t0.Add(Window); !until.Equal(want) {
		t.Fatalf("locked until %v, want %v (the oldest failure's window)", until, want)
	}
	if !g.Locked("1", "bob", now).IsZero() || !g.Locked("2", "alice", now).IsZero() {
		t.Fatal("another user, or the same name in another account, is locked too")
	}
	if !g.Locked("1", "alice", t0.Add(Window)).IsZero() {
		t.Fatal("still locked once the oldest failure left the window")
	}
	g.Fail("1", "carol", now)
	g.Succeed("1", "carol")
	if u, _, _ := g.Len(); u != 1 {
		t.Fatalf("%d users kept after carol succeeded, want alice alone", u)
	}
}

// TestFailuresExpireWithoutTheUserReturning: a spray of failures under
// names never seen again is forgotten once it leaves the window (the old
// guard pruned a name only when it came back), and a megabyte-long name
// costs what a short one does.
func TestFailuresExpireWithoutTheUserReturning(t *testing.T) {
	g := New()
	long := strings.Repeat("x", 500<<10)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 300 {
		g.Fail("1", fmt.Sprintf("%s-%d", long, i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("300 failures under 500 kB names grew the heap by %d bytes; names must not be kept", grew)
	}
	if u, _, f := g.Len(); u != 300 || f != 300 {
		t.Fatalf("kept %d users, %d failures; want 300 each", u, f)
	}
	// Another user's sign-in, after the window, sweeps them all.
	g.Locked("1", "alice", t0.Add(Window+time.Second))
	if u, _, f := g.Len(); u != 0 || f != 0 {
		t.Fatalf("after the window: %d users, %d failures kept; want none", u, f)
	}
}

// TestCaps: past its caps the guard forgets the oldest first, and a user
// still failing now stays tracked.
func TestCaps(t *testing.T) {
	g := NewWithLimits(100, 50)
	now := t0
	for i := range 1000 {
		g.Fail("1", fmt.Sprint("spray-", i), now)
		if i%10 == 0 {
			g.Fail("1", "alice", now)
		}
		now = now.Add(time.Millisecond)
	}
	users, _, failures := g.Len()
	if failures > 100 || users > 100 {
		t.Fatalf("kept %d failures of %d users; the cap is 100", failures, users)
	}
	if g.Locked("1", "alice", now).IsZero() {
		t.Fatal("alice, failing throughout, is not locked out")
	}
	for i := range 1000 {
		g.Allow(fmt.Sprintf("192.0.2.%d:%d", i%256, i), now)
		g.Allow(fmt.Sprintf("[2001:db8:%x::1]:1", i), now)
	}
	if _, sources, _ := g.Len(); sources > 50 {
		t.Fatalf("kept %d sources; the cap is 50", sources)
	}
}

func TestSourceLimit(t *testing.T) {
	g := New()
	for i := range Burst {
		if !g.Allow("192.0.2.1:1000", t0) {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	if g.Allow("192.0.2.1:2000", t0) {
		t.Fatal("an attempt past the burst, from another port of the same address, was allowed")
	}
	if !g.Allow("192.0.2.2:1000", t0) {
		t.Fatal("another address was refused")
	}
	// One IPv6 host holds a whole /64.
	for i := range Burst {
		g.Allow(fmt.Sprintf("[2001:db8::%x]:1", i), t0)
	}
	if g.Allow("[2001:db8::ffff]:1", t0) {
		t.Fatal("a fresh address in the same /64 got a fresh budget")
	}
	if !g.Allow("192.0.2.1:1000", t0.Add(Interval)) {
		t.Fatal("no attempt allowed an interval later")
	}
}
