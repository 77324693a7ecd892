// Package lease runs a piece of background work on one server at a time
// among several that share a database: a server does the work only while
// it holds the work's lease in the store, renews it as it goes, and
// stops the work before the lease can expire when it cannot renew it, so
// that two servers never do the work at once.
//
// Timing: a lease lasts TTL from each renewal on the store's clock; the
// holder renews every TTL/8 and stops its work once TTL/2 has passed on
// its own clock since the last renewal it sent that the store confirmed.
// So the holder stops at least TTL/2 before anyone else can take the
// lease, whatever the servers' clocks say, as long as the clocks' rates
// do not differ by half (they do not), and a renewal's round trip is
// shorter than TTL/2.
package lease

import (
	"context"
	"time"

	"github.com/postern/postern/logger"
)

// Store is what a lease needs of the metadata store (store.Leases).
type Store interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

// DefaultTTL is a lease's lifetime: how long a dead holder's work waits
// for another server.
const DefaultTTL = 30 * time.Second

// Run does work while holder holds the lease name, until ctx ends: it
// tries to take the lease every ttl/3, runs work with a context that
// ends when the lease may be lost, renews it, and starts over when work
// returns or the lease is lost. It releases the lease when ctx ends, so
// that another server takes the work up at once. ttl <= 0 means
// DefaultTTL.
func Run(ctx context.Context, st Store, name, holder string, ttl time.Duration, logf logger.Logf, work func(ctx context.Context)) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if logf == nil {
		logf = logger.Discard
	}
	every := ttl / 3
	for {
		sent := time.Now()
		ok, err := st.AcquireLease(ctx, name, holder, ttl)
		if err != nil && ctx.Err() == nil {
			logf("lease %s: %v", name, err)
		}
		if ok {
			logf("lease %s: held by %s; doing its work here", name, holder)
			hold(ctx, st, name, holder, ttl, sent, logf, work)
			if ctx.Err() != nil {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				st.ReleaseLease(rctx, name, holder)
				cancel()
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// hold runs work while the lease is renewed, from a renewal sent at
// sent; it returns once work has returned.
func hold(ctx context.Context, st Store, name, holder string, ttl time.Duration, sent time.Time, logf logger.Logf, work func(ctx context.Context)) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		work(wctx)
	}()
	// Several tries per deadline: one slow or failed renewal must not
	// stop the work.
	renew := time.NewTicker(ttl / 8)
	defer renew.Stop()
	deadline := time.NewTimer(time.Until(sent.Add(ttl / 2)))
	defer deadline.Stop()
	for {
		select {
		case <-done:
			return
		case <-deadline.C:
			logf("lease %s: not renewed in time; stopping its work here", name)
			cancel()
			<-done
			return
		case <-renew.C:
			at := time.Now()
			rctx, rcancel := context.WithDeadline(wctx, sent.Add(ttl/2))
			ok, err := st.AcquireLease(rctx, name, holder, ttl)
			rcancel()
			switch {
			case ok:
				sent = at
				deadline.Reset(time.Until(sent.Add(ttl / 2)))
			case err == nil:
				logf("lease %s: taken by another server; stopping its work here", name)
				cancel()
				<-done
				return
			case wctx.Err() == nil:
				logf("lease %s: renewing: %v", name, err)
			}
		}
	}
}
