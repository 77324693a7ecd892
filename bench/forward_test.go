//go:build linux

package main

import (
	"math"
	"testing"
)

func TestProfileShares(t *testing.T) {
	tail := []string{"github.com/coder/websocket.(*Conn).writeFrame", "github.com/hashicorp/yamux.(*Session).send", "runtime.goexit"}
	with := func(leaf ...string) []string { return append(leaf, tail...) }
	p := synthProfile(t, []stack{
		{4, with("crypto/internal/fips140/aes/gcm.gcmAesEnc", "crypto/tls.(*halfConn).encrypt")},
		{1, with("crypto/tls.(*Conn).writeRecordLocked")},
		{3, with("internal/runtime/syscall/linux.Syscall6", "syscall.RawSyscall6", "syscall.write")},
		{1, with("syscall.RawSyscall6")},
		{2, with("runtime.memmove", "bytes.(*Buffer).Read")},
		// The collector wins wherever it is on the stack.
		{1, []string{"runtime.memmove", "runtime.scanobject", "runtime.gcBgMarkWorker"}},
		{1, with("runtime.memclrNoHeapPointers", "runtime.mallocgc", "bytes.growSlice")},
		// Only the leaf counts for the other groups: a mutex under TLS is
		// neither crypto nor a system call.
		{2, with("internal/sync.(*Mutex).Unlock", "crypto/tls.(*Conn).Write", "syscall.write")},
		// An inlined leaf is the leaf.
		{1, with("crypto/internal/fips140/aes/gcm.seal|crypto/tls.(*halfConn).encrypt")},
		{4, []string{"runtime.futex", "runtime.notesleep", "runtime.mstart"}},
	})
	want := map[string]float64{"gc": 2, "crypto": 6, "syscalls": 4, "memmove": 2, "other": 6}
	got := profileShares(p)
	if len(got) != len(want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
	var sum float64
	for _, g := range got {
		if w := want[g.Name] / 20; math.Abs(g.Share-w) > 1e-9 {
			t.Errorf("%s: %.3f, want %.3f", g.Name, g.Share, w)
		}
		sum += g.Share
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("shares add up to %v", sum)
	}
	if got[len(got)-1].Name != "other" {
		t.Errorf("other is not last: %v", got)
	}
	if s := fmtProfile(got); s != "; postern dev's profile: gc 10%, crypto 30%, syscalls 20%, memmove 10%, other 30%" {
		t.Errorf("fmtProfile: %q", s)
	}
	if profileShares(synthProfile(t, nil)) != nil || fmtProfile(nil) != "" {
		t.Error("an empty profile has shares")
	}
}

func TestLineWatch(t *testing.T) {
	seen := func(l *lineWatch) bool {
		select {
		case <-l.seen:
			return true
		default:
			return false
		}
	}
	l := &lineWatch{want: "Waiting for connections", seen: make(chan struct{})}
	for _, w := range []string{"\nStarting session with SessionId: a-1\nPort 4", "1 opened for sessionId a-1.\nWaiting for conn"} {
		l.Write([]byte(w))
		if seen(l) {
			t.Fatalf("seen after %q, before the line was complete", w)
		}
	}
	if n, err := l.Write([]byte("ections...\nConnection accepted\n")); n != 31 || err != nil || !seen(l) {
		t.Fatalf("write %d, %v; seen %v", n, err, seen(l))
	}
	l.Write([]byte("Waiting for connections...\n")) // no second close
	none := &lineWatch{seen: make(chan struct{})}
	none.Write([]byte("anything\n"))
	if seen(none) {
		t.Error("a watch for nothing saw something")
	}
}
