package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestTableIsTerminalSafe: listings print what nodes and users said; no
// control sequence in it reaches the terminal, in table or CSV.
func TestTableIsTerminalSafe(t *testing.T) {
	rows := [][]string{{"mi-0a1b2c3d4e5f60718", "vm\x1b]0;pwned\x07\x1b[2J", "env=\x1b]52;c;ZXZpbA==\x07"}}
	for _, format := range []string{"table", "csv"} {
		var b bytes.Buffer
		if err := table(&b, format, []string{"ID", "NAME", "TAGS"}, rows, nil); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(b.String(), "\x1b\x07") {
			t.Fatalf("%s output holds control characters: %q", format, b.String())
		}
		if !strings.Contains(b.String(), `vm\x1b]0;pwned\x07\x1b[2J`) {
			t.Fatalf("%s output does not show the name escaped: %q", format, b.String())
		}
	}
}
