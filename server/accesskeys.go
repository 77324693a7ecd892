package server

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/orgs"
	"github.com/postern/postern/sigv4"
	"github.com/postern/postern/store"
)

// maxAccessKeys is how many access keys a user may have at once, as in
// AWS IAM: enough to rotate one without a gap.
const maxAccessKeys = 2

// newAccessKey makes an access key ID in AWS's form (AKIA and 16 of
// A-Z2-7) and a 40-character secret.
func newAccessKey() (id, secret string) {
	var b [10]byte
	rand.Read(b[:])
	id = "AKIA" + base32.StdEncoding.EncodeToString(b[:])
	var sb [30]byte
	rand.Read(sb[:])
	return id, base64.StdEncoding.EncodeToString(sb[:])
}

// accessKeyAAD binds a sealed secret to its key and user.
func accessKeyAAD(k store.AccessKey) []byte {
	return []byte("access key " + k.Account + "/" + k.User + "/" + k.ID)
}

func (s *Server) handleCreateAccessKey(w http.ResponseWriter, r *http.Request) error {
	u, err := s.namedUser(r, authz.CreateToken)
	if err != nil {
		return err
	}
	c := callerOf(r)
	if len(c.Token.Scopes) > 0 {
		// It would carry every permission of its user.
		return errorf(http.StatusForbidden, api.CodeAccessDenied, "token %s is scoped (%v): an access key carries all of its user's permissions, so it is made with an unscoped sign-in", c.Token.ID, c.Token.Scopes)
	}
	if u.Federated != "" {
		// Its sign-in lasts hours (ssoSignInLifetime); a key would not end.
		return errorf(http.StatusForbidden, api.CodeAccessDenied, "%s signs in with single sign-on, whose sign-ins end; an access key would not: single sign-on users get none", u.Name)
	}
	if _, _, assumed := orgs.AssumedBy(c.Token); assumed {
		// It would outlive the role's session, which is short on purpose.
		return errorf(http.StatusForbidden, api.CodeAccessDenied, "an assumed role's session cannot make access keys: they would outlive it")
	}
	if s.cfg.Keys == nil {
		return errorf(http.StatusServiceUnavailable, api.CodeNoKeyService, "this server has no key service to keep access keys' secrets sealed")
	}
	ks, err := s.store.ListAccessKeys(r.Context(), u.Account, u.Name)
	if err != nil {
		return err
	}
	if len(ks) >= maxAccessKeys {
		return errorf(http.StatusConflict, api.CodeLimitExceededException, "%s has %d access keys already, the most a user may have: delete one first (postern access-keys delete ID)", u.Name, len(ks))
	}
	id, secret := newAccessKey()
	k := store.AccessKey{ID: id, Account: u.Account, User: u.Name, CreatedAt: s.now()}
	k.SealedSecret = s.cfg.Keys.SealSecret([]byte(secret), accessKeyAAD(k))
	if err := s.store.CreateAccessKey(r.Context(), k); err != nil {
		return err
	}
	s.logf("server: %s made access key %s for %s", callerOf(r).User.Name, id, u.Name)
	writeJSON(w, http.StatusOK, api.AccessKey{AccessKeyID: id, User: u.Name, CreatedAt: k.CreatedAt, SecretAccessKey: secret})
	return nil
}

func (s *Server) handleListAccessKeys(w http.ResponseWriter, r *http.Request) error {
	u, err := s.namedUser(r, authz.DescribeTokens)
	if err != nil {
		return err
	}
	ks, err := s.store.ListAccessKeys(r.Context(), u.Account, u.Name)
	if err != nil {
		return err
	}
	out := []api.AccessKey{}
	for _, k := range ks {
		out = append(out, api.AccessKey{AccessKeyID: k.ID, User: k.User, CreatedAt: k.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleDeleteAccessKey(w http.ResponseWriter, r *http.Request) error {
	u, err := s.namedUser(r, authz.RevokeToken)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.store.DeleteAccessKey(r.Context(), u.Account, u.Name, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, api.CodeAccessKeyNotFound, "%s has no access key %q", u.Name, id)
		}
		return err
	}
	s.logf("server: %s deleted access key %s of %s", callerOf(r).User.Name, id, u.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// accessKeyCaller is sigv4's Lookup: an access key's secret and the
// caller it stands for (its user, now: a user deleted or changed since
// the key was made counts as the user is).
func (s *Server) accessKeyCaller(ctx context.Context) sigv4.Lookup[caller] {
	return func(id string) (string, caller, error) {
		k, u, err := s.accessKeyUser(ctx, id)
		if err != nil {
			return "", caller{}, err
		}
		if s.cfg.Keys == nil {
			return "", caller{}, errors.New("this server has no key service to open access keys' secrets")
		}
		secret, err := s.cfg.Keys.OpenSecret(k.SealedSecret, accessKeyAAD(k))
		if err != nil {
			return "", caller{}, err
		}
		return string(secret), caller{Account: k.Account, User: u, Token: store.Token{ID: k.ID, Account: k.Account, User: k.User, Kind: "AccessKey"}}, nil
	}
}

// accessKeyUser returns access key id and its user, as they are now, or
// sigv4.ErrUnknownKey if either is gone.
func (s *Server) accessKeyUser(ctx context.Context, id string) (store.AccessKey, store.User, error) {
	k, err := s.store.GetAccessKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return k, store.User{}, sigv4.ErrUnknownKey
	}
	if err != nil {
		return k, store.User{}, err
	}
	u, err := s.store.GetUser(ctx, k.Account, k.User)
	if errors.Is(err, store.ErrNotFound) {
		return k, u, sigv4.ErrUnknownKey
	}
	return k, u, err
}
