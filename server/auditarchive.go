package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/orgs"
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

// orgAuditShippers copy each organization's accounts' records to its
// central archive, if it has one: JSON-lines objects of consecutive
// records of one account, PREFIX/ACCOUNT/audit/YYYY/MM/DD/FIRST-LAST.jsonl
// (the first record's day), sealed with the archive's key as session
// copies are. An organization's cursor starts at the trail's beginning:
// setting an archive copies the accounts' past records too.
func (s *Server) orgAuditShippers(ctx context.Context) ([]auditShipper, error) {
	if s.cfg.S3 == nil {
		return nil, nil
	}
	os, err := s.store.ListOrganizations(ctx)
	if err != nil {
		return nil, err
	}
	var out []auditShipper
	for _, o := range os {
		a, err := orgs.ArchiveOf(o)
		if err != nil || a == nil {
			continue
		}
		t := a.Target(o.ID)
		out = append(out, auditShipper{name: "audit/org/" + o.ID, put: func(ctx context.Context, recs []store.AuditRecord) error {
			accounts, err := s.store.ListAccounts(ctx, o.ID)
			if err != nil {
				return err
			}
			in := map[string]bool{}
			for _, acct := range accounts {
				in[acct.ID] = true
			}
			byAccount := map[string][]store.AuditRecord{}
			var order []string
			for _, r := range recs {
				if !in[r.Account] {
					continue // another organization's, or no account's
				}
				if _, ok := byAccount[r.Account]; !ok {
					order = append(order, r.Account)
				}
				byAccount[r.Account] = append(byAccount[r.Account], r)
			}
			for _, acct := range order {
				rs := byAccount[acct]
				id := fmt.Sprintf("%012d-%012d", rs[0].Seq, rs[len(rs)-1].Seq)
				var b bytes.Buffer
				env, err := s.sealForArchive(ctx, &b, t, acct, id, "audit")
				if err != nil {
					return err
				}
				enc := json.NewEncoder(env)
				for _, r := range rs {
					enc.Encode(archived(r))
				}
				if err := env.Close(); err != nil {
					return err
				}
				st := S3Target{Bucket: t.Bucket, Prefix: t.AccountPrefix(acct) + "/audit/" + rs[0].Time.UTC().Format("2006/01/02")}
				if _, err := s.cfg.S3.Put(ctx, st, id+".jsonl", "application/octet-stream", &b); err != nil {
					return err
				}
			}
			return nil
		}})
	}
	return out, nil
}

// archiveAudit runs the shippers until the server stops: those the
// configuration names, and the organizations' archives, found again at
// every round.
func (s *Server) archiveAudit(ctx context.Context) {
	static := s.auditShippers()
	type backoff struct {
		wait time.Duration
		next time.Time
	}
	state := map[string]*backoff{}
	t := time.NewTicker(auditArchiveEvery)
	defer t.Stop()
	for {
		shippers := static
		if orgShippers, err := s.orgAuditShippers(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logf("server: audit archive: organizations: %v", err)
		} else {
			shippers = append(slices.Clip(static), orgShippers...)
		}
		for _, sh := range shippers {
			b := state[sh.name]
			if b == nil {
				b = &backoff{}
				state[sh.name] = b
			}
			if time.Now().Before(b.next) {
				continue
			}
			if err := s.shipAudit(ctx, sh); err != nil {
				if ctx.Err() != nil {
					return
				}
				b.wait = min(max(2*b.wait, auditArchiveEvery), auditArchiveMaxWait)
				b.next = time.Now().Add(b.wait)
				s.logf("server: audit archive %s: %v; retrying in %s", sh.name, err, b.wait)
				continue
			}
			b.wait, b.next = 0, time.Time{}
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
