package orgs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/httpapi"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/lazyregexp"
	"github.com/postern/postern/rollout"
	"github.com/postern/postern/stacktemplate"
	"github.com/postern/postern/store"
)

// Stack sets, as CloudFormation StackSets has them in the multi-account
// setup: the management account keeps templates of Postern resources
// (package stacktemplate) and deploys them to the organization's units
// and accounts; each account it reaches has an instance, which records
// what was deployed there. Accounts created in, or moved into, a unit a
// stack set was deployed to get an instance at once (autoDeploy).
//
// A deployment renders the template for every target account before it
// changes anything: a template, parameter or substitution that fails for
// one account fails the whole deployment, naming the template's line.
// Then it applies each account's resources (package rollout) with the
// operation's preferences: at most so many accounts at a time, and none
// started once more than the failure tolerance have failed.
//
// Operations run within the API call that asks for them, for at most
// operationTimeout, and hold the stack set in the store meanwhile, so
// that no two run on one stack set at once, whichever server they come
// to. Deploying to a unit reaches the accounts in it and in the units
// below it, but not the management account, as StackSets leaves it out
// of deployments to units; name it as a target to deploy there.

// Rollout deploys a stack set's resources in an account, reads them back
// and removes them: package rollout's Applier.
type Rollout interface {
	Apply(ctx context.Context, account, by string, rs []stacktemplate.Resource, prev []rollout.Deployed) ([]rollout.Deployed, error)
	Remove(ctx context.Context, account, by string, ds []rollout.Deployed) ([]rollout.Deployed, error)
	Read(ctx context.Context, account string, d rollout.Deployed) (stacktemplate.Properties, bool, error)
}

// operationTimeout bounds an operation, which runs within its API call:
// accounts not started by then are left as they were, and say so.
const operationTimeout = 5 * time.Minute

// Region is the one region of Postern's names: AWS::Region in templates.
const Region = "local"

// Bounds of what a caller sends.
const (
	maxTargets      = 100
	maxDescription  = 1024
	maxTemplateName = 255
	maxReason       = 2000
)

// stackSetNameRE is CloudFormation's rule for stack set names, which are
// the templates' AWS::StackName.
var stackSetNameRE = lazyregexp.New(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)

func (h *Handlers) stackSetRoutes() []httpapi.Route {
	p := api.PathStackSets
	return []httpapi.Route{
		{Pattern: "POST " + p, Action: authz.CreateStackSet, Handler: h.createStackSet},
		{Pattern: "GET " + p, Action: authz.DescribeStackSets, Handler: h.listStackSets},
		{Pattern: "GET " + p + "/{name}", Action: authz.DescribeStackSets, Handler: h.describeStackSet},
		{Pattern: "PUT " + p + "/{name}", Action: authz.UpdateStackSet, Handler: h.updateStackSet},
		{Pattern: "DELETE " + p + "/{name}", Action: authz.DeleteStackSet, Handler: h.deleteStackSet},
		{Pattern: "POST " + p + "/{name}/deploy", Action: authz.DeployStackSet, Handler: h.deployStackSet},
		{Pattern: "POST " + p + "/{name}/remove", Action: authz.DeleteStackInstances, Handler: h.removeStackInstances},
		{Pattern: "GET " + p + "/{name}/instances", Action: authz.DescribeStackSets, Handler: h.listStackInstances},
		{Pattern: "GET " + p + "/{name}/operations", Action: authz.DescribeStackSets, Handler: h.listStackOperations},
		{Pattern: "POST " + p + "/{name}/detect-drift", Action: authz.DetectStackSetDrift, Handler: h.detectDrift},
	}
}

func invalid(format string, args ...any) error {
	return httpapi.Errorf(http.StatusBadRequest, api.CodeValidationError, format, args...)
}

// parseTemplate parses a caller's template, refusing it with every
// problem, each naming its line.
func parseTemplate(fileName, text string) (*stacktemplate.Template, string, error) {
	if fileName == "" {
		fileName = "template"
	}
	if len(fileName) > maxTemplateName || strings.ContainsFunc(fileName, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, "", invalid("templateName %q must be 1–%d printable characters", rollout.Clip(fileName), maxTemplateName)
	}
	t, err := stacktemplate.Parse(fileName, []byte(text))
	if err != nil {
		return nil, "", invalid("the template is refused, nothing was changed:\n%v", err)
	}
	return t, fileName, nil
}

// physicalIDs are the ids of the template's resources the service
// assigns (keys) in an instance: those it has, and new ones for the rest,
// chosen once and kept with the instance.
func physicalIDs(t *stacktemplate.Template, have map[string]string) map[string]string {
	out := map[string]string{}
	for _, id := range t.AssignedIDs() {
		if v, ok := have[id]; ok {
			out[id] = v
		} else {
			out[id] = uuid.NewString()
		}
	}
	return out
}

// render renders ss's template t for an account, with ids as its
// physical ids.
func render(t *stacktemplate.Template, ss store.StackSet, account string, ids map[string]string) ([]stacktemplate.Resource, error) {
	return t.Render(stacktemplate.Env{AccountID: account, Region: Region, StackName: ss.Name, PhysicalIDs: ids}, ss.Parameters)
}

