package orgs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/delivery"
	"github.com/postern/postern/document"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/lazyregexp"
	"github.com/postern/postern/rollout"
	"github.com/postern/postern/store"
)

// The central archive, as the multi-account logging setup arranges it: a
// log-archive account owns a bucket and a key; a copy of every account's
// session artifacts goes there, under
//
//	PREFIX/ACCOUNT/sessions/YYYY/MM/DD/SESSION.ARTIFACT
//
// (the session's start, UTC), encrypted under the archive's key (package
// envelope, with a data key the account's recorder makes with that key:
// the key's policy must let it, by aws:SourceOrgID), never the member's
// own. A member's administrators can neither read a copy, unless the
// archive key's policy lets them, nor delete it: Postern offers no way
// to, and deleting the member's session logs leaves the copy readable.
// The copies are deliveries of the outbox (destination "archive"), so an
// archive bucket that is down only delays them.

// Archive is an organization's archive settings.
type Archive struct {
	Account string `json:"account"`
	Bucket  string `json:"bucket"`
	Prefix  string `json:"prefix,omitempty"`
	KeyARN  string `json:"keyArn"`
	// LogsIntervalSeconds is how long the members' session log events
	// shipped to the archive are buffered (nil: 60 s).
	LogsIntervalSeconds *int `json:"logsIntervalSeconds,omitempty"`
	// LogGroups name the members' log groups shipped to the archive
	// (names, or prefixes ending in '*'); empty: the session log group.
	LogGroups []string `json:"logGroups,omitempty"`
}

// maxArchivedGroups bounds an archive's log group names.
const maxArchivedGroups = 20

// reArchivedGroup is a log group's name as CloudWatch Logs allows it.
var reArchivedGroup = lazyregexp.New(`^[.\-_/#A-Za-z0-9]{1,512}$`)

// ArchiveOf returns an organization's archive, or nil if it has none.
func ArchiveOf(o store.Organization) (*Archive, error) {
	if o.Archive == "" {
		return nil, nil
	}
	var a Archive
	if err := json.Unmarshal([]byte(o.Archive), &a); err != nil {
		return nil, fmt.Errorf("organization %s: its archive settings: %w", o.ID, err)
	}
	return &a, nil
}

