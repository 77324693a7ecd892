package recording

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// render feeds chunks to a renderer cols wide and returns all it wrote,
// Flush included.
func render(t testing.TB, cols int, chunks ...string) string {
	t.Helper()
	return renderWith(t, false, cols, chunks...)
}

// renderWith renders chunks with the fast path for plain text on or off.
func renderWith(t testing.TB, slow bool, cols int, chunks ...string) string {
	t.Helper()
	var buf bytes.Buffer
	tr := NewTextRenderer(&buf, cols)
	tr.slow = slow
	for _, c := range chunks {
		if _, err := tr.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

var renderTests = []struct {
	name   string
	cols   int
	chunks []string
	want   string
}{
	{
		name:   "plain lines with CRLF",
		chunks: []string{"sh-5.2$ whoami\r\nssm-user\r\nsh-5.2$ exit\r\nexit\r\n"},
		want:   "sh-5.2$ whoami\nssm-user\nsh-5.2$ exit\nexit\n",
	},
	{
		name:   "blank lines kept",
		chunks: []string{"a\r\n\r\n\r\nb\r\n"},
		want:   "a\n\n\nb\n",
	},
	{
		name:   "bare LF keeps the column",
		chunks: []string{"abc\ndef\r\n"},
		want:   "abc\n   def\n",
	},
	{
		name:   "unfinished last line is flushed",
		chunks: []string{"done\r\nsh-5.2$ "},
		want:   "done\nsh-5.2$\n",
	},
	{
		name:   "trailing spaces trimmed",
		chunks: []string{"a   \r\n   \r\nb \t\r\n"},
		want:   "a\n\nb\n",
	},
	{
		name:   "readline backspace with space",
		chunks: []string{"$ ech", "\b \b", "o hello\r\n"},
		want:   "$ eco hello\n",
	},
	{
		name:   "readline backspace with erase to end",
		chunks: []string{"$ ech", "\b\x1b[K", "\b\x1b[K", "cho hello\r\nhello\r\n"},
		want:   "$ echo hello\nhello\n",
	},
	{
		name: "readline edit in the middle",
		// Type "echo hllo", move left 3, insert "e" with CSI @, then
		// delete the "o" at the end with CSI P.
		chunks: []string{"$ echo hllo", "\b\b\b", "\x1b[1@e", "\x1b[C\x1b[C\x1b[C", "\b\x1b[P", "\r\n"},
		want:   "$ echo hell\n",
	},
	{
		name:   "readline redraw with CR and erase",
		chunks: []string{"$ git sta", "\r\x1b[K$ git status\r\n"},
		want:   "$ git status\n",
	},
	{
		name:   "history recall overwrites",
		chunks: []string{"$ ls -la", "\r$ pwd\x1b[K\r\n/root\r\n"},
		want:   "$ pwd\n/root\n",
	},
	{
		name:   "CR overwrites without erasing",
		chunks: []string{"progress 10%\rprogress 100%\r\n", "abcdef\rxy\r\n"},
		want:   "progress 100%\nxycdef\n",
	},
	{
		name:   "tabs to the next stop",
		chunks: []string{"a\tb\tc\r\n12345678\tx\r\n"},
		want:   "a       b       c\n12345678        x\n",
	},
	{
		name:   "tab does not erase",
		chunks: []string{"abcdefghij\r\tX\r\n"},
		want:   "abcdefghXj\n",
	},
	{
		name:   "colours dropped",
		chunks: []string{"\x1b[1;32muser@host\x1b[0m:\x1b[01;34m~\x1b[00m$ ls\r\n\x1b[38;5;208mfile\x1b[38:2:1:2:3m2\x1b[m\r\n"},
		want:   "user@host:~$ ls\nfile2\n",
	},
	{
		name:   "window title dropped",
		chunks: []string{"\x1b]0;user@host: ~\x07$ \x1b]2;title\x1b\\x\r\n"},
		want:   "$ x\n",
	},
	{
		name: "OSC 133 marks dropped",
		chunks: []string{
			"\x1b]133;A\x07$ \x1b]133;B\x07ls\r\n\x1b]133;C\x07a b\r\n\x1b]133;D;0\x07",
			"\x1b]133;A\x1b\\$ \x1b]133;B\x1b\\",
		},
		want: "$ ls\na b\n$\n",
	},
	{
		name:   "hyperlink keeps its text",
		chunks: []string{"\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\ text\r\n"},
		want:   "link text\n",
	},
	{
		name:   "DEC private modes and bracketed paste dropped",
		chunks: []string{"\x1b[?2004h$ \x1b[?25l\x1b[?25h\x1b[200~pasted\x1b[201~\x1b[?2004l\r\n"},
		want:   "$ pasted\n",
	},
	{
		name:   "DCS, APC and PM dropped",
		chunks: []string{"a\x1bP+q544e\x1b\\b\x1b_apc\x07still\x1b\\c\x1b^pm\x1b\\d\r\n"},
		want:   "abcd\n",
	},
	{
		name:   "charset and keypad sequences dropped",
		chunks: []string{"\x1b(B\x1b)0\x1b=\x1b>\x1b#8ok\r\n"},
		want:   "ok\n",
	},
	{
		name:   "CAN aborts a sequence",
		chunks: []string{"a\x1b[31\x18b\x1b]0;t\x1ac\r\n"},
		want:   "abc\n",
	},
	{
		name:   "control inside CSI is executed",
		chunks: []string{"abc\x1b[\r1mX\r\n"},
		want:   "Xbc\n",
	},
	{
		name:   "ESC ends an unterminated OSC",
		chunks: []string{"\x1b]0;title\x1b[1mbold\r\n"},
		want:   "bold\n",
	},
	{
		name:   "escape split across chunks",
		chunks: []string{"red: \x1b", "[", "3", "1", "mred\x1b[", "0m; osc \x1b]0", ";ti", "tle\x1b", "\\done\r", "\n"},
		want:   "red: red; osc done\n",
	},
	{
		name:   "UTF-8 split across chunks",
		chunks: []string{"price: \xe2", "\x82", "\xac5, ", "\xf0\x9f\x91", "\x8d\r\n"},
		want:   "price: €5, 👍\n",
	},
	{
		name:   "invalid UTF-8 becomes U+FFFD",
		chunks: []string{"a\xffb\x80c\xe2\x82d\xc0\xafe\r\n"},
		want:   "a\ufffdb\ufffdc\ufffdd\ufffd\ufffde\n",
	},
	{
		name:   "UTF-8 cut short by an escape",
		chunks: []string{"a\xe2\x1b[1mb\r\n"},
		want:   "a\ufffdb\n",
	},
	{
		name:   "C1 controls in UTF-8 dropped",
		chunks: []string{"a\u009b31mb\u0085c\r\n"},
		want:   "a31mbc\n",
	},
	{
		name:   "DEL ignored",
		chunks: []string{"a\x7fb\r\n"},
		want:   "ab\n",
	},
	{
		name:   "erase in line, all modes",
		chunks: []string{"0123456789\r\x1b[5C\x1b[K\r\n", "0123456789\r\x1b[5C\x1b[1K\r\n", "0123456789\r\x1b[5C\x1b[2KX\r\n"},
		want:   "01234\n      6789\n     X\n",
	},
	{
		name:   "cursor forward, back and column",
		chunks: []string{"abcdef\x1b[3DX\x1b[CY\x1b[1GZ\x1b[10G!\x1b[G>\r\n"},
		want:   ">bcXeY   !\n",
	},
	{
		name:   "cursor forward stops at the margin",
		cols:   10,
		chunks: []string{"a\x1b[999Cb\r\n"},
		want:   "a        b\n",
	},
	{
		name:   "erase characters",
		chunks: []string{"abcdefgh\r\x1b[2C\x1b[3X\r\n"},
		want:   "ab   fgh\n",
	},
	{
		name:   "delete characters",
		chunks: []string{"abcdefgh\r\x1b[2C\x1b[3P\r\n", "abc\r\x1b[99P\r\n"},
		want:   "abfgh\n\n",
	},
	{
		name:   "insert blanks",
		chunks: []string{"abcdef\r\x1b[2C\x1b[3@XYZ\r\n"},
		want:   "abXYZcdef\n",
	},
	{
		name:   "insert pushes characters off the row",
		cols:   6,
		chunks: []string{"abcdef\r\x1b[2@\r\n"},
		want:   "  abcd\n",
	},
	{
		name:   "insert mode",
		chunks: []string{"abcdef\r\x1b[2C\x1b[4hXY\x1b[4lZ\r\n"},
		want:   "abXYZdef\n",
	},
	{
		name:   "line wraps at the terminal width",
		cols:   10,
		chunks: []string{"0123456789abcdefghijKLMNO\r\n"},
		want:   "0123456789\nabcdefghij\nKLMNO\n",
	},
	{
		name:   "exactly full line does not add a blank line",
		cols:   5,
		chunks: []string{"abcde\r\nfghij\r\n"},
		want:   "abcde\nfghij\n",
	},
	{
		name:   "CR after a wrap returns to the start of the row",
		cols:   5,
		chunks: []string{"abcdefg\rX\r\n"},
		want:   "abcde\nXg\n",
	},
	{
		name:   "backspace does not cross the wrap",
		cols:   5,
		chunks: []string{"abcdef\b\bX\r\n"},
		want:   "abcde\nX\n",
	},
	{
		name: "readline redraws a wrapped line with cursor up",
		cols: 10,
		// "$ echo 0123456789" wraps; readline moves up to fix a typo on the
		// first row, then back down to the end.
		chunks: []string{"$ ecoh 0123456789", "\x1b[A\r\x1b[4Cho", "\x1b[B\r\x1b[7C\r\n"},
		want:   "$ echo 012\n3456789\n",
	},
	{
		name:   "cursor up cannot leave the current line",
		cols:   10,
		chunks: []string{"first\r\nsecond\x1b[5A\rS\r\n"},
		want:   "first\nSecond\n",
	},
	{
		name:   "LF on an upper row moves down within the line",
		cols:   5,
		chunks: []string{"abcdefgh\x1b[A\r\nX\r\n"},
		want:   "abcde\nXgh\n",
	},
	{
		name:   "absolute position sets only the column",
		chunks: []string{"abcdef\x1b[10;3HX\x1b[HY\r\n"},
		want:   "YbXdef\n",
	},
	{
		name:   "clear screen erases the current line only",
		chunks: []string{"kept\r\n$ clear\r\n\x1b[H\x1b[2J\x1b[3J$ \r\n"},
		want:   "kept\n$ clear\n$\n",
	},
	{
		name:   "erase display below",
		cols:   5,
		chunks: []string{"abcdefghij\x1b[A\r\x1b[2C\x1b[J\r\n"},
		want:   "ab\n",
	},
	{
		name:   "save and restore cursor",
		chunks: []string{"ab\x1b7cdef\x1b8X\x1b[sYZ\x1b[uW\r\n"},
		want:   "abXWZf\n",
	},
	{
		name:   "restore onto a line already written keeps the column",
		chunks: []string{"abc\x1b7\r\nxyzxyz\x1b8Q\r\n"},
		want:   "abc\nxyzQyz\n",
	},
	{
		name:   "reverse index and next line",
		cols:   5,
		chunks: []string{"abcdefg\x1bMX\x1bEY\x1bDZ\r\n"},
		want:   "abXde\nYg\n Z\n",
	},
	{
		name:   "wide characters take two columns",
		cols:   6,
		chunks: []string{"世界ab\r\n世\x1b[3DX\r\n"},
		want:   "世界ab\nX\n",
	},
	{
		name:   "wide character wraps early",
		cols:   5,
		chunks: []string{"ab世界c\r\n"},
		want:   "ab世\n界c\n",
	},
	{
		name:   "overwriting half a wide character blanks the other half",
		chunks: []string{"世界\r\x1b[1CX\r\n"},
		want:   " X界\n",
	},
	{
		name:   "combining marks stay with their character",
		cols:   4,
		chunks: []string{"e\u0301e\u0301e\u0301e\u0301x\r\n"},
		want:   "e\u0301e\u0301e\u0301e\u0301\nx\n",
	},
	{
		name:   "emoji with variation selector and joiner",
		chunks: []string{"👍🏽 ❤\ufe0f 👨\u200d👩\r\n"},
		want:   "👍🏽 ❤\ufe0f 👨\u200d👩\n",
	},
	{
		name:   "autowrap off overwrites the last column",
		cols:   5,
		chunks: []string{"\x1b[?7labcdefg\x1b[?7h\r\n"},
		want:   "abcdg\n",
	},
	{
		name: "alternate screen omitted once per episode",
		chunks: []string{
			"$ vim f\r\n\x1b[?1049h\x1b[22;0;0t\x1b[H\x1b[2J~\r\n~\r\n\"f\" 3L\x1b[?1049l\x1b[23;0;0t",
			"$ less g\r\n\x1b[?1049h", "page 1\r\n", "\x1b[?1049h", "page 2\x1b[?1049l\r$ \r\n",
		},
		want: "$ vim f\n" + AltScreenNotice + "\n$ less g\n" + AltScreenNotice + "\n$\n",
	},
	{
		name:   "alternate screen modes 47 and 1047",
		chunks: []string{"a\r\n\x1b[?47hxx\x1b[?47lb\r\n\x1b[?1047hyy\x1b[?1047lc\r\n"},
		want:   "a\n" + AltScreenNotice + "\nb\n" + AltScreenNotice + "\nc\n",
	},
	{
		name:   "alternate screen among other modes",
		chunks: []string{"\x1b[?1;1049hhidden\x1b[?1049;1lshown\r\n"},
		want:   AltScreenNotice + "\nshown\n",
	},
	{
		name:   "alternate screen entered mid-line keeps the order",
		chunks: []string{"$ top\x1b[?1049hxx\x1b[?1049l\r\n"},
		want:   "$ top\n" + AltScreenNotice + "\n",
	},
	{
		name:   "alternate screen split across chunks",
		chunks: []string{"a\r\n\x1b[?10", "49h\x1b[31mhidden\r\n\x1b[?104", "9lb\r\n"},
		want:   "a\n" + AltScreenNotice + "\nb\n",
	},
	{
		name:   "reset leaves the alternate screen and keeps what was shown",
		chunks: []string{"typed\x1bcafter\r\n\x1b[?1049hx\x1bcy\r\n"},
		want:   "typed\nafter\n" + AltScreenNotice + "\ny\n",
	},
	{
		name:   "huge parameters are clamped",
		cols:   10,
		chunks: []string{"ab\x1b[99999999999999999999Dc\x1b[99999999999999@d\x1b[1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17;18;19;20mX\r\n"},
		want:   "cdX\n",
	},
	{
		name:   "malformed CSI skipped",
		chunks: []string{"a\x1b[1?2hb\x1b[1 5qc\r\n"},
		want:   "abc\n",
	},
}

func TestTextRenderer(t *testing.T) {
	for _, tt := range renderTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(t, tt.cols, tt.chunks...); got != tt.want {
				t.Errorf("rendered\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// However the output is cut into chunks, the text is the same.
func TestTextRendererByteAtATime(t *testing.T) {
	for _, tt := range renderTests {
		t.Run(tt.name, func(t *testing.T) {
			joined := strings.Join(tt.chunks, "")
			var bytes []string
			for i := range len(joined) {
				bytes = append(bytes, joined[i:i+1])
			}
			if got := render(t, tt.cols, bytes...); got != tt.want {
				t.Errorf("rendered\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestTextRendererResize(t *testing.T) {
	var buf bytes.Buffer
	tr := NewTextRenderer(&buf, 10)
	tr.Write([]byte("0123456789abcde\r\n"))
	tr.Resize(5)
	tr.Write([]byte("0123456789abcde\r\n"))
	tr.Write([]byte("0123456"))
	tr.Resize(20) // the line being typed reflows
	tr.Write([]byte("789\r\n"))
	tr.Flush()
	want := "0123456789\nabcde\n01234\n56789\nabcde\n0123456789\n"
	if got := buf.String(); got != want {
		t.Errorf("rendered\n%q\nwant\n%q", got, want)
	}
}

// Output that never ends a line must not grow the renderer without end.
func TestTextRendererLongLine(t *testing.T) {
	var buf bytes.Buffer
	tr := NewTextRenderer(&buf, 80)
	chunk := bytes.Repeat([]byte("x"), 80)
	const rows = 10000
	for range rows {
		tr.Write(chunk)
	}
	if len(tr.cells) > maxLineCells+80 {
		t.Fatalf("renderer holds %d cells", len(tr.cells))
	}
	tr.Flush()
	want := strings.Repeat(string(chunk)+"\n", rows)
	if buf.String() != want {
		t.Fatalf("long line rendered wrong: %d bytes, want %d", buf.Len(), len(want))
	}
}

type errWriter struct{ n int }

func (w *errWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(p), nil
}

func TestTextRendererWriteError(t *testing.T) {
	tr := NewTextRenderer(&errWriter{n: 1}, 80)
	if _, err := tr.Write([]byte("one\r\n")); err != nil {
		t.Fatalf("first line: %v", err)
	}
	if _, err := tr.Write([]byte("two\r\nthree\r\n")); err == nil {
		t.Fatal("no error from a failing writer")
	}
	if err := tr.Flush(); err == nil {
		t.Fatal("Flush forgot the error")
	}
}

// TestTextRendererFastPathMatches checks the plain-text fast path against
// the general one where it is most likely to differ: text overwriting wide
// characters at either edge, runs reaching the last column, padding past
// the line's end, insert mode and narrow terminals.
func TestTextRendererFastPathMatches(t *testing.T) {
	inputs := []string{
		"文件名\rab\r\n",
		"文件名\r\x1b[1Cab\r\n",
		"文件名\r\x1b[1Cabc\r\n",
		"ab文件名\r\x1b[2Cxyz\r\n",
		"\x1b[10Cfar away\r\n",
		strings.Repeat("x", 79) + "yz\r\n",
		strings.Repeat("0123456789", 30) + "\r\n",
		"abc\x1b[4h\rXY\x1b[4l\r\n",
		"e\u0301tude cafe\u0301\r\n",
		"\x1b[?7labcdefghijklmnopqrstuvwxyz\x1b[?7h\r\n",
		"\x1b[?1049hhidden\x1b[?1049lshown\r\n",
		"plain\r\n\r\n\r\ntrailing   \r\n" + strings.Repeat("ab ", 40) + "\r\n",
		strings.Repeat("y", 80) + "\r\n" + strings.Repeat("z", 160) + "\r\n" + strings.Repeat(" ", 81) + "x\r\n",
		"before\x1b[?1049h\x1b[?1049l\r\nafter\r\n",
		"no cr\nthen plain\r\n",
		"\x1b7saved\r\nnext\x1b8line\r\n",
		"\x1bcreset\r\n",
		"tab\there\r\n",
	}
	for _, cols := range []int{1, 2, 3, 10, 80} {
		for _, in := range inputs {
			slow := renderWith(t, true, cols, in)
			if fast := renderWith(t, false, cols, in); fast != slow {
				t.Errorf("cols %d, %q:\nfast %q\nslow %q", cols, in, fast, slow)
			}
			// Cut everywhere: a line's CR and LF may arrive apart.
			for i := range len(in) {
				if fast := renderWith(t, false, cols, in[:i], in[i:]); fast != slow {
					t.Errorf("cols %d, %q cut at %d:\nfast %q\nslow %q", cols, in, i, fast, slow)
				}
			}
		}
	}
}
