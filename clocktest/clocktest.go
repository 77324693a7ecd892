// Package clocktest is the one fake clock of Postern's tests: code under
// test takes a func() time.Time (or a Clock's Now), and the test moves
// time on by hand. It is safe to read from the goroutines of the code
// under test while the test advances it.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a fake clock. Its zero value stands at the zero time; New
// starts it elsewhere.
type Clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

// New returns a clock standing at t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
