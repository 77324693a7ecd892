package relay

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/postern/postern/recording"
	"github.com/postern/postern/wire"
)

// TestJournalOutputPipes: a client behind the relay's memory is served
// from the journal the very bytes the relay's ring held, at any offset, so
// that resuming there loses and repeats nothing.
func TestJournalOutputPipes(t *testing.T) {
	for _, pipes := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "j")
		j, err := recording.CreateJournal(path, recording.Meta{SessionID: "s", Start: time.Now(), Pipes: pipes}, nil)
		if err != nil {
			t.Fatal(err)
		}
		recs := []recording.Record{
			{Kind: recording.KindOutput, Data: []byte("out-1\n")},
			{Kind: recording.KindStderr, Data: []byte("err-1\n")},
			{Kind: recording.KindInput, Data: []byte("typed")},
			{Kind: recording.KindOutput, Data: bytes.Repeat([]byte("x"), 1000)},
			{Kind: recording.KindStderr, Data: []byte("err-2\n")},
			{Kind: recording.KindExit, ExitCode: 3},
		}
		ring := newOutputRing(DefaultOutputMemory, 0)
		var want []byte
		for i, r := range recs {
			r.Seq = uint64(i + 1)
			if _, err := j.Append(r); err != nil {
				t.Fatal(err)
			}
			b := clientOutput(nil, pipes, r.Kind, r.Data)
			ring.write(b)
			want = append(want, b...)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if got := ring.appendFrom(nil, 0, len(want)+1); !bytes.Equal(got, want) {
			t.Fatalf("pipes %v: ring holds %q, want %q", pipes, got, want)
		}
		if n, _, err := journalState(path, nil, pipes); err != nil || n != uint64(len(want)) {
			t.Fatalf("pipes %v: journalState = %d, %v; want %d", pipes, n, err, len(want))
		}
		for from := 0; from <= len(want); from++ {
			for _, max := range []int{1, 7, 4096} {
				cur := NewJournalCursor(path, nil, pipes, func() {})
				got, err := cur.appendFrom(nil, uint64(from), max)
				cur.close()
				if err != nil {
					t.Fatal(err)
				}
				if w := want[from:min(len(want), from+max)]; !bytes.Equal(got, w) {
					t.Fatalf("pipes %v: appendFrom(%d, %d) = %q, want %q", pipes, from, max, got, w)
				}
			}
		}
		if !pipes {
			continue
		}
		// And it decodes to the streams.
		var o, e bytes.Buffer
		if _, err := (&wire.StreamDemux{Stdout: &o, Stderr: &e}).Write(want); err != nil {
			t.Fatal(err)
		}
		if o.String() != "out-1\n"+string(bytes.Repeat([]byte("x"), 1000)) || e.String() != "err-1\nerr-2\n" {
			t.Fatalf("decoded stdout %q, stderr %q", o.String(), e.String())
		}
	}
}
