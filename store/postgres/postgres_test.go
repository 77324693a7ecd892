package postgres_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/store"
	"github.com/postern/postern/store/postgres"
	"github.com/postern/postern/store/postgres/pgtest"
	"github.com/postern/postern/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// open opens a store on a new database of the test's.
func open(t *testing.T) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// TestTwoServers: what storetest's concurrent tests check within one
// pool holds between two, as between servers sharing the database: each
// decision has one winner, and the audit chain stays one chain.
func TestTwoServers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.NewDatabase(t)
	var servers [2]*postgres.Store
	for i := range servers {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		servers[i] = s
	}
	a := servers[0]
	if err := a.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default"}); err != nil {
		t.Fatal(err)
	}
	const limit, tries = 3, 12
	act := store.Activation{ID: "11111111-1111-4111-8111-111111111111", Account: store.DefaultAccount, RegistrationLimit: limit, ExpiresAt: t0.Add(time.Hour)}
	if err := a.CreateActivation(ctx, act); err != nil {
		t.Fatal(err)
	}
	key := store.Key{Account: store.DefaultAccount, ID: "k", State: store.KeyEnabled, Versions: []store.KeyVersion{{Version: 1, Wrapped: []byte("1")}}}
	if err := a.CreateKey(ctx, key); err != nil {
		t.Fatal(err)
	}

	var (
		mu                           sync.Mutex
		registered, rotated, checked int
		versions                     []int
		errs                         []error
	)
	link := func(r store.AuditRecord) []byte {
		h := sha256.Sum256(fmt.Appendf(nil, "%d|%x|%s", r.Seq, r.PrevHash, r.RequestID))
		return h[:]
	}
	var wg sync.WaitGroup
	for i := range tries {
		s := servers[i%2]
		wg.Go(func() {
			regErr := s.RegisterNode(ctx, act.ID, store.Node{ID: fmt.Sprintf("mi-%017x", i+1)}, t0)
			rotErr := s.AddKeyVersion(ctx, key.Account, key.ID, store.KeyVersion{Version: 2, Wrapped: []byte("2")}, time.Time{})
			checkErr := s.SetRootKeyCheck(ctx, fmt.Appendf(nil, "server %d", i))
			d, docErr := s.PutDocument(ctx, store.Document{Account: store.DefaultAccount, Name: "D", Content: "x"})
			_, auditErr := s.AppendAudit(ctx, store.AuditRecord{Time: t0, Actor: "a", Action: "x", RequestID: fmt.Sprint(i)}, link)
			mu.Lock()
			defer mu.Unlock()
			for _, c := range []struct {
				err   error
				loser error
				n     *int
			}{{regErr, store.ErrExhausted, &registered}, {rotErr, store.ErrConflict, &rotated}, {checkErr, store.ErrConflict, &checked}} {
				switch {
				case c.err == nil:
					*c.n++
				case !errors.Is(c.err, c.loser):
					errs = append(errs, c.err)
				}
			}
			errs = append(errs, docErr, auditErr)
			versions = append(versions, d.Version)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if registered != limit || rotated != 1 || checked != 1 {
		t.Errorf("%d registrations, %d rotations to version 2, %d root key checks succeeded; want %d, 1, 1", registered, rotated, checked, limit)
	}
	if slices.Sort(versions); !slices.Equal(versions, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}) {
		t.Errorf("document versions %v, want 1 to %d", versions, tries)
	}
	rs, err := servers[1].ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var prev []byte
	for i, r := range rs {
		if r.Seq != int64(i+1) || !slices.Equal(r.PrevHash, prev) || !slices.Equal(r.Hash, link(r)) {
			t.Fatalf("audit record %d: seq %d not linked to the one before", i, r.Seq)
		}
		prev = r.Hash
	}
	if len(rs) != tries {
		t.Errorf("%d audit records, want %d", len(rs), tries)
	}
}

// TestUnavailable: a database that refuses connections, or ends them, is
// ErrUnavailable (the server answers DatabaseUnavailable, and retries),
// not a failed statement; once it is back, the same store works again.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Cursor(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	pgtest.SetReachable(t, dsn, false)
	for range 3 { // a connection cut in use, then refused ones
		if _, err := s.Cursor(ctx, "x"); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Cursor with the database away: %v, want ErrUnavailable", err)
		}
	}
	if _, err := s.GetSession(ctx, "nobody-0123456789abcdef0"); !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSession with the database away: %v, want ErrUnavailable only", err)
	}
	pgtest.SetReachable(t, dsn, true)
	if _, err := s.Cursor(ctx, "x"); err != nil {
		t.Fatalf("Cursor once the database is back: %v", err)
	}
}
