package recording

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzReadCast(f *testing.F) {
	f.Add([]byte(playCast))
	f.Add([]byte("{\"version\": 2, \"width\": 80, \"height\": 24, \"timestamp\": 1504467315, \"idle_time_limit\": 1.5, \"env\": {\"TERM\": \"xterm\"}}\r\n[0.248848, \"o\", \"\\u001b[1;31mHi\\ud83d\\udc4d\"]\n\n[1e2, \"r\", \"80x24\"]\n"))
	f.Add([]byte("{\"version\": 2, \"width\": 80, \"height\": 24}\n[1, \"o\", null]\n"))
	f.Add([]byte("{\"version\": 2, \"width\": 80, \"height\": 24}\n[1, \"o\"]\n"))
	f.Add([]byte("{\"version\": 2, \"width\": 80, \"height\": 24}\n[1, \"r\", \"0x0\"]\n"))
	f.Add([]byte("{\"version\": 1}"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, evs, err := ReadCast(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "recording: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if h.Version != 2 || h.Width <= 0 || h.Height <= 0 {
			t.Fatalf("accepted header %+v", h)
		}
		// Whatever we accept, our writer can write back, and reading
		// that gives the same events.
		var recs []Record
		for i, ev := range evs {
			if !(ev.Time >= 0) || !utf8.ValidString(ev.Data) {
				t.Fatalf("accepted event %+v", ev)
			}
			r := Record{Seq: uint64(i + 1), Time: secondsToDuration(ev.Time), Data: []byte(ev.Data)}
			switch ev.Type {
			case EventOutput:
				r.Kind = KindOutput
			case EventInput:
				r.Kind = KindInput
			case EventMarker:
				r.Kind = KindMarker
			case EventResize:
				r.Kind = KindResize
				r.Cols, r.Rows, err = ParseSize(ev.Data)
				if err != nil {
					t.Fatalf("accepted resize %q: %v", ev.Data, err)
				}
			default:
				t.Fatalf("accepted event type %q", ev.Type)
			}
			recs = append(recs, r)
		}
		var buf bytes.Buffer
		m := Meta{Width: h.Width, Height: h.Height, Env: h.Env, Title: h.Title}
		if err := WriteCast(&buf, m, records(recs)); err != nil {
			t.Fatal(err)
		}
		_, evs2, err := ReadCast(&buf)
		if err != nil {
			t.Fatalf("cannot read back our own cast: %v\n%s", err, buf.Bytes())
		}
		// Empty output and input have no event of their own.
		var want []Event
		for _, ev := range evs {
			if ev.Data != "" || ev.Type == EventMarker {
				want = append(want, ev)
			}
		}
		if len(evs2) != len(want) {
			t.Fatalf("read back %d events, want %d", len(evs2), len(want))
		}
		for i := range want {
			got, ev := evs2[i], want[i]
			if ev.Type == EventResize {
				// Sizes are written in canonical form: "080x24" comes
				// back as "80x24".
				c1, r1, _ := ParseSize(got.Data)
				c2, r2, _ := ParseSize(ev.Data)
				got.Data, ev.Data = fmt.Sprint(c1, r1), fmt.Sprint(c2, r2)
			}
			if got.Type != ev.Type || got.Data != ev.Data {
				t.Fatalf("event %d read back as %+v, want %+v", i, got, ev)
			}
			if ev.Time < 1e9 && math.Abs(got.Time-ev.Time) > 1e-6 {
				t.Fatalf("event %d time %v read back as %v", i, ev.Time, got.Time)
			}
		}
	})
}

