package server

import (
	"context"
	"encoding/json"

	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/delivery"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
)

// TestOwnLogsIndexCap streams a session that prints more than Postern's
// own log store indexes: the lines up to the cap arrive, then one line
// that says the rest is in the recording, and the commands after the cap
// still arrive as command events.
func TestOwnLogsIndexCap(t *testing.T) {
	ctx := context.Background()
	srv, st, ls, sess, j := ownLogsSession(t, "alice-00000000000000002")
	start := sess.StartedAt
	line := strings.Repeat("x", 60) + "\r\n" // narrower than the terminal
	chunk := strings.Repeat(line, 1000)
	seq := uint64(0)
	add := func(data string) {
		seq++
		if _, err := j.Append(recording.Record{Seq: seq, Time: time.Duration(seq) * time.Millisecond, Kind: recording.KindOutput, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 { // 2 MB of output, twice the cap
		add(chunk)
	}
	add("\x1b]133;A\x07$ \x1b]133;B\x07")
	add("echo after-the-cap\r\n\x1b]133;C\x07")
	add("after-the-cap\r\n\x1b]133;D;0\x07")
	seq++
	j.Append(recording.Record{Seq: seq, Kind: recording.KindExit})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	dl := store.Delivery{Account: sess.Account, SessionID: sess.ID, Destination: ownLogs, Artifact: "events",
		Target: `{"logGroup":"/postern/sessions","streaming":true}`, Status: store.DeliveryPending, CreatedAt: start}
	if err := st.CreateDeliveries(ctx, []store.Delivery{dl}); err != nil {
		t.Fatal(err)
	}
	dest, _ := srv.logDestination(ownLogs)
	// A worker of the server's with a 1 MiB cap and no budget per flush.
	deps := srv.deliveryDeps()
	deps.Limits = delivery.StreamLimits{OwnLogsMaxOutput: 1 << 20, OwnLogsBudget: 1 << 30}
	if err := delivery.New(deps).Stream(ctx, &dl, dest, CloudWatchTarget{Account: sess.Account, LogGroup: OwnLogGroup, Streaming: true}); err != nil {
		t.Fatal(err)
	}
	evs, err := ls.Events(ctx, sess.Account, OwnLogGroup, sess.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lines, commands int
	var notice bool
	for _, e := range evs {
		var m struct {
			EventType   string   `json:"eventType"`
			Command     string   `json:"command"`
			SessionData []string `json:"sessionData"`
		}
		if err := json.Unmarshal([]byte(e.Message), &m); err != nil {
			t.Fatal(err)
		}
		if m.EventType == "Command" {
			commands++
			if m.Command != "echo after-the-cap" {
				t.Errorf("command event %s", e.Message)
			}
		}
		for _, l := range m.SessionData {
			switch {
			case l == strings.TrimSuffix(line, "\r\n"):
				lines++
			case strings.Contains(l, "beyond 1 MiB is not indexed"):
				notice = true
			case strings.Contains(l, "after-the-cap"):
				t.Errorf("a line after the cap was indexed: %q", l)
			}
		}
	}
	// The cap falls inside the record that crosses it: every line of it.
	capLines := (1<<20/len(chunk) + 1) * 1000
	if lines != capLines || !notice || commands != 1 {
		t.Errorf("indexed %d lines (want %d), notice %v, %d command events (want 1)", lines, capLines, notice, commands)
	}

}

// ownLogsSession is a server with a store and a log store, its account's
// own log group made, and an ended session of alice's (id) with a fresh
// plain journal, for tests of what a session's recording becomes in the
// built-in logs.
func ownLogsSession(t *testing.T, id string) (*Server, *store.SQLite, *logstore.Store, store.Session, *recording.Journal) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ls, err := logstore.Open(ctx, filepath.Join(dir, "logs.db"), logstore.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	srv, err := New(Config{DataDir: dir, Store: st, Logf: t.Logf, LogStore: ls})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.ensureOwnLogGroup(ctx, store.DefaultAccount); err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1700000000, 0)
	sess := store.Session{ID: id, Account: store.DefaultAccount, Owner: "alice", Target: "mi-00000000000000001",
		Document: DefaultDocument, Status: store.StatusTerminated, RunAsUser: "alice", StartedAt: start, EndedAt: start.Add(time.Minute), Cols: 80, Rows: 24}
	if err := st.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	jpath := srv.journalPath(sess.Account, sess.ID)
	os.MkdirAll(filepath.Dir(jpath), 0o700)
	j, err := recording.CreateJournal(jpath, recording.Meta{SessionID: sess.ID, Start: start, Width: 80, Height: 24}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return srv, st, ls, sess, j
}