// renderError refuses an operation whose template fails to render for
// some accounts, saying for which (the same problems for every account
// are said once).
func renderError(failed map[string][]string) error {
	var b strings.Builder
	b.WriteString("the template does not render, nothing was deployed:")
	for _, msg := range slices.Sorted(maps.Keys(failed)) {
		as := failed[msg]
		fmt.Fprintf(&b, "\nfor account %s:\n%s", strings.Join(as, ", "), msg)
	}
	return invalid("%s", b.String())
}

func (h *Handlers) getStackSet(ctx context.Context, o store.Organization, name string) (store.StackSet, error) {
	ss, err := h.Store.GetStackSet(ctx, o.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return ss, httpapi.Errorf(http.StatusNotFound, api.CodeStackSetNotFound, "organization %s has no stack set %q (postern org stacksets ls)", o.ID, rollout.Clip(name))
	}
	return ss, err
}

// begin makes an operation the stack set's until it ends or
// operationTimeout passes, and returns its id; the context it returns
// ends then too, and does not end with the request: an operation a
// caller walks away from finishes, rather than leaving accounts half
// done.
func (h *Handlers) begin(r *http.Request, ss store.StackSet) (context.Context, string, func(), error) {
	id := uuid.NewString()
	now := h.Now()
	err := h.Store.BeginStackSetOperation(r.Context(), ss.Org, ss.Name, id, now, now.Add(operationTimeout))
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil, "", nil, httpapi.Errorf(http.StatusConflict, api.CodeOperationInProgress, "another operation is running on stack set %s: try again once it is done", ss.Name)
	case errors.Is(err, store.ErrNotFound):
		return nil, "", nil, httpapi.Errorf(http.StatusNotFound, api.CodeStackSetNotFound, "stack set %s was deleted", ss.Name)
	}
	if err != nil {
		return nil, "", nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), operationTimeout)
	return ctx, id, func() {
		cancel()
		if err := h.Store.EndStackSetOperation(context.WithoutCancel(r.Context()), ss.Org, ss.Name, id); err != nil {
			h.Logf("orgs: stack set %s: ending operation %s: %v (it ends by itself in %s)", ss.Name, id, err, operationTimeout)
		}
	}, nil
}

// keepOperations is how many of a stack set's operations are kept, the
// newest: what the console and `stacksets operations` show.
const keepOperations = 20

// record gives op its id and who asked for it, and keeps it in the stack
// set's history. The operation happened whatever becomes of the record:
// failing to keep it is logged, not the request's failure.
func (h *Handlers) record(ctx context.Context, r *http.Request, ss store.StackSet, id string, op *api.StackOperation) {
	c := httpapi.CallerOf(r)
	op.ID, op.By = id, ids.UserARN(c.Account, c.User.Name)
	accounts, err := json.Marshal(op.Accounts)
	if err == nil {
		err = h.Store.AddStackSetOperation(context.WithoutCancel(ctx), store.StackSetOperation{Org: ss.Org, StackSet: ss.Name, ID: id,
			Action: op.Action, By: op.By, Stopped: op.Stopped, Accounts: string(accounts), StartedAt: op.StartedAt, EndedAt: op.EndedAt}, keepOperations)
	}
	if err != nil {
		h.Logf("orgs: stack set %s: recording operation %s (%s): %v", ss.Name, id, op.Action, err)
	}
}

func (h *Handlers) preferences(p api.OperationPreferences) (rollout.Preferences, error) {
	rp := rollout.Preferences{MaxConcurrent: p.MaxConcurrent, FailureTolerance: p.FailureTolerance}
	if err := rp.Check(); err != nil {
		return rp, invalid("%v", err)
	}
	return rp, nil
}

func (h *Handlers) createStackSet(w http.ResponseWriter, r *http.Request) error {
	c, o, err := h.orgOf(r, authz.CreateStackSet, true)
	if err != nil {
		return err
	}
	var req api.CreateStackSetRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	if !stackSetNameRE.MatchString(req.Name) {
		return invalid("name %q: a stack set's name is a letter, then up to 127 letters, digits and '-'", rollout.Clip(req.Name))
	}
	if len(req.Description) > maxDescription {
		return invalid("description: %d bytes; the limit is %d", len(req.Description), maxDescription)
	}
	t, fileName, err := parseTemplate(req.FileName, req.Template)
	if err != nil {
		return err
	}
	now := h.Now()
	ss := store.StackSet{Org: o.ID, Name: req.Name, Description: req.Description, Template: req.Template, TemplateName: fileName,
		Digest: t.Digest(), Parameters: req.Parameters, CreatedAt: now, UpdatedAt: now}
	// Parameters are checked now, for the management account: a value
	// the template does not allow is refused before anything is made.
	if _, err := render(t, ss, c.Account, physicalIDs(t, nil)); err != nil {
		return invalid("the template does not render with these parameters, nothing was changed:\n%v", err)
	}
	if err := h.Store.CreateStackSet(r.Context(), ss); errors.Is(err, store.ErrConflict) {
		return httpapi.Errorf(http.StatusConflict, api.CodeNameAlreadyExists, "organization %s already has a stack set %s", o.ID, ss.Name)
	} else if err != nil {
		return err
	}
	h.Logf("orgs: %s created stack set %s in %s (template %s, %s)", ids.UserARN(c.Account, c.User.Name), ss.Name, o.ID, fileName, ss.Digest[:12])
	httpapi.WriteJSON(w, http.StatusOK, apiStackSet(ss, t, nil, false))
	return nil
}

