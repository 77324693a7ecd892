package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/postern/postern/api"
)

// DefaultOutboxMaxBytes bounds the outbox unless Config.OutboxMaxBytes
// says otherwise.
const DefaultOutboxMaxBytes = 20 << 30

// outboxMeasureEvery is how long a measurement of the outbox stays
// current unless deliveries change; session starts and metric scrapes
// within it reuse it. (Journals of running sessions grow meanwhile; the
// bound is a guard against a destination that stays down, not a quota.)
const outboxMeasureEvery = time.Second

// outbox measures what the delivery outbox holds: the recordings of
// sessions that still owe an artifact to a destination. Nothing in it is
// ever dropped; when it reaches its bound, sessions whose preferences need
// a destination are refused (with an alarm in the log and the metrics)
// until deliveries catch up, since their recordings could not be promised
// a delivery.
type outbox struct {
	s   *Server
	max int64

	mu       sync.Mutex // guards the fields below
	measured time.Time  // when bytes was measured; zero: never
	bytes    int64
	sessions int
	full     bool // at the last measurement; the alarm is logged on changes
}

func newOutbox(s *Server, max int64) *outbox {
	if max <= 0 {
		max = DefaultOutboxMaxBytes
	}
	return &outbox{s: s, max: max}
}

// size returns the bytes and sessions the outbox holds, measured at most
// outboxMeasureEvery ago.
func (o *outbox) size(ctx context.Context) (bytes int64, sessions int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.s.now()
	if !o.measured.IsZero() && now.Sub(o.measured) < outboxMeasureEvery && now.After(o.measured) {
		return o.bytes, o.sessions, nil
	}
	// Postern's own log store is on this machine: it does not go down
	// for hours, and every session streams to it.
	refs, err := o.s.store.OwedSessions(ctx, ownLogs)
	if err != nil {
		return 0, 0, fmt.Errorf("outbox: %w", err)
	}
	var total int64
	for _, r := range refs {
		fi, err := os.Stat(o.s.journalPath(r.Account, r.SessionID))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // a session that failed before its journal existed
			}
			return 0, 0, fmt.Errorf("outbox: %w", err)
		}
		total += fi.Size()
	}
	o.measured, o.bytes, o.sessions = now, total, len(refs)
	full := total >= o.max
	if full != o.full {
		if full {
			o.s.logf("server: ALARM: the delivery outbox is full: %s of recordings of %d sessions wait for delivery (limit %s); sessions whose preferences name a log destination are refused until deliveries catch up. Check failing deliveries (postern sessions show ID) and the destinations.",
				fmtBytes(total), len(refs), fmtBytes(o.max))
		} else {
			o.s.logf("server: the delivery outbox has room again: %s of %s", fmtBytes(total), fmtBytes(o.max))
		}
		o.full = full
	}
	return total, len(refs), nil
}

// changed makes the next size measure again: deliveries were added or
// changed state.
func (o *outbox) changed() {
	o.mu.Lock()
	o.measured = time.Time{}
	o.mu.Unlock()
}

// admit refuses a session that would add to a full outbox.
func (o *outbox) admit(ctx context.Context) error {
	n, sessions, err := o.size(ctx)
	if err != nil {
		return err
	}
	if n >= o.max {
		return errorf(http.StatusServiceUnavailable, api.CodeOutboxFull,
			"we couldn't start the session because Postern's delivery outbox is full: %s of recordings of %d sessions wait for delivery to their log destinations (limit %s). Ask an administrator to check the failing deliveries and the destinations.",
			fmtBytes(n), sessions, fmtBytes(o.max))
	}
	return nil
}

// fmtBytes writes n in binary units, as people size disks.
func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
