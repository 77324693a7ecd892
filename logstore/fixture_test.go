package logstore_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/logstore"
)

// previousRelease is a log store made by the previous release of Postern
// (no release has been cut yet: this version's schema), kept to test that
// this version opens it: its migrations bring it up to date, and what it
// held reads back. When a release is cut, POSTERN_MAKE_FIXTURE=1 go test
// -run TestMakeFixture ./logstore remakes it with that release, under a
// new name, for the next.
const previousRelease = "testdata/release-0.1.0-logs.db"

// TestMakeFixture writes previousRelease from this version's schema.
func TestMakeFixture(t *testing.T) {
	if os.Getenv("POSTERN_MAKE_FIXTURE") == "" {
		t.Skip("remakes the previous release's log store: only when a release is cut")
	}
	ctx := t.Context()
	tmp := filepath.Join(t.TempDir(), "logs.db")
	s, err := logstore.Open(ctx, tmp, logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, logstore.Group{Account: "000000000001", Name: "/postern/sessions", RetentionDays: 30}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	if err := s.PutEvents(ctx, "000000000001", "/postern/sessions", "admin-0123456789abcdef0", []logstore.Event{
		{Time: at, Message: `{"sessionId":"admin-0123456789abcdef0","sessionData":["echo from the previous release"]}`},
		{Time: at.Add(time.Second), Message: `{"eventType":"Command","command":"uname -a","exitCode":0}`},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	copyFile(t, tmp, previousRelease)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// copyFixture copies previousRelease to a temporary file.
func copyFixture(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "logs.db")
	copyFile(t, previousRelease, p)
	return p
}

// TestOpensPreviousRelease: the previous release's log store opens,
// migrated to this version's schema, with its groups and events.
func TestOpensPreviousRelease(t *testing.T) {
	ctx := t.Context()
	s, err := logstore.Open(ctx, copyFixture(t), logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g, err := s.Group(ctx, "000000000001", "/postern/sessions")
	if err != nil || g.RetentionDays != 30 {
		t.Fatalf("the group of the previous release: %+v, %v", g, err)
	}
	evs, err := s.Events(ctx, "000000000001", "/postern/sessions", "admin-0123456789abcdef0", 0, 10)
	if err != nil || len(evs) != 2 || !strings.Contains(evs[0].Message, "echo from the previous release") || !strings.Contains(evs[1].Message, `"command":"uname -a"`) {
		t.Errorf("the events of the previous release: %+v, %v", evs, err)
	}
}

// TestFailedMigrationLeavesDatabase: an upgrade whose migration fails
// changes nothing, earlier new migrations included, and says at which
// version the log store stays.
func TestFailedMigrationLeavesDatabase(t *testing.T) {
	ctx := context.Background()
	p := copyFixture(t)
	restore := logstore.AddMigrations(`CREATE TABLE upgrade_probe (x INTEGER) STRICT`, `THIS IS NOT SQL`)
	_, err := logstore.Open(ctx, p, logstore.Options{})
	restore()
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
	if v != logstore.SchemaVersion || !errors.Is(perr, sql.ErrNoRows) {
		t.Errorf("after the failed upgrade: version %d (want %d), upgrade_probe %q %v (want none)", v, logstore.SchemaVersion, probe, perr)
	}
}
