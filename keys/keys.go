// Package keys is Postern's built-in key service: symmetric keys with AWS
// KMS's semantics (ids, aliases, enable and disable, deletion after a
// waiting period, yearly rotation that keeps old versions for decryption),
// and the data keys envelope encryption takes from them (GenerateDataKey,
// Decrypt) bound to an encryption context.
//
// Key material lives in the metadata store, each version encrypted under a
// root key (AES-256-GCM), which is a file created with 0600 permissions on
// first start or a value from the environment, and is never logged. The
// store keeps a check value sealed with the root key, so that a server
// started with a wrong or missing root key refuses to start instead of
// wrapping new keys with another one.
package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/postern/postern/ids"
	"github.com/postern/postern/store"
)

// Errors callers branch on; they come wrapped, so test with errors.Is.
var (
	ErrNotFound = errors.New("keys: not found")
	// ErrInvalidState is a key that is disabled or pending deletion
	// being used, or a change its state does not allow (KMS's
	// KMSInvalidStateException).
	ErrInvalidState = errors.New("keys: invalid key state")
	// ErrInvalid is a malformed argument; the error says which.
	ErrInvalid = errors.New("keys: invalid")
	// ErrDecrypt is a ciphertext that does not authenticate: tampered,
	// truncated, or given with another encryption context or account.
	ErrDecrypt = errors.New("keys: decryption failed: the ciphertext was altered or the encryption context differs")
	// ErrRootKey is a root key that does not match the database.
	ErrRootKey = errors.New("keys: wrong root key")
	// ErrAccessDenied is a request the key's policy does not allow.
	ErrAccessDenied = errors.New("keys: access denied")
)

// RootKeyEnv is the environment variable that may hold the root key, as
// base64 of 32 bytes, instead of the key file.
const RootKeyEnv = "POSTERN_ROOT_KEY"

const (
	// DefaultRotationPeriod is how often keys get a new version unless
	// created otherwise: AWS KMS's yearly automatic rotation.
	DefaultRotationPeriod = 365 * 24 * time.Hour
	// MinDeletionDays and MaxDeletionDays bound the waiting period of a
	// scheduled deletion, as in KMS; DefaultDeletionDays is KMS's default.
	MinDeletionDays     = 7
	MaxDeletionDays     = 30
	DefaultDeletionDays = 30
)

// Store is what the key service needs of the metadata store.
type Store interface {
	CreateKey(ctx context.Context, k store.Key) error
	GetKey(ctx context.Context, account, id string) (store.Key, error)
	ListKeys(ctx context.Context, account string) ([]store.Key, error)
	DueKeys(ctx context.Context, now time.Time) ([]store.Key, error)
	UpdateKey(ctx context.Context, k store.Key) error
	AddKeyVersion(ctx context.Context, account, id string, v store.KeyVersion, nextRotation time.Time) error
	DestroyKey(ctx context.Context, account, id string) error
	PutAlias(ctx context.Context, a store.KeyAlias) error
	GetAlias(ctx context.Context, account, name string) (store.KeyAlias, error)
	ListAliases(ctx context.Context, account string) ([]store.KeyAlias, error)
	DeleteAlias(ctx context.Context, account, name string) error
	RootKeyCheck(ctx context.Context) ([]byte, error)
	SetRootKeyCheck(ctx context.Context, check []byte) error
}

// Service is the built-in key service of one server. It is safe for
// concurrent use.
type Service struct {
	st   Store
	root cipher.AEAD
	now  func() time.Time
	rand io.Reader
	// defaultMu serializes making accounts' default keys.
	defaultMu sync.Mutex
	ext       External    // nil: no keys outside Postern
	extAll    bool        // every reference goes to ext
	auditKey  []byte      // see AuditKey
	secrets   cipher.AEAD // see SealSecret
	// place finds an account's organization (Options.Place); nil:
	// accounts belong to none.
	place func(ctx context.Context, account string) (org, path string, err error)
}

// AuditKey is the key of the audit trail's chain (package audit), derived
// from the root key: whoever can write the database without holding the
// root key cannot forge the trail.
func (s *Service) AuditKey() []byte { return s.auditKey }

// SealSecret encrypts a secret the server must keep readable for itself
// (an access key's, which both sides of a Signature Version 4 sign
// with), under a key derived from the root key, bound to aad: a copy of
// the database alone does not give it away, and a sealed secret moved to
// another row does not open.
func (s *Service) SealSecret(secret, aad []byte) []byte { return s.seal(s.secrets, secret, aad) }

// OpenSecret decrypts what SealSecret sealed with the same aad.
func (s *Service) OpenSecret(sealed, aad []byte) ([]byte, error) { return open(s.secrets, sealed, aad) }

// External is a key service outside Postern, AWS KMS (package awskms), for
// the kmsKeyId values that name its keys: ARNs "arn:aws:kms:...", or every
// reference when Options.ExternalAll is set. AWS evaluates its own key
// policies, with the server's AWS identity.
type External interface {
	GenerateDataKey(ctx context.Context, keyID string, ec map[string]string) (plaintext, blob []byte, keyARN string, err error)
	Decrypt(ctx context.Context, blob []byte, ec map[string]string) (plaintext []byte, keyARN string, err error)
}

