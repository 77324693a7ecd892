package recording

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var testMeta = Meta{
	SessionID: "alice-07e2d6c1b9a3f4e51",
	Start:     time.Date(2024, 5, 9, 10, 19, 55, 0, time.UTC),
	Width:     80,
	Height:    24,
	Env:       map[string]string{"SHELL": "/bin/bash", "TERM": "xterm-256color"},
	Title:     "alice on mi-0a1b2c3d4e5f60718",
}

// sampleRecords returns a session using every kind of record.
func sampleRecords() []Record {
	return []Record{
		{Seq: 1, Time: 10 * time.Millisecond, Kind: KindOutput, Data: []byte("sh-5.2$ ")},
		{Seq: 2, Time: 1200 * time.Millisecond, Kind: KindInput, Data: []byte("w")},
		{Seq: 3, Time: 1201 * time.Millisecond, Kind: KindOutput, Data: []byte("w")},
		{Seq: 4, Time: 1500 * time.Millisecond, Kind: KindResize, Cols: 120, Rows: 40},
		{Seq: 5, Time: 1600 * time.Millisecond, Kind: KindMarker, Data: []byte("command")},
		{Seq: 6, Time: 2 * time.Second, Kind: KindOutput, Data: []byte("hoami\r\nssm-user\r\nsh-5.2$ ")},
		{Seq: 7, Time: 2500 * time.Millisecond, Kind: KindTyped, Data: []byte("LE")},
		{Seq: 8, Time: 3 * time.Second, Kind: KindExit, ExitCode: 0},
	}
}

func writeTestJournal(t *testing.T, recs []Record) (path string, ends []int64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "s.journal")
	j, err := CreateJournal(path, testMeta, nil)
	if err != nil {
		t.Fatal(err)
	}
	ends = append(ends, fileSize(t, path))
	for _, r := range recs {
		if ok, err := j.Append(r); !ok || err != nil {
			t.Fatalf("Append(%d) = %v, %v", r.Seq, ok, err)
		}
		if err := j.Sync(); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, fileSize(t, path))
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return path, ends
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func readAll(t *testing.T, path string) (Meta, []Record, bool) {
	t.Helper()
	r, err := ReadJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var recs []Record
	for rec, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return r.Meta(), recs, r.Damaged()
}