func FuzzCastWriterUTF8(f *testing.F) {
	f.Add([]byte("héllo 世界 👍"), []byte{1, 2, 3, 5, 8})
	f.Add([]byte("a\xe2\x82\xacb\xff\xf0\x9f\x91"), []byte{2, 1})
	f.Add([]byte("\xf0\x9f\x91\x8d"), []byte{1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		// Cut data into records, alternately output and input as the
		// low bit of each cut says.
		var recs []Record
		var out, in []byte
		for i, c := range cuts {
			n := min(int(c>>1), len(data))
			kind := KindOutput
			if c&1 == 1 {
				kind = KindInput
				in = append(in, data[:n]...)
			} else {
				out = append(out, data[:n]...)
			}
			recs = append(recs, Record{Seq: uint64(i + 1), Time: time.Duration(i) * time.Millisecond, Kind: kind, Data: data[:n]})
			data = data[n:]
		}
		recs = append(recs, Record{Seq: uint64(len(recs) + 1), Time: time.Duration(len(recs)) * time.Millisecond, Kind: KindOutput, Data: data})
		out = append(out, data...)

		var buf bytes.Buffer
		if err := WriteCast(&buf, Meta{}, records(recs)); err != nil {
			t.Fatal(err)
		}
		_, evs, err := ReadCast(&buf)
		if err != nil {
			t.Fatalf("cannot read back our own cast: %v\n%s", err, buf.Bytes())
		}
		var gotOut, gotIn strings.Builder
		last := -1.0
		for _, ev := range evs {
			if ev.Time < last {
				t.Fatalf("event times go backwards: %v after %v", ev.Time, last)
			}
			last = ev.Time
			if ev.Type == EventOutput {
				gotOut.WriteString(ev.Data)
			} else {
				gotIn.WriteString(ev.Data)
			}
		}
		if want := string(appendValidUTF8(nil, out)); gotOut.String() != want {
			t.Fatalf("output %q, want %q", gotOut.String(), want)
		}
		if want := string(appendValidUTF8(nil, in)); gotIn.String() != want {
			t.Fatalf("input %q, want %q", gotIn.String(), want)
		}
	})
}

// fuzzMode tells FuzzJournal how to build the file from its input.
const (
	fuzzBodyAfterHeader = 0 // a good header, then the input
	fuzzWholeFile       = 1 // the input is the file
)

