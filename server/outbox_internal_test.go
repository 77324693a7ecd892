package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
)

// TestOutboxRendersAfterRestart leaves what a server that died between a
// session's end and its rendering leaves (a closed journal and an outbox
// entry) and checks that the next start renders the artifacts and clears
// the entry.
func TestOutboxRendersAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	const id = "alice-0123456789abcdef0"
	s := &Server{cfg: Config{DataDir: dir}}
	jpath := s.journalPath(store.DefaultAccount, id)
	if err := os.MkdirAll(filepath.Dir(jpath), 0o700); err != nil {
		t.Fatal(err)
	}
	j, err := recording.CreateJournal(jpath, recording.Meta{SessionID: id, Start: time.Unix(1700000000, 0), Width: 80, Height: 24})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range []recording.Record{
		{Kind: recording.KindOutput, Data: []byte("$ make audit\r\nall clear\r\n")},
		{Kind: recording.KindExit, ExitCode: 0},
	} {
		r.Seq, r.Time = uint64(i+1), time.Duration(i)*time.Second
		if _, err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(dir, "outbox", store.DefaultAccount, id)
	if err := os.MkdirAll(filepath.Dir(entry), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entry, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(Config{DataDir: dir, Store: st, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := srv.outbox.wait(wctx, store.DefaultAccount, id); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(srv.recordingPath(store.DefaultAccount, id, "log"))
	if err != nil || !strings.Contains(string(text), "all clear") {
		t.Fatalf("transcript %q, %v", text, err)
	}
	if _, err := os.Stat(srv.recordingPath(store.DefaultAccount, id, "cast")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(entry); !os.IsNotExist(err) {
		t.Fatalf("outbox entry still there: %v", err)
	}
}