func TestJournalRoundTrip(t *testing.T) {
	want := sampleRecords()
	path, _ := writeTestJournal(t, want)
	m, got, damaged := readAll(t, path)
	if !reflect.DeepEqual(m, testMeta) {
		t.Errorf("Meta = %+v, want %+v", m, testMeta)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records:\n got %+v\nwant %+v", got, want)
	}
	if damaged {
		t.Error("Damaged() = true for a clean journal")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestCreateJournalExists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.journal")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateJournal(path, testMeta, nil); !errors.Is(err, os.ErrExist) {
		t.Fatalf("CreateJournal over an existing file: err = %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "x" {
		t.Fatalf("existing file changed to %q", b)
	}
}

func TestJournalSequence(t *testing.T) {
	out := func(seq uint64) Record { return Record{Seq: seq, Kind: KindOutput, Data: []byte{byte('a' + seq)}} }
	tests := []struct {
		name    string
		rec     Record
		wantOK  bool
		wantErr bool
	}{
		{"next", out(4), true, false},
		{"duplicate of last", out(3), false, false},
		{"duplicate of first", out(1), false, false},
		{"gap", out(5), false, true},
		{"zero", out(0), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.journal")
			j, err := CreateJournal(path, testMeta, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			for seq := uint64(1); seq <= 3; seq++ {
				if _, err := j.Append(out(seq)); err != nil {
					t.Fatal(err)
				}
			}
			ok, err := j.Append(tt.rec)
			if ok != tt.wantOK || (err != nil) != tt.wantErr {
				t.Fatalf("Append(seq %d) = %v, %v; want %v, error %v", tt.rec.Seq, ok, err, tt.wantOK, tt.wantErr)
			}
			wantLast := uint64(3)
			if tt.wantOK {
				wantLast = tt.rec.Seq
			}
			if got := j.LastSeq(); got != wantLast {
				t.Errorf("LastSeq = %d, want %d", got, wantLast)
			}
			// A rejected record must not poison the journal.
			if ok, err := j.Append(out(wantLast + 1)); !ok || err != nil {
				t.Fatalf("Append after: %v, %v", ok, err)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			_, recs, _ := readAll(t, path)
			if len(recs) != int(wantLast+1) {
				t.Fatalf("journal holds %d records, want %d", len(recs), wantLast+1)
			}
			for i, r := range recs {
				if !reflect.DeepEqual(r, out(uint64(i+1))) {
					t.Errorf("record %d = %+v", i, r)
				}
			}
		})
	}
}

func TestJournalRejectsBadRecords(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
	}{
		{"unknown kind", Record{Seq: 1, Kind: KindKey + 1}},
		{"kind zero", Record{Seq: 1}},
		{"negative time", Record{Seq: 1, Kind: KindOutput, Time: -1}},
		{"resize to zero", Record{Seq: 1, Kind: KindResize}},
		{"resize too wide", Record{Seq: 1, Kind: KindResize, Cols: 1 << 16, Rows: 24}},
		{"exit code beyond int32", Record{Seq: 1, Kind: KindExit, ExitCode: 1 << 40}},
		{"data over the frame limit", Record{Seq: 1, Kind: KindOutput, Data: make([]byte, MaxFrame)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.journal")
			j, err := CreateJournal(path, testMeta, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := j.Append(tt.rec); ok || err == nil {
				t.Fatalf("Append(%+v) = %v, %v; want an error", tt.rec.Kind, ok, err)
			}
			if ok, err := j.Append(Record{Seq: 1, Kind: KindOutput, Data: []byte("x")}); !ok || err != nil {
				t.Fatalf("Append after rejection: %v, %v", ok, err)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			if _, recs, _ := readAll(t, path); len(recs) != 1 {
				t.Fatalf("journal holds %d records, want 1", len(recs))
			}
		})
	}
}

func TestJournalLargestRecord(t *testing.T) {
	data := bytes.Repeat([]byte("x"), MaxFrame-payloadFixedLen)
	path, _ := writeTestJournal(t, []Record{{Seq: 1, Kind: KindOutput, Data: data}})
	_, recs, _ := readAll(t, path)
	if len(recs) != 1 || !bytes.Equal(recs[0].Data, data) {
		t.Fatalf("largest record did not round-trip")
	}
}

// checkRecovered opens the journal at path as after a crash and checks
// that exactly the first n records of want survive, that the file was cut
// to size, and that the session goes on from there.
func checkRecovered(t *testing.T, path string, want []Record, n int, size int64) {
	t.Helper()
	j, err := OpenJournal(path, nil)
	if err != nil {
		t.Fatalf("OpenJournal: %v", err)
	}
	if got := j.LastSeq(); got != uint64(n) {
		t.Fatalf("LastSeq = %d, want %d", got, n)
	}
	if got := j.DurableSeq(); got != uint64(n) {
		t.Fatalf("DurableSeq = %d, want %d", got, n)
	}
	if !reflect.DeepEqual(j.Meta(), testMeta) {
		t.Fatalf("Meta = %+v", j.Meta())
	}
	if got := fileSize(t, path); got != size {
		t.Fatalf("file is %d bytes after recovery, want %d", got, size)
	}
	// The agent replays from the last acknowledged record: duplicates are
	// ignored and the rest is appended.
	replay := append([]Record(nil), want...)
	replay = append(replay, Record{Seq: uint64(len(want) + 1), Time: time.Hour, Kind: KindOutput, Data: []byte("after")})
	for _, r := range replay {
		ok, err := j.Append(r)
		if err != nil {
			t.Fatalf("Append(%d) after recovery: %v", r.Seq, err)
		}
		if ok != (r.Seq > uint64(n)) {
			t.Fatalf("Append(%d) after recovery = %v", r.Seq, ok)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	_, got, damaged := readAll(t, path)
	if damaged || !reflect.DeepEqual(got, replay) {
		t.Fatalf("after recovery and replay:\n got %+v\nwant %+v", got, replay)
	}
}

func copyFile(t *testing.T, src, dst string, size int64) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b[:size], 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenJournalTornTail(t *testing.T) {
	recs := sampleRecords()
	path, ends := writeTestJournal(t, recs)
	lastStart, end := ends[len(ends)-2], ends[len(ends)-1]
	dir := t.TempDir()
	for cut := lastStart; cut < end; cut++ {
		t.Run(fmt.Sprintf("cut at %d", cut), func(t *testing.T) {
			p := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
			copyFile(t, path, p, cut)
			checkRecovered(t, p, recs, len(recs)-1, lastStart)
		})
	}
	t.Run("intact", func(t *testing.T) {
		p := filepath.Join(dir, "intact")
		copyFile(t, path, p, end)
		checkRecovered(t, p, recs, len(recs), end)
	})
}

func TestOpenJournalCorruptFrame(t *testing.T) {
	recs := sampleRecords()
	path, ends := writeTestJournal(t, recs)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Flip every byte of every frame in turn: the frame must be rejected
	// and everything before it kept, everything from it on dropped.
	for k := 1; k < len(ends); k++ {
		for off := ends[k-1]; off < ends[k]; off++ {
			p := filepath.Join(dir, fmt.Sprintf("flip%d", off))
			b := bytes.Clone(orig)
			b[off] ^= 0x40
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Run(fmt.Sprintf("frame %d byte %d", k, off-ends[k-1]), func(t *testing.T) {
				checkRecovered(t, p, recs, k-1, ends[k-1])
			})
		}
	}
}

func TestOpenJournalGarbageTail(t *testing.T) {
	recs := sampleRecords()
	tests := []struct {
		name string
		tail []byte
	}{
		// Some filesystems extend a file before its blocks are written,
		// so a crash can leave zeros.
		{"zeros", make([]byte, 4096)},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}},
		{"length just over the limit", []byte{0x00, 0x40, 0x00, 0x01, 1, 2, 3, 4}},
		{"length under the fixed fields", []byte{0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7}},
		{"one byte", []byte{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, ends := writeTestJournal(t, recs)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tt.tail)
			f.Close()
			checkRecovered(t, path, recs, len(recs), ends[len(ends)-1])
		})
	}
}

// A frame can check out and still not belong: its sequence number must
// follow the one before it.
func TestOpenJournalOutOfSequenceFrame(t *testing.T) {
	recs := sampleRecords()
	path, ends := writeTestJournal(t, recs)
	frame, err := appendFrame(nil, Record{Seq: uint64(len(recs) + 2), Kind: KindOutput, Data: []byte("skip")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(frame)
	f.Close()
	checkRecovered(t, path, recs, len(recs), ends[len(ends)-1])
}

func TestJournalBadHeader(t *testing.T) {
	path, ends := writeTestJournal(t, nil)
	orig, _ := os.ReadFile(path)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"magic only", orig[:len(journalMagic)]},
		{"truncated meta", orig[:ends[0]-1]},
		{"bad magic", append([]byte("NOTAJRNL"), orig[len(journalMagic):]...)},
		{"flipped meta byte", func() []byte { b := bytes.Clone(orig); b[len(b)-2] ^= 1; return b }()},
		{"huge meta length", append([]byte(journalMagic), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "j")
			if err := os.WriteFile(p, tt.b, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadJournal(p, nil); !errors.Is(err, ErrCorrupt) {
				t.Errorf("ReadJournal: err = %v, want ErrCorrupt", err)
			}
			if _, err := OpenJournal(p, nil); !errors.Is(err, ErrCorrupt) {
				t.Errorf("OpenJournal: err = %v, want ErrCorrupt", err)
			}
			if b, _ := os.ReadFile(p); !bytes.Equal(b, tt.b) {
				t.Errorf("OpenJournal changed a journal it could not read")
			}
		})
	}
}

func TestJournalClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.journal")
	j, err := CreateJournal(path, testMeta, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(Record{Seq: 1, Kind: KindOutput}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got := j.DurableSeq(); got != 1 {
		t.Errorf("DurableSeq after Close = %d, want 1", got)
	}
	if err := j.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := j.Append(Record{Seq: 2, Kind: KindOutput}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if err := j.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close: %v, want ErrClosed", err)
	}
}

func TestJournalDurableSeq(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.journal")
	j, err := CreateJournal(path, testMeta, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for seq := uint64(1); seq <= 3; seq++ {
		j.Append(Record{Seq: seq, Kind: KindOutput, Data: []byte("x")})
	}
	if got := j.DurableSeq(); got != 0 {
		t.Fatalf("DurableSeq before Sync = %d, want 0", got)
	}
	// Appends are buffered: nothing is in the file before Sync.
	if _, recs, _ := readAll(t, path); len(recs) != 0 {
		t.Fatalf("%d records visible before Sync", len(recs))
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := j.DurableSeq(); got != 3 {
		t.Fatalf("DurableSeq after Sync = %d, want 3", got)
	}
	if _, recs, _ := readAll(t, path); len(recs) != 3 {
		t.Fatalf("%d records visible after Sync, want 3", len(recs))
	}
	// Durable's size is the file's up to the last synced frame: a copy
	// of that many bytes is a journal with every durable record.
	j.Append(Record{Seq: 4, Kind: KindOutput, Data: []byte("not yet synced")})
	j.Flush()
	seq, size := j.Durable()
	fi, _ := os.Stat(path)
	if seq != 3 || size >= fi.Size() {
		t.Fatalf("Durable = %d, %d bytes with the file at %d, want 3 and less", seq, size, fi.Size())
	}
	b, _ := os.ReadFile(path)
	cp := filepath.Join(t.TempDir(), "copy.journal")
	os.WriteFile(cp, b[:size], 0o600)
	if _, recs, damaged := readAll(t, cp); len(recs) != 3 || damaged {
		t.Fatalf("a copy of Durable's bytes holds %d records (damaged %v), want 3 whole", len(recs), damaged)
	}
}

// One goroutine appends while another syncs, as the server does; run
// with -race.
func TestJournalConcurrentSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.journal")
	j, err := CreateJournal(path, testMeta, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var prev uint64
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := j.Sync(); err != nil {
				t.Error(err)
				return
			}
			d := j.DurableSeq()
			if d < prev || d > j.LastSeq() {
				t.Errorf("DurableSeq went from %d to %d (LastSeq %d)", prev, d, j.LastSeq())
			}
			prev = d
		}
	}()
	for seq := uint64(1); seq <= n; seq++ {
		if _, err := j.Append(Record{Seq: seq, Time: time.Duration(seq), Kind: KindOutput, Data: []byte("0123456789abcdef")}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got := j.DurableSeq(); got != n {
		t.Fatalf("DurableSeq = %d, want %d", got, n)
	}
	if _, recs, _ := readAll(t, path); len(recs) != n {
		t.Fatalf("read %d records, want %d", len(recs), n)
	}
}

// A reader may follow a journal while it is written, including across a
// frame that is only partly on disk.
func TestJournalReaderFollowsWriter(t *testing.T) {
	recs := sampleRecords()
	path := filepath.Join(t.TempDir(), "s.journal")
	j, err := CreateJournal(path, testMeta, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	r, err := ReadJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next on an empty journal: %v, want EOF", err)
	}
	j.Append(recs[0])
	j.Sync()
	if got, err := r.Next(); err != nil || !reflect.DeepEqual(got, recs[0]) {
		t.Fatalf("Next = %+v, %v", got, err)
	}

	// Write half of the next frame behind the journal's back, as a
	// reader might catch a flush in progress.
	frame, _ := appendFrame(nil, recs[1])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(frame[:len(frame)/2])
	if _, err := r.Next(); err != io.EOF || !r.Damaged() {
		t.Fatalf("Next at a half-written frame: %v, Damaged %v; want EOF, true", err, r.Damaged())
	}
	f.Write(frame[len(frame)/2:])
	if got, err := r.Next(); err != nil || !reflect.DeepEqual(got, recs[1]) {
		t.Fatalf("Next after the frame completed = %+v, %v", got, err)
	}
	if _, err := r.Next(); err != io.EOF || r.Damaged() {
		t.Fatalf("Next at the end: %v, Damaged %v; want EOF, false", err, r.Damaged())
	}
	if r.LastSeq() != 2 {
		t.Fatalf("LastSeq = %d, want 2", r.LastSeq())
	}
}

// TestCreateJournalIsNeverSeenHalfWritten: a reader that opens a journal
// while it is being created finds it missing or whole, never with a
// truncated header (which the delivery reported as a corrupt journal).
func TestCreateJournalIsNeverSeenHalfWritten(t *testing.T) {
	dir := t.TempDir()
	meta := Meta{SessionID: "s", Start: time.Now(), Env: map[string]string{"PAD": strings.Repeat("x", 64<<10)}}
	for i := range 50 {
		path := filepath.Join(dir, fmt.Sprintf("j%d", i))
		done := make(chan struct{})
		var bad error
		go func() {
			defer close(done)
			for {
				_, err := ReadJournalMeta(path)
				if err == nil {
					return
				}
				if !errors.Is(err, os.ErrNotExist) {
					bad = err
					return
				}
			}
		}()
		j, err := CreateJournal(path, meta, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-done
		j.Close()
		if bad != nil {
			t.Fatalf("journal %d read while created: %v", i, bad)
		}
	}
	if _, err := CreateJournal(filepath.Join(dir, "j0"), meta, nil); !errors.Is(err, os.ErrExist) {
		t.Fatalf("creating an existing journal: %v, want ErrExist", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
