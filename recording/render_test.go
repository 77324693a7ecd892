package recording

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRender(t *testing.T) {
	recs := sampleRecords()
	path, _ := writeTestJournal(t, recs)
	dir := t.TempDir()
	castPath := filepath.Join(dir, testMeta.SessionID+".cast")
	logPath := filepath.Join(dir, testMeta.SessionID+".log")
	// An older rendering is replaced.
	if err := os.WriteFile(logPath, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Render(path, nil, castPath, logPath); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(castPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, evs, err := ReadCast(f)
	if err != nil {
		t.Fatal(err)
	}
	wantH := Header{Version: 2, Width: 80, Height: 24, Timestamp: testMeta.Start.Unix(), Title: testMeta.Title, Env: testMeta.Env}
	if !reflect.DeepEqual(h, wantH) {
		t.Errorf("header = %+v, want %+v", h, wantH)
	}
	wantEvs := []Event{
		{0.01, "o", "sh-5.2$ "},
		{1.2, "i", "w"},
		{1.201, "o", "w"},
		{1.5, "r", "120x40"},
		{1.6, "m", "command"},
		{2, "o", "hoami\r\nssm-user\r\nsh-5.2$ "},
	}
	if !reflect.DeepEqual(evs, wantEvs) {
		t.Errorf("events = %+v, want %+v", evs, wantEvs)
	}

	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	wantLog := `Script started on 2024-05-09 10:19:55+00:00 [TERM="xterm-256color" COLUMNS="80" LINES="24"]
sh-5.2$ whoami
ssm-user
sh-5.2$
Script done on 2024-05-09 10:19:58+00:00 [COMMAND_EXIT_CODE="0"]
`
	if string(log) != wantLog {
		t.Errorf("log:\n%s\nwant:\n%s", log, wantLog)
	}

	for _, p := range []string{castPath, logPath} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{testMeta.SessionID + ".cast", testMeta.SessionID + ".log"}) {
		t.Errorf("directory holds %q, want only the two artifacts", names)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestRenderJournalEndAndExit(t *testing.T) {
	tests := []struct {
		name     string
		recs     []Record
		wantDone string
	}{
		{
			name:     "no records",
			wantDone: `Script done on 2024-05-09 10:19:55+00:00 [COMMAND_EXIT_CODE="-1"]`,
		},
		{
			name: "no exit record",
			recs: []Record{
				{Seq: 1, Time: 90 * time.Second, Kind: KindOutput, Data: []byte("x")},
			},
			wantDone: `Script done on 2024-05-09 10:21:25+00:00 [COMMAND_EXIT_CODE="-1"]`,
		},
		{
			name: "exit code and the latest time",
			recs: []Record{
				{Seq: 1, Time: 5 * time.Second, Kind: KindOutput, Data: []byte("x")},
				{Seq: 2, Time: 4 * time.Second, Kind: KindExit, ExitCode: 127, Data: []byte("command not found")},
			},
			wantDone: `Script done on 2024-05-09 10:20:00+00:00 [COMMAND_EXIT_CODE="127"]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := writeTestJournal(t, tt.recs)
			var log bytes.Buffer
			if err := RenderJournal(path, nil, nil, &log); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
			if got := lines[len(lines)-1]; got != tt.wantDone {
				t.Errorf("last line %q, want %q", got, tt.wantDone)
			}
		})
	}
}

// A journal recovered from a crash renders up to its torn tail.
func TestRenderTornJournal(t *testing.T) {
	recs := sampleRecords()
	path, ends := writeTestJournal(t, recs)
	// Cut inside record 6, the last output.
	if err := os.Truncate(path, ends[5]+3); err != nil {
		t.Fatal(err)
	}
	var cast, log bytes.Buffer
	if err := RenderJournal(path, nil, &cast, &log); err != nil {
		t.Fatal(err)
	}
	_, evs, err := ReadCast(&cast)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 5 || evs[4].Type != EventMarker {
		t.Errorf("events %+v, want the first 5", evs)
	}
	if !strings.HasSuffix(log.String(), "\nsh-5.2$ w\nScript done on 2024-05-09 10:19:56+00:00 [COMMAND_EXIT_CODE=\"-1\"]\n") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestRenderFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.journal")
	if err := os.WriteFile(bad, []byte("not a journal"), 0o600); err != nil {
		t.Fatal(err)
	}
	castPath := filepath.Join(dir, "s.cast")
	logPath := filepath.Join(dir, "s.log")
	if err := Render(bad, nil, castPath, logPath); err == nil {
		t.Fatal("Render of a bad journal succeeded")
	}
	if err := Render(filepath.Join(dir, "missing"), nil, castPath, logPath); err == nil {
		t.Fatal("Render of a missing journal succeeded")
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"bad.journal"}) {
		t.Errorf("directory holds %q after failed renders", names)
	}
}

func TestRenderOnlyOne(t *testing.T) {
	path, _ := writeTestJournal(t, sampleRecords())
	dir := t.TempDir()
	logPath := filepath.Join(dir, "s.log")
	if err := Render(path, nil, "", logPath); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"s.log"}) {
		t.Errorf("directory holds %q, want only s.log", names)
	}
}
