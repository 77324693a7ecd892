package rollout

import (
	"context"
	"fmt"

	"github.com/postern/postern/document"
	"github.com/postern/postern/stacktemplate"
	"github.com/postern/postern/store"
)

// InstanceStore is what Protection reads: the stack instances in an
// account.
type InstanceStore interface {
	AccountStackInstances(ctx context.Context, account string) ([]store.StackInstance, error)
}

// Protector is the stack set that protects a resource: Org's StackSet,
// whose template marks the resource protected.
type Protector struct {
	Org, StackSet, LogicalID string
}

// Protection returns the check an API handler makes before changing a
// resource of an account (a log group's retention, a document, a key's
// policy, a Cedar policy): whether a stack instance in the account
// deployed it and its template protects it, in which case the change is
// the stack set's to make, not the account's. typ is the resource's
// template type (stacktemplate.TypeLogGroup ...) and id what the
// template's Ref gives: the log group's or document's name, the key's id,
// the alias's name, the policy's id.
func Protection(st InstanceStore) func(ctx context.Context, account, typ, id string) (*Protector, error) {
	return func(ctx context.Context, account, typ, id string) (*Protector, error) {
		if typ == stacktemplate.TypeDocument {
			id = document.PosternName(id)
		}
		ins, err := st.AccountStackInstances(ctx, account)
		if err != nil {
			return nil, err
		}
		for _, in := range ins {
			ds, err := DecodeDeployed(in.Resources)
			if err != nil {
				return nil, fmt.Errorf("stack set %s's instance in %s: %w", in.StackSet, account, err)
			}
			for _, d := range ds {
				if d.Protected && d.Type == typ && d.PhysicalID == id {
					return &Protector{Org: in.Org, StackSet: in.StackSet, LogicalID: d.LogicalID}, nil
				}
			}
		}
		return nil, nil
	}
}
