package rollout

import (
	"context"
	"fmt"
	"sync"
)

// Preferences are how an operation goes through accounts, as StackSets'
// operation preferences: at most MaxConcurrent accounts at a time (0 is
// 1), and no account started once more than FailureTolerance have failed.
// Accounts already under way when that happens finish, so up to
// MaxConcurrent-1 more may fail; CloudFormation lets them finish too.
type Preferences struct {
	MaxConcurrent    int
	FailureTolerance int
}

// Bounds of Preferences: an operation is one server's, and its accounts'
// changes are local writes, so more at once gains little.
const MaxConcurrent = 20

// Check reports preferences out of range.
func (p Preferences) Check() error {
	if p.MaxConcurrent < 0 || p.MaxConcurrent > MaxConcurrent {
		return fmt.Errorf("max concurrent: %d is out of range 1–%d", p.MaxConcurrent, MaxConcurrent)
	}
	if p.FailureTolerance < 0 {
		return fmt.Errorf("failure tolerance: %d is negative", p.FailureTolerance)
	}
	return nil
}

// Outcome is what an operation did in one account.
type Outcome struct {
	Account string
	// Started is false for an account the operation never got to: it
	// stopped (too many failures, or ctx ended) first.
	Started bool
	Err     error
}

// Run calls fn for each account, in order, at most p.MaxConcurrent at a
// time, and stops starting accounts once more than p.FailureTolerance
// have failed or ctx has ended. It returns when every call it started has
// returned, with each account's outcome in the order given. fn gets ctx,
// and must return once it ends.
func Run(ctx context.Context, accounts []string, p Preferences, fn func(ctx context.Context, account string) error) []Outcome {
	n := max(p.MaxConcurrent, 1)
	out := make([]Outcome, len(accounts))
	var (
		mu     sync.Mutex // guards failed and the outcomes written
		failed int
	)
	stop := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return failed > p.FailureTolerance
	}
	for i, account := range accounts {
		out[i].Account = account
	}
	slots := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, account := range accounts {
		// A slot first, then the check: a failure of the account that
		// just ended counts before the next starts.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || stop() {
			break
		}
		out[i].Started = true
		wg.Go(func() {
			defer func() { <-slots }()
			err := fn(ctx, account)
			mu.Lock()
			out[i].Err = err
			if err != nil {
				failed++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}
