package server

import (
	"context"
	"sync"

	"github.com/postern/postern/authz"
	"github.com/postern/postern/orgs"
)

// placeCache keeps accounts' places in their organizations (orgs.Place):
// every decision gives the principal its organization and path as
// attributes (orgId, orgPath), and they change only when the
// organization does, which empties the cache (orgs.Deps.Changed), here
// and, within configPoll, on the other servers sharing the database
// (configwatch.go).
type placeCache struct {
	mu  sync.Mutex       // guards m and gen
	m   map[string]place // by account
	gen uint64           // counts forget: a lookup across one is not kept
}

type place struct{ org, path string }

// of returns account's place, looking it up once.
func (c *placeCache) of(ctx context.Context, st orgs.PlaceStore, account string) (place, error) {
	c.mu.Lock()
	p, ok := c.m[account]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	org, path, err := orgs.Place(st)(ctx, account)
	if err != nil {
		return place{}, err
	}
	p = place{org, path}
	c.mu.Lock()
	if c.gen == gen {
		if c.m == nil {
			c.m = map[string]place{}
		}
		c.m[account] = p
	}
	c.mu.Unlock()
	return p, nil
}

// forget empties the cache after a change of an organization.
func (c *placeCache) forget() {
	c.mu.Lock()
	c.m = nil
	c.gen++
	c.mu.Unlock()
}

// principalEntity is the caller as policies see it: the user, with its
// account's organization (orgId) and place in it (orgPath,
// o-.../r-.../ou-.../) when it has one.
func (s *Server) principalEntity(ctx context.Context, c caller) (authz.Entity, error) {
	e := userEntity(c.User)
	p, err := s.places.of(ctx, s.store, c.Account)
	if err != nil {
		return authz.Entity{}, err
	}
	if p.org != "" {
		e.Attrs["orgId"], e.Attrs["orgPath"] = p.org, p.path
	}
	return e, nil
}
