package recording

import (
	"bufio"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A journal file is
//
//	header: magic [8]byte | metaLen uint32 | crc uint32 | meta JSON
//	frame:  payloadLen uint32 | crc uint32 | payload
//	payload: seq uint64 | time int64 (ns) | kind uint8 | kind fields | data
//
// where integers are big-endian, kind fields are cols, rows uint16 for
// KindResize and code int32 for KindExit, and each crc is CRC-32C over the
// length field and the bytes it counts, so that a flipped length is caught
// as surely as flipped data. Frames are only ever appended; a crash can
// leave at most one torn frame at the end (or garbage, on filesystems that
// extend a file before writing its blocks), and everything from the first
// frame that does not check out is discarded.
//
// A sealed journal (Meta.Sealed set) encrypts each payload with the
// session's data key, AES-256-GCM: the frame holds nonce [12]byte |
// ciphertext and tag, and the associated data is the record's sequence
// number, so that a frame moved, dropped from the middle or taken from
// another session fails authentication. The CRC covers the sealed bytes and
// still tells a torn tail; a frame whose CRC checks out but which does not
// authenticate was altered, and reading it is an error (ErrTampered), never
// a silent end.
const (
	journalMagic = "PSTNJNL1"

	headerPrefixLen = len(journalMagic) + 8
	frameHeaderLen  = 8
	payloadFixedLen = 8 + 8 + 1

	// MaxFrame is the largest record payload a journal holds. A length
	// above it is corruption, never a reason to allocate.
	MaxFrame = 4 << 20

	// maxMetaLen bounds the header for the same reason.
	maxMetaLen = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt reports a journal whose header is unreadable, so that not even
// its Meta can be recovered. Damage after the header is never an error: it
// is a torn tail, and the records before it are kept.
var ErrCorrupt = errors.New("recording: corrupt journal")

// ErrClosed reports use of a closed Journal.
var ErrClosed = errors.New("recording: journal closed")

// ErrTampered reports a sealed journal's frame that is whole (its CRC
// checks out) but does not authenticate: altered, moved, or sealed with
// another key.
var ErrTampered = errors.New("recording: journal record fails authentication (altered, or not this session's key)")

// ErrSealed reports a sealed journal opened without its key.
var ErrSealed = errors.New("recording: journal is encrypted and no key was given")

// sealOverhead is what sealing adds to a payload: nonce and tag.
const sealOverhead = 12 + 16

// Journal is the server's spool of one session's records: an append-only
// file that survives a crash at any point with every synced record intact.
//
// One goroutine appends while another may call Sync, DurableSeq or Close
// concurrently (the usual shape: the relay appends, a ticker syncs every few
// milliseconds and acknowledges DurableSeq to the agent). Appends never wait
// for an fsync in progress, which is what makes group commit pay off.
type Journal struct {
	path string
	f    *os.File
	meta Meta

	// syncMu serializes Sync, Recover and Close, so that DurableSeq only
	// moves forward, Close waits for an fsync in flight, and Recover never
	// cuts the file under one. It is taken before mu, and guards
	// durableSize.
	syncMu      sync.Mutex
	durableSize int64 // bytes of the file covered by the last completed Sync

	// mu guards the fields below. Sync holds it only to write out pend,
	// not across the fsync.
	mu      sync.Mutex
	pend    []byte      // frames appended and not yet written to the file
	size    int64       // bytes of the file written: the header and whole frames
	buf     []byte      // scratch for encoding one frame
	plain   []byte      // scratch for a sealed frame's payload
	aead    cipher.AEAD // nil for a plain journal
	lastSeq uint64
	closed  bool
	// err is sticky until Recover: after a failed write or fsync the
	// file's tail past durableSize is unknown.
	err error

	durable atomic.Uint64
	// durableBytes is durableSize, for Unsynced.
	durableBytes atomic.Int64
}

// writeAt is how much Append buffers before writing it to the file.
const writeAt = 64 << 10

// CreateJournal creates a journal for a new session at path, which must not
// exist. The header is durable when it returns, so a journal that exists is
// always one OpenJournal can recover. With a key (m.Sealed must then be
// set, and says how to get the key back), records are sealed with it;
// without, they are written in the clear.
func CreateJournal(path string, m Meta, key cipher.AEAD) (*Journal, error) {
	if (key != nil) != (m.Sealed != nil) {
		return nil, fmt.Errorf("recording: create journal %s: a key needs Meta.Sealed and Meta.Sealed a key", path)
	}
	if key != nil && key.NonceSize() != 12 {
		return nil, fmt.Errorf("recording: create journal %s: key must take 12-byte nonces", path)
	}
	meta, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("recording: create journal %s: encode meta: %w", path, err)
	}
	if len(meta) > maxMetaLen {
		return nil, fmt.Errorf("recording: create journal %s: meta of %d bytes exceeds %d", path, len(meta), maxMetaLen)
	}
	// The header is written to a file of another name and the journal
	// appears under its own only whole: a reader that opens it (a
	// delivery, a watcher) never sees it half written, which would look
	// like a corrupt journal.
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.%x.tmp", filepath.Base(path), rnd))
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("recording: create journal: %w", err)
	}
	defer os.Remove(tmp) // the name only: the journal's is a link to the same file
	hdr := make([]byte, 0, headerPrefixLen+len(meta))
	hdr = append(hdr, journalMagic...)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(meta)))
	sum := crc32.Update(0, castagnoli, hdr[len(journalMagic):])
	sum = crc32.Update(sum, castagnoli, meta)
	hdr = binary.BigEndian.AppendUint32(hdr, sum)
	hdr = append(hdr, meta...)
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		return nil, fmt.Errorf("recording: create journal %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("recording: create journal %s: sync: %w", path, err)
	}
	// A link, not a rename: it fails, as O_EXCL would, if the journal
	// exists.
	if err := os.Link(tmp, path); err != nil {
		f.Close()
		return nil, fmt.Errorf("recording: create journal: %w", err)
	}
	// Without this a power loss can forget the file's name even though its
	// contents were synced.
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("recording: create journal %s: %w", path, err)
	}
	return newJournal(path, f, m, 0, int64(len(hdr)), key), nil
}

