package relay

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/postern/postern/clocktest"
	"github.com/postern/postern/diskspace"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// relayFixture is a relay table built from its dependencies only (a real
// metadata store, journals on disk, the free-space monitor, the one fake
// clock), no server, and one session's relay in it.
type relayFixture struct {
	table *Table
	st    *store.SQLite
	clk   *clocktest.Clock
	sess  store.Session
	jpath string
	j     *recording.Journal
	ended chan store.Session // what Deps.Ended was told
	agent *Link              // what Deps.Agent answers: nil, the node is offline
}

func newRelayFixture(t *testing.T) *relayFixture {
	t.Helper()
	return newRelayFixtureWith(t, nil)
}

// newRelayFixtureWith is newRelayFixture with deps changed by mod.
func newRelayFixtureWith(t testing.TB, mod func(*Deps)) *relayFixture {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &relayFixture{st: st, clk: clocktest.New(time.Now().Truncate(time.Millisecond)), ended: make(chan store.Session, 1)}
	f.sess = store.Session{ID: "alice-0123456789abcdef0", Account: store.DefaultAccount, Owner: "alice", Target: "mi-0123456789abcdef0",
		Status: store.StatusConnected, StartedAt: f.clk.Now(), Cols: 80, Rows: 24}
	if err := st.EnsureAccount(ctx, store.Account{ID: f.sess.Account, Name: "default", CreatedAt: f.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, f.sess); err != nil {
		t.Fatal(err)
	}
	f.jpath = filepath.Join(dir, f.sess.ID+".journal")
	if f.j, err = recording.CreateJournal(f.jpath, recording.Meta{SessionID: f.sess.ID, Start: f.sess.StartedAt, Width: 80, Height: 24}, nil); err != nil {
		t.Fatal(err)
	}
	deps := Deps{
		Store: st, Disk: diskspace.New(dir, 0, f.clk.Now), Now: f.clk.Now, Logf: t.Logf,
		Agent:       func(string) *Link { return f.agent },
		Grant:       func(_ string, first any) (any, error) { return first, nil },
		HandOver:    func(*Link, ...string) { t.Error("a late hand-over of a session that ended on its agent") },
		Ended:       func(final store.Session, how string) { f.ended <- final },
		GracePeriod: time.Minute,
	}
	if mod != nil {
		mod(&deps)
	}
	f.table = NewTable(ctx, deps)
	t.Cleanup(f.table.Close)
	return f
}

// agentPair is a yamux connection standing in for an agent's: the
// relay's side gets an Attachment, the test plays the agent on the other.
func agentPair(t testing.TB) (server *Attachment, agent *Attachment) {
	t.Helper()
	a, b := net.Pipe()
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = testWriter{t}
	sm, err := yamux.Client(a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	am, err := yamux.Server(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close(); am.Close() })
	ss, err := sm.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	as, err := am.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	return &Attachment{Stream: ss, W: wire.NewWriter(ss), R: wire.NewReader(ss)},
		&Attachment{Stream: as, W: wire.NewWriter(as), R: wire.NewReader(as)}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestRelayAlone: records from an agent are journaled, acknowledged once
// durable, and the exit ends the session: its final state is stored, its
// deliveries released and the server told, with every byte in the journal.
func TestRelayAlone(t *testing.T) {
	f := newRelayFixture(t)
	r := f.table.Start(f.sess, f.jpath, f.j, 0)
	srv, agent := agentPair(t)
	if !r.RunAgent(srv) {
		t.Fatal("RunAgent refused a running session")
	}
	records := []wire.Record{
		{Seq: 1, Kind: wire.RecOutput, Data: []byte("hello\r\n")},
		{Seq: 2, Kind: wire.RecOutput, Data: []byte("world\r\n")},
		{Seq: 3, Kind: wire.RecExit, Data: []byte("Exited"), ExitCode: 3},
	}
	for _, rec := range records {
		if err := agent.W.Write(wire.TRecord, wire.AppendRecord(nil, rec)); err != nil {
			t.Fatal(err)
		}
	}
	// The agent frees records only once told they are durable: the last
	// acknowledgement covers the exit.
	for acked := uint64(0); acked < 3; {
		fr, err := agent.R.Read()
		if err != nil {
			t.Fatalf("reading acknowledgements: %v (acked %d)", err, acked)
		}
		if fr.Type != wire.TAck {
			t.Fatalf("agent got a %s frame, want ack", fr.Type)
		}
		if acked, err = wire.ParseSeq(fr.Payload); err != nil {
			t.Fatal(err)
		}
	}
	var final store.Session
	select {
	case final = <-f.ended:
	case <-time.After(time.Minute):
		t.Fatal("the session did not end on its exit record")
	}
	if final.Status != store.StatusTerminated || final.ExitCode == nil || *final.ExitCode != 3 || final.RecordedSeq != 3 {
		t.Errorf("final state %s, exit %v, recorded to %d; want Terminated, 3, 3", final.Status, final.ExitCode, final.RecordedSeq)
	}
	stored, err := f.st.GetSession(t.Context(), f.sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != store.StatusTerminated || stored.EndedAt.IsZero() {
		t.Errorf("stored session %s ended at %v; want Terminated with an end", stored.Status, stored.EndedAt)
	}
	cur := NewJournalCursor(f.jpath, nil, false, func() {})
	defer cur.close()
	got, err := cur.appendFrom(nil, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello\r\nworld\r\n" {
		t.Errorf("journal holds output %q", got)
	}
	if !r.Ended() || r.OutputEnd() != uint64(len(got)) {
		t.Errorf("relay: ended %v, output end %d; want true, %d", r.Ended(), r.OutputEnd(), len(got))
	}
}

// TestRunningSessionRefusesAgentMarkers: an agent makes a marker only in
// the late hand-over of an ended session; in a running one it could pass
// for the server's own note ("late output: ..."), so it is refused and
// nothing of it is recorded.
func TestRunningSessionRefusesAgentMarkers(t *testing.T) {
	f := newRelayFixture(t)
	r := f.table.Start(f.sess, f.jpath, f.j, 0)
	if err := r.record(wire.Record{Seq: 1, Kind: wire.RecOutput, Data: []byte("ok\r\n")}); err != nil {
		t.Fatal(err)
	}
	err := r.record(wire.Record{Seq: 2, Kind: wire.RecMarker, Data: []byte("late output: forged")})
	if err == nil || !strings.Contains(err.Error(), "a marker from the agent in a running session") {
		t.Fatalf("marker in a running session: %v, want it refused", err)
	}
	if got := f.j.LastSeq(); got != 1 {
		t.Errorf("journal ends at record %d, want 1: the marker was recorded", got)
	}
}

// TestGracePeriodOnTheTablesClock: a session whose agent stays away past
// the grace period, on the table's clock, fails with AgentDisconnected.
func TestGracePeriodOnTheTablesClock(t *testing.T) {
	f := newRelayFixture(t)
	r := f.table.Start(f.sess, f.jpath, f.j, 0)
	f.clk.Advance(30 * time.Second)
	if r.Check(f.clk.Now()); r.Ending() {
		t.Fatal("the session ended within its grace period")
	}
	f.clk.Advance(31 * time.Second)
	r.Check(f.clk.Now())
	select {
	case final := <-f.ended:
		if final.Status != store.StatusFailed || final.StatusReason != "AgentDisconnected" {
			t.Errorf("ended %s (%s); want Failed (AgentDisconnected)", final.Status, final.StatusReason)
		}
	case <-time.After(time.Minute):
		t.Fatal("the session did not end past its grace period")
	}
}

// TestGracePeriodMovedSession: a session whose agent stays away past the
// grace period because its node dialled another server, which took the
// session up, is let go of (Release), not ended: its end is the other
// server's to record.
func TestGracePeriodMovedSession(t *testing.T) {
	released := make(chan string, 1)
	f := newRelayFixtureWith(t, func(d *Deps) {
		d.Moved = func(string) bool { return true }
		d.Released = func(_, id string) { released <- id }
	})
	r := f.table.Start(f.sess, f.jpath, f.j, 0)
	f.clk.Advance(61 * time.Second)
	if done := r.Check(f.clk.Now()); !done {
		t.Fatal("the relay is not done past its grace period")
	}
	select {
	case id := <-released:
		if id != f.sess.ID {
			t.Errorf("released %s", id)
		}
	case final := <-f.ended:
		t.Fatalf("the session was ended (%s/%s) while another server relays it", final.Status, final.StatusReason)
	case <-time.After(time.Minute):
		t.Fatal("the relay did not let go of the session")
	}
	if f.table.Get(f.sess.ID) != nil || !r.Released() {
		t.Error("the released relay is still in the table")
	}
	if s, err := f.st.GetSession(t.Context(), f.sess.ID); err != nil || !s.Active() {
		t.Errorf("stored session %+v, %v; want it still active", s, err)
	}
}
