package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authn"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/document"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/lazyregexp"
	"github.com/postern/postern/relay"
	"github.com/postern/postern/signin"
	"github.com/postern/postern/store"
)

// Signing in: a password buys a short-lived session token and a refresh
// token; the refresh token buys the next pair, once. Failed passwords
// lock the user out for a while and every source address is rate
// limited, so that guessing is slow whichever users it tries.

// RefreshTTL is how long a refresh token lasts unused.
const RefreshTTL = 30 * 24 * time.Hour

// How long a sign-in lasts, however often its tokens are refreshed
// (Config.SignInLifetime, Config.SSOSignInLifetime): then the user signs
// in again. A single sign-on's is short, so that someone removed at the
// identity provider loses access within it.
const (
	defaultSignInLifetime    = 30 * 24 * time.Hour
	defaultSSOSignInLifetime = 12 * time.Hour
)

// signInLifetime is how long a sign-in of u lasts.
func (s *Server) signInLifetime(u store.User) time.Duration {
	if u.Federated != "" {
		return s.cfg.SSOSignInLifetime
	}
	return s.cfg.SignInLifetime
}

// revokeUser ends everything the user holds: every token (session,
// refresh and API) and every live session they own, whose terminal says
// why. Called when an administrator changes their password or groups, or
// deletes them: what they were trusted with before must not outlive it.
func (s *Server) revokeUser(ctx context.Context, account, user, why string) error {
	n, err := s.store.RevokeUserTokens(ctx, account, user)
	if err != nil {
		return err
	}
	// Access keys too: credentials like tokens, and they never expire.
	keys, err := s.store.ListAccessKeys(ctx, account, user)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.store.DeleteAccessKey(ctx, account, user, k.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		n++
	}
	var ended []string
	for _, r := range s.relays.Select(ownedBy(account, user)) {
		if r.Ending() {
			continue // over already; the relay stays a while for its clients
		}
		r.Notice(fmt.Sprintf("[postern: %s: your access was revoked, and this session is ending]", why))
		r.Terminate(api.CodeUserRevoked)
		ended = append(ended, r.ID())
	}
	s.logf("server: %s/%s: %s: revoked %d tokens and access keys, ending sessions %v", account, user, why, n, ended)
	return nil
}

// ownedBy selects the relays of a user's sessions.
func ownedBy(account, user string) func(*relay.Relay) bool {
	return func(r *relay.Relay) bool { return r.Account() == account && r.Owner() == user }
}

// endRunAsSessions ends the user's live sessions that run as a run-as
// user their runAs attribute, just changed (why says how), no longer
// names (runAsStale), each terminal saying why. Their tokens stay: they
// carry no run-as user, and every request reads the user afresh, so the
// next session start is decided on with the new one.
//
// This follows Teleport, which decides on the logins a user's roles give
// at each connection, rather than Session Manager, which reads the
// SSMSessionRunAs tag at session start only: a run-as user is a
// privilege, and an administrator who narrows it must not leave shells
// running, or waiting to be resumed, with the old one.
func (s *Server) endRunAsSessions(account, user, runAs, why string) {
	var ended []string
	for _, r := range s.relays.Select(ownedBy(account, user)) {
		was := r.Session().Settings.RunAs
		if r.Ending() || !runAsStale(was, runAs) {
			continue // ended already, or the attribute does not apply
		}
		r.Notice(fmt.Sprintf("[postern: %s: this session runs as %s, and is ending]", why, was))
		r.Terminate(api.CodeRunAsChanged)
		ended = append(ended, r.ID())
	}
	s.logf("server: %s/%s: %s: ending sessions %v", account, user, why, ended)
}

// runAsStale reports whether a session started as run-as user was (""
// when run-as was off and the node's agent chose) runs as someone other
// than its owner's runAs attribute, now runAs, makes sessions run as.
// Never one on the node's default user: the attribute does not apply to
// it. When the attribute was removed, every session that ran as a run-as
// user is, even one whose runAsDefaultUser names the same user: the
// server does not plan the session anew to know.
func runAsStale(was, runAs string) bool { return was != "" && was != runAs }

