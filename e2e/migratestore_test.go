package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/postern/postern/api"
	"github.com/postern/postern/store/postgres/pgtest"
)

// TestMigrateStoreToPostgres moves a SQLite deployment to PostgreSQL with
// postern admin migrate-store and runs the same data directory's server
// on PostgreSQL: the same login, nodes, sessions and their recordings,
// keys, users, activations and documents, built-in log groups, and an
// audit trail that still verifies.
func TestMigrateStoreToPostgres(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := pgtest.NewDatabase(t)
	e := startDev(t)
	node := hostname(t)
	data := filepath.Join(e.dir, "data")

	// Something of everything.
	if out := e.mustRun(ctx, "exec", node, "--", "sh", "-c", "echo kept-$((6*7))"); out != "kept-42\n" {
		t.Fatalf("exec: %q", out)
	}
	e.mustRun(ctx, "keys", "create", "--alias", "alias/migrated", "--description", "moved to PostgreSQL")
	e.mustRun(ctx, "activations", "create", "--count", "5", "--tag", "env=ünïcödé")
	e.mustRun(ctx, "users", "create", "carol", "--group", "operators", "--run-as", "carol")
	e.mustRun(ctx, "tokens", "create", "--name", "ci", "--scope", "GetMetrics")
	doc := filepath.Join(e.dir, "Hello.yaml")
	if err := os.WriteFile(doc, []byte("schemaVersion: '1.0'\ndescription: hello\nsessionType: InteractiveCommands\nparameters: {}\nproperties:\n  linux:\n    commands: echo hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(ctx, "documents", "create", "-f", doc)
	listings := [][]string{
		{"nodes"}, {"sessions", "--state", "history"}, {"keys", "ls"}, {"activations", "ls"},
		{"users", "ls"}, {"tokens", "ls"}, {"documents", "ls"}, {"policy", "ls"},
		// The built-in log groups move too: the session's events and
		// the audit trail's, with their sizes and index.
		{"logs", "groups", "ls"}, {"logs", "groups", "streams", "/postern/sessions"},
	}
	before := map[string]string{}
	for _, args := range listings {
		before[strings.Join(args, " ")] = e.mustRun(ctx, args...)
	}
	var sessions []api.Session
	e.jsonOut(ctx, &sessions, "sessions", "--state", "history")
	if len(sessions) != 1 {
		t.Fatalf("sessions: %+v", sessions)
	}
	e.dev.stop(ctx)

	out := e.mustRun(ctx, "admin", "migrate-store", "--from", data, "--to", dsn)
	if !strings.Contains(out, "every table's count matches") {
		t.Fatalf("migrate-store:\n%s", out)
	}
	for _, table := range []string{"accounts", "users", "tokens", "sessions", "keys", "key_versions", "audit",
		"postern_logs.log_groups", "postern_logs.log_streams", "postern_logs.log_events"} {
		if !regexp.MustCompile(`(?m)^` + table + `\s+([1-9]\d*)\s+([1-9]\d*)\s*$`).MatchString(out) {
			t.Errorf("migrate-store shows no rows copied for %s:\n%s", table, out)
		}
	}
	// Again, into what is no longer empty: refused.
	if _, errOut, code := e.run(ctx, "admin", "migrate-store", "--from", data, "--to", dsn); code == 0 || !strings.Contains(errOut, "not empty") {
		t.Errorf("migrate-store into a full database: exit %d, %q", code, errOut)
	}

	// The SQLite file is put aside, so that a server that read it would
	// start empty and fail what follows.
	for _, db := range []string{"postern.db", "logs.db"} {
		if err := os.Rename(filepath.Join(data, db), filepath.Join(data, db+".migrated")); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(e.dir, "postern.yaml")
	if err := os.WriteFile(cfg, []byte("database: "+dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.startDevIn(ctx, "--config", cfg)
	e.dev.waitFor(ctx, regexp.MustCompile(`metadata in PostgreSQL database`))
	for _, db := range []string{"postern.db", "logs.db"} {
		if _, err := os.Stat(filepath.Join(data, db)); !os.IsNotExist(err) {
			t.Errorf("the server on PostgreSQL made a %s: %v", db, err)
		}
	}

	for _, args := range listings {
		got, want := e.mustRun(ctx, args...), before[strings.Join(args, " ")]
		switch strings.Join(args, " ") {
		case "nodes", "logs groups ls":
			// Nodes show when they were last seen; the audit trail's
			// group grows with every call.
			got, want = firstColumn(got), firstColumn(want)
		case "tokens ls":
			// postern dev signed in anew: one token more.
			for _, id := range strings.Split(firstColumn(want), "\n") {
				if !strings.Contains(got, id) {
					t.Errorf("token %s is gone after the move:\n%s", id, got)
				}
			}
			continue
		}
		if got != want {
			t.Errorf("postern %s on PostgreSQL:\n%s\nwant, as on SQLite:\n%s", strings.Join(args, " "), got, want)
		}
	}
	if log := e.mustRun(ctx, "logs", "get", sessions[0].ID); !strings.Contains(log, "kept-42") {
		t.Errorf("the recording of %s after the move:\n%s", sessions[0].ID, log)
	}
	if out := e.mustRun(ctx, "audit", "verify"); !strings.Contains(out, "records are intact") {
		t.Errorf("audit verify after the move: %q", out)
	}
	// And it goes on working.
	if out := e.mustRun(ctx, "exec", node, "--", "sh", "-c", "echo new-$((6*7))"); out != "new-42\n" {
		t.Fatalf("exec on PostgreSQL: %q", out)
	}
	var after []api.Session
	e.jsonOut(ctx, &after, "sessions", "--state", "history")
	if ids := []string{after[0].ID, after[len(after)-1].ID}; len(after) != 2 || !slices.Contains(ids, sessions[0].ID) {
		t.Errorf("sessions on PostgreSQL: %+v", after)
	}
}

// firstColumn keeps each line's first field.
func firstColumn(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return strings.Join(out, "\n")
}
