package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/lazyregexp"
	"github.com/postern/postern/rollout"
	"github.com/postern/postern/stacktemplate"
	"github.com/postern/postern/store"
)

// Policy administration: `postern policy ls|put|delete|test`.

var policyID = lazyregexp.New(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func (s *Server) handleListPolicies(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.DescribePolicies, accountEntity(c)); err != nil {
		return err
	}
	if _, err := s.policies(r.Context(), c.Account); err != nil { // installs the defaults
		return err
	}
	ps, _, err := s.store.Policies(r.Context(), c.Account)
	if err != nil {
		return err
	}
	out := []api.Policy{}
	for _, p := range ps {
		out = append(out, api.Policy{ID: p.ID, Text: p.Text, UpdatedAt: p.UpdatedAt, UpdatedBy: p.UpdatedBy})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// policyWriter changes an account's Cedar policies as `postern policy
// put` and `delete` do: ids as the API has them, and the account's
// policies, as they would be after the change, must parse and leave the
// keeper (the caller; for a rollout, the account's administrators) able
// to manage policies, so that nobody locks the account out of its own
// administration by mistake. The API's handlers and the rollout (package
// rollout's Policies) both go through it.
type policyWriter struct {
	st  store.Policies
	now func() time.Time
	// seed installs the default policies of an account that never had
	// any, before a change adds to them.
	seed func(ctx context.Context, account string) error
	// forget drops the account's cached policy set once they changed.
	forget func(account string)
}

func (s *Server) policyWriter() policyWriter {
	return policyWriter{
		st: s.store, now: s.now, forget: func(string) { s.configChanged() },
		seed: func(ctx context.Context, account string) error {
			_, err := s.policies(ctx, account)
			return err
		},
	}
}

// keeper is who must still manage policies after a change: an entity,
// and how messages name it.
type keeper struct {
	entity authz.Entity
	name   string
}

// check checks the account's policies as they would be after a change.
func (w policyWriter) check(ctx context.Context, account string, k keeper, put *store.Policy, deleteID string) error {
	if err := w.seed(ctx, account); err != nil {
		return err
	}
	stored, _, err := w.st.Policies(ctx, account)
	if err != nil {
		return err
	}
	var docs []authz.Stored
	for _, p := range stored {
		if p.ID == deleteID || put != nil && p.ID == put.ID {
			continue
		}
		docs = append(docs, authz.Stored{ID: p.ID, Text: p.Text})
	}
	if put != nil {
		docs = append(docs, authz.Stored{ID: put.ID, Text: put.Text})
	}
	ps, err := authz.NewPolicySet(docs)
	if err != nil {
		return errorf(http.StatusBadRequest, api.CodeInvalidPolicy, "%v", err)
	}
	for _, a := range []authz.Action{authz.PutPolicy, authz.DeletePolicy} {
		if d := ps.Decide(authz.Request{Principal: k.entity, Action: a, Resource: authz.AccountEntity(account)}); !d.Allowed {
			return errorf(http.StatusConflict, api.CodePolicyLockout,
				"refused: after this change %s could no longer %s (%s), and nobody might be left to undo it; give the permission in the same change", k.name, a, d.Explain())
		}
	}
	return nil
}

// put creates or replaces a policy.
func (w policyWriter) put(ctx context.Context, account, by string, k keeper, id, text string) (store.Policy, error) {
	if !policyID.MatchString(id) || strings.HasPrefix(id, "system") {
		return store.Policy{}, errorf(http.StatusBadRequest, api.CodeValidationError, "policy ID %q: 1–128 letters, digits, '_', '.' or '-', not starting with \"system\"", id)
	}
	p := store.Policy{Account: account, ID: id, Text: text, UpdatedAt: w.now(), UpdatedBy: by}
	if err := w.check(ctx, account, k, &p, ""); err != nil {
		return store.Policy{}, err
	}
	if err := w.st.PutPolicy(ctx, p); err != nil {
		return store.Policy{}, err
	}
	w.forget(account)
	return p, nil
}

// delete deletes a policy (store.ErrNotFound if there is none).
func (w policyWriter) delete(ctx context.Context, account string, k keeper, id string) error {
	if err := w.check(ctx, account, k, nil, id); err != nil {
		return err
	}
	if err := w.st.DeletePolicy(ctx, account, id); err != nil {
		return err
	}
	w.forget(account)
	return nil
}

// administrators is the keeper of a rollout's changes: a user of the
// account's administrators group, as the default policies know them.
func administrators(account string) keeper {
	return keeper{entity: authz.User(account, rollout.ExecutionRole, []string{authz.Administrators}, ""), name: "the account's administrators"}
}

// PutPolicy is package rollout's: a policy a stack set deploys.
func (w policyWriter) PutPolicy(ctx context.Context, account, by, id, text string) error {
	_, err := w.put(ctx, account, by, administrators(account), id, text)
	return err
}

// DeletePolicy is package rollout's: a policy that leaves a stack set.
func (w policyWriter) DeletePolicy(ctx context.Context, account, by, id string) error {
	return w.delete(ctx, account, administrators(account), id)
}

// Policy returns the text of one of the account's policies.
func (w policyWriter) Policy(ctx context.Context, account, id string) (string, error) {
	ps, _, err := w.st.Policies(ctx, account)
	if err != nil {
		return "", err
	}
	for _, p := range ps {
		if p.ID == id {
			return p.Text, nil
		}
	}
	return "", fmt.Errorf("policy %s of %s: %w", id, account, store.ErrNotFound)
}

func (s *Server) handlePutPolicy(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.PutPolicy, accountEntity(c)); err != nil {
		return err
	}
	var req api.Policy
	if err := readJSON(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.refuseProtected(r.Context(), c.Account, stacktemplate.TypePolicy, id); err != nil {
		return err
	}
	principal, err := s.principalEntity(r.Context(), c)
	if err != nil {
		return err
	}
	p, err := s.policyWriter().put(r.Context(), c.Account, c.User.Name, keeper{principal, c.User.Name}, id, req.Text)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.Policy{ID: p.ID, Text: p.Text, UpdatedAt: p.UpdatedAt, UpdatedBy: p.UpdatedBy})
	return nil
}

func (s *Server) handleDeletePolicy(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.DeletePolicy, accountEntity(c)); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.refuseProtected(r.Context(), c.Account, stacktemplate.TypePolicy, id); err != nil {
		return err
	}
	principal, err := s.principalEntity(r.Context(), c)
	if err != nil {
		return err
	}
	if err := s.policyWriter().delete(r.Context(), c.Account, keeper{principal, c.User.Name}, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, api.CodePolicyNotFound, "there is no policy %q", id)
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleTestPolicy answers whether a user may perform an action on a
// resource, and which policies decide it, under the account's policies
// or under the ones given.
func (s *Server) handleTestPolicy(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.TestPolicy, accountEntity(c)); err != nil {
		return err
	}
	var req api.PolicyTestRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	action, err := authz.ParseAction(req.Action)
	if err != nil {
		return errorf(http.StatusBadRequest, api.CodeValidationError, "action: %v", err)
	}
	u, err := s.store.GetUser(r.Context(), c.Account, req.Principal)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusBadRequest, api.CodeValidationError, "principal: user %q does not exist", req.Principal)
	}
	if err != nil {
		return err
	}
	res, opts, err := s.testResource(r, req.Resource)
	if err != nil {
		return err
	}
	if want := authz.ResourceType(action); res.Type != want {
		return errorf(http.StatusBadRequest, api.CodeValidationError, "resource: %s is checked on a %s, not a %s", action, strings.ToLower(want), strings.ToLower(res.Type))
	}
	var ps *authz.PolicySet
	if len(req.Policies) > 0 {
		var docs []authz.Stored
		for _, p := range req.Policies {
			docs = append(docs, authz.Stored{ID: p.ID, Text: p.Text})
		}
		if ps, err = authz.NewPolicySet(docs); err != nil {
			return errorf(http.StatusBadRequest, api.CodeInvalidPolicy, "%v", err)
		}
	} else if ps, err = s.policies(r.Context(), c.Account); err != nil {
		return err
	}
	areq := authz.Request{Principal: userEntity(u), Action: action, Resource: res, Context: req.Context}
	for _, o := range opts {
		o(&areq)
	}
	d := ps.Decide(areq)
	out := api.PolicyTestResponse{Decision: "Deny", Explanation: d.Explain(), Policies: d.Policies, Documents: d.Documents, Errors: d.Errors}
	if d.Allowed {
		out.Decision = "Allow"
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// testResource resolves `policy test`'s resource: node:ID|NAME,
// session:ID, command:ID, document:NAME, log-group:NAME, key:ID, user:NAME or
// account.
func (s *Server) testResource(r *http.Request, ref string) (authz.Entity, []authzOption, error) {
	c := callerOf(r)
	ctx := r.Context()
	kind, name, _ := strings.Cut(ref, ":")
	bad := func(format string, args ...any) (authz.Entity, []authzOption, error) {
		return authz.Entity{}, nil, errorf(http.StatusBadRequest, api.CodeValidationError, "resource: "+format, args...)
	}
	switch kind {
	case "account":
		return accountEntity(c), nil, nil
	case "node":
		n, err := s.resolveNode(ctx, c.Account, name)
		if err != nil {
			return bad("%v", err)
		}
		return nodeEntity(n), nil, nil
	case "session":
		sess, err := s.store.GetSession(ctx, name)
		if err != nil || sess.Account != c.Account {
			return bad("session %q does not exist", name)
		}
		e, opts := s.sessionEntity(ctx, sess, nil)
		return e, opts, nil
	case "command":
		cmd, err := s.store.GetCommand(ctx, c.Account, name)
		if err != nil {
			return bad("command %q does not exist", name)
		}
		return authz.Command(cmd.Account, cmd.ID, cmd.Owner), nil, nil
	case "user":
		u, err := s.store.GetUser(ctx, c.Account, name)
		if err != nil {
			return bad("user %q does not exist", name)
		}
		return userEntity(u), nil, nil
	case "document":
		return authz.Named("Document", c.Account, name), nil, nil
	case "log-group":
		return authz.Named("LogGroup", c.Account, name), nil, nil
	case "key":
		return authz.Named("Key", c.Account, name), nil, nil
	}
	return bad("%q: want node:ID, session:ID, command:ID, document:NAME, log-group:NAME, key:ID, user:NAME or account", ref)
}
