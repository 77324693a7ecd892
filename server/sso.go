package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/postern/postern/ids"
	"github.com/postern/postern/sso"
	"github.com/postern/postern/store"
)

// Single sign-on: users of an OpenID Connect provider sign in through
// package sso's routes; issueSSO maps the identity they bring to a Postern
// user and gives them a session as a password sign-in does.

// ssoRoutes are the public routes of single sign-on, when it is
// configured.
func (s *Server) ssoRoutes() []route {
	if s.cfg.SSO == nil {
		return nil
	}
	rt := &sso.Routes[ssoUser]{Provider: s.cfg.SSO, Handoffs: s.ssoHandoffs, Issue: s.issueSSO, Redeem: s.redeemSSO, Logf: s.logf}
	return []route{
		{Pattern: "GET " + sso.PathStart, Public: "starts a sign-in at the identity provider", Open: rt.Start},
		{Pattern: "GET " + sso.PathCallback, Public: "authenticated by the identity provider's ID token (signature, issuer, audience, nonce), for the browser that started the sign-in (its binding cookie)", Open: rt.Callback},
		{Pattern: "POST " + sso.PathExchange, Public: "authenticated by a single-use hand-off code and the code verifier of the client that started the sign-in", Open: rt.Exchange},
	}
}

// issueSSO finds the user an identity belongs to, by issuer and subject
// only (never by a name the provider lets people choose): new identities
// become users of the default account named after their username, in the
// groups the provider's claims map to, and returning ones get those
// groups again, so that a change at the provider applies at the next
// sign-in.
// ssoUser is who a single sign-on hand-off code stands for. The tokens
// are made only when the code is redeemed, by the CLI (redeemSSO) or the
// web console (its own cookie session), so neither mints the other's.
type ssoUser struct{ Account, User string }

func (s *Server) issueSSO(ctx context.Context, id sso.Identity) (ssoUser, error) {
	account := store.DefaultAccount
	federated := id.Issuer + " " + id.Subject
	u, err := s.store.FederatedUser(ctx, account, federated)
	switch {
	case errors.Is(err, store.ErrNotFound):
		u = store.User{Account: account, Name: id.Username, Groups: id.Groups, Federated: federated, CreatedAt: s.now()}
		if err := s.store.CreateUser(ctx, u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return ssoUser{}, fmt.Errorf("a Postern user named %s already exists and is not linked to your identity at %s: ask an administrator", id.Username, id.Issuer)
			}
			s.logf("server: single sign-on: creating user %s: %v", id.Username, err)
			return ssoUser{}, errors.New("internal error; see the server log")
		}
		s.logf("server: single sign-on: created user %s (%s) in groups %v", u.Name, federated, u.Groups)
	case err != nil:
		s.logf("server: single sign-on: %v", err)
		return ssoUser{}, errors.New("internal error; see the server log")
	case !slices.Equal(u.Groups, id.Groups):
		old := u.Groups
		u.Groups = id.Groups
		if err := s.store.UpdateUser(ctx, u); err != nil {
			s.logf("server: single sign-on: updating user %s: %v", u.Name, err)
			return ssoUser{}, errors.New("internal error; see the server log")
		}
		// As an administrator's change of groups does: what was signed
		// in with the old groups goes (the new sign-in's tokens come
		// after this).
		if err := s.revokeUser(ctx, account, u.Name, fmt.Sprintf("user %s: groups changed at the identity provider, from %v to %v", u.Name, old, u.Groups)); err != nil {
			s.logf("server: single sign-on: revoking user %s's earlier sign-ins: %v", u.Name, err)
			return ssoUser{}, errors.New("internal error; see the server log")
		}
	}
	s.appendAudit(ctx, store.AuditRecord{Account: account, Actor: ids.UserARN(account, u.Name), Action: "SignIn", Resource: federated, Result: "Allowed", Detail: fmt.Sprintf("single sign-on, groups %v", u.Groups)})
	return ssoUser{Account: account, User: u.Name}, nil
}

// redeemSSO gives the CLI that redeemed a hand-off code its session.
func (s *Server) redeemSSO(ctx context.Context, u ssoUser) (any, error) {
	out, err := s.issueSession(ctx, u.Account, u.User, s.now())
	if err != nil {
		s.logf("server: single sign-on: %v", err)
		return nil, errors.New("internal error; see the server log")
	}
	return out, nil
}
