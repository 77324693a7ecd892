// Package orgs is organizations: a management account, the member
// accounts it creates, the organizational units they sit in, and the role
// each member grants the management account to act in it, as AWS
// Organizations and its OrganizationAccountAccessRole arrange them.
//
// Its handlers serve the API's /v1/organization routes; they get what
// they need as Deps (the store's roles, a clock, the caller's
// authorization, token issuing and the audit trail), never the server.
//
// The management account also keeps stack sets (stacksets.go): templates
// of Postern resources it rolls out to the organization's units and
// accounts, as CloudFormation StackSets does, through Deps.Rollout.
//
// Every organization action is authorized in the caller's own account,
// on that account: the management account's policies decide who there
// may create accounts or assume roles; a member's policies decide what
// the role may do in the member. Nothing reaches an account of another
// organization.
package orgs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/rollout"
	"github.com/postern/postern/store"
)

// DefaultRole is the role a member account grants the management account
// when it is created, as AWS Organizations names it.
const DefaultRole = "OrganizationAccountAccessRole"

// Bounds of an assumed role's credentials, in seconds (AWS's for a role
// assumed with credentials that are themselves short-lived).
const (
	minRoleDuration     = 900
	maxRoleDuration     = 3600
	defaultRoleDuration = 3600
)

// Store is what organizations need of the metadata store.
type Store interface {
	store.Organizations
	store.StackSets
	CountDeliveries(ctx context.Context, destination string) ([]store.DeliveryCount, error)
	GetAccount(ctx context.Context, id string) (store.Account, error)
	CreateUser(ctx context.Context, u store.User) error
	GetUser(ctx context.Context, account, name string) (store.User, error)
}

// Deps are what the handlers need from the server around them.
type Deps struct {
	Store Store
	Now   func() time.Time
	Logf  logger.Logf
	// Authorize checks action for the request's caller on resource.
	Authorize func(r *http.Request, action authz.Action, resource authz.Entity) error
	// IssueToken gives t (its account, user, kind and name set) an ID,
	// stores it and returns its secret, valid for ttl.
	IssueToken func(ctx context.Context, t store.Token, ttl time.Duration) (secret string, expires time.Time, err error)
	// Audit appends a record to an account's audit trail.
	Audit func(ctx context.Context, rec store.AuditRecord) error
	// CheckArchive checks that copies can be written to an archive's
	// bucket; nil: not checked.
	CheckArchive func(ctx context.Context, a Archive) error
	// Changed is told that the organization changed: an account's
	// organization or place in it. Nil: nobody is.
	Changed func()
	// ArchiveKey unwraps, as the caller, the key of an archive copy.
	ArchiveKey func(ctx context.Context, c httpapi.Caller, req api.ArchiveKeyRequest) ([]byte, error)
	// LogsBacklog counts an account's session log events the archive has
	// yet to ship, and says when the oldest was taken; nil: none.
	LogsBacklog func(ctx context.Context, account string) (int64, time.Time, error)
	// Rollout deploys stack sets' resources in accounts; nil: stack sets
	// are kept, but not deployed.
	Rollout Rollout
}

// Handlers serve the organization API.
type Handlers struct{ Deps }

// New returns the handlers.
func New(d Deps) *Handlers {
	if d.Changed == nil {
		d.Changed = func() {}
	}
	return &Handlers{d}
}

// Routes are the organization API's routes, for the server's table.
func (h *Handlers) Routes() []httpapi.Route {
	p := api.PathOrg
	return append([]httpapi.Route{
		{Pattern: "POST " + p, Action: authz.CreateOrganization, Handler: h.create},
		{Pattern: "GET " + p, Action: authz.DescribeOrganization, Handler: h.describe},
		{Pattern: "GET " + p + "/accounts", Action: authz.DescribeAccounts, Handler: h.listAccounts},
		{Pattern: "POST " + p + "/accounts", Action: authz.CreateAccount, Handler: h.createAccount},
		{Pattern: "POST " + p + "/accounts/{id}/move", Action: authz.MoveAccount, Handler: h.moveAccount},
		{Pattern: "POST " + p + "/accounts/{id}/assume-role", Action: authz.AssumeRole, Handler: h.assumeRole},
		{Pattern: "GET " + p + "/units", Action: authz.DescribeOrganizationalUnits, Handler: h.listUnits},
		{Pattern: "POST " + p + "/units", Action: authz.CreateOrganizationalUnit, Handler: h.createUnit},
		{Pattern: "DELETE " + p + "/units/{id}", Action: authz.DeleteOrganizationalUnit, Handler: h.deleteUnit},
		{Pattern: "PUT " + p + "/archive", Action: authz.PutOrganizationArchive, Handler: h.putArchive},
		{Pattern: "GET " + p + "/archive", Action: authz.DescribeOrganizationArchive, Handler: h.getArchive},
		{Pattern: "POST " + p + "/archive/key", Action: authz.ReadOrganizationArchive, Handler: h.archiveKey},
	}, h.stackSetRoutes()...)
}

