package recording

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func testKey(t testing.TB, b byte) cipher.AEAD {
	t.Helper()
	blk, err := aes.NewCipher(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(blk)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var sealedMeta = func() Meta {
	m := testMeta
	m.Sealed = &Sealed{KeyARN: "prn:postern:kms:000000000001:key/k", WrappedKey: []byte("wrapped"), Context: map[string]string{"postern:session": m.SessionID}}
	return m
}()

const secret = "hunter2-typed-at-a-prompt"

// sealedRecords are records whose data holds secret.
func sealedRecords() []Record {
	recs := sampleRecords()
	recs = append(recs, Record{Seq: uint64(len(recs) + 1), Kind: KindOutput, Data: []byte("echo " + secret + "\r\n")})
	return recs
}

func writeSealed(t *testing.T, key cipher.AEAD, recs []Record) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.journal")
	j, err := CreateJournal(path, sealedMeta, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if ok, err := j.Append(r); !ok || err != nil {
			t.Fatalf("Append(%d) = %v, %v", r.Seq, ok, err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readSealed reads every record, returning the first error.
func readSealed(path string, key cipher.AEAD) ([]Record, error) {
	r, err := ReadJournal(path, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var recs []Record
	for rec, err := range r.All() {
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

func TestSealedJournalRoundTrip(t *testing.T) {
	key := testKey(t, 1)
	want := sealedRecords()
	path := writeSealed(t, key, want)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(secret)) {
		t.Fatal("the secret is in the journal in plain text")
	}
	got, err := readSealed(path, key)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %d records, %v; want %d", len(got), err, len(want))
	}
	m, err := ReadJournalMeta(path)
	if err != nil || !reflect.DeepEqual(m, sealedMeta) {
		t.Errorf("ReadJournalMeta = %+v, %v", m, err)
	}
	if _, err := ReadJournal(path, nil); !errors.Is(err, ErrSealed) {
		t.Errorf("ReadJournal without a key = %v, want ErrSealed", err)
	}
	if _, err := readSealed(path, testKey(t, 2)); !errors.Is(err, ErrTampered) {
		t.Errorf("read with another key = %v, want ErrTampered", err)
	}
	var cast, log bytes.Buffer
	if err := RenderJournal(path, key, &cast, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), secret) || !strings.Contains(cast.String(), secret) {
		t.Errorf("the rendered transcript or cast lacks what was recorded")
	}
	// A key needs Meta.Sealed and Meta.Sealed a key.
	if _, err := CreateJournal(filepath.Join(t.TempDir(), "x"), testMeta, key); err == nil {
		t.Error("CreateJournal with a key and no Meta.Sealed succeeded")
	}
	if _, err := CreateJournal(filepath.Join(t.TempDir(), "x"), sealedMeta, nil); err == nil {
		t.Error("CreateJournal with Meta.Sealed and no key succeeded")
	}
}

// frames returns the offsets and lengths of a journal's frames.
func frames(t *testing.T, b []byte) [][2]int {
	t.Helper()
	off := headerPrefixLen + int(binary.BigEndian.Uint32(b[len(journalMagic):]))
	var out [][2]int
	for off < len(b) {
		n := frameHeaderLen + int(binary.BigEndian.Uint32(b[off:]))
		out = append(out, [2]int{off, n})
		off += n
	}
	return out
}

// refreshCRC recomputes the CRC of the frame at off, as someone who
// altered it on purpose would.
func refreshCRC(b []byte, off int) {
	n := int(binary.BigEndian.Uint32(b[off:]))
	sum := crc32.Update(0, castagnoli, b[off:off+4])
	sum = crc32.Update(sum, castagnoli, b[off+frameHeaderLen:off+frameHeaderLen+n])
	binary.BigEndian.PutUint32(b[off+4:], sum)
}

// TestSealedJournalTampering: altering, reordering or dropping frames of a
// sealed journal, with the CRCs made right, is an error on reading and on
// recovery, never a quiet end of the records.
func TestSealedJournalTampering(t *testing.T) {
	key := testKey(t, 1)
	path := writeSealed(t, key, sealedRecords())
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fs := frames(t, orig)
	for _, tc := range []struct {
		name   string
		change func(b []byte) []byte
	}{
		{"a flipped bit", func(b []byte) []byte {
			f := fs[2]
			b[f[0]+frameHeaderLen+20] ^= 1
			refreshCRC(b, f[0])
			return b
		}},
		{"two frames swapped", func(b []byte) []byte {
			a, c := fs[1], fs[2]
			out := append([]byte(nil), b[:a[0]]...)
			out = append(out, b[c[0]:c[0]+c[1]]...)
			out = append(out, b[a[0]:a[0]+a[1]]...)
			return append(out, b[c[0]+c[1]:]...)
		}},
		{"a frame dropped from the middle", func(b []byte) []byte {
			f := fs[1]
			return append(append([]byte(nil), b[:f[0]]...), b[f[0]+f[1]:]...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.journal")
			if err := os.WriteFile(p, tc.change(bytes.Clone(orig)), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := readSealed(p, key); !errors.Is(err, ErrTampered) {
				t.Errorf("read = %v, want ErrTampered", err)
			}
			if _, err := OpenJournal(p, key); !errors.Is(err, ErrTampered) {
				t.Errorf("OpenJournal = %v, want ErrTampered", err)
			}
		})
	}
}

// TestSealedJournalTornTail: a crash mid-frame still loses only that frame,
// and the session goes on sealed.
func TestSealedJournalTornTail(t *testing.T) {
	key := testKey(t, 1)
	recs := sealedRecords()
	path := writeSealed(t, key, recs)
	b, _ := os.ReadFile(path)
	fs := frames(t, b)
	last := fs[len(fs)-1]
	if err := os.WriteFile(path, b[:last[0]+last[1]-3], 0o600); err != nil {
		t.Fatal(err)
	}
	j, err := OpenJournal(path, key)
	if err != nil {
		t.Fatal(err)
	}
	if j.LastSeq() != uint64(len(recs)-1) {
		t.Fatalf("LastSeq = %d, want %d", j.LastSeq(), len(recs)-1)
	}
	if ok, err := j.Append(recs[len(recs)-1]); !ok || err != nil {
		t.Fatalf("Append after recovery: %v, %v", ok, err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := readSealed(path, key)
	if err != nil || !reflect.DeepEqual(got, recs) {
		t.Fatalf("after recovery: %d records, %v", len(got), err)
	}
}

func FuzzSealedJournal(f *testing.F) {
	key := testKey(f, 1)
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.journal")
	j, err := CreateJournal(path, sealedMeta, key)
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range sealedRecords() {
		j.Append(r)
	}
	j.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add(seed[:len(seed)-7])
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "f.journal")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		// Whatever the bytes: records, an end, or an error; never a panic.
		r, err := ReadJournal(p, key)
		if err != nil {
			return
		}
		defer r.Close()
		for {
			if _, err := r.Next(); err == io.EOF || err != nil {
				return
			}
		}
	})
}
