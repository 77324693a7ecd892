package server_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/api"
	"github.com/postern/postern/server"
	"github.com/postern/postern/wire"
)

// TestOwnerPacesSession: when the owner's terminal stops taking output, the
// session waits for it, as a command under ssh does, holding no more than
// half the relay's memory of output the owner has not been sent, so that
// the owner is served from memory, never from the journal. A watcher that
// reads nothing at all the while does not slow the session: the session
// ends, and the watcher then gets everything from the journal.
func TestOwnerPacesSession(t *testing.T) {
	const memory = 1 << 20
	ts := startServerWith(t, func(c *server.Config) { c.OutputMemory = memory })
	node := runAgent(t, ts, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Far more output than loopback socket buffers hold, printed once the
	// owner is there.
	const lines = 3000000
	script := fmt.Sprintf(`stty -echo; echo ready; read go; seq 1 %d; exit 4`, lines)
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", script}})
	if err != nil {
		t.Fatal(err)
	}
	watcher := attachRaw(t, ctx, ts.admin, sess.ID, 0, true)
	owner := attachRaw(t, ctx, ts.admin, sess.ID, 0, false)
	want := append([]byte("ready\r\n"), seqOutput(1, lines)...)
	owner.readUntil(ctx, len("ready\r\n"))
	if err := owner.ws.Write(ctx, websocket.MessageBinary, wire.AppendFrame(nil, wire.TInput, []byte("go\n"))); err != nil {
		t.Fatal(err)
	}
	owner.readUntil(ctx, 1<<20)

	// The owner's terminal takes nothing more for now: the session waits.
	waitFor(t, func() bool { waiting, _ := ts.srv.Pacing(sess.ID); return waiting })
	end, _ := ts.srv.OutputEnd(sess.ID)
	_, sent := ts.srv.Pacing(sess.ID)
	t.Logf("paused with %d bytes of output taken in, %d sent to the owner, %d read by it", end, sent, owner.out.Len())
	if end > sent+memory/2 {
		t.Errorf("%d bytes of output taken in, %d sent to the owner: more than half the relay's memory (%d) ahead", end, sent, memory/2)
	}
	if end >= uint64(len(want)) {
		t.Fatal("the whole output was taken in while the owner's terminal took none of it")
	}

	// On to the end, every byte once, from memory.
	owner.readUntil(ctx, 1<<40)
	if owner.exit == nil || owner.exit.Code != 4 {
		t.Fatalf("owner: exit %+v, want code 4", owner.exit)
	}
	if got := owner.out.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("owner's output differs (%d bytes, want %d)\n%s", len(got), len(want), firstDiff(got, want))
	}
	if n := ts.srv.OwnerCatchupRecords(); n != 0 {
		t.Errorf("%d journal records were read for the owner; a paced owner is served from memory", n)
	}

	// The watcher read nothing all along, and did not hold the session up.
	watcher.readUntil(ctx, 1<<40)
	if watcher.exit == nil || watcher.exit.Code != 4 {
		t.Fatalf("watcher: exit %+v, want code 4", watcher.exit)
	}
	if got := watcher.out.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("watcher's output differs (%d bytes, want %d)\n%s", len(got), len(want), firstDiff(got, want))
	}
	if ts.srv.CatchupRecords() == 0 {
		t.Error("the watcher, far behind, was not served from the journal: the test did not put it behind")
	}
}