// orNone shows an optional value in messages.
func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req api.LoginRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	u, err := s.checkPassword(r, req.Account, req.User, req.Password)
	if err != nil {
		return err
	}
	out, err := s.issueSession(r.Context(), u.Account, u.Name, s.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// checkPassword signs a user in with a password, within the source's
// budget and unless the user is locked out.
func (s *Server) checkPassword(r *http.Request, account, user, password string) (store.User, error) {
	now := s.now()
	if !s.logins.Allow(r.RemoteAddr, now) {
		e := errorf(http.StatusTooManyRequests, api.CodeTooManyRequests, "too many sign-in attempts from this address: wait a few seconds")
		e.RetryAfter = int(signin.Interval.Seconds())
		return store.User{}, e
	}
	if account == "" {
		account = store.DefaultAccount
	}
	if ai := auditOf(r); ai != nil {
		ai.account, ai.actor = account, ids.UserARN(account, user)
	}
	if until := s.logins.Locked(account, user, now); !until.IsZero() {
		// Spend the time of a check anyway: a locked user must not be
		// told apart by timing from a wrong password.
		authn.CheckPassword(dummyHash(), password)
		return store.User{}, errorf(http.StatusTooManyRequests, api.CodeLockedOut, "too many failed sign-ins for %s: try again after %s, or ask an administrator", clip(user), until.UTC().Format(time.RFC3339))
	}
	denied := errorf(http.StatusUnauthorized, api.CodeAuthenticationFailed, "wrong user name or password")
	u, err := s.store.GetUser(r.Context(), account, user)
	if errors.Is(err, store.ErrNotFound) {
		// Spend the same time as a real check, so response timing does
		// not reveal which users exist.
		authn.CheckPassword(dummyHash(), password)
		s.logins.Fail(account, user, now)
		return store.User{}, denied
	}
	if err != nil {
		return store.User{}, err
	}
	if u.PasswordHash == "" || authn.CheckPassword(u.PasswordHash, password) != nil {
		s.logins.Fail(account, user, now)
		return store.User{}, denied
	}
	s.logins.Succeed(account, user)
	return u, nil
}

// dummyHash is the hash checked when there is no real one to check, so that
// failing costs what succeeding costs. Computing it takes an argon2id run
// (tens of megabytes, tens of milliseconds): it is made on first use, not
// at package init, which every CLI command and the agent would pay; New
// makes it before the server answers, so that the first failed sign-in is
// not the slow one.
var dummyHash = sync.OnceValue(func() string {
	h, err := authn.HashPassword("postern-timing-equalizer")
	if err != nil {
		panic("server: hashing the timing equalizer: " + err.Error())
	}
	return h
})

// issueSession makes a session token and its refresh token, which share
// an ID (revoking one revokes both).
// signedIn is when the user proved who they are; refreshes carry it on.
func (s *Server) issueSession(ctx context.Context, account, user string, signedIn time.Time) (api.LoginResponse, error) {
	id := newTokenID()
	secret, exp, err := s.issueToken(ctx, store.Token{ID: id, Account: account, User: user, Kind: store.TokenSession, SignedInAt: signedIn}, s.cfg.TokenTTL)
	if err != nil {
		return api.LoginResponse{}, err
	}
	refresh, rexp, err := s.issueToken(ctx, store.Token{ID: id, Account: account, User: user, Kind: store.TokenRefresh, SignedInAt: signedIn}, RefreshTTL)
	if err != nil {
		return api.LoginResponse{}, err
	}
	return api.LoginResponse{Token: secret, ExpiresAt: exp, RefreshToken: refresh, RefreshExpiresAt: rexp, Account: account, User: user}, nil
}

// IssueToken creates a session token for a user (for `postern dev` and
// tests, which sign in without a password).
func (s *Server) IssueToken(ctx context.Context, account, user string, ttl time.Duration) (string, time.Time, error) {
	return s.issueToken(ctx, store.Token{ID: newTokenID(), Account: account, User: user, Kind: store.TokenSession}, ttl)
}

func (s *Server) issueToken(ctx context.Context, t store.Token, ttl time.Duration) (string, time.Time, error) {
	prefix := "pst_"
	if t.Kind == store.TokenRefresh {
		prefix = "psr_"
	}
	secret := authn.NewSecret(prefix)
	t.Hash, t.CreatedAt = authn.HashSecret(secret), s.now()
	if ttl > 0 {
		t.ExpiresAt = t.CreatedAt.Add(ttl)
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return "", time.Time{}, err
	}
	return secret, t.ExpiresAt, nil
}

func newTokenID() string {
	var b [8]byte
	rand.Read(b[:])
	return "tok-" + hex.EncodeToString(b[:])
}

// refresh trades a refresh token for a new session: the old pair is
// revoked, so a stolen refresh token works once, and its use by the thief
// ends the owner's session (who then signs in again).
func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	var req api.RefreshRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	t, err := s.store.GetToken(r.Context(), authn.HashSecret(req.RefreshToken), s.now())
	if errors.Is(err, store.ErrNotFound) || err == nil && t.Kind != store.TokenRefresh {
		return errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "the refresh token is unknown, expired, used or revoked: run `postern login` again")
	}
	if err != nil {
		return err
	}
	if ai := auditOf(r); ai != nil {
		ai.account, ai.actor = t.Account, ids.UserARN(t.Account, t.User)
	}
	if err := s.store.RevokeToken(r.Context(), t.Account, t.User, t.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) { // used concurrently
			return errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "the refresh token was just used: run `postern login` again")
		}
		return err
	}
	u, err := s.store.GetUser(r.Context(), t.Account, t.User)
	if err != nil {
		return errorf(http.StatusUnauthorized, api.CodeUnauthenticated, "user %s no longer exists", t.User)
	}
	signedIn := t.SignedInAt
	if signedIn.IsZero() {
		signedIn = t.CreatedAt // a token from before sign-ins had a lifetime
	}
	if life := s.signInLifetime(u); s.now().Sub(signedIn) > life {
		how := "a sign-in"
		if u.Federated != "" {
			how = "a single sign-on (the identity provider must vouch for you again)"
		}
		return errorf(http.StatusUnauthorized, api.CodeSignInExpired, "your sign-in of %s is older than %v, the longest %s lasts: run `postern login` again",
			signedIn.UTC().Format(time.RFC3339), life, how)
	}
	out, err := s.issueSession(r.Context(), t.Account, t.User, signedIn)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Users.

