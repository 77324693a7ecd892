package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

var testHeader = Header{Account: "000000000001", SessionID: "alice-0123456789abcdef0", Artifact: "log",
	KeyARN: "prn:postern:kms:000000000001:key/k", WrappedKey: []byte("wrapped"), Context: map[string]string{"postern:session": "alice-0123456789abcdef0"}}

func seal(t testing.TB, plain []byte, chunk int, key []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	h := testHeader
	h.ChunkSize = chunk
	w, err := NewWriter(&b, h, key)
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes, so that chunks and writes do not line up.
	for len(plain) > 0 {
		n := min(len(plain), 7)
		if _, err := w.Write(plain[:n]); err != nil {
			t.Fatal(err)
		}
		plain = plain[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func open(data, key []byte) ([]byte, Header, error) {
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, Header{}, err
	}
	var out bytes.Buffer
	err = r.Decrypt(key, &out)
	return out.Bytes(), r.Header(), err
}

var key1, key2 = bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)

func TestRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 15, 16, 17, 100, 1000} {
		plain := []byte(strings.Repeat("Script started on ...\r\n", size)[:size])
		data := seal(t, plain, 16, key1)
		if size > 8 && bytes.Contains(data, plain[:8]) {
			t.Errorf("%d bytes: plain text in the envelope", size)
		}
		got, h, err := open(data, key1)
		if err != nil || !bytes.Equal(got, plain) || h.SessionID != testHeader.SessionID || string(h.WrappedKey) != "wrapped" {
			t.Errorf("%d bytes: got %d bytes, %+v, %v", size, len(got), h, err)
		}
	}
}

func TestTampering(t *testing.T) {
	plain := []byte(strings.Repeat("0123456789", 10)) // seven chunks of 16
	data := seal(t, plain, 16, key1)
	hlen := len(Magic) + 4 + int(binary.BigEndian.Uint32(data[len(Magic):]))
	chunk := 4 + 12 + 16 + 16
	for _, tc := range []struct {
		name string
		data []byte
		key  []byte
	}{
		{"another key", data, key2},
		{"a flipped bit", func() []byte { b := bytes.Clone(data); b[hlen+chunk+20] ^= 1; return b }(), key1},
		{"the last chunk missing", data[:len(data)-(4+12+4+16)], key1},
		{"a chunk missing", append(bytes.Clone(data[:hlen]), data[hlen+chunk:]...), key1},
		{"two chunks swapped", append(append(append(bytes.Clone(data[:hlen]), data[hlen+chunk:hlen+2*chunk]...), data[hlen:hlen+chunk]...), data[hlen+2*chunk:]...), key1},
		{"bytes after the end", append(bytes.Clone(data), 0), key1},
		{"the header altered", func() []byte {
			b := bytes.Clone(data)
			i := bytes.Index(b, []byte("alice-"))
			b[i] = 'b'
			return b
		}(), key1},
		{"not an envelope", []byte("Script started on 2026-12-01"), key1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := open(tc.data, tc.key); !errors.Is(err, ErrInvalid) {
				t.Errorf("open = %v, want ErrInvalid", err)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	f.Add(seal(f, []byte("hello, world"), 4, key1))
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, _, err := open(data, key1)
		if err == nil && len(got) > 0 && !bytes.Equal(got, []byte("hello, world")) {
			t.Errorf("random bytes opened to %q", got)
		}
	})
}
