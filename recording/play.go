package recording

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"
)

// PlayOptions control Play.
type PlayOptions struct {
	// Speed multiplies the playback speed: 2 plays twice as fast. Zero or
	// less means 1.
	Speed float64

	// IdleLimit caps every pause of the recording, as asciinema's -i
	// does, so that a session left open over lunch plays in seconds.
	// Zero means the cast header's idle_time_limit if it has one, else 2
	// seconds; a negative limit keeps pauses as recorded.
	IdleLimit time.Duration

	// Sleep waits for d or until ctx is done, returning ctx's error in
	// that case. Nil means a real timer. Tests inject their own.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultIdleLimit is the pause cap Play uses unless told otherwise.
const DefaultIdleLimit = 2 * time.Second

// Play writes the output events of the asciicast r to w, with the
// recording's timing scaled by opts. Input, resize and marker events are
// not written but keep their place in the timeline. Play returns when the
// recording ends or ctx is done.
func Play(ctx context.Context, w io.Writer, r io.Reader, opts PlayOptions) error {
	d, err := NewCastDecoder(r)
	if err != nil {
		return err
	}
	speed := opts.Speed
	if speed <= 0 || math.IsNaN(speed) || math.IsInf(speed, 0) {
		speed = 1
	}
	idle := opts.IdleLimit
	if idle == 0 {
		idle = DefaultIdleLimit
		if l := d.Header().IdleTimeLimit; l > 0 {
			idle = secondsToDuration(l)
		}
	}
	sleep := opts.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}

	var prev, pending time.Duration // pending: pause owed before the next output
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ev, err := d.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		t := secondsToDuration(ev.Time)
		gap := max(t-prev, 0) // out-of-order times play at once
		prev = t
		if idle > 0 {
			gap = min(gap, idle)
		}
		if gap > math.MaxInt64-pending {
			pending = math.MaxInt64 // with no idle limit, absurd casts saturate
		} else {
			pending += gap
		}
		if ev.Type != EventOutput {
			continue
		}
		if pending > 0 {
			if err := sleep(ctx, time.Duration(float64(pending)/speed)); err != nil {
				return err
			}
			pending = 0
		}
		if _, err := io.WriteString(w, ev.Data); err != nil {
			return fmt.Errorf("recording: play: %w", err)
		}
	}
}

// secondsToDuration converts a cast's time, saturating rather than
// overflowing on absurd values.
func secondsToDuration(s float64) time.Duration {
	const maxSeconds = float64(math.MaxInt64 / int64(time.Second))
	if !(s > 0) {
		return 0
	}
	if s >= maxSeconds {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Round(s*1e6)) * time.Microsecond
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
