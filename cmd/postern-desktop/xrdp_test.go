//go:build linux && cgo

package main

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/desktop/desktoptest"
	"github.com/postern/postern/guac"
)

// startXrdpEngine starts xrdp and the engine logged in to it (TLS, the
// credentials in the logon: xrdp 0.9 has no NLA), after its first frame,
// and returns the session's display once it runs.
func startXrdpEngine(t *testing.T) (*desktoptest.Xrdp, *viewer) {
	t.Helper()
	x := desktoptest.StartXrdp(t)
	v := startEngine(t, config(x.Addr, x.User, x.Password, "tls"))
	v.connected()
	first := v.next()
	if first.Opcode != "size" || first.Args[1] != "1024" || first.Args[2] != "768" {
		t.Fatalf("first frame starts with %v, want size,0,1024,768", first)
	}
	v.apply(first)
	x.WaitSession(t)
	return x, v
}

// ackFrames reads and acks frames in the background until the test ends,
// handing on what is not drawing (clipboard, size) on the returned
// channel.
func (v *viewer) ackFrames() <-chan guac.Instruction {
	other := make(chan guac.Instruction, 1024)
	done := make(chan struct{})
	v.t.Cleanup(func() { close(done) })
	go func() {
		defer close(other)
		for {
			var in guac.Instruction
			var ok bool
			select {
			case in, ok = <-v.ins:
				if !ok {
					return
				}
			case <-done:
				return
			}
			switch in.Opcode {
			case "sync":
				v.stdin.Write(guac.Encode("sync", in.Args[0]))
			case "img", "end", "blob":
				if in.Args[0] == "0" {
					continue // images
				}
				other <- in
			default:
				other <- in
			}
		}
	}()
	return other
}

// The viewer's text, in several blobs, becomes the desktop's X clipboard.
func TestXrdpClipboardToDesktop(t *testing.T) {
	x, v := startXrdpEngine(t)
	v.ackFrames()
	text := "from the viewer: héllo ✓ " + strings.Repeat("0123456789", 1000)
	b := []byte(text)
	v.send("clipboard", "7", "text/plain")
	for len(b) > 0 {
		n := min(3000, len(b))
		v.send("blob", "7", base64.StdEncoding.EncodeToString(b[:n]))
		b = b[n:]
	}
	v.send("end", "7")
	// xrdp takes the X selection when the engine announces text, and
	// asks the engine for it when xclip pastes.
	var got string
	for {
		var err error
		got, err = x.Clipboard()
		if err == nil && got == text {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Too long: ignored, the clipboard keeps the text before.
	big := base64.StdEncoding.EncodeToString(make([]byte, 3000))
	v.send("clipboard", "8", "text/plain")
	for i := 0; i < (maxClipboard/3000)+2; i++ {
		v.send("blob", "8", big)
	}
	v.send("end", "8")
	v.send("clipboard", "9", "text/plain")
	v.send("blob", "9", base64.StdEncoding.EncodeToString([]byte("after")))
	v.send("end", "9")
	for {
		got, err := x.Clipboard()
		if err == nil && got == "after" {
			break
		}
		if err == nil && got != text {
			t.Fatalf("clipboard %d bytes %.20q, want the text before, then %q", len(got), got, "after")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(v.stderr.String(), "clipboard from the viewer ignored: text longer than") {
		t.Fatalf("no log of the ignored clipboard:\n%s", v.stderr.String())
	}
	v.noPassword(x.Password)
}

// Text copied on the desktop comes out as clipboard, blobs, end.
func TestXrdpClipboardFromDesktop(t *testing.T) {
	x, v := startXrdpEngine(t)
	other := v.ackFrames()
	// Within the BMP: xrdp 0.9's chansrv turns a character beyond it
	// into one bad UTF-16 unit (the engine's side of surrogate pairs is
	// in TestDecodeClipboard).
	text := "from the desktop: ✓ ünïcode " + strings.Repeat("abcdefghij", 2000)
	x.SetClipboard(t, text)
	for {
		var in guac.Instruction
		var ok bool
		select {
		case in, ok = <-other:
		case <-time.After(2 * time.Second):
			// xrdp's chansrv may have missed it (SetClipboard): a
			// retry, not a limit; the test's deadline is the limit.
			x.SetClipboard(t, text)
			continue
		}
		if !ok {
			t.Fatal("stdout ended")
		}
		if in.Opcode != "clipboard" {
			continue
		}
		if len(in.Args) != 2 || in.Args[1] != "text/plain" {
			t.Fatalf("clipboard %v", in.Args)
		}
		stream := in.Args[0]
		var data []byte
		for {
			in = <-other
			if in.Opcode == "end" && in.Args[0] == stream {
				break
			}
			if in.Opcode != "blob" || in.Args[0] != stream {
				t.Fatalf("%v inside the clipboard stream", in)
			}
			if len(in.Args[1]) > guac.BlobChunk {
				t.Fatalf("blob of %d characters", len(in.Args[1]))
			}
			b, err := base64.StdEncoding.DecodeString(in.Args[1])
			if err != nil {
				t.Fatal(err)
			}
			data = append(data, b...)
		}
		if string(data) == text {
			return
		}
		t.Logf("a clipboard of %d bytes, not the text: waiting for the next", len(data))
	}
}

// size from the viewer resizes the desktop through the Display Control
// channel: the engine then sends the new size. Sizes out of bounds or
// not numbers are ignored; the engine goes on.
func TestXrdpResize(t *testing.T) {
	x, v := startXrdpEngine(t)
	other := v.ackFrames()
	waitSize := func(w, h string) {
		t.Helper()
		for in := range other {
			if in.Opcode == "error" {
				t.Fatalf("error %v", in.Args)
			}
			if in.Opcode != "size" || in.Args[1] == "1024" && in.Args[2] == "768" {
				continue
			}
			if in.Args[1] != w || in.Args[2] != h {
				t.Fatalf("size %v, want %s x %s", in.Args, w, h)
			}
			return
		}
		t.Fatal("stdout ended")
	}
	v.send("size", "1280", "800")
	waitSize("1280", "800")
	// The session's X screen is that size.
	for {
		out, err := x.Command("xdotool", "getdisplaygeometry").Output()
		if err != nil {
			t.Fatalf("xdotool getdisplaygeometry: %v", err)
		}
		if strings.TrimSpace(string(out)) == "1280 800" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, bad := range [][]string{{"-1", "700"}, {"99999", "99999"}, {"abc", "def"}, {"1100"}, {"8193", "600"}, {"0", "0"}} {
		v.send("size", bad...)
	}
	v.send("size", "1100", "700", "96")
	waitSize("1100", "700")
	if n := strings.Count(v.stderr.String(), "ignored"); n < 6 {
		t.Fatalf("%d sizes logged as ignored, want 6:\n%s", n, v.stderr.String())
	}
}
