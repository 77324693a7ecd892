// Package journalstore makes S3-compatible object storage the system of
// record for session journals: the server that relays a session ships its
// journal there in chunks as the session runs, so that the recording
// outlives that server and its disk, and any server fetches what its own
// disk lacks before it reads a recording.
//
// Under the configured prefix, a session's journal is
//
//	journals/ACCOUNT/SESSION/chunks/OFFSET   bytes [OFFSET, OFFSET+size) of the journal file
//	journals/ACCOUNT/SESSION/journal         the whole file, once the session ended
//
// where OFFSET is the chunk's first byte in the journal file, as 20
// decimal digits so that names sort in file order. The first chunk begins with the
// journal's header. A chunk is the file's bytes unchanged (sealed frames
// stay sealed, their CRCs check as in the file) and holds only whole
// frames that were durable on the server that shipped it, so chunks laid
// end to end from offset 0 are a journal that recording.ReadJournal reads.
//
// Chunks are written with If-None-Match: *, and a chunk's name is its
// offset alone, so an offset is never written twice: a server that finds its chunk's offset taken by other bytes
// (ErrConflict) is not the only one writing the session, and must stop.
// Once a session has ended, the whole file is put as "journal" and the
// chunks are deleted: a finished recording is one object. Output handed
// over after the end (the server's late hand-over) extends the file, and
// the whole file is put again. A reader takes whatever covers the file
// furthest from offset 0, whole file and chunks alike, so a listing made
// while chunks are being deleted still reads whole.
package journalstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postern/postern/logger"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/s3logs"
)

// Objects is what the store needs of a bucket (s3logs.Bucket has it).
// Names are relative to the store's prefix.
type Objects interface {
	// PutNew stores body under name unless an object has that name; then
	// it fails with an error wrapping s3logs.ErrObjectExists.
	PutNew(ctx context.Context, name string, body []byte) error
	// PutFile stores r's bytes under name, replacing any object.
	PutFile(ctx context.Context, name string, r io.ReadSeeker) error
	// List returns the objects whose names start with prefix, in order.
	List(ctx context.Context, prefix string) ([]s3logs.ObjectInfo, error)
	// Get reads an object from offset on; a missing one is an error
	// wrapping s3logs.ErrNoObject.
	Get(ctx context.Context, name string, offset int64) (io.ReadCloser, error)
	// Delete removes objects; missing ones are not an error.
	Delete(ctx context.Context, names ...string) error
}

// Errors callers branch on; they come wrapped.
var (
	// ErrConflict: a chunk's offset holds other bytes, written by another
	// server that believes it relays the session too.
	ErrConflict = errors.New("journalstore: another server wrote this part of the journal")
	// ErrFinished: Ship after Finish or Close.
	ErrFinished = errors.New("journalstore: the journal's shipping has ended")
	// ErrGap: the objects of a journal leave a hole, so what follows it
	// cannot be read (an object was deleted by hand, say).
	ErrGap = errors.New("journalstore: the journal in object storage has a gap")
)

// MaxChunk bounds one chunk object: a ship of more is split.
const MaxChunk = 8 << 20

// Store keeps journals in object storage. It is safe for concurrent use.
type Store struct {
	objs Objects
	// queue is the directory of markers of journals not yet wholly
	// shipped (see Shipper); it survives restarts.
	queue string
	logf  logger.Logf

	mu sync.Mutex // guards the fields below
	// busy is the per-session lock of Fetch and Finish, by session id,
	// with how many wait for it.
	busy map[string]*sessionLock
	// live are the sessions with a Shipper open, whose markers the
	// backlog leaves alone.
	live map[string]*Shipper
}

type sessionLock struct {
	mu   sync.Mutex
	refs int
}

// New returns a store over objs whose backlog markers live in queueDir.
func New(objs Objects, queueDir string, logf logger.Logf) (*Store, error) {
	if logf == nil {
		logf = logger.Discard
	}
	if err := os.MkdirAll(queueDir, 0o700); err != nil {
		return nil, fmt.Errorf("journalstore: %w", err)
	}
	return &Store{objs: objs, queue: queueDir, logf: logf, busy: map[string]*sessionLock{}, live: map[string]*Shipper{}}, nil
}

func dir(account, id string) string { return "journals/" + account + "/" + id + "/" }

const wholeName = "journal"

// lock takes session id's lock; the returned function releases it.
func (s *Store) lock(id string) func() {
	s.mu.Lock()
	l := s.busy[id]
	if l == nil {
		l = &sessionLock{}
		s.busy[id] = l
	}
	l.refs++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.busy, id)
		}
		s.mu.Unlock()
	}
}