// OpenJournal reopens an existing journal for appending, as after a server
// restart. It keeps every record up to the first frame that is torn or does
// not check out, truncates the file there and syncs it, so LastSeq and
// DurableSeq both report the last record kept.
//
// A sealed journal needs its key; a plain one ignores it.
func OpenJournal(path string, key cipher.AEAD) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("recording: open journal: %w", err)
	}
	r, err := newJournalReader(f, key)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("recording: open journal %s: %w", path, err)
	}
	for {
		if _, err := r.Next(); err != nil {
			if err == io.EOF {
				break
			}
			f.Close()
			return nil, fmt.Errorf("recording: open journal %s: %w", path, err)
		}
	}
	if r.Damaged() {
		if err := f.Truncate(r.off); err != nil {
			f.Close()
			return nil, fmt.Errorf("recording: open journal %s: truncate torn tail: %w", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("recording: open journal %s: sync: %w", path, err)
	}
	return newJournal(path, f, r.meta, r.lastSeq, r.off, r.aead), nil
}

func newJournal(path string, f *os.File, m Meta, lastSeq uint64, size int64, key cipher.AEAD) *Journal {
	j := &Journal{
		path:        path,
		f:           f,
		meta:        m,
		aead:        key,
		lastSeq:     lastSeq,
		size:        size,
		durableSize: size,
	}
	j.durable.Store(lastSeq)
	j.durableBytes.Store(size)
	return j
}

// Meta returns the session description the journal was created with.
func (j *Journal) Meta() Meta { return j.meta }

// Key returns the key the journal's records are sealed with; nil for a
// journal in the clear.
func (j *Journal) Key() cipher.AEAD { return j.aead }

// Path returns the journal's file name.
func (j *Journal) Path() string { return j.path }

// LastSeq returns the sequence number of the last record appended, durable
// or not; 0 if there is none.
func (j *Journal) LastSeq() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastSeq
}

// Err returns the error of a failed write or sync that Recover has not yet
// recovered from, or nil.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// DurableSeq returns the sequence number of the last record covered by a
// completed Sync: the one the server may acknowledge to the agent.
func (j *Journal) DurableSeq() uint64 { return j.durable.Load() }

// Durable returns the last record covered by a completed Sync and the
// size of the file up to its end: the bytes a copy of the journal may take
// (package journalstore ships them), which hold whole frames only. It
// waits for a Sync in progress.
func (j *Journal) Durable() (seq uint64, size int64) {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	return j.durable.Load(), j.durableSize
}

