package recording

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
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
