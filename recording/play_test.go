package recording

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// step is what the player did: slept or wrote.
type step struct {
	sleep time.Duration
	write string
}

func (s step) String() string {
	if s.write != "" {
		return fmt.Sprintf("write %q", s.write)
	}
	return fmt.Sprintf("sleep %v", s.sleep)
}

// stepRecorder is an io.Writer and a Sleep that log into one schedule.
type stepRecorder struct{ steps []step }

func (r *stepRecorder) Write(p []byte) (int, error) {
	r.steps = append(r.steps, step{write: string(p)})
	return len(p), nil
}

func (r *stepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.steps = append(r.steps, step{sleep: d})
	return ctx.Err()
}

const playCast = `{"version": 2, "width": 80, "height": 24}
[0.5, "o", "a"]
[1.0, "o", "b"]
[1.0, "o", "c"]
[1.25, "i", "x"]
[1.5, "r", "100x30"]
[2.0, "o", "d"]
[12.0, "m", "idle"]
[13.0, "o", "e"]
[12.5, "o", "f"]
`

func TestPlaySchedule(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name string
		cast string
		opts PlayOptions
		want []step
	}{
		{
			name: "default: real time, pauses capped at 2s",
			cast: playCast,
			want: []step{
				{sleep: ms(500)}, {write: "a"},
				{sleep: ms(500)}, {write: "b"},
				{write: "c"}, // same time: no sleep at all
				// input and resize are not written, but their time counts
				{sleep: ms(1000)}, {write: "d"},
				// 10s to the marker capped to 2s, 1s more to "e"
				{sleep: ms(3000)}, {write: "e"},
				{write: "f"}, // a time that went backwards plays at once
			},
		},
		{
			name: "double speed",
			cast: playCast,
			opts: PlayOptions{Speed: 2},
			want: []step{
				{sleep: ms(250)}, {write: "a"},
				{sleep: ms(250)}, {write: "b"},
				{write: "c"},
				{sleep: ms(500)}, {write: "d"},
				{sleep: ms(1500)}, {write: "e"},
				{write: "f"},
			},
		},
		{
			name: "half speed, idle limit 700ms",
			cast: playCast,
			opts: PlayOptions{Speed: 0.5, IdleLimit: ms(700)},
			want: []step{
				{sleep: ms(1000)}, {write: "a"},
				{sleep: ms(1000)}, {write: "b"},
				{write: "c"},
				// gaps 0.25, 0.25, 0.5 → 1s, doubled
				{sleep: ms(2000)}, {write: "d"},
				// gaps 10 → 0.7 and 1 → 0.7, doubled
				{sleep: ms(2800)}, {write: "e"},
				{write: "f"},
			},
		},
		{
			name: "no idle limit",
			cast: playCast,
			opts: PlayOptions{IdleLimit: -1},
			want: []step{
				{sleep: ms(500)}, {write: "a"},
				{sleep: ms(500)}, {write: "b"},
				{write: "c"},
				{sleep: ms(1000)}, {write: "d"},
				{sleep: ms(11000)}, {write: "e"},
				{write: "f"},
			},
		},
		{
			name: "idle limit from the header",
			cast: `{"version": 2, "width": 80, "height": 24, "idle_time_limit": 0.5}
[3, "o", "a"]
[3.25, "o", "b"]
`,
			want: []step{{sleep: ms(500)}, {write: "a"}, {sleep: ms(250)}, {write: "b"}},
		},
		{
			name: "option beats the header",
			cast: `{"version": 2, "width": 80, "height": 24, "idle_time_limit": 0.5}
[3, "o", "a"]
`,
			opts: PlayOptions{IdleLimit: time.Second},
			want: []step{{sleep: ms(1000)}, {write: "a"}},
		},
		{
			name: "nonsense speed means 1",
			cast: `{"version": 2, "width": 80, "height": 24}
[1, "o", "a"]
`,
			opts: PlayOptions{Speed: -3},
			want: []step{{sleep: ms(1000)}, {write: "a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec stepRecorder
			tt.opts.Sleep = rec.sleep
			if err := Play(context.Background(), &rec, strings.NewReader(tt.cast), tt.opts); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rec.steps, tt.want) {
				t.Errorf("schedule:\n got %v\nwant %v", rec.steps, tt.want)
			}
		})
	}
}

func TestPlayStops(t *testing.T) {
	t.Run("when the context is canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var rec stepRecorder
		sleeps := 0
		opts := PlayOptions{Sleep: func(ctx context.Context, d time.Duration) error {
			if sleeps++; sleeps == 2 {
				cancel()
			}
			return rec.sleep(ctx, d)
		}}
		err := Play(ctx, &rec, strings.NewReader(playCast), opts)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Play = %v, want context.Canceled", err)
		}
		want := []step{{sleep: 500 * time.Millisecond}, {write: "a"}, {sleep: 500 * time.Millisecond}}
		if !reflect.DeepEqual(rec.steps, want) {
			t.Errorf("schedule:\n got %v\nwant %v", rec.steps, want)
		}
	})
	t.Run("with the real timer", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var rec stepRecorder
		err := Play(ctx, &rec, strings.NewReader(playCast), PlayOptions{})
		if !errors.Is(err, context.Canceled) || len(rec.steps) != 0 {
			t.Fatalf("Play = %v after writing %v; want context.Canceled and nothing", err, rec.steps)
		}
		if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("sleepCtx on a canceled context = %v", err)
		}
		if err := sleepCtx(context.Background(), time.Microsecond); err != nil {
			t.Fatalf("sleepCtx = %v", err)
		}
	})
	t.Run("at a bad event", func(t *testing.T) {
		var rec stepRecorder
		cast := "{\"version\": 2, \"width\": 80, \"height\": 24}\n[0, \"o\", \"a\"]\n[1, \"q\", \"b\"]\n"
		err := Play(context.Background(), &rec, strings.NewReader(cast), PlayOptions{Sleep: rec.sleep})
		if err == nil || !strings.Contains(err.Error(), "line 3") {
			t.Fatalf("Play = %v, want an error about line 3", err)
		}
		if want := []step{{write: "a"}}; !reflect.DeepEqual(rec.steps, want) {
			t.Errorf("schedule:\n got %v\nwant %v", rec.steps, want)
		}
	})
}