// Options are a Service's dependencies; the zero value is usable.
type Options struct {
	Now  func() time.Time // nil: time.Now
	Rand io.Reader        // nil: crypto/rand
	// External serves the references to keys outside Postern (see
	// External); ExternalAll sends it every reference.
	External    External
	ExternalAll bool
	// Place, when set, says which organization an account belongs to
	// and where it sits in it (o-.../r-.../ou-.../): the values of the
	// aws:PrincipalOrgID, aws:PrincipalOrgPaths and aws:SourceOrgID
	// condition keys (package orgs's Place).
	Place func(ctx context.Context, account string) (org, path string, err error)
}

// Open returns the key service over st. The root key comes from RootKeyEnv
// if set, else from the file rootKeyFile, which is created when missing,
// but only for a database that has never had a root key: otherwise its
// keys would become unreadable, and Open fails without changing anything.
func Open(ctx context.Context, st Store, rootKeyFile string, opts Options) (*Service, error) {
	s := &Service{st: st, now: opts.Now, rand: opts.Rand, ext: opts.External, extAll: opts.ExternalAll, place: opts.Place}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	check, err := st.RootKeyCheck(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: open: %w", err)
	}
	root, err := loadRootKey(rootKeyFile, check != nil, s.rand)
	if err != nil {
		return nil, err
	}
	if s.root, err = newGCM(root); err != nil {
		return nil, err
	}
	if s.auditKey, err = hkdf.Key(sha256.New, root, nil, "postern audit chain", 32); err != nil {
		return nil, err
	}
	secretsKey, err := hkdf.Key(sha256.New, root, nil, "postern stored secrets", 32)
	if err != nil {
		return nil, err
	}
	if s.secrets, err = newGCM(secretsKey); err != nil {
		return nil, err
	}
	if check == nil {
		check = s.seal(s.root, []byte(rootCheckText), []byte(rootCheckAAD))
		if err := st.SetRootKeyCheck(ctx, check); err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("keys: open: %w", err)
		}
		// Another server may have set it first: check against what is
		// stored either way.
		if check, err = st.RootKeyCheck(ctx); err != nil {
			return nil, fmt.Errorf("keys: open: %w", err)
		}
	}
	if pt, err := open(s.root, check, []byte(rootCheckAAD)); err != nil || string(pt) != rootCheckText {
		return nil, fmt.Errorf("%w: the root key (%s) is not the one this database's keys are wrapped with; start with the right key file or %s (nothing was changed)",
			ErrRootKey, rootKeySource(rootKeyFile), RootKeyEnv)
	}
	return s, nil
}

const (
	rootCheckText = "postern root key check v1"
	rootCheckAAD  = "postern/root-key-check"
)

func rootKeySource(file string) string {
	if os.Getenv(RootKeyEnv) != "" {
		return "from " + RootKeyEnv
	}
	return "file " + file
}

// loadRootKey reads the root key, creating the file if allowed.
func loadRootKey(file string, mustExist bool, rnd io.Reader) ([]byte, error) {
	if v := os.Getenv(RootKeyEnv); v != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%w: %s must be the base64 of 32 bytes", ErrRootKey, RootKeyEnv)
		}
		return k, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		if mustExist {
			return nil, fmt.Errorf("%w: the root key file %s is missing, but this database holds keys wrapped by a root key: restore the file or set %s (nothing was changed)",
				ErrRootKey, file, RootKeyEnv)
		}
		return createRootKey(file, rnd)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: read root key: %w", err)
	}
	if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: the root key file %s is readable by others (mode %v): chmod 600 it", ErrRootKey, file, fi.Mode().Perm())
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("%w: the root key file %s does not hold the base64 of 32 bytes", ErrRootKey, file)
	}
	return k, nil
}

func createRootKey(file string, rnd io.Reader) ([]byte, error) {
	k := make([]byte, 32)
	if _, err := io.ReadFull(rnd, k); err != nil {
		return nil, fmt.Errorf("keys: create root key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("keys: create root key: %w", err)
	}
	// O_EXCL: never overwrite a key file another process just wrote.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keys: create root key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return nil, fmt.Errorf("keys: create root key: %w", err)
	}
	return k, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return cipher.NewGCM(b)
}

// seal encrypts pt under a with a random nonce, which it puts first.
func (s *Service) seal(a cipher.AEAD, pt, aad []byte) []byte {
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(pt)+a.Overhead())
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		// crypto/rand does not fail on supported platforms; an injected
		// reader that does is a test's bug.
		panic(fmt.Sprintf("keys: random nonce: %v", err))
	}
	return a.Seal(nonce, nonce, pt, aad)
}

