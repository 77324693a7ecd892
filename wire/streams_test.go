package wire

import (
	"bytes"
	"errors"
	"testing"
)

// demux decodes b in pieces cut at the positions in cuts and returns what
// each stream got and the first error.
func demux(b []byte, cuts []byte) (stdout, stderr []byte, consumed int, err error) {
	var o, e bytes.Buffer
	d := &StreamDemux{Stdout: &o, Stderr: &e}
	for len(b) > 0 {
		n := len(b)
		if len(cuts) > 0 {
			n = min(n, int(cuts[0])+1)
			cuts = cuts[1:]
		}
		m, werr := d.Write(b[:n])
		consumed += m
		if werr != nil {
			return o.Bytes(), e.Bytes(), consumed, werr
		}
		if m != n {
			return o.Bytes(), e.Bytes(), consumed, errors.New("short write without an error")
		}
		b = b[n:]
	}
	return o.Bytes(), e.Bytes(), consumed, nil
}

func TestStreamDemux(t *testing.T) {
	var b []byte
	b = AppendStreamChunk(b, StreamStdout, []byte("out\n"))
	b = AppendStreamChunk(b, StreamStderr, []byte("err\n"))
	b = AppendStreamChunk(b, StreamStdout, nil)
	b = AppendStreamChunk(b, StreamStdout, []byte("more"))
	for cut := 0; cut < 256; cut += 7 {
		o, e, n, err := demux(b, bytes.Repeat([]byte{byte(cut)}, 64))
		if err != nil || n != len(b) || string(o) != "out\nmore" || string(e) != "err\n" {
			t.Fatalf("pieces of %d: stdout %q stderr %q consumed %d/%d err %v", cut+1, o, e, n, len(b), err)
		}
	}
	d := &StreamDemux{}
	if _, err := d.Write(b[:7]); err != nil || !d.Partial() {
		t.Fatalf("half a chunk: %v, partial %v", err, d.Partial())
	}
	for _, bad := range [][]byte{
		{3, 0, 0, 0, 1, 'x'},
		{0, 0, 0, 0, 0},
		{1, 0xff, 0xff, 0xff, 0xff},
	} {
		_, _, _, err := demux(bad, nil)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: err %v, want ErrMalformed", bad, err)
		}
	}
}

// FuzzStreamDemux checks that the chunk decoder never panics, decodes the
// same whatever the pieces it is given, and gives back what was encoded.
func FuzzStreamDemux(f *testing.F) {
	var seed []byte
	seed = AppendStreamChunk(seed, StreamStdout, []byte("out\n"))
	seed = AppendStreamChunk(seed, StreamStderr, []byte("err\n"))
	f.Add(seed, []byte{0, 3, 1})
	f.Add([]byte{1, 0, 0, 0, 0}, []byte{})
	f.Add([]byte{2, 0x00, 0x10, 0, 1, 'x'}, []byte{2})
	f.Add([]byte{9, 0, 0, 0, 1, 'x'}, []byte{})
	f.Fuzz(func(t *testing.T, b, cuts []byte) {
		o1, e1, n1, err1 := demux(b, nil)
		o2, e2, n2, err2 := demux(b, cuts)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(o1, o2) || !bytes.Equal(e1, e2) {
			t.Fatalf("whole: %q %q %d %v; in pieces: %q %q %d %v", o1, e1, n1, err1, o2, e2, n2, err2)
		}
		if err1 != nil {
			if !errors.Is(err1, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err1)
			}
			return
		}
		// Re-encoding what came out, chunk per stream, decodes the same.
		var again []byte
		if len(o1) > 0 {
			again = AppendStreamChunk(again, StreamStdout, o1)
		}
		if len(e1) > 0 {
			again = AppendStreamChunk(again, StreamStderr, e1)
		}
		o3, e3, _, err := demux(again, cuts)
		if err != nil || !bytes.Equal(o3, o1) || !bytes.Equal(e3, e1) {
			t.Fatalf("re-encoded output decodes to %q %q %v", o3, e3, err)
		}
	})
}
