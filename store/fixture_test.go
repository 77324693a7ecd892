package store_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/store"
)

// previousRelease is a metadata database made by the previous release
// of Postern, kept to test that this version opens it: its migrations
// bring it up to date, and what it held reads back. When a release is
// cut, POSTERN_MAKE_FIXTURE=1 go test -run TestMakeFixture ./store
// remakes it with that release, under a new name, for the next.
const previousRelease = "testdata/release-0.1.0.db"

// TestMakeFixture writes previousRelease from this version's schema.
func TestMakeFixture(t *testing.T) {
	if os.Getenv("POSTERN_MAKE_FIXTURE") == "" {
		t.Skip("remakes the previous release's database: only when a release is cut")
	}
	ctx := t.Context()
	tmp := filepath.Join(t.TempDir(), "postern.db")
	st, err := store.OpenSQLite(ctx, tmp)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, st)
	if _, err := st.DB().ExecContext(ctx, `VACUUM INTO ?`, previousRelease); err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// fill puts what the fixture holds: an account, users, a policy.
func fill(t *testing.T, st *store.SQLite) {
	t.Helper()
	ctx := t.Context()
	if err := st.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{{Name: "admin", Groups: []string{"administrators"}}, {Name: "alice", Groups: []string{"ops"}}} {
		u.Account, u.PasswordHash = store.DefaultAccount, "not-a-real-hash"
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutPolicy(ctx, store.Policy{Account: store.DefaultAccount, ID: "ops", Text: `permit (principal in Group::"ops", action, resource);`}); err != nil {
		t.Fatal(err)
	}
}

// copyFixture copies previousRelease to a temporary file.
func copyFixture(t *testing.T) string {
	t.Helper()
	in, err := os.Open(previousRelease)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	p := filepath.Join(t.TempDir(), "postern.db")
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
	return p
}

// TestOpensPreviousRelease: the previous release's database opens,
// migrated to this version's schema, with what it held.
func TestOpensPreviousRelease(t *testing.T) {
	ctx := t.Context()
	st, err := store.OpenSQLite(ctx, copyFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var v int
	if err := st.DB().QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != store.SchemaVersion {
		t.Fatalf("schema version %d (%v), want %d", v, err, store.SchemaVersion)
	}
	users, err := st.ListUsers(ctx, store.DefaultAccount)
	if err != nil || len(users) != 2 || users[1].Name != "alice" || users[1].Groups[0] != "ops" {
		t.Errorf("users of the previous release: %+v, %v", users, err)
	}
	ps, _, err := st.Policies(ctx, store.DefaultAccount)
	found := false
	for _, p := range ps {
		found = found || p.ID == "ops" && strings.Contains(p.Text, `Group::"ops"`)
	}
	if err != nil || !found {
		t.Errorf("policies of the previous release: %+v, %v", ps, err)
	}
}

// TestFailedMigrationLeavesDatabase: an upgrade whose migration fails
// changes nothing, earlier new migrations included, and says at which
// version the database stays.
func TestFailedMigrationLeavesDatabase(t *testing.T) {
	ctx := context.Background()
	p := copyFixture(t)
	restore := store.AddMigrations(`CREATE TABLE upgrade_probe (x INTEGER) STRICT`, `THIS IS NOT SQL`)
	_, err := store.OpenSQLite(ctx, p)
	restore()
	old := store.SchemaVersion
	if err == nil || !strings.Contains(err.Error(), "the database is unchanged, at version") {
		t.Fatalf("a failing migration: %v", err)
	}
	db, err := sql.Open("sqlite", p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	var probe string
	perr := db.QueryRowContext(ctx, `SELECT name FROM sqlite_master WHERE name = 'upgrade_probe'`).Scan(&probe)
	if v != old || !errors.Is(perr, sql.ErrNoRows) {
		t.Errorf("after the failed upgrade: version %d (want %d), upgrade_probe %q %v (want none)", v, old, probe, perr)
	}
}
