package server

import (
	"fmt"
	"unicode/utf8"
)

// maxEcho is the most of a caller's input an error message or an audit
// record quotes: whoever sends a megabyte must not get it echoed back,
// nor stored once per request.
const maxEcho = 256

// maxMessage bounds an error message, whatever it quotes: a document's
// list of problems is long, a megabyte is not.
const maxMessage = 16 << 10

// clip returns s cut to maxEcho bytes (at a character boundary), saying
// how much was cut.
func clip(s string) string { return clipTo(s, maxEcho) }

func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…[%d more bytes]", s[:cut], len(s)-cut)
}
