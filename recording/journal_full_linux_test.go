package recording

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/postern/postern/diskspace"
	"github.com/postern/postern/diskspace/disktest"
)

// TestJournalRecoversFromAFullDisk fills a real filesystem under a journal:
// the write that finds no space fails (as a lack of space), the journal
// refuses more until Recover, which cuts it back to its last sync; once
// space is back, the same records appended again make a journal with every
// record once and no damage.
func TestJournalRecoversFromAFullDisk(t *testing.T) {
	dir := disktest.Small(t, 2<<20)
	path := filepath.Join(dir, "s.journal")
	j, err := CreateJournal(path, testMeta, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(seq uint64) Record {
		return Record{Seq: seq, Time: time.Duration(seq) * time.Millisecond, Kind: KindOutput, Data: bytes.Repeat([]byte{byte('a' + seq%26)}, 6000)}
	}
	for seq := uint64(1); seq <= 10; seq++ {
		if _, err := j.Append(rec(seq)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	free := disktest.Fill(t, dir, 0)

	// Appends fill the buffer, and the write of it fails; or the sync does.
	var failed error
	seq := uint64(11)
	for ; seq < 200 && failed == nil; seq++ {
		_, failed = j.Append(rec(seq))
	}
	if failed == nil {
		failed = j.Sync()
	}
	if !diskspace.Full(failed) {
		t.Fatalf("the write on a full disk failed with %v, want a lack of space", failed)
	}
	if _, err := j.Append(rec(seq)); err == nil {
		t.Fatal("Append after a failed write succeeded; the journal's tail is unknown until Recover")
	}
	last, err := j.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if last != 10 || j.LastSeq() != 10 || j.DurableSeq() != 10 {
		t.Fatalf("Recover = %d, LastSeq %d, DurableSeq %d; want 10 (the last synced)", last, j.LastSeq(), j.DurableSeq())
	}
	free()
	for seq := uint64(11); seq <= 40; seq++ {
		if fresh, err := j.Append(rec(seq)); err != nil || !fresh {
			t.Fatalf("Append(%d) after Recover = %v, %v", seq, fresh, err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	_, got, damaged := readAll(t, path)
	if damaged {
		t.Error("journal damaged after recovering from a full disk")
	}
	var want []Record
	for seq := uint64(1); seq <= 40; seq++ {
		want = append(want, rec(seq))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %d records, want the 40 appended, each once", len(got))
	}
}
