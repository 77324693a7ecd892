package keys_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/clocktest"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/store"
)

const acct = "000000000001"

var (
	admin = keys.UserCaller(acct, "admin", true)
	bob   = keys.UserCaller(acct, "bob", false)
	logs  = keys.Caller{Account: acct, Service: keys.LogsService}
)

type env struct {
	dir   string
	st    *store.SQLite
	clock *clocktest.Clock
	svc   *keys.Service
}

// newEnv opens a key service over a real SQLite store in a temp dir.
func newEnv(t *testing.T) *env {
	t.Helper()
	t.Setenv(keys.RootKeyEnv, "") // the key file, not the environment
	dir := t.TempDir()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureAccount(t.Context(), store.Account{ID: acct, Name: "default"}); err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, st: st, clock: clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	e.svc = e.open(t)
	return e
}

func (e *env) keyFile() string { return filepath.Join(e.dir, "root.key") }

func (e *env) open(t *testing.T) *keys.Service {
	t.Helper()
	svc, err := keys.Open(t.Context(), e.st, e.keyFile(), keys.Options{Now: e.clock.Now})
	if err != nil {
		t.Fatalf("keys.Open: %v", err)
	}
	return svc
}

func mustCreate(t *testing.T, svc *keys.Service, o keys.CreateOptions) keys.Key {
	t.Helper()
	k, err := svc.Create(t.Context(), acct, o)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return k
}

func TestRootKey(t *testing.T) {
	e := newEnv(t)
	fi, err := os.Stat(e.keyFile())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("root key file mode %v, want 0600", fi.Mode().Perm())
	}
	k := mustCreate(t, e.svc, keys.CreateOptions{})
	_, wrapped, err := e.svc.GenerateDataKey(t.Context(), admin, k.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(e.keyFile())

	// The same file again: the keys are readable.
	if _, err := e.open(t).Decrypt(t.Context(), admin, wrapped, nil); err != nil {
		t.Errorf("reopened with the same root key: %v", err)
	}

	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	for _, tc := range []struct {
		name  string
		setup func()
		want  string
	}{
		{"wrong key file", func() { os.WriteFile(e.keyFile(), []byte(other), 0o600) }, "is not the one this database's keys are wrapped with"},
		{"missing key file", func() { os.Remove(e.keyFile()) }, "is missing"},
		{"readable by others", func() { os.WriteFile(e.keyFile(), good, 0o644); os.Chmod(e.keyFile(), 0o644) }, "readable by others"},
		{"not a key", func() { os.WriteFile(e.keyFile(), []byte("hunter2"), 0o600) }, "base64 of 32 bytes"},
		{"wrong key in the environment", func() { os.WriteFile(e.keyFile(), good, 0o600); t.Setenv(keys.RootKeyEnv, other) }, "from " + keys.RootKeyEnv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(e.keyFile())
			tc.setup()
			before, _ := os.ReadFile(e.keyFile())
			_, err := keys.Open(t.Context(), e.st, e.keyFile(), keys.Options{})
			if !errors.Is(err, keys.ErrRootKey) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open = %v, want ErrRootKey saying %q", err, tc.want)
			}
			if after, _ := os.ReadFile(e.keyFile()); !bytes.Equal(before, after) {
				t.Errorf("the key file changed")
			}
			t.Setenv(keys.RootKeyEnv, "")
		})
	}
	// The right key in the environment works, whatever the file says.
	os.Remove(e.keyFile())
	t.Setenv(keys.RootKeyEnv, strings.TrimSpace(string(good)))
	svc, err := keys.Open(t.Context(), e.st, e.keyFile(), keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Decrypt(t.Context(), admin, wrapped, nil); err != nil {
		t.Errorf("with the root key from the environment: %v", err)
	}
}

