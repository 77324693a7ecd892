package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/store"
)

// The audit trail's archive: every record, of every account, is copied in
// order to the destinations the server's configuration names (an S3
// bucket, a CloudWatch Logs group), as session logs are. Each destination
// has a durable cursor in the metadata store, moved only after a copy
// succeeded, so a destination that is down gets everything when it is
// back, and nothing twice unless a copy succeeded but the cursor's write
// did not. The records carry their hashes, so an archive can be checked
// against the chain (postern audit verify reads the live trail).

// AuditArchive names where the audit trail is copied.
type AuditArchive struct {
	// S3 receives JSON-lines objects of consecutive records,
	// PREFIX/audit/FIRST-LAST.jsonl.
	S3 *S3Target
	// CloudWatchLogGroup receives each account's records as events of
	// the stream postern-audit-ACCOUNT.
	CloudWatchLogGroup string
}

// Archive timing; variables so tests can shorten them.
var (
	auditArchiveEvery   = 5 * time.Second
	auditArchiveBatch   = 1000
	auditArchiveMaxWait = 5 * time.Minute
)

// ArchivedAuditRecord is a record as archived (a line of an S3 object, an
// event in CloudWatch Logs): the API's fields, its account and the chain's
// links.
type ArchivedAuditRecord struct {
	Account string `json:"account"`
	api.AuditRecord
	PrevHash string `json:"prevHash,omitempty"`
}

func archived(rec store.AuditRecord) ArchivedAuditRecord {
	return ArchivedAuditRecord{
		Account: rec.Account,
		AuditRecord: api.AuditRecord{Seq: rec.Seq, Time: rec.Time, Actor: rec.Actor, Action: rec.Action, Resource: rec.Resource,
			Source: rec.Source, Result: rec.Result, Status: rec.Status, RequestID: rec.RequestID, Detail: rec.Detail, Hash: hex.EncodeToString(rec.Hash)},
		PrevHash: hex.EncodeToString(rec.PrevHash),
	}
}

// auditShipper copies the trail to one destination.
type auditShipper struct {
	name string // the cursor's name
	put  func(ctx context.Context, recs []store.AuditRecord) error
}

func (s *Server) auditShippers() []auditShipper {
	var out []auditShipper
	a := s.cfg.AuditArchive
	if a.S3 != nil && s.cfg.S3 == nil {
		s.logf("server: audit archive: no S3 configuration: the trail is not copied to bucket %s", a.S3.Bucket)
	}
	if a.CloudWatchLogGroup != "" && s.cfg.CloudWatch == nil {
		s.logf("server: audit archive: no CloudWatch Logs configuration: the trail is not copied to %s (the built-in group %s has it)", a.CloudWatchLogGroup, AuditLogGroup)
	}
	if a.S3 != nil && s.cfg.S3 != nil {
		t := *a.S3
		out = append(out, auditShipper{name: "audit/s3/" + t.Bucket + "/" + t.Prefix, put: func(ctx context.Context, recs []store.AuditRecord) error {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			for _, r := range recs {
				enc.Encode(archived(r))
			}
			name := fmt.Sprintf("audit/%012d-%012d.jsonl", recs[0].Seq, recs[len(recs)-1].Seq)
			_, err := s.cfg.S3.Put(ctx, t, name, "application/x-ndjson", &b)
			return err
		}})
	}
	if a.CloudWatchLogGroup != "" && s.cfg.CloudWatch != nil {
		group := a.CloudWatchLogGroup
		out = append(out, auditShipper{name: "audit/cloudwatch/" + group, put: func(ctx context.Context, recs []store.AuditRecord) error {
			byAccount := map[string][]StreamEvent{}
			var order []string
			for _, r := range recs {
				acct := r.Account
				if acct == "" {
					acct = "none" // refusals of no account: a failed sign-in
				}
				if _, ok := byAccount[acct]; !ok {
					order = append(order, acct)
				}
				msg, _ := json.Marshal(archived(r))
				byAccount[acct] = append(byAccount[acct], StreamEvent{Time: r.Time, Message: string(msg)})
			}
			for _, acct := range order {
				t := CloudWatchTarget{Account: acct, LogGroup: group}
				if err := s.cfg.CloudWatch.PutEvents(ctx, t, "postern-audit-"+acct, byAccount[acct]); err != nil {
					return err
				}
			}
			return nil
		}})
	}
	return out
}

// archiveAudit runs the shippers until the server stops.
func (s *Server) archiveAudit(ctx context.Context) {
	shippers := s.auditShippers()
	if len(shippers) == 0 {
		return
	}
	wait := make([]time.Duration, len(shippers))
	next := make([]time.Time, len(shippers))
	t := time.NewTicker(auditArchiveEvery)
	defer t.Stop()
	for {
		for i, sh := range shippers {
			if time.Now().Before(next[i]) {
				continue
			}
			if err := s.shipAudit(ctx, sh); err != nil {
				if ctx.Err() != nil {
					return
				}
				wait[i] = min(max(2*wait[i], auditArchiveEvery), auditArchiveMaxWait)
				next[i] = time.Now().Add(wait[i])
				s.logf("server: audit archive %s: %v; retrying in %s", sh.name, err, wait[i])
				continue
			}
			wait[i], next[i] = 0, time.Time{}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// shipAudit copies what the destination has not had yet, a batch at a
// time.
func (s *Server) shipAudit(ctx context.Context, sh auditShipper) error {
	for {
		cur, err := s.store.Cursor(ctx, sh.name)
		if err != nil {
			return err
		}
		recs, err := s.store.ListAudit(ctx, store.AuditFilter{AfterSeq: cur, Limit: auditArchiveBatch})
		if err != nil || len(recs) == 0 {
			return err
		}
		if err := sh.put(ctx, recs); err != nil {
			return err
		}
		if err := s.store.SetCursor(ctx, sh.name, recs[len(recs)-1].Seq); err != nil {
			return err
		}
		if len(recs) < auditArchiveBatch {
			return nil
		}
	}
}
