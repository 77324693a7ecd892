package postgres_test

import (
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/store"
	"github.com/postern/postern/store/postgres"
)

const acctB = "000000000002"

// t0 has microseconds, the precision both stores keep.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// fill puts rows in every table of s, through the store's interface,
// with the values that are easiest to lose on the way: zero times (NULL),
// nil and empty lists and maps, an exit code of nil and of 0, the largest
// uint64, bytes that are not text, text that is not ASCII.
func fill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []store.Account{{ID: store.DefaultAccount, Name: "default", CreatedAt: t0}, {ID: acctB, Name: "ünïcödé"}} {
		must(s.EnsureAccount(ctx, a))
	}
	must(s.CreateUser(ctx, store.User{Account: store.DefaultAccount, Name: "admin", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", Groups: []string{"administrators", "operators"}, RunAs: "ubuntu", CreatedAt: t0}))
	must(s.CreateUser(ctx, store.User{Account: store.DefaultAccount, Name: "sso", Federated: "https://idp.example.com sub-1", CreatedAt: t0.Add(time.Minute)}))
	must(s.CreateUser(ctx, store.User{Account: acctB, Name: "admin"}))
	must(s.CreateAccessKey(ctx, store.AccessKey{ID: "AKIAPOSTERN000000001", Account: store.DefaultAccount, User: "admin", SealedSecret: []byte("sealed"), CreatedAt: t0}))
	if _, err := s.Place(ctx, "node/mi-0", "server-a"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.AcquireLease(ctx, "outbox", "server-a", time.Hour); !ok || err != nil {
		t.Fatalf("AcquireLease = %v, %v", ok, err)
	}
	// An organization of the default account, with a nested unit and a
	// member account in it: an account's place refers to units, units to
	// their parents and organization, the organization to its account.
	must(s.CreateOrganization(ctx, store.Organization{ID: "o-abcdefghij", ManagementAccount: store.DefaultAccount, Root: "r-ab12", CreatedAt: t0}))
	must(s.CreateOrgUnit(ctx, store.OrgUnit{ID: "ou-ab12-aaaaaaaa", Org: "o-abcdefghij", Parent: "r-ab12", Name: "Prod", CreatedAt: t0}))
	must(s.CreateOrgUnit(ctx, store.OrgUnit{ID: "ou-ab12-bbbbbbbb", Org: "o-abcdefghij", Parent: "ou-ab12-aaaaaaaa", Name: "Web", CreatedAt: t0.Add(time.Second)}))
	must(s.CreateMemberAccount(ctx, store.Account{ID: "123456789012", Name: "web-prod", CreatedAt: t0, Org: "o-abcdefghij", Parent: "ou-ab12-bbbbbbbb"}))
	// A stack set with an instance in the member account, and one held by
	// an operation: instances refer to their stack set and account.
	must(s.CreateStackSet(ctx, store.StackSet{Org: "o-abcdefghij", Name: "Baseline", Description: "ünï", Template: "Resources:\n  Logs: {Type: AWS::Logs::LogGroup}\n",
		TemplateName: "baseline.yaml", Digest: strings.Repeat("ef", 32), Parameters: map[string]string{"Retention": "30"}, Targets: []string{"ou-ab12-aaaaaaaa"}, CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)}))
	must(s.CreateStackSet(ctx, store.StackSet{Org: "o-abcdefghij", Name: "Empty"}))
	must(s.BeginStackSetOperation(ctx, "o-abcdefghij", "Empty", "op-1", t0, t0.Add(5*time.Minute)))
	must(s.PutStackInstance(ctx, store.StackInstance{Org: "o-abcdefghij", StackSet: "Baseline", Account: "123456789012", Status: "DRIFTED", Reason: "Logs: RetentionInDays",
		Digest: strings.Repeat("ef", 32), Parameters: map[string]string{"Retention": "30"}, PhysicalIDs: map[string]string{"Key": "1234abcd-12ab-34cd-56ef-000000000003"},
		Resources: `[{"logicalId":"Logs","type":"AWS::Logs::LogGroup"}]`, Drift: `{"status":"DRIFTED"}`, DriftCheckedAt: t0.Add(time.Minute), UpdatedAt: t0}))
	must(s.PutStackInstance(ctx, store.StackInstance{Org: "o-abcdefghij", StackSet: "Baseline", Account: store.DefaultAccount, Status: "OUTDATED"}))
	must(s.AddStackSetOperation(ctx, store.StackSetOperation{Org: "o-abcdefghij", StackSet: "Baseline", ID: "op-0", Action: "DEPLOY", By: "prn:postern:iam:000000000001:user/admin",
		Accounts: `[{"account":"123456789012","status":"SUCCEEDED"}]`, StartedAt: t0, EndedAt: t0.Add(time.Second)}, 20))
	must(s.CreateToken(ctx, store.Token{Hash: strings.Repeat("ab", 32), ID: "tok-1", Account: store.DefaultAccount, User: "admin", Kind: store.TokenSession, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), SignedInAt: t0.Add(-time.Hour)}))
	must(s.CreateToken(ctx, store.Token{Hash: strings.Repeat("cd", 32), ID: "tok-2", Account: store.DefaultAccount, User: "admin", Kind: store.TokenAPI, Name: "ci", Scopes: []string{"GetMetrics"}, CreatedAt: t0}))
	must(s.PutPolicy(ctx, store.Policy{Account: store.DefaultAccount, ID: "defaults", Text: "permit (principal, action, resource);", UpdatedAt: t0, UpdatedBy: "admin"}))
	must(s.SetCursor(ctx, "audit/s3", 42))
	must(s.SetCursor(ctx, "audit/cloudwatch", math.MaxInt64))
	must(s.CreateActivation(ctx, store.Activation{ID: "11111111-1111-4111-8111-111111111111", Account: store.DefaultAccount, CodeHash: strings.Repeat("c0", 32),
		Description: "web", DefaultName: "web", Tags: map[string]string{"env": "prod", "ünï": `"quoted" \`}, RegistrationLimit: 10, ExpiresAt: t0.Add(24 * time.Hour), CreatedAt: t0}))
	must(s.CreateActivation(ctx, store.Activation{ID: "22222222-2222-4222-8222-222222222222", Account: acctB, RegistrationLimit: 1}))
	must(s.RegisterNode(ctx, "11111111-1111-4111-8111-111111111111", store.Node{ID: "mi-00000000000000001", Name: "web-1", Hostname: "web-1.example.com", OS: "linux",
		Platform: "Debian GNU/Linux 12 (bookworm)", AgentVersion: "0.1.0", IP: "2001:db8::7", Tags: map[string]string{"env": "prod"}, CertSerial: "7f3a", RegisteredAt: t0}, t0))
	must(s.TouchNode(ctx, "mi-00000000000000001", t0.Add(time.Hour), "192.0.2.10", "0.2.0"))
	must(s.RegisterNode(ctx, "11111111-1111-4111-8111-111111111111", store.Node{ID: "mi-00000000000000002", Name: "bare"}, t0))
	exit := 0
	for _, se := range []store.Session{
		{ID: "admin-00000000000000001", Account: store.DefaultAccount, Owner: "admin", Target: "mi-00000000000000001", Document: "SSM-StartInteractiveCommand",
			Reason: "INC-42", Status: store.StatusTerminated, StatusReason: "ExitStatus", RunAsUser: "ubuntu", StartedAt: t0, EndedAt: t0.Add(time.Minute), ExitCode: &exit,
			Cols: 120, Rows: 40, RecordedSeq: math.MaxUint64, ShredKey: []byte{0, 1, 0xfe, 0xff},
			Settings: store.SessionSettings{IdleTimeout: 20 * time.Minute, Port: &store.PortTarget{Host: "db", Port: 5432, Stdio: true}, Type: "Port", RunAs: "ubuntu"}},
		{ID: "admin-00000000000000002", Account: store.DefaultAccount, Owner: "admin", Target: "mi-00000000000000002", Status: store.StatusConnected, StartedAt: t0.Add(time.Minute)},
	} {
		must(s.CreateSession(ctx, se))
	}
	must(s.ShredSession(ctx, store.DefaultAccount, "admin-00000000000000002"))
	for _, content := range []string{"{}", "schemaVersion: '1.0'\nsessionType: Port\n"} {
		_, err := s.PutDocument(ctx, store.Document{Account: store.DefaultAccount, Name: "Fwd", Content: content, SessionType: "Port", CreatedBy: "admin", CreatedAt: t0})
		must(err)
	}
	must(s.CreateDeliveries(ctx, []store.Delivery{
		{Account: store.DefaultAccount, SessionID: "admin-00000000000000001", Destination: "s3", Artifact: "log", Target: `{"bucket":"logs"}`, Status: store.DeliveryDelivered,
			Attempts: 2, LastError: "slow down", Location: "s3://logs/admin-00000000000000001.log", Bytes: 1 << 40, Cursor: math.MaxUint64, CreatedAt: t0, UpdatedAt: t0.Add(time.Minute)},
		{Account: store.DefaultAccount, SessionID: "admin-00000000000000002", Destination: "cloudwatch", Artifact: "log", Target: `{}`, Status: store.DeliveryWaiting, CreatedAt: t0},
	}))
	must(s.CreateKey(ctx, store.Key{Account: store.DefaultAccount, ID: "1234abcd-12ab-34cd-56ef-000000000001", Description: "logs", State: store.KeyEnabled, Policy: `{"Version":"2012-10-17"}`,
		RotationPeriod: 365*24*time.Hour + time.Nanosecond, NextRotation: t0.Add(365 * 24 * time.Hour), CreatedAt: t0,
		Versions: []store.KeyVersion{{Version: 1, Wrapped: []byte{0, 0xff, 'k'}, CreatedAt: t0}}}))
	must(s.AddKeyVersion(ctx, store.DefaultAccount, "1234abcd-12ab-34cd-56ef-000000000001", store.KeyVersion{Version: 2, Wrapped: []byte("second"), CreatedAt: t0.Add(time.Hour)}, time.Time{}))
	must(s.CreateKey(ctx, store.Key{Account: acctB, ID: "1234abcd-12ab-34cd-56ef-000000000002", State: store.KeyPendingDeletion, DeletionDate: t0.Add(7 * 24 * time.Hour)}))
	must(s.PutAlias(ctx, store.KeyAlias{Account: store.DefaultAccount, Name: "alias/session-manager-logs", KeyID: "1234abcd-12ab-34cd-56ef-000000000001", CreatedAt: t0}))
	// A command on two nodes, one of them done: invocations refer to
	// their command, commands to their account.
	three := 3
	must(s.CreateCommand(ctx, store.Command{Account: store.DefaultAccount, ID: "11111111-2222-4333-8444-555555555555", Owner: "admin", DocumentName: "AWS-RunShellScript",
		Parameters: map[string]string{"commands": `["uptime"]`}, Targets: `[{"Key":"tag:env","Values":["prod"]}]`, Comment: "ünï", MaxConcurrency: "50%", MaxErrors: "0",
		Script: "uptime", Timeout: time.Hour, Status: "Failed", StatusDetails: "Failed", TargetCount: 2, CompletedCount: 2, ErrorCount: 1, RequestedAt: t0, EndedAt: t0.Add(time.Minute)},
		[]store.CommandInvocation{
			{Account: store.DefaultAccount, CommandID: "11111111-2222-4333-8444-555555555555", NodeID: "mi-00000000000000001", NodeName: "web-1", Status: "Failed", StatusDetails: "Failed",
				SessionID: "admin-00000000000000001", ExitCode: &three, Stdout: "out ✓", Stderr: "err", StdoutBytes: 1 << 40, StderrBytes: 3, StartedAt: t0, EndedAt: t0.Add(time.Second)},
			{Account: store.DefaultAccount, CommandID: "11111111-2222-4333-8444-555555555555", NodeID: "mi-00000000000000002", Seq: 1, NodeName: "bare", Status: "Cancelled", StatusDetails: "Cancelled"},
		}))
	must(s.SetRootKeyCheck(ctx, []byte("root key check\x00\xff")))
	link := func(r store.AuditRecord) []byte { return fmt.Appendf(nil, "%d|%x", r.Seq, r.PrevHash) }
	for i, action := range []string{"POST /v1/sessions", "SessionEnded"} {
		_, err := s.AppendAudit(ctx, store.AuditRecord{Time: t0.Add(time.Duration(i) * time.Second), Account: store.DefaultAccount, Actor: "admin", Action: action,
			Resource: "/v1/sessions", Source: "127.0.0.1:1", Result: "Allowed", Status: 200, RequestID: fmt.Sprint(i), Detail: "ünï"}, link)
		must(err)
	}
}

// contents reads everything fill wrote back through the store's interface.
func contents(t *testing.T, s store.Store) map[string]any {
	t.Helper()
	ctx := t.Context()
	c := map[string]any{}
	put := func(name string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c[name] = v
	}
	for _, a := range []string{store.DefaultAccount, acctB} {
		v1, err := s.ListUsers(ctx, a)
		put("users "+a, v1, err)
		for _, u := range v1 {
			v, err := s.ListTokens(ctx, a, u.Name, t0)
			put("tokens "+a+"/"+u.Name, v, err)
		}
		ps, seeded, err := s.Policies(ctx, a)
		put("policies "+a, []any{ps, seeded}, err)
		v2, err := s.ListActivations(ctx, a)
		put("activations "+a, v2, err)
		v3, err := s.ListNodes(ctx, a)
		put("nodes "+a, v3, err)
		v4, err := s.ListSessions(ctx, store.SessionFilter{Account: a})
		put("sessions "+a, v4, err)
		for _, se := range v4 {
			v, err := s.ListDeliveries(ctx, a, se.ID)
			put("deliveries "+se.ID, v, err)
		}
		v5, err := s.ListDocuments(ctx, a)
		put("documents "+a, v5, err)
		for _, d := range v5 {
			for v := 1; v <= d.Version; v++ {
				got, err := s.GetDocument(ctx, a, d.Name, v)
				put(fmt.Sprintf("document %s/%s %d", a, d.Name, v), got, err)
			}
		}
		v6, err := s.ListKeys(ctx, a)
		put("keys "+a, v6, err)
		v7, err := s.ListAliases(ctx, a)
		put("aliases "+a, v7, err)
	}
	for _, h := range []string{strings.Repeat("ab", 32), strings.Repeat("cd", 32)} {
		v, err := s.GetToken(ctx, h, t0)
		put("token "+h, v, err)
	}
	for _, name := range []string{"audit/s3", "audit/cloudwatch"} {
		v, err := s.Cursor(ctx, name)
		put("cursor "+name, v, err)
	}
	cmds, err := s.ListCommands(ctx, store.CommandFilter{})
	put("commands", cmds, err)
	for _, c := range cmds {
		v, err := s.ListCommandInvocations(ctx, c.Account, c.ID)
		put("command invocations "+c.ID, v, err)
	}
	sets, err := s.ListStackSets(ctx, "o-abcdefghij")
	put("stack sets", sets, err)
	for _, ss := range sets {
		v, err := s.ListStackInstances(ctx, ss.Org, ss.Name)
		put("stack instances "+ss.Name, v, err)
		ops, err := s.ListStackSetOperations(ctx, ss.Org, ss.Name)
		put("stack set operations "+ss.Name, ops, err)
	}
	v1, err := s.RootKeyCheck(ctx)
	put("root key check", v1, err)
	v2, err := s.ListAudit(ctx, store.AuditFilter{})
	put("audit", v2, err)
	n, oldest, err := s.DeliveryBacklog(ctx)
	put("backlog", []any{n, oldest}, err)
	return c
}

func openSQLite(t *testing.T) (*store.SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "postern.db")
	s, err := store.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// sqliteTables reads src's tables, and their rows.
func sqliteTables(t *testing.T, src postgres.Exporter) (tables []store.Table, rows map[string][][]any) {
	t.Helper()
	rows = map[string][][]any{}
	err := src.Export(t.Context(), func(tb store.Table, rs iter.Seq2[[]any, error]) error {
		tables = append(tables, tb)
		for r, err := range rs {
			if err != nil {
				return err
			}
			rows[tb.Name] = append(rows[tb.Name], r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tables, rows
}

// TestImport copies a SQLite store holding rows in every table to
// PostgreSQL and finds every row there, value for value, and everything
// the store's interface reads back the same from both.
func TestImport(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src, _ := openSQLite(t)
	fill(t, src)
	tables, srcRows := sqliteTables(t, src)
	for _, tb := range tables {
		// A table fill leaves empty is a table whose copy this test does
		// not check: a new table needs rows in fill.
		if tb.Rows == 0 {
			t.Errorf("fill wrote no row in table %s: give it some, so that its copy is tested", tb.Name)
		}
	}

	dst := open(t)
	defer dst.Close()
	counts, err := dst.Import(ctx, src, postgres.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		i := slices.IndexFunc(counts, func(c postgres.TableCount) bool { return c.Table == tb.Name })
		if i < 0 {
			t.Errorf("table %s is not in Import's counts %+v", tb.Name, counts)
			continue
		}
		if c := counts[i]; c.Source != tb.Rows || c.Target != tb.Rows {
			t.Errorf("table %s: counts %+v, want %d and %d", tb.Name, c, tb.Rows, tb.Rows)
		}
	}
	if len(counts) != len(tables) {
		t.Errorf("Import counted %d tables, the source has %d: %+v", len(counts), len(tables), counts)
	}

	// Row for row, value for value.
	for _, tb := range tables {
		want := rowStrings(t, tb, srcRows[tb.Name], true)
		cols := make([]string, len(tb.Columns))
		for i, c := range tb.Columns {
			cols[i] = `"` + c + `"`
		}
		rows, err := dst.Pool().Query(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM "`+tb.Name+`"`)
		if err != nil {
			t.Fatal(err)
		}
		var got [][]any
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if g := rowStrings(t, tb, got, false); !slices.Equal(g, want) {
			t.Errorf("table %s:\n got %q\nwant %q", tb.Name, g, want)
		}
	}

	// And as the server reads them.
	want, got := contents(t, src), contents(t, dst)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	}) {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("%s:\n got %+v\nwant %+v", k, got[k], want[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("PostgreSQL holds %d things, SQLite %d", len(got), len(want))
	}
}

// rowStrings renders rows comparably, sorted: times as unix microseconds
// (what SQLite holds), booleans as 0 and 1, bytes quoted.
func rowStrings(t *testing.T, tb store.Table, rows [][]any, sqlite bool) []string {
	t.Helper()
	var out []string
	for _, r := range rows {
		var b strings.Builder
		for i, v := range r {
			switch x := v.(type) {
			case time.Time:
				v = x.UnixMicro()
			case bool:
				v = map[bool]int64{false: 0, true: 1}[x]
			case int32:
				v = int64(x)
			case []byte:
				v = fmt.Sprintf("%q", x)
			}
			fmt.Fprintf(&b, "%s=%v (%T); ", tb.Columns[i], v, v)
		}
		out = append(out, b.String())
	}
	slices.Sort(out)
	return out
}

func TestImportRefusesNonEmpty(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src, _ := openSQLite(t)
	fill(t, src)
	dst := open(t)
	defer dst.Close()
	// As a server started against the database first would leave it.
	const stray = "000000000009"
	if err := dst.EnsureAccount(ctx, store.Account{ID: stray, Name: "stray"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Import(ctx, src, postgres.ImportOptions{}); !errors.Is(err, postgres.ErrNotEmpty) || !strings.Contains(err.Error(), "(rows in accounts)") {
		t.Fatalf("Import into a database holding an account = %v, want a refusal naming accounts", err)
	}
	if _, _, err := dst.Policies(ctx, stray); err != nil {
		t.Fatalf("the refused import changed the target: %v", err)
	}

	// Told to replace it, Import does.
	if _, err := dst.Import(ctx, src, postgres.ImportOptions{Replace: true}); err != nil {
		t.Fatalf("Import with Replace: %v", err)
	}
	if _, _, err := dst.Policies(ctx, stray); err == nil {
		t.Error("after Import with Replace, the target's own account is still there")
	}
	if u, err := dst.GetUser(ctx, store.DefaultAccount, "admin"); err != nil || u.RunAs != "ubuntu" {
		t.Errorf("after Import with Replace: GetUser = %+v, %v", u, err)
	}
}

// TestImportMissingCounterpart: a table or column of SQLite's that the
// PostgreSQL schema lacks fails the import, naming it, and nothing is
// kept: the copy never leaves part of a deployment behind.
func TestImportMissingCounterpart(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, ddl, want string }{
		{"table", `CREATE TABLE leftovers (id INTEGER PRIMARY KEY, what TEXT) STRICT; INSERT INTO leftovers VALUES (1, 'row')`, "table leftovers has no counterpart"},
		{"column", `ALTER TABLE users ADD COLUMN shoe_size INTEGER`, "column shoe_size has no counterpart"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			src, path := openSQLite(t)
			fill(t, src)
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, tt.ddl); err != nil {
				t.Fatal(err)
			}
			db.Close()

			dst := open(t)
			defer dst.Close()
			_, err = dst.Import(ctx, src, postgres.ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Import = %v, want an error containing %q", err, tt.want)
			}
			var n int
			if err := dst.Pool().QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM accounts) + (SELECT COUNT(*) FROM users)`).Scan(&n); err != nil || n != 0 {
				t.Errorf("after the failed import the target holds %d accounts and users (%v), want none", n, err)
			}
		})
	}
}

// TestSchemasMatch: the two schemas have the same tables with the same
// columns, which Import relies on. A migration added to one store needs
// its counterpart in the other.
func TestSchemasMatch(t *testing.T) {
	t.Parallel()
	src, _ := openSQLite(t)
	tables, _ := sqliteTables(t, src)
	want := map[string][]string{}
	for _, tb := range tables {
		want[tb.Name] = slices.Sorted(slices.Values(tb.Columns))
	}
	dst := open(t)
	defer dst.Close()
	rows, err := dst.Pool().Query(t.Context(), `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name != 'schema_migrations' ORDER BY table_name, column_name`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		got[table] = append(got[table], col)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for name, cols := range want {
		if !slices.Equal(got[name], cols) {
			t.Errorf("table %s: PostgreSQL has columns %q, SQLite %q", name, got[name], cols)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("table %s is in PostgreSQL's schema only", name)
		}
	}
}

func TestConvert(t *testing.T) {
	when := time.UnixMicro(1741964966535897).UTC()
	for _, tt := range []struct {
		v    any
		typ  string
		want any
	}{
		{nil, "timestamp with time zone", nil},
		{int64(1741964966535897), "timestamp with time zone", when},
		{int64(0), "boolean", false},
		{int64(1), "boolean", true},
		{int64(-1), "bigint", int64(-1)},
		{"ünï", "text", "ünï"},
		{[]byte{0, 0xff}, "bytea", []byte{0, 0xff}},
	} {
		got, err := postgres.Convert(tt.v, tt.typ)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("convert(%#v, %s) = %#v, %v; want %#v", tt.v, tt.typ, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		v   any
		typ string
	}{
		{int64(2), "boolean"},
		{"1", "bigint"},
		{int64(1), "text"},
		{"x", "bytea"},
		{1.5, "bigint"},
		{"2025-03-14", "timestamp with time zone"},
		{int64(1), "jsonb"},
	} {
		if got, err := postgres.Convert(tt.v, tt.typ); err == nil {
			t.Errorf("convert(%#v, %s) = %#v, want an error", tt.v, tt.typ, got)
		}
	}
}
