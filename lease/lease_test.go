package lease

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/store"
)

// cutOff is a real store whose calls fail while cut is set: a server
// that lost its database, or is paused.
type cutOff struct {
	Store
	cut atomic.Bool
}

func (c *cutOff) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if c.cut.Load() {
		return false, errors.New("database unreachable")
	}
	return c.Store.AcquireLease(ctx, name, holder, ttl)
}

// worker records who does the work, and fails the test if two do at once.
type worker struct {
	t      *testing.T
	active atomic.Int32
	mu     sync.Mutex
	by     []string
}

func (w *worker) work(holder string) func(ctx context.Context) {
	return func(ctx context.Context) {
		if n := w.active.Add(1); n > 1 {
			w.t.Errorf("%s started the work while %d others did it", holder, n-1)
		}
		w.mu.Lock()
		w.by = append(w.by, holder)
		w.mu.Unlock()
		<-ctx.Done()
		w.active.Add(-1)
	}
}

func (w *worker) last() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.by) == 0 {
		return ""
	}
	return w.by[len(w.by)-1]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOneAtATime: two servers run the same work under one lease on a
// real store: one does it; when it stops, the other takes over at once;
// when the holder loses its database, it stops its work before the
// other can take the lease, and the other does take it.
func TestOneAtATime(t *testing.T) {
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const ttl = 600 * time.Millisecond
	w := &worker{t: t}
	a := &cutOff{Store: st}
	actx, stopA := context.WithCancel(t.Context())
	bctx, stopB := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopB()
	wg.Go(func() { Run(actx, a, "outbox", "server-a", ttl, t.Logf, w.work("server-a")) })
	waitFor(t, "server-a to do the work", func() bool { return w.last() == "server-a" })
	wg.Go(func() { Run(bctx, st, "outbox", "server-b", ttl, t.Logf, w.work("server-b")) })
	time.Sleep(2 * ttl) // b tries, and must not get it while a renews
	if w.last() != "server-a" || w.active.Load() != 1 {
		t.Fatalf("while a renews: last %s, %d active", w.last(), w.active.Load())
	}
	// a loses its database: it stops before b may start.
	a.cut.Store(true)
	waitFor(t, "server-b to take over from a cut-off a", func() bool { return w.last() == "server-b" })
	// a is back; b holds it now, and a waits.
	a.cut.Store(false)
	time.Sleep(2 * ttl)
	if w.last() != "server-b" {
		t.Fatalf("a took the lease back while b renewed it: %v", w.by)
	}
	// b stops (releases): a takes over without waiting for expiry.
	stopB()
	waitFor(t, "server-a to take over from a stopped b", func() bool { return w.last() == "server-a" })
	stopA()
}
