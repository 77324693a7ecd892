package server_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/authn"
	"github.com/postern/postern/authz"
	"github.com/postern/postern/awskms"
	"github.com/postern/postern/awskms/kmstest"
	"github.com/postern/postern/client"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/server"
	"github.com/postern/postern/store"
)

// keyServer is a server with the key service and a sealed log store, as
// postern server runs, and clients for an administrator and a user.
type keyServer struct {
	admin, bob *client.Client
	ks         *keys.Service
	ls         *logstore.Store
}

// startKeyServer starts a keyServer whose key service has opts (AWS KMS
// as its External, say).
func startKeyServer(t *testing.T, opts keys.Options) *keyServer {
	t.Helper()
	t.Setenv(keys.RootKeyEnv, "")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default"})
	hash, _ := authn.HashPassword("pw")
	for _, u := range []store.User{{Name: "admin", Groups: []string{"administrators"}}, {Name: "bob", Groups: []string{"readers"}}} {
		u.Account, u.PasswordHash = store.DefaultAccount, hash
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	// Bob may read log groups, but no key policy or Cedar policy lets him
	// decrypt with their keys.
	for _, p := range []store.Policy{
		{ID: authz.DefaultPolicyID, Text: authz.DefaultPolicies},
		{ID: "readers", Text: `permit (principal in Group::"readers", action in [Action::"GetLogEvents", Action::"QueryLogs", Action::"DescribeKeys"], resource);`},
	} {
		p.Account = store.DefaultAccount
		if err := st.PutPolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := keys.Open(ctx, st, filepath.Join(dir, "root.key"), opts)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := logstore.Open(ctx, filepath.Join(dir, "logs.db"), logstore.Options{Logf: t.Logf, Keys: keys.LogGroupKeys{S: ks}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{DataDir: dir, Store: st, Logf: t.Logf, Keys: ks, LogStore: ls})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; ls.Close(); st.Close() })
	ksv := &keyServer{ks: ks, ls: ls}
	for name, c := range map[string]**client.Client{"admin": &ksv.admin, "bob": &ksv.bob} {
		tok, _, err := srv.IssueToken(ctx, store.DefaultAccount, name, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if *c, err = client.New(client.Config{Server: "https://" + ln.Addr().String(), CA: string(srv.CA().CertPEM), Token: tok}); err != nil {
			t.Fatal(err)
		}
	}
	return ksv
}

// TestEncryptedGroupReaders: reading an encrypted group's events takes
// kms:Decrypt under its key's policy, as with CloudWatch Logs; managing the
// key takes what the policy grants administrators.
func TestEncryptedGroupReaders(t *testing.T) {
	ts := startKeyServer(t, keys.Options{})
	ctx := t.Context()
	k, err := ts.admin.CreateKey(ctx, api.CreateKeyRequest{Policy: `{"Statement": [
		{"Effect": "Allow", "Principal": {"Postern": "prn:postern:iam:000000000001:root"}, "Action": "kms:*"},
		{"Effect": "Allow", "Principal": {"Service": "logs.postern"}, "Action": ["kms:GenerateDataKey", "kms:Decrypt"]}]}`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.CreateLogGroup(ctx, api.CreateLogGroupRequest{Name: "audit", KMSKeyID: k.KeyID}); err != nil {
		t.Fatal(err)
	}
	if err := ts.ls.PutEvents(ctx, store.DefaultAccount, "audit", "s", []logstore.Event{{Time: time.Now(), Message: "secret"}}); err != nil {
		t.Fatal(err)
	}
	if evs, err := ts.admin.LogEvents(ctx, "audit", "s", 0, 100); err != nil || len(evs) != 1 || evs[0].Message != "secret" {
		t.Fatalf("an administrator reading: %v, %v", evs, err)
	}
	denied := func(what string, err error) {
		t.Helper()
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != 403 || !strings.Contains(err.Error(), "may not kms:Decrypt") {
			t.Errorf("%s: %v, want 403 naming kms:Decrypt", what, err)
		}
	}
	_, err = ts.bob.LogEvents(ctx, "audit", "s", 0, 100)
	denied("bob's events", err)
	_, err = ts.bob.Query(ctx, "fields @message", "audit", time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
	denied("bob's query", err)
	_, err = ts.bob.Tail(ctx, client.TailOptions{Group: "audit"})
	denied("bob's tail", err)
	if _, err := ts.bob.KeyAction(ctx, "disable", api.KeyRequest{KeyID: k.KeyID}); err == nil || !strings.Contains(err.Error(), "may not kms:DisableKey") {
		t.Errorf("bob disabling the key: %v", err)
	}
	// Disabled, the key serves no reader, administrators included.
	if _, err := ts.admin.KeyAction(ctx, "disable", api.KeyRequest{KeyID: k.KeyID}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.LogEvents(ctx, "audit", "s", 0, 100); err == nil || !strings.Contains(err.Error(), "is Disabled") {
		t.Errorf("reading a group whose key is disabled: %v", err)
	}
}

// TestAWSKMSGroupReaders: a group sealed with an AWS KMS key is read as a
// built-in one is, with the reader held to the account's policies
// (UseKey, kms:Decrypt) before the server decrypts for them: AWS
// evaluates its key policy for the server's own identity only, so without
// Postern's check anyone who may read the group would read it.
func TestAWSKMSGroupReaders(t *testing.T) {
	kmsSrv := kmstest.Start(t)
	aws, err := awskms.New(t.Context(), awskms.Config{Endpoint: kmsSrv.URL, Region: kmstest.Region, AccessKeyID: "test", SecretAccessKey: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ts := startKeyServer(t, keys.Options{External: aws})
	ctx := t.Context()
	arn := kmsSrv.CreateKey(t, "ssm-secure")
	if _, err := ts.admin.CreateLogGroup(ctx, api.CreateLogGroupRequest{Name: "ssm-secure", KMSKeyID: arn}); err != nil {
		t.Fatal(err)
	}
	if err := ts.ls.PutEvents(ctx, store.DefaultAccount, "ssm-secure", "s", []logstore.Event{{Time: time.Now(), Message: "secret"}}); err != nil {
		t.Fatal(err)
	}
	if evs, err := ts.admin.LogEvents(ctx, "ssm-secure", "s", 0, 100); err != nil || len(evs) != 1 || evs[0].Message != "secret" {
		t.Fatalf("an administrator reading: %v, %v", evs, err)
	}
	denied := func(what string, err error) {
		t.Helper()
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != 403 || !strings.Contains(err.Error(), "may not kms:Decrypt with key "+arn) {
			t.Errorf("%s: %v, want 403 naming kms:Decrypt with %s", what, err, arn)
		}
	}
	// Bob may read log groups, but nothing lets him use keys.
	_, err = ts.bob.LogEvents(ctx, "ssm-secure", "s", 0, 100)
	denied("bob's events", err)
	_, err = ts.bob.Query(ctx, "fields @message", "ssm-secure", time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
	denied("bob's query", err)
	_, err = ts.bob.Tail(ctx, client.TailOptions{Group: "ssm-secure"})
	denied("bob's tail", err)
	// Once the account's policies let readers decrypt, he reads.
	if _, err := ts.admin.PutPolicy(ctx, "readers-decrypt", `permit (principal in Group::"readers", action == Action::"UseKey", resource is Key) when { context.operation == "kms:Decrypt" };`); err != nil {
		t.Fatal(err)
	}
	if evs, err := ts.bob.LogEvents(ctx, "ssm-secure", "s", 0, 100); err != nil || len(evs) != 1 || evs[0].Message != "secret" {
		t.Errorf("bob reading with UseKey: %v, %v", evs, err)
	}
}