func open(a cipher.AEAD, ct, aad []byte) ([]byte, error) {
	if len(ct) < a.NonceSize()+a.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := a.Open(nil, ct[:a.NonceSize()], ct[a.NonceSize():], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Key is a key as the service describes it: no material.
type Key struct {
	Account        string
	ID             string
	ARN            string
	Aliases        []string
	Description    string
	State          string // store.KeyEnabled, KeyDisabled, KeyPendingDeletion
	DeletionDate   time.Time
	Policy         string
	RotationPeriod time.Duration // 0: no automatic rotation
	NextRotation   time.Time
	Versions       int
	CreatedAt      time.Time
}

// KeyARN is a key's resource name.
func KeyARN(account, id string) string { return ids.KeyARN(account, id) }

// CreateOptions are a new key's settings.
type CreateOptions struct {
	Description string
	// Policy is the key policy (see policy.go); empty gives the default,
	// which lets the account's administrators do everything.
	Policy string
	// RotationPeriod: 0 means DefaultRotationPeriod; negative, none.
	RotationPeriod time.Duration
	// ID, when set, is the new key's id (a lowercase UUID) instead of a
	// fresh one: a deployer that names a key before it exists (a stack
	// instance's key, which its template refers to by id) creates it
	// under that name. ErrConflict wrapped when the account has it.
	ID string
}

// ErrConflict is a key created with an ID the account already has.
var ErrConflict = errors.New("keys: a key with this id exists")

// ValidKeyID reports whether id has the form of a key id: a lowercase
// UUID, as the service makes them.
func ValidKeyID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && len(id) == 36 && u.String() == id
}

// Create makes a new enabled key with its first version. Who may create
// keys is the API's authorization to decide.
func (s *Service) Create(ctx context.Context, account string, o CreateOptions) (Key, error) {
	policy := o.Policy
	if policy == "" {
		policy = DefaultPolicy(account)
	}
	if _, err := ParsePolicy(policy); err != nil {
		return Key{}, err
	}
	period := o.RotationPeriod
	switch {
	case period == 0:
		period = DefaultRotationPeriod
	case period < 0:
		period = 0
	case period < 24*time.Hour:
		return Key{}, fmt.Errorf("%w: rotation period %v is under a day", ErrInvalid, period)
	}
	id := o.ID
	switch {
	case id == "":
		id = uuid.NewString()
	case !ValidKeyID(id):
		return Key{}, fmt.Errorf("%w: key id %q is not a lowercase UUID", ErrInvalid, id)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	k := store.Key{
		Account: account, ID: id, Description: o.Description, State: store.KeyEnabled,
		Policy: policy, RotationPeriod: period, CreatedAt: now,
	}
	if period > 0 {
		k.NextRotation = now.Add(period)
	}
	v, err := s.newVersion(k, 1, now)
	if err != nil {
		return Key{}, err
	}
	k.Versions = []store.KeyVersion{v}
	if err := s.st.CreateKey(ctx, k); errors.Is(err, store.ErrConflict) {
		return Key{}, fmt.Errorf("%w: %s", ErrConflict, KeyARN(account, id))
	} else if err != nil {
		return Key{}, fmt.Errorf("keys: create: %w", err)
	}
	return describe(k, nil), nil
}

// newVersion makes version n of k's material, wrapped by the root key.
func (s *Service) newVersion(k store.Key, n int, now time.Time) (store.KeyVersion, error) {
	material := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, material); err != nil {
		return store.KeyVersion{}, fmt.Errorf("keys: new key material: %w", err)
	}
	return store.KeyVersion{Version: n, Wrapped: s.seal(s.root, material, materialAAD(k.Account, k.ID, n)), CreatedAt: now}, nil
}

func materialAAD(account, id string, version int) []byte {
	return []byte("postern/key-material\x00" + account + "\x00" + id + "\x00" + strconv.Itoa(version))
}

func describe(k store.Key, aliases []store.KeyAlias) Key {
	d := Key{
		Account: k.Account, ID: k.ID, ARN: KeyARN(k.Account, k.ID), Description: k.Description, State: k.State,
		DeletionDate: k.DeletionDate, Policy: k.Policy, RotationPeriod: k.RotationPeriod, NextRotation: k.NextRotation,
		Versions: len(k.Versions), CreatedAt: k.CreatedAt,
	}
	for _, a := range aliases {
		if a.KeyID == k.ID {
			d.Aliases = append(d.Aliases, a.Name)
		}
	}
	return d
}

// resolve finds the key a reference names: a key id or an alias name
// ("alias/x") in the account, or a key ARN or alias ARN in the account it
// names, which may be another: as in KMS, a key of another account is
// used by its ARN, and only as its policy lets the caller.
func (s *Service) resolve(ctx context.Context, account, ref string) (store.Key, error) {
	id := ref
	if rest, ok := strings.CutPrefix(ref, "prn:"); ok {
		parts := strings.SplitN(rest, ":", 4) // postern, kms, ACCOUNT, key/ID or alias/NAME
		if len(parts) != 4 || parts[0] != "postern" || parts[1] != "kms" || !ids.ValidAccount(parts[2]) {
			return store.Key{}, fmt.Errorf("%w: %s is not a key or alias ARN (prn:postern:kms:ACCOUNT:key/ID)", ErrNotFound, ref)
		}
		account, id = parts[2], parts[3]
		if rest, ok := strings.CutPrefix(id, "key/"); ok {
			id = rest
		}
	}
	if strings.HasPrefix(id, "alias/") {
		a, err := s.st.GetAlias(ctx, account, id)
		if errors.Is(err, store.ErrNotFound) {
			return store.Key{}, fmt.Errorf("%w: alias %s", ErrNotFound, id)
		}
		if err != nil {
			return store.Key{}, fmt.Errorf("keys: %s: %w", ref, err)
		}
		id = a.KeyID
	}
	if id == "" {
		return store.Key{}, fmt.Errorf("%w: empty key id", ErrInvalid)
	}
	k, err := s.st.GetKey(ctx, account, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Key{}, fmt.Errorf("%w: key %s", ErrNotFound, ref)
	}
	if err != nil {
		return store.Key{}, fmt.Errorf("keys: %s: %w", ref, err)
	}
	return k, nil
}

// authorized resolves ref in the caller's account and checks that the key's
// policy lets the caller perform action with ec.
func (s *Service) authorized(ctx context.Context, c Caller, ref, action string, ec EncryptionContext) (store.Key, error) {
	k, err := s.resolve(ctx, c.Account, ref)
	if err != nil {
		return store.Key{}, err
	}
	if c, err = s.placed(ctx, c); err != nil {
		return store.Key{}, err
	}
	if err := checkPolicy(k, c, action, ec); err != nil {
		return store.Key{}, err
	}
	return k, nil
}

func checkPolicy(k store.Key, c Caller, action string, ec EncryptionContext) error {
	p, err := ParsePolicy(k.Policy)
	if err != nil {
		return fmt.Errorf("keys: key %s: stored %w", k.ID, err)
	}
	if !p.Allows(c.forKey(k.ID, action), action, ec) {
		who := c.ARN
		if c.Service != "" {
			who = "service " + c.Service
		}
		return fmt.Errorf("%w: %s may not %s with key %s (its key policy does not allow it)", ErrAccessDenied, who, action, KeyARN(k.Account, k.ID))
	}
	return nil
}

// placed fills in the caller's organization and place in it, for the
// condition keys that name them, unless the caller says them already.
func (s *Service) placed(ctx context.Context, c Caller) (Caller, error) {
	if s.place == nil || c.OrgID != "" {
		return c, nil
	}
	org, path, err := s.place(ctx, c.Account)
	if err != nil {
		return c, fmt.Errorf("keys: the organization of account %s: %w", c.Account, err)
	}
	c.OrgID, c.OrgPath = org, path
	return c, nil
}

// Authorize checks that the key ref names is enabled and that its policy
// lets c perform action with ec, without using the key: for reads of data
// the server decrypts on the caller's behalf (a log group's events). For a
// key outside Postern, whose policy AWS evaluates for the server alone, it
// checks the account's policies (see externalAllowed).
func (s *Service) Authorize(ctx context.Context, c Caller, ref, action string, ec EncryptionContext) error {
	if s.isExternal(ref) {
		return externalAllowed(c, ref, action)
	}
	k, err := s.authorized(ctx, c, ref, action, ec)
	if err != nil {
		return err
	}
	if k.State != store.KeyEnabled {
		return fmt.Errorf("%w: key %s is %s", ErrInvalidState, KeyARN(k.Account, k.ID), k.State)
	}
	return nil
}

// Describe returns the key ref names.
func (s *Service) Describe(ctx context.Context, c Caller, ref string) (Key, error) {
	k, err := s.authorized(ctx, c, ref, "kms:DescribeKey", nil)
	if err != nil {
		return Key{}, err
	}
	as, err := s.st.ListAliases(ctx, k.Account)
	if err != nil {
		return Key{}, fmt.Errorf("keys: describe %s: %w", ref, err)
	}
	return describe(k, as), nil
}

// List returns the account's keys, oldest first. Who may list them is the
// API's authorization to decide, as IAM decides kms:ListKeys.
func (s *Service) List(ctx context.Context, account string) ([]Key, error) {
	ks, err := s.st.ListKeys(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	as, err := s.st.ListAliases(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	out := make([]Key, len(ks))
	for i, k := range ks {
		out[i] = describe(k, as)
	}
	return out, nil
}

// SetAlias points the alias name ("alias/...") at the key ref names,
// creating the alias if needed.
func (s *Service) SetAlias(ctx context.Context, c Caller, name, ref string) error {
	if err := checkAlias(name); err != nil {
		return err
	}
	k, err := s.authorized(ctx, c, ref, "kms:CreateAlias", nil)
	if err != nil {
		return err
	}
	if err := s.st.PutAlias(ctx, store.KeyAlias{Account: c.Account, Name: name, KeyID: k.ID, CreatedAt: s.now().UTC()}); err != nil {
		return fmt.Errorf("keys: alias %s: %w", name, err)
	}
	return nil
}

// DeleteAlias removes an alias; the key stays.
func (s *Service) DeleteAlias(ctx context.Context, c Caller, name string) error {
	if _, err := s.authorized(ctx, c, name, "kms:DeleteAlias", nil); err != nil {
		return err
	}
	if err := s.st.DeleteAlias(ctx, c.Account, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: alias %s", ErrNotFound, name)
		}
		return fmt.Errorf("keys: delete alias %s: %w", name, err)
	}
	return nil
}

// checkAlias applies KMS's alias rules: "alias/" then 1-250 characters of
// [A-Za-z0-9/_-], and not "alias/aws/", which KMS reserves.
func checkAlias(name string) error {
	rest, ok := strings.CutPrefix(name, "alias/")
	if !ok || rest == "" || len(rest) > 250 || strings.HasPrefix(rest, "aws/") ||
		strings.ContainsFunc(rest, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '/' || r == '_' || r == '-')
		}) {
		return fmt.Errorf("%w: alias %q: want alias/ then 1-250 of A-Z a-z 0-9 / _ - (not alias/aws/...)", ErrInvalid, name)
	}
	return nil
}

