package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/postern/postern/recording"
)

// outbox turns finished sessions' journals into their artifacts (.cast and
// .log) after the session has ended, so that a client is told the exit code
// as soon as the last byte is durable instead of after rendering, which for
// a large session takes seconds.
//
// It is durable, in the manner of Teleport's file-session uploader: before
// a session is published as ended, an entry is written (and its directory
// synced) under DataDir/outbox; the entry is removed only once the artifacts
// are committed. A server that dies in between finds the entry at start and
// renders again. The journal stays the source of truth throughout.
type outbox struct {
	s   *Server
	dir string

	mu      sync.Mutex // guards queue and pending
	queue   []outboxItem
	pending map[outboxItem]chan struct{} // closed when the item is delivered
	wake    chan struct{}                // capacity 1: the queue grew

	// beforeDeliver, when set by a test, runs before each item is
	// rendered.
	beforeDeliver func(id string)
}

type outboxItem struct{ account, id string }

func newOutbox(s *Server) *outbox {
	return &outbox{
		s: s, dir: filepath.Join(s.cfg.DataDir, "outbox"),
		pending: map[outboxItem]chan struct{}{}, wake: make(chan struct{}, 1),
	}
}

// start recovers the entries a previous run left and starts the workers,
// which run until the server's context ends. Rendering is CPU-bound, so it
// gets at most half the CPUs: live sessions keep the rest.
func (o *outbox) start(skip func(outboxItem) bool) error {
	accounts, err := os.ReadDir(o.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("server: outbox: %w", err)
	}
	for _, a := range accounts {
		entries, err := os.ReadDir(filepath.Join(o.dir, a.Name()))
		if err != nil {
			return fmt.Errorf("server: outbox: %w", err)
		}
		for _, e := range entries {
			it := outboxItem{account: a.Name(), id: e.Name()}
			if skip(it) {
				continue // still running: its relay adds it again at the end
			}
			o.s.logf("server: session %s: rendering its recording again after a restart", it.id)
			o.enqueue(it)
		}
	}
	for range max(1, runtime.GOMAXPROCS(0)/2) {
		o.s.wg.Add(1)
		go func() {
			defer o.s.wg.Done()
			o.work(o.s.ctx)
		}()
	}
	return nil
}

// add durably records that a session's artifacts are owed, then queues
// the work.
func (o *outbox) add(account, id string) error {
	dir := filepath.Join(o.dir, account)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, id), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	o.enqueue(outboxItem{account, id})
	return nil
}

func (o *outbox) enqueue(it outboxItem) {
	o.mu.Lock()
	if _, ok := o.pending[it]; !ok {
		o.pending[it] = make(chan struct{})
		o.queue = append(o.queue, it)
	}
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// isPending reports whether a session's artifacts are still being made.
func (o *outbox) isPending(account, id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.pending[outboxItem{account, id}]
	return ok
}

// wait blocks until a session's artifacts are made, if they are owed.
func (o *outbox) wait(ctx context.Context, account, id string) error {
	o.mu.Lock()
	done, ok := o.pending[outboxItem{account, id}]
	o.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *outbox) work(ctx context.Context) {
	for {
		o.mu.Lock()
		var it outboxItem
		ok := len(o.queue) > 0
		if ok {
			it = o.queue[0]
			o.queue = o.queue[1:]
		}
		o.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-o.wake:
			}
			continue
		}
		if err := o.deliver(it); err != nil {
			// The entry stays on disk; the next start tries again. A
			// journal that cannot be rendered now will not render on
			// a retry loop either.
			o.s.logf("server: session %s: render recording: %v", it.id, err)
		}
		o.mu.Lock()
		close(o.pending[it])
		delete(o.pending, it)
		o.mu.Unlock()
	}
}

func (o *outbox) deliver(it outboxItem) error {
	if o.beforeDeliver != nil {
		o.beforeDeliver(it.id)
	}
	cast := o.s.recordingPath(it.account, it.id, "cast")
	if err := os.MkdirAll(filepath.Dir(cast), 0o700); err != nil {
		return err
	}
	if err := recording.Render(o.s.journalPath(it.account, it.id), cast, o.s.recordingPath(it.account, it.id, "log")); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(o.dir, it.account, it.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
