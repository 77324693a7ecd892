package rollout_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/postern/postern/rollout"
)

// TestRun: accounts go in order, at most MaxConcurrent at a time, and the
// operation stops starting them once more than FailureTolerance failed.
func TestRun(t *testing.T) {
	accounts := []string{"a", "b", "c", "d", "e"}
	fails := func(bad ...string) func(context.Context, string) error {
		return func(_ context.Context, account string) error {
			if slices.Contains(bad, account) {
				return errors.New("apply failed")
			}
			return nil
		}
	}
	summary := func(out []rollout.Outcome) string {
		s := ""
		for _, o := range out {
			switch {
			case !o.Started:
				s += "-"
			case o.Err != nil:
				s += "x"
			default:
				s += "+"
			}
		}
		return s
	}
	for _, tt := range []struct {
		name string
		p    rollout.Preferences
		fn   func(context.Context, string) error
		want string
	}{
		{"all succeed", rollout.Preferences{}, fails(), "+++++"},
		{"the first fails, tolerance 0", rollout.Preferences{}, fails("a"), "x----"},
		{"the second fails, tolerance 0", rollout.Preferences{MaxConcurrent: 1}, fails("b"), "+x---"},
		{"one failure tolerated", rollout.Preferences{FailureTolerance: 1}, fails("a"), "x++++"},
		{"two failures, one tolerated", rollout.Preferences{FailureTolerance: 1}, fails("a", "c"), "x+x--"},
		{"every failure tolerated", rollout.Preferences{FailureTolerance: 5}, fails("a", "b", "c", "d", "e"), "xxxxx"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := rollout.Run(t.Context(), accounts, tt.p, tt.fn)
			if got := summary(out); got != tt.want {
				t.Errorf("Run = %s, want %s", got, tt.want)
			}
			for i, o := range out {
				if o.Account != accounts[i] {
					t.Errorf("outcome %d is %s's, want %s's", i, o.Account, accounts[i])
				}
			}
		})
	}
}

// TestRunConcurrency: never more than MaxConcurrent accounts at once, and
// that many do run together (each waits until MaxConcurrent have
// started).
func TestRunConcurrency(t *testing.T) {
	const n = 3
	accounts := []string{"a", "b", "c", "d", "e", "f"}
	var mu sync.Mutex
	running, most := 0, 0
	started := make(chan struct{}, len(accounts))
	full := make(chan struct{})
	var once sync.Once
	out := rollout.Run(t.Context(), accounts, rollout.Preferences{MaxConcurrent: n}, func(ctx context.Context, account string) error {
		mu.Lock()
		running++
		most = max(most, running)
		if running == n {
			once.Do(func() { close(full) })
		}
		mu.Unlock()
		started <- struct{}{}
		// The first n wait for each other: they run at once.
		select {
		case <-full:
		case <-ctx.Done():
		}
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	})
	if most != n {
		t.Errorf("at most %d accounts ran at once, want %d", most, n)
	}
	for _, o := range out {
		if !o.Started || o.Err != nil {
			t.Errorf("%s: %+v", o.Account, o)
		}
	}
}

// TestRunCancelled: once ctx ends, no account starts.
func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	out := rollout.Run(ctx, []string{"a", "b", "c"}, rollout.Preferences{FailureTolerance: 9}, func(ctx context.Context, account string) error {
		cancel()
		return nil
	})
	if !out[0].Started || out[1].Started || out[2].Started {
		t.Errorf("after ctx ended: %+v", out)
	}
}

func TestPreferencesCheck(t *testing.T) {
	for _, p := range []rollout.Preferences{{MaxConcurrent: -1}, {MaxConcurrent: rollout.MaxConcurrent + 1}, {FailureTolerance: -1}} {
		if p.Check() == nil {
			t.Errorf("%+v passed the check", p)
		}
	}
	if err := (rollout.Preferences{MaxConcurrent: rollout.MaxConcurrent, FailureTolerance: 3}).Check(); err != nil {
		t.Error(err)
	}
}
