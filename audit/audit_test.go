package audit_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/audit"
	"github.com/postern/postern/store"
)

// trail appends n records to a real store and returns them as stored.
func trail(t *testing.T, c audit.Chain, n int) (*store.SQLite, []store.AuditRecord) {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	t0 := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	for i := range n {
		r := store.AuditRecord{Time: audit.Time(t0.Add(time.Duration(i) * time.Second)), Account: "000000000001",
			Actor: "prn:postern:iam:000000000001:user/alice", Action: "POST /v1/sessions", Resource: fmt.Sprintf("/v1/sessions/%d", i),
			Source: "127.0.0.1:5000", Result: "Allowed", Status: 201, RequestID: fmt.Sprintf("req-%d", i)}
		if _, err := st.AppendAudit(t.Context(), r, c.Link); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := st.ListAudit(t.Context(), store.AuditFilter{})
	if err != nil || len(rs) != n {
		t.Fatalf("ListAudit: %d records, %v", len(rs), err)
	}
	return st, rs
}

func TestVerify(t *testing.T) {
	c := audit.NewChain([]byte("0123456789abcdef0123456789abcdef"))
	_, rs := trail(t, c, 6)
	if err := c.Verify(rs); err != nil {
		t.Fatalf("an intact trail: %v", err)
	}
	clone := func() []store.AuditRecord { return append([]store.AuditRecord(nil), rs...) }
	for _, tc := range []struct {
		name    string
		records func() []store.AuditRecord
		seq     int64
		reason  string
	}{
		{"a field edited", func() []store.AuditRecord { r := clone(); r[2].Result = "Denied"; return r }, 3, "altered"},
		{"a status edited", func() []store.AuditRecord { r := clone(); r[4].Status = 200; return r }, 5, "altered"},
		{"a record removed", func() []store.AuditRecord { r := clone(); return append(r[:2], r[3:]...) }, 3, "missing"},
		{"removed and renumbered", func() []store.AuditRecord {
			r := clone()
			r = append(r[:2], r[3:]...)
			for i := range r {
				r[i].Seq = int64(i + 1)
			}
			return r
		}, 3, "does not follow"},
		{"two records swapped", func() []store.AuditRecord { r := clone(); r[1], r[2] = r[2], r[1]; return r }, 2, "missing"},
		{"a record replaced with a rehashed one, without the key", func() []store.AuditRecord {
			r := clone()
			r[3].Actor = "prn:postern:iam:000000000001:user/mallory"
			r[3].Hash = audit.NewChain([]byte("guessed key guessed key guessed.")).Link(r[3])
			return r
		}, 4, "altered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Verify(tc.records())
			var b *audit.Broken
			if !errors.As(err, &b) || !errors.Is(err, audit.ErrBroken) || b.Seq != tc.seq || !strings.Contains(b.Reason, tc.reason) {
				t.Errorf("Verify = %v, want record %d %s", err, tc.seq, tc.reason)
			}
		})
	}
}

// TestAppendConcurrent: concurrent appends form one chain.
func TestAppendConcurrent(t *testing.T) {
	c := audit.NewChain(nil)
	st, _ := trail(t, c, 1)
	done := make(chan error)
	for i := range 8 {
		go func() {
			var err error
			for j := range 10 {
				_, e := st.AppendAudit(t.Context(), store.AuditRecord{Time: audit.Time(time.Now()), Actor: fmt.Sprint(i), Action: fmt.Sprint(j), Result: "Allowed"}, c.Link)
				err = errors.Join(err, e)
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	rs, _ := st.ListAudit(t.Context(), store.AuditFilter{})
	if len(rs) != 81 {
		t.Fatalf("%d records, want 81", len(rs))
	}
	if err := c.Verify(rs); err != nil {
		t.Fatal(err)
	}
}
