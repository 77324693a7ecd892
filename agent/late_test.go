package agent

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/postern/postern/wire"
)

// lateStream is the server's end of one attachment, reading records and
// acknowledging them only when told.
type lateStream struct {
	t  *testing.T
	st *yamux.Stream
	r  *wire.Reader
	w  *wire.Writer
}

// attachLate sends first (Open or Resume, signed here) on a new
// connection's stream and returns the stream and the agent's answer.
func attachLate(t *testing.T, a *Agent, typ wire.Type, first any) (*lateStream, wire.OpenResult) {
	t.Helper()
	switch m := first.(type) {
	case wire.Open:
		m.Grant = trustOf(t, a).grant(t, m.Request())
		first = m
	case wire.Resume:
		m.Grant = trustOf(t, a).grant(t, m.Request())
		first = m
	}
	st := serverStream(t, a)
	ls := &lateStream{t: t, st: st, r: wire.NewReader(st), w: wire.NewWriter(st)}
	if err := ls.w.WriteJSON(typ, first); err != nil {
		t.Fatal(err)
	}
	f, err := ls.r.Read()
	if err != nil {
		t.Fatal(err)
	}
	var res wire.OpenResult
	if err := wire.DecodeJSON(f, &res); err != nil {
		t.Fatal(err)
	}
	return ls, res
}

func (ls *lateStream) next() wire.Record {
	ls.t.Helper()
	f, err := ls.r.Read()
	if err != nil {
		ls.t.Fatalf("reading a record: %v", err)
	}
	rec, err := wire.ParseRecord(f.Payload)
	if err != nil {
		ls.t.Fatal(err)
	}
	rec.Data = bytes.Clone(rec.Data)
	return rec
}

func (ls *lateStream) ack(seq uint64) {
	if err := ls.w.Write(wire.TAck, wire.AppendSeq(nil, seq)); err != nil {
		ls.t.Fatal(err)
	}
}

func sessionOf(a *Agent, id string) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[id]
}

