package wire

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	frames := []Frame{{TInput, []byte("ls\r")}, {TAck, AppendSeq(nil, 42)}, {TPing, nil}, {TOutput, bytes.Repeat([]byte("x"), MaxPayload-8)}}
	for _, f := range frames {
		if err := w.Write(f.Type, f.Payload); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&buf)
	for _, want := range frames {
		got, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("got %s/%d bytes, want %s/%d", got.Type, len(got.Payload), want.Type, len(want.Payload))
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"short header", []byte{byte(TInput), 0, 0}, ErrMalformed},
		{"unknown type", AppendFrame(nil, Type(99), nil), ErrUnknownType},
		{"too large", []byte{byte(TInput), 0x7f, 0xff, 0xff, 0xff}, ErrTooLarge},
		{"length mismatch", append(AppendFrame(nil, TInput, []byte("ab")), 'c'), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeFrame(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeFrame = %v, want %v", err, tt.want)
			}
		})
	}
	// A stream that ends inside a payload is unexpected.
	r := NewReader(bytes.NewReader(AppendFrame(nil, TInput, []byte("hello"))[:7]))
	if _, err := r.Read(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated payload: %v", err)
	}
	// The writer refuses what a reader would refuse.
	if err := NewWriter(io.Discard).Write(TOutput, make([]byte, MaxPayload+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized write: %v", err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	recs := []Record{
		{Seq: 1, Time: 1500 * time.Microsecond, Kind: RecOutput, Data: []byte("héllo\r\n")},
		{Seq: 2, Time: time.Second, Kind: RecInput, Data: []byte("x")},
		{Seq: 3, Time: 2 * time.Second, Kind: RecResize, Cols: 132, Rows: 43},
		{Seq: 4, Time: 3 * time.Second, Kind: RecExit, ExitCode: -1, Data: []byte("TerminatedByUser")},
		{Seq: 5, Kind: RecOutput},
		{Seq: 6, Time: 4 * time.Second, Kind: RecMarker, Data: []byte("late output")},
	}
	for _, want := range recs {
		got, err := ParseRecord(AppendRecord(nil, want))
		if err != nil {
			t.Fatalf("%+v: %v", want, err)
		}
		if got.Seq != want.Seq || got.Time != want.Time || got.Kind != want.Kind || !bytes.Equal(got.Data, want.Data) ||
			got.Cols != want.Cols || got.Rows != want.Rows || got.ExitCode != want.ExitCode {
			t.Fatalf("round trip: got %+v, want %+v", got, want)
		}
	}
}

func TestParseRecordErrors(t *testing.T) {
	good := AppendRecord(nil, Record{Seq: 1, Kind: RecResize, Cols: 1, Rows: 1})
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"short", good[:10], "shorter than its header"},
		{"seq zero", AppendRecord(nil, Record{Seq: 0, Kind: RecOutput}), "start at 1"},
		{"unknown kind", AppendRecord(nil, Record{Seq: 1, Kind: 9}), "unknown kind"},
		{"resize short", good[:len(good)-1], "want 4"},
		{"exit truncated", AppendRecord(nil, Record{Seq: 1, Kind: RecExit})[:19], "truncated"},
		{"typed with text", AppendRecord(nil, Record{Seq: 1, Kind: RecTyped, Data: []byte("LsE")}), `holds 's', not only marks`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRecord(tt.in)
			if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseRecord = %v, want ErrMalformed containing %q", err, tt.want)
			}
		})
	}
}

func TestResizeAndOutput(t *testing.T) {
	c, r, err := ParseResize(AppendResize(nil, 80, 24))
	if err != nil || c != 80 || r != 24 {
		t.Fatalf("ParseResize = %d %d %v", c, r, err)
	}
	if _, _, err := ParseResize(AppendResize(nil, 0, 24)); err == nil {
		t.Fatal("zero size accepted")
	}
	off, data, err := ParseOutput(AppendOutput(nil, 1<<40, []byte("abc")))
	if err != nil || off != 1<<40 || string(data) != "abc" {
		t.Fatalf("ParseOutput = %d %q %v", off, data, err)
	}
}

// The fuzz targets check that no input makes a decoder panic, allocate past
// the frame limit, or accept what its encoder cannot have produced.

func FuzzDecodeFrame(f *testing.F) {
	f.Add(AppendFrame(nil, TInput, []byte("ls\r")))
	f.Add(AppendFrame(nil, TExit, []byte(`{"code":3}`)))
	f.Add([]byte{byte(TOutput), 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil {
			return
		}
		if !bytes.Equal(AppendFrame(nil, fr.Type, fr.Payload), b) {
			t.Fatalf("decoded frame does not re-encode to its input")
		}
	})
}