// update loads the key ref names, lets change modify it, and stores it.
func (s *Service) update(ctx context.Context, c Caller, ref, action string, change func(k *store.Key) error) (Key, error) {
	k, err := s.authorized(ctx, c, ref, action, nil)
	if err != nil {
		return Key{}, err
	}
	if err := change(&k); err != nil {
		return Key{}, fmt.Errorf("key %s: %w", k.ID, err)
	}
	if err := s.st.UpdateKey(ctx, k); err != nil {
		return Key{}, fmt.Errorf("keys: update %s: %w", k.ID, err)
	}
	return describe(k, nil), nil
}

// Disable stops a key from encrypting and decrypting until Enable.
func (s *Service) Disable(ctx context.Context, c Caller, ref string) error {
	return s.setState(ctx, c, ref, "kms:DisableKey", store.KeyDisabled)
}

// Enable makes a disabled key usable again.
func (s *Service) Enable(ctx context.Context, c Caller, ref string) error {
	return s.setState(ctx, c, ref, "kms:EnableKey", store.KeyEnabled)
}

// setState enables or disables a key that is not pending deletion.
func (s *Service) setState(ctx context.Context, c Caller, ref, action, state string) error {
	_, err := s.update(ctx, c, ref, action, func(k *store.Key) error {
		if k.State == store.KeyPendingDeletion {
			return fmt.Errorf("%w: it is pending deletion; cancel the deletion first", ErrInvalidState)
		}
		k.State = state
		return nil
	})
	return err
}

