package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/postern/postern/store"
	"github.com/postern/postern/store/storetest"
)

func openTemp(t *testing.T, name string) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTemp(t, "postern.db")
	})
}

func TestSQLiteMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenSQLite(t.Context(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestSQLitePragmas(t *testing.T) {
	s := openTemp(t, "postern.db")
	defer s.Close()
	for _, tt := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", "5000"},
		{"secure_delete", "1"},
	} {
		var got string
		if err := s.DB().QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
		}
	}
}

type migration struct {
	version   int
	appliedAt int64
}

func appliedMigrations(t *testing.T, db *sql.DB) []migration {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ms []migration
	for rows.Next() {
		var m migration
		if err := rows.Scan(&m.version, &m.appliedAt); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestSQLiteReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "postern.db")
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ms := appliedMigrations(t, s.DB())
	if len(ms) != store.SchemaVersion {
		t.Fatalf("%d migrations applied, want %d", len(ms), store.SchemaVersion)
	}
	for i, m := range ms {
		if m.version != i+1 {
			t.Fatalf("migration versions = %v, want 1 to %d", ms, store.SchemaVersion)
		}
	}
	u := store.User{Account: store.DefaultAccount, Name: "alice", Groups: []string{"administrators"}, CreatedAt: time.Unix(1700000000, 123456000)}
	if err := s.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// applied_at is set when a migration runs, so an unchanged list shows
	// that reopening ran none.
	time.Sleep(time.Millisecond)
	s, err = store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if got := appliedMigrations(t, s.DB()); !slices.Equal(got, ms) {
		t.Errorf("after reopening, migrations = %v, want %v unchanged", got, ms)
	}
	got, err := s.GetUser(ctx, u.Account, u.Name)
	if err != nil {
		t.Fatalf("GetUser after reopen: %v", err)
	}
	if !got.CreatedAt.Equal(u.CreatedAt) || !slices.Equal(got.Groups, u.Groups) {
		t.Errorf("GetUser after reopen = %+v, want %+v", got, u)
	}
}

// TestSQLiteAdminsBecomeAdministrators upgrades a database of schema 7,
// where administrators were a flag, and finds them in the group.
func TestSQLiteAdminsBecomeAdministrators(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "postern.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for i, m := range store.Migrations[:7] {
		if _, err := db.ExecContext(ctx, m); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, 0)`, i+1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO accounts (id, name) VALUES ('000000000001', 'default');
		INSERT INTO users (account, name, password_hash, admin, run_as) VALUES ('000000000001', 'root', '', 1, ''), ('000000000001', 'bob', '', 0, '')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, want := range map[string][]string{"root": {"administrators"}, "bob": nil} {
		u, err := s.GetUser(ctx, store.DefaultAccount, name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(u.Groups, want) {
			t.Errorf("%s: groups %v, want %v", name, u.Groups, want)
		}
	}
}

func TestSQLiteNewerSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "postern.db")
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, store.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// An older binary must not run against a schema it does not know.
	if s, err := store.OpenSQLite(ctx, path); err == nil {
		s.Close()
		t.Fatal("OpenSQLite of a newer schema succeeded")
	}
}

func TestSQLiteAwkwardPath(t *testing.T) {
	// Characters that mean something in a URI or a DSN.
	name := "we?ird #1 %41.db"
	path := filepath.Join(t.TempDir(), name)
	s, err := store.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not created at %q: %v", path, err)
	}
}

func TestSQLiteCanceledContext(t *testing.T) {
	s := openTemp(t, "postern.db")
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.GetUser(ctx, store.DefaultAccount, "alice"); err == nil {
		t.Error("GetUser with a canceled context succeeded")
	}
}

// TestSQLiteDestroyKeyLeavesNoMaterial checks that secure_delete is on
// where it matters: a destroyed key's material is not left in the database
// file's free pages or in the gaps of the pages it shared with other keys.
func TestSQLiteDestroyKeyLeavesNoMaterial(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "postern.db")
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default"}); err != nil {
		t.Fatal(err)
	}
	material := []byte("destroyed key material, never to be seen again")
	doomed := store.Key{Account: store.DefaultAccount, ID: "doomed", State: store.KeyEnabled,
		Versions: []store.KeyVersion{{Version: 1, Wrapped: material}, {Version: 2, Wrapped: material}}}
	kept := store.Key{Account: store.DefaultAccount, ID: "kept", State: store.KeyEnabled,
		Versions: []store.KeyVersion{{Version: 1, Wrapped: []byte("kept key material")}}}
	for _, k := range []store.Key{doomed, kept} {
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	// Everything so far into the database file, and the WAL emptied.
	checkpoint := func() {
		t.Helper()
		if _, err := s.DB().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint()
	if b, err := os.ReadFile(path); err != nil {
		t.Fatal(err)
	} else if !bytes.Contains(b, material) {
		t.Fatal("the material is not in the database file to begin with: the test shows nothing")
	}

	// DestroyKey checkpoints by itself: no checkpoint here.
	if err := s.DestroyKey(ctx, doomed.Account, doomed.ID); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, material) {
			t.Errorf("%s still holds the destroyed key's material", filepath.Base(f))
		}
	}
	if _, err := s.GetKey(ctx, kept.Account, kept.ID); err != nil {
		t.Errorf("GetKey(kept): %v", err)
	}
}