// piece is one object of a journal: the file's bytes [off, off+size).
type piece struct {
	name string
	off  int64
	size int64
}

func (p piece) end() int64 { return p.off + p.size }

// chunkName is a chunk's name under its journal's directory.
func chunkName(off int64) string {
	return fmt.Sprintf("chunks/%020d", off)
}

// parseChunkName reads a chunk's offset from its name under the
// journal's directory.
func parseChunkName(name string) (int64, error) {
	o, ok := strings.CutPrefix(name, "chunks/")
	if !ok || len(o) != 20 || strings.Trim(o, "0123456789") != "" {
		return 0, fmt.Errorf("journalstore: %q is not a chunk name (chunks/ and a 20-digit offset)", name)
	}
	off, err := strconv.ParseInt(o, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("journalstore: chunk %q: offset out of range", name)
	}
	return off, nil
}

// pieces lists a journal's objects.
func (s *Store) pieces(ctx context.Context, account, id string) ([]piece, error) {
	d := dir(account, id)
	objs, err := s.objs.List(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("journalstore: session %s: list: %w", id, err)
	}
	var ps []piece
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, d)
		if name == wholeName {
			ps = append(ps, piece{name: o.Key, size: o.Size})
			continue
		}
		off, err := parseChunkName(name)
		if err != nil {
			s.logf("journalstore: session %s: ignoring %s: %v", id, o.Key, err)
			continue
		}
		ps = append(ps, piece{name: o.Key, off: off, size: o.Size})
	}
	return ps, nil
}

