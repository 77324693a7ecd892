package main

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/postern/postern/guac"
)

// maxClipboard bounds clipboard text both ways (DESKTOP.md): text from the
// viewer or the desktop longer than this, in UTF-8, is ignored.
const maxClipboard = 256 << 10

// clipboardStream is the stream id of the clipboard text the engine writes:
// images use stream 0 (imageStream), so a viewer never sees the two mixed.
const clipboardStream = "1"

// Clipboard formats of MS-RDPECLIP (winpr's CF_TEXT and CF_UNICODETEXT).
const (
	formatText        = 1
	formatUnicodeText = 13
)

// clipboardIn assembles the viewer's clipboard stream (clipboard, blobs,
// end): one at a time, a new clipboard instruction drops an unfinished one,
// and more than maxClipboard bytes make the stream ignored at its end.
// The input reader's only.
type clipboardIn struct {
	stream string // the open stream's id; "" when none
	data   []byte
	bad    error // why the open stream's text will be ignored
}

// start opens a stream; mimetypes other than text/plain are ignored.
func (c *clipboardIn) start(stream, mimetype string) {
	c.stream, c.data, c.bad = "", nil, nil
	mt, _, _ := strings.Cut(mimetype, ";")
	if stream == "" || strings.TrimSpace(strings.ToLower(mt)) != "text/plain" {
		return
	}
	c.stream = stream
}

// blob adds a base64 chunk (each blob is encoded on its own, as
// Guacamole's are) to the open stream.
func (c *clipboardIn) blob(stream, b64 string) {
	if stream == "" || stream != c.stream || c.bad != nil {
		return
	}
	if base64.StdEncoding.DecodedLen(len(b64))+len(c.data) > maxClipboard+3 {
		c.bad, c.data = errClipboardTooLong, nil
		return
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		// A corrupt chunk: the text would be wrong, so none is set.
		c.bad, c.data = fmt.Errorf("bad base64 in a blob: %w", err), nil
		return
	}
	if len(c.data)+len(b) > maxClipboard {
		c.bad, c.data = errClipboardTooLong, nil
		return
	}
	c.data = append(c.data, b...)
}

var errClipboardTooLong = fmt.Errorf("text longer than %d bytes", maxClipboard)

// end closes the stream: its text, valid UTF-8, and true; false for a
// stream that is not the clipboard's; an error when the clipboard's text
// is ignored.
func (c *clipboardIn) end(stream string) (string, bool, error) {
	if stream == "" || stream != c.stream {
		return "", false, nil
	}
	data, bad := c.data, c.bad
	c.stream, c.data, c.bad = "", nil, nil
	if bad != nil {
		return "", false, bad
	}
	return strings.ToValidUTF8(string(data), "\uFFFD"), true, nil
}

// unicodeText is text as CF_UNICODETEXT: UTF-16LE ended by a NUL.
func unicodeText(text string) []byte {
	u := utf16.Encode([]rune(text))
	b := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	return append(b, 0, 0)
}

// decodeClipboard is the text of a format data response from the desktop
// in format (CF_UNICODETEXT or CF_TEXT), up to its first NUL; false when it
// is too long or in another format. Any bytes are safe: odd lengths, bad
// surrogates and invalid UTF-8 become U+FFFD.
func decodeClipboard(format uint32, data []byte) (string, bool) {
	var text string
	switch format {
	case formatUnicodeText:
		u := make([]uint16, 0, min(len(data)/2, maxClipboard+1))
		for i := 0; i+1 < len(data); i += 2 {
			c := uint16(data[i]) | uint16(data[i+1])<<8
			if c == 0 {
				break
			}
			if len(u) == maxClipboard {
				// Every UTF-16 unit is at least one byte of UTF-8.
				return "", false
			}
			u = append(u, c)
		}
		text = string(utf16.Decode(u))
	case formatText:
		if i := indexNUL(data); i >= 0 {
			data = data[:i]
		}
		if len(data) > maxClipboard {
			return "", false
		}
		if utf8.Valid(data) {
			text = string(data)
		} else {
			// The desktop's ANSI code page is unknown: Latin-1 keeps
			// every byte visible.
			r := make([]rune, len(data))
			for i, b := range data {
				r[i] = rune(b)
			}
			text = string(r)
		}
	default:
		return "", false
	}
	if len(text) > maxClipboard {
		return "", false
	}
	return text, true
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// appendClipboard appends the instructions that give the viewer text as
// the desktop's clipboard: clipboard, blobs of at most guac.BlobChunk
// base64 characters, end.
func appendClipboard(b []byte, text string) []byte {
	b = guac.Append(b, "clipboard", clipboardStream, "text/plain")
	const raw = guac.BlobChunk / 4 * 3 // bytes whose base64 is one chunk
	for s := text; len(s) > 0; {
		n := min(raw, len(s))
		b = guac.Append(b, "blob", clipboardStream, base64.StdEncoding.EncodeToString([]byte(s[:n])))
		s = s[n:]
	}
	return guac.Append(b, "end", clipboardStream)
}

// viewerSize is a size the viewer asked for (size,WIDTH,HEIGHT[,DPI]).
type viewerSize struct {
	width, height, dpi int
}

// parseSize reads a size instruction's arguments. Sizes that are not
// decimal integers of 1 to maxSide are ignored (false); small ones grow
// to MS-RDPEDISP's minimum of 200 and the width is made even, as the
// protocol requires. A DPI out of minDPI-maxDPI (or none) is dpi.
func parseSize(args []string, dpi int) (viewerSize, bool) {
	if len(args) < 2 {
		return viewerSize{}, false
	}
	w, err1 := strconv.Atoi(args[0])
	h, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil || w < 1 || h < 1 || w > maxSide || h > maxSide {
		return viewerSize{}, false
	}
	if len(args) >= 3 {
		if d, err := strconv.Atoi(args[2]); err == nil && d >= minDPI && d <= maxDPI {
			dpi = d
		}
	}
	w = max(w, minSide) &^ 1
	h = max(h, minSide)
	return viewerSize{width: w, height: h, dpi: dpi}, true
}

// fitArea shrinks s, keeping its proportions, to at most maxArea pixels
// (the server's Display Control caps); maxArea 0 means no limit.
func fitArea(s viewerSize, maxArea uint64) viewerSize {
	if maxArea == 0 || uint64(s.width)*uint64(s.height) <= maxArea {
		return s
	}
	f := math.Sqrt(float64(maxArea) / (float64(s.width) * float64(s.height)))
	s.width = max(minSide, int(float64(s.width)*f)&^1)
	s.height = max(minSide, int(float64(s.height)*f))
	return s
}

// scaleFactor is the desktop scale factor for dpi, within MS-RDPBCGR's
// 100-500 percent.
func scaleFactor(dpi int) int { return max(100, min(500, dpi*100/defaultDPI)) }