// Append adds r to the journal's buffer. It reports false, and writes
// nothing, for a record at or below LastSeq: the agent replays what was not
// acknowledged after a reconnect, and some of that was already recorded. A
// record that would leave a gap is an error, since the missing records
// could never be filled in. Nothing is durable until Sync returns.
func (j *Journal) Append(r Record) (bool, error) {
	if r.Seq == 0 {
		return false, fmt.Errorf("recording: journal %s: record sequence numbers start at 1", j.path)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return false, ErrClosed
	}
	if j.err != nil {
		return false, j.err
	}
	if r.Seq <= j.lastSeq {
		return false, nil
	}
	if r.Seq != j.lastSeq+1 {
		return false, fmt.Errorf("recording: journal %s: record %d would leave a gap after %d", j.path, r.Seq, j.lastSeq)
	}
	var b []byte
	var err error
	if j.aead == nil {
		b, err = appendFrame(j.buf[:0], r)
	} else {
		j.plain, err = appendPayload(j.plain[:0], r)
		if err == nil {
			b, err = appendSealedFrame(j.buf[:0], j.aead, r.Seq, j.plain)
		}
		if cap(j.plain) > 1<<20 {
			j.plain = nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("recording: journal %s: %w", j.path, err)
	}
	j.buf = b[:0]
	if cap(j.buf) > 1<<20 {
		j.buf = nil // don't pin one huge record's buffer for the session
	}
	j.pend = append(j.pend, b...)
	j.lastSeq = r.Seq
	if len(j.pend) >= writeAt {
		if err := j.writeLocked(); err != nil {
			return false, err
		}
	}
	return true, nil
}

// writeLocked writes pend to the file after its whole frames; j.mu must be
// held. A failure is sticky until Recover, which cuts off whatever part of
// pend reached the file.
func (j *Journal) writeLocked() error {
	if len(j.pend) == 0 {
		return nil
	}
	n, err := j.f.WriteAt(j.pend, j.size)
	if err != nil {
		j.err = fmt.Errorf("recording: journal %s: write: %w", j.path, err)
		return j.err
	}
	j.size += int64(n)
	j.pend = j.pend[:0]
	if cap(j.pend) > 4*writeAt {
		j.pend = nil // don't pin one huge record's buffer for the session
	}
	return nil
}

// Flush writes out everything appended so far, without an fsync, so that
// a reader of the file sees it. Flushing a closed journal does nothing.
func (j *Journal) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	if j.err != nil {
		return j.err
	}
	return j.writeLocked()
}

// Sync writes out everything appended so far and fsyncs it. When it
// returns nil, DurableSeq covers every record appended before the call.
func (j *Journal) Sync() error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	return j.syncLocked()
}

// syncLocked does Sync's work; j.syncMu must be held.
func (j *Journal) syncLocked() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	if j.err != nil {
		j.mu.Unlock()
		return j.err
	}
	if err := j.writeLocked(); err != nil {
		j.mu.Unlock()
		return err
	}
	seq, size := j.lastSeq, j.size
	j.mu.Unlock()

	if seq == j.durable.Load() {
		return nil
	}
	if err := j.f.Sync(); err != nil {
		// What the kernel did with the data after a failed fsync is
		// unknowable (it may have dropped the dirty pages), so the
		// journal must not pretend anything more is durable.
		err = fmt.Errorf("recording: journal %s: sync: %w", j.path, err)
		j.mu.Lock()
		j.err = err
		j.mu.Unlock()
		return err
	}
	j.durableSize = size
	j.durableBytes.Store(size)
	j.durable.Store(seq)
	return nil
}

// Unsynced returns how many bytes were appended since the last completed
// Sync: a writer that paces its syncs syncs early when it is large.
func (j *Journal) Unsynced() int64 {
	j.mu.Lock()
	n := j.size + int64(len(j.pend))
	j.mu.Unlock()
	return n - j.durableBytes.Load()
}

// Recover makes a journal whose write or sync failed (a full disk, say)
// usable again: it forgets every record after DurableSeq, cuts the file
// back to the last completed Sync, and returns DurableSeq, which LastSeq
// reports again. The writer then appends the forgotten records anew; the
// server's agents keep every record until it is acknowledged durable, so
// they resend them. Recover fails, and the journal stays failed, only if
// the file cannot be cut back.
func (j *Journal) Recover() (uint64, error) {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return 0, ErrClosed
	}
	// Truncating frees what the failed writes took, and removes frames a
	// reader could otherwise take for records that are not durable.
	if err := j.f.Truncate(j.durableSize); err != nil {
		j.err = errors.Join(j.err, fmt.Errorf("recording: journal %s: cut back to record %d: %w", j.path, j.durable.Load(), err))
		return 0, j.err
	}
	j.pend, j.size = j.pend[:0], j.durableSize
	j.lastSeq = j.durable.Load()
	j.err = nil
	return j.lastSeq, nil
}

