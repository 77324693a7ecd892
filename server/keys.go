package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/rollout"
	"github.com/postern/postern/stacktemplate"
)

// The key service's API: KMS's key management for the built-in key service
// (package keys). Key references hold slashes (alias/x), so they go in the
// request body; actions are POST PathKeys/{action}, as KMS's are calls.

// KeyService is what the server needs of the key service.
type KeyService interface {
	SealingKeys
	Create(ctx context.Context, account string, o keys.CreateOptions) (keys.Key, error)
	Describe(ctx context.Context, c keys.Caller, ref string) (keys.Key, error)
	SetAlias(ctx context.Context, c keys.Caller, name, ref string) error
	List(ctx context.Context, account string) ([]keys.Key, error)
	DeleteAlias(ctx context.Context, c keys.Caller, name string) error
	Enable(ctx context.Context, c keys.Caller, ref string) error
	Disable(ctx context.Context, c keys.Caller, ref string) error
	ScheduleDeletion(ctx context.Context, c keys.Caller, ref string, days int) (time.Time, error)
	CancelDeletion(ctx context.Context, c keys.Caller, ref string) error
	Rotate(ctx context.Context, c keys.Caller, ref string) (keys.Key, error)
	SetPolicy(ctx context.Context, c keys.Caller, ref, policy string) error
	SetDescription(ctx context.Context, c keys.Caller, ref, description string) error
	SetRotation(ctx context.Context, c keys.Caller, ref string, period time.Duration) error
	KeyOf(ctx context.Context, account, ref string) (keyAccount, id string, err error)
	RunDue(ctx context.Context) (rotated, destroyed []string, err error)
	// SealSecret and OpenSecret keep secrets the server itself needs
	// (access keys') sealed in the store.
	SealSecret(secret, aad []byte) []byte
	OpenSecret(sealed, aad []byte) ([]byte, error)
}

func (s *Server) keyService() (KeyService, error) {
	if s.cfg.Keys == nil {
		return nil, errorf(http.StatusNotFound, api.CodeNoKeyService, "this server has no key service")
	}
	return s.cfg.Keys, nil
}

// keyCaller is the caller as the key service sees it. A key policy
// statement for the account root delegates to the account's Cedar
// policies, as KMS's does to IAM: kms:Decrypt, kms:Encrypt and
// kms:GenerateDataKey* are UseKey, kms:DescribeKey is DescribeKeys, the
// rest ManageKey; each with the KMS operation as context.operation.
func (s *Server) keyCaller(ctx context.Context, c caller) keys.Caller {
	kc := keys.UserCaller(c.Account, c.User.Name, false)
	kc.Delegate = func(keyID, op string) bool {
		action := authz.ManageKey
		switch {
		case op == "kms:Decrypt" || op == "kms:Encrypt" || strings.HasPrefix(op, "kms:GenerateDataKey"):
			action = authz.UseKey
		case op == "kms:DescribeKey":
			action = authz.DescribeKeys
		}
		d, err := s.decide(ctx, c, action, authz.Named("Key", c.Account, keyID), withContext("operation", op))
		if err != nil {
			s.logf("server: authorization of %s on key %s: %v", action, keyID, err)
			return false
		}
		return d.Allowed
	}
	return kc
}

// keyError turns the key service's errors into API errors, with KMS's
// exception names.
func keyError(err error) error {
	switch {
	case errors.Is(err, keys.ErrNotFound):
		return errorf(http.StatusNotFound, api.CodeNotFoundException, "%v", err)
	case errors.Is(err, keys.ErrInvalidState):
		return errorf(http.StatusConflict, api.CodeKMSInvalidStateException, "%v", err)
	case errors.Is(err, keys.ErrInvalid):
		return errorf(http.StatusBadRequest, api.CodeValidationException, "%v", err)
	case errors.Is(err, keys.ErrAccessDenied):
		return errorf(http.StatusForbidden, api.CodeAccessDeniedException, "%v", err)
	}
	return err
}

func apiKey(k keys.Key) api.Key {
	return api.Key{
		KeyID: k.ID, ARN: k.ARN, Aliases: k.Aliases, Description: k.Description, KeyState: k.State,
		DeletionDate: k.DeletionDate, RotationPeriodDays: int(k.RotationPeriod / (24 * time.Hour)),
		NextRotationDate: k.NextRotation, Versions: k.Versions, CreationDate: k.CreatedAt,
	}
}

