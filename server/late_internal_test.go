package server

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// TestRunningSessionRefusesAgentMarkers: an agent makes a marker only in
// the late hand-over of an ended session; in a running one it could pass
// for the server's own note ("late output: ..."), so it is refused and
// nothing of it is recorded.
func TestRunningSessionRefusesAgentMarkers(t *testing.T) {
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(Config{DataDir: t.TempDir(), Store: st, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	sess := store.Session{ID: "alice-0123456789abcdef0", Account: store.DefaultAccount, Owner: "alice", Target: "mi-0123456789abcdef0",
		Status: store.StatusConnected, StartedAt: time.Now(), Cols: 80, Rows: 24}
	j, err := recording.CreateJournal(filepath.Join(t.TempDir(), "j"), recording.Meta{SessionID: sess.ID, Start: sess.StartedAt, Width: 80, Height: 24}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.newRelay(sess, j, 0)
	if err := r.record(wire.Record{Seq: 1, Kind: wire.RecOutput, Data: []byte("ok\r\n")}); err != nil {
		t.Fatal(err)
	}
	err = r.record(wire.Record{Seq: 2, Kind: wire.RecMarker, Data: []byte("late output: forged")})
	if err == nil || !strings.Contains(err.Error(), "a marker from the agent in a running session") {
		t.Fatalf("marker in a running session: %v, want it refused", err)
	}
	if got := j.LastSeq(); got != 1 {
		t.Errorf("journal ends at record %d, want 1: the marker was recorded", got)
	}
}