// Close syncs the journal and closes its file. It returns the journal's
// sticky write error, if any. Closing twice is not an error.
func (j *Journal) Close() error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	closed := j.closed
	j.mu.Unlock()
	if closed {
		return nil
	}
	err := j.syncLocked()
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("recording: journal %s: close: %w", j.path, cerr)
	}
	return err
}

// appendFrame appends r's frame to b.
func appendFrame(b []byte, r Record) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, frameHeaderLen)...)
	b, err := appendPayload(b, r)
	if err != nil {
		return b[:start], err
	}
	return finishFrame(b, start)
}

// appendSealedFrame appends the frame of a payload sealed with key.
func appendSealedFrame(b []byte, key cipher.AEAD, seq uint64, payload []byte) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, frameHeaderLen+12)...)
	nonce := b[start+frameHeaderLen:]
	if _, err := rand.Read(nonce); err != nil {
		return b[:start], fmt.Errorf("record %d: nonce: %w", seq, err)
	}
	b = key.Seal(b, nonce, payload, sealAAD(seq))
	return finishFrame(b, start)
}

// sealAAD is the associated data of the record seq's seal.
func sealAAD(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("PSTNJNL1 record "), seq)
}

// finishFrame fills in the header of the frame at b[start:].
func finishFrame(b []byte, start int) ([]byte, error) {
	n := len(b) - start - frameHeaderLen
	if n > MaxFrame+sealOverhead {
		return b[:start], fmt.Errorf("frame of %d bytes exceeds %d", n, MaxFrame+sealOverhead)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	sum := crc32.Update(0, castagnoli, b[start:start+4])
	sum = crc32.Update(sum, castagnoli, b[start+frameHeaderLen:])
	binary.BigEndian.PutUint32(b[start+4:], sum)
	return b, nil
}

// appendPayload appends r's payload to b.
func appendPayload(b []byte, r Record) ([]byte, error) {
	if !r.Kind.valid() {
		return b, fmt.Errorf("record %d has unknown kind %d", r.Seq, r.Kind)
	}
	if r.Time < 0 {
		return b, fmt.Errorf("record %d has negative time %v", r.Seq, r.Time)
	}
	start := len(b)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	b = append(b, byte(r.Kind))
	switch r.Kind {
	case KindResize:
		if r.Cols < 1 || r.Cols > maxTermSize || r.Rows < 1 || r.Rows > maxTermSize {
			return b[:start], fmt.Errorf("resize record %d has size %dx%d", r.Seq, r.Cols, r.Rows)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(r.Cols))
		b = binary.BigEndian.AppendUint16(b, uint16(r.Rows))
	case KindExit:
		if r.ExitCode < math.MinInt32 || r.ExitCode > math.MaxInt32 {
			return b[:start], fmt.Errorf("exit record %d has code %d", r.Seq, r.ExitCode)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(int32(r.ExitCode)))
	}
	if n := len(b) - start + len(r.Data); n > MaxFrame {
		return b[:start], fmt.Errorf("record %d of %d bytes exceeds %d", r.Seq, n, MaxFrame)
	}
	return append(b, r.Data...), nil
}

// errBadFrame marks a frame that is complete but does not check out.
var errBadFrame = errors.New("bad frame")

// parsePayload decodes a frame's payload. Data is copied out of p.
func parsePayload(p []byte) (Record, error) {
	if len(p) < payloadFixedLen {
		return Record{}, errBadFrame
	}
	r := Record{
		Seq:  binary.BigEndian.Uint64(p),
		Time: time.Duration(binary.BigEndian.Uint64(p[8:])),
		Kind: Kind(p[16]),
	}
	if r.Seq == 0 || r.Time < 0 {
		return Record{}, errBadFrame
	}
	p = p[payloadFixedLen:]
	switch r.Kind {
	case KindOutput, KindInput, KindMarker, KindStderr, KindTyped, KindConnection, KindDisplay, KindDesktop, KindKey:
	case KindResize:
		if len(p) < 4 {
			return Record{}, errBadFrame
		}
		r.Cols = int(binary.BigEndian.Uint16(p))
		r.Rows = int(binary.BigEndian.Uint16(p[2:]))
		if r.Cols == 0 || r.Rows == 0 {
			return Record{}, errBadFrame
		}
		p = p[4:]
	case KindExit:
		if len(p) < 4 {
			return Record{}, errBadFrame
		}
		r.ExitCode = int(int32(binary.BigEndian.Uint32(p)))
		p = p[4:]
	default:
		return Record{}, errBadFrame
	}
	if len(p) > 0 {
		r.Data = append([]byte(nil), p...)
	}
	return r, nil
}

// JournalReader reads a journal's records in order. It may run while a
// Journal appends to the same file: it stops cleanly at the end of what was
// written, and a later Next picks up records appended since.
type JournalReader struct {
	f    *os.File
	br   *bufio.Reader
	meta Meta

	off     int64  // file offset just after the last good frame
	lastSeq uint64 // seq of the last good frame
	damaged bool   // the last Next stopped at bytes that are not a good frame
	buf     []byte
	aead    cipher.AEAD // nil for a plain journal
	plain   []byte      // scratch for an opened payload
}

// ReadJournal opens the journal at path for reading and decodes its header.
// A sealed journal needs its key (Meta.Sealed says which; ReadJournalMeta
// reads it first); a plain one ignores it.
func ReadJournal(path string, key cipher.AEAD) (*JournalReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("recording: read journal: %w", err)
	}
	r, err := newJournalReader(f, key)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("recording: read journal %s: %w", path, err)
	}
	return r, nil
}

