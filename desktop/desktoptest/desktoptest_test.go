//go:build linux

package desktoptest

import (
	"os"
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
