// Package diskspace watches the free space of the filesystem that holds a
// server's data, so that the server can refuse new work with a clear "disk
// full" before writes start failing, and tell from a write's error that
// the disk, not the data, is the problem.
//
// A Monitor is low when the last look found less than its minimum free, or
// when a write has failed for lack of space since (Report): statfs can
// still show room a write could not get (reserved blocks, quotas, a
// database's temporary files). It is no longer low once a look finds the
// minimum free again.
package diskspace

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// Usage is a filesystem's size and the space an unprivileged writer can
// still use, in bytes.
type Usage struct {
	Free, Total uint64
}

// Full reports whether err says a filesystem or a database on it is out
// of space: ENOSPC, EDQUOT, or SQLite's SQLITE_FULL.
func Full(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || fullOS(err) {
		return true
	}
	// SQLite's drivers report its result codes through Code(); the
	// primary code is the low byte (SQLITE_FULL is 13).
	var coded interface{ Code() int }
	return errors.As(err, &coded) && coded.Code()&0xff == 13
}

// State is what a Monitor knows.
type State struct {
	Usage
	// Min is the free space below which the monitor is low.
	Min uint64
	// Low is set while free space is below Min, or a write failed for
	// lack of space since the last look that found Min free.
	Low bool
	// Checked is when the filesystem was last looked at; Err is why that
	// look failed, if it did (the monitor then keeps what it knew).
	Checked time.Time
	Err     error
}

// Monitor watches the filesystem that holds a directory.
type Monitor struct {
	dir string
	min uint64
	now func() time.Time

	mu    sync.Mutex // guards state and the subscribers
	state State
	subs  []chan struct{}
}

// New returns a monitor of the filesystem holding dir, low below min
// bytes free. It looks once before it returns. now is the clock (nil:
// time.Now).
func New(dir string, min uint64, now func() time.Time) *Monitor {
	if now == nil {
		now = time.Now
	}
	m := &Monitor{dir: dir, min: min, now: now, state: State{Min: min}}
	m.Check()
	return m
}

// Check looks at the filesystem now and returns the new state.
func (m *Monitor) Check() State {
	u, err := Stat(m.dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	wasLow := m.state.Low
	m.state.Checked, m.state.Err = m.now(), err
	if err == nil {
		m.state.Usage = u
		// After a failed write the monitor stays low until a look finds
		// the minimum free; a filesystem with no minimum needs some room.
		m.state.Low = u.Free < max(m.min, 1) || (m.state.Low && u.Free < max(m.min, 1<<20))
	}
	if wasLow != m.state.Low {
		m.notifyLocked()
	}
	return m.state
}

// Report tells the monitor about a write's error and reports whether the
// error was for lack of space, in which case the monitor is low from now
// until a look finds the minimum free again.
func (m *Monitor) Report(err error) bool {
	if !Full(err) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.state.Low {
		m.state.Low = true
		m.notifyLocked()
	}
	return true
}

// State returns what the monitor knows, without looking.
func (m *Monitor) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Low reports whether the monitor is low (see State.Low).
func (m *Monitor) Low() bool { return m.State().Low }

// Changed returns a channel closed at the next change of Low.
func (m *Monitor) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan struct{})
	m.subs = append(m.subs, ch)
	return ch
}

func (m *Monitor) notifyLocked() {
	for _, ch := range m.subs {
		close(ch)
	}
	m.subs = nil
}

// Run looks at the filesystem every interval until ctx ends; while the
// monitor is low it looks four times as often, so that work paused for
// space resumes soon after space returns.
func (m *Monitor) Run(ctx context.Context, interval time.Duration) {
	for {
		wait := interval
		if m.Low() {
			wait = max(interval/4, time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		m.Check()
	}
}

// Error is the error a server gives for work it refuses while low.
func (s State) Error() error {
	return fmt.Errorf("the server's disk is full: %s free of %s, below the minimum of %s", Bytes(s.Free), Bytes(s.Total), Bytes(s.Min))
}

// Bytes formats n bytes for people: 1.5 GiB, 12 MiB, 300 B.
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
