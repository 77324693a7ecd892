package main

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/postern/postern/guac"
)

func TestClipboardIn(t *testing.T) {
	var c clipboardIn
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	c.start("3", "text/plain;charset=utf-8")
	c.blob("3", b64("héllo "))
	c.blob("4", b64("not mine"))
	c.blob("3", b64("wörld 𝄞"))
	if text, ok, err := c.end("3"); !ok || err != nil || text != "héllo wörld 𝄞" {
		t.Fatalf("end = %q, %v, %v", text, ok, err)
	}
	// Another stream's end, and an end without a stream.
	if _, ok, err := c.end("3"); ok || err != nil {
		t.Fatalf("second end = %v, %v", ok, err)
	}

	c.start("1", "image/png")
	c.blob("1", b64("x"))
	if _, ok, err := c.end("1"); ok || err != nil {
		t.Fatalf("image/png end = %v, %v, want ignored quietly", ok, err)
	}

	c.start("1", "text/plain")
	c.blob("1", "not base64!")
	if _, ok, err := c.end("1"); ok || err == nil {
		t.Fatalf("bad base64 end = %v, %v, want an error", ok, err)
	}

	// One byte over the limit, over several blobs.
	c.start("2", "text/plain")
	chunk := strings.Repeat("a", 3000)
	for n := 0; n <= maxClipboard; n += len(chunk) {
		c.blob("2", b64(chunk))
	}
	if _, ok, err := c.end("2"); ok || err != errClipboardTooLong {
		t.Fatalf("too long end = %v, %v", ok, err)
	}
	// Exactly the limit is fine.
	c.start("2", "text/plain")
	full := strings.Repeat("b", maxClipboard)
	for s := full; len(s) > 0; s = s[min(3000, len(s)):] {
		c.blob("2", b64(s[:min(3000, len(s))]))
	}
	if text, ok, err := c.end("2"); !ok || err != nil || text != full {
		t.Fatalf("limit end = %d bytes, %v, %v", len(text), ok, err)
	}

	// A new clipboard drops the unfinished one.
	c.start("5", "text/plain")
	c.blob("5", b64("first"))
	c.start("6", "text/plain")
	c.blob("6", b64("second"))
	if _, ok, _ := c.end("5"); ok {
		t.Fatal("the dropped stream ended with text")
	}
	if text, ok, _ := c.end("6"); !ok || text != "second" {
		t.Fatalf("end = %q, %v", text, ok)
	}

	// Invalid UTF-8 from the viewer is made valid.
	c.start("7", "text/plain")
	c.blob("7", base64.StdEncoding.EncodeToString([]byte{'a', 0xff, 'b'}))
	if text, ok, _ := c.end("7"); !ok || text != "a\uFFFDb" {
		t.Fatalf("end = %q, %v", text, ok)
	}
}

func TestDecodeClipboard(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format uint32
		data   []byte
		want   string
		ok     bool
	}{
		{"unicode round trip", formatUnicodeText, unicodeText("héllo 𝄞 ✓"), "héllo 𝄞 ✓", true},
		{"no NUL", formatUnicodeText, []byte{'h', 0, 'i', 0}, "hi", true},
		{"odd length", formatUnicodeText, []byte{'h', 0, 'i'}, "h", true},
		{"stops at NUL", formatUnicodeText, []byte{'a', 0, 0, 0, 'b', 0}, "a", true},
		{"lone surrogate", formatUnicodeText, []byte{0x00, 0xD8, 'a', 0}, "\uFFFDa", true},
		{"empty", formatUnicodeText, nil, "", true},
		{"text utf-8", formatText, []byte("h\xc3\xa9\x00junk"), "hé", true},
		{"text latin-1", formatText, []byte{'c', 0xe9, 0}, "cé", true},
		{"other format", 8, []byte("x"), "", false},
		{"too long unicode", formatUnicodeText, bytes.Repeat([]byte{'a', 0}, maxClipboard+1), "", false},
		{"too long text", formatText, bytes.Repeat([]byte{'a'}, maxClipboard+1), "", false},
		// 2-byte UTF-16 units that are 3 bytes of UTF-8: under the
		// unit count, over the byte limit.
		{"too long in UTF-8", formatUnicodeText, bytes.Repeat([]byte{0x13, 0x27}, maxClipboard/3+1), "", false},
	} {
		got, ok := decodeClipboard(tc.format, tc.data)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: decodeClipboard = %.40q, %v; want %.40q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	// The limit itself fits.
	if text, ok := decodeClipboard(formatUnicodeText, unicodeText(strings.Repeat("a", maxClipboard))); !ok || len(text) != maxClipboard {
		t.Errorf("a text of maxClipboard bytes: %d, %v", len(text), ok)
	}
}

