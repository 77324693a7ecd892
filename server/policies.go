package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/lazyregexp"
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

// changePolicies checks the account's policies as they would be after a
// change: they must parse, and must leave the caller able to manage
// policies, so that nobody locks the account out of its own
// administration by mistake.
func (s *Server) changePolicies(r *http.Request, put *store.Policy, deleteID string) error {
	c := callerOf(r)
	stored, _, err := s.store.Policies(r.Context(), c.Account)
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
	principal, err := s.principalEntity(r.Context(), c)
	if err != nil {
		return err
	}
	for _, a := range []authz.Action{authz.PutPolicy, authz.DeletePolicy} {
		if d := ps.Decide(authz.Request{Principal: principal, Action: a, Resource: accountEntity(c)}); !d.Allowed {
			return errorf(http.StatusConflict, api.CodePolicyLockout,
				"refused: after this change %s could no longer %s (%s), and nobody might be left to undo it; give the permission in the same change", c.User.Name, a, d.Explain())
		}
	}
	return nil
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
	if !policyID.MatchString(id) || strings.HasPrefix(id, "system") {
		return errorf(http.StatusBadRequest, api.CodeValidationError, "policy ID %q: 1–128 letters, digits, '_', '.' or '-', not starting with \"system\"", id)
	}
	p := store.Policy{Account: c.Account, ID: id, Text: req.Text, UpdatedAt: s.now(), UpdatedBy: c.User.Name}
	if err := s.changePolicies(r, &p, ""); err != nil {
		return err
	}
	if err := s.store.PutPolicy(r.Context(), p); err != nil {
		return err
	}
	s.forgetPolicies(c.Account)
	writeJSON(w, http.StatusOK, api.Policy{ID: p.ID, Text: p.Text, UpdatedAt: p.UpdatedAt, UpdatedBy: p.UpdatedBy})
	return nil
}

func (s *Server) handleDeletePolicy(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.DeletePolicy, accountEntity(c)); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.changePolicies(r, nil, id); err != nil {
		return err
	}
	if err := s.store.DeletePolicy(r.Context(), c.Account, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, api.CodePolicyNotFound, "there is no policy %q", id)
		}
		return err
	}
	s.forgetPolicies(c.Account)
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
// session:ID, document:NAME, log-group:NAME, key:ID, user:NAME or
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
	return bad("%q: want node:ID, session:ID, document:NAME, log-group:NAME, key:ID, user:NAME or account", ref)
}