// ReadJournalMeta returns the header of the journal at path: what it
// records, and for a sealed one, how to get its key.
func ReadJournalMeta(path string) (Meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return Meta{}, fmt.Errorf("recording: read journal: %w", err)
	}
	defer f.Close()
	r, err := newJournalReader(f, nil)
	if err != nil && !errors.Is(err, ErrSealed) {
		return Meta{}, fmt.Errorf("recording: read journal %s: %w", path, err)
	}
	return r.meta, nil
}

func newJournalReader(f *os.File, key cipher.AEAD) (*JournalReader, error) {
	br := bufio.NewReaderSize(f, 64<<10)
	var pre [headerPrefixLen]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: header truncated", ErrCorrupt)
		}
		return nil, err
	}
	if string(pre[:len(journalMagic)]) != journalMagic {
		return nil, fmt.Errorf("%w: not a journal (bad magic %q)", ErrCorrupt, pre[:len(journalMagic)])
	}
	n := binary.BigEndian.Uint32(pre[len(journalMagic):])
	if n > maxMetaLen {
		return nil, fmt.Errorf("%w: header length %d exceeds %d", ErrCorrupt, n, maxMetaLen)
	}
	meta := make([]byte, n)
	if _, err := io.ReadFull(br, meta); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: header truncated", ErrCorrupt)
		}
		return nil, err
	}
	sum := crc32.Update(0, castagnoli, pre[len(journalMagic):len(journalMagic)+4])
	sum = crc32.Update(sum, castagnoli, meta)
	if sum != binary.BigEndian.Uint32(pre[len(journalMagic)+4:]) {
		return nil, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	r := &JournalReader{f: f, br: br, off: int64(headerPrefixLen) + int64(n)}
	if err := json.Unmarshal(meta, &r.meta); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrCorrupt, err)
	}
	if r.meta.Sealed != nil {
		if key == nil {
			return r, ErrSealed
		}
		r.aead = key
	}
	return r, nil
}

// Meta returns the session description from the journal's header.
func (r *JournalReader) Meta() Meta { return r.meta }

