package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/wire"
)

// streams returns what the session's records hold, by kind.
func (fs *fakeServer) streams() map[wire.RecordKind]string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	m := map[wire.RecordKind]string{}
	for _, r := range fs.all {
		m[r.Kind] += string(r.Data)
	}
	return m
}

// TestPipesSession runs a command without a terminal: its outputs become
// separate records, all its input is recorded, end of file reaches it
// (once, however often it is sent), and its exit code ends the session.
func TestPipesSession(t *testing.T) {
	a := newTestAgent(t, &testClock{t: time.Now()})
	fs, res := openSession(t, a, wire.Open{
		SessionID: "pipes-00000000000000001", Pipes: true,
		Command: []string{"/bin/sh", "-c", "echo out; echo err >&2; [ -t 0 ] && echo tty; cat; echo after-eof; exit 3"},
	})
	if !res.OK {
		t.Fatalf("open: %s", res.Error)
	}
	fs.waitOutput("out\n")
	fs.w.Write(wire.TResize, wire.AppendResize(nil, 100, 30)) // ignored: no terminal
	fs.w.Write(wire.TInput, []byte("in-1\n"))
	fs.waitOutput("in-1\n")
	fs.w.Write(wire.TInput, []byte("in-2\n"))
	fs.w.Write(wire.TInputEOF, nil)
	fs.w.Write(wire.TInputEOF, nil)
	fs.w.Write(wire.TInput, []byte("after the end\n")) // dropped
	fs.waitExit()
	got := fs.streams()
	if got[wire.RecOutput] != "out\nin-1\nin-2\nafter-eof\n" {
		t.Errorf("standard output %q", got[wire.RecOutput])
	}
	if got[wire.RecStderr] != "err\n" {
		t.Errorf("standard error %q", got[wire.RecStderr])
	}
	if got[wire.RecInput] != "in-1\nin-2\n" {
		t.Errorf("recorded input %q", got[wire.RecInput])
	}
	if _, ok := got[wire.RecResize]; ok {
		t.Error("a resize was recorded for a session without a terminal")
	}
	fs.mu.Lock()
	code := fs.exit.ExitCode
	fs.mu.Unlock()
	if code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
}

// TestPipesLimitsAndTerminate: idle timeout, counting input, and
// terminate end a command without a terminal and its process group, with
// the message on standard error, never in its output.
func TestPipesLimitsAndTerminate(t *testing.T) {
	for i, reason := range []string{"IdleTimeout", "TerminatedByUser"} {
		t.Run(reason, func(t *testing.T) {
			clk := &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			a := newTestAgent(t, clk)
			id := fmt.Sprintf("pipes-%017x", i+2)
			fs, res := openSession(t, a, wire.Open{
				SessionID: id, Pipes: true, IdleTimeout: time.Minute,
				// The child ignores SIGTERM: only the group kill ends it.
				Command: []string{"/bin/sh", "-c", "sleep 600 & echo ready; trap '' TERM; cat"},
			})
			if !res.OK {
				t.Fatalf("open: %s", res.Error)
			}
			fs.waitOutput("ready\n")
			if reason == "IdleTimeout" {
				clk.Advance(50 * time.Second)
				fs.w.Write(wire.TInput, []byte("x\n"))
				fs.waitOutput("x\n")
				checked(t, clk, clk.Advance(50*time.Second))
				if r := ending(a, id); r != "" {
					t.Fatalf("ending (%s) 50s after input", r)
				}
				clk.Advance(10 * time.Second)
			} else {
				fs.w.WriteJSON(wire.TTerminate, wire.Terminate{Reason: reason})
			}
			if r := fs.waitExit(); r != reason {
				t.Errorf("exit reason %q, want %s", r, reason)
			}
			got := fs.streams()
			if strings.Contains(got[wire.RecOutput], "postern") {
				t.Errorf("standard output %q has Postern's message", got[wire.RecOutput])
			}
			if reason == "IdleTimeout" && got[wire.RecStderr] != "[postern: no input for 1m0s: the session is ending (idleSessionTimeout)]\n" {
				t.Errorf("standard error %q", got[wire.RecStderr])
			}
		})
	}
}
