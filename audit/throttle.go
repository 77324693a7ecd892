package audit

import (
	"net/netip"
	"sync"
	"time"

	"github.com/postern/postern/clientaddr"
)

// Throttle keeps a flood of refused requests from unauthenticated callers
// from filling the trail one record each: every source address gets
// PerSource records of its own in a window, and further refusals from it
// are counted, to be written as one summary record per source and window
// (Flush). Authenticated callers and allowed requests are never
// throttled: the trail must hold every one of those.
//
// Its memory is bounded: at most MaxSources sources are counted apart;
// refusals from further sources in the same window share one summary
// under the zero Prefix.
type Throttle struct {
	// PerSource records per source and Window; the rest are counted.
	PerSource int
	Window    time.Duration
	// MaxSources bounds the sources counted apart.
	MaxSources int

	mu      sync.Mutex // guards sources
	sources map[netip.Prefix]*floodCount
}

type floodCount struct {
	start      time.Time // the window's start
	admitted   int
	suppressed int
	first      time.Time // of the first suppressed
	last       time.Time // of the last suppressed
	lastAction string    // of the last suppressed
}

// Suppressed summarizes refusals from one source that were counted, not
// recorded, in one window. Source is the zero Prefix for those of sources
// past MaxSources.
type Suppressed struct {
	Source      netip.Prefix
	Count       int
	First, Last time.Time
	LastAction  string
}

// NewThrottle returns a Throttle with Postern's settings: 20 records a
// minute per source, 10,000 sources.
func NewThrottle() *Throttle {
	return &Throttle{PerSource: 20, Window: time.Minute, MaxSources: 10_000}
}

// Admit reports whether a refused unauthenticated request from addr
// (host:port) at now gets a record of its own; if not, it is counted.
func (t *Throttle) Admit(addr, action string, now time.Time) bool {
	src := clientaddr.Prefix(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sources == nil {
		t.sources = map[netip.Prefix]*floodCount{}
	}
	c := t.sources[src]
	if c == nil {
		if len(t.sources) >= t.MaxSources {
			src = netip.Prefix{}
			c = t.sources[src]
		}
		if c == nil {
			c = &floodCount{start: now}
			t.sources[src] = c
		}
	}
	if now.Sub(c.start) >= t.Window && c.suppressed == 0 {
		// A new window for a source with nothing left to summarize.
		c.start, c.admitted = now, 0
	}
	if c.admitted < t.PerSource && src.IsValid() {
		c.admitted++
		return true
	}
	if c.suppressed == 0 {
		c.first = now
	}
	c.suppressed++
	c.last, c.lastAction = now, action
	return false
}

// Flush returns the summaries of the windows that ended by now and starts
// those sources afresh; with final set, every count, ended or not (the
// server is stopping).
func (t *Throttle) Flush(now time.Time, final bool) []Suppressed {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Suppressed
	for src, c := range t.sources {
		if !final && now.Sub(c.start) < t.Window {
			continue
		}
		if c.suppressed > 0 {
			out = append(out, Suppressed{Source: src, Count: c.suppressed, First: c.first, Last: c.last, LastAction: c.lastAction})
		}
		delete(t.sources, src)
	}
	return out
}
