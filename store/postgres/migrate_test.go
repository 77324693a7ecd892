package postgres_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/postern/postern/store"
	"github.com/postern/postern/store/postgres"
	"github.com/postern/postern/store/postgres/pgtest"
)

type migration struct {
	version   int
	appliedAt time.Time
}

func appliedMigrations(t *testing.T, s *postgres.Store) []migration {
	t.Helper()
	rows, err := s.Pool().Query(t.Context(), `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (migration, error) {
		var m migration
		return m, row.Scan(&m.version, &m.appliedAt)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	ms := appliedMigrations(t, s)
	if len(ms) != postgres.SchemaVersion {
		t.Fatalf("%d migrations applied, want %d", len(ms), postgres.SchemaVersion)
	}
	for i, m := range ms {
		if m.version != i+1 {
			t.Fatalf("migration versions = %v, want 1 to %d", ms, postgres.SchemaVersion)
		}
	}
	u := store.User{Account: store.DefaultAccount, Name: "alice", Groups: []string{"administrators"}, CreatedAt: time.Unix(1700000000, 123456000)}
	if err := s.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	// applied_at is set when a migration runs, so an unchanged list shows
	// that reopening ran none.
	got := appliedMigrations(t, s)
	if len(got) != len(ms) {
		t.Fatalf("after reopening, migrations = %v, want %v unchanged", got, ms)
	}
	for i := range got {
		if got[i].version != ms[i].version || !got[i].appliedAt.Equal(ms[i].appliedAt) {
			t.Errorf("after reopening, migrations = %v, want %v unchanged", got, ms)
		}
	}
	if got, err := s.GetUser(ctx, u.Account, u.Name); err != nil || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("GetUser after reopen = %+v, %v", got, err)
	}
}

// TestConcurrentOpen: servers starting at once against a new database
// each see the schema brought up to date once.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	const servers = 6
	stores := make([]*postgres.Store, servers)
	errs := make([]error, servers)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	if ms := appliedMigrations(t, stores[0]); len(ms) != postgres.SchemaVersion {
		t.Errorf("%d migrations applied, want %d once each: %v", len(ms), postgres.SchemaVersion, ms)
	}
}

func TestNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, postgres.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// An older binary must not run against a schema it does not know.
	s, err = postgres.Open(ctx, dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("Open of a newer schema: %v", err)
	}
}

// TestOpenRefusals: what cannot work says why, and never shows the
// password.
func TestOpenRefusals(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, tt := range []struct{ name, dsn, want string }{
		{"not a DSN", "postgres://alice:s3cret@[::1", "cannot parse"},
		{"no such database", strings.Replace(dsn, "/test_", "/missing_", 1), "does not exist"},
		{"no such role", strings.Replace(dsn, "postgres://postern@", "postgres://mallory:s3cret@", 1), "mallory"},
	} {
		s, err := postgres.Open(ctx, tt.dsn)
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", tt.name)
			continue
		}
		t.Logf("%s: %v", tt.name, err)
		if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: Open = %v; want an error containing %q, without the password", tt.name, err, tt.want)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	s := open(t)
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.GetUser(ctx, store.DefaultAccount, "alice"); err == nil {
		t.Error("GetUser with a canceled context succeeded")
	}
}

// TestOpenUnresponsive: a database host that accepts connections and
// never answers makes Open fail, by its default connect timeout, rather
// than hang a starting server.
func TestOpenUnresponsive(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*postgres.DefaultConnectTimeout)
	defer cancel()
	s, err := postgres.Open(ctx, "postgres://postern@"+ln.Addr().String()+"/postern?sslmode=disable")
	if err == nil {
		s.Close()
		t.Fatal("Open of a silent server succeeded")
	}
	if ctx.Err() != nil {
		t.Fatalf("Open waited for the test's own deadline: %v", err)
	}
	t.Logf("Open: %v", err)
}

// TestFailedMigrationLeavesDatabase: an upgrade whose migration fails
// changes nothing, earlier new migrations included, and says at which
// version the database stays.
func TestFailedMigrationLeavesDatabase(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	restore := postgres.AddMigrations(`CREATE TABLE upgrade_probe (x integer)`, `THIS IS NOT SQL`)
	_, err = postgres.Open(ctx, dsn)
	restore()
	if err == nil || !strings.Contains(err.Error(), "the database is unchanged, at version") {
		t.Fatalf("a failing migration: %v", err)
	}
	s, err = postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ms := appliedMigrations(t, s); len(ms) != postgres.SchemaVersion {
		t.Errorf("after the failed upgrade %d migrations are applied, want %d", len(ms), postgres.SchemaVersion)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'upgrade_probe'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("upgrade_probe: %d tables (%v), want none", n, err)
	}
}