// FrameBoundary returns the furthest end of a frame (or of the header)
// in the journal f that is past from and at most limit, where from is 0
// or itself such an end, so that a copy cut there holds whole frames
// only. It reads only the length fields it steps over; it trusts the
// bytes up to limit to be whole frames (a Journal's durable part), and
// fails if they do not step evenly. It returns from if the first frame
// after from ends past limit.
func FrameBoundary(f io.ReaderAt, from, limit int64) (int64, error) {
	at := from
	var b [headerPrefixLen]byte
	if at == 0 {
		if _, err := f.ReadAt(b[:], 0); err != nil {
			return 0, fmt.Errorf("recording: journal header: %w", err)
		}
		if string(b[:len(journalMagic)]) != journalMagic {
			return 0, fmt.Errorf("%w: not a journal (bad magic)", ErrCorrupt)
		}
		end := int64(headerPrefixLen) + int64(binary.BigEndian.Uint32(b[len(journalMagic):]))
		if end > limit {
			return 0, nil
		}
		at = end
	}
	for {
		if at+frameHeaderLen > limit {
			return at, nil
		}
		if _, err := f.ReadAt(b[:frameHeaderLen], at); err != nil {
			return 0, fmt.Errorf("recording: journal frame at %d: %w", at, err)
		}
		n := binary.BigEndian.Uint32(b[:])
		if n > MaxFrame+sealOverhead || n < payloadFixedLen {
			return 0, fmt.Errorf("%w: frame at %d has length %d", ErrCorrupt, at, n)
		}
		next := at + frameHeaderLen + int64(n)
		if next > limit {
			return at, nil
		}
		at = next
	}
}

// Next returns the next record, or io.EOF at the end of the good records:
// at the end of the file, or at the first frame that is incomplete or does
// not check out (see Damaged). Other errors are I/O errors.
func (r *JournalReader) Next() (Record, error) {
	rec, n, err := r.next()
	if err == nil {
		r.off += int64(n)
		r.lastSeq = rec.Seq
		r.damaged = false
		return rec, nil
	}
	// Rewind to the end of the last good frame so that a later call sees
	// the file afresh, with whatever a writer completed in the meantime.
	if _, serr := r.f.Seek(r.off, io.SeekStart); serr != nil {
		return Record{}, fmt.Errorf("recording: read journal: %w", serr)
	}
	r.br.Reset(r.f)
	switch err {
	case io.EOF:
		r.damaged = false
		return Record{}, io.EOF
	case io.ErrUnexpectedEOF, errBadFrame:
		r.damaged = true
		return Record{}, io.EOF
	}
	return Record{}, fmt.Errorf("recording: read journal: %w", err)
}

// next decodes one frame. It returns io.EOF if no byte of one is there,
// io.ErrUnexpectedEOF if part of one is, and errBadFrame if it is complete
// but wrong, including a sequence number that does not follow the last.
func (r *JournalReader) next() (Record, int, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r.br, hdr[:]); err != nil {
		return Record{}, 0, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame+sealOverhead || n < payloadFixedLen {
		return Record{}, 0, errBadFrame
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	p := r.buf[:n]
	if _, err := io.ReadFull(r.br, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Record{}, 0, err
	}
	sum := crc32.Update(0, castagnoli, hdr[:4])
	sum = crc32.Update(sum, castagnoli, p)
	if sum != binary.BigEndian.Uint32(hdr[4:]) {
		return Record{}, 0, errBadFrame
	}
	if r.aead != nil {
		seq := r.lastSeq + 1
		if len(p) < sealOverhead {
			return Record{}, 0, fmt.Errorf("%w: record %d", ErrTampered, seq)
		}
		var err error
		r.plain, err = r.aead.Open(r.plain[:0], p[:12], p[12:], sealAAD(seq))
		if err != nil {
			return Record{}, 0, fmt.Errorf("%w: record %d", ErrTampered, seq)
		}
		p = r.plain
	}
	rec, err := parsePayload(p)
	if err != nil {
		return Record{}, 0, err
	}
	if rec.Seq != r.lastSeq+1 {
		return Record{}, 0, errBadFrame
	}
	return rec, frameHeaderLen + int(n), nil
}

// Damaged reports whether the last Next returned io.EOF at bytes that do
// not form a good frame rather than at the end of the file. After a crash
// that is the torn tail OpenJournal truncates; while a writer is active it
// may also be a frame that is being written.
func (r *JournalReader) Damaged() bool { return r.damaged }

// LastSeq returns the sequence number of the last record read.
func (r *JournalReader) LastSeq() uint64 { return r.lastSeq }

// All returns an iterator over the remaining records. It ends at io.EOF,
// which it does not yield; any other error is yielded once, last.
func (r *JournalReader) All() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

// Close closes the reader's file.
func (r *JournalReader) Close() error { return r.f.Close() }

// syncDir fsyncs a directory so that entries created or renamed in it
// survive a power loss.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		// Windows cannot open a directory for syncing; NTFS journals
		// metadata itself.
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