// ArchiveFor returns the archive a session of account is copied to, and
// the account's organization; nil for an account outside any, or in one
// without an archive.
func ArchiveFor(ctx context.Context, st PlaceStore, getOrg func(context.Context, string) (store.Organization, error), account string) (*Archive, string, error) {
	a, err := st.GetAccount(ctx, account)
	if errors.Is(err, store.ErrNotFound) || err == nil && a.Org == "" {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	o, err := getOrg(ctx, a.Org)
	if err != nil {
		return nil, "", err
	}
	ar, err := ArchiveOf(o)
	return ar, o.ID, err
}

// Target is where a session's archive copies go (the outbox's target).
func (a Archive) Target(org string) delivery.ArchiveTarget {
	return delivery.ArchiveTarget{Org: org, Account: a.Account, Bucket: a.Bucket, Prefix: a.Prefix, KeyARN: a.KeyARN}
}

func apiArchive(a Archive) api.OrgArchive {
	return api.OrgArchive{Account: a.Account, Bucket: a.Bucket, Prefix: a.Prefix, KeyARN: a.KeyARN, LogsIntervalSeconds: a.LogsIntervalSeconds, LogGroups: a.LogGroups}
}

func (h *Handlers) putArchive(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.PutOrganizationArchive, true)
	if err != nil {
		return err
	}
	var req api.OrgArchive
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	invalid := func(format string, args ...any) error {
		return httpapi.Errorf(http.StatusBadRequest, api.CodeValidationError, format, args...)
	}
	acct, err := h.Store.GetAccount(r.Context(), req.Account)
	if errors.Is(err, store.ErrNotFound) || err == nil && acct.Org != o.ID {
		return httpapi.Errorf(http.StatusNotFound, api.CodeAccountNotFound, "accountId: %q is not an account of organization %s", rollout.Clip(req.Account), o.ID)
	} else if err != nil {
		return err
	}
	if err := document.ValidBucketName(req.Bucket); err != nil {
		return invalid("bucket: %v", err)
	}
	if req.Prefix != "" {
		if err := document.ValidKeyPrefix(req.Prefix); err != nil {
			return invalid("prefix: %v", err)
		}
	}
	// The archive account's own key, by ARN: the copies are the archive's,
	// under its key, whichever account they come from.
	keyPrefix := "prn:postern:kms:" + acct.ID + ":"
	if !strings.HasPrefix(req.KeyARN, keyPrefix) || document.ValidKeyID(req.KeyARN) != nil {
		return invalid("kmsKeyArn: %q must be the ARN of a key (or alias) of the archive account: %skey/ID", rollout.Clip(req.KeyARN), keyPrefix)
	}
	if n := req.LogsIntervalSeconds; n != nil && (*n < 0 || *n > 900) {
		return invalid("logsBufferIntervalSeconds: %d: from 0 to 900", *n)
	}
	if len(req.LogGroups) > maxArchivedGroups {
		return invalid("logGroups: %d names: at most %d", len(req.LogGroups), maxArchivedGroups)
	}
	for _, g := range req.LogGroups {
		if name := strings.TrimSuffix(g, "*"); !reArchivedGroup.MatchString(name) || strings.Contains(name, "*") {
			return invalid("logGroups: %q: a log group's name, or a prefix of one ending in '*'", rollout.Clip(g))
		}
	}
	a := Archive{Account: acct.ID, Bucket: req.Bucket, Prefix: strings.TrimSuffix(req.Prefix, "/"), KeyARN: req.KeyARN,
		LogsIntervalSeconds: req.LogsIntervalSeconds, LogGroups: req.LogGroups}
	if h.CheckArchive != nil {
		if err := h.CheckArchive(r.Context(), a); err != nil {
			return httpapi.Errorf(http.StatusBadRequest, api.CodeDestinationCheckFailed, "the archive bucket %s cannot take copies: %v", a.Bucket, err)
		}
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := h.Store.SetOrgArchive(r.Context(), o.ID, string(b)); err != nil {
		return err
	}
	h.Logf("orgs: organization %s archives to s3://%s/%s with %s (account %s)", o.ID, a.Bucket, a.Prefix, a.KeyARN, a.Account)
	httpapi.WriteJSON(w, http.StatusOK, apiArchive(a))
	return nil
}

// getArchive answers the management account and the archive account:
// the settings, and per account its copies by status.
func (h *Handlers) getArchive(w http.ResponseWriter, r *http.Request) error {
	c, o, err := h.orgOf(r, authz.DescribeOrganizationArchive, false)
	if err != nil {
		return err
	}
	a, err := ArchiveOf(o)
	if err != nil {
		return err
	}
	if a == nil {
		return httpapi.Errorf(http.StatusNotFound, api.CodeArchiveNotSet, "organization %s has no archive (postern org archive set)", o.ID)
	}
	if c.Account != o.ManagementAccount && c.Account != a.Account {
		return httpapi.Errorf(http.StatusForbidden, api.CodeNotManagementAccount, "organization %s's archive is described to its management account %s and to the archive account %s, not to account %s", o.ID, o.ManagementAccount, a.Account, c.Account)
	}
	accounts, err := h.Store.ListAccounts(r.Context(), o.ID)
	if err != nil {
		return err
	}
	counts, err := h.Store.CountDeliveries(r.Context(), delivery.ArchiveDestination)
	if err != nil {
		return err
	}
	out := api.OrgArchiveStatus{OrgArchive: apiArchive(*a), Accounts: []api.OrgArchiveAccount{}}
	for _, acct := range accounts {
		row := api.OrgArchiveAccount{Account: acct.ID, Name: acct.Name}
		for _, n := range counts {
			if n.Account != acct.ID {
				continue
			}
			switch n.Status {
			case store.DeliveryDelivered:
				row.Delivered += n.N
				continue
			case store.DeliveryWaiting:
				row.Waiting += n.N
			case store.DeliveryPending:
				row.Pending += n.N
			case store.DeliveryFailing:
				row.Failing += n.N
			}
			if t := n.Oldest; !t.IsZero() && (row.Oldest == nil || t.Before(*row.Oldest)) {
				row.Oldest = &t
			}
		}
		if h.LogsBacklog != nil {
			n, oldest, err := h.LogsBacklog(r.Context(), acct.ID)
			if err != nil {
				return err
			}
			row.LogEventsPending = n
			if !oldest.IsZero() {
				row.LogEventsOldest = &oldest
			}
		}
		out.Accounts = append(out.Accounts, row)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// archiveKey gives the caller the key of an archive copy, for postern
// logs decrypt, if the archive key's policy lets them decrypt with it
// (ArchiveKey's business): by default the archive account's
// administrators only.
func (h *Handlers) archiveKey(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.ReadOrganizationArchive, false)
	if err != nil {
		return err
	}
	var req api.ArchiveKeyRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Context["postern:archive"] != o.ID {
		return httpapi.Errorf(http.StatusBadRequest, api.CodeValidationError, "the copy is of organization %q's archive, not of %s's", rollout.Clip(req.Context["postern:archive"]), o.ID)
	}
	if h.ArchiveKey == nil {
		return errors.New("this server has no key service")
	}
	key, err := h.ArchiveKey(r.Context(), httpapi.CallerOf(r), req)
	if err != nil {
		return httpapi.Errorf(http.StatusForbidden, api.CodeAccessDenied, "%s cannot read archive copies of %s/%s: %v", ids.UserARN(httpapi.CallerOf(r).Account, httpapi.CallerOf(r).User.Name), rollout.Clip(req.Account), rollout.Clip(req.SessionID), err)
	}
	httpapi.WriteJSON(w, http.StatusOK, api.ArtifactKey{Key: key})
	return nil
}
