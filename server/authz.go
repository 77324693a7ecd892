package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/store"
)

// Authorization: every authenticated route checks its action with
// s.authorize (or s.allowed, to filter a listing) before it acts or says
// anything about the resource beyond whether it exists. Routes declare
// their action in the route table; a handler that answers without any
// check is a bug the server logs and counts (uncheckedRequests), and
// TestEveryRouteIsAuthorized fails on. The metrics listener is outside the
// route table (MetricsHandler): it checks GetMetrics on the caller's
// account itself (metricsCaller), which TestMetricsNeedGetMetrics covers.

// policyCache holds accounts' parsed policy sets.
type policyCache struct {
	mu   sync.Mutex                  // guards sets
	sets map[string]*authz.PolicySet // by account
}

// policies returns the account's policy set, installing the default
// policies in an account that never had any.
func (s *Server) policies(ctx context.Context, account string) (*authz.PolicySet, error) {
	s.policyCache.mu.Lock()
	ps := s.policyCache.sets[account]
	s.policyCache.mu.Unlock()
	if ps != nil {
		return ps, nil
	}
	gen := s.configGen.Load()
	stored, seeded, err := s.store.Policies(ctx, account)
	if err != nil {
		return nil, err
	}
	if !seeded {
		p := store.Policy{Account: account, ID: authz.DefaultPolicyID, Text: authz.DefaultPolicies, UpdatedAt: s.now(), UpdatedBy: "postern"}
		if err := s.store.PutPolicy(ctx, p); err != nil {
			return nil, fmt.Errorf("server: install the default policies in %s: %w", account, err)
		}
		stored = append(stored, p)
	}
	docs := make([]authz.Stored, 0, len(stored))
	for _, p := range stored {
		docs = append(docs, authz.Stored{ID: p.ID, Text: p.Text})
	}
	ps, err = authz.NewPolicySet(docs)
	if err != nil {
		// Stored policies were checked when put; one that no longer
		// parses (a newer binary's syntax?) must not open anything.
		return nil, fmt.Errorf("server: policies of account %s: %w", account, err)
	}
	s.policyCache.mu.Lock()
	// Not what was read before a change dropped the cache: the next
	// call reads again.
	if s.configGen.Load() == gen {
		if s.policyCache.sets == nil {
			s.policyCache.sets = map[string]*authz.PolicySet{}
		}
		s.policyCache.sets[account] = ps
	}
	s.policyCache.mu.Unlock()
	return ps, nil
}

// authzMark records that a request's authorization was checked.
type authzMark struct{ checked atomic.Bool }

// decide evaluates the caller's request; it honours the token's scopes.
func (s *Server) decide(ctx context.Context, c caller, action authz.Action, resource authz.Entity, opts ...authzOption) (authz.Decision, error) {
	c.Checked()
	if len(c.Token.Scopes) > 0 && !slices.Contains(c.Token.Scopes, string(action)) {
		return authz.Decision{Policies: []string{"token-scope"}}, nil
	}
	ps, err := s.policies(ctx, c.Account)
	if err != nil {
		return authz.Decision{}, err
	}
	principal, err := s.principalEntity(ctx, c)
	if err != nil {
		return authz.Decision{}, err
	}
	req := authz.Request{Principal: principal, Action: action, Resource: resource}
	for _, o := range opts {
		o(&req)
	}
	return ps.Decide(req), nil
}

// authzOption adds to a request: related entities, context.
type authzOption func(*authz.Request)

func related(e ...authz.Entity) authzOption {
	return func(r *authz.Request) { r.Related = append(r.Related, e...) }
}

func withContext(k, v string) authzOption {
	return func(r *authz.Request) {
		if r.Context == nil {
			r.Context = map[string]string{}
		}
		r.Context[k] = v
	}
}

// authorize returns an AccessDenied error unless the caller may perform
// action on resource.
func (s *Server) authorize(r *http.Request, action authz.Action, resource authz.Entity, opts ...authzOption) error {
	return s.authorizeAs(r, action, resource, describe(resource), opts...)
}

// authorizeAs is authorize with what the error calls the resource (say,
// "node mi-... as OS user deploy").
func (s *Server) authorizeAs(r *http.Request, action authz.Action, resource authz.Entity, what string, opts ...authzOption) error {
	c := callerOf(r)
	d, err := s.decide(r.Context(), c, action, resource, opts...)
	if err != nil {
		return err
	}
	if ai := auditOf(r); ai != nil {
		ai.authz = string(action) + " " + d.Explain()
	}
	if d.Allowed {
		return nil
	}
	if slices.Equal(d.Policies, []string{"token-scope"}) {
		return errorf(http.StatusForbidden, api.CodeAccessDenied, "%s's token %s may not %s: its scopes are %v", c.User.Name, c.Token.ID, action, c.Token.Scopes)
	}
	return errorf(http.StatusForbidden, api.CodeAccessDenied, "%s is not allowed to %s on %s (%s)", c.User.Name, action, what, d.Explain())
}

// allowed reports whether the caller may perform action on resource, for
// filtering listings; errors count as no.
func (s *Server) allowed(r *http.Request, action authz.Action, resource authz.Entity, opts ...authzOption) bool {
	d, err := s.decide(r.Context(), callerOf(r), action, resource, opts...)
	if err != nil {
		s.logf("server: authorization of %s on %s: %v", action, describe(resource), err)
		return false
	}
	return d.Allowed
}

func describe(e authz.Entity) string {
	switch e.Type {
	case "Account":
		return "account " + e.ID
	case "LogGroup":
		return "log group " + e.ID
	default:
		return fmtType(e.Type) + " " + e.ID
	}
}

func fmtType(t string) string {
	if t == "" {
		return ""
	}
	return string(t[0]|0x20) + t[1:]
}

// Entities of the server's resources.

func accountEntity(c caller) authz.Entity { return authz.AccountEntity(c.Account) }

func nodeEntity(n store.Node) authz.Entity { return authz.Node(n.Account, n.ID, n.Name, n.Tags) }

func userEntity(u store.User) authz.Entity {
	return authz.User(u.Account, u.Name, u.Groups, u.RunAs)
}

// targetOf is the node a session ran on; a node since deregistered is one
// without tags. Listings pass seen to look each node up once; nil keeps
// nothing.
func (s *Server) targetOf(ctx context.Context, sess store.Session, seen map[string]store.Node) store.Node {
	if n, ok := seen[sess.Target]; ok {
		return n
	}
	n, err := s.store.GetNode(ctx, sess.Target)
	if err != nil || n.Account != sess.Account {
		n = store.Node{ID: sess.Target, Account: sess.Account}
	}
	if seen != nil {
		seen[sess.Target] = n
	}
	return n
}

// sessionEntity is a session with its target node's tags (see targetOf).
func (s *Server) sessionEntity(ctx context.Context, sess store.Session, seen map[string]store.Node) (authz.Entity, []authzOption) {
	ne := nodeEntity(s.targetOf(ctx, sess, seen))
	return authz.Session(sess.Account, sess.ID, sess.Owner, ne), []authzOption{related(ne)}
}

// authorizeSession checks action on a loaded session.
func (s *Server) authorizeSession(r *http.Request, action authz.Action, sess store.Session) error {
	e, opts := s.sessionEntity(r.Context(), sess, nil)
	return s.authorize(r, action, e, opts...)
}

// errUnchecked is what a route that forgot its check answers instead.
var errUnchecked = errors.New("server: the route answered without an authorization check")

func logGroupEntity(account, name string) authz.Entity { return authz.Named("LogGroup", account, name) }
