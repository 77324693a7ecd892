package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/netfault"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/server"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// smallOutputMemory keeps these tests' relays from holding much output,
// so that a few megabytes put a client behind them.
const smallOutputMemory = 64 << 10

// rawClient reads a session's stream frame by frame, at the test's pace.
type rawClient struct {
	t       *testing.T
	ws      *websocket.Conn
	out     bytes.Buffer // output shown, from offset 0
	notices []string
	exit    *wire.Exit
}

func attachRaw(t *testing.T, ctx context.Context, c *client.Client, id string, offset uint64, observe bool) *rawClient {
	t.Helper()
	var ws *websocket.Conn
	var err error
	if observe {
		ws, err = c.Observe(ctx, id, offset)
	} else {
		ws, err = c.Attach(ctx, id, offset)
	}
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{t: t, ws: ws}
	rc.out.Grow(int(offset))
	rc.out.Write(make([]byte, offset)) // placeholders for what was shown before
	t.Cleanup(func() { ws.CloseNow() })
	return rc
}

// readUntil reads frames until the output holds n bytes or the exit came.
func (rc *rawClient) readUntil(ctx context.Context, n int) {
	rc.t.Helper()
	for rc.out.Len() < n && rc.exit == nil {
		rc.readFrame(ctx, fmt.Sprintf("after %d of %d bytes", rc.out.Len(), n))
	}
}

// readFrame reads and takes in one frame; where says what was awaited.
func (rc *rawClient) readFrame(ctx context.Context, where string) {
	rc.t.Helper()
	typ, msg, err := rc.ws.Read(ctx)
	if err != nil {
		rc.t.Fatalf("read %s: %v", where, err)
	}
	if typ != websocket.MessageBinary {
		rc.t.Fatalf("a %v message", typ)
	}
	f, err := wire.DecodeFrame(msg)
	if err != nil {
		rc.t.Fatal(err)
	}
	switch f.Type {
	case wire.TOutput:
		off, data, err := wire.ParseOutput(f.Payload)
		if err != nil {
			rc.t.Fatal(err)
		}
		if off != uint64(rc.out.Len()) {
			rc.t.Fatalf("output frame at offset %d after %d bytes: a byte lost or repeated", off, rc.out.Len())
		}
		rc.out.Write(data)
	case wire.TNotice:
		rc.notices = append(rc.notices, string(f.Payload))
	case wire.TExit:
		var e wire.Exit
		if err := wire.DecodeJSON(f, &e); err != nil {
			rc.t.Fatal(err)
		}
		rc.exit = &e
	default:
		rc.t.Fatalf("unexpected %s frame", f.Type)
	}
}

// seqOutput is what `seq from to` prints through a terminal.
func seqOutput(from, to int) []byte {
	var b bytes.Buffer
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%d\r\n", i)
	}
	return b.Bytes()
}