// cover returns, in order, the pieces that cover the journal from byte
// from as far as they reach without a hole, and where they reach. Pieces
// past a hole make it an error (ErrGap): bytes that cannot be read.
func cover(ps []piece, from int64) (use []piece, end int64, err error) {
	end = from
	for {
		best := -1
		for i, p := range ps {
			if p.off <= end && p.end() > end && (best < 0 || p.end() > ps[best].end()) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		use = append(use, ps[best])
		end = ps[best].end()
	}
	for _, p := range ps {
		if p.off > end {
			return use, end, fmt.Errorf("%w: bytes %d to %d are missing, before %s", ErrGap, end, p.off, p.name)
		}
	}
	return use, end, nil
}

// Size returns how many bytes of the session's journal object storage
// holds without a hole.
func (s *Store) Size(ctx context.Context, account, id string) (int64, error) {
	ps, err := s.pieces(ctx, account, id)
	if err != nil {
		return 0, err
	}
	_, end, err := cover(ps, 0)
	return end, err
}

// Fetch makes the journal at path hold everything object storage holds of
// it, appending what the file lacks (creating it if missing), and reports
// how many bytes it appended. The file must not be written by anyone else
// meanwhile: callers fetch only journals this server does not relay. A
// file longer than what object storage holds (its tail not yet shipped) is
// left alone.
func (s *Store) Fetch(ctx context.Context, account, id, path string) (int64, error) {
	defer s.lock(id)()
	var size int64
	if fi, err := os.Stat(path); err == nil {
		size = fi.Size()
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	ps, err := s.pieces(ctx, account, id)
	if err != nil {
		return 0, err
	}
	use, end, err := cover(ps, size)
	if err != nil {
		return 0, fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	if end <= size {
		return 0, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	// All or nothing: a new file appears under its name only whole, and
	// a file that was there is cut back to where it was if the fetch
	// fails, so that nobody takes a half-fetched journal for a copy.
	target := path
	if size == 0 {
		target = path + ".fetching"
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	defer f.Close()
	if err := s.fetchInto(ctx, f, size, use); err != nil {
		if size == 0 {
			os.Remove(target)
		} else {
			f.Truncate(size)
		}
		return 0, fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	if target != path {
		if err := os.Rename(target, path); err != nil {
			return 0, fmt.Errorf("journalstore: session %s: %w", id, err)
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return 0, fmt.Errorf("journalstore: session %s: %w", id, err)
		}
	}
	return end - size, nil
}

// fetchInto writes the pieces' bytes from at on into f.
func (s *Store) fetchInto(ctx context.Context, f *os.File, at int64, use []piece) error {
	for _, p := range use {
		rc, err := s.objs.Get(ctx, p.name, at-p.off)
		if err != nil {
			return err
		}
		n, err := io.Copy(io.NewOffsetWriter(f, at), io.LimitReader(rc, p.end()-at))
		rc.Close()
		at += n
		if err == nil && at != p.end() {
			err = fmt.Errorf("%s ended at byte %d of %d", p.name, at-p.off, p.size)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", p.name, err)
		}
	}
	return nil
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete removes every object of the session's journal and its backlog
// marker (its logs were deleted).
func (s *Store) Delete(ctx context.Context, account, id string) error {
	defer s.lock(id)()
	ps, err := s.pieces(ctx, account, id)
	if err != nil {
		return err
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.name
	}
	if err := s.objs.Delete(ctx, names...); err != nil {
		return fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	if err := os.Remove(s.markerPath(account, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	return nil
}

// A marker says a journal is not wholly in object storage yet: it is
// written before the first byte is shipped, and removed once the whole
// file is (Shipper.Finish), so a server that stops in between finds it
// again (Backlog).
type marker struct {
	Account string `json:"account"`
	Session string `json:"session"`
	Path    string `json:"path"`
}

func (s *Store) markerPath(account, id string) string {
	h := sha256.Sum256([]byte(account + "/" + id))
	return filepath.Join(s.queue, hex.EncodeToString(h[:12])+".json")
}

func (s *Store) writeMarker(m marker) error {
	p := s.markerPath(m.Account, m.Session)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	b, _ := json.Marshal(m)
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync() // a marker that a power loss forgets is a journal never shipped
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err == nil {
		err = syncDir(s.queue)
	}
	return err
}

// markers lists the backlog's markers.
func (s *Store) markers() ([]marker, error) {
	es, err := os.ReadDir(s.queue)
	if err != nil {
		return nil, fmt.Errorf("journalstore: backlog: %w", err)
	}
	var ms []marker
	for _, e := range es {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.queue, e.Name()))
		if err != nil {
			continue
		}
		var m marker
		if json.Unmarshal(b, &m) != nil || m.Account == "" || m.Session == "" || m.Path == "" {
			s.logf("journalstore: backlog: ignoring unreadable marker %s", e.Name())
			continue
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// Shipper copies one journal to object storage as it grows. One
// goroutine at a time calls Ship and Finish (the session's committer).
type Shipper struct {
	st                *Store
	account, id, path string

	mu       sync.Mutex // guards the fields below
	f        *os.File   // the journal, for reading; opened at the first Ship
	finished bool       // Finish or Close began: Ship refuses
	known    bool       // off is known (a new journal, or listed)
	off      int64      // bytes of the file in object storage
	seq      uint64     // last record in object storage, as far as known
}

// Shipper returns the shipper of the journal at path and puts the
// journal on the backlog until Finish. fresh says the journal is new, so
// nothing of it is stored yet; otherwise (a session a restarted server
// took up) the first Ship lists what is, and goes on after it. It does
// not touch object storage, so that a session starts while it is
// unreachable. A resumed shipper does not know the last record shipped
// (sealed frames do not show it) until its first Ship: Shipped reports 0
// until then.
func (s *Store) Shipper(account, id, path string, fresh bool) *Shipper {
	sh := &Shipper{st: s, account: account, id: id, path: path, known: fresh}
	// Live before the marker exists, so the backlog never takes the
	// journal for a finished one.
	s.mu.Lock()
	s.live[id] = sh
	s.mu.Unlock()
	if err := s.writeMarker(marker{Account: account, Session: id, Path: path}); err != nil {
		// Shipping goes on; only a restart before it is done would
		// not know to finish it.
		s.logf("journalstore: session %s: backlog marker: %v", id, err)
	}
	return sh
}

// Shipped returns the last record object storage holds, and how many
// bytes of the file.
func (sh *Shipper) Shipped() (seq uint64, size int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.seq, sh.off
}

// Ship stores the file's bytes up to size, which end with record seq and
// must be durable whole frames (recording.Journal.Durable says both).
func (sh *Shipper) Ship(ctx context.Context, seq uint64, size int64) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.finished {
		return fmt.Errorf("journalstore: session %s: %w", sh.id, ErrFinished)
	}
	if !sh.known {
		ps, err := sh.st.pieces(ctx, sh.account, sh.id)
		if err != nil {
			return err
		}
		if _, sh.off, err = cover(ps, 0); err != nil {
			return fmt.Errorf("journalstore: session %s: %w", sh.id, err)
		}
		sh.known = true
	}
	if size <= sh.off {
		sh.seq = max(sh.seq, seq)
		return nil
	}
	if sh.f == nil {
		f, err := os.Open(sh.path)
		if err != nil {
			return fmt.Errorf("journalstore: session %s: %w", sh.id, err)
		}
		sh.f = f
	}
	// A long stretch (shipping caught up after an outage) goes in
	// chunks of at most MaxChunk, cut where frames end, so that every
	// chunk ends a frame: a server that fetches the journal finds whole
	// frames however many chunks it got. The record a cut falls after
	// is not readable from sealed frames, so Shipped stays at the last
	// one known until the stretch is stored: less than the truth, which
	// only acknowledges less, for a moment.
	for size-sh.off > MaxChunk {
		end, err := recording.FrameBoundary(sh.f, sh.off, sh.off+MaxChunk)
		if err != nil {
			return fmt.Errorf("journalstore: session %s: %w", sh.id, err)
		}
		if end == sh.off {
			break // one frame longer than MaxChunk: it goes whole
		}
		if err := sh.putLocked(ctx, end, sh.seq); err != nil {
			return err
		}
	}
	return sh.putLocked(ctx, size, seq)
}

// putLocked stores [sh.off, end) as one chunk. sh.mu must be held.
func (sh *Shipper) putLocked(ctx context.Context, end int64, seq uint64) error {
	body := make([]byte, end-sh.off)
	if _, err := sh.f.ReadAt(body, sh.off); err != nil {
		return fmt.Errorf("journalstore: session %s: read the journal: %w", sh.id, err)
	}
	name := dir(sh.account, sh.id) + chunkName(sh.off)
	err := sh.st.objs.PutNew(ctx, name, body)
	if errors.Is(err, s3logs.ErrObjectExists) {
		// A retry of a put whose answer was lost wrote these bytes
		// already; anything else there is another writer's.
		if same, cerr := sh.sameAs(ctx, name, body); cerr != nil {
			return fmt.Errorf("journalstore: session %s: %w", sh.id, cerr)
		} else if !same {
			return fmt.Errorf("journalstore: session %s: %s: %w", sh.id, name, ErrConflict)
		}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("journalstore: session %s: %w", sh.id, err)
	}
	sh.off, sh.seq = end, max(sh.seq, seq)
	return nil
}

// sameAs reports whether the object name holds exactly body.
func (sh *Shipper) sameAs(ctx context.Context, name string, body []byte) (bool, error) {
	rc, err := sh.st.objs.Get(ctx, name, 0)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	got, err := io.ReadAll(io.LimitReader(rc, int64(len(body))+1))
	if err != nil {
		return false, err
	}
	return string(got) == string(body), nil
}

// Finish stores the whole journal as one object, now that it is complete
// (closed), deletes its chunks and takes it off the backlog. If it fails,
// the journal stays on the backlog and Backlog's caller retries.
func (sh *Shipper) Finish(ctx context.Context) error {
	sh.mu.Lock() // after a Ship in flight, whose chunk finish then lists
	sh.finished = true
	if sh.f != nil {
		sh.f.Close()
		sh.f = nil
	}
	sh.mu.Unlock()
	err := sh.st.finish(ctx, sh.account, sh.id, sh.path)
	if err == nil {
		sh.mu.Lock()
		if fi, serr := os.Stat(sh.path); serr == nil {
			sh.off = fi.Size()
		}
		sh.mu.Unlock()
	}
	sh.Close()
	return err
}

// Close lets go of the shipper without finishing: the journal stays on
// the backlog (the server is stopping, say, and a restart resumes it).
func (sh *Shipper) Close() {
	sh.mu.Lock()
	sh.finished = true
	if sh.f != nil {
		sh.f.Close()
		sh.f = nil
	}
	sh.mu.Unlock()
	sh.st.mu.Lock()
	if sh.st.live[sh.id] == sh {
		delete(sh.st.live, sh.id)
	}
	sh.st.mu.Unlock()
}

// Abandon lets go of the journal for another server, which ships it from
// now on: as Close, and the journal leaves this server's backlog, so that
// nothing here ever stores it whole over what the other wrote since.
func (sh *Shipper) Abandon() error {
	// The marker goes first, under the session's lock: the backlog,
	// which takes the lock to finish a journal and skips live ones,
	// never sees this one unmarked and not live.
	err := sh.st.Forget(sh.account, sh.id)
	sh.Close()
	return err
}

// Forget takes a session's journal off this server's backlog: another
// server writes it.
func (s *Store) Forget(account, id string) error {
	defer s.lock(id)()
	if err := os.Remove(s.markerPath(account, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	return nil
}

func (s *Store) finish(ctx context.Context, account, id, path string) error {
	defer s.lock(id)()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		// Its logs were deleted: nothing is owed.
		os.Remove(s.markerPath(account, id))
		return nil
	}
	if err != nil {
		return fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	ps, err := s.pieces(ctx, account, id)
	if err != nil {
		return err
	}
	// What object storage holds must be this file's beginning, byte for
	// byte: if another server relayed the session on after this one lost
	// it, the two differ from where they parted, and this file must not
	// replace the other's.
	use, end, err := cover(ps, 0)
	if err != nil {
		return fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	if end > fi.Size() {
		return fmt.Errorf("journalstore: session %s: %w: object storage holds %d bytes of it, this server's file %d", id, ErrConflict, end, fi.Size())
	}
	if err := s.samePrefix(ctx, f, use); err != nil {
		return fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	if err := s.objs.PutFile(ctx, dir(account, id)+wholeName, f); err != nil {
		return fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	var chunks []string
	for _, p := range ps {
		if p.name != dir(account, id)+wholeName {
			chunks = append(chunks, p.name)
		}
	}
	if err := s.objs.Delete(ctx, chunks...); err != nil {
		// The whole file is stored; the chunks are only redundant.
		s.logf("journalstore: session %s: deleting its chunks: %v", id, err)
	}
	if err := os.Remove(s.markerPath(account, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journalstore: session %s: %w", id, err)
	}
	return nil
}

// samePrefix checks that the pieces hold f's bytes where they say.
func (s *Store) samePrefix(ctx context.Context, f *os.File, use []piece) error {
	var at int64
	buf, mine := make([]byte, 64<<10), make([]byte, 64<<10)
	for _, p := range use {
		rc, err := s.objs.Get(ctx, p.name, at-p.off)
		if err != nil {
			return err
		}
		r := io.LimitReader(rc, p.end()-at)
		for {
			n, rerr := io.ReadFull(r, buf)
			if n > 0 {
				if _, err := f.ReadAt(mine[:n], at); err != nil {
					rc.Close()
					return fmt.Errorf("read the journal: %w", err)
				}
				if !bytes.Equal(buf[:n], mine[:n]) {
					rc.Close()
					return fmt.Errorf("%w: %s differs from this server's file at byte %d", ErrConflict, p.name, at)
				}
				at += int64(n)
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				break
			}
			if rerr != nil {
				rc.Close()
				return fmt.Errorf("read %s: %w", p.name, rerr)
			}
		}
		rc.Close()
		if at != p.end() {
			return fmt.Errorf("%s ended at byte %d of %d", p.name, at-p.off, p.size)
		}
	}
	return nil
}

// Pending is the backlog: journals not wholly in object storage, and the
// bytes of them that are not there yet.
type Pending struct {
	Journals int
	Bytes    int64
}

// Pending returns the backlog as it stands: the live shippers' unshipped
// bytes and the other markers' whole files.
func (s *Store) Pending() Pending {
	ms, err := s.markers()
	if err != nil {
		return Pending{}
	}
	var p Pending
	for _, m := range ms {
		var size int64
		if fi, err := os.Stat(m.Path); err == nil {
			size = fi.Size()
		}
		s.mu.Lock()
		sh := s.live[m.Session]
		s.mu.Unlock()
		if sh != nil {
			_, off := sh.Shipped()
			size -= off
		}
		p.Journals++
		p.Bytes += max(size, 0)
	}
	return p
}

// ShipBacklog stores every journal on the backlog that no Shipper is
// shipping (closed journals of sessions that ended while object storage
// was unreachable, or before a restart), and returns what failed.
func (s *Store) ShipBacklog(ctx context.Context) error {
	ms, err := s.markers()
	if err != nil {
		return err
	}
	slices.SortFunc(ms, func(a, b marker) int { return strings.Compare(a.Session, b.Session) })
	var errs []error
	for _, m := range ms {
		s.mu.Lock()
		live := s.live[m.Session] != nil
		s.mu.Unlock()
		if live {
			continue
		}
		err := s.finish(ctx, m.Account, m.Session, m.Path)
		if errors.Is(err, ErrConflict) {
			// Retrying cannot help: another server's recording of the
			// session differs from this one's. Kept aside, once.
			q := s.markerPath(m.Account, m.Session)
			if rerr := os.Rename(q, strings.TrimSuffix(q, ".json")+".conflict"); rerr == nil {
				s.logf("journalstore: session %s: ALARM: this server's journal %s differs from the one in object storage, which another server wrote; it is not shipped (kept, with its marker as %s.conflict)", m.Session, m.Path, strings.TrimSuffix(q, ".json"))
			}
			continue
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RunBacklog ships the backlog every interval until ctx ends. Start it
// after the server has a Shipper for each session it relays, whose
// journals are not complete.
func (s *Store) RunBacklog(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.ShipBacklog(ctx); err != nil && ctx.Err() == nil {
			s.logf("journalstore: recordings still to ship to object storage: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