// TestLateHandOver is the agent's half of output after the grace period:
// the server stops acknowledging (its link is gone); the command's output
// fills the agent's bounded buffer and the command waits, losing nothing;
// the server comes back having ended the session and takes a late
// hand-over. The agent puts one marker where the recording stops, however
// often the hand-over is interrupted, ends the command, hands over every
// record exactly once, and lets the session go.
func TestLateHandOver(t *testing.T) {
	a := newTestAgent(t, &testClock{})
	a.cfg.MaxUnacked = 8 << 10
	const id = "late-0000000000000001"
	script := `echo pid=$$; i=0; while :; do i=$((i+1)); echo line-$i; done`
	first, res := attachLate(t, a, wire.TOpen, wire.Open{SessionID: id, Command: []string{"/bin/sh", "-c", script}, Cols: 80, Rows: 24})
	if !res.OK {
		t.Fatalf("open: %s", res.Error)
	}
	// The server records three records, acknowledges them, and is gone.
	var recorded []wire.Record
	for len(recorded) < 3 {
		r := first.next()
		recorded = append(recorded, r)
		first.ack(r.Seq)
	}
	s := sessionOf(a, id)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		acked, full := s.acked, s.recBytes >= a.cfg.MaxUnacked
		s.mu.Unlock()
		if acked == 3 && full {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent's buffer never filled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	first.st.Close()
	var out bytes.Buffer
	for _, r := range recorded {
		out.Write(r.Data)
	}
	m := regexp.MustCompile(`pid=(\d+)\r\n`).FindSubmatch(out.Bytes())
	if m == nil {
		t.Fatalf("no pid in the first records: %q", out.Bytes())
	}
	pid, _ := strconv.Atoi(string(m[1]))
	// A full buffer pauses the command; it does not end it.
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the command is gone while its output waits: %v", err)
	}

	ended := wire.Ended{Reason: "AgentDisconnected", Marker: "late output: test"}
	// First hand-over: the marker comes right after the recorded records;
	// the link breaks before anything is acknowledged.
	h1, res := attachLate(t, a, wire.TResume, wire.Resume{SessionID: id, AckedSeq: 3, Ended: &ended})
	if !res.OK {
		t.Fatalf("late resume: %+v", res)
	}
	if r := h1.next(); r.Seq != 4 || r.Kind != wire.RecMarker || string(r.Data) != ended.Marker {
		t.Fatalf("first late record = %d kind %d %q, want the marker as record 4", r.Seq, r.Kind, r.Data)
	}
	if r := h1.next(); r.Seq != 5 {
		t.Fatalf("after the marker: record %d, want 5", r.Seq)
	}
	h1.st.Close()

	// A plain resume that crossed the hand-over is refused: it would take
	// the session's stream from the hand-over.
	if _, res := attachLate(t, a, wire.TResume, wire.Resume{SessionID: id, AckedSeq: 3}); res.OK || res.Unknown || !strings.Contains(res.Error, "has ended") {
		t.Fatalf("plain resume after a late one = %+v, want it refused", res)
	}

	// Again from the same point, with another label: the same marker, once.
	again := wire.Ended{Reason: "AgentDisconnected", Marker: "another label"}
	h2, res := attachLate(t, a, wire.TResume, wire.Resume{SessionID: id, AckedSeq: 3, Ended: &again})
	if !res.OK {
		t.Fatalf("second late resume: %+v", res)
	}
	if r := h2.next(); r.Seq != 4 || r.Kind != wire.RecMarker || string(r.Data) != ended.Marker {
		t.Fatalf("first record of the second hand-over = %d kind %d %q, want the same marker as record 4", r.Seq, r.Kind, r.Data)
	}
	h2.ack(4)
	h2.st.Close()

	// The marker is recorded: the third hand-over goes on after it, to the end.
	h3, res := attachLate(t, a, wire.TResume, wire.Resume{SessionID: id, AckedSeq: 4, Ended: &again})
	if !res.OK {
		t.Fatalf("third late resume: %+v", res)
	}
	want := uint64(5)
	var exit *wire.Record
	for exit == nil {
		r := h3.next()
		if r.Seq != want {
			t.Fatalf("record %d, want %d", r.Seq, want)
		}
		want++
		switch r.Kind {
		case wire.RecMarker:
			t.Fatalf("a second marker, record %d", r.Seq)
		case wire.RecOutput:
			out.Write(r.Data)
		case wire.RecExit:
			exit = &r
		}
		h3.ack(r.Seq)
	}
	if string(exit.Data) != "AgentDisconnected" {
		t.Errorf("exit reason %q, want AgentDisconnected", exit.Data)
	}
	waitGone(t, a, id)
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the command (pid %d) still runs after the hand-over: %v", pid, err)
	}

	// Every line once, in order; the command died at a line's end or in it.
	lines := bytes.Split(out.Bytes(), []byte("\r\n"))
	if string(lines[0]) != "pid="+strconv.Itoa(pid) {
		t.Fatalf("first line %q", lines[0])
	}
	lines = lines[1:]
	for i, l := range lines {
		w := fmt.Sprintf("line-%d", i+1)
		if string(l) != w && !(i == len(lines)-1 && bytes.HasPrefix([]byte(w), l)) {
			t.Fatalf("line %d is %q, want %q: output was lost, repeated or reordered", i+1, l, w)
		}
	}
	if len(lines) < 100 {
		t.Errorf("only %d lines: the buffer (8 KiB) was not what paused the command", len(lines))
	}
}

// TestLateHandOverOfACompleteSession: when the server recorded everything,
// exit included, and only its last acknowledgement was lost, a late
// hand-over finds nothing late; the session leaves the agent.
func TestLateHandOverOfACompleteSession(t *testing.T) {
	a := newTestAgent(t, &testClock{})
	const id = "late-0000000000000002"
	first, res := attachLate(t, a, wire.TOpen, wire.Open{SessionID: id, Command: []string{"/bin/sh", "-c", "echo done"}, Cols: 80, Rows: 24})
	if !res.OK {
		t.Fatalf("open: %s", res.Error)
	}
	var last wire.Record
	for last.Kind != wire.RecExit {
		last = first.next()
	}
	first.st.Close()
	_, res = attachLate(t, a, wire.TResume, wire.Resume{SessionID: id, AckedSeq: last.Seq, Ended: &wire.Ended{Reason: "AgentDisconnected", Marker: "late"}})
	if res.OK || !res.Unknown {
		t.Fatalf("late resume of a complete session = %+v, want unknown", res)
	}
	waitGone(t, a, id)
}