func TestAppendClipboard(t *testing.T) {
	text := strings.Repeat("0123456789✓", 2000)
	r := guac.NewReader(bytes.NewReader(appendClipboard(nil, text)), 0)
	var got []byte
	var ended bool
	for !ended {
		in, _, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch in.Opcode {
		case "clipboard":
			if in.Args[0] != clipboardStream || in.Args[1] != "text/plain" {
				t.Fatalf("clipboard %v", in.Args)
			}
		case "blob":
			if len(in.Args[1]) > guac.BlobChunk {
				t.Fatalf("blob of %d characters", len(in.Args[1]))
			}
			b, err := base64.StdEncoding.DecodeString(in.Args[1])
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, b...)
		case "end":
			ended = true
		default:
			t.Fatalf("instruction %v", in)
		}
	}
	if string(got) != text {
		t.Fatal("the blobs are not the text")
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want viewerSize
		ok   bool
	}{
		{[]string{"1280", "800"}, viewerSize{1280, 800, 96}, true},
		{[]string{"1281", "801", "192"}, viewerSize{1280, 801, 192}, true},
		{[]string{"100", "50"}, viewerSize{200, 200, 96}, true},
		{[]string{"1280", "800", "5000"}, viewerSize{1280, 800, 96}, true},
		{[]string{"1280", "800", "x"}, viewerSize{1280, 800, 96}, true},
		{[]string{"8192", "8192"}, viewerSize{8192, 8192, 96}, true},
		{[]string{"8193", "600"}, viewerSize{}, false},
		{[]string{"99999999999999999999", "600"}, viewerSize{}, false},
		{[]string{"-1", "700"}, viewerSize{}, false},
		{[]string{"0", "0"}, viewerSize{}, false},
		{[]string{"abc", "def"}, viewerSize{}, false},
		{[]string{"1100"}, viewerSize{}, false},
		{nil, viewerSize{}, false},
	} {
		got, ok := parseSize(tc.args, 96)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseSize(%q) = %+v, %v; want %+v, %v", tc.args, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFitArea(t *testing.T) {
	s := viewerSize{4000, 3000, 96}
	if got := fitArea(s, 0); got != s {
		t.Errorf("no limit: %+v", got)
	}
	got := fitArea(s, 1920*1080)
	if got.width*got.height > 1920*1080 || got.width%2 != 0 || got.width < 1500 {
		t.Errorf("fitArea to 1920x1080's area: %+v", got)
	}
	if got := fitArea(viewerSize{8192, 8192, 96}, 1); got.width != minSide || got.height != minSide {
		t.Errorf("a tiny area: %+v", got)
	}
}

func FuzzClipboardIn(f *testing.F) {
	f.Add("1", "text/plain", base64.StdEncoding.EncodeToString([]byte("héllo")), "1")
	f.Add("1", "text/plain", "!!", "1")
	f.Add("", "text/plain", "", "")
	f.Add("2", "TEXT/PLAIN; charset=utf-8", "/w==", "2")
	f.Fuzz(func(t *testing.T, stream, mimetype, blob, end string) {
		var c clipboardIn
		c.start(stream, mimetype)
		c.blob(stream, blob)
		c.blob(stream, blob)
		text, ok, err := c.end(end)
		if ok && (err != nil || !utf8.ValidString(text) || len(text) > maxClipboard*3) {
			t.Fatalf("end = %q, %v, %v", text, ok, err)
		}
	})
}

func FuzzDecodeClipboard(f *testing.F) {
	f.Add(uint32(formatUnicodeText), unicodeText("héllo 𝄞"))
	f.Add(uint32(formatText), []byte("h\xe9llo\x00"))
	f.Add(uint32(formatUnicodeText), []byte{0x00, 0xD8, 0x00})
	f.Fuzz(func(t *testing.T, format uint32, data []byte) {
		text, ok := decodeClipboard(format, data)
		if ok && (!utf8.ValidString(text) || len(text) > maxClipboard) {
			t.Fatalf("decodeClipboard = %d bytes, valid %v", len(text), utf8.ValidString(text))
		}
		if ok && format == formatUnicodeText {
			// What the engine decodes, encoded again, decodes the same.
			again, ok2 := decodeClipboard(format, unicodeText(text))
			if !ok2 || again != text {
				t.Fatalf("round trip %q -> %q", text, again)
			}
		}
	})
}

func FuzzParseSize(f *testing.F) {
	f.Add("1280", "800", "96")
	f.Add("-1", "0", "")
	f.Add("99999", "1", "x")
	f.Fuzz(func(t *testing.T, w, h, dpi string) {
		s, ok := parseSize([]string{w, h, dpi}, defaultDPI)
		if !ok {
			return
		}
		if s.width < minSide || s.width > maxSide || s.width%2 != 0 || s.height < minSide || s.height > maxSide || s.dpi < minDPI || s.dpi > maxDPI {
			t.Fatalf("parseSize(%q, %q, %q) = %+v", w, h, dpi, s)
		}
		f := fitArea(s, uint64(s.width)*uint64(s.height)/2)
		if f.width < minSide || f.height < minSide || f.width > s.width || f.height > s.height {
			t.Fatalf("fitArea(%+v) = %+v", s, f)
		}
	})
}
