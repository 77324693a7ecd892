package relay

import (
	"context"
	"testing"
	"time"

	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// TestHoldKeepsSessionForItsServer: a session held by the server itself
// outlives the grace period without a client, its input is ended at
// once, and Wait returns how it ended; without the hold, the same grace
// period ends it (ClientDisconnected).
func TestHoldKeepsSessionForItsServer(t *testing.T) {
	f := newRelayFixture(t)
	// A command without a terminal, as Run Command's are.
	f.j.Close()
	j, err := recording.CreateJournal(f.jpath+".pipes", recording.Meta{SessionID: f.sess.ID, Start: f.sess.StartedAt, Pipes: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := f.table.Start(f.sess, f.jpath+".pipes", j, 0)
	release := r.Hold()
	r.CloseInput()
	srv, agent := agentPair(t)
	if !r.RunAgent(srv) {
		t.Fatal("RunAgent refused a running session")
	}
	// The end of input reaches the agent that attaches after it.
	fr, err := agent.R.Read()
	if err != nil || fr.Type != wire.TInputEOF {
		t.Fatalf("the agent got %v (%v), want the end of input", fr.Type, err)
	}
	f.clk.Advance(2 * time.Minute)
	r.Check(f.clk.Now())
	if st := r.Session().Status; st != store.StatusConnected {
		t.Fatalf("a held session past the grace period is %s, want it running", st)
	}
	waited := make(chan store.Session, 1)
	go func() {
		final, ok := r.Wait(t.Context())
		if !ok {
			t.Error("Wait gave up on a session that ended")
		}
		waited <- final
	}()
	for _, rec := range []wire.Record{{Seq: 1, Kind: wire.RecOutput, Data: []byte("done\n")}, {Seq: 2, Kind: wire.RecExit, Data: []byte("Exited"), ExitCode: 4}} {
		if err := agent.W.Write(wire.TRecord, wire.AppendRecord(nil, rec)); err != nil {
			t.Fatal(err)
		}
	}
	final := <-waited
	if final.Status != store.StatusTerminated || final.ExitCode == nil || *final.ExitCode != 4 {
		t.Errorf("Wait: %s exit %v, want Terminated exit 4", final.Status, final.ExitCode)
	}
	// Held, the ended relay stays in the table; released, it leaves.
	f.clk.Advance(time.Minute)
	if r.Check(f.clk.Now()) {
		t.Error("an ended relay left the table while held")
	}
	release()
	release() // harmless twice
	f.clk.Advance(time.Minute)
	if !r.Check(f.clk.Now()) || f.table.Get(f.sess.ID) != nil {
		t.Error("an ended, released relay stayed in the table")
	}
}

// TestUnheldSessionEndsWithoutClient is the counterpart: nobody attached
// for the grace period ends the session.
func TestUnheldSessionEndsWithoutClient(t *testing.T) {
	f := newRelayFixture(t)
	r := f.table.Start(f.sess, f.jpath, f.j, 0)
	srv, agent := agentPair(t)
	r.RunAgent(srv)
	f.clk.Advance(2 * time.Minute)
	r.Check(f.clk.Now())
	fr, err := agent.R.Read()
	if err != nil || fr.Type != wire.TTerminate {
		t.Fatalf("the agent got %v (%v), want the session terminated", fr.Type, err)
	}
}

// TestWaitGivesUp: Wait returns when its context ends.
func TestWaitGivesUp(t *testing.T) {
	f := newRelayFixture(t)
	r := f.table.Start(f.sess, f.jpath, f.j, 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, ok := r.Wait(ctx); ok {
		t.Error("Wait reported an end of a running session")
	}
}