func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request) error {
	ks, err := s.keyService()
	if err != nil {
		return err
	}
	list, err := ks.List(r.Context(), callerOf(r).Account)
	if err != nil {
		return keyError(err)
	}
	s.listing(r)
	out := make([]api.Key, 0, len(list))
	for _, k := range list {
		if s.allowed(r, authz.DescribeKeys, authz.Named("Key", k.Account, k.ID)) {
			out = append(out, apiKey(k))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := s.authorize(r, authz.CreateKey, accountEntity(c)); err != nil {
		return err
	}
	ks, err := s.keyService()
	if err != nil {
		return err
	}
	var req api.CreateKeyRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	period := time.Duration(req.RotationPeriodDays) * 24 * time.Hour
	if req.RotationPeriodDays < 0 {
		period = -1
	}
	k, err := ks.Create(r.Context(), c.Account, keys.CreateOptions{Description: req.Description, Policy: req.Policy, RotationPeriod: period})
	if err != nil {
		return keyError(err)
	}
	writeJSON(w, http.StatusCreated, apiKey(k))
	return nil
}

// handleKeyAction runs one of KMS's calls on a key and answers with the
// key as it is after.
func (s *Server) handleKeyAction(w http.ResponseWriter, r *http.Request) error {
	ks, err := s.keyService()
	if err != nil {
		return err
	}
	var req api.KeyRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	// Each call is authorized by the key's policy, which delegates to
	// the account's policies where it names the account root.
	s.listing(r)
	ctx, c := r.Context(), s.keyCaller(r.Context(), callerOf(r))
	ref := req.KeyID
	if err := s.refuseProtectedKey(ctx, ks, c.Account, r.PathValue("action"), req); err != nil {
		return err
	}
	switch action := r.PathValue("action"); action {
	case "describe":
		k, err := ks.Describe(ctx, c, ref)
		if err != nil {
			return keyError(err)
		}
		out := apiKey(k)
		out.Policy = k.Policy
		writeJSON(w, http.StatusOK, out)
		return nil
	case "alias":
		err = ks.SetAlias(ctx, c, req.AliasName, ref)
		ref = req.AliasName
	case "delete-alias":
		err = ks.DeleteAlias(ctx, c, req.AliasName)
		if err == nil {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	case "enable":
		err = ks.Enable(ctx, c, ref)
	case "disable":
		err = ks.Disable(ctx, c, ref)
	case "schedule-deletion":
		_, err = ks.ScheduleDeletion(ctx, c, ref, req.PendingWindowInDays)
	case "cancel-deletion":
		err = ks.CancelDeletion(ctx, c, ref)
	case "rotate":
		_, err = ks.Rotate(ctx, c, ref)
	case "put-policy":
		err = ks.SetPolicy(ctx, c, ref, req.Policy)
	default:
		return errorf(http.StatusNotFound, api.CodeUnknownOperation, "no key action %q: want describe, alias, delete-alias, enable, disable, schedule-deletion, cancel-deletion, rotate or put-policy", action)
	}
	if err != nil {
		return keyError(err)
	}
	k, err := ks.Describe(ctx, c, ref)
	if err != nil {
		return keyError(err)
	}
	switch action := r.PathValue("action"); action {
	case "enable", "disable", "schedule-deletion", "cancel-deletion", "rotate":
		s.keyEvent(ctx, k, action, actorARN(callerOf(r)))
	}
	writeJSON(w, http.StatusOK, apiKey(k))
	return nil
}

// refuseProtectedKey refuses the key actions that change a key or alias a
// stack set protects (its policy, its state, where the alias points);
// describing and rotating one change nothing a template says.
func (s *Server) refuseProtectedKey(ctx context.Context, ks KeyService, account, action string, req api.KeyRequest) error {
	switch action {
	case "alias", "delete-alias":
		return s.refuseProtected(ctx, account, stacktemplate.TypeAlias, req.AliasName)
	case "put-policy", "enable", "disable", "schedule-deletion", "cancel-deletion":
		keyAccount, id, err := ks.KeyOf(ctx, account, req.KeyID)
		if err != nil {
			return nil // the action itself says what is wrong with the reference
		}
		if keyAccount == account {
			return s.refuseProtected(ctx, account, stacktemplate.TypeKey, id)
		}
		// Another account's key, by its ARN: protected there too, but
		// which stack set protects it is that account's business.
		p, err := rollout.Protection(s.store)(ctx, keyAccount, stacktemplate.TypeKey, id)
		if err != nil || p == nil {
			return err
		}
		return errorf(http.StatusForbidden, api.CodeProtectedByStackSet, "key %s is protected by a stack set of its account's organization: it is changed only by the stack set", clip(req.KeyID))
	}
	return nil
}

// runKeys rotates and destroys keys when due, every interval until the
// server stops.
func (s *Server) runKeys(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rotated, destroyed, err := s.cfg.Keys.RunDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.logf("server: keys: %v", err)
		}
		for _, k := range rotated {
			s.logf("server: keys: rotated %s", k)
		}
		for _, k := range destroyed {
			s.logf("server: keys: destroyed %s after its waiting period: what it protected is unreadable", k)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// keysEvery is how often due rotations and deletions run.
const keysEvery = time.Hour