func TestDataKeys(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	k := mustCreate(t, e.svc, keys.CreateOptions{Description: "session logs"})
	ec := keys.EncryptionContext{"postern:session": "alice-0123456789abcdef0", "aws:logs:arn": "prn:postern:logs:000000000001:log-group/audit"}
	dk, wrapped, err := e.svc.GenerateDataKey(ctx, admin, k.ID, ec)
	if err != nil {
		t.Fatal(err)
	}
	if len(dk) != 32 || bytes.Contains(wrapped, dk) {
		t.Fatalf("data key of %d bytes, or in the clear in its wrapping", len(dk))
	}
	if id, err := keys.WrappedKeyID(wrapped); err != nil || id != k.ID {
		t.Errorf("WrappedKeyID = %q, %v; want %q", id, err, k.ID)
	}
	got, err := e.svc.Decrypt(ctx, admin, wrapped, keys.EncryptionContext{"aws:logs:arn": ec["aws:logs:arn"], "postern:session": ec["postern:session"]})
	if err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("Decrypt = %x, %v; want %x", got, err, dk)
	}

	tampered := func(i int) []byte {
		b := bytes.Clone(wrapped)
		b[i] ^= 1
		return b
	}
	for _, tc := range []struct {
		name    string
		caller  keys.Caller
		wrapped []byte
		ec      keys.EncryptionContext
		want    error
	}{
		{"another context", admin, wrapped, keys.EncryptionContext{"postern:session": "bob-0123456789abcdef0", "aws:logs:arn": ec["aws:logs:arn"]}, keys.ErrDecrypt},
		{"no context", admin, wrapped, nil, keys.ErrDecrypt},
		{"an extra context entry", admin, wrapped, keys.EncryptionContext{"postern:session": ec["postern:session"], "aws:logs:arn": ec["aws:logs:arn"], "x": "y"}, keys.ErrDecrypt},
		{"flipped bit in the sealed key", admin, tampered(len(wrapped) - 1), ec, keys.ErrDecrypt},
		{"flipped bit in the nonce", admin, tampered(len(wrapped) - 48 - 1), ec, keys.ErrDecrypt},
		{"truncated", admin, wrapped[:len(wrapped)-5], ec, keys.ErrDecrypt},
		{"not a data key", admin, []byte("hello"), ec, keys.ErrDecrypt},
		{"another account", keys.UserCaller("000000000002", "admin", true), wrapped, ec, keys.ErrNotFound},
		{"a user the policy does not name", bob, wrapped, ec, keys.ErrAccessDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := e.svc.Decrypt(ctx, tc.caller, tc.wrapped, tc.ec); !errors.Is(err, tc.want) {
				t.Errorf("Decrypt = %x, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestKeyReferences(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	k := mustCreate(t, e.svc, keys.CreateOptions{})
	if err := e.svc.SetAlias(ctx, admin, "alias/session-manager-logs", k.ID); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{k.ID, k.ARN, "alias/session-manager-logs", "prn:postern:kms:" + acct + ":alias/session-manager-logs"} {
		d, err := e.svc.Describe(ctx, admin, ref)
		if err != nil || d.ID != k.ID || strings.Join(d.Aliases, ",") != "alias/session-manager-logs" || d.Versions != 1 || d.State != store.KeyEnabled {
			t.Errorf("Describe(%q) = %+v, %v", ref, d, err)
		}
	}
	for _, ref := range []string{"alias/missing", "3f8d1c9e-0000-4000-8000-000000000000", "prn:postern:kms:000000000002:key/" + k.ID} {
		if _, err := e.svc.Describe(ctx, admin, ref); !errors.Is(err, keys.ErrNotFound) {
			t.Errorf("Describe(%q) = %v, want ErrNotFound", ref, err)
		}
	}
	for _, name := range []string{"session-manager-logs", "alias/", "alias/aws/ssm", "alias/a b", "alias/" + strings.Repeat("x", 251)} {
		if err := e.svc.SetAlias(ctx, admin, name, k.ID); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("SetAlias(%q) = %v, want ErrInvalid", name, err)
		}
	}
	// Repointing an alias moves new data keys to the other key.
	e.clock.Advance(time.Second) // List is oldest first
	k2 := mustCreate(t, e.svc, keys.CreateOptions{})
	if err := e.svc.SetAlias(ctx, admin, "alias/session-manager-logs", k2.ID); err != nil {
		t.Fatal(err)
	}
	_, wrapped, err := e.svc.GenerateDataKey(ctx, admin, "alias/session-manager-logs", nil)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := keys.WrappedKeyID(wrapped); id != k2.ID {
		t.Errorf("data key from key %s, want the alias's new target %s", id, k2.ID)
	}
	ks, err := e.svc.List(ctx, acct)
	if err != nil || len(ks) != 2 || ks[0].ID != k.ID || len(ks[0].Aliases) != 0 || ks[1].Aliases[0] != "alias/session-manager-logs" {
		t.Errorf("List = %+v, %v", ks, err)
	}
	if err := e.svc.DeleteAlias(ctx, admin, "alias/session-manager-logs"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Describe(ctx, admin, "alias/session-manager-logs"); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("deleted alias: %v", err)
	}
}

func TestRotation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	k := mustCreate(t, e.svc, keys.CreateOptions{})
	old, oldWrapped, err := e.svc.GenerateDataKey(ctx, admin, k.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Not due yet.
	e.clock.Advance(364 * 24 * time.Hour)
	if rotated, _, err := e.svc.RunDue(ctx); err != nil || len(rotated) != 0 {
		t.Fatalf("RunDue before a year: rotated %v, %v", rotated, err)
	}
	e.clock.Advance(25 * time.Hour)
	if rotated, _, err := e.svc.RunDue(ctx); err != nil || len(rotated) != 1 || rotated[0] != k.ARN {
		t.Fatalf("RunDue after a year: rotated %v, %v", rotated, err)
	}
	if d, _ := e.svc.Describe(ctx, admin, k.ID); d.Versions != 2 || !d.NextRotation.After(e.clock.Now().Add(364*24*time.Hour)) {
		t.Errorf("after rotation: %+v", d)
	}
	if _, err := e.svc.Rotate(ctx, admin, k.ID); err != nil {
		t.Fatal(err)
	}
	// Old data keys still decrypt; new ones come from the newest version.
	if got, err := e.svc.Decrypt(ctx, admin, oldWrapped, nil); err != nil || !bytes.Equal(got, old) {
		t.Errorf("data key from version 1 after two rotations: %v", err)
	}
	dk, wrapped, err := e.svc.GenerateDataKey(ctx, admin, k.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.Decrypt(ctx, admin, wrapped, nil); err != nil || !bytes.Equal(got, dk) {
		t.Errorf("new data key: %v", err)
	}
	if bytes.Equal(wrapped[:len(wrapped)-60], oldWrapped[:len(oldWrapped)-60]) {
		t.Errorf("new data key names the same version as the old")
	}
	// A key made without rotation never rotates.
	never := mustCreate(t, e.svc, keys.CreateOptions{RotationPeriod: -1})
	e.clock.Advance(5 * 365 * 24 * time.Hour)
	rotated, _, _ := e.svc.RunDue(ctx)
	for _, r := range rotated {
		if r == never.ARN {
			t.Errorf("a key without rotation was rotated")
		}
	}
}

func TestStatesAndDeletion(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	k := mustCreate(t, e.svc, keys.CreateOptions{})
	_, wrapped, err := e.svc.GenerateDataKey(ctx, admin, k.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	use := func() error {
		if _, _, err := e.svc.GenerateDataKey(ctx, admin, k.ID, nil); err != nil {
			return err
		}
		_, err := e.svc.Decrypt(ctx, admin, wrapped, nil)
		return err
	}
	if err := e.svc.Disable(ctx, admin, k.ID); err != nil {
		t.Fatal(err)
	}
	if err := use(); !errors.Is(err, keys.ErrInvalidState) || !strings.Contains(err.Error(), "Disabled") {
		t.Errorf("a disabled key: %v", err)
	}
	if err := e.svc.Enable(ctx, admin, k.ID); err != nil {
		t.Fatal(err)
	}
	if err := use(); err != nil {
		t.Errorf("enabled again: %v", err)
	}

	for _, days := range []int{6, 31, -1} {
		if _, err := e.svc.ScheduleDeletion(ctx, admin, k.ID, days); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("ScheduleDeletion(%d days) = %v, want ErrInvalid", days, err)
		}
	}
	when, err := e.svc.ScheduleDeletion(ctx, admin, k.ID, 7)
	if err != nil || !when.Equal(e.clock.Now().Add(7*24*time.Hour)) {
		t.Fatalf("ScheduleDeletion = %v, %v", when, err)
	}
	if err := use(); !errors.Is(err, keys.ErrInvalidState) {
		t.Errorf("a key pending deletion: %v", err)
	}
	if err := e.svc.Enable(ctx, admin, k.ID); !errors.Is(err, keys.ErrInvalidState) {
		t.Errorf("Enable of a key pending deletion: %v", err)
	}
	// Cancelled, it comes back disabled.
	if err := e.svc.CancelDeletion(ctx, admin, k.ID); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.svc.Describe(ctx, admin, k.ID); d.State != store.KeyDisabled || !d.DeletionDate.IsZero() {
		t.Errorf("after CancelDeletion: %+v", d)
	}
	if err := e.svc.Enable(ctx, admin, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ScheduleDeletion(ctx, admin, k.ID, 7); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(7*24*time.Hour - time.Minute)
	if _, destroyed, _ := e.svc.RunDue(ctx); len(destroyed) != 0 {
		t.Fatalf("destroyed before the date: %v", destroyed)
	}
	e.clock.Advance(time.Minute)
	if _, destroyed, err := e.svc.RunDue(ctx); err != nil || len(destroyed) != 1 || destroyed[0] != k.ARN {
		t.Fatalf("RunDue on the date: destroyed %v, %v", destroyed, err)
	}
	// Gone: what it protected cannot be read, by anyone.
	if _, err := e.svc.Decrypt(ctx, admin, wrapped, nil); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("Decrypt after destruction: %v", err)
	}
}

// TestLogGroupKeyPolicy is the key policy of Session Manager's logging
// guide, with Postern's names: the log store may use the key for one log
// group only; users are not named, so only administrators manage it.
func TestLogGroupKeyPolicy(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	policy := `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Enable administrators", "Effect": "Allow", "Principal": {"AWS": "prn:postern:iam:000000000001:root"}, "Action": "kms:*", "Resource": "*"},
    {"Effect": "Allow", "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
     "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"], "Resource": "*",
     "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "prn:postern:logs:000000000001:log-group/ssm-secure-*"}}},
    {"Sid": "No one reads the break-glass group", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:aws:logs:arn": "prn:postern:logs:000000000001:log-group/ssm-secure-breakglass"}}}
  ]
}`
	k := mustCreate(t, e.svc, keys.CreateOptions{Policy: policy})
	group := func(name string) keys.EncryptionContext {
		return keys.EncryptionContext{"aws:logs:arn": "prn:postern:logs:000000000001:log-group/" + name}
	}
	for _, tc := range []struct {
		name   string
		caller keys.Caller
		ec     keys.EncryptionContext
		want   error
	}{
		{"the log store for a named group", logs, group("ssm-secure-consolelog-group"), nil},
		{"the log store for another group", logs, group("scratch"), keys.ErrAccessDenied},
		{"the log store without a group", logs, nil, keys.ErrAccessDenied},
		{"an administrator", admin, nil, nil},
		{"a user", bob, group("ssm-secure-consolelog-group"), keys.ErrAccessDenied},
		{"denied whoever asks", logs, group("ssm-secure-breakglass"), keys.ErrAccessDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, wrapped, err := e.svc.GenerateDataKey(ctx, tc.caller, k.ID, tc.ec)
			if tc.name == "denied whoever asks" {
				// Encrypting is allowed; reading is not.
				if err != nil {
					t.Fatal(err)
				}
				_, err = e.svc.Decrypt(ctx, tc.caller, wrapped, tc.ec)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Management needs the policy too.
	if err := e.svc.Disable(ctx, bob, k.ID); !errors.Is(err, keys.ErrAccessDenied) {
		t.Errorf("a user disabling the key: %v", err)
	}
	if err := e.svc.SetPolicy(ctx, admin, k.ID, `{"Statement": []}`); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("an empty policy: %v", err)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for _, tc := range []struct{ policy, want string }{
		{`not json`, "invalid character"},
		{`{"Statement": []}`, "no Statement"},
		{`{"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "kms:*"}]}`, `Effect "Maybe"`},
		{`{"Statement": [{"Effect": "Allow", "Action": "kms:*"}]}`, "no Principal"},
		{`{"Statement": [{"Effect": "Allow", "Principal": "bob", "Action": "kms:*"}]}`, `Principal "bob"`},
		{`{"Statement": [{"Effect": "Allow", "Principal": {"Federated": "x"}, "Action": "kms:*"}]}`, `unknown kind "Federated"`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}`, `Action "s3:GetObject"`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": {"NumericLessThan": {"kms:EncryptionContext:x": "1"}}}]}`, `operator "NumericLessThan"`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": {"StringEquals": {"aws:SourceIp": "1"}}}]}`, `Condition key "aws:SourceIp"`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": {"ForSomeValue:StringEquals": {"kms:EncryptionContext:x": "1"}}}]}`, `operator "ForSomeValue:StringEquals"`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": {"ForAnyValue:Null": {"aws:PrincipalOrgID": "true"}}}]}`, `operator "ForAnyValue:Null"`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "x"}}}]}`, `key "aws:PrincipalTag/team"`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": {"NullIfExists": {"kms:EncryptionContext:x": "true"}}}]}`, `operator "NullIfExists"`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": {"Null": {"kms:EncryptionContext:x": "yes"}}}]}`, `Null "kms:EncryptionContext:x": "yes"`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Extra": 1}]}`, `unknown field "Extra"`},
	} {
		_, err := keys.ParsePolicy(tc.policy)
		if !errors.Is(err, keys.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePolicy(%s) = %v, want ErrInvalid saying %q", tc.policy, err, tc.want)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add(keys.DefaultPolicy(acct))
	f.Add(`{"Statement": [{"Effect": "Deny", "Principal": {"Service": ["logs.postern"]}, "Action": ["kms:Decrypt"], "Condition": {"ArnLikeIfExists": {"kms:EncryptionContext:aws:logs:arn": ["prn:*"]}}}]}`)
	f.Add(`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*"}, {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Condition": {"StringNotEquals": {"kms:EncryptionContext:aws:logs:arn": ["prn:postern:logs:000000000001:log-group/a", "b"]}, "Null": {"KMS:EncryptionContext:k": "false"}}}]}`)
	f.Add(`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Condition": {"ArnNotLikeIfExists": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-*:111122223333:log-group:*"}, "StringEqualsIgnoreCase": {"kms:EncryptionContext:d": ["Finance", "h?"]}}}]}`)
	f.Add(`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Condition": {"StringNotLikeIfExists": {"kms:EncryptionContext:": []}, "ArnEquals": {"kms:EncryptionContext:a": "prn:*:*:*:*"}, "StringNotEqualsIgnoreCase": {"kms:EncryptionContext:b": "x"}}}]}`)
	f.Add(`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}, "ForAnyValue:StringLike": {"AWS:PrincipalOrgPaths": ["o-abcdefghij/r-ab12/*"]}}}, {"Effect": "Deny", "Principal": {"Service": "sessions.postern"}, "Action": "kms:*", "Condition": {"ForAllValues:StringNotEquals": {"aws:SourceAccount": "1"}, "Null": {"aws:SourceOrgID": "true"}}}]}`)
	f.Fuzz(func(t *testing.T, policy string) {
		p, err := keys.ParsePolicy(policy)
		if err != nil {
			return
		}
		// Whatever the policy, evaluating it ends without a panic, on
		// every shape of request: the policy's own text as an ARN, a
		// missing key, an empty one.
		p.Allows(admin, "kms:Decrypt", keys.EncryptionContext{"aws:logs:arn": policy})
		p.Allows(logs, "kms:GenerateDataKey", nil)
		p.Allows(bob, "kms:Decrypt", keys.EncryptionContext{"aws:logs:arn": "arn:aws:logs:us-east-1:111122223333:log-group:" + policy, "": ""})
		p.Allows(logs, "kms:Decrypt", keys.EncryptionContext{"k": "prn:postern:logs:000000000001:log-group/" + policy})
		p.Allows(keys.Caller{Account: acct, ARN: "prn:postern:iam:" + acct + ":user/x", OrgID: policy, OrgPath: policy + "/r-ab12/"}, "kms:Decrypt", nil)
		p.Allows(keys.Caller{Account: acct, Service: keys.RecorderService, OrgID: policy}, "kms:GenerateDataKey", nil)
		// ...and a policy that parsed is one SetPolicy would store:
		// its JSON round trip parses again.
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal a parsed policy: %v", err)
		}
		if _, err := keys.ParsePolicy(string(b)); err != nil {
			t.Errorf("a parsed policy's JSON %s does not parse again: %v", b, err)
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	f.Add([]byte("PDK1\x24" + strings.Repeat("a", 36) + "\x01" + strings.Repeat("n", 60)))
	f.Add([]byte("PDK1"))
	f.Add([]byte{})
	dir := f.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "postern.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureAccount(context.Background(), store.Account{ID: acct, Name: "default"}); err != nil {
		f.Fatal(err)
	}
	svc, err := keys.Open(context.Background(), st, filepath.Join(dir, "root.key"), keys.Options{})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := svc.Create(context.Background(), acct, keys.CreateOptions{}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, wrapped []byte) {
		// Whatever the bytes, an error, never a panic or a key.
		if dk, err := svc.Decrypt(context.Background(), admin, wrapped, nil); err == nil {
			t.Errorf("random bytes decrypted to %x", dk)
		}
	})
}