// authorize checks action on the caller's own account.
func (h *Handlers) authorize(r *http.Request, action authz.Action) (httpapi.Caller, error) {
	c := httpapi.CallerOf(r)
	return c, h.Authorize(r, action, authz.AccountEntity(c.Account))
}

// orgOf returns the organization of the caller's account, authorized as
// action; management says the caller must be its management account.
func (h *Handlers) orgOf(r *http.Request, action authz.Action, management bool) (httpapi.Caller, store.Organization, error) {
	c, err := h.authorize(r, action)
	if err != nil {
		return c, store.Organization{}, err
	}
	a, err := h.Store.GetAccount(r.Context(), c.Account)
	if err != nil {
		return c, store.Organization{}, err
	}
	if a.Org == "" {
		return c, store.Organization{}, httpapi.Errorf(http.StatusNotFound, api.CodeNotInOrganization, "account %s belongs to no organization (postern org create makes one it manages)", c.Account)
	}
	o, err := h.Store.GetOrganization(r.Context(), a.Org)
	if err != nil {
		return c, store.Organization{}, err
	}
	if management && o.ManagementAccount != c.Account {
		return c, store.Organization{}, httpapi.Errorf(http.StatusForbidden, api.CodeNotManagementAccount, "%s is done from organization %s's management account %s, not from member account %s", action, o.ID, o.ManagementAccount, c.Account)
	}
	return c, o, nil
}

func apiOrg(o store.Organization) api.Organization {
	return api.Organization{ID: o.ID, ManagementAccount: o.ManagementAccount, Root: o.Root, CreatedAt: o.CreatedAt}
}

func (h *Handlers) create(w http.ResponseWriter, r *http.Request) error {
	c, err := h.authorize(r, authz.CreateOrganization)
	if err != nil {
		return err
	}
	id, root := ids.NewOrganization()
	o := store.Organization{ID: id, ManagementAccount: c.Account, Root: root, CreatedAt: h.Now()}
	if err := h.Store.CreateOrganization(r.Context(), o); errors.Is(err, store.ErrConflict) {
		a, _ := h.Store.GetAccount(r.Context(), c.Account)
		return httpapi.Errorf(http.StatusConflict, api.CodeAlreadyInOrganization, "account %s already belongs to organization %s", c.Account, a.Org)
	} else if err != nil {
		return err
	}
	h.Changed()
	h.Logf("orgs: %s created organization %s", ids.UserARN(c.Account, c.User.Name), o.ID)
	httpapi.WriteJSON(w, http.StatusOK, apiOrg(o))
	return nil
}

func (h *Handlers) describe(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.DescribeOrganization, false)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, apiOrg(o))
	return nil
}

// tree is an organization's units, to find paths and check parents.
type tree struct {
	org   string
	units map[string]store.OrgUnit
}

func (h *Handlers) tree(ctx context.Context, org string) (tree, []store.OrgUnit, error) {
	return loadTree(ctx, h.Store, org)
}

// loadTree reads an organization's units (root first) into a tree.
func loadTree(ctx context.Context, st interface {
	ListOrgUnits(ctx context.Context, org string) ([]store.OrgUnit, error)
}, org string) (tree, []store.OrgUnit, error) {
	us, err := st.ListOrgUnits(ctx, org)
	if err != nil {
		return tree{}, nil, err
	}
	t := tree{org: org, units: map[string]store.OrgUnit{}}
	for _, u := range us {
		t.units[u.ID] = u
	}
	return t, us, nil
}

