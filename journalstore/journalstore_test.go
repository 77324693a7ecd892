package journalstore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/recording"
	"github.com/postern/postern/s3logs"
	"github.com/postern/postern/s3logs/miniotest"
)

// rig is a store on a real MinIO bucket.
type rig struct {
	srv    *miniotest.Server
	bucket *s3logs.Bucket
	st     *Store
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := miniotest.Start(t)
	srv.CreateBucket(t, "recordings", false)
	c, err := s3logs.New(context.Background(), s3logs.Config{
		Endpoint: srv.URL(), Region: srv.Region(), AccessKeyID: srv.AccessKey(), SecretAccessKey: srv.SecretKey(),
		Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	b := c.Bucket(s3logs.Target{Bucket: "recordings", Prefix: "cluster-a"})
	st, err := New(b, filepath.Join(t.TempDir(), "queue"), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{srv: srv, bucket: b, st: st}
}

func testKey(t *testing.T) cipher.AEAD {
	blk, err := aes.NewCipher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(blk)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// journal creates a sealed journal with n records of output and syncs it.
func journal(t *testing.T, path string, from, n int) *recording.Journal {
	t.Helper()
	var j *recording.Journal
	var err error
	if from == 1 {
		j, err = recording.CreateJournal(path, recording.Meta{SessionID: "s", Sealed: &recording.Sealed{WrappedKey: []byte("k")}}, testKey(t))
	} else {
		j, err = recording.OpenJournal(path, testKey(t))
	}
	if err != nil {
		t.Fatal(err)
	}
	appendLines(t, j, from, n)
	return j
}

func appendLines(t *testing.T, j *recording.Journal, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := j.Append(recording.Record{Seq: uint64(i), Kind: recording.KindOutput, Data: fmt.Appendf(nil, "line %d\n", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
}

// lines reads the output of the journal at path.
func lines(t *testing.T, path string) string {
	t.Helper()
	r, err := recording.ReadJournal(path, testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var b strings.Builder
	for rec, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		b.Write(rec.Data)
	}
	if r.Damaged() {
		t.Fatalf("%s ends in a damaged frame", path)
	}
	return b.String()
}

func want(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

// A journal shipped as it grows can be fetched whole by a server that
// never had it, while it runs and after it ended, as one object.
func TestShipFetchFinish(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	path := filepath.Join(t.TempDir(), "a", "s.journal")
	os.MkdirAll(filepath.Dir(path), 0o700)
	j := journal(t, path, 1, 100)
	sh := r.st.Shipper("000000000001", "s", path, true)
	ship := func() {
		t.Helper()
		seq, size := j.Durable()
		if err := sh.Ship(ctx, seq, size); err != nil {
			t.Fatal(err)
		}
		if got, off := sh.Shipped(); got != seq || off != size {
			t.Fatalf("Shipped = %d, %d; want %d, %d", got, off, seq, size)
		}
	}
	ship()
	// Not durable yet: not shipped, and not in what another server reads.
	j.Append(recording.Record{Seq: 101, Kind: recording.KindOutput, Data: []byte("unsynced\n")})
	j.Flush()
	ship()
	if p := r.st.Pending(); p.Journals != 1 || p.Bytes == 0 {
		t.Errorf("Pending with an unsynced tail = %+v, want one journal with bytes", p)
	}
	other := filepath.Join(t.TempDir(), "b", "s.journal")
	if n, err := r.st.Fetch(ctx, "000000000001", "s", other); err != nil || n == 0 {
		t.Fatalf("Fetch = %d, %v", n, err)
	}
	if got := lines(t, other); got != want(1, 100) {
		t.Fatalf("fetched while running: %q", got)
	}
	j.Sync()
	appendLines(t, j, 102, 50)
	ship()
	// A second fetch appends only what is new.
	before, _ := os.Stat(other)
	n, err := r.st.Fetch(ctx, "000000000001", "s", other)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(other)
	if n != after.Size()-before.Size() || n == 0 {
		t.Fatalf("second Fetch appended %d bytes, the file grew %d", n, after.Size()-before.Size())
	}
	if got := lines(t, other); got != want(1, 100)+"unsynced\n"+want(102, 151) {
		t.Fatalf("fetched again: %q", got)
	}
	if keys := r.srv.Keys(t, "recordings", "cluster-a/journals/000000000001/s/chunks/"); len(keys) != 2 {
		t.Errorf("chunks = %v, want 2 (the unsynced record went with the third Ship)", keys)
	}
	j.Close()
	if err := sh.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := r.srv.Keys(t, "recordings", "cluster-a/journals/000000000001/s/"); len(keys) != 1 || !strings.HasSuffix(keys[0], "/journal") {
		t.Errorf("objects after Finish = %v, want the whole journal only", keys)
	}
	if p := r.st.Pending(); p.Journals != 0 {
		t.Errorf("Pending after Finish = %+v", p)
	}
	third := filepath.Join(t.TempDir(), "c.journal")
	if _, err := r.st.Fetch(ctx, "000000000001", "s", third); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(third)
	if !bytes.Equal(a, b) {
		t.Fatalf("the journal fetched after Finish (%d bytes) differs from the file (%d)", len(b), len(a))
	}
	// Late output extends the ended journal: shipped whole again.
	late := r.st.Shipper("000000000001", "s", path, false)
	j = journal(t, path, 152, 3)
	j.Close()
	if err := late.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.Fetch(ctx, "000000000001", "s", third); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, third); !strings.HasSuffix(got, want(152, 154)) {
		t.Fatalf("late output not fetched: ...%q", got[len(got)-40:])
	}
	// Deleting the logs removes every object.
	if err := r.st.Delete(ctx, "000000000001", "s"); err != nil {
		t.Fatal(err)
	}
	if keys := r.srv.Keys(t, "recordings", "cluster-a/journals/000000000001/s/"); len(keys) != 0 {
		t.Errorf("objects after Delete = %v", keys)
	}
}

// A server that lost its disk takes over from object storage: the
// fetched journal opens for appending, and shipping goes on after it
// without rewriting anything.
func TestTakeOver(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	first := filepath.Join(t.TempDir(), "s.journal")
	j := journal(t, first, 1, 40)
	sh := r.st.Shipper("000000000001", "s", first, true)
	seq, size := j.Durable()
	if err := sh.Ship(ctx, seq, size); err != nil {
		t.Fatal(err)
	}
	// The first server is cut off (its disk as good as lost to the
	// others); a second takes over from object storage.

	st2, err := New(r.bucket, filepath.Join(t.TempDir(), "queue2"), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(t.TempDir(), "s.journal")
	if _, err := st2.Fetch(ctx, "000000000001", "s", second); err != nil {
		t.Fatal(err)
	}
	j2 := journal(t, second, 41, 10) // OpenJournal: the fetched file is a whole journal
	sh2 := st2.Shipper("000000000001", "s", second, false)
	// Nothing new: nothing shipped, and the shipper knows where it is.
	if err := sh2.Ship(ctx, 40, size); err != nil {
		t.Fatal(err)
	}
	if seq, off := sh2.Shipped(); off != size || seq != 40 {
		t.Fatalf("the second server's shipper resumes at record %d, byte %d; want 40, %d", seq, off, size)
	}
	seq, size = j2.Durable()
	if err := sh2.Ship(ctx, seq, size); err != nil {
		t.Fatal(err)
	}
	// The first server, still up behind a partition with its old file
	// and records of its own after 40, must not write over the second's:
	// its next chunk's offset is taken.
	appendLines(t, j, 41, 5)
	seq, size = j.Durable()
	if err := sh.Ship(ctx, seq, size); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second writer's Ship: %v, want ErrConflict", err)
	}
	// Nor replace the whole journal with its own, shorter or longer.
	if err := r.st.Shipper("000000000001", "s", first, false).Finish(ctx); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second writer's shorter whole journal: %v, want ErrConflict", err)
	}
	appendLines(t, j, 46, 30)
	j.Close()
	if err := r.st.Shipper("000000000001", "s", first, false).Finish(ctx); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second writer's longer whole journal: %v, want ErrConflict", err)
	}
	// Its backlog keeps it aside rather than retry for ever.
	if err := r.st.ShipBacklog(ctx); err != nil {
		t.Fatalf("ShipBacklog with a conflicting journal: %v", err)
	}
	if p := r.st.Pending(); p.Journals != 0 {
		t.Errorf("Pending after the conflict was put aside: %+v", p)
	}
	j2.Close()
	if err := sh2.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	third := filepath.Join(t.TempDir(), "s.journal")
	if _, err := st2.Fetch(ctx, "000000000001", "s", third); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, third); got != want(1, 50) {
		t.Fatalf("after the take-over: %q", got)
	}
}

// A long stretch shipped at once goes in chunks that each end a frame, so
// a fetch of any prefix of them is a journal of whole records.
func TestShipSplitsAtFrames(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	path := filepath.Join(t.TempDir(), "s.journal")
	j, err := recording.CreateJournal(path, recording.Meta{SessionID: "s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 1<<20+3)
	for i := 1; i <= 20; i++ {
		j.Append(recording.Record{Seq: uint64(i), Kind: recording.KindOutput, Data: big})
	}
	j.Close()
	sh := r.st.Shipper("000000000001", "s", path, true)
	fi, _ := os.Stat(path)
	if err := sh.Ship(ctx, 20, fi.Size()); err != nil {
		t.Fatal(err)
	}
	keys := r.srv.Keys(t, "recordings", "cluster-a/journals/000000000001/s/chunks/")
	if len(keys) < 3 {
		t.Fatalf("20 MiB shipped as %d chunks, want at least 3 of at most %d bytes", len(keys), MaxChunk)
	}
	// Each chunk's end is a frame's end: a file cut there reads whole.
	f, _ := os.Open(path)
	defer f.Close()
	var end int64
	for _, k := range keys {
		b, _ := r.srv.Object(t, "recordings", k)
		off, err := parseChunkName(strings.TrimPrefix(k, "cluster-a/journals/000000000001/s/"))
		if err != nil || off != end || len(b) > MaxChunk {
			t.Fatalf("chunk %s: offset %d (%v), %d bytes; want offset %d, at most %d", k, off, err, len(b), end, MaxChunk)
		}
		end += int64(len(b))
		if b, err := recording.FrameBoundary(f, 0, end); err != nil || b != end {
			t.Fatalf("chunk %s ends at %d, not at a frame's end (%d, %v)", k, end, b, err)
		}
	}
}

// A fetch that fails leaves nothing behind: no file that a reader or a
// recovering server would take for a copy of the journal.
func TestFetchAllOrNothing(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	path := filepath.Join(t.TempDir(), "s.journal")
	j := journal(t, path, 1, 20)
	sh := r.st.Shipper("000000000001", "s", path, true)
	seq, size := j.Durable()
	if err := sh.Ship(ctx, seq, size); err != nil {
		t.Fatal(err)
	}
	r.srv.Stop()
	other := filepath.Join(t.TempDir(), "s.journal")
	if _, err := r.st.Fetch(ctx, "000000000001", "s", other); err == nil {
		t.Fatal("Fetch with object storage down succeeded")
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed fetch left %s: %v", other, err)
	}
	if err := r.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.Fetch(ctx, "000000000001", "s", other); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, other); got != want(1, 20) {
		t.Fatalf("fetched %q", got)
	}
	// After Finish, Ship refuses rather than reopen the file.
	j.Close()
	if err := sh.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sh.Ship(ctx, seq+1, size+10); !errors.Is(err, ErrFinished) {
		t.Fatalf("Ship after Finish: %v, want ErrFinished", err)
	}
}

func TestCover(t *testing.T) {
	ps := []piece{{name: "w", off: 0, size: 100}, {name: "c1", off: 0, size: 60}, {name: "c2", off: 60, size: 70}, {name: "c3", off: 130, size: 5}}
	use, end, err := cover(ps, 0)
	if err != nil || end != 135 || len(use) != 3 || use[0].name != "w" || use[1].name != "c2" {
		t.Fatalf("cover = %v, %d, %v", use, end, err)
	}
	if _, end, err := cover(ps, 200); err != nil || end != 200 {
		t.Fatalf("cover past the end = %d, %v", end, err)
	}
	_, end, err = cover([]piece{{name: "c1", size: 10}, {name: "c3", off: 20, size: 5}}, 0)
	if !errors.Is(err, ErrGap) || end != 10 {
		t.Fatalf("cover with a hole = %d, %v; want 10 and ErrGap", end, err)
	}
}

func FuzzParseChunkName(f *testing.F) {
	f.Add(chunkName(0))
	f.Add(chunkName(1234))
	f.Add("chunks/0000000000000000001-")
	f.Add("chunks/-0000000000000000001")
	f.Add("chunks/99999999999999999999")
	f.Fuzz(func(t *testing.T, name string) {
		off, err := parseChunkName(name)
		if err != nil {
			return
		}
		if off < 0 || chunkName(off) != name {
			t.Fatalf("%q parsed as %d, which names %q", name, off, chunkName(off))
		}
	})
}
