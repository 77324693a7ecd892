package awskms_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/postern/postern/awskms"
	"github.com/postern/postern/awskms/kmstest"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/store"
)

func newClient(t *testing.T, srv *kmstest.Server) *awskms.Client {
	t.Helper()
	c, err := awskms.New(t.Context(), awskms.Config{Endpoint: srv.URL, Region: kmstest.Region, AccessKeyID: "test", SecretAccessKey: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAgainstLocalKMS: data keys round-trip through a KMS-compatible
// server, bound to their encryption context, and AWS's refusals come back
// as package keys' errors.
func TestAgainstLocalKMS(t *testing.T) {
	srv := kmstest.Start(t)
	c := newClient(t, srv)
	ctx := t.Context()
	arn := srv.CreateKey(t, "session logs")
	ec := map[string]string{"postern:session": "alice-0123456789abcdef0"}
	dk, blob, keyARN, err := c.GenerateDataKey(ctx, arn, ec)
	if err != nil {
		t.Fatal(err)
	}
	if len(dk) != 32 || keyARN != arn || bytes.Contains(blob, dk) {
		t.Fatalf("GenerateDataKey = %d bytes, key %s", len(dk), keyARN)
	}
	got, gotARN, err := c.Decrypt(ctx, blob, ec)
	if err != nil || !bytes.Equal(got, dk) || gotARN != arn {
		t.Fatalf("Decrypt = %x, %s, %v", got, gotARN, err)
	}
	if _, _, err := c.Decrypt(ctx, blob, map[string]string{"postern:session": "bob-0123456789abcdef0"}); !errors.Is(err, keys.ErrDecrypt) {
		t.Errorf("another context: %v, want ErrDecrypt", err)
	}
	if _, _, _, err := c.GenerateDataKey(ctx, "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000", ec); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("an unknown key: %v, want ErrNotFound", err)
	}
	if _, err := srv.Client().DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.GenerateDataKey(ctx, arn, ec); !errors.Is(err, keys.ErrInvalidState) {
		t.Errorf("a disabled key: %v, want ErrInvalidState", err)
	}
}

// TestKeyServiceRoutesToAWS: the key service sends ARNs of AWS keys to AWS
// KMS, and unwraps what it wrapped; built-in keys stay built in.
func TestKeyServiceRoutesToAWS(t *testing.T) {
	t.Setenv(keys.RootKeyEnv, "")
	srv := kmstest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.EnsureAccount(ctx, store.Account{ID: "000000000001", Name: "default"})
	ks, err := keys.Open(ctx, st, filepath.Join(dir, "root.key"), keys.Options{External: newClient(t, srv)})
	if err != nil {
		t.Fatal(err)
	}
	caller := keys.UserCaller("000000000001", "admin", true)
	arn := srv.CreateKey(t, "session logs")
	ec := keys.EncryptionContext{"postern:session": "alice-0123456789abcdef0"}
	dk, wrapped, err := ks.GenerateDataKey(ctx, caller, arn, ec)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := keys.WrappedKeyARN("000000000001", wrapped); err != nil || got != arn {
		t.Errorf("WrappedKeyARN = %s, %v; want %s", got, err, arn)
	}
	if got, err := ks.Decrypt(ctx, caller, wrapped, ec); err != nil || !bytes.Equal(got, dk) {
		t.Errorf("Decrypt = %v", err)
	}
	builtin, err := ks.Create(ctx, "000000000001", keys.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, wrapped, err = ks.GenerateDataKey(ctx, caller, builtin.ID, ec)
	if err != nil || !strings.HasPrefix(string(wrapped), "PDK1") {
		t.Errorf("a built-in key's data key: %q, %v", wrapped[:4], err)
	}
}

// TestAWSKeysHoldUsersToAccountPolicies: AWS evaluates an AWS key's policy
// for the server's identity, which acts for every user, so the key service
// asks the account's policies (Caller.Delegate) whether the user may use
// the key before it calls AWS for them, for each use: making a data key,
// unwrapping one, and authorizing a read the server decrypts for them.
// Postern's own services act as the server.
func TestAWSKeysHoldUsersToAccountPolicies(t *testing.T) {
	t.Setenv(keys.RootKeyEnv, "")
	srv := kmstest.Start(t)
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const acct = "000000000001"
	st.EnsureAccount(ctx, store.Account{ID: acct, Name: "default"})
	ks, err := keys.Open(ctx, st, filepath.Join(dir, "root.key"), keys.Options{External: newClient(t, srv)})
	if err != nil {
		t.Fatal(err)
	}
	arn := srv.CreateKey(t, "session logs")
	ec := keys.EncryptionContext{"aws:logs:arn": "prn:postern:logs:" + acct + ":log-group/secure"}

	// May: what the account's policies allow, by key and operation.
	type use struct{ key, op string }
	var asked []use
	user := func(name string, may ...use) keys.Caller {
		c := keys.UserCaller(acct, name, false)
		c.Delegate = func(keyID, op string) bool {
			asked = append(asked, use{keyID, op})
			for _, m := range may {
				if m == (use{keyID, op}) {
					return true
				}
			}
			return false
		}
		return c
	}
	nobody := user("nick")
	writer := user("olivia", use{arn, "kms:GenerateDataKey"})
	reader := user("audrey", use{arn, "kms:Decrypt"})
	recorder := keys.Caller{Account: acct, Service: keys.RecorderService}
	denied := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, keys.ErrAccessDenied) || !strings.Contains(err.Error(), arn) {
			t.Errorf("%s: %v, want ErrAccessDenied naming %s", what, err, arn)
		}
	}

	_, _, err = ks.GenerateDataKey(ctx, nobody, arn, ec)
	denied("a user the account's policies do not allow GenerateDataKey", err)
	_, _, err = ks.GenerateDataKey(ctx, reader, arn, ec)
	denied("a reader making a data key", err)
	dk, wrapped, err := ks.GenerateDataKey(ctx, writer, arn, ec)
	if err != nil {
		t.Fatalf("a user allowed GenerateDataKey: %v", err)
	}

	_, err = ks.Decrypt(ctx, nobody, wrapped, ec)
	denied("a user the account's policies do not allow Decrypt", err)
	_, err = ks.Decrypt(ctx, writer, wrapped, ec)
	denied("a writer unwrapping", err)
	for _, c := range []keys.Caller{reader, recorder, keys.UserCaller(acct, "admin", true)} {
		if got, err := ks.Decrypt(ctx, c, wrapped, ec); err != nil || !bytes.Equal(got, dk) {
			t.Errorf("%s%s unwrapping: %v", c.ARN, c.Service, err)
		}
	}

	denied("authorizing a user's read", ks.Authorize(ctx, nobody, arn, "kms:Decrypt", ec))
	if err := ks.Authorize(ctx, reader, arn, "kms:Decrypt", ec); err != nil {
		t.Errorf("authorizing a reader's read: %v", err)
	}

	// The account's policies were asked about the key by its ARN, with
	// the KMS operation, as for a built-in key.
	for _, a := range asked {
		if a.key != arn || (a.op != "kms:Decrypt" && a.op != "kms:GenerateDataKey") {
			t.Errorf("the account's policies were asked about %+v", a)
		}
	}
	if len(asked) == 0 {
		t.Error("the account's policies were never asked")
	}
}