// ScheduleDeletion makes a key unusable now and destroys it after days
// (MinDeletionDays to MaxDeletionDays; 0 means DefaultDeletionDays), unless
// CancelDeletion comes first. Everything encrypted under it becomes
// unreadable then. It returns the deletion date.
func (s *Service) ScheduleDeletion(ctx context.Context, c Caller, ref string, days int) (time.Time, error) {
	if days == 0 {
		days = DefaultDeletionDays
	}
	if days < MinDeletionDays || days > MaxDeletionDays {
		return time.Time{}, fmt.Errorf("%w: waiting period %d days is out of range %d-%d", ErrInvalid, days, MinDeletionDays, MaxDeletionDays)
	}
	k, err := s.update(ctx, c, ref, "kms:ScheduleKeyDeletion", func(k *store.Key) error {
		if k.State == store.KeyPendingDeletion {
			return fmt.Errorf("%w: it is already pending deletion, on %s", ErrInvalidState, k.DeletionDate.Format(time.RFC3339))
		}
		k.State = store.KeyPendingDeletion
		k.DeletionDate = s.now().UTC().Truncate(time.Microsecond).Add(time.Duration(days) * 24 * time.Hour)
		return nil
	})
	return k.DeletionDate, err
}

// CancelDeletion stops a scheduled deletion; the key comes back disabled,
// as in KMS.
func (s *Service) CancelDeletion(ctx context.Context, c Caller, ref string) error {
	_, err := s.update(ctx, c, ref, "kms:CancelKeyDeletion", func(k *store.Key) error {
		if k.State != store.KeyPendingDeletion {
			return fmt.Errorf("%w: it is not pending deletion", ErrInvalidState)
		}
		k.State, k.DeletionDate = store.KeyDisabled, time.Time{}
		return nil
	})
	return err
}

// SetPolicy replaces a key's policy.
func (s *Service) SetPolicy(ctx context.Context, c Caller, ref, policy string) error {
	if _, err := ParsePolicy(policy); err != nil {
		return err
	}
	_, err := s.update(ctx, c, ref, "kms:PutKeyPolicy", func(k *store.Key) error {
		k.Policy = policy
		return nil
	})
	return err
}

// SetDescription replaces a key's description, as KMS's
// UpdateKeyDescription does.
func (s *Service) SetDescription(ctx context.Context, c Caller, ref, description string) error {
	_, err := s.update(ctx, c, ref, "kms:UpdateKeyDescription", func(k *store.Key) error {
		k.Description = description
		return nil
	})
	return err
}

// SetRotation turns a key's automatic rotation on, every period (at least
// a day), or off (period 0), as KMS's EnableKeyRotation and
// DisableKeyRotation do; the next rotation is a period from now.
func (s *Service) SetRotation(ctx context.Context, c Caller, ref string, period time.Duration) error {
	action := "kms:EnableKeyRotation"
	switch {
	case period == 0:
		action = "kms:DisableKeyRotation"
	case period < 24*time.Hour:
		return fmt.Errorf("%w: rotation period %v is under a day", ErrInvalid, period)
	}
	_, err := s.update(ctx, c, ref, action, func(k *store.Key) error {
		if k.RotationPeriod == period {
			return nil
		}
		k.RotationPeriod, k.NextRotation = period, time.Time{}
		if period > 0 {
			k.NextRotation = s.now().UTC().Truncate(time.Microsecond).Add(period)
		}
		return nil
	})
	return err
}

// KeyOf resolves a reference (a key id, alias, key ARN or alias ARN) as
// the key service does for account, without asking the key's policy: the
// account and id of the key it names, for checks made before an action
// (is the key one a rollout protects?), never to use it.
func (s *Service) KeyOf(ctx context.Context, account, ref string) (keyAccount, id string, err error) {
	k, err := s.resolve(ctx, account, ref)
	return k.Account, k.ID, err
}

