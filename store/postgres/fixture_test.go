package postgres_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/postern/postern/store"
	"github.com/postern/postern/store/postgres"
	"github.com/postern/postern/store/postgres/pgtest"
)

// previousRelease is a PostgreSQL metadata database made by the previous
// release of Postern (no release has been cut yet: this version's
// schema), as pg_dump writes it, kept to test that this version opens it:
// its migrations bring it up to date, and what it held reads back. When
// a release is cut, POSTERN_MAKE_FIXTURE=1 go test -run TestMakeFixture
// ./store/postgres remakes it with that release, under a new name, for
// the next.
const previousRelease = "testdata/release-0.1.0.sql"

// TestMakeFixture writes previousRelease from this version's schema.
func TestMakeFixture(t *testing.T) {
	if os.Getenv("POSTERN_MAKE_FIXTURE") == "" {
		t.Skip("remakes the previous release's database: only when a release is cut")
	}
	ctx := t.Context()
	dsn := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{{Name: "admin", Groups: []string{"administrators"}}, {Name: "alice", Groups: []string{"ops"}}} {
		u.Account, u.PasswordHash = store.DefaultAccount, "not-a-real-hash"
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutPolicy(ctx, store.Policy{Account: store.DefaultAccount, ID: "ops", Text: `permit (principal in Group::"ops", action, resource);`}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	bin, _ := pgtest.BinDir()
	dump := filepath.Join(bin, "pg_dump")
	if _, err := os.Stat(dump); err != nil {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		if len(found) == 0 {
			t.Fatal("no pg_dump")
		}
		dump = found[len(found)-1]
	}
	out, err := exec.CommandContext(ctx, dump, "--no-owner", "--no-privileges", "--inserts", "--dbname="+dsn, "--file="+previousRelease).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	// Its \restrict and \unrestrict lines are psql's (a guard against
	// a malicious server): the fixture is the SQL alone.
	b, err := os.ReadFile(previousRelease)
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, `\`) {
			keep = append(keep, line)
		}
	}
	if err := os.WriteFile(previousRelease, []byte(strings.Join(keep, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOpensPreviousRelease: the previous release's database, restored,
// opens migrated to this version's schema, with what it held.
func TestOpensPreviousRelease(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.NewDatabase(t)
	dump, err := os.ReadFile(previousRelease)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	// pg_dump's plain SQL, as psql would run it (no psql here: the
	// statements alone, in the simple protocol).
	if _, err := conn.Exec(ctx, string(dump)); err != nil {
		conn.Close(ctx)
		t.Fatalf("restoring %s: %v", previousRelease, err)
	}
	conn.Close(ctx)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ms := appliedMigrations(t, s); len(ms) != postgres.SchemaVersion {
		t.Errorf("%d migrations applied, want %d", len(ms), postgres.SchemaVersion)
	}
	users, err := s.ListUsers(ctx, store.DefaultAccount)
	if err != nil || len(users) != 2 || users[1].Name != "alice" || users[1].Groups[0] != "ops" {
		t.Errorf("users of the previous release: %+v, %v", users, err)
	}
	ps, _, err := s.Policies(ctx, store.DefaultAccount)
	found := false
	for _, p := range ps {
		found = found || p.ID == "ops" && strings.Contains(p.Text, `Group::"ops"`)
	}
	if err != nil || !found {
		t.Errorf("policies of the previous release: %+v, %v", ps, err)
	}
}