func FuzzReader(f *testing.F) {
	var seed []byte
	seed = AppendFrame(seed, THello, []byte(`{"nodeId":"mi-0a1b2c3d4e5f60718"}`))
	seed = AppendFrame(seed, TRecord, AppendRecord(nil, Record{Seq: 1, Kind: RecOutput, Data: []byte("x")}))
	f.Add(seed)
	f.Add([]byte{byte(TInput), 0, 0, 0, 9, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		for i := 0; i < 1000; i++ {
			fr, err := r.Read()
			if err != nil {
				return
			}
			if len(fr.Payload) > MaxPayload {
				t.Fatalf("payload of %d bytes passed the limit", len(fr.Payload))
			}
			switch fr.Type {
			case TRecord:
				ParseRecord(fr.Payload)
			case TAck:
				ParseSeq(fr.Payload)
			case TResize:
				ParseResize(fr.Payload)
			case TOutput:
				ParseOutput(fr.Payload)
			case THello:
				var h Hello
				DecodeJSON(fr, &h)
			}
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	f.Add(AppendRecord(nil, Record{Seq: 1, Kind: RecOutput, Data: []byte("hello")}))
	f.Add(AppendRecord(nil, Record{Seq: 7, Kind: RecResize, Cols: 80, Rows: 24}))
	f.Add(AppendRecord(nil, Record{Seq: 9, Kind: RecExit, ExitCode: 130, Data: []byte("x")}))
	f.Add(AppendRecord(nil, Record{Seq: 10, Kind: RecMarker, Data: []byte("late output")}))
	f.Add(AppendRecord(nil, Record{Seq: 3, Kind: RecTyped, Data: []byte("LEL")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			return
		}
		again, err := ParseRecord(AppendRecord(nil, r))
		if err != nil || again.Seq != r.Seq || again.Kind != r.Kind || !bytes.Equal(again.Data, r.Data) {
			t.Fatalf("record %+v does not round-trip: %+v %v", r, again, err)
		}
	})
}

// TestFrameBuiltInPlace checks that a frame whose payload is appended after
// its header decodes like one built by AppendFrame.
func TestFrameBuiltInPlace(t *testing.T) {
	rec := Record{Seq: 7, Time: 1500 * time.Microsecond, Kind: RecOutput, Data: []byte("hello")}
	prefix := []byte("earlier frames")
	b := AppendRecord(AppendFrameHeader(append([]byte(nil), prefix...), TRecord), rec)
	SetFrameLen(b[len(prefix):])
	want := AppendFrame(nil, TRecord, AppendRecord(nil, rec))
	if !bytes.Equal(b[len(prefix):], want) {
		t.Fatalf("in place %x\nappended %x", b[len(prefix):], want)
	}
	out := AppendOutputHeader(nil, 42)
	out = append(out, "data"...)
	SetFrameLen(out)
	f, err := DecodeFrame(out)
	if err != nil {
		t.Fatal(err)
	}
	off, data, err := ParseOutput(f.Payload)
	if err != nil || off != 42 || string(data) != "data" {
		t.Fatalf("output frame = %d %q %v", off, data, err)
	}
}

func TestLineMarks(t *testing.T) {
	var m LineMarks
	for _, tt := range []struct{ in, want string }{
		{"l", "L"},                // a line starts
		{"s -l", ""},              // and goes on
		{"\r", "E"},               // Enter
		{"\r", "E"},               // at an empty line: no start
		{"pwd\r\nid\r\n", "LELE"}, // pasted lines, CR LF as one Enter
		{"\n", "E"},               // LF alone is an Enter too
		{"\x1b[A", "L"},           // an arrow key starts a line
		{"\x03", ""},              // Ctrl-C abandons it
		{"x", "L"},                // so the next key starts one again
		{"\r\n", "E"},
	} {
		if got := string(m.Append(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("marks of %q = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzLineMarks checks that marks are only marks, never more than the
// input's bytes, with one Enter for each CR, LF or CR LF.
func FuzzLineMarks(f *testing.F) {
	f.Add([]byte("ls\r\n"), []byte("\x03pwd\n"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var m LineMarks
		marks := m.Append(m.Append(nil, a), b)
		in := append(slices.Clip(a), b...)
		if len(marks) > len(in) {
			t.Fatalf("%d marks for %d bytes", len(marks), len(in))
		}
		enters := bytes.Count(in, []byte("\r")) + bytes.Count(in, []byte("\n")) - bytes.Count(in, []byte("\r\n"))
		if n := bytes.Count(marks, []byte{TypedEnter}); n != enters {
			t.Fatalf("%d Enters marked in %q, want %d", n, in, enters)
		}
		if _, err := ParseRecord(AppendRecord(nil, Record{Seq: 1, Kind: RecTyped, Data: marks})); err != nil {
			t.Fatal(err)
		}
	})
}

// oneByteReader hands out one byte per Read, as a message reader may
// when its frames arrive in pieces.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func TestReadMessage(t *testing.T) {
	out := AppendOutput(nil, 42, bytes.Repeat([]byte("x"), 100000))
	msg := AppendFrame(nil, TOutput, out)
	for _, r := range []io.Reader{bytes.NewReader(msg), oneByteReader{bytes.NewReader(msg)}} {
		f, buf, err := ReadMessage(r, nil)
		if err != nil || f.Type != TOutput || !bytes.Equal(f.Payload, out) {
			t.Fatalf("ReadMessage = %s %d bytes, %v", f.Type, len(f.Payload), err)
		}
		if &f.Payload[0] != &buf[HeaderLen] {
			t.Fatal("the payload does not alias the returned buffer")
		}
	}

	// Reusing the buffer: no allocation once it has grown.
	_, buf, _ := ReadMessage(bytes.NewReader(msg), nil)
	small := AppendFrame(nil, TNotice, []byte("hello"))
	allocs := testing.AllocsPerRun(100, func() {
		var f Frame
		var err error
		f, buf, err = ReadMessage(bytes.NewReader(msg), buf)
		if err != nil || len(f.Payload) != len(out) {
			t.Fatal(f.Type, err)
		}
		f, buf, err = ReadMessage(bytes.NewReader(small), buf)
		if err != nil || string(f.Payload) != "hello" {
			t.Fatal(f.Type, err)
		}
	})
	if allocs > 2 { // the two bytes.Readers
		t.Errorf("%v allocations per two messages into a reused buffer", allocs)
	}

	for name, tc := range map[string]struct {
		msg  []byte
		want error
	}{
		"empty":          {nil, io.ErrUnexpectedEOF},
		"short header":   {[]byte{byte(TOutput), 0, 0}, io.ErrUnexpectedEOF},
		"short payload":  {AppendFrame(nil, TNotice, []byte("hello"))[:8], io.ErrUnexpectedEOF},
		"longer":         {append(AppendFrame(nil, TNotice, []byte("hello")), '!'), ErrMalformed},
		"too large":      {[]byte{byte(TOutput), 0x7f, 0, 0, 0}, ErrTooLarge},
		"unknown type":   {[]byte{99, 0, 0, 0, 0}, ErrUnknownType},
		"two frames":     {append(AppendFrame(nil, TNotice, nil), AppendFrame(nil, TNotice, nil)...), ErrMalformed},
		"empty payload ": {AppendFrame(nil, TInputEOF, nil), nil},
	} {
		_, _, err := ReadMessage(bytes.NewReader(tc.msg), nil)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: err %v, want %v", name, err, tc.want)
		}
	}

	// Errors of the reader itself come through as they are.
	boom := errors.New("connection reset")
	if _, _, err := ReadMessage(io.MultiReader(bytes.NewReader(msg[:10]), iotest{boom}), nil); !errors.Is(err, boom) {
		t.Errorf("a failing reader: %v", err)
	}
}

// iotest is a reader that fails.
type iotest struct{ err error }

func (r iotest) Read([]byte) (int, error) { return 0, r.err }

func FuzzReadMessage(f *testing.F) {
	f.Add(AppendFrame(nil, TOutput, AppendOutput(nil, 7, []byte("output"))))
	f.Add(AppendFrame(nil, TExit, []byte(`{"code":3}`)))
	f.Add([]byte{byte(TOutput), 0xff, 0xff, 0xff, 0xff})
	f.Add(append(AppendFrame(nil, TNotice, []byte("hi")), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, buf, err := ReadMessage(bytes.NewReader(b), nil)
		want, derr := DecodeFrame(b)
		if (err == nil) != (derr == nil) {
			t.Fatalf("ReadMessage: %v; DecodeFrame: %v", err, derr)
		}
		if err != nil {
			return
		}
		if fr.Type != want.Type || !bytes.Equal(fr.Payload, want.Payload) || len(buf) != len(b) {
			t.Fatalf("ReadMessage and DecodeFrame disagree")
		}
	})
}
