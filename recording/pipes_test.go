package recording

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// pipesRecords are a session without a terminal: standard output with a
// character cut between two records, standard error in between, input.
func pipesRecords() []Record {
	return []Record{
		{Seq: 1, Time: 1 * time.Millisecond, Kind: KindInput, Data: []byte("in\n")},
		{Seq: 2, Time: 2 * time.Millisecond, Kind: KindOutput, Data: []byte("caf\xc3")},
		{Seq: 3, Time: 3 * time.Millisecond, Kind: KindStderr, Data: []byte("warn\n")},
		{Seq: 4, Time: 4 * time.Millisecond, Kind: KindOutput, Data: []byte("\xa9\nok\n")},
		{Seq: 5, Time: 5 * time.Millisecond, Kind: KindExit, ExitCode: 3},
	}
}

var pipesMeta = Meta{SessionID: "alice-07e2d6c1b9a3f4e51", Start: time.Date(2024, 5, 9, 10, 19, 55, 0, time.UTC), Pipes: true}

func TestPipesJournalCastTranscript(t *testing.T) {
	recs := pipesRecords()
	path := filepath.Join(t.TempDir(), "j")
	j, err := CreateJournal(path, pipesMeta, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if ok, err := j.Append(r); !ok || err != nil {
			t.Fatalf("Append(%v) = %v, %v", r.Kind, ok, err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	m, got, damaged := readAll(t, path)
	if damaged || !reflect.DeepEqual(got, recs) || !m.Pipes {
		t.Fatalf("journal read back %+v (meta %+v, damaged %v)", got, m, damaged)
	}

	var cast, log bytes.Buffer
	if err := RenderJournal(path, nil, &cast, &log); err != nil {
		t.Fatal(err)
	}
	h, evs, err := ReadCast(&cast)
	if err != nil {
		t.Fatal(err)
	}
	if h.Width != 80 || h.Height != 24 {
		t.Errorf("cast size %dx%d, want the 80x24 default", h.Width, h.Height)
	}
	var types, data []string
	for _, ev := range evs {
		types = append(types, ev.Type)
		data = append(data, ev.Data)
	}
	// Standard error's record does not disturb the character standard
	// output carries over; both show as a terminal would show them.
	wantTypes := []string{"i", "o", "o", "o"}
	wantData := []string{"in\n", "caf", "warn\r\n", "é\r\nok\r\n"}
	if !reflect.DeepEqual(types, wantTypes) || !reflect.DeepEqual(data, wantData) {
		t.Errorf("cast events %q %q, want %q %q", types, data, wantTypes, wantData)
	}
	want := "Script started on 2024-05-09 10:19:55+00:00 [<not executed on terminal>]\ncafwarn\né\nok\nScript done on 2024-05-09 10:19:55+00:00 [COMMAND_EXIT_CODE=\"3\"]\n"
	if log.String() != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", log.String(), want)
	}
	if KindStderr.String() != "stderr" {
		t.Errorf("KindStderr.String() = %q", KindStderr.String())
	}
}

// A stderr carry left incomplete at the end is written out too.
func TestPipesCastCloseWritesStderrCarry(t *testing.T) {
	var b strings.Builder
	err := WriteCast(&b, pipesMeta, records([]Record{{Seq: 1, Kind: KindStderr, Data: []byte("x\xe2\x82")}}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"o", "x"`) || !strings.Contains(b.String(), `"o", "\ufffd`) && !strings.Contains(b.String(), `"o", "�`) {
		t.Errorf("cast:\n%s", b.String())
	}
}
