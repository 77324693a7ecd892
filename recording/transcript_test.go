package recording

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWriteTranscript(t *testing.T) {
	tests := []struct {
		name     string
		meta     Meta
		end      time.Time
		exitCode int
		recs     []Record
		want     string
	}{
		{
			name: "shell session",
			meta: Meta{
				Start:  time.Date(2024, 5, 9, 10, 19, 55, 0, time.UTC),
				Width:  80,
				Height: 24,
				Env:    map[string]string{"TERM": "xterm-256color", "TTY": "/dev/pts/0"},
			},
			end: time.Date(2024, 5, 9, 10, 20, 31, 0, time.UTC),
			recs: []Record{
				{Seq: 1, Kind: KindOutput, Data: []byte("\x1b[?2004hsh-5.2$ ")},
				{Seq: 2, Kind: KindInput, Data: []byte("whoami\r")},
				{Seq: 3, Kind: KindOutput, Data: []byte("whoami\r\n\x1b[?2004l\r")},
				{Seq: 4, Kind: KindOutput, Data: []byte("ssm-user\r\n\x1b[?2004hsh-5.2$ ")},
				{Seq: 5, Kind: KindMarker, Data: []byte("m")},
				{Seq: 6, Kind: KindOutput, Data: []byte("exit\r\n\x1b[?2004l\rexit\r\n")},
				{Seq: 7, Kind: KindExit, ExitCode: 0},
			},
			want: `Script started on 2024-05-09 10:19:55+00:00 [TERM="xterm-256color" TTY="/dev/pts/0" COLUMNS="80" LINES="24"]
sh-5.2$ whoami
ssm-user
sh-5.2$ exit
exit
Script done on 2024-05-09 10:20:31+00:00 [COMMAND_EXIT_CODE="0"]
`,
		},
		{
			name: "times are printed in UTC",
			meta: Meta{
				Start: time.Date(2024, 5, 9, 12, 19, 55, 0, time.FixedZone("CEST", 2*3600)),
				Width: 80, Height: 24,
			},
			end:      time.Date(2024, 5, 9, 6, 20, 31, 999, time.FixedZone("EDT", -4*3600)),
			exitCode: 130,
			want: `Script started on 2024-05-09 10:19:55+00:00 [COLUMNS="80" LINES="24"]
Script done on 2024-05-09 10:20:31+00:00 [COMMAND_EXIT_CODE="130"]
`,
		},
		{
			name:     "no terminal and no exit code",
			meta:     Meta{Start: time.Date(2024, 5, 9, 10, 19, 55, 0, time.UTC)},
			end:      time.Date(2024, 5, 9, 10, 19, 55, 0, time.UTC),
			exitCode: ExitUnknown,
			recs:     []Record{{Seq: 1, Kind: KindOutput, Data: []byte("hogehoge\n")}},
			want: `Script started on 2024-05-09 10:19:55+00:00 [<not executed on terminal>]
hogehoge
Script done on 2024-05-09 10:19:55+00:00 [COMMAND_EXIT_CODE="-1"]
`,
		},
		{
			name: "resize changes the wrap width",
			meta: Meta{Start: time.Unix(0, 0), Width: 10, Height: 5},
			end:  time.Unix(1, 0),
			recs: []Record{
				{Seq: 1, Kind: KindOutput, Data: []byte("0123456789abcdef\r\n")},
				{Seq: 2, Kind: KindResize, Cols: 20, Rows: 5},
				{Seq: 3, Kind: KindOutput, Data: []byte("0123456789abcdef\r\n")},
			},
			want: `Script started on 1970-01-01 00:00:00+00:00 [COLUMNS="10" LINES="5"]
0123456789
abcdef
0123456789abcdef
Script done on 1970-01-01 00:00:01+00:00 [COMMAND_EXIT_CODE="0"]
`,
		},
		{
			name: "metadata cannot inject lines",
			meta: Meta{Start: time.Unix(0, 0), Env: map[string]string{"TERM": "x\n\x1b[2Jy"}},
			end:  time.Unix(0, 0),
			want: `Script started on 1970-01-01 00:00:00+00:00 [TERM="x\n\x1b[2Jy"]
Script done on 1970-01-01 00:00:00+00:00 [COMMAND_EXIT_CODE="0"]
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteTranscript(&buf, tt.meta, tt.end, tt.exitCode, records(tt.recs)); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("transcript:\n%s\nwant:\n%s", got, tt.want)
			}
			if strings.ContainsAny(buf.String(), "\x1b\r") {
				t.Errorf("transcript has escape or CR bytes: %q", buf.String())
			}
		})
	}
}