var groupName = lazyregexp.New(`^[a-z][a-z0-9_.-]{0,63}$`)

func checkGroups(groups []string) ([]string, error) {
	out := slices.Clone(groups)
	for _, g := range out {
		if !groupName.MatchString(g) {
			return nil, errorf(http.StatusBadRequest, api.CodeValidationError, "groups: %q must be 1–64 lowercase letters, digits, '_', '.' or '-', starting with a letter", g)
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

func apiUser(u store.User) api.User {
	return api.User{Name: u.Name, Admin: slices.Contains(u.Groups, authz.Administrators), Groups: u.Groups, RunAs: u.RunAs, Federated: u.Federated}
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	us, err := s.store.ListUsers(r.Context(), c.Account)
	if err != nil {
		return err
	}
	s.listing(r)
	out := []api.User{}
	for _, u := range us {
		if s.allowed(r, authz.DescribeUsers, userEntity(u)) {
			out = append(out, apiUser(u))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var req api.CreateUserRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	groups, err := checkGroups(req.Groups)
	if err != nil {
		return err
	}
	u := store.User{Account: c.Account, Name: req.Name, Groups: groups, RunAs: req.RunAs, CreatedAt: s.now()}
	if err := s.authorize(r, authz.CreateUser, userEntity(u)); err != nil {
		return err
	}
	if !ids.ValidUser(req.Name) {
		return errorf(http.StatusBadRequest, api.CodeValidationError, "name: %q is not a valid user name (%s)", req.Name, ids.UserRE)
	}
	if req.RunAs != "" {
		if err := document.ValidUserName(req.RunAs); err != nil {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "runAs: %v", err)
		}
	}
	if req.Password != "" {
		if len(req.Password) < 12 {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "password: at least 12 characters")
		}
		if u.PasswordHash, err = authn.HashPassword(req.Password); err != nil {
			return err
		}
	}
	if err := s.store.CreateUser(r.Context(), u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errorf(http.StatusConflict, api.CodeUserExists, "user %q already exists", req.Name)
		}
		return err
	}
	writeJSON(w, http.StatusOK, apiUser(u))
	return nil
}

// namedUser loads the user of the path's {name} in the caller's account
// and checks that the caller may perform action on it.
func (s *Server) namedUser(r *http.Request, action authz.Action) (store.User, error) {
	name := r.PathValue("name")
	u, err := s.store.GetUser(r.Context(), callerOf(r).Account, name)
	if errors.Is(err, store.ErrNotFound) {
		return u, errorf(http.StatusNotFound, api.CodeUserNotFound, "user %q does not exist", name)
	}
	if err != nil {
		return u, err
	}
	return u, s.authorize(r, action, userEntity(u))
}

// handleSetUserAttributes changes a user's runAs (the OS user their
// sessions run as when the preferences enable run-as, see planSession),
// groups or password. A user cannot change their own (a system policy),
// unless an administrator.
func (s *Server) handleSetUserAttributes(w http.ResponseWriter, r *http.Request) error {
	u, err := s.namedUser(r, authz.UpdateUser)
	if err != nil {
		return err
	}
	var req api.SetUserAttributesRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	c := callerOf(r)
	oldRunAs, oldGroups := u.RunAs, u.Groups
	if req.RunAs != nil {
		if *req.RunAs != "" {
			if err := document.ValidUserName(*req.RunAs); err != nil {
				return errorf(http.StatusBadRequest, api.CodeValidationError, "runAs: %v", err)
			}
		}
		u.RunAs = *req.RunAs
	}
	if u.RunAs != oldRunAs {
		// As for groups below: the user with its new run-as user must be
		// the caller's to change too, so that a policy on resource.runAs
		// restricts who may hand out which OS user. Cedar knows one
		// entity per UID: an administrator changing their own runAs is
		// asked about as the user they become, or the principal, as they
		// are, would stand for the resource too and hide the new value.
		dc := c
		if u.Name == c.User.Name {
			dc.User = u
		}
		d, err := s.decide(r.Context(), dc, authz.UpdateUser, userEntity(u))
		if err != nil {
			return err
		}
		if !d.Allowed {
			if ai := auditOf(r); ai != nil {
				ai.authz = string(authz.UpdateUser) + " " + d.Explain()
			}
			return errorf(http.StatusForbidden, api.CodeAccessDenied, "%s may not set user %s's runAs to %q: UpdateUser on the user with that runAs is %s", c.User.Name, u.Name, u.RunAs, d.Explain())
		}
	}
	if req.Groups != nil {
		if u.Groups, err = checkGroups(*req.Groups); err != nil {
			return err
		}
	}
	if req.Groups != nil {
		// Whoever may change the user must also be allowed to change
		// the user it becomes: no promoting past one's permissions.
		if err := s.authorize(r, authz.UpdateUser, userEntity(u)); err != nil {
			return err
		}
	}
	if req.Password != nil {
		u.PasswordHash = ""
		if *req.Password != "" {
			if len(*req.Password) < 12 {
				return errorf(http.StatusBadRequest, api.CodeValidationError, "password: at least 12 characters")
			}
			if u.PasswordHash, err = authn.HashPassword(*req.Password); err != nil {
				return err
			}
		}
	}
	if err := s.store.UpdateUser(r.Context(), u); err != nil {
		return err
	}
	var why []string
	if req.Password != nil {
		why = append(why, "password changed")
	}
	if !slices.Equal(oldGroups, u.Groups) {
		why = append(why, fmt.Sprintf("groups changed from %v to %v", oldGroups, u.Groups))
	}
	runAsChange := fmt.Sprintf("runAs changed from %s to %s", orNone(oldRunAs), orNone(u.RunAs))
	switch {
	case len(why) > 0:
		// Revocation ends every live session anyway.
		if u.RunAs != oldRunAs {
			why = append(why, runAsChange)
		}
		if err := s.revokeUser(r.Context(), u.Account, u.Name, fmt.Sprintf("user %s: %s by %s", u.Name, strings.Join(why, ", "), c.User.Name)); err != nil {
			return err
		}
	case u.RunAs != oldRunAs:
		s.endRunAsSessions(u.Account, u.Name, u.RunAs, fmt.Sprintf("user %s: %s by %s", u.Name, runAsChange, c.User.Name))
	}
	writeJSON(w, http.StatusOK, apiUser(u))
	return nil
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.namedUser(r, authz.DeleteUser)
	if err != nil {
		return err
	}
	if err := s.store.DeleteUser(r.Context(), u.Account, u.Name); err != nil {
		return err
	}
	if err := s.revokeUser(r.Context(), u.Account, u.Name, fmt.Sprintf("user %s deleted by %s", u.Name, callerOf(r).User.Name)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Tokens.

func apiToken(t store.Token) api.Token {
	return api.Token{ID: t.ID, Kind: t.Kind, Name: t.Name, Scopes: t.Scopes, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}
}

func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request) error {
	u, err := s.namedUser(r, authz.DescribeTokens)
	if err != nil {
		return err
	}
	ts, err := s.store.ListTokens(r.Context(), u.Account, u.Name, s.now())
	if err != nil {
		return err
	}
	out := []api.Token{}
	for _, t := range ts {
		if t.Kind != store.TokenRefresh { // the other half of a session
			out = append(out, apiToken(t))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) error {
	u, err := s.namedUser(r, authz.CreateToken)
	if err != nil {
		return err
	}
	var req api.CreateTokenRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Name == "" || len(req.Name) > 128 {
		return errorf(http.StatusBadRequest, api.CodeValidationError, "name: 1–128 characters saying what the token is for")
	}
	ttl := 30 * 24 * time.Hour
	if req.ExpiresIn != "" {
		d, err := parseDuration(req.ExpiresIn)
		if err != nil || d <= 0 || d > 365*24*time.Hour {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "expiresIn: %q must be a duration between 1s and 365d (e.g. 12h, 90d)", req.ExpiresIn)
		}
		ttl = d
	}
	var scopes []string
	for _, sc := range req.Scopes {
		a, err := authz.ParseAction(sc)
		if err != nil {
			return errorf(http.StatusBadRequest, api.CodeValidationError, "scopes: %q is not an action (e.g. DescribeSessions, QueryLogs)", sc)
		}
		scopes = append(scopes, string(a))
	}
	// A token made with a scoped token is scoped at least as narrowly.
	if c := callerOf(r); len(c.Token.Scopes) > 0 {
		if len(scopes) == 0 {
			scopes = c.Token.Scopes
		}
		for _, sc := range scopes {
			if !slices.Contains(c.Token.Scopes, sc) {
				return errorf(http.StatusForbidden, api.CodeAccessDenied, "scope %s is wider than this token's %v", sc, c.Token.Scopes)
			}
		}
	}
	sort.Strings(scopes)
	t := store.Token{ID: newTokenID(), Account: u.Account, User: u.Name, Kind: store.TokenAPI, Name: req.Name, Scopes: slices.Compact(scopes)}
	secret, exp, err := s.issueToken(r.Context(), t, ttl)
	if err != nil {
		return err
	}
	t.CreatedAt, t.ExpiresAt = s.now(), exp
	out := apiToken(t)
	out.Secret = secret
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) error {
	u, err := s.namedUser(r, authz.RevokeToken)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.store.RevokeToken(r.Context(), u.Account, u.Name, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, api.CodeTokenNotFound, "%s has no token %q", u.Name, id)
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listing marks a request whose answer is filtered item by item with
// s.allowed: that filter is its authorization, even when there is
// nothing to filter.
func (s *Server) listing(r *http.Request) {
	callerOf(r).Checked()
}
