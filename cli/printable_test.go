package cli

import (
	"testing"
	"unicode/utf8"
)

func TestPrintable(t *testing.T) {
	for _, tt := range []struct{ in, want, text string }{
		{"web-1", "web-1", "web-1"},
		{"héllo 世界", "héllo 世界", "héllo 世界"},
		{"\x1b]0;pwned\x07\x1b[2J\x1b[31m", `\x1b]0;pwned\x07\x1b[2J\x1b[31m`, `\x1b]0;pwned\x07\x1b[2J\x1b[31m`},
		{"\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07", `\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07`, `\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07`},
		{"a\tb\nc\r", `a\tb\nc\r`, "a\tb\nc\\r"},
		{"\u009b31m", `\x9b31m`, `\x9b31m`},                                // C1 CSI
		{"admin\u202egnp.exe", `admin\u202egnp.exe`, `admin\u202egnp.exe`}, // right-to-left override
		{"bad \xff byte", `bad \xff byte`, `bad \xff byte`},
		{"\x7f", `\x7f`, `\x7f`},
	} {
		if got := Printable(tt.in); got != tt.want {
			t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := PrintableText(tt.in); got != tt.text {
			t.Errorf("PrintableText(%q) = %q, want %q", tt.in, got, tt.text)
		}
	}
}

func FuzzPrintable(f *testing.F) {
	f.Add("\x1b[31mred")
	f.Add("plain")
	f.Add("a\u202eb\xff")
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Printable(s), PrintableText(s)} {
			for _, r := range out {
				if r != '\n' && r != '\t' && unsafeRune(r) {
					t.Fatalf("Printable(%q) left %U in %q", s, r, out)
				}
			}
		}
		clean := utf8.ValidString(s)
		for _, r := range s {
			clean = clean && !unsafeRune(r)
		}
		if got := Printable(s); clean && got != s {
			t.Fatalf("Printable changed clean text %q into %q", s, got)
		}
	})
}
