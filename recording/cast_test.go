package recording

import (
	"bytes"
	"encoding/json"
	"iter"
	"reflect"
	"strings"
	"testing"
	"time"
)

// records turns a slice into the iterator form the writers take.
func records(rs []Record) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for _, r := range rs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func TestWriteCast(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCast(&buf, testMeta, records(sampleRecords())); err != nil {
		t.Fatal(err)
	}
	want := `{"version":2,"width":80,"height":24,"timestamp":1715249995,"title":"alice on mi-0a1b2c3d4e5f60718","env":{"SHELL":"/bin/bash","TERM":"xterm-256color"}}
[0.010000, "o", "sh-5.2$ "]
[1.200000, "i", "w"]
[1.201000, "o", "w"]
[1.500000, "r", "120x40"]
[1.600000, "m", "command"]
[2.000000, "o", "hoami\r\nssm-user\r\nsh-5.2$ "]
`
	if got := buf.String(); got != want {
		t.Errorf("cast:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteCastHeaderDefaults(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCast(&buf, Meta{}, records(nil)); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), `{"version":2,"width":80,"height":24}`+"\n"; got != want {
		t.Errorf("header = %q, want %q", got, want)
	}
}

func TestAppendEventTime(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "[0.000000,"},
		{time.Microsecond, "[0.000001,"},
		{999 * time.Nanosecond, "[0.000000,"},
		{1500 * time.Millisecond, "[1.500000,"},
		{100*time.Second + 10*time.Microsecond, "[100.000010,"},
		{-time.Second, "[0.000000,"},
	}
	for _, tt := range tests {
		got := string(appendEvent(nil, tt.d, "o", nil))
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("appendEvent(%v) = %q, want prefix %q", tt.d, got, tt.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // decoded
		raw  string // encoded, if it matters
	}{
		{"plain", "hello", "hello", `"hello"`},
		{"escapes", "a\"b\\c\n\r\t", "a\"b\\c\n\r\t", `"a\"b\\c\n\r\t"`},
		{"controls", "\x1b[0m\x00\x7f", "\x1b[0m\x00\x7f", `"\u001b[0m\u0000\u007f"`},
		{"html left alone", "<a&b>", "<a&b>", `"<a&b>"`},
		{"utf-8", "héllo 世界 👍", "héllo 世界 👍", `"héllo 世界 👍"`},
		{"invalid bytes", "a\xffb\xc3", "a\ufffdb\ufffd", `"a\ufffdb\ufffd"`},
		{"line separators", "a\u2028b\u2029", "a\u2028b\u2029", `"a\u2028b\u2029"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := appendJSONString(nil, []byte(tt.in))
			if tt.raw != "" && string(enc) != tt.raw {
				t.Errorf("encoded %q, want %q", enc, tt.raw)
			}
			var got string
			if err := json.Unmarshal(enc, &got); err != nil {
				t.Fatalf("%s does not decode: %v", enc, err)
			}
			if got != tt.want {
				t.Errorf("decoded %q, want %q", got, tt.want)
			}
		})
	}
}

// castEvents writes the records as a cast and reads back its events.
func castEvents(t *testing.T, recs []Record) []Event {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteCast(&buf, testMeta, records(recs)); err != nil {
		t.Fatal(err)
	}
	_, evs, err := ReadCast(&buf)
	if err != nil {
		t.Fatalf("ReadCast of our own cast: %v\n%s", err, buf.Bytes())
	}
	return evs
}

func TestCastUTF8Carry(t *testing.T) {
	out := func(seq uint64, ms int, s string) Record {
		return Record{Seq: seq, Time: time.Duration(ms) * time.Millisecond, Kind: KindOutput, Data: []byte(s)}
	}
	in := func(seq uint64, ms int, s string) Record {
		r := out(seq, ms, s)
		r.Kind = KindInput
		return r
	}
	tests := []struct {
		name string
		recs []Record
		want []Event
	}{
		{
			name: "euro split after first byte",
			recs: []Record{out(1, 1, "a\xe2"), out(2, 2, "\x82\xacb")},
			want: []Event{{0.001, "o", "a"}, {0.002, "o", "€b"}},
		},
		{
			name: "euro split after second byte",
			recs: []Record{out(1, 1, "a\xe2\x82"), out(2, 2, "\xacb")},
			want: []Event{{0.001, "o", "a"}, {0.002, "o", "€b"}},
		},
		{
			name: "emoji split over three records",
			recs: []Record{out(1, 1, "\xf0\x9f"), out(2, 2, "\x91"), out(3, 3, "\x8d!")},
			want: []Event{{0.003, "o", "👍!"}},
		},
		{
			name: "carry is per kind",
			recs: []Record{out(1, 1, "x\xc3"), in(2, 2, "y\xe4\xb8"), out(3, 3, "\xa9"), in(4, 4, "\x96")},
			want: []Event{{0.001, "o", "x"}, {0.002, "i", "y"}, {0.003, "o", "é"}, {0.004, "i", "世"}},
		},
		{
			name: "other events between the halves",
			recs: []Record{
				out(1, 1, "\xc3"),
				{Seq: 2, Time: 2 * time.Millisecond, Kind: KindResize, Cols: 100, Rows: 30},
				{Seq: 3, Time: 3 * time.Millisecond, Kind: KindMarker, Data: []byte("m")},
				out(4, 4, "\xa9"),
			},
			want: []Event{{0.002, "r", "100x30"}, {0.003, "m", "m"}, {0.004, "o", "é"}},
		},
		{
			name: "invalid bytes become U+FFFD",
			recs: []Record{out(1, 1, "a\xffb\x80c\xc0\xafd")},
			want: []Event{{0.001, "o", "a\ufffdb\ufffdc\ufffd\ufffdd"}},
		},
		{
			name: "start of a character that never completes",
			recs: []Record{out(1, 1, "a\xe2\x82"), out(2, 2, "b")},
			want: []Event{{0.001, "o", "a"}, {0.002, "o", "\ufffd\ufffdb"}},
		},
		{
			name: "incomplete at the end of the session",
			recs: []Record{out(1, 1, "a\xe2\x82")},
			want: []Event{{0.001, "o", "a"}, {0.001, "o", "\ufffd\ufffd"}},
		},
		{
			name: "incomplete input left at the end comes after later output",
			recs: []Record{in(1, 1, "a\xe2"), out(2, 5, "b")},
			want: []Event{{0.001, "i", "a"}, {0.005, "o", "b"}, {0.005, "i", "\ufffd"}},
		},
		{
			name: "invalid marker label",
			recs: []Record{{Seq: 1, Kind: KindMarker, Data: []byte("\xffx")}},
			want: []Event{{0, "m", "\ufffdx"}},
		},
		{
			name: "exit is not an event",
			recs: []Record{out(1, 1, "bye"), {Seq: 2, Time: time.Second, Kind: KindExit, ExitCode: 3, Data: []byte("exited")}},
			want: []Event{{0.001, "o", "bye"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := castEvents(t, tt.recs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// The concatenated output of a cast is the session's output, decoded as a
// whole, however the agent cut it into records.
func TestCastOutputSurvivesAnySplit(t *testing.T) {
	const text = "héllo 世界 👍 \x1b[1mbold\x1b[0m ok\xff\r\n"
	for cut1 := 0; cut1 <= len(text); cut1++ {
		for cut2 := cut1; cut2 <= len(text); cut2++ {
			recs := []Record{
				{Seq: 1, Kind: KindOutput, Data: []byte(text[:cut1])},
				{Seq: 2, Kind: KindOutput, Data: []byte(text[cut1:cut2])},
				{Seq: 3, Kind: KindOutput, Data: []byte(text[cut2:])},
			}
			var got strings.Builder
			for _, ev := range castEvents(t, recs) {
				got.WriteString(ev.Data)
			}
			if want := strings.ToValidUTF8(text, "\ufffd"); got.String() != want {
				t.Fatalf("cuts %d, %d: output %q, want %q", cut1, cut2, got.String(), want)
			}
		}
	}
}

func TestReadCast(t *testing.T) {
	in := "{\"version\": 2, \"width\": 100, \"height\": 30, \"timestamp\": 1504467315, \"idle_time_limit\": 1.5, \"title\": \"Demo\", \"env\": {\"TERM\": \"xterm-256color\", \"SHELL\": \"/bin/zsh\"}, \"theme\": {\"fg\": \"#d0d0d0\"}}\r\n" +
		"[0.248848, \"o\", \"\\u001b[1;31mHello \\u001b[32mWorld!\\u001b[0m\\n\"]\r\n" +
		"\n" +
		"[1.001376, \"i\", \"ls\\r\"]\n" +
		"[ 2.5 , \"r\" , \"80x24\" ]\n" +
		"[3, \"m\", \"\"]\n"
	h, evs, err := ReadCast(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	wantH := Header{
		Version: 2, Width: 100, Height: 30, Timestamp: 1504467315, IdleTimeLimit: 1.5, Title: "Demo",
		Env: map[string]string{"TERM": "xterm-256color", "SHELL": "/bin/zsh"},
	}
	if !reflect.DeepEqual(h, wantH) {
		t.Errorf("header = %+v, want %+v", h, wantH)
	}
	wantEvs := []Event{
		{0.248848, "o", "\x1b[1;31mHello \x1b[32mWorld!\x1b[0m\n"},
		{1.001376, "i", "ls\r"},
		{2.5, "r", "80x24"},
		{3, "m", ""},
	}
	if !reflect.DeepEqual(evs, wantEvs) {
		t.Errorf("events = %+v, want %+v", evs, wantEvs)
	}
}

func TestReadCastErrors(t *testing.T) {
	const hdr = `{"version": 2, "width": 80, "height": 24}` + "\n"
	tests := []struct {
		name string
		in   string
		want string // in the error
	}{
		{"empty", "", "empty"},
		{"header not an object", "[2]\n", "line 1: header is not a JSON object"},
		{"header not JSON", "{version 2}\n", "line 1: header"},
		{"version 1", `{"version": 1, "width": 80, "height": 24}`, "line 1: header: version 1, want 2"},
		{"version 3", `{"version": 3, "term": {"cols": 80, "rows": 24}}`, "version 3, want 2"},
		{"version missing", `{"width": 80, "height": 24}`, "version 0, want 2"},
		{"version a string", `{"version": "2", "width": 80, "height": 24}`, "line 1: header"},
		{"zero width", `{"version": 2, "width": 0, "height": 24}`, "terminal size 0x24"},
		{"negative height", `{"version": 2, "width": 80, "height": -1}`, "terminal size 80x-1"},
		{"event not an array", hdr + `{"t": 1}`, "line 2: event"},
		{"two elements", hdr + `[1, "o"]`, "line 2: event has 2 elements, want 3"},
		{"four elements", hdr + `[1, "o", "x", "y"]`, "line 2: event has 4 elements, want 3"},
		{"unknown code", hdr + `[1, "o", "a"]` + "\n" + `[2, "x", "0"]`, `line 3: unknown event code "x"`},
		{"time a string", hdr + `["1", "o", "a"]`, "line 2: event time is not a number"},
		{"time null", hdr + `[null, "o", "a"]`, "line 2: event time is not a number"},
		{"negative time", hdr + `[-1, "o", "a"]`, "line 2: event time -1 is negative"},
		{"code null", hdr + `[1, null, "a"]`, "line 2: event code is not a string"},
		{"data null", hdr + `[1, "o", null]`, "line 2: event data is not a string"},
		{"data a number", hdr + `[1, "o", 5]`, "line 2: event data is not a string"},
		{"resize without x", hdr + `[1, "r", "80"]`, `line 2: bad terminal size "80"`},
		{"resize to zero", hdr + `[1, "r", "0x24"]`, `bad terminal size "0x24"`},
		{"trailing garbage", hdr + `[1, "o", "a"] x`, "line 2: event"},
		{"line too long", hdr + `[1, "o", "` + strings.Repeat("a", MaxCastLine) + `"]`, "line 2: longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadCast(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ReadCast: err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in         string
		cols, rows int
		ok         bool
	}{
		{"80x24", 80, 24, true},
		{"1x1", 1, 1, true},
		{"65535x65535", 65535, 65535, true},
		{"65536x24", 0, 0, false},
		{"80X24", 0, 0, false},
		{"80x", 0, 0, false},
		{"x24", 0, 0, false},
		{"-80x24", 0, 0, false},
		{"80x24x1", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		cols, rows, err := ParseSize(tt.in)
		if cols != tt.cols || rows != tt.rows || (err == nil) != tt.ok {
			t.Errorf("ParseSize(%q) = %d, %d, %v", tt.in, cols, rows, err)
		}
	}
}
