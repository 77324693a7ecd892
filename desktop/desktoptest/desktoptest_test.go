//go:build linux

package desktoptest

import (
	"net"
	"os"
	"os/user"
	"strings"
	"testing"
)

// The SAM line is byte for byte what winpr-hash -u test -p secret -f sam
// prints (winpr-utils 2.11.7).
func TestSAMLine(t *testing.T) {
	if got, want := SAMLine("test", "", "secret"), "test:::878d8014606cda29677a44efa1353fc7:::\n"; got != want {
		t.Fatalf("SAMLine = %q, want %q", got, want)
	}
	if got, want := SAMLine("test", "DOM", "secret"), "test:DOM::878d8014606cda29677a44efa1353fc7:::\n"; got != want {
		t.Fatalf("SAMLine = %q, want %q", got, want)
	}
}

// Typing into the xterm through X (not RDP) lands in Typed: the file the
// engine's tests rely on works.
func TestStartTyped(t *testing.T) {
	d := Start(t, Options{})
	if d.Addr == "" || d.Xterm.Empty() {
		t.Fatalf("desktop %+v", d)
	}
	if out, err := d.Command("xdotool", "type", "--delay", "20", "hello-x").CombinedOutput(); err != nil {
		t.Fatalf("xdotool type: %v: %s", err, out)
	}
	if out, err := d.Command("xdotool", "key", "Return").CombinedOutput(); err != nil {
		t.Fatalf("xdotool key: %v: %s", err, out)
	}
	d.WaitTyped(t, "hello-x\n")
	if _, err := os.Stat(d.dir); err != nil {
		t.Fatal(err)
	}
}

// StartXrdp listens, has made its user, and leaves nothing behind: not
// the user, not a process of it, not a mount.
func TestStartXrdpCleansUp(t *testing.T) {
	var x *Xrdp
	t.Run("xrdp", func(t *testing.T) {
		x = StartXrdp(t)
		c, err := net.Dial("tcp", x.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if _, err := user.Lookup(x.User); err != nil {
			t.Fatal(err)
		}
	})
	if x == nil {
		return // skipped
	}
	if _, err := user.Lookup(x.User); err == nil {
		t.Fatalf("user %s still there", x.User)
	}
	if pids := userProcesses(x.uid); len(pids) != 0 {
		t.Fatalf("processes of the user left: %v", pids)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), x.dir) {
		t.Fatalf("a mount of %s left in the test's namespace", x.dir)
	}
}
