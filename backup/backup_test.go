package backup_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/postern/postern/backup"
	"github.com/postern/postern/store"
)

// dataDir makes a server's data directory: a real metadata database, a
// key, a certificate and a journal.
func dataDir(t *testing.T) (string, *store.SQLite) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	for _, d := range []string{"tls", "sessions/default"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{
		"root.key":                     "the root key",
		"tls/ca.key":                   "the CA's key",
		"sessions/default/s-1.journal": strings.Repeat("journal ", 1000),
		"instance-id":                  "vm/abc",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return dir, st
}

// TestBackupWhileWriting backs a data directory up while its database
// is written to from another goroutine, as a running server's is, and
// restores it: the restored database opens, holds every user created
// before the backup began, and no half of any transaction; every other
// file comes back as it was.
func TestBackupWhileWriting(t *testing.T) {
	ctx := t.Context()
	dir, st := dataDir(t)
	var made atomic.Int64
	mk := func(i int64) error {
		return st.CreateUser(context.Background(), store.User{Account: store.DefaultAccount, Name: fmt.Sprintf("user-%05d", i)})
	}
	if err := st.EnsureAccount(ctx, store.Account{ID: store.DefaultAccount, Name: "default"}); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := mk(made.Add(1)); err != nil {
			t.Fatal(err)
		}
	}
	before := made.Load()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := mk(made.Add(1)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	dest := filepath.Join(t.TempDir(), "backup")
	m, err := backup.Create(ctx, dir, dest, backup.Options{Version: "test"})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "test" || len(m.Files) != 5 {
		t.Errorf("manifest: version %q, files %+v", m.Version, m.Files)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(ctx, dest, restored); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"root.key", "tls/ca.key", "sessions/default/s-1.journal", "instance-id"} {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, err := os.ReadFile(filepath.Join(restored, name))
		if err != nil || string(a) != string(b) {
			t.Errorf("%s restored as %d bytes (%v), want %d", name, len(b), err, len(a))
		}
		if fi, err := os.Stat(filepath.Join(restored, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", name, fi.Mode(), err)
		}
	}
	got, err := store.OpenSQLite(ctx, filepath.Join(restored, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	users, err := got.ListUsers(ctx, store.DefaultAccount)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(users)) < before || int64(len(users)) > made.Load() {
		t.Errorf("restored %d users; %d were made before the backup, %d in all", len(users), before, made.Load())
	}
	// Whole: the users are 1..n, none missing in between.
	for i, u := range users {
		if want := fmt.Sprintf("user-%05d", i+1); u.Name != want {
			t.Fatalf("user %d is %s, want %s: the snapshot is not one transaction's view", i, u.Name, want)
		}
	}
	t.Logf("backed up while writing: %d users made before, %d restored, %d in the end", before, len(users), made.Load())
}

// TestRestoreRefuses: a damaged backup, one that did not finish, and a
// target that holds files are refused with why, and nothing is written.
func TestRestoreRefuses(t *testing.T) {
	ctx := t.Context()
	dir, _ := dataDir(t)
	dest := filepath.Join(t.TempDir(), "backup")
	if _, err := backup.Create(ctx, dir, dest, backup.Options{}); err != nil {
		t.Fatal(err)
	}
	// The root key left out, to be kept apart: the rest restores.
	apart := filepath.Join(t.TempDir(), "apart")
	if m, err := backup.Create(ctx, dir, apart, backup.Options{Exclude: []string{"root.key"}}); err != nil || len(m.Excluded) != 1 {
		t.Fatalf("excluding root.key: %+v, %v", m, err)
	}
	if _, err := os.Stat(filepath.Join(apart, "root.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("root.key is in a backup that excluded it: %v", err)
	}
	if _, err := backup.Restore(ctx, apart, filepath.Join(t.TempDir(), "r")); err != nil {
		t.Errorf("restoring a backup without root.key: %v", err)
	}
	if _, err := backup.Create(ctx, dir, dest, backup.Options{}); !errors.Is(err, backup.ErrNotEmpty) {
		t.Errorf("a backup into a backup: %v, want ErrNotEmpty", err)
	}
	if _, err := backup.Create(ctx, dir, filepath.Join(dir, "inside"), backup.Options{}); err == nil || !strings.Contains(err.Error(), "inside the data directory") {
		t.Errorf("a backup inside the data directory: %v", err)
	}

	full := filepath.Join(t.TempDir(), "full")
	os.MkdirAll(full, 0o700)
	os.WriteFile(filepath.Join(full, "postern.db"), []byte("the live one"), 0o600)
	if _, err := backup.Restore(ctx, dest, full); !errors.Is(err, backup.ErrNotEmpty) {
		t.Errorf("restore over a data directory: %v, want ErrNotEmpty", err)
	}
	if b, _ := os.ReadFile(filepath.Join(full, "postern.db")); string(b) != "the live one" {
		t.Error("restore changed a directory it refused")
	}

	journal := filepath.Join(dest, "sessions", "default", "s-1.journal")
	orig, _ := os.ReadFile(journal)
	os.WriteFile(journal, append(orig[:len(orig)-1], 'X'), 0o600)
	target := filepath.Join(t.TempDir(), "new")
	_, err := backup.Restore(ctx, dest, target)
	if err == nil || !strings.Contains(err.Error(), "sessions/default/s-1.journal") || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("a damaged journal: %v; want it named", err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused restore left %s behind: %v", target, err)
	}
	os.WriteFile(journal, orig, 0o600)

	os.WriteFile(filepath.Join(dest, "stray"), []byte("x"), 0o600)
	if _, err := backup.Restore(ctx, dest, target); err == nil || !strings.Contains(err.Error(), "stray: not in the manifest") {
		t.Errorf("a file the manifest does not list: %v", err)
	}
	os.Remove(filepath.Join(dest, "stray"))

	os.Remove(filepath.Join(dest, backup.ManifestName))
	if _, err := backup.Restore(ctx, dest, target); err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Errorf("a backup without its manifest: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(target))
	for _, e := range entries {
		if strings.Contains(e.Name(), "restoring") {
			t.Errorf("%s left behind", e.Name())
		}
	}
}