// Rotate gives a key a new version, which encrypts from now on; the old
// ones still decrypt what they encrypted.
func (s *Service) Rotate(ctx context.Context, c Caller, ref string) (Key, error) {
	k, err := s.authorized(ctx, c, ref, "kms:RotateKeyOnDemand", nil)
	if err != nil {
		return Key{}, err
	}
	if k.State != store.KeyEnabled {
		return Key{}, fmt.Errorf("%w: key %s is %s", ErrInvalidState, k.ID, k.State)
	}
	if err := s.rotate(ctx, k); err != nil {
		return Key{}, err
	}
	return s.Describe(ctx, c, k.ID)
}

func (s *Service) rotate(ctx context.Context, k store.Key) error {
	now := s.now().UTC().Truncate(time.Microsecond)
	n := 1
	if len(k.Versions) > 0 {
		n = k.Versions[len(k.Versions)-1].Version + 1
	}
	v, err := s.newVersion(k, n, now)
	if err != nil {
		return err
	}
	var next time.Time
	if k.RotationPeriod > 0 {
		next = now.Add(k.RotationPeriod)
	}
	if err := s.st.AddKeyVersion(ctx, k.Account, k.ID, v, next); err != nil {
		return fmt.Errorf("keys: rotate %s: %w", k.ID, err)
	}
	return nil
}

// RunDue rotates the keys whose rotation is due and destroys those whose
// deletion date has passed. The server calls it periodically; it returns
// what it did, for the log.
func (s *Service) RunDue(ctx context.Context) (rotated, destroyed []string, err error) {
	now := s.now()
	ks, err := s.st.DueKeys(ctx, now)
	if err != nil {
		return nil, nil, fmt.Errorf("keys: due keys: %w", err)
	}
	var errs []error
	for _, k := range ks {
		switch {
		case k.State == store.KeyPendingDeletion && !k.DeletionDate.After(now):
			if err := s.st.DestroyKey(ctx, k.Account, k.ID); err != nil {
				errs = append(errs, fmt.Errorf("keys: destroy %s: %w", k.ID, err))
				continue
			}
			destroyed = append(destroyed, KeyARN(k.Account, k.ID))
		case k.State == store.KeyEnabled:
			if err := s.rotate(ctx, k); err != nil {
				errs = append(errs, err)
				continue
			}
			rotated = append(rotated, KeyARN(k.Account, k.ID))
		}
	}
	return rotated, destroyed, errors.Join(errs...)
}

// EncryptionContext is non-secret data bound to a ciphertext: decryption
// needs the same, as with KMS (e.g. {"aws:logs:arn": "<log group ARN>"}).
type EncryptionContext map[string]string

// encode is ec in a canonical, unambiguous form.
func (ec EncryptionContext) encode() []byte {
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pairs := make([][2]string, len(keys))
	for i, k := range keys {
		pairs[i] = [2]string{k, ec[k]}
	}
	b, _ := json.Marshal(pairs) // strings only: cannot fail
	return b
}

// dataKeyMagic starts a wrapped data key (CiphertextBlob).
const dataKeyMagic = "PDK1"

// GenerateDataKey returns a new 256-bit data key, in plain text for the
// caller to encrypt with and forget, and wrapped under the key ref names
// (its current version) for storing beside the ciphertext. Decrypt with
// the same account and ec unwraps it. The key must be enabled.
func (s *Service) GenerateDataKey(ctx context.Context, c Caller, ref string, ec EncryptionContext) (plaintext, wrapped []byte, err error) {
	if s.isExternal(ref) {
		if err := externalAllowed(c, ref, "kms:GenerateDataKey"); err != nil {
			return nil, nil, err
		}
		return s.externalDataKey(ctx, ref, ec)
	}
	account := c.Account
	k, err := s.authorized(ctx, c, ref, "kms:GenerateDataKey", ec)
	if err != nil {
		return nil, nil, err
	}
	if k.State != store.KeyEnabled {
		return nil, nil, fmt.Errorf("%w: key %s is %s", ErrInvalidState, KeyARN(k.Account, k.ID), k.State)
	}
	v := k.Versions[len(k.Versions)-1]
	kek, err := s.material(k, v)
	if err != nil {
		return nil, nil, err
	}
	dk := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, dk); err != nil {
		return nil, nil, fmt.Errorf("keys: generate data key: %w", err)
	}
	// A key of the caller's own account is named by its id, as ever; a
	// key of another by its ARN, so that Decrypt finds its account.
	name := k.ID
	if k.Account != account {
		name = KeyARN(k.Account, k.ID)
	}
	head := binary.AppendUvarint([]byte(dataKeyMagic), uint64(len(name)))
	head = append(head, name...)
	head = binary.AppendUvarint(head, uint64(v.Version))
	sealed := s.seal(kek, dk, dataKeyAAD(head, k.Account, ec))
	return dk, append(head, sealed...), nil
}

func dataKeyAAD(head []byte, account string, ec EncryptionContext) []byte {
	aad := append([]byte(nil), head...)
	aad = append(aad, account...)
	aad = append(aad, 0)
	return append(aad, ec.encode()...)
}