func FuzzJournal(f *testing.F) {
	var body []byte
	for _, r := range sampleRecords() {
		b, err := appendFrame(nil, r)
		if err != nil {
			f.Fatal(err)
		}
		body = append(body, b...)
	}
	f.Add(uint8(fuzzBodyAfterHeader), body)
	var pipesBody []byte
	for _, r := range pipesRecords() {
		b, err := appendFrame(nil, r)
		if err != nil {
			f.Fatal(err)
		}
		pipesBody = append(pipesBody, b...)
	}
	f.Add(uint8(fuzzBodyAfterHeader), pipesBody)
	f.Add(uint8(fuzzBodyAfterHeader), body[:len(body)-3])
	f.Add(uint8(fuzzBodyAfterHeader), append(bytes.Clone(body), 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add(uint8(fuzzBodyAfterHeader), []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Add(uint8(fuzzWholeFile), append([]byte(journalMagic), 0, 0, 0, 2, 0, 0, 0, 0, '{', '}'))
	f.Add(uint8(fuzzWholeFile), []byte("PSTNJ"))

	hp := filepath.Join(f.TempDir(), "h")
	j, err := CreateJournal(hp, testMeta, nil)
	if err != nil {
		f.Fatal(err)
	}
	j.Close()
	header, err := os.ReadFile(hp)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		file := data
		if mode%2 == fuzzBodyAfterHeader {
			file = append(bytes.Clone(header), data...)
		}
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}

		r, err := ReadJournal(path, nil)
		if err != nil {
			if mode%2 == fuzzBodyAfterHeader {
				t.Fatalf("good header rejected: %v", err)
			}
			if _, err := OpenJournal(path, nil); err == nil {
				t.Fatal("OpenJournal accepted what ReadJournal rejected")
			}
			return
		}
		var recs []Record
		for rec, err := range r.All() {
			if err != nil {
				t.Fatal(err)
			}
			if rec.Seq != uint64(len(recs)+1) {
				t.Fatalf("record %d has seq %d", len(recs)+1, rec.Seq)
			}
			recs = append(recs, rec)
		}
		good := r.off
		r.Close()

		j, err := OpenJournal(path, nil)
		if err != nil {
			t.Fatalf("OpenJournal of a readable journal: %v", err)
		}
		if j.LastSeq() != uint64(len(recs)) {
			t.Fatalf("LastSeq %d, reader saw %d records", j.LastSeq(), len(recs))
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != good {
			t.Fatalf("recovered file is %d bytes, good prefix %d", fi.Size(), good)
		}
		if !bytes.Equal(file[:good], must(os.ReadFile(path))) {
			t.Fatal("recovery changed the good prefix")
		}
		next := Record{Seq: uint64(len(recs) + 1), Kind: KindOutput, Data: []byte("next")}
		if ok, err := j.Append(next); !ok || err != nil {
			t.Fatalf("Append after recovery: %v, %v", ok, err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		_, again, damaged := readAll(t, path)
		if damaged || !reflect.DeepEqual(again, append(recs, next)) {
			t.Fatalf("after recovery read %d records (damaged %v), want %d", len(again), damaged, len(recs)+1)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Payloads are behind a checksum, so FuzzJournal rarely gets past it;
// this goes straight for the decoder.
func FuzzParsePayload(f *testing.F) {
	for _, r := range sampleRecords() {
		b, err := appendFrame(nil, r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[frameHeaderLen:])
	}
	for _, r := range pipesRecords() {
		b, err := appendFrame(nil, r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[frameHeaderLen:])
	}
	conn := Record{Seq: 3, Time: time.Second, Kind: KindConnection, Data: must(EncodeConnection(sampleConnections()[2]))}
	b, err := appendFrame(nil, conn)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[frameHeaderLen:])
	f.Add([]byte{})
	f.Add(make([]byte, payloadFixedLen))
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := parsePayload(p)
		if err != nil {
			return
		}
		b, err := appendFrame(nil, r)
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", r, err)
		}
		r2, err := parsePayload(b[frameHeaderLen:])
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: %+v -> %+v, %v", r, r2, err)
		}
	})
}

func FuzzTextRenderer(f *testing.F) {
	for _, tt := range renderTests {
		f.Add([]byte(strings.Join(tt.chunks, "")), uint16(tt.cols), uint16(3), uint16(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, cols, cut1, cut2 uint16) {
		c := int(cols%300) + 1
		whole := render(t, c, string(data))
		i := min(int(cut1), len(data))
		j := min(i+int(cut2), len(data))
		if split := render(t, c, string(data[:i]), string(data[i:j]), string(data[j:])); split != whole {
			t.Fatalf("chunking changed the text:\nwhole %q\nsplit %q", whole, split)
		}
		if slow := renderWith(t, true, c, string(data)); slow != whole {
			t.Fatalf("the plain-text fast path changed the text:\nfast %q\nslow %q", whole, slow)
		}
		if !utf8.ValidString(whole) {
			t.Fatalf("invalid UTF-8: %q", whole)
		}
		for _, line := range strings.SplitAfter(whole, "\n") {
			if line == "" {
				continue
			}
			if !strings.HasSuffix(line, "\n") {
				t.Fatalf("unterminated line %q", line)
			}
			line = line[:len(line)-1]
			if strings.HasSuffix(line, " ") {
				t.Fatalf("trailing space in %q", line)
			}
			for _, r := range line {
				if r < 0x20 || (r >= 0x7f && r < 0xa0) {
					t.Fatalf("control character %U in %q", r, line)
				}
			}
		}
	})
}

// FuzzFrameBoundary: whatever the bytes, a boundary is an error or lies
// in [from, limit]; over a real journal every boundary is a frame's end,
// so the prefix it cuts reads whole.
func FuzzFrameBoundary(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.journal")
	j, err := CreateJournal(path, testMeta, nil)
	if err != nil {
		f.Fatal(err)
	}
	for i := uint64(1); i <= 5; i++ {
		j.Append(Record{Seq: i, Kind: KindOutput, Data: bytes.Repeat([]byte("x"), int(i)*7)})
	}
	j.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed, int64(0), int64(len(seed)))
	f.Add(seed, int64(0), int64(len(seed)/2))
	f.Add([]byte("PSTNJNL1\xff\xff\xff\xff"), int64(0), int64(100))
	f.Fuzz(func(t *testing.T, b []byte, from, limit int64) {
		if from < 0 || limit < from || limit > int64(len(b)) {
			return
		}
		end, err := FrameBoundary(bytes.NewReader(b), from, limit)
		if err != nil {
			return
		}
		if end < from || end > limit {
			t.Fatalf("FrameBoundary(%d, %d) = %d, outside", from, limit, end)
		}
		if from == 0 && bytes.Equal(b, seed) && end > 0 {
			p := filepath.Join(t.TempDir(), "cut.journal")
			os.WriteFile(p, b[:end], 0o600)
			r, err := ReadJournal(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for _, err := range r.All() {
				if err != nil {
					t.Fatal(err)
				}
			}
			if r.Damaged() {
				t.Fatalf("cut at %d leaves a torn frame", end)
			}
		}
	})
}
