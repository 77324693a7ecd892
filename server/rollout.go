package server

import (
	"context"
	"net/http"

	"github.com/postern/postern/api"
	"github.com/postern/postern/rollout"
	"github.com/postern/postern/stacktemplate"
)

// The rollout of stack sets (package orgs's stack sets, package rollout's
// Applier) acts in accounts through the same code as the API's handlers:
// the log store, the document and policy writers, the key service.

// applier is what deploys stack sets' resources into accounts.
func (s *Server) applier() *rollout.Applier {
	a := &rollout.Applier{Documents: s.documents(), Policies: s.policyWriter()}
	// Typed nils would pass for services the server has.
	if s.cfg.LogStore != nil {
		a.LogGroups = s.cfg.LogStore
	}
	if s.cfg.Keys != nil {
		a.Keys = s.cfg.Keys
	}
	return a
}

// resourceNames are how messages name a template's resource types.
var resourceNames = map[string]string{
	stacktemplate.TypeLogGroup: "log group",
	stacktemplate.TypeDocument: "document",
	stacktemplate.TypeKey:      "key",
	stacktemplate.TypeAlias:    "alias",
	stacktemplate.TypePolicy:   "policy",
}

// refuseProtected refuses a change, made in account through the API, to a
// resource that a stack set deployed there and whose template marks it
// protected: only the stack set changes it. typ is the resource's
// template type and id what its Ref is (a name, a key id, a policy id).
func (s *Server) refuseProtected(ctx context.Context, account, typ, id string) error {
	p, err := rollout.Protection(s.store)(ctx, account, typ, id)
	if err != nil || p == nil {
		return err
	}
	return errorf(http.StatusForbidden, api.CodeProtectedByStackSet,
		"%s %s is protected by stack set %s of organization %s (its resource %s): it is changed only by the stack set, from the organization's management account (postern org stacksets update %s)",
		resourceNames[typ], clip(id), p.StackSet, p.Org, p.LogicalID, p.StackSet)
}