// WrappedKeyID returns the id of the key a wrapped data key was made with:
// a built-in key's id, or an external key's ARN.
func WrappedKeyID(wrapped []byte) (string, error) {
	if arn, _, ok := parseExternal(wrapped); ok {
		return arn, nil
	}
	id, _, _, err := parseWrapped(wrapped)
	return id, err
}

// WrappedKeyARN returns the ARN of the key a wrapped data key was made
// with, in the account.
func WrappedKeyARN(account string, wrapped []byte) (string, error) {
	id, err := WrappedKeyID(wrapped)
	if err != nil || strings.HasPrefix(id, "arn:") {
		return id, err
	}
	return KeyARN(account, id), nil
}

// externalAllowed checks that c may perform action with keyID, a key
// outside Postern, before the server asks AWS KMS on c's behalf. AWS
// evaluates that key's policy for the server's own AWS identity, which acts
// for every user alike, so it cannot tell users apart: the user's own
// right is the account's policies' to give (Caller.Delegate), as IAM
// policies give it in AWS when a key's policy enables the account. This is
// the check a built-in key's policy makes through its statement for the
// account root. Postern's own services act as the server, which AWS
// checks.
func externalAllowed(c Caller, keyID, action string) error {
	if c.Service != "" || c.forKey(keyID, action).Admin {
		return nil
	}
	return fmt.Errorf("%w: %s may not %s with key %s (the account's policies do not allow it; AWS KMS checks only the server's own identity)", ErrAccessDenied, c.ARN, action, keyID)
}

// isExternal reports whether ref names a key of the external service.
func (s *Service) isExternal(ref string) bool {
	return strings.HasPrefix(ref, "arn:aws:kms:") || s.ext != nil && s.extAll && ref != DefaultKeyAlias
}

// externalMagic starts a data key the external service wrapped, followed
// by its key's ARN and its blob.
const externalMagic = "PDKA"

func (s *Service) externalDataKey(ctx context.Context, ref string, ec EncryptionContext) ([]byte, []byte, error) {
	if s.ext == nil {
		return nil, nil, fmt.Errorf("%w: key %s is in AWS KMS, and this server has no AWS KMS configured (kms: in its configuration, or AWS_REGION/AWS_ENDPOINT_URL_KMS)", ErrNotFound, ref)
	}
	dk, blob, arn, err := s.ext.GenerateDataKey(ctx, ref, ec)
	if err != nil {
		return nil, nil, err
	}
	w := binary.AppendUvarint([]byte(externalMagic), uint64(len(arn)))
	w = append(w, arn...)
	return dk, append(w, blob...), nil
}

func parseExternal(b []byte) (arn string, blob []byte, ok bool) {
	rest, ok := strings.CutPrefix(string(b), externalMagic)
	if !ok {
		return "", nil, false
	}
	p := []byte(rest)
	n, k := binary.Uvarint(p)
	if k <= 0 || n == 0 || n > 2048 || uint64(len(p)-k) < n {
		return "", nil, false
	}
	return string(p[k : k+int(n)]), p[k+int(n):], true
}

func parseWrapped(b []byte) (id string, version int, headLen int, err error) {
	bad := fmt.Errorf("%w (not a Postern data key)", ErrDecrypt)
	rest, ok := strings.CutPrefix(string(b), dataKeyMagic)
	if !ok {
		return "", 0, 0, bad
	}
	p := []byte(rest)
	n, k := binary.Uvarint(p)
	if k <= 0 || n == 0 || n > 128 || uint64(len(p)-k) < n {
		return "", 0, 0, bad
	}
	id = string(p[k : k+int(n)])
	p = p[k+int(n):]
	v, k2 := binary.Uvarint(p)
	if k2 <= 0 || v == 0 || v > 1<<31 {
		return "", 0, 0, bad
	}
	return id, int(v), len(b) - len(p) + k2, nil
}

// Decrypt unwraps a data key made by GenerateDataKey for the account with
// the encryption context ec. The key must exist and be enabled; any version
// it had when the data key was made still works after rotations.
func (s *Service) Decrypt(ctx context.Context, c Caller, wrapped []byte, ec EncryptionContext) ([]byte, error) {
	if arn, blob, ok := parseExternal(wrapped); ok {
		if s.ext == nil {
			return nil, fmt.Errorf("%w: the data key was made by %s, and this server has no AWS KMS configured", ErrNotFound, arn)
		}
		if err := externalAllowed(c, arn, "kms:Decrypt"); err != nil {
			return nil, err
		}
		dk, _, err := s.ext.Decrypt(ctx, blob, ec)
		return dk, err
	}
	account := c.Account
	id, version, headLen, err := parseWrapped(wrapped)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(id, "prn:") {
		// A key of another account (see GenerateDataKey).
		parts := strings.SplitN(id, ":", 5)
		rest, ok := "", len(parts) == 5 && parts[1] == "postern" && parts[2] == "kms" && ids.ValidAccount(parts[3])
		if ok {
			rest, ok = strings.CutPrefix(parts[4], "key/")
		}
		if !ok {
			return nil, fmt.Errorf("%w (its key %q is not a key ARN)", ErrDecrypt, id)
		}
		account, id = parts[3], rest
	}
	k, err := s.st.GetKey(ctx, account, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: key %s (destroyed, or of another account): the data it protected cannot be decrypted", ErrNotFound, KeyARN(account, id))
	}
	if err != nil {
		return nil, fmt.Errorf("keys: decrypt: %w", err)
	}
	if c, err = s.placed(ctx, c); err != nil {
		return nil, err
	}
	if err := checkPolicy(k, c, "kms:Decrypt", ec); err != nil {
		return nil, err
	}
	if k.State != store.KeyEnabled {
		return nil, fmt.Errorf("%w: key %s is %s", ErrInvalidState, KeyARN(account, id), k.State)
	}
	i := slices.IndexFunc(k.Versions, func(v store.KeyVersion) bool { return v.Version == version })
	if i < 0 {
		return nil, fmt.Errorf("%w: key %s has no version %d", ErrDecrypt, KeyARN(account, id), version)
	}
	kek, err := s.material(k, k.Versions[i])
	if err != nil {
		return nil, err
	}
	dk, err := open(kek, wrapped[headLen:], dataKeyAAD(wrapped[:headLen], account, ec))
	if err != nil {
		return nil, fmt.Errorf("keys: decrypt with key %s: %w", KeyARN(account, id), err)
	}
	return dk, nil
}

