package guac

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	ins := []Instruction{
		{Opcode: "size", Args: []string{"0", "1024", "768"}},
		{Opcode: "sync", Args: []string{"1700000000000"}},
		{Opcode: "clipboard", Args: []string{"1", "text/plain"}},
		{Opcode: "blob", Args: []string{"1", "aGVsbG8gw6k="}},
		{Opcode: "key", Args: []string{"65307", "1"}},
		{Opcode: "nop"},
		{Opcode: "", Args: []string{"ping", "12"}},
		{Opcode: "name", Args: []string{"héllo, wörld; 日本"}},
		{Opcode: "error", Args: []string{"", "769"}},
	}
	var b []byte
	for _, in := range ins {
		b = in.AppendTo(b)
	}
	if got := string(Encode("size", "0", "1024", "768")); got != "4.size,1.0,4.1024,3.768;" {
		t.Fatalf("Encode = %q", got)
	}
	if got := ins[7].String(); got != "4.name,16.héllo, wörld; 日本;" {
		t.Fatalf("lengths count code points: %q", got)
	}
	r := NewReader(bytes.NewReader(b), 0)
	var raw []byte
	for i, want := range ins {
		got, enc, err := r.Next()
		if err != nil {
			t.Fatalf("instruction %d: %v", i, err)
		}
		if got.Opcode != want.Opcode || !reflect.DeepEqual(got.Args, want.Args) {
			t.Fatalf("instruction %d = %#v, want %#v", i, got, want)
		}
		raw = append(raw, enc...)
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last instruction: %v, want io.EOF", err)
	}
	if !bytes.Equal(raw, b) {
		t.Fatalf("raw encodings do not add up to the input")
	}
}

func TestMalformed(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"4.size,1.0", "unexpected EOF"},
		{"4.size", "unexpected EOF"},
		{"x.size;", `length contains 'x', not a digit`},
		{".;", "element has no length"},
		{"04.size;", "leading zero"},
		{"4.sizex;", `followed by 'x'`},
		{"2.\xff\xfe;", "not valid UTF-8"},
		{"99999999999.a;", "too long"},
		{"70000." + strings.Repeat("a", 70000) + ";", "too long"},
		{strings.Repeat("1.a,", 70) + "1.a;", "more than 64 elements"},
	} {
		_, _, err := NewReader(strings.NewReader(tc.in), 0).Next()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.30q: error %v, want it to say %q", tc.in, err, tc.want)
		}
	}
	_, _, err := NewReader(strings.NewReader("5.hello;"), 4).Next()
	if !errors.Is(err, ErrTooLong) {
		t.Errorf("limit 4: %v, want ErrTooLong", err)
	}
	// The offset names the instruction that failed.
	r := NewReader(strings.NewReader("3.nop;3.nop?"), 0)
	r.Next()
	_, _, err = r.Next()
	var se *SyntaxError
	if !errors.As(err, &se) || se.Offset != 6 {
		t.Errorf("second instruction: %v, want a SyntaxError at byte 6", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("4.size,1.0,4.1024,3.768;4.sync,3.123;"))
	f.Add([]byte("4.name,16.héllo, wörld; 日本;"))
	f.Add([]byte("0.,4.ping;"))
	f.Add([]byte("3.img,1.1,2.12,1.0,9.image/png,1.0,1.0;4.blob,1.1,4.AAAA;3.end,1.1;"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), 1024)
		var again []byte
		for {
			in, raw, err := r.Next()
			if err != nil {
				break
			}
			if len(raw) > 1024 {
				t.Fatalf("instruction of %d bytes passed a 1024-byte limit", len(raw))
			}
			// What was decoded encodes back to what was read.
			if enc := in.AppendTo(nil); !bytes.Equal(enc, raw) {
				t.Fatalf("decoded %#v re-encodes as %q, read %q", in, enc, raw)
			}
			again = in.AppendTo(again)
		}
		r2 := NewReader(bytes.NewReader(again), 1024)
		for {
			if _, _, err := r2.Next(); err != nil {
				if err != io.EOF {
					t.Fatalf("re-encoded stream: %v", err)
				}
				break
			}
		}
	})
}