func apiStackSet(ss store.StackSet, t *stacktemplate.Template, ins []store.StackInstance, full bool) api.StackSet {
	out := api.StackSet{Name: ss.Name, Description: ss.Description, TemplateName: ss.TemplateName, TemplateDigest: ss.Digest,
		Parameters: ss.Parameters, Targets: ss.Targets, Instances: map[string]int{}, CreatedAt: ss.CreatedAt, UpdatedAt: ss.UpdatedAt}
	for _, in := range ins {
		out.Instances[in.Status]++
	}
	if full {
		out.Template = ss.Template
		if ss.Operation != "" {
			out.Operation = ss.Operation
		}
	}
	if t != nil {
		for _, d := range t.Resources() {
			out.Resources = append(out.Resources, api.StackSetResource{LogicalID: d.LogicalID, Type: d.Type, Line: d.Line})
		}
	}
	return out
}

func (h *Handlers) listStackSets(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.DescribeStackSets, true)
	if err != nil {
		return err
	}
	sets, err := h.Store.ListStackSets(r.Context(), o.ID)
	if err != nil {
		return err
	}
	out := []api.StackSet{}
	for _, ss := range sets {
		ins, err := h.Store.ListStackInstances(r.Context(), o.ID, ss.Name)
		if err != nil {
			return err
		}
		out = append(out, apiStackSet(ss, nil, ins, false))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handlers) describeStackSet(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.DescribeStackSets, true)
	if err != nil {
		return err
	}
	ss, err := h.getStackSet(r.Context(), o, r.PathValue("name"))
	if err != nil {
		return err
	}
	ins, err := h.Store.ListStackInstances(r.Context(), o.ID, ss.Name)
	if err != nil {
		return err
	}
	if !ss.OperationUntil.After(h.Now()) {
		ss.Operation = "" // its server died; it holds nothing now
	}
	// Stored templates parsed when stored; a newer Postern may be
	// stricter, which the listing of resources just leaves out.
	t, _ := stacktemplate.Parse(ss.TemplateName, []byte(ss.Template))
	httpapi.WriteJSON(w, http.StatusOK, apiStackSet(ss, t, ins, true))
	return nil
}

