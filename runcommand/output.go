package runcommand

import (
	"strings"
	"unicode/utf8"
)

// MaxOutput is how many characters of each of a node's output streams its
// result keeps: Run Command's StandardOutputContent and
// StandardErrorContent hold the first 24,000. The whole is in the node's
// session recording.
const MaxOutput = 24000

// Output keeps the beginning of one output stream, as text, and counts
// all of it. It holds at most 4*MaxOutput bytes, however much is written:
// so many bytes are MaxOutput characters at least, each byte that is not
// UTF-8 standing for one (U+FFFD).
type Output struct {
	raw   []byte
	bytes int64
}

// Write takes the next piece of the stream.
func (o *Output) Write(p []byte) (int, error) {
	o.bytes += int64(len(p))
	if room := 4*MaxOutput - len(o.raw); room > 0 {
		o.raw = append(o.raw, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Bytes is how long the whole stream was.
func (o *Output) Bytes() int64 { return o.bytes }

// Text returns the first MaxOutput characters of the stream as valid
// UTF-8, with what is not UTF-8, and NUL (which no text column holds),
// each as U+FFFD; truncated reports whether that is not all of it.
func (o *Output) Text() (text string, truncated bool) {
	var b strings.Builder
	used, chars := 0, 0
	for used < len(o.raw) && chars < MaxOutput {
		r, n := utf8.DecodeRune(o.raw[used:])
		if r == 0 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		used += n
		chars++
	}
	return b.String(), int64(used) < o.bytes
}
