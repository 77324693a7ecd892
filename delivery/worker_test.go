package delivery

import (
	"context"
	"crypto/cipher"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/clocktest"
	"github.com/postern/postern/cwlogs"
	"github.com/postern/postern/cwlogs/cwlogstest"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
)

// TestWorkerAlone builds the outbox's worker from its dependencies only (a
// real metadata store, a journal on disk, a destination), no server: a
// transcript whose log group does not exist yet fails, is retried with
// backoff on the worker's clock, and is delivered once the group exists,
// with every line of the recording.
func TestWorkerAlone(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// Near the real time: the destination refuses events far from its clock.
	clk := clocktest.New(time.Now().Truncate(time.Millisecond))
	start := clk.Now()

	const account, id = store.DefaultAccount, "alice-00000000000000001"
	if err := st.EnsureAccount(ctx, store.Account{ID: account, Name: "default", CreatedAt: start}); err != nil {
		t.Fatal(err)
	}
	code := 0
	if err := st.CreateSession(ctx, store.Session{ID: id, Account: account, Owner: "alice", Target: "mi-00000000000000001",
		Status: store.StatusTerminated, StartedAt: start, EndedAt: start.Add(time.Second), ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(dir, id+".journal")
	j, err := recording.CreateJournal(jpath, recording.Meta{SessionID: id, Start: start, Width: 80, Height: 24}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range []recording.Record{
		{Kind: recording.KindOutput, Data: []byte("$ echo hello\r\nhello\r\n")},
		{Kind: recording.KindOutput, Data: []byte("$ exit\r\n")},
		{Kind: recording.KindExit},
	} {
		r.Seq, r.Time = uint64(i+1), time.Duration(i)*time.Millisecond
		if _, err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	dl := store.Delivery{Account: account, SessionID: id, Destination: "cloudwatch", Artifact: "log",
		Target: `{"logGroup":"audit"}`, Status: store.DeliveryPending, CreatedAt: start, UpdatedAt: start, NextAttempt: start}
	if err := st.CreateDeliveries(ctx, []store.Delivery{dl}); err != nil {
		t.Fatal(err)
	}

	fake := cwlogstest.NewServer()
	defer fake.Close()
	cw, err := cwlogs.New(ctx, cwlogs.Config{Endpoint: fake.URL(), Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan string, 10)
	w := New(Deps{
		Store: st, Now: clk.Now, Logf: t.Logf,
		LogDestination: func(name string) (CloudWatchDestination, error) { return CloudWatchLogs{Client: cw}, nil },
		JournalPath:    func(string, string) string { return jpath },
		JournalKey:     func(context.Context, string, string) (cipher.AEAD, error) { return nil, nil },
		Delivered:      func(dest, artifact, result string) { results <- result },
	})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	if r := <-results; r != "failed" {
		t.Fatalf("first attempt: %s, want failed (the log group does not exist)", r)
	}
	ds := waitDelivery(t, st, account, id, store.DeliveryFailing)
	if ds.Attempts != 1 || !ds.NextAttempt.After(start) || !strings.Contains(ds.LastError, "does not exist") {
		t.Fatalf("after a failure: %+v; want it attempted once, due later, saying why", ds)
	}
	createGroup(t, fake, "audit")
	clk.Advance(10 * time.Minute) // past any backoff
	w.Kick()
	if r := <-results; r != "delivered" {
		t.Fatalf("second attempt: %s, want delivered", r)
	}
	ds = waitDelivery(t, st, account, id, store.DeliveryDelivered)
	if ds.Attempts != 2 || ds.Location == "" {
		t.Fatalf("after delivery: %+v", ds)
	}
	var lines []string
	for _, e := range fake.Events("audit", id) {
		lines = append(lines, e.Message)
	}
	if got := strings.Join(lines, "\n"); !strings.Contains(got, "hello") || !strings.Contains(got, "$ exit") {
		t.Errorf("transcript delivered: %q", got)
	}
}

// waitDelivery waits until the session's one delivery has status, as the
// worker records it after counting the attempt.
func waitDelivery(t *testing.T, st store.Store, account, id, status string) store.Delivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds, err := st.ListDeliveries(t.Context(), account, id)
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries: %+v, %v", ds, err)
		}
		if ds[0].Status == status {
			return ds[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %+v did not become %s", ds[0], status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// staleDue is a store whose query of due deliveries, once armed, returns
// what it found only after the attempt under way has finished: the race
// of a query that runs while an attempt completes.
type staleDue struct {
	Store
	armed    chan struct{} // closed: the next query waits
	finished chan struct{} // closed when the attempt has finished
}

func (s *staleDue) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error) {
	ds, err := s.Store.DueDeliveries(ctx, now, limit)
	select {
	case <-s.armed:
		<-s.finished
	default:
	}
	return ds, err
}

// TestStaleDueIsNotDeliveredTwice: a delivery a query saw as due while its
// attempt was finishing is not attempted again.
func TestStaleDueIsNotDeliveredTwice(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clocktest.New(time.Now().Truncate(time.Millisecond))
	const account, id = store.DefaultAccount, "alice-00000000000000003"
	if err := st.EnsureAccount(ctx, store.Account{ID: account, Name: "default", CreatedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	code := 0
	if err := st.CreateSession(ctx, store.Session{ID: id, Account: account, Owner: "alice", Target: "mi-00000000000000001",
		Status: store.StatusTerminated, StartedAt: clk.Now(), EndedAt: clk.Now(), ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(dir, id+".journal")
	j, err := recording.CreateJournal(jpath, recording.Meta{SessionID: id, Start: clk.Now(), Width: 80, Height: 24}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range []recording.Record{{Kind: recording.KindOutput, Data: []byte("hello\r\n")}, {Kind: recording.KindExit}} {
		r.Seq = uint64(i + 1)
		if _, err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	fake := cwlogstest.NewServer()
	defer fake.Close()
	createGroup(t, fake, "audit")
	cw, err := cwlogs.New(ctx, cwlogs.Config{Endpoint: fake.URL(), Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	sd := &staleDue{Store: st, armed: make(chan struct{}), finished: make(chan struct{})}
	release := make(chan struct{}) // holds the attempt until the racing query has run
	results := make(chan string, 10)
	var once sync.Once
	w := New(Deps{
		Store: sd, Now: clk.Now, Logf: t.Logf,
		LogDestination: func(string) (CloudWatchDestination, error) {
			once.Do(func() {
				close(sd.armed)
				<-release
			})
			return CloudWatchLogs{Client: cw}, nil
		},
		JournalPath: func(string, string) string { return jpath },
		JournalKey:  func(context.Context, string, string) (cipher.AEAD, error) { return nil, nil },
		Delivered:   func(dest, artifact, result string) { results <- result },
		Changed: func() {
			select {
			case <-sd.finished:
			default:
				close(sd.finished)
			}
		},
	})
	if err := st.CreateDeliveries(ctx, []store.Delivery{{Account: account, SessionID: id, Destination: "cloudwatch", Artifact: "log",
		Target: `{"logGroup":"audit"}`, Status: store.DeliveryPending, CreatedAt: clk.Now(), UpdatedAt: clk.Now(), NextAttempt: clk.Now()}}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// The attempt is under way and holds; a query now sees the delivery
	// as due, and returns only once the attempt has finished.
	go func() {
		<-sd.armed
		w.Kick()
		time.Sleep(50 * time.Millisecond) // let the query start before the attempt finishes
		close(release)
	}()
	if r := <-results; r != "delivered" {
		t.Fatalf("attempt: %s", r)
	}
	waitDelivery(t, st, account, id, store.DeliveryDelivered)
	// Let the worker run a few rounds: a second attempt would show here.
	for range 3 {
		w.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case r := <-results:
		t.Fatalf("delivered twice (second attempt: %s); %d events in the stream", r, len(fake.Events("audit", id)))
	default:
	}
}

// endedSession makes a store in a temporary directory holding the default
// account's session id, ended with exit code 0 at the clock's time, and
// returns the store, the clock (near the real time: destinations refuse
// events far from theirs) and the directory.
func endedSession(t *testing.T, id string) (store.Store, *clocktest.Clock, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clocktest.New(time.Now().Truncate(time.Millisecond))
	if err := st.EnsureAccount(t.Context(), store.Account{ID: store.DefaultAccount, Name: "default", CreatedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	code := 0
	if err := st.CreateSession(t.Context(), store.Session{ID: id, Account: store.DefaultAccount, Owner: "alice", Target: "mi-00000000000000001",
		Status: store.StatusTerminated, StartedAt: clk.Now(), EndedAt: clk.Now().Add(time.Second), ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	return st, clk, dir
}

// writeJournal writes a finished session's journal of records at path.
func writeJournal(t *testing.T, path, id string, start time.Time, records ...recording.Record) {
	t.Helper()
	j, err := recording.CreateJournal(path, recording.Meta{SessionID: id, Start: start, Width: 80, Height: 24}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range records {
		r.Seq = uint64(i + 1)
		if _, err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestJournalFetchedBeforeDelivery: a session that ran on another server
// sharing the database has no journal on this one's disk; the worker has
// it fetched (from object storage, on a server) before reading it, and
// delivers all of it.
func TestJournalFetchedBeforeDelivery(t *testing.T) {
	ctx := t.Context()
	const account, id = store.DefaultAccount, "alice-00000000000000004"
	st, clk, dir := endedSession(t, id)
	// The journal is elsewhere (the bucket); this server's path is empty.
	remote, local := filepath.Join(dir, "bucket.journal"), filepath.Join(dir, "local", id+".journal")
	writeJournal(t, remote, id, clk.Now(), recording.Record{Kind: recording.KindOutput, Data: []byte("ran on another server\r\n")}, recording.Record{Kind: recording.KindExit})
	if err := st.CreateDeliveries(ctx, []store.Delivery{{Account: account, SessionID: id, Destination: "cloudwatch", Artifact: "log",
		Target: `{"logGroup":"audit"}`, Status: store.DeliveryPending, CreatedAt: clk.Now(), UpdatedAt: clk.Now(), NextAttempt: clk.Now()}}); err != nil {
		t.Fatal(err)
	}
	fake := cwlogstest.NewServer()
	defer fake.Close()
	createGroup(t, fake, "audit")
	cw, err := cwlogs.New(ctx, cwlogs.Config{Endpoint: fake.URL(), Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan string, 10)
	w := New(Deps{
		Store: st, Now: clk.Now, Logf: t.Logf,
		LogDestination: func(string) (CloudWatchDestination, error) { return CloudWatchLogs{Client: cw}, nil },
		JournalPath:    func(string, string) string { return local },
		JournalKey:     func(context.Context, string, string) (cipher.AEAD, error) { return nil, nil },
		FetchJournal: func(_ context.Context, a, s string) error {
			if a != account || s != id {
				t.Errorf("fetched %s/%s's journal, want %s/%s's", a, s, account, id)
			}
			b, err := os.ReadFile(remote)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
				return err
			}
			return os.WriteFile(local, b, 0o600)
		},
		Delivered: func(dest, artifact, result string) { results <- result },
	})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if r := <-results; r != "delivered" {
		ds, _ := st.ListDeliveries(ctx, account, id)
		t.Fatalf("attempt: %s (%+v), want delivered", r, ds)
	}
	var lines []string
	for _, e := range fake.Events("audit", id) {
		lines = append(lines, e.Message)
	}
	if got := strings.Join(lines, "\n"); !strings.Contains(got, "ran on another server") {
		t.Errorf("transcript delivered: %q", got)
	}
}