// Path is where a unit sits, as aws:PrincipalOrgPaths spells it:
// o-.../r-.../ou-.../ with a slash after each.
func (t tree) path(unit string) string {
	var parts []string
	for id := unit; id != "" && len(parts) <= len(t.units); id = t.units[id].Parent {
		parts = append(parts, id)
	}
	var b strings.Builder
	b.WriteString(t.org + "/")
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteString(parts[i] + "/")
	}
	return b.String()
}

// parent resolves a parent given by a caller: empty for the root, else
// one of the organization's units.
func (t tree) parent(o store.Organization, id string) (string, error) {
	if id == "" {
		return o.Root, nil
	}
	if _, ok := t.units[id]; !ok {
		return "", httpapi.Errorf(http.StatusNotFound, api.CodeOrgUnitNotFound, "%q is neither the root nor a unit of organization %s (postern org units lists them)", rollout.Clip(id), o.ID)
	}
	return id, nil
}

func (h *Handlers) listAccounts(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.DescribeAccounts, true)
	if err != nil {
		return err
	}
	t, _, err := h.tree(r.Context(), o.ID)
	if err != nil {
		return err
	}
	as, err := h.Store.ListAccounts(r.Context(), o.ID)
	if err != nil {
		return err
	}
	out := []api.OrgAccount{}
	for _, a := range as {
		out = append(out, apiAccount(t, o, a))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func apiAccount(t tree, o store.Organization, a store.Account) api.OrgAccount {
	return api.OrgAccount{ID: a.ID, Name: a.Name, Parent: a.Parent, Path: t.path(a.Parent), Management: a.ID == o.ManagementAccount, CreatedAt: a.CreatedAt}
}

// validName checks the name of an account or unit.
func validName(what, name string) error {
	if name == "" || len(name) > 128 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return httpapi.Errorf(http.StatusBadRequest, api.CodeValidationError, "%s name %q must be 1–128 printable characters", what, rollout.Clip(name))
	}
	return nil
}

func (h *Handlers) createAccount(w http.ResponseWriter, r *http.Request) error {
	c, o, err := h.orgOf(r, authz.CreateAccount, true)
	if err != nil {
		return err
	}
	var req api.CreateAccountRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if err := validName("account", req.Name); err != nil {
		return err
	}
	role := req.RoleName
	if role == "" {
		role = DefaultRole
	}
	if !ids.ValidUser(role) {
		return httpapi.Errorf(http.StatusBadRequest, api.CodeValidationError, "roleName %q may hold only letters, digits and _.@+=,- (at most 64)", rollout.Clip(role))
	}
	t, _, err := h.tree(r.Context(), o.ID)
	if err != nil {
		return err
	}
	parent, err := t.parent(o, req.Parent)
	if err != nil {
		return err
	}
	now := h.Now()
	a := store.Account{Name: req.Name, CreatedAt: now, Org: o.ID, Parent: parent}
	for range 5 { // a random 12-digit id collides once in 10^11
		a.ID = ids.NewAccount()
		if err = h.Store.CreateMemberAccount(r.Context(), a); !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		return err
	}
	// The role the management account assumes: a principal of the
	// member, in its administrators group as AWS's role has
	// AdministratorAccess; the member's administrators may narrow it
	// (postern users set) or remove it.
	h.Changed()
	if err := h.Store.CreateUser(r.Context(), store.User{Account: a.ID, Name: role, Groups: []string{authz.Administrators}, CreatedAt: now}); err != nil {
		return fmt.Errorf("account %s: its role %s: %w", a.ID, role, err)
	}
	actor := ids.UserARN(c.Account, c.User.Name)
	if err := h.Audit(context.WithoutCancel(r.Context()), store.AuditRecord{
		Account: a.ID, Actor: actor, Action: "CreateAccount", Resource: a.ID, Source: r.RemoteAddr, Result: "Allowed",
		Detail: fmt.Sprintf("created in organization %s under %s by its management account %s, with role %s", o.ID, parent, o.ManagementAccount, role),
	}); err != nil {
		return err
	}
	h.Logf("orgs: %s created account %s (%s) in %s", actor, a.ID, a.Name, o.ID)
	h.autoDeploy(r, o, a)
	httpapi.WriteJSON(w, http.StatusOK, apiAccount(t, o, a))
	return nil
}