func (h *Handlers) deleteStackSet(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.DeleteStackSet, true)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	switch err := h.Store.DeleteStackSet(r.Context(), o.ID, name); {
	case errors.Is(err, store.ErrNotFound):
		return httpapi.Errorf(http.StatusNotFound, api.CodeStackSetNotFound, "organization %s has no stack set %q", o.ID, rollout.Clip(name))
	case errors.Is(err, store.ErrConflict):
		return httpapi.Errorf(http.StatusConflict, api.CodeStackSetNotEmpty, "stack set %s still has instances: remove them first (postern org stacksets remove %s --targets ...)", name, name)
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// storedTemplate parses a stack set's stored template.
func storedTemplate(ss store.StackSet) (*stacktemplate.Template, error) {
	t, err := stacktemplate.Parse(ss.TemplateName, []byte(ss.Template))
	if err != nil {
		return nil, httpapi.Errorf(http.StatusConflict, api.CodeValidationError, "stack set %s's template no longer parses (a newer Postern is stricter): update it with a template that does:\n%v", ss.Name, err)
	}
	return t, nil
}

func (h *Handlers) updateStackSet(w http.ResponseWriter, r *http.Request) error {
	c, o, err := h.orgOf(r, authz.UpdateStackSet, true)
	if err != nil {
		return err
	}
	var req api.UpdateStackSetRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	prefs, err := h.preferences(req.OperationPreferences)
	if err != nil {
		return err
	}
	ss, err := h.getStackSet(r.Context(), o, r.PathValue("name"))
	if err != nil {
		return err
	}
	if req.Description != nil {
		if len(*req.Description) > maxDescription {
			return invalid("description: %d bytes; the limit is %d", len(*req.Description), maxDescription)
		}
		ss.Description = *req.Description
	}
	t, err := storedTemplate(ss)
	if req.Template != "" {
		var fileName string
		if t, fileName, err = parseTemplate(req.FileName, req.Template); err != nil {
			return err
		}
		ss.Template, ss.TemplateName, ss.Digest = req.Template, fileName, t.Digest()
	} else if err != nil {
		return err
	}
	// The values given change; the others stay, but for parameters the
	// template no longer has.
	params := map[string]string{}
	for _, p := range t.Parameters() {
		if v, ok := ss.Parameters[p.Name]; ok {
			params[p.Name] = v
		}
	}
	maps.Copy(params, req.Parameters)
	ss.Parameters = params
	ss.UpdatedAt = h.Now()
	if _, err := render(t, ss, c.Account, physicalIDs(t, nil)); err != nil {
		return invalid("the template does not render with these parameters, nothing was changed:\n%v", err)
	}

	ctx, id, end, err := h.begin(r, ss)
	if err != nil {
		return err
	}
	defer end()
	ins, err := h.Store.ListStackInstances(ctx, o.ID, ss.Name)
	if err != nil {
		return err
	}
	accounts := make([]string, len(ins))
	for i, in := range ins {
		accounts[i] = in.Account
	}
	plan, err := h.plan(ctx, t, ss, accounts)
	if err != nil {
		return err
	}
	if err := h.Store.UpdateStackSet(ctx, ss); err != nil {
		return err
	}
	// Every instance runs what the stack set was: outdated until the
	// update reaches it (run records it so before it starts).
	for i := range plan {
		if in := &plan[i].in; in.Status != api.StackFailed {
			in.Status, in.Reason = api.StackOutdated, "stack set updated: not deployed yet"
		}
	}
	h.Logf("orgs: %s updated stack set %s of %s (template %s, %s); rolling it out to %d accounts", ids.UserARN(c.Account, c.User.Name), ss.Name, o.ID, ss.TemplateName, ss.Digest[:12], len(plan))
	op := h.run(ctx, r, ss, "UPDATE", plan, prefs)
	h.record(ctx, r, ss, id, &op)
	httpapi.WriteJSON(w, http.StatusOK, op)
	return nil
}

// planned is an account an operation deploys to: its instance (new or
// not) and its resources, rendered.
type planned struct {
	in        store.StackInstance
	resources []stacktemplate.Resource
}

// plan renders the template for each account, with its instance's key
// ids (new ones for a new instance); it refuses the lot if any account's
// rendering fails.
func (h *Handlers) plan(ctx context.Context, t *stacktemplate.Template, ss store.StackSet, accounts []string) ([]planned, error) {
	var out []planned
	failed := map[string][]string{}
	for _, account := range accounts {
		in, err := h.Store.GetStackInstance(ctx, ss.Org, ss.Name, account)
		if errors.Is(err, store.ErrNotFound) {
			in = store.StackInstance{Org: ss.Org, StackSet: ss.Name, Account: account, Status: api.StackOutdated, Reason: "not deployed yet"}
		} else if err != nil {
			return nil, err
		}
		in.PhysicalIDs = physicalIDs(t, in.PhysicalIDs)
		rs, err := render(t, ss, account, in.PhysicalIDs)
		if err != nil {
			msg := err.Error()
			failed[msg] = append(failed[msg], account)
			continue
		}
		out = append(out, planned{in: in, resources: rs})
	}
	if len(failed) > 0 {
		return nil, renderError(failed)
	}
	return out, nil
}

// run deploys the planned accounts with prefs, records each instance's
// outcome, and says what happened. The caller holds the stack set.
func (h *Handlers) run(ctx context.Context, r *http.Request, ss store.StackSet, action string, plan []planned, prefs rollout.Preferences) api.StackOperation {
	c := httpapi.CallerOf(r)
	op := api.StackOperation{StackSet: ss.Name, Action: action, StartedAt: h.Now(), Accounts: []api.StackOperationAccount{}}
	byAccount := map[string]planned{}
	accounts := make([]string, len(plan))
	for i, p := range plan {
		accounts[i] = p.in.Account
		// The instance and its key ids are kept before anything is
		// deployed: ids chosen once, even if this server dies now.
		if p.in.UpdatedAt.IsZero() {
			p.in.UpdatedAt = h.Now()
		}
		if err := h.Store.PutStackInstance(ctx, p.in); err != nil {
			h.Logf("orgs: stack set %s: recording the instance in %s: %v", ss.Name, p.in.Account, err)
		}
		byAccount[p.in.Account] = p
	}
	outcomes := rollout.Run(ctx, accounts, prefs, func(ctx context.Context, account string) error {
		return h.deployOne(ctx, ss, byAccount[account])
	})
	failed := 0
	for _, oc := range outcomes {
		if oc.Err != nil {
			failed++
		}
	}
	for _, oc := range outcomes {
		row := api.StackOperationAccount{Account: oc.Account, Status: api.StackOpSucceeded}
		switch {
		case !oc.Started:
			row.Status = api.StackOpCancelled
			if ctx.Err() != nil {
				op.Stopped = fmt.Sprintf("the operation's time (%s) ran out", operationTimeout)
			} else {
				op.Stopped = fmt.Sprintf("%d accounts failed, more than the failure tolerance of %d", failed, prefs.FailureTolerance)
			}
			row.Reason = "not started: " + op.Stopped
			h.cancelled(context.WithoutCancel(ctx), byAccount[oc.Account].in, row.Reason)
		case oc.Err != nil:
			row.Status, row.Reason = api.StackOpFailed, clipTo(oc.Err.Error(), maxReason)
		}
		op.Accounts = append(op.Accounts, row)
		result, detail := "Allowed", fmt.Sprintf("stack set %s of organization %s (template %s): %s", ss.Name, ss.Org, ss.Digest[:12], row.Status)
		if row.Reason != "" {
			detail += ": " + row.Reason
		}
		if row.Status == api.StackOpFailed {
			result = "Failed"
		}
		if row.Status != api.StackOpCancelled {
			h.audit(ctx, r, c, oc.Account, action+"StackSet", ss.Name, result, detail)
		}
	}
	op.EndedAt = h.Now()
	return op
}

// cancelled records that an operation did not reach an instance. One
// that is OUTDATED (new, or not yet updated) says why; the others stay as
// they were, which their status says: CURRENT, or FAILED or DRIFTED with
// its reason.
func (h *Handlers) cancelled(ctx context.Context, in store.StackInstance, reason string) {
	if in.Status != api.StackOutdated {
		return
	}
	in.Reason, in.UpdatedAt = reason, h.Now()
	if err := h.Store.PutStackInstance(ctx, in); err != nil {
		h.Logf("orgs: stack set %s: recording the instance in %s: %v", in.StackSet, in.Account, err)
	}
}

// deployOne applies an account's rendered resources and records the
// instance's new state.
func (h *Handlers) deployOne(ctx context.Context, ss store.StackSet, p planned) error {
	in := p.in
	prev, err := rollout.DecodeDeployed(in.Resources)
	if err != nil {
		return err
	}
	deployed, applyErr := h.Rollout.Apply(ctx, in.Account, rollout.By(ss.Name), p.resources, prev)
	text, err := rollout.EncodeDeployed(deployed)
	if err != nil {
		return errors.Join(applyErr, err)
	}
	in.Resources, in.UpdatedAt = text, h.Now()
	if applyErr != nil {
		in.Status, in.Reason = api.StackFailed, clipTo(applyErr.Error(), maxReason)
	} else {
		in.Status, in.Reason, in.Digest, in.Parameters = api.StackCurrent, "", ss.Digest, ss.Parameters
		in.Drift, in.DriftCheckedAt = "", time.Time{}
	}
	// Recorded whatever became of the request: the account changed.
	if err := h.Store.PutStackInstance(context.WithoutCancel(ctx), in); err != nil {
		return errors.Join(applyErr, fmt.Errorf("recording the instance: %w", err))
	}
	return applyErr
}

func (h *Handlers) audit(ctx context.Context, r *http.Request, c httpapi.Caller, account, action, stackSet, result, detail string) {
	err := h.Audit(context.WithoutCancel(ctx), store.AuditRecord{
		Account: account, Actor: ids.UserARN(c.Account, c.User.Name), Action: action, Resource: "stackset/" + stackSet,
		Source: r.RemoteAddr, Result: result, Detail: detail,
	})
	if err != nil {
		h.Logf("orgs: the audit record of %s in %s: %v", action, account, err)
	}
}

func clipTo(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// targets resolves an operation's targets: units (the root too), each
// with the units below it, and accounts of the organization. It returns
// the accounts, sorted, and the targets as given, deduplicated.
func (h *Handlers) targets(ctx context.Context, o store.Organization, given []string) (accounts, targets []string, err error) {
	if len(given) == 0 {
		return nil, nil, invalid("targets: name at least one unit (ou-..., or the root r-...) or account")
	}
	if len(given) > maxTargets {
		return nil, nil, invalid("targets: %d; at most %d at once", len(given), maxTargets)
	}
	t, _, err := h.tree(ctx, o.ID)
	if err != nil {
		return nil, nil, err
	}
	all, err := h.Store.ListAccounts(ctx, o.ID)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, g := range given {
		if slices.Contains(targets, g) {
			continue
		}
		targets = append(targets, g)
		if _, ok := t.units[g]; ok {
			for _, a := range all {
				// The management account only when named itself.
				if a.ID != o.ManagementAccount && strings.Contains(t.path(a.Parent), "/"+g+"/") {
					seen[a.ID] = true
				}
			}
			continue
		}
		if !slices.ContainsFunc(all, func(a store.Account) bool { return a.ID == g }) {
			return nil, nil, httpapi.Errorf(http.StatusNotFound, api.CodeAccountNotFound, "target %q is neither a unit nor an account of organization %s (postern org units, postern org accounts)", rollout.Clip(g), o.ID)
		}
		seen[g] = true
	}
	return slices.Sorted(maps.Keys(seen)), targets, nil
}

func (h *Handlers) deployStackSet(w http.ResponseWriter, r *http.Request) error {
	c, o, err := h.orgOf(r, authz.DeployStackSet, true)
	if err != nil {
		return err
	}
	var req api.StackTargetsRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	prefs, err := h.preferences(req.OperationPreferences)
	if err != nil {
		return err
	}
	ss, err := h.getStackSet(r.Context(), o, r.PathValue("name"))
	if err != nil {
		return err
	}
	if h.Rollout == nil {
		return errors.New("this server cannot deploy stack sets")
	}
	accounts, targets, err := h.targets(r.Context(), o, req.Targets)
	if err != nil {
		return err
	}
	if len(accounts) == 0 {
		return invalid("targets %s hold no account to deploy to (the management account only when named)", strings.Join(targets, ", "))
	}
	t, err := storedTemplate(ss)
	if err != nil {
		return err
	}
	ctx, id, end, err := h.begin(r, ss)
	if err != nil {
		return err
	}
	defer end()
	plan, err := h.plan(ctx, t, ss, accounts)
	if err != nil {
		return err
	}
	for _, g := range targets {
		if !slices.Contains(ss.Targets, g) {
			ss.Targets = append(ss.Targets, g)
		}
	}
	ss.UpdatedAt = h.Now()
	if err := h.Store.UpdateStackSet(ctx, ss); err != nil {
		return err
	}
	h.Logf("orgs: %s deploys stack set %s of %s to %s (%d accounts)", ids.UserARN(c.Account, c.User.Name), ss.Name, o.ID, strings.Join(targets, ", "), len(plan))
	op := h.run(ctx, r, ss, "DEPLOY", plan, prefs)
	h.record(ctx, r, ss, id, &op)
	httpapi.WriteJSON(w, http.StatusOK, op)
	return nil
}

func (h *Handlers) removeStackInstances(w http.ResponseWriter, r *http.Request) error {
	c, o, err := h.orgOf(r, authz.DeleteStackInstances, true)
	if err != nil {
		return err
	}
	var req api.StackTargetsRequest
	if err := httpapi.ReadJSON(r, &req); err != nil {
		return err
	}
	prefs, err := h.preferences(req.OperationPreferences)
	if err != nil {
		return err
	}
	ss, err := h.getStackSet(r.Context(), o, r.PathValue("name"))
	if err != nil {
		return err
	}
	if h.Rollout == nil {
		return errors.New("this server cannot remove stack instances")
	}
	accounts, targets, err := h.targets(r.Context(), o, req.Targets)
	if err != nil {
		return err
	}
	ctx, id, end, err := h.begin(r, ss)
	if err != nil {
		return err
	}
	defer end()
	ins, err := h.Store.ListStackInstances(ctx, o.ID, ss.Name)
	if err != nil {
		return err
	}
	byAccount := map[string]store.StackInstance{}
	var with []string
	for _, in := range ins {
		if slices.Contains(accounts, in.Account) {
			byAccount[in.Account] = in
			with = append(with, in.Account)
		}
	}
	// Units named stop being targets: accounts that come into them later
	// get nothing.
	ss.Targets = slices.DeleteFunc(ss.Targets, func(g string) bool { return slices.Contains(targets, g) })
	ss.UpdatedAt = h.Now()
	if err := h.Store.UpdateStackSet(ctx, ss); err != nil {
		return err
	}
	h.Logf("orgs: %s removes stack set %s of %s from %s (%d instances)", ids.UserARN(c.Account, c.User.Name), ss.Name, o.ID, strings.Join(targets, ", "), len(with))
	op := api.StackOperation{StackSet: ss.Name, Action: "REMOVE", StartedAt: h.Now(), Accounts: []api.StackOperationAccount{}}
	outcomes := rollout.Run(ctx, with, prefs, func(ctx context.Context, account string) error {
		return h.removeOne(ctx, ss, byAccount[account])
	})
	failed := 0
	for _, oc := range outcomes {
		if oc.Err != nil {
			failed++
		}
	}
	for _, oc := range outcomes {
		row := api.StackOperationAccount{Account: oc.Account, Status: api.StackOpSucceeded}
		result := "Allowed"
		switch {
		case !oc.Started:
			row.Status, op.Stopped = api.StackOpCancelled, fmt.Sprintf("%d accounts failed, more than the failure tolerance of %d", failed, prefs.FailureTolerance)
			if ctx.Err() != nil {
				op.Stopped = fmt.Sprintf("the operation's time (%s) ran out", operationTimeout)
			}
			row.Reason = "not started: " + op.Stopped
		case oc.Err != nil:
			row.Status, row.Reason, result = api.StackOpFailed, clipTo(oc.Err.Error(), maxReason), "Failed"
		}
		if row.Status != api.StackOpCancelled {
			h.audit(ctx, r, c, oc.Account, "DeleteStackInstance", ss.Name, result, fmt.Sprintf("stack set %s of organization %s: %s %s", ss.Name, o.ID, row.Status, row.Reason))
		}
		op.Accounts = append(op.Accounts, row)
	}
	op.EndedAt = h.Now()
	h.record(ctx, r, ss, id, &op)
	httpapi.WriteJSON(w, http.StatusOK, op)
	return nil
}

// removeOne deletes an instance's resources, but those it retains, and
// then the instance; one that cannot be emptied stays, FAILED, with what
// is left.
func (h *Handlers) removeOne(ctx context.Context, ss store.StackSet, in store.StackInstance) error {
	ds, err := rollout.DecodeDeployed(in.Resources)
	if err != nil {
		return err
	}
	left, rmErr := h.Rollout.Remove(ctx, in.Account, rollout.By(ss.Name), ds)
	if rmErr == nil {
		return h.Store.DeleteStackInstance(context.WithoutCancel(ctx), ss.Org, ss.Name, in.Account)
	}
	text, err := rollout.EncodeDeployed(left)
	if err != nil {
		return errors.Join(rmErr, err)
	}
	in.Resources, in.Status, in.Reason, in.UpdatedAt = text, api.StackFailed, clipTo(rmErr.Error(), maxReason), h.Now()
	if err := h.Store.PutStackInstance(context.WithoutCancel(ctx), in); err != nil {
		return errors.Join(rmErr, err)
	}
	return rmErr
}

func (h *Handlers) listStackInstances(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.DescribeStackSets, true)
	if err != nil {
		return err
	}
	ss, err := h.getStackSet(r.Context(), o, r.PathValue("name"))
	if err != nil {
		return err
	}
	ins, err := h.Store.ListStackInstances(r.Context(), o.ID, ss.Name)
	if err != nil {
		return err
	}
	as, err := h.Store.ListAccounts(r.Context(), o.ID)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, a := range as {
		names[a.ID] = a.Name
	}
	out := []api.StackInstance{}
	for _, in := range ins {
		ai := api.StackInstance{Account: in.Account, AccountName: names[in.Account], Status: in.Status, Reason: in.Reason,
			TemplateDigest: in.Digest, Parameters: in.Parameters, LastOperation: in.UpdatedAt}
		if !in.DriftCheckedAt.IsZero() {
			t := in.DriftCheckedAt
			ai.DriftCheckedAt = &t
		}
		ds, err := rollout.DecodeDeployed(in.Resources)
		if err != nil {
			return err
		}
		for _, d := range ds {
			ai.Resources = append(ai.Resources, api.StackResource{LogicalID: d.LogicalID, Type: d.Type, PhysicalID: d.PhysicalID, Protected: d.Protected, DeletionPolicy: d.DeletionPolicy})
		}
		if in.Drift != "" {
			var d api.InstanceDrift
			if err := json.Unmarshal([]byte(in.Drift), &d); err != nil {
				return fmt.Errorf("stack set %s's instance in %s: its drift: %w", ss.Name, in.Account, err)
			}
			ai.Drift = &d
		}
		out = append(out, ai)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// listStackOperations lists a stack set's recent operations, newest
// first: the one running now, if one is, is not among them until it ends
// (describe names it).
func (h *Handlers) listStackOperations(w http.ResponseWriter, r *http.Request) error {
	_, o, err := h.orgOf(r, authz.DescribeStackSets, true)
	if err != nil {
		return err
	}
	ss, err := h.getStackSet(r.Context(), o, r.PathValue("name"))
	if err != nil {
		return err
	}
	ops, err := h.Store.ListStackSetOperations(r.Context(), o.ID, ss.Name)
	if err != nil {
		return err
	}
	out := []api.StackOperation{}
	for _, op := range ops {
		ao := api.StackOperation{StackSet: op.StackSet, ID: op.ID, Action: op.Action, By: op.By, Stopped: op.Stopped, StartedAt: op.StartedAt, EndedAt: op.EndedAt}
		if err := json.Unmarshal([]byte(op.Accounts), &ao.Accounts); err != nil {
			return fmt.Errorf("stack set %s's operation %s: its accounts: %w", ss.Name, op.ID, err)
		}
		if ao.Accounts == nil {
			ao.Accounts = []api.StackOperationAccount{}
		}
		out = append(out, ao)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// detectDrift reads every instance's resources back and compares them,
// field by field, with what the instance deployed.
func (h *Handlers) detectDrift(w http.ResponseWriter, r *http.Request) error {
	c, o, err := h.orgOf(r, authz.DetectStackSetDrift, true)
	if err != nil {
		return err
	}
	ss, err := h.getStackSet(r.Context(), o, r.PathValue("name"))
	if err != nil {
		return err
	}
	if h.Rollout == nil {
		return errors.New("this server cannot read stack sets' resources")
	}
	ctx, id, end, err := h.begin(r, ss)
	if err != nil {
		return err
	}
	defer end()
	ins, err := h.Store.ListStackInstances(ctx, o.ID, ss.Name)
	if err != nil {
		return err
	}
	out := api.StackSetDrift{StackSet: ss.Name, CheckedAt: h.Now(), Instances: []api.InstanceDrift{}}
	op := api.StackOperation{StackSet: ss.Name, Action: "DETECT_DRIFT", StartedAt: out.CheckedAt, Accounts: []api.StackOperationAccount{}}
	for _, in := range ins {
		d, err := h.instanceDrift(ctx, in)
		if err != nil {
			return err
		}
		out.Instances = append(out.Instances, d)
		op.Accounts = append(op.Accounts, driftOutcome(d))
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		in.Drift, in.DriftCheckedAt = string(b), out.CheckedAt
		switch {
		case d.Status == api.DriftDrifted && in.Status == api.StackCurrent:
			in.Status, in.Reason = api.StackDrifted, driftReason(d)
		case d.Status == api.DriftDrifted && in.Status == api.StackDrifted:
			in.Reason = driftReason(d)
		case d.Status == api.DriftInSync && in.Status == api.StackDrifted:
			in.Status, in.Reason = api.StackCurrent, ""
		}
		if err := h.Store.PutStackInstance(ctx, in); err != nil {
			return err
		}
		if d.Status == api.DriftDrifted {
			h.audit(ctx, r, c, in.Account, "DetectStackSetDrift", ss.Name, "Allowed", fmt.Sprintf("stack set %s of organization %s: %s", ss.Name, o.ID, driftReason(d)))
		}
	}
	op.EndedAt = h.Now()
	h.record(ctx, r, ss, id, &op)
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// driftOutcome is a drift detection's outcome in an account, for its
// operation's record: SUCCEEDED with the drift status where every
// resource was read back, FAILED with why where one was not.
func driftOutcome(d api.InstanceDrift) api.StackOperationAccount {
	row := api.StackOperationAccount{Account: d.Account, Status: api.StackOpSucceeded, Reason: d.Status}
	switch d.Status {
	case api.DriftDrifted:
		row.Reason = api.DriftDrifted + ": " + driftReason(d)
	case api.DriftUnknown:
		row.Status = api.StackOpFailed
		for _, rd := range d.Resources {
			if rd.Status == api.DriftUnknown {
				row.Reason = clipTo(rd.LogicalID+" could not be read back: "+rd.Reason, maxReason)
				break
			}
		}
	}
	return row
}

func driftReason(d api.InstanceDrift) string {
	var parts []string
	for _, rd := range d.Resources {
		switch rd.Status {
		case api.DriftDeleted:
			parts = append(parts, rd.LogicalID+" deleted")
		case api.DriftModified:
			var paths []string
			for _, pd := range rd.Differences {
				paths = append(paths, pd.Path)
			}
			parts = append(parts, rd.LogicalID+" changed ("+strings.Join(paths, ", ")+")")
		}
	}
	return clipTo("changed in the account: "+strings.Join(parts, "; "), maxReason)
}

func (h *Handlers) instanceDrift(ctx context.Context, in store.StackInstance) (api.InstanceDrift, error) {
	out := api.InstanceDrift{Account: in.Account, Status: api.DriftInSync, Resources: []api.ResourceDrift{}}
	ds, err := rollout.DecodeDeployed(in.Resources)
	if err != nil {
		return out, err
	}
	for _, d := range ds {
		rd := api.ResourceDrift{LogicalID: d.LogicalID, Type: d.Type, PhysicalID: d.PhysicalID, Status: api.DriftInSync}
		want, err := d.Want()
		if err != nil {
			return out, err
		}
		got, found, err := h.Rollout.Read(ctx, in.Account, d)
		switch {
		case err != nil:
			rd.Status, rd.Reason = api.DriftUnknown, clipTo(err.Error(), maxReason)
			if out.Status == api.DriftInSync {
				out.Status = api.DriftUnknown
			}
		case !found:
			rd.Status, out.Status = api.DriftDeleted, api.DriftDrifted
		default:
			for _, diff := range stacktemplate.Diff(want, got) {
				rd.Differences = append(rd.Differences, api.PropertyDifference{Path: diff.Path, Expected: diff.Want, Actual: diff.Got})
			}
			if len(rd.Differences) > 0 {
				rd.Status, out.Status = api.DriftModified, api.DriftDrifted
			}
		}
		out.Resources = append(out.Resources, rd)
	}
	return out, nil
}

// autoDeploy deploys, to an account just created in or moved into a
// unit, every stack set deployed to that unit (or one above it), as
// StackSets' automatic deployment does. It runs within the request that
// placed the account; what fails is recorded in the instance and the
// log, never the request's failure.
func (h *Handlers) autoDeploy(r *http.Request, o store.Organization, a store.Account) {
	if h.Rollout == nil || a.ID == o.ManagementAccount {
		return
	}
	ctx := context.WithoutCancel(r.Context())
	sets, err := h.Store.ListStackSets(ctx, o.ID)
	if err != nil || len(sets) == 0 {
		if err != nil {
			h.Logf("orgs: stack sets for new account %s: %v", a.ID, err)
		}
		return
	}
	t, _, err := h.tree(ctx, o.ID)
	if err != nil {
		h.Logf("orgs: stack sets for new account %s: %v", a.ID, err)
		return
	}
	path := t.path(a.Parent)
	for _, ss := range sets {
		if !slices.ContainsFunc(ss.Targets, func(g string) bool { return strings.Contains(path, "/"+g+"/") }) {
			continue
		}
		in, err := h.Store.GetStackInstance(ctx, o.ID, ss.Name, a.ID)
		if err == nil && in.Status == api.StackCurrent && in.Digest == ss.Digest && maps.Equal(in.Parameters, ss.Parameters) {
			continue // it has it already
		}
		if err := h.autoDeployOne(r, ss, a.ID); err != nil {
			h.Logf("orgs: stack set %s in account %s, which came into %s: %v", ss.Name, a.ID, a.Parent, err)
		}
	}
}

func (h *Handlers) autoDeployOne(r *http.Request, ss store.StackSet, account string) error {
	t, err := storedTemplate(ss)
	if err != nil {
		return err
	}
	ctx, id, end, err := h.begin(r, ss)
	if err != nil {
		// Another operation holds the stack set: the instance says the
		// account is still to be deployed to.
		in := store.StackInstance{Org: ss.Org, StackSet: ss.Name, Account: account, Status: api.StackOutdated, UpdatedAt: h.Now(),
			Reason: "not deployed: another operation was running on the stack set when the account came into its target (deploy again)"}
		if old, gerr := h.Store.GetStackInstance(r.Context(), ss.Org, ss.Name, account); gerr == nil {
			in = old
		}
		in.PhysicalIDs = physicalIDs(t, in.PhysicalIDs)
		return errors.Join(err, h.Store.PutStackInstance(context.WithoutCancel(r.Context()), in))
	}
	defer end()
	plan, err := h.plan(ctx, t, ss, []string{account})
	if err != nil {
		// Recorded as the instance's failure: nothing was deployed.
		in := store.StackInstance{Org: ss.Org, StackSet: ss.Name, Account: account, PhysicalIDs: physicalIDs(t, nil)}
		if old, gerr := h.Store.GetStackInstance(ctx, ss.Org, ss.Name, account); gerr == nil {
			in = old
		}
		in.Status, in.Reason, in.UpdatedAt = api.StackFailed, clipTo(err.Error(), maxReason), h.Now()
		return errors.Join(err, h.Store.PutStackInstance(ctx, in))
	}
	op := h.run(ctx, r, ss, "DEPLOY", plan, rollout.Preferences{})
	h.record(ctx, r, ss, id, &op)
	for _, a := range op.Accounts {
		if a.Status != api.StackOpSucceeded {
			return fmt.Errorf("%s: %s", a.Status, a.Reason)
		}
	}
	h.Logf("orgs: stack set %s deployed to account %s, which came into one of its targets", ss.Name, account)
	return nil
}
