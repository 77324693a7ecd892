package e2e

import (
	"database/sql"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
)

// TestAuditTrail: API calls, refused ones included, and sessions' starts
// and ends are in the audit trail with who, what and the result; verify
// holds until someone edits the database, and then names the record.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	node := hostname(t)
	e.mustRun(ctx, "exec", node, "--", "true")
	id := e.sessions(ctx)[0].ID
	// A call with a forged token: refused, and recorded.
	cfg, err := client.LoadConfig(e.home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Token = "forged"
	anon, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ce *client.Error
	if _, err := anon.Nodes(ctx); !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized {
		t.Fatalf("GET /v1/nodes with a forged token: %v", err)
	}
	e.waitDelivered(ctx, id)

	var rs []api.AuditRecord
	e.jsonOut(ctx, &rs, "audit", "query")
	has := func(actor, action, resource, result string) bool {
		for _, r := range rs {
			if r.Actor == actor && r.Action == action && strings.Contains(r.Resource, resource) && r.Result == result {
				return true
			}
		}
		return false
	}
	admin := "prn:postern:iam:000000000001:user/admin"
	for _, want := range []struct{ actor, action, resource, result string }{
		{admin, "POST /v1/sessions", "/v1/sessions", "Allowed"},
		{admin, "SessionStarted", id, "Allowed"},
		{admin, "SessionEnded", id, "Allowed"},
	} {
		if !has(want.actor, want.action, want.resource, want.result) {
			t.Errorf("no record %+v in:\n%+v", want, rs)
		}
	}
	// The refused call belongs to no account, so it is not in the
	// account's trail, but it is in the chain verify checks.
	// Changes and sessions' lifecycle also go to the log group
	// /postern/audit, for queries, tails and metric filters.
	if out := e.mustRun(ctx, "logs", "query", `filter action = "SessionEnded" and resource = "`+id+`" | stats count(*) as n`, "--group", "/postern/audit", "-o", "csv"); out != "n\n1\n" {
		t.Errorf("the audit log group holds %q SessionEnded records of %s", out, id)
	}
	// Query reads the trail a page at a time: past several pages, every
	// record comes once and in order, in JSON and CSV alike, and --limit
	// stops where it says.
	real, err := client.LoadConfig(e.home)
	if err != nil {
		t.Fatal(err)
	}
	admc, err := client.New(real)
	if err != nil {
		t.Fatal(err)
	}
	for range 2100 {
		if _, err := admc.Nodes(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var all []api.AuditRecord
	e.jsonOut(ctx, &all, "audit", "query")
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Fatalf("record %d follows %d", all[i].Seq, all[i-1].Seq)
		}
	}
	if len(all) < 2100+len(rs) {
		t.Fatalf("audit query returned %d records after 2,100 more calls; want at least %d", len(all), 2100+len(rs))
	}
	if csvOut := e.mustRun(ctx, "audit", "query", "-o", "csv"); strings.Count(csvOut, "\n") < len(all)+1 {
		t.Errorf("CSV has %d lines for %d records", strings.Count(csvOut, "\n"), len(all))
	}
	var limited []api.AuditRecord
	e.jsonOut(ctx, &limited, "audit", "query", "--limit", "1500")
	if len(limited) != 1500 || limited[0].Seq != all[0].Seq {
		t.Errorf("--limit 1500 gave %d records", len(limited))
	}
	out := e.mustRun(ctx, "audit", "verify")
	if !strings.Contains(out, "records are intact") {
		t.Fatalf("audit verify: %q", out)
	}

	// Someone with write access to the database turns a record around.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, "data", "postern.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var refused int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit WHERE actor = 'anonymous' AND action = 'GET /v1/nodes' AND result = 'Denied' AND status = 401`).Scan(&refused); err != nil || refused != 1 {
		t.Errorf("records of the refused call: %d, %v", refused, err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit SET actor = 'prn:postern:iam:000000000001:user/nobody' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := e.run(ctx, "audit", "verify")
	if code == 0 || !strings.Contains(errOut, "broken at record 3: altered") {
		t.Errorf("audit verify after an edit: exit %d, %q", code, errOut)
	}
	// Or deletes one.
	if _, err := db.ExecContext(ctx, `UPDATE audit SET actor = (SELECT actor FROM audit WHERE seq = 4) WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM audit WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = e.run(ctx, "audit", "verify")
	if code == 0 || !strings.Contains(errOut, "broken at record 2: missing") {
		t.Errorf("audit verify after a deletion: exit %d, %q", code, errOut)
	}
}