func (h *Handlers) moveAccount(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.MoveAccount, true)
	if err != nil {
		return err
	}
	var req api.MoveAccountRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	t, _, err := h.tree(r.Context(), o.ID)
	if err != nil {
		return err
	}
	from, err := t.parent(o, req.From)
	if err != nil {
		return err
	}
	to, err := t.parent(o, req.To)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	switch err := h.Store.MoveAccount(r.Context(), o.ID, id, from, to); {
	case errors.Is(err, store.ErrNotFound):
		return httpapi.Errorf(http.StatusNotFound, api.CodeAccountNotFound, "account %q is not in %s of organization %s (postern org accounts lists where each is)", rollout.Clip(id), from, o.ID)
	case err != nil:
		return err
	}
	h.Changed()
	a, err := h.Store.GetAccount(r.Context(), id)
	if err != nil {
		return err
	}
	if from != to {
		h.autoDeploy(r, o, a)
	}
	httpapi.WriteJSON(w, http.StatusOK, apiAccount(t, o, a))
	return nil
}

func (h *Handlers) listUnits(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.DescribeOrganizationalUnits, true)
	if err != nil {
		return err
	}
	t, us, err := h.tree(r.Context(), o.ID)
	if err != nil {
		return err
	}
	out := []api.OrgUnit{}
	for _, u := range us {
		out = append(out, api.OrgUnit{ID: u.ID, Name: u.Name, Parent: u.Parent, Path: t.path(u.ID), CreatedAt: u.CreatedAt})
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handlers) createUnit(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.CreateOrganizationalUnit, true)
	if err != nil {
		return err
	}
	var req api.CreateOrgUnitRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if err := validName("organizational unit", req.Name); err != nil {
		return err
	}
	t, _, err := h.tree(r.Context(), o.ID)
	if err != nil {
		return err
	}
	parent, err := t.parent(o, req.Parent)
	if err != nil {
		return err
	}
	u := store.OrgUnit{ID: ids.NewOrgUnit(o.Root), Org: o.ID, Parent: parent, Name: req.Name, CreatedAt: h.Now()}
	if err := h.Store.CreateOrgUnit(r.Context(), u); errors.Is(err, store.ErrConflict) {
		return httpapi.Errorf(http.StatusConflict, api.CodeDuplicateOrgUnit, "%s already holds a unit named %q", parent, rollout.Clip(req.Name))
	} else if err != nil {
		return err
	}
	t.units[u.ID] = u
	httpapi.WriteJSON(w, http.StatusOK, api.OrgUnit{ID: u.ID, Name: u.Name, Parent: u.Parent, Path: t.path(u.ID), CreatedAt: u.CreatedAt})
	return nil
}

