package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/wire"
)

// TestTypedMarks types into a real shell: lines typed at readline's prompt
// (no echo: readline draws them) are marked where they start and end,
// never recorded; a secret typed at a prompt that reads a line without
// echo leaves neither a record nor a mark.
func TestTypedMarks(t *testing.T) {
	a := newTestAgent(t, &testClock{t: time.Now()})
	fs, res := openSession(t, a, wire.Open{
		SessionID: "typed-0000000000000001", Cols: 80, Rows: 24, TypedMarks: true,
		Command: []string{"/bin/bash", "--norc", "--noprofile", "-i"},
		Env:     map[string]string{"PS1": "typed> "},
	})
	if !res.OK {
		t.Fatalf("open: %s", res.Error)
	}
	// Typed at the prompt, once readline reads it: before, the terminal
	// still echoes.
	prompts := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for strings.Count(fs.output(), "typed> ") < n {
			if time.Now().After(deadline) {
				t.Fatalf("no prompt %d; output:\n%s", n, fs.output())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	prompts(1)
	fs.w.Write(wire.TInput, []byte("echo $((6*7))x\r"))
	prompts(2)
	fs.w.Write(wire.TInput, []byte("stty -echo; echo $((3*5))s; read -r s; stty echo; echo got-${#s}\r"))
	fs.waitOutput("15s")
	fs.w.Write(wire.TInput, []byte("hunter2\r"))
	fs.waitOutput("got-7")
	prompts(3)
	fs.w.Write(wire.TInput, []byte("e"))
	fs.w.Write(wire.TInput, []byte("xit\r"))
	fs.waitExit()

	got := fs.streams()
	if got[wire.RecTyped] != "LELELE" {
		t.Errorf("marks %q, want three lines started and entered (none for the secret)", got[wire.RecTyped])
	}
	if in := got[wire.RecInput]; in != "" {
		t.Errorf("input recorded while the terminal did not echo: %q", in)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, r := range fs.all {
		if strings.Contains(string(r.Data), "hunter2") {
			t.Errorf("the secret is in a %d record: %q", r.Kind, r.Data)
		}
	}
}

// TestNoTypedMarksForAnOlderServer: a server that does not ask for typed
// marks (one older than them, which would refuse the record kind) gets
// none.
func TestNoTypedMarksForAnOlderServer(t *testing.T) {
	a := newTestAgent(t, &testClock{t: time.Now()})
	fs, res := openSession(t, a, wire.Open{
		SessionID: "typed-0000000000000002", Cols: 80, Rows: 24,
		Command: []string{"/bin/bash", "--norc", "--noprofile", "-i"},
		Env:     map[string]string{"PS1": "typed> "},
	})
	if !res.OK {
		t.Fatalf("open: %s", res.Error)
	}
	fs.waitOutput("typed> ")
	fs.w.Write(wire.TInput, []byte("echo $((6*7))x\r"))
	fs.waitOutput("42x")
	fs.w.Write(wire.TInput, []byte("exit\r"))
	fs.waitExit()
	if m, ok := fs.streams()[wire.RecTyped]; ok {
		t.Errorf("typed marks %q sent to a server that did not ask for them", m)
	}
}