// material unwraps a key version into an AEAD.
func (s *Service) material(k store.Key, v store.KeyVersion) (cipher.AEAD, error) {
	m, err := open(s.root, v.Wrapped, materialAAD(k.Account, k.ID, v.Version))
	if err != nil {
		return nil, fmt.Errorf("keys: key %s version %d does not unwrap with the root key: %w", k.ID, v.Version, err)
	}
	return newGCM(m)
}

// DefaultKeyAlias names the key that seals recordings and log groups when
// nothing names another (no kmsKeyId in the preferences, no key on the
// group): DefaultKey makes it for each account on first use, as AWS makes
// its managed keys.
const DefaultKeyAlias = "alias/postern/sessions"

// managedPolicy is the default key's policy: administrators manage it,
// Postern's recorder and log store use it, and any user of the account may
// make and read data keys with it (who may read which session or group is
// the API's decision).
func managedPolicy(account string) string {
	return `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"Administrators manage the key","Effect":"Allow","Principal":{"Postern":"` + RootARN(account) + `"},"Action":"kms:*","Resource":"*"},` +
		`{"Sid":"Postern uses it","Effect":"Allow","Principal":{"Service":["` + RecorderService + `","` + LogsService + `"]},"Action":"kms:*","Resource":"*"},` +
		`{"Sid":"Users of the account seal and read sessions","Effect":"Allow","Principal":"*","Action":["kms:GenerateDataKey","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}`
}

// DefaultKey returns the account's default key (DefaultKeyAlias), making
// it on first use.
func (s *Service) DefaultKey(ctx context.Context, account string) (string, error) {
	rec := Caller{Account: account, Service: RecorderService}
	if _, err := s.resolve(ctx, account, DefaultKeyAlias); err == nil {
		return DefaultKeyAlias, nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("keys: default key: %w", err)
	}
	s.defaultMu.Lock()
	defer s.defaultMu.Unlock()
	if _, err := s.resolve(ctx, account, DefaultKeyAlias); err == nil {
		return DefaultKeyAlias, nil
	}
	k, err := s.Create(ctx, account, CreateOptions{Description: "Postern's default key for session recordings and log groups", Policy: managedPolicy(account)})
	if err != nil {
		return "", fmt.Errorf("keys: default key: %w", err)
	}
	if err := s.SetAlias(ctx, rec, DefaultKeyAlias, k.ID); err != nil {
		return "", fmt.Errorf("keys: default key: %w", err)
	}
	return DefaultKeyAlias, nil
}

// LogGroupKeys is the key service as Postern's log store uses it (package
// logstore's GroupKeys): a data key per log group, made and unwrapped by the
// log store (LogsService) with the group's KMS key, or the account's
// default key, and the group's ARN as encryption context under
// "aws:logs:arn", as CloudWatch Logs does, so that a key policy can name
// the groups that may use its key (Session Manager's logging guide).
type LogGroupKeys struct{ S *Service }

// LogGroupContext is the encryption context of a log group's data keys.
func LogGroupContext(account, group string) EncryptionContext {
	return EncryptionContext{"aws:logs:arn": ids.LogGroupARN(account, group)}
}

// NewGroupKey returns a new data key for the group, wrapped.
func (l LogGroupKeys) NewGroupKey(ctx context.Context, account, group, kmsKeyID string) ([]byte, error) {
	ref := kmsKeyID
	if ref == "" {
		var err error
		if ref, err = l.S.DefaultKey(ctx, account); err != nil {
			return nil, err
		}
	}
	_, wrapped, err := l.S.GenerateDataKey(ctx, Caller{Account: account, Service: LogsService}, ref, LogGroupContext(account, group))
	return wrapped, err
}

// GroupKey unwraps a group's data key.
func (l LogGroupKeys) GroupKey(ctx context.Context, account, group, kmsKeyID string, wrapped []byte) ([]byte, error) {
	return l.S.Decrypt(ctx, Caller{Account: account, Service: LogsService}, wrapped, LogGroupContext(account, group))
}
