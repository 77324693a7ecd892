package logstore_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/clocktest"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/store"
)

// sealedStore opens a log store whose groups are sealed by a real key
// service, over a real metadata store, in dir.
func sealedStore(t *testing.T, dir string, c *clocktest.Clock) (*logstore.Store, *keys.Service) {
	t.Helper()
	t.Setenv(keys.RootKeyEnv, "")
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureAccount(t.Context(), store.Account{ID: acct, Name: "default"}); err != nil {
		t.Fatal(err)
	}
	ks, err := keys.Open(t.Context(), st, filepath.Join(dir, "root.key"), keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := openStore(t, filepath.Join(dir, "logs.db"), logstore.Options{Now: c.Now, Logf: t.Logf, Keys: keys.LogGroupKeys{S: ks}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	return ls, ks
}

// TestSealedGroups: what a group holds is encrypted in the database file,
// index included, and reads as before.
func TestSealedGroups(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s, _ := sealedStore(t, dir, c)
	ctx := t.Context()
	mustCreate(t, s, logstore.Group{Account: acct, Name: "/postern/sessions"})
	const secret = "Zq5SealedSecret"
	var evs []logstore.Event
	for i := range 9000 { // more than a segment
		msg := `{"sessionData":["line ` + strings.Repeat("x", i%7) + `"]}`
		if i%1000 == 3 {
			msg = `{"sessionData":["export TOKEN=` + secret + `"]}`
		}
		evs = append(evs, ev(c.Now(), msg))
	}
	mustPut(t, s, acct, "/postern/sessions", "alice-0123456789abcdef0", evs...)
	if err := s.IndexIdle(ctx); err != nil {
		t.Fatal(err)
	}
	g, err := s.Group(ctx, acct, "/postern/sessions")
	if err != nil || !g.Encrypted || g.IndexBytes == 0 || g.StoredBytes < 9000*20 {
		t.Fatalf("Group = %+v, %v; want encrypted, indexed, its plain size", g, err)
	}
	for _, f := range []string{"logs.db", "logs.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(secret))) || bytes.Contains(b, []byte("sessionData")) {
			t.Errorf("%s holds event text in the clear", f)
		}
	}
	// Reads open what they return: a stream, the index, the unindexed tail.
	if got := mustEvents(t, s, acct, "/postern/sessions", "alice-0123456789abcdef0"); len(got) != 9000 || got[3].Message != evs[3].Message {
		t.Fatalf("Events: %d events, first secret %q", len(got), got[3].Message)
	}
	rd := s.ReadGroup(ctx, acct, "/postern/sessions", logstore.ReadOptions{AnyOf: [][]string{{secret}}})
	n := 0
	for e, ok := rd.Next(); ok; e, ok = rd.Next() {
		if !strings.Contains(e.Message, secret) {
			t.Errorf("read %q for %q", e.Message, secret)
		}
		n++
	}
	rd.Close()
	if rd.Err() != nil || n != 9 {
		t.Errorf("ReadGroup found %d of 9, %v", n, rd.Err())
	}
	// Paging by three: every page holds the literal, and only the last is
	// empty.
	n = 0
	for after := int64(0); ; {
		page, err := s.GroupEventsContaining(ctx, acct, "/postern/sessions", after, 3, [][]string{{secret}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if !strings.Contains(e.Message, secret) {
				t.Errorf("GroupEventsContaining returned %q", e.Message)
			}
		}
		n += len(page)
		after = page[len(page)-1].ID
	}
	if n != 9 {
		t.Errorf("GroupEventsContaining found %d of 9", n)
	}
}

// TestSealedGroupKeyPolicy: a group may use a key only if the key's policy
// lets the log store use it for that group, as in Session Manager's
// logging guide.
func TestSealedGroupKeyPolicy(t *testing.T) {
	dir := t.TempDir()
	s, ks := sealedStore(t, dir, newClock())
	ctx := t.Context()
	policy := `{"Statement": [
		{"Effect": "Allow", "Principal": {"Postern": "prn:postern:iam:000000000001:root"}, "Action": "kms:*"},
		{"Effect": "Allow", "Principal": {"Service": "logs.postern"}, "Action": ["kms:GenerateDataKey*", "kms:Decrypt*"],
		 "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "prn:postern:logs:000000000001:log-group/ssm-secure-*"}}}]}`
	k, err := ks.Create(ctx, acct, keys.CreateOptions{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, logstore.Group{Account: acct, Name: "ssm-secure-consolelog-group", KMSKeyID: k.ARN}); err != nil {
		t.Fatalf("a group the policy names: %v", err)
	}
	if err := s.CreateGroup(ctx, logstore.Group{Account: acct, Name: "scratch", KMSKeyID: k.ARN}); !errors.Is(err, keys.ErrAccessDenied) {
		t.Errorf("a group the policy does not name: %v, want access denied", err)
	}
	mustPut(t, s, acct, "ssm-secure-consolelog-group", "s", ev(newClock().Now(), "hello"))
	// A disabled key: the group cannot be written or read by a store that
	// has not got its key yet.
	admin := keys.UserCaller(acct, "admin", true)
	if err := ks.Disable(ctx, admin, k.ID); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := openStore(t, filepath.Join(dir, "logs.db"), logstore.Options{Keys: keys.LogGroupKeys{S: ks}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Events(ctx, acct, "ssm-secure-consolelog-group", "s", 0, 0); !errors.Is(err, keys.ErrInvalidState) {
		t.Errorf("reading a group whose key is disabled: %v", err)
	}
}
