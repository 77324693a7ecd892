package recording

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// prompt is what bash with Postern's integration prints around a prompt.
func prompt(ps1 string) string { return "\x1b]133;A\x07" + ps1 + "\x1b]133;B\x07" }

const (
	markC = "\x1b]133;C\x07"
)

func markD(code string) string { return "\x1b]133;D;" + code + "\x07" }

func TestCommandTracker(t *testing.T) {
	sec := func(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }
	type chunk struct {
		at   float64
		data string
	}
	tests := []struct {
		name   string
		chunks []chunk
		clean  string
		want   []Command
	}{
		{
			name: "two commands with exit codes",
			chunks: []chunk{
				{0, markD("0") + prompt("$ ")},
				{1, "ls\r\n" + markC},
				{1.5, "a  b\r\n"},
				{2, markD("0") + prompt("$ ")},
				{3, "false\r\n" + markC},
				{3.25, markD("1") + prompt("$ ")},
			},
			clean: "$ ls\r\na  b\r\n$ false\r\n$ ",
			want: []Command{
				{Line: "ls", Start: sec(1), Duration: sec(1), ExitCode: 0, HasExit: true},
				{Line: "false", Start: sec(3), Duration: sec(0.25), ExitCode: 1, HasExit: true},
			},
		},
		{
			name: "edits and ST terminators",
			chunks: []chunk{
				{0, "\x1b]133;A\x1b\\$ \x1b]133;B\x1b\\"},
				{1, "sl\b\b\x1b[Kls -l\r\n\x1b]133;C\x1b\\"},
				{2, "\x1b]133;D;2\x1b\\"},
			},
			clean: "$ sl\b\b\x1b[Kls -l\r\n",
			want:  []Command{{Line: "ls -l", Start: sec(1), Duration: sec(1), ExitCode: 2, HasExit: true}},
		},
		{
			// Bash redraws a pasted line (bracketed paste) or one edited
			// mid-row from the start of the row: CR, then right past the
			// prompt. What the user saw is the prompt and the command.
			name: "line redrawn from the start of the row",
			chunks: []chunk{
				{0, markD("0") + "\x1b]133;A\x07\x1b[01;32mroot@vm\x1b[00m:~# \x1b]133;B\x07"},
				{1, "\x1b[7mecho pasted-ok\x1b[27m\r\x1b[11Cecho pasted-ok\r\n" + markC},
				{1.5, "pasted-ok\r\n" + markD("0") + "\x1b]133;A\x07no-newline\x1b[01;32mroot@vm\x1b[00m:~# \x1b]133;B\x07"},
				{2, "\x1b[7mls\x1b[27m\x08\x08ls\r\n" + markC},
				{2.5, markD("0")},
			},
			clean: "\x1b[01;32mroot@vm\x1b[00m:~# \x1b[7mecho pasted-ok\x1b[27m\r\x1b[11Cecho pasted-ok\r\npasted-ok\r\nno-newline\x1b[01;32mroot@vm\x1b[00m:~# \x1b[7mls\x1b[27m\x08\x08ls\r\n",
			want: []Command{
				{Line: "echo pasted-ok", Start: sec(1), Duration: sec(0.5), ExitCode: 0, HasExit: true},
				{Line: "ls", Start: sec(2), Duration: sec(0.5), ExitCode: 0, HasExit: true},
			},
		},
		{
			name: "marks cut between records",
			chunks: []chunk{
				{0, "\x1b]13"}, {0, "3;A\x07$ \x1b"}, {0, "]133;B"}, {0, "\x07"},
				{1, "echo hi\r\n\x1b]133;C"}, {1, "\x07hi\r\n\x1b]133;D;0"}, {2, "\x07"},
			},
			clean: "$ echo hi\r\nhi\r\n",
			want:  []Command{{Line: "echo hi", Start: sec(1), Duration: sec(1), ExitCode: 0, HasExit: true}},
		},
		{
			name: "other escape sequences and OSCs pass through",
			chunks: []chunk{
				{0, "\x1b]0;title\x07\x1b[1mbold\x1b[0m\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"},
			},
			clean: "\x1b]0;title\x07\x1b[1mbold\x1b[0m\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\",
		},
		{
			name: "a prompt without an end mark ends the command without a code",
			chunks: []chunk{
				{0, prompt("$ ")}, {1, "sleep 1\r\n" + markC}, {4, prompt("$ ")},
			},
			clean: "$ sleep 1\r\n$ ",
			want:  []Command{{Line: "sleep 1", Start: sec(1), Duration: sec(3)}},
		},
		{
			name: "an end mark without a command start is not a command",
			chunks: []chunk{
				{0, markD("0") + prompt("$ ")}, {1, "^C\r\n" + markD("130") + prompt("$ ")},
			},
			clean: "$ ^C\r\n$ ",
		},
		{
			name: "redrawn prompt restarts the line",
			chunks: []chunk{
				{0, prompt("$ ")}, {1, "garbage\r" + prompt("$ ") + "pwd\r\n" + markC}, {2, markD("0")},
			},
			clean: "$ garbage\r$ pwd\r\n",
			want:  []Command{{Line: "pwd", Start: sec(1), Duration: sec(1), ExitCode: 0, HasExit: true}},
		},
		{
			name:   "no integration: plain output, no commands",
			chunks: []chunk{{0, "$ ls\r\nfile\r\n$ "}},
			clean:  "$ ls\r\nfile\r\n$ ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewCommandTracker(80)
			var clean []byte
			var got []Command
			for _, c := range tt.chunks {
				var done []Command
				clean, done = tr.Feed(clean, sec(c.at), []byte(c.data))
				got = append(got, done...)
			}
			if string(clean) != tt.clean {
				t.Errorf("clean output %q, want %q", clean, tt.clean)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("commands %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCommandTrackerCloseReportsRunningCommand(t *testing.T) {
	tr := NewCommandTracker(80)
	out, done := tr.Feed(nil, 0, []byte(prompt("$ ")+"vim\r\n"+markC+"\x1b"))
	if len(done) != 0 {
		t.Fatalf("done early: %+v", done)
	}
	out, done = tr.Close(out, 5*time.Second)
	if want := []Command{{Line: "vim", Start: 0, Duration: 5 * time.Second}}; !reflect.DeepEqual(done, want) {
		t.Errorf("Close: %+v, want %+v", done, want)
	}
	if string(out) != "$ vim\r\n\x1b" {
		t.Errorf("output %q: the held ESC must come out at Close", out)
	}
}

// FuzzCommandTracker checks that the tracker never panics, that output
// without marks passes through unchanged however it is cut, and that
// removing marks never adds bytes.
func FuzzCommandTracker(f *testing.F) {
	f.Add([]byte(prompt("$ ")+"ls\r\n"+markC+"x\r\n"+markD("0")), 3)
	f.Add([]byte("\x1b]0;t\x07\x1b[31mred\x1b]133;D;x\x1b\\\x1b]133"), 1)
	f.Add([]byte("plain text\r\n\x1b[K"), 0)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		tr := NewCommandTracker(40)
		var out []byte
		if cut < 0 {
			cut = -cut
		}
		cut = cut % (len(data) + 1)
		out, _ = tr.Feed(out, 0, data[:cut])
		out, _ = tr.Feed(out, time.Second, data[cut:])
		out, _ = tr.Close(out, 2*time.Second)
		if len(out) > len(data) {
			t.Fatalf("output grew: %d > %d", len(out), len(data))
		}
		if !bytes.Contains(data, []byte("\x1b]")) && !bytes.Equal(out, data) {
			t.Fatalf("output without OSCs changed: %q -> %q", data, out)
		}
		if !bytes.Contains(data, []byte("133")) && !bytes.Equal(out, data) {
			t.Fatalf("output without marks changed: %q -> %q", data, out)
		}
	})
}

// TestCastMarksCommands writes a bash session with integration as a cast:
// the marks are gone from the output, and each command is a marker at its
// start, labelled with its line.
func TestCastMarksCommands(t *testing.T) {
	var buf bytes.Buffer
	cw, err := NewCastWriter(&buf, Meta{Width: 80, Height: 24})
	if err != nil {
		t.Fatal(err)
	}
	recs := []Record{
		{Kind: KindOutput, Time: 0, Data: []byte(markD("0") + prompt("$ "))},
		{Kind: KindOutput, Time: time.Second, Data: []byte("ls\r\n" + markC + "a\r\n" + markD("0") + prompt("$ "))},
		{Kind: KindOutput, Time: 2 * time.Second, Data: []byte("false\r\n" + markC)},
		{Kind: KindOutput, Time: 3 * time.Second, Data: []byte(markD("1") + "\x1b]13")},
	}
	for _, r := range recs {
		if err := cw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	_, events, err := ReadCast(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var out, markers []string
	for _, e := range events {
		switch e.Type {
		case EventOutput:
			out = append(out, e.Data)
		case EventMarker:
			markers = append(markers, fmt.Sprintf("%.0f:%s", e.Time, e.Data))
		}
	}
	if got, want := strings.Join(out, ""), "$ ls\r\na\r\n$ false\r\n\x1b]13"; got != want {
		t.Errorf("output %q, want %q (marks removed, an unfinished sequence kept)", got, want)
	}
	if got, want := strings.Join(markers, ","), "1:ls,2:false"; got != want {
		t.Errorf("markers %q, want %q", got, want)
	}
}

// TestCommandTrackerTypedLines follows lines entered where no integration
// marks them: each is read off the terminal when it is left after an
// Enter, less the prompt the line's first key found.
func TestCommandTrackerTypedLines(t *testing.T) {
	sec := func(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }
	// step is output printed at a time, or the marks of keys typed then.
	type step struct {
		at    float64
		out   string
		typed string
	}
	line := func(at float64, text, prompt string) Command {
		return Command{Line: text, Start: sec(at), LineOnly: true, Prompt: prompt}
	}
	tests := []struct {
		name  string
		cols  int
		steps []step
		want  []Command
	}{
		{
			name: "a line editor echoes each key",
			steps: []step{
				{0, "user@host:~$ ", ""}, {1, "", "L"}, {1, "l", ""}, {1.1, "s", ""},
				{2, "", "E"}, {2, "\r\nfile\r\nuser@host:~$ ", ""},
			},
			want: []Command{line(2, "ls", "user@host:~$")},
		},
		{
			name: "a pasted line: both marks come before the echo",
			steps: []step{
				{0, "$ ", ""}, {1, "", "LE"}, {1.2, "echo hi\r\nhi\r\n$ ", ""},
			},
			want: []Command{line(1, "echo hi", "$")},
		},
		{
			name: "a remote echo that comes after Enter",
			steps: []step{
				{0, "[root@db1 ~]# ", ""}, {1, "", "L"}, {1.05, "d", ""}, {1.1, "", "E"},
				{1.15, "f\r\n", ""}, {1.2, "Filesystem\r\n[root@db1 ~]# ", ""},
			},
			want: []Command{line(1.1, "df", "[root@db1 ~]#")},
		},
		{
			name: "edits, a redraw from the start of the row and a line wider than the terminal",
			cols: 20,
			steps: []step{
				{0, "$ ", ""}, {1, "", "L"}, {1, "echo x", ""}, {1.5, "\b \b", ""},
				{2, "\r$ echo 0123456789abcdefghij", ""}, {3, "", "E"}, {3, "\r\n", ""},
			},
			want: []Command{line(3, "echo 0123456789abcdefghij", "$")},
		},
		{
			// Readline moves down the rows of a long line with newlines
			// before it leaves it.
			name: "Enter with the cursor on an upper row of a long line",
			cols: 10,
			steps: []step{
				{0, "$ ", ""}, {1, "", "L"}, {1, "abcdefghijkl", ""}, {1.5, "\x1b[A", ""},
				{2, "", "E"}, {2, "\n\r\n", ""},
			},
			want: []Command{line(2, "abcdefghijkl", "$")},
		},
		{
			name: "a password prompt shows nothing typed",
			steps: []step{
				{0, "$ ", ""}, {1, "", "LE"}, {1, "su - bob\r\nPassword: ", ""},
				{2, "", "L"}, {3, "", "E"}, {3, "\r\n", ""},
				{4, "bob@host:~$ ", ""}, {5, "", "LE"}, {5, "id\r\nuid=1001(bob)\r\nbob@host:~$ ", ""},
			},
			want: []Command{line(1, "su - bob", "$"), line(5, "id", "bob@host:~$")},
		},
		{
			name: "a password echoed as asterisks",
			steps: []step{
				{0, "[sudo] password for bob: ", ""}, {1, "", "L"}, {1, "****", ""}, {2, "", "E"}, {2, "\r\n", ""},
			},
		},
		{
			name: "Ctrl-C abandons a line",
			steps: []step{
				{0, "$ ", ""}, {1, "", "L"}, {1, "rm -rf x", ""}, {2, "^C\r\n$ ", ""},
				{3, "", "L"}, {3, "ls", ""}, {4, "", "E"}, {4, "\r\n", ""},
			},
			want: []Command{line(4, "ls", "$")},
		},
		{
			name:  "Enter at an empty prompt",
			steps: []step{{0, "$ ", ""}, {1, "", "E"}, {1, "\r\n$ ", ""}},
		},
		{
			name:  "lines typed where nothing prompted",
			steps: []step{{0, "$ cat > notes\r\n", ""}, {1, "", "L"}, {1, "hello", ""}, {2, "", "E"}, {2, "\r\n", ""}},
		},
		{
			name: "lines typed ahead",
			steps: []step{
				{0, "$ ", ""}, {1, "", "L"}, {1, "sleep 1", ""}, {2, "", "E"}, {2.5, "", "LE"},
				{2, "\r\n", ""}, {3, "$ pwd\r\n/root\r\n$ ", ""},
			},
			want: []Command{line(2, "sleep 1", "$"), line(2.5, "pwd", "$")},
		},
		{
			name: "a full-screen program",
			steps: []step{
				{0, "$ ", ""}, {1, "", "L"}, {1, "vi f", ""}, {2, "", "E"}, {2, "\x1b[?1049h\x1b[H\x1b[2Jfile", ""},
				{3, "", "L"}, {3, "ihello", ""}, {4, "", "E"}, {4, "\r\nworld\r\n", ""},
				{5, "", "L"}, {5, "\x1b[?1049l", ""}, {6, "$ ", ""}, {7, "", "LE"}, {7, "ls\r\n", ""},
			},
			want: []Command{line(2, "vi f", "$"), line(7, "ls", "$")},
		},
		{
			name:  "a line entered just before the end",
			steps: []step{{0, "$ ", ""}, {1, "", "L"}, {1, "exit", ""}, {2, "", "E"}},
			want:  []Command{line(2, "exit", "$")},
		},
		{
			name: "a shell with integration reports its own lines",
			steps: []step{
				{0, prompt("$ "), ""}, {1, "", "LE"}, {1, "ls\r\n" + markC + "file\r\n", ""}, {2, markD("0") + prompt("$ "), ""},
			},
			want: []Command{{Line: "ls", Start: sec(1), Duration: sec(1), HasExit: true}},
		},
		{
			name: "lines entered into a program a marked command runs, and a nested shell without marks",
			steps: []step{
				{0, prompt("$ "), ""}, {1, "", "LE"}, {1, "python3\r\n" + markC + "Python 3\r\n>>> ", ""},
				{2, "", "LE"}, {2, "print(6*7)\r\n42\r\n>>> ", ""}, {3, "", "L"}, {3, "exit()", ""}, {4, "", "E"},
				{4, "\r\n" + markD("0") + prompt("$ "), ""},
				{5, "", "LE"}, {5, "exec bash --norc\r\n" + markC + "bash-5.2# ", ""},
				{6, "", "LE"}, {6, "id -u\r\n0\r\nbash-5.2# ", ""},
			},
			want: []Command{
				line(2, "print(6*7)", ">>>"), line(4, "exit()", ">>>"),
				{Line: "python3", Start: sec(1), Duration: sec(3), HasExit: true},
				line(6, "id -u", "bash-5.2#"),
				{Line: "exec bash --norc", Start: sec(5), Duration: sec(3)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewCommandTracker(tt.cols)
			var started []Command
			tr.OnStart = func(c Command) { started = append(started, c) }
			var got []Command
			var out, clean []byte
			for _, s := range tt.steps {
				if s.typed != "" {
					tr.Typed(sec(s.at), []byte(s.typed))
				}
				var done []Command
				out = append(out, s.out...)
				clean, done = tr.Feed(clean, sec(s.at), []byte(s.out))
				got = append(got, done...)
			}
			_, done := tr.Close(nil, sec(8))
			got = append(got, done...)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("commands\n%+v\nwant\n%+v", got, tt.want)
			}
			if len(started) != len(tt.want) {
				t.Errorf("OnStart saw %d commands, want %d", len(started), len(tt.want))
			}
			if !bytes.Equal(clean, []byte(strings.NewReplacer(markC, "", markD("0"), "", "\x1b]133;A\x07", "", "\x1b]133;B\x07", "").Replace(string(out)))) {
				t.Errorf("output changed: %q", clean)
			}
		})
	}
}

// FuzzCommandTrackerTyped interleaves output with typed marks: the tracker
// never panics, passes output without marks through unchanged, holds no
// more Enters than its bound, and every line it reads off the terminal is
// made of what the output printed.
func FuzzCommandTrackerTyped(f *testing.F) {
	f.Add([]byte("$ "), []byte("L"), []byte("ls\r\nfile\r\n$ "), []byte("E"), 40)
	f.Add([]byte("\x1b[?1049h$ "), []byte("LELE"), []byte("x\x1b[?1049lecho\r\n"), []byte("EEEEEEEEEEE"), 5)
	f.Add([]byte(prompt("$ ")), []byte("LE"), []byte("ls\r\n"+markC+">>> "), []byte("LE"), 80)
	f.Fuzz(func(t *testing.T, out1, typed1, out2, typed2 []byte, cols int) {
		tr := NewCommandTracker(cols % 300)
		var out []byte
		var cmds []Command
		var done []Command
		tr.Typed(0, typed1)
		out, done = tr.Feed(out, time.Second, out1)
		cmds = append(cmds, done...)
		tr.Typed(2*time.Second, typed2)
		out, done = tr.Feed(out, 3*time.Second, out2)
		cmds = append(cmds, done...)
		if len(tr.enters) > maxEnters {
			t.Fatalf("%d Enters held", len(tr.enters))
		}
		out, done = tr.Close(out, 4*time.Second)
		cmds = append(cmds, done...)
		data := append(slices.Clip(out1), out2...)
		if !bytes.Contains(data, []byte("133")) && !bytes.Equal(out, data) {
			t.Fatalf("output without marks changed: %q -> %q", data, out)
		}
		for _, c := range cmds {
			if !c.LineOnly {
				continue
			}
			for _, r := range c.Line + c.Prompt {
				if r != ' ' && r != utf8.RuneError && !bytes.ContainsRune(data, r) {
					t.Fatalf("line %q (prompt %q) holds %q, which the output %q never printed", c.Line, c.Prompt, r, data)
				}
			}
		}
	})
}

// TestCastMarksTypedLines: in a shell without integration, each line
// entered is a marker where the terminal showed it, and the keys' marks
// leave no event of their own.
func TestCastMarksTypedLines(t *testing.T) {
	var buf bytes.Buffer
	cw, err := NewCastWriter(&buf, Meta{Width: 80, Height: 24})
	if err != nil {
		t.Fatal(err)
	}
	recs := []Record{
		{Kind: KindOutput, Time: 0, Data: []byte("$ ")},
		{Kind: KindTyped, Time: time.Second, Data: []byte("L")},
		{Kind: KindOutput, Time: time.Second, Data: []byte("ls")},
		{Kind: KindTyped, Time: 2 * time.Second, Data: []byte("E")},
		{Kind: KindOutput, Time: 3 * time.Second, Data: []byte("\r\nfile\r\n$ ")},
	}
	for _, r := range recs {
		if err := cw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	_, events, err := ReadCast(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%.0f:%s:%q", e.Time, e.Type, e.Data))
	}
	if want := `0:o:"$ " 1:o:"ls" 3:m:"ls" 3:o:"\r\nfile\r\n$ "`; strings.Join(got, " ") != want {
		t.Errorf("events %s, want %s", strings.Join(got, " "), want)
	}
}

// TestCommandLineWrappedAtSpace: a command line wider than the terminal,
// wrapped where it has a space, keeps the space, with integration or
// without.
func TestCommandLineWrappedAtSpace(t *testing.T) {
	// "$ " and 18 characters fill a 20-column row; the space is the last.
	line := "echo 0123456789ab cdef"
	tr := NewCommandTracker(20)
	_, cmds := tr.Feed(nil, 0, []byte(prompt("$ ")+line+"\r\n"+markC+markD("0")+"$ "))
	tr.Typed(time.Second, []byte("LE"))
	_, more := tr.Feed(nil, time.Second, []byte(line+"\r\n"))
	cmds = append(cmds, more...)
	if len(cmds) != 2 || cmds[0].Line != line || cmds[1].Line != line {
		t.Errorf("commands %+v, want %q twice", cmds, line)
	}
}