func (h *Handlers) deleteUnit(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.DeleteOrganizationalUnit, true)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	switch err := h.Store.DeleteOrgUnit(r.Context(), o.ID, id); {
	case errors.Is(err, store.ErrNotFound):
		return httpapi.Errorf(http.StatusNotFound, api.CodeOrgUnitNotFound, "%q is not a unit of organization %s", rollout.Clip(id), o.ID)
	case errors.Is(err, store.ErrConflict):
		if id == o.Root {
			return httpapi.Errorf(http.StatusConflict, api.CodeOrgUnitNotEmpty, "%s is the organization's root: it cannot be deleted", o.Root)
		}
		return httpapi.Errorf(http.StatusConflict, api.CodeOrgUnitNotEmpty, "%s still holds units or accounts: move or delete them first", rollout.Clip(id))
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// assumedPrefix starts the name of a token issued by AssumeRole; the
// rest says who assumed it (AssumedBy).
const assumedPrefix = "assumed-role by "

// AssumedBy reports who assumed the role a token was issued for: the
// account and user of the management account, for the audit trail. Only
// session tokens count: users name their API tokens themselves, and one
// named like an assumed role's must not pass for it in the trail.
func AssumedBy(t store.Token) (account, user string, ok bool) {
	if t.Kind != store.TokenSession {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(t.Name, assumedPrefix)
	if !ok {
		return "", "", false
	}
	account, user, ok = strings.Cut(rest, "/")
	return account, user, ok
}

func (h *Handlers) assumeRole(w http.ResponseWriter, r *http.Request) error {
	c, o, err := h.orgOf(r, authz.AssumeRole, true)
	if err != nil {
		return err
	}
	var req api.AssumeRoleRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	role := req.RoleName
	if role == "" {
		role = DefaultRole
	}
	d := req.DurationSeconds
	if d == 0 {
		d = defaultRoleDuration
	}
	if d < minRoleDuration || d > maxRoleDuration {
		return httpapi.Errorf(http.StatusBadRequest, api.CodeValidationError, "durationSeconds: %d is out of range %d–%d", d, minRoleDuration, maxRoleDuration)
	}
	id := r.PathValue("id")
	target, err := h.Store.GetAccount(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && target.Org != o.ID {
		// Another organization's accounts are not even named.
		return httpapi.Errorf(http.StatusNotFound, api.CodeAccountNotFound, "account %q is not in organization %s", rollout.Clip(id), o.ID)
	} else if err != nil {
		return err
	}
	if target.ID == c.Account {
		return httpapi.Errorf(http.StatusBadRequest, api.CodeValidationError, "account %s is your own: act in it directly", c.Account)
	}
	denied := func(why string) error {
		return httpapi.Errorf(http.StatusForbidden, api.CodeAccessDenied, "%s may not assume role %s in account %s: %s", ids.UserARN(c.Account, c.User.Name), rollout.Clip(role), target.ID, why)
	}
	if !ids.ValidUser(role) {
		return denied("no such role")
	}
	if _, err := h.Store.GetUser(r.Context(), target.ID, role); errors.Is(err, store.ErrNotFound) {
		return denied("the account has no such role (its administrators may have removed it)")
	} else if err != nil {
		return err
	}
	ttl := time.Duration(d) * time.Second
	signedIn := c.Token.SignedInAt
	if signedIn.IsZero() {
		signedIn = c.Token.CreatedAt
	}
	tok := store.Token{Account: target.ID, User: role, Kind: store.TokenSession,
		Name: assumedPrefix + c.Account + "/" + c.User.Name, SignedInAt: signedIn}
	secret, exp, err := h.IssueToken(r.Context(), tok, ttl)
	if err != nil {
		return err
	}
	arn := ids.AssumedRoleARN(target.ID, role, c.Account, c.User.Name)
	// The member's trail says who came in, and until when: its own
	// administrators audit what the management account does there.
	if err := h.Audit(context.WithoutCancel(r.Context()), store.AuditRecord{
		Account: target.ID, Actor: arn, Action: "AssumeRole", Resource: ids.UserARN(target.ID, role), Source: r.RemoteAddr, Result: "Allowed",
		Detail: fmt.Sprintf("assumed by %s of management account %s, until %s", ids.UserARN(c.Account, c.User.Name), c.Account, exp.UTC().Format(time.RFC3339)),
	}); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, api.AssumeRoleResponse{Token: secret, ExpiresAt: exp, Account: target.ID, Role: role, ARN: arn})
	return nil
}

// PlaceStore is what Place reads.
type PlaceStore interface {
	GetAccount(ctx context.Context, id string) (store.Account, error)
	ListOrgUnits(ctx context.Context, org string) ([]store.OrgUnit, error)
}

// Place returns a function that says which organization an account
// belongs to and where it sits in it, as aws:PrincipalOrgID and
// aws:PrincipalOrgPaths spell them (o-..., o-.../r-.../ou-.../); both
// empty for an account outside any organization, or unknown.
func Place(st PlaceStore) func(ctx context.Context, account string) (org, path string, err error) {
	return func(ctx context.Context, account string) (string, string, error) {
		a, err := st.GetAccount(ctx, account)
		if errors.Is(err, store.ErrNotFound) || err == nil && a.Org == "" {
			return "", "", nil
		}
		if err != nil {
			return "", "", err
		}
		t, _, err := loadTree(ctx, st, a.Org)
		if err != nil {
			return "", "", err
		}
		return a.Org, t.path(a.Parent), nil
	}
}
