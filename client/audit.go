package client

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/postern/postern/api"
)

// AuditFilter selects audit records; zero fields match all.
type AuditFilter struct {
	Since         time.Time
	Actor, Action string
	After         int64
	Limit         int
}

// Audit returns the account's audit records (administrators only).
func (c *Client) Audit(ctx context.Context, f AuditFilter) ([]api.AuditRecord, error) {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if f.Actor != "" {
		q.Set("actor", f.Actor)
	}
	if f.Action != "" {
		q.Set("action", f.Action)
	}
	if f.After > 0 {
		q.Set("after", strconv.FormatInt(f.After, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []api.AuditRecord
	err := c.do(ctx, "GET", api.PathAudit+"?"+q.Encode(), nil, &out)
	return out, err
}

// VerifyAudit checks the audit trail's chain (administrators only).
func (c *Client) VerifyAudit(ctx context.Context) (api.AuditVerification, error) {
	var out api.AuditVerification
	err := c.do(ctx, "GET", api.PathAudit+"/verify", nil, &out)
	return out, err
}