// journalRecords counts the records of a plain (unsealed) journal.
func journalRecords(t *testing.T, path string) uint64 {
	t.Helper()
	jr, err := recording.ReadJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	var n uint64
	for _, err := range jr.All() {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// TestSlowClientCatchesUpOnce: a watcher that stops reading while its
// session prints far more than the relay keeps in memory falls behind into
// the journal, catches up into memory, and falls behind again. It is sent
// every byte exactly once and in order, and the server reads each journal
// record for it at most once: catching up costs one pass over the journal,
// not one pass per frame sent (which made a slow terminal quadratic). A
// watcher that attaches after it all is served the same way. (The owner
// types, and reads as fast as it can: an owner's terminal that falls
// behind paces the session instead; see TestOwnerPacesSession.)
func TestSlowClientCatchesUpOnce(t *testing.T) {
	ts := startServerWith(t, func(c *server.Config) { c.OutputMemory = smallOutputMemory })
	node := runAgent(t, ts, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Each line typed is a burst of seq; input is not echoed, so the output
	// is only what seq prints.
	script := `stty -echo; echo ready; while read a b; do seq "$a" "$b"; done; exit 3`
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", script}})
	if err != nil {
		t.Fatal(err)
	}
	owner := attachRaw(t, ctx, ts.admin, sess.ID, 0, false)
	owner.readUntil(ctx, len("ready\r\n"))
	rc := attachRaw(t, ctx, ts.admin, sess.ID, uint64(owner.out.Len()), true)
	want := append([]byte(nil), owner.out.Bytes()...)
	rc.out.Reset()
	rc.out.Write(want)
	ownerDone := make(chan error, 1)
	go func() {
		// The owner's terminal keeps up: it reads to the end.
		for {
			_, _, err := owner.ws.Read(ctx)
			if err != nil {
				ownerDone <- err
				return
			}
		}
	}()

	type burst struct{ from, to int }
	// Each burst is larger than what loopback socket buffers can hold
	// (several MB autotuned), so the watcher truly falls behind.
	bursts := []burst{{1, 1500000}, {1500001, 3000000}}
	var behind []uint64
	for _, b := range bursts {
		before := ts.srv.CatchupRecords()
		want = append(want, seqOutput(b.from, b.to)...)
		if err := owner.ws.Write(ctx, websocket.MessageBinary, wire.AppendFrame(nil, wire.TInput, fmt.Appendf(nil, "%d %d\n", b.from, b.to))); err != nil {
			t.Fatal(err)
		}
		// Not reading while the burst is relayed: the watcher falls far
		// behind what the relay keeps in memory.
		waitFor(t, func() bool { end, _ := ts.srv.OutputEnd(sess.ID); return end >= uint64(len(want)) })
		rc.readUntil(ctx, len(want))
		behind = append(behind, ts.srv.CatchupRecords()-before)
	}
	for i, n := range behind {
		if n == 0 {
			t.Fatalf("burst %d: the client never read from the journal; the test did not put it behind the relay's memory", i+1)
		}
	}
	if err := owner.ws.Write(ctx, websocket.MessageBinary, wire.AppendFrame(nil, wire.TInput, []byte{4})); err != nil {
		t.Fatal(err)
	}
	rc.readUntil(ctx, 1<<40)
	<-ownerDone
	if rc.exit == nil || rc.exit.Code != 3 {
		t.Fatalf("exit %+v, want code 3", rc.exit)
	}
	if got := rc.out.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("client output differs (%d bytes, want %d)\n%s", len(got), len(want), firstDiff(got, want))
	}
	if rc.exit.OutputEnd != uint64(len(want)) {
		t.Errorf("exit says the output is %d bytes long, want %d", rc.exit.OutputEnd, len(want))
	}
	records := journalRecords(t, ts.srv.JournalPath(store.DefaultAccount, sess.ID))
	read := behind[0] + behind[1]
	t.Logf("journal: %d records; read for the slow watcher: %d (%d, %d)", records, read, behind[0], behind[1])
	if read > records {
		t.Fatalf("the slow watcher's catch-up read %d journal records; the journal has %d: records were read more than once", read, records)
	}

	// A watcher arriving after all of it reads the journal once too.
	before := ts.srv.CatchupRecords()
	w := attachRaw(t, ctx, ts.admin, sess.ID, 0, true)
	w.readUntil(ctx, 1<<40)
	if got := w.out.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("late watcher's output differs (%d bytes, want %d)\n%s", len(got), len(want), firstDiff(got, want))
	}
	if n := ts.srv.CatchupRecords() - before; n == 0 || n > records {
		t.Fatalf("the late watcher read %d journal records; the journal has %d", n, records)
	}
}

// TestResumeAfterEnd: a client that comes back after its session ended
// and the relay let go of it is sent every byte after its position from
// the recording, then the exit; a client whose session's logs were deleted
// is told it cannot have them.
func TestResumeAfterEnd(t *testing.T) {
	ts := startServerWith(t, func(c *server.Config) { c.OutputMemory = smallOutputMemory })
	node := runAgent(t, ts, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", "seq 1 100000; exit 5"}})
	if err != nil {
		t.Fatal(err)
	}
	want := seqOutput(1, 100000)
	rc := attachRaw(t, ctx, ts.admin, sess.ID, 0, false)
	rc.readUntil(ctx, 1000)
	shown := uint64(rc.out.Len())
	rc.ws.CloseNow()

	// The session ends with nobody attached; later the relay goes.
	waitFor(t, func() bool {
		s, err := ts.admin.Session(ctx, sess.ID)
		return err == nil && s.EndedAt != nil
	})
	ts.clk.Advance(time.Minute)
	waitFor(t, func() bool { ts.srv.CheckSession(sess.ID); _, ok := ts.srv.OutputEnd(sess.ID); return !ok })

	for _, observe := range []bool{false, true} {
		late := attachRaw(t, ctx, ts.admin, sess.ID, shown, observe)
		late.readUntil(ctx, 1<<40)
		if late.exit == nil || late.exit.Code != 5 || late.exit.OutputError != "" || late.exit.OutputEnd != uint64(len(want)) {
			t.Fatalf("observe %v: exit %+v, want code 5 with the output's length %d", observe, late.exit, len(want))
		}
		if got := late.out.Bytes()[shown:]; !bytes.Equal(got, want[shown:]) {
			t.Fatalf("observe %v: the output after byte %d differs (%d bytes, want %d)\n%s", observe, shown, len(got), len(want)-int(shown), firstDiff(got, want[shown:]))
		}
	}

	// Through the client package the CLI uses: resumed at the start, the
	// whole output and the exit, nothing else said.
	var out, notices syncBuffer
	exit, err := ts.admin.RunTerminal(ctx, sess.ID, client.TerminalIO{Out: &out, Notices: &notices}, client.ResumeOptions{})
	if err != nil || exit.Code != 5 || !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("RunTerminal = %+v, %v with %d bytes of output (want %d); notices %q", exit, err, len(out.Bytes()), len(want), notices.Bytes())
	}

	// With the logs deleted, the client learns that the rest is gone.
	if _, err := ts.admin.DeleteLogs(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	var out2, notices2 syncBuffer
	_, err = ts.admin.RunTerminal(ctx, sess.ID, client.TerminalIO{Out: &out2, Notices: &notices2}, client.ResumeOptions{})
	var inc *client.IncompleteOutputError
	if !errors.As(err, &inc) || !strings.Contains(err.Error(), "logs were deleted") || !strings.Contains(string(notices2.Bytes()), "could not be fetched") {
		t.Fatalf("after the logs were deleted: err %v, notices %q; want an IncompleteOutputError saying so", err, notices2.Bytes())
	}
}

// TestClientAwayAcrossTheEnd is the chaos test of a client whose link to
// the server goes dark (black-holed, then refused) while its command
// prints 200,000 lines and ends, long enough that the server lets go of
// the finished session. When the link returns, the client resumes from
// the recording and shows every line exactly once, then exits with the
// command's code.
func TestClientAwayAcrossTheEnd(t *testing.T) {
	t.Cleanup(wire.SetLiveness(100*time.Millisecond, 300*time.Millisecond))
	for _, fault := range []string{"blackhole", "refuse"} {
		t.Run(fault, func(t *testing.T) {
			ts := startServerWith(t, func(c *server.Config) { c.OutputMemory = smallOutputMemory })
			node := runAgent(t, ts, nil)
			proxy, err := netfault.New(strings.TrimPrefix(ts.url, "https://"))
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			const lines = 200000
			sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Pipes: true,
				// The lines come only once the link has gone dark: a
				// socket buffer cannot have them all already.
				Command: []string{"/bin/sh", "-c", fmt.Sprintf("echo start; sleep 1; seq 1 %d; exit 7", lines)}})
			if err != nil {
				t.Fatal(err)
			}
			c, err := client.New(client.Config{Server: "https://" + proxy.Addr(), CA: string(ts.srv.CA().CertPEM), Token: ts.adminToken})
			if err != nil {
				t.Fatal(err)
			}
			var out, notices syncBuffer
			type result struct {
				exit wire.Exit
				err  error
			}
			done := make(chan result, 1)
			go func() {
				exit, err := c.RunTerminal(ctx, sess.ID, client.TerminalIO{Out: &out, Notices: &notices, Pipes: true},
					client.ResumeOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
				done <- result{exit, err}
			}()
			waitFor(t, func() bool { return len(out.Bytes()) > 0 })
			switch fault {
			case "blackhole":
				proxy.Stall(true)
			case "refuse":
				proxy.Refuse(true)
				proxy.Cut()
			}
			// The command finishes while the client is away, and the
			// server drops the finished session from memory.
			waitFor(t, func() bool {
				s, err := ts.admin.Session(ctx, sess.ID)
				return err == nil && s.EndedAt != nil
			})
			ts.clk.Advance(time.Minute)
			waitFor(t, func() bool { ts.srv.CheckSession(sess.ID); _, ok := ts.srv.OutputEnd(sess.ID); return !ok })
			shownWhileAway := len(out.Bytes())
			proxy.Stall(false)
			proxy.Refuse(false)

			r := <-done
			if r.err != nil || r.exit.Code != 7 {
				t.Fatalf("RunTerminal = %+v, %v; want exit 7\nnotices: %s", r.exit, r.err, notices.Bytes())
			}
			var want bytes.Buffer
			want.WriteString("start\n")
			for i := 1; i <= lines; i++ {
				fmt.Fprintf(&want, "%d\n", i)
			}
			if got := out.Bytes(); !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("client output differs (%d bytes, want %d)\n%s", len(got), want.Len(), firstDiff(got, want.Bytes()))
			}
			if shownWhileAway >= want.Len() {
				t.Fatalf("the client had shown everything before its link went dark; the test did not exercise a resume after the end")
			}
			t.Logf("%d of %d bytes shown before the link went dark; notices:\n%s", shownWhileAway, want.Len(), notices.Bytes())
		})
	}
}
