package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/server"
)

// TestAuditArchive copies the audit trail to MinIO and to CloudWatch Logs
// (its fake) and checks that the archive holds every record of the trail,
// in order, linked by their hashes, including refusals.
func TestAuditArchive(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := startDestinations(t)
	d.minio.CreateBucket(t, "audit-archive", false)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "postern.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`audit:
  s3BucketName: audit-archive
  s3KeyPrefix: trail
  cloudWatchLogGroupName: %s
`, plainGroup)), 0o600)
	e := startDevEnv(t, d.env(), "--config", cfg)
	e.mustRun(ctx, "nodes")
	e.mustRun(ctx, "users", "create", "mallory")
	e.mustFail([]string{"users", "create", "Bad User"}, "not a valid user name")

	var trail []struct {
		Seq    int64  `json:"seq"`
		Hash   string `json:"hash"`
		Action string `json:"action"`
		Result string `json:"result"`
	}
	e.jsonOut(ctx, &trail, "audit", "query")
	if len(trail) < 3 {
		t.Fatalf("trail: %+v", trail)
	}
	// The archive lags by at most a few seconds.
	waitArchive := func(last int64) []server.ArchivedAuditRecord {
		t.Helper()
		for {
			var archived []server.ArchivedAuditRecord
			for _, k := range d.minio.Keys(t, "audit-archive", "trail/audit/") {
				b, _ := d.minio.Object(t, "audit-archive", k)
				dec := json.NewDecoder(bytes.NewReader(b))
				for dec.More() {
					var r server.ArchivedAuditRecord
					if err := dec.Decode(&r); err != nil {
						t.Fatalf("%s: %v", k, err)
					}
					archived = append(archived, r)
				}
			}
			if len(archived) > 0 && archived[len(archived)-1].Seq >= last {
				return archived
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the archive never caught up with record %d: has %d records", last, len(archived))
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	archived := waitArchive(trail[len(trail)-1].Seq)

	// The bucket's store goes down for a while: what happens meanwhile
	// arrives when it is back.
	d.minio.Stop()
	e.mustRun(ctx, "users", "create", "oscar")
	e.mustRun(ctx, "nodes")
	time.Sleep(6 * time.Second) // at least one attempt fails
	if err := d.minio.Restart(); err != nil {
		t.Fatal(err)
	}
	e.jsonOut(ctx, &trail, "audit", "query")
	archived = waitArchive(trail[len(trail)-1].Seq)
	for i, r := range archived {
		if r.Seq != int64(i+1) {
			t.Fatalf("archive record %d has seq %d: a gap or a reorder", i, r.Seq)
		}
		if i > 0 && r.PrevHash != archived[i-1].Hash {
			t.Errorf("archive record %d does not link to %d", r.Seq, archived[i-1].Seq)
		}
	}
	byHash := map[string]bool{}
	for _, r := range archived {
		byHash[r.Hash] = true
	}
	for _, r := range trail {
		if !byHash[r.Hash] {
			t.Errorf("trail record %d (%s %s) is not in the archive", r.Seq, r.Action, r.Result)
		}
	}
	// CloudWatch Logs has the account's records too, refusal included.
	for {
		evs := d.cw.Events(plainGroup, "postern-audit-000000000001")
		var text strings.Builder
		for _, ev := range evs {
			text.WriteString(ev.Message)
		}
		if strings.Contains(text.String(), `"result":"Failed"`) && strings.Contains(text.String(), "POST /v1/users") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("CloudWatch Logs never got the trail: %d events", len(evs))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