// TestKeyOfAnotherAccount: a key is used from another account by its ARN,
// only as its policy lets the caller (here: the organization's recorders
// and users, by aws:SourceOrgID and aws:PrincipalOrgID); its own account's
// administrators read what was sealed with it; a key policy naming only
// its own account's root lets no other account's administrator in; and
// the account a data key was made for is the key's, whoever made it.
func TestKeyOfAnotherAccount(t *testing.T) {
	const archive, member, outsider = acct, "222222222222", "333333333333"
	e := newEnv(t)
	for _, a := range []string{member, outsider} {
		if err := e.st.EnsureAccount(t.Context(), store.Account{ID: a, Name: a}); err != nil {
			t.Fatal(err)
		}
	}
	place := func(_ context.Context, account string) (string, string, error) {
		if account == outsider {
			return "", "", nil
		}
		return "o-abcdefghij", "o-abcdefghij/r-ab12/", nil
	}
	svc, err := keys.Open(t.Context(), e.st, e.keyFile(), keys.Options{Now: e.clock.Now, Place: place})
	if err != nil {
		t.Fatal(err)
	}
	k, err := svc.Create(t.Context(), archive, keys.CreateOptions{Policy: `{"Statement": [
	  {"Effect": "Allow", "Principal": {"Postern": "prn:postern:iam:` + archive + `:root"}, "Action": "kms:*"},
	  {"Effect": "Allow", "Principal": {"Service": "sessions.postern"}, "Action": "kms:GenerateDataKey",
	   "Condition": {"StringEquals": {"aws:SourceOrgID": "o-abcdefghij"}}},
	  {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}}
	]}`})
	if err != nil {
		t.Fatal(err)
	}
	ec := keys.EncryptionContext{"aws:postern:archive": member + "/s-1"}
	memberRecorder := keys.Caller{Account: member, Service: keys.RecorderService}
	if _, _, err := svc.GenerateDataKey(t.Context(), memberRecorder, k.ID, ec); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("a key of another account by its bare id: %v, want ErrNotFound", err)
	}
	dk, wrapped, err := svc.GenerateDataKey(t.Context(), memberRecorder, k.ARN, ec)
	if err != nil {
		t.Fatalf("the member's recorder with the archive's key: %v", err)
	}
	if _, _, err := svc.GenerateDataKey(t.Context(), keys.Caller{Account: outsider, Service: keys.RecorderService}, k.ARN, ec); !errors.Is(err, keys.ErrAccessDenied) {
		t.Fatalf("an outsider's recorder with the archive's key: %v, want ErrAccessDenied", err)
	}
	for _, tt := range []struct {
		name string
		c    keys.Caller
		ok   bool
	}{
		{"the archive's administrator", keys.UserCaller(archive, "admin", true), true},
		{"a member's user (aws:PrincipalOrgID)", keys.UserCaller(member, "alice", false), true},
		{"an outsider's administrator", keys.UserCaller(outsider, "admin", true), false},
	} {
		got, err := svc.Decrypt(t.Context(), tt.c, wrapped, ec)
		if tt.ok && (err != nil || !bytes.Equal(got, dk)) {
			t.Errorf("%s: Decrypt = %v", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, keys.ErrAccessDenied) {
			t.Errorf("%s: Decrypt = %v, want ErrAccessDenied", tt.name, err)
		}
	}
	if _, err := svc.Decrypt(t.Context(), keys.UserCaller(archive, "admin", true), wrapped, keys.EncryptionContext{"aws:postern:archive": member + "/s-2"}); err == nil {
		t.Error("Decrypt with another encryption context succeeded")
	}
	// Only its own account's root: a member's administrator is no root
	// of the archive's.
	if err := svc.SetPolicy(t.Context(), keys.UserCaller(archive, "admin", true), k.ID, keys.DefaultPolicy(archive)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Decrypt(t.Context(), keys.UserCaller(member, "admin", true), wrapped, ec); !errors.Is(err, keys.ErrAccessDenied) {
		t.Errorf("a member's administrator with the archive's default policy: %v, want ErrAccessDenied", err)
	}
}

// TestCreateWithID: a key created under an id chosen beforehand (a stack
// instance's) has it; a second one with the same id is a conflict; an id
// not of the service's form is refused.
func TestCreateWithID(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	const id = "0d2f6a4e-8c1b-4e7a-9f3d-5b6c7d8e9f01"
	k := mustCreate(t, e.svc, keys.CreateOptions{ID: id, Description: "named"})
	if k.ID != id || k.ARN != "prn:postern:kms:"+acct+":key/"+id {
		t.Fatalf("Create with ID: %+v", k)
	}
	if _, err := e.svc.Create(ctx, acct, keys.CreateOptions{ID: id}); !errors.Is(err, keys.ErrConflict) {
		t.Errorf("a second key with the same id: %v, want ErrConflict", err)
	}
	for _, bad := range []string{"0D2F6A4E-8C1B-4E7A-9F3D-5B6C7D8E9F01", "not-a-uuid", "{0d2f6a4e-8c1b-4e7a-9f3d-5b6c7d8e9f01}"} {
		if _, err := e.svc.Create(ctx, acct, keys.CreateOptions{ID: bad}); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("Create with ID %q: %v, want ErrInvalid", bad, err)
		}
	}
	if a, got, err := e.svc.KeyOf(ctx, acct, "prn:postern:kms:"+acct+":key/"+id); err != nil || a != acct || got != id {
		t.Errorf("KeyOf(ARN) = %s, %s, %v", a, got, err)
	}
	if err := e.svc.SetAlias(ctx, admin, "alias/named", id); err != nil {
		t.Fatal(err)
	}
	if _, got, err := e.svc.KeyOf(ctx, acct, "alias/named"); err != nil || got != id {
		t.Errorf("KeyOf(alias) = %s, %v", got, err)
	}
	if _, _, err := e.svc.KeyOf(ctx, acct, "alias/none"); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("KeyOf(unknown alias) = %v, want ErrNotFound", err)
	}
}

// TestSetDescriptionAndRotation: KMS's UpdateKeyDescription,
// EnableKeyRotation and DisableKeyRotation, each as the key's policy allows.
func TestSetDescriptionAndRotation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	k := mustCreate(t, e.svc, keys.CreateOptions{RotationPeriod: -1})
	if err := e.svc.SetDescription(ctx, admin, k.ID, "sessions"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetRotation(ctx, admin, k.ID, 90*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	d, err := e.svc.Describe(ctx, admin, k.ID)
	if err != nil || d.Description != "sessions" || d.RotationPeriod != 90*24*time.Hour || !d.NextRotation.Equal(e.clock.Now().UTC().Add(90*24*time.Hour)) {
		t.Fatalf("after SetDescription and SetRotation: %+v, %v", d, err)
	}
	e.clock.Advance(91 * 24 * time.Hour)
	if rotated, _, err := e.svc.RunDue(ctx); err != nil || len(rotated) != 1 {
		t.Errorf("RunDue after the period: rotated %v, %v", rotated, err)
	}
	if err := e.svc.SetRotation(ctx, admin, k.ID, 0); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.svc.Describe(ctx, admin, k.ID); d.RotationPeriod != 0 || !d.NextRotation.IsZero() {
		t.Errorf("after DisableKeyRotation: %+v", d)
	}
	if err := e.svc.SetRotation(ctx, admin, k.ID, time.Hour); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("a rotation period of an hour: %v, want ErrInvalid", err)
	}
	if err := e.svc.SetDescription(ctx, bob, k.ID, "mine"); !errors.Is(err, keys.ErrAccessDenied) {
		t.Errorf("bob, whom the policy does not name, changed the description: %v", err)
	}
}

// TestSealedSecrets: a secret sealed for one row opens only for it, and
// only with the same root key (a reopened service opens it).
func TestSealedSecrets(t *testing.T) {
	e := newEnv(t)
	sealed := e.svc.SealSecret([]byte("wJalrXUtnFEMI"), []byte("000000000001/AKIA1"))
	if strings.Contains(string(sealed), "wJalrXUtnFEMI") {
		t.Fatal("the sealed secret holds the secret")
	}
	got, err := e.open(t).OpenSecret(sealed, []byte("000000000001/AKIA1"))
	if err != nil || string(got) != "wJalrXUtnFEMI" {
		t.Fatalf("OpenSecret = %q, %v", got, err)
	}
	if _, err := e.svc.OpenSecret(sealed, []byte("000000000001/AKIA2")); err == nil {
		t.Error("a secret sealed for one access key opened for another")
	}
}
