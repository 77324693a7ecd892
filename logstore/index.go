package logstore

import (
	"container/list"
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// The full-text index: each group's events, segmentEvents at a time in the
// order the store took them, are indexed into a segment (segment.go) by a
// goroutine the Store owns, behind the writers. A query visits the group's
// segments, fetches only the events that may match, and scans what is not
// indexed yet as before, so results never depend on the index being up to
// date, only their speed does.

// segmentCacheBytes bounds the decoded segments a Store keeps.
const segmentCacheBytes = 64 << 20

// fetchBatch is how many candidate events one statement fetches.
const fetchBatch = 500

// indexLoop indexes whatever is pending whenever poked, until ctx ends.
func (s *Store) indexLoop(ctx context.Context) {
	defer close(s.indexDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.indexPoke:
		}
		if err := s.indexPending(ctx); err != nil && ctx.Err() == nil {
			s.logf("logstore: indexing: %v", err)
		}
	}
}

// noteWritten counts n events written to the group since its last segment
// and wakes the indexer once they fill one.
func (s *Store) noteWritten(groupID int64, n int) {
	s.pendingMu.Lock()
	s.pending[groupID] += n
	full := s.pending[groupID] >= s.segmentSize
	s.pendingMu.Unlock()
	if full {
		s.pokeIndexer()
	}
}

// pokeIndexer wakes the indexer.
func (s *Store) pokeIndexer() {
	select {
	case s.indexPoke <- struct{}{}:
	default:
	}
}

// indexPending writes a segment for every run of segmentSize unindexed
// events of every group.
//
// Which groups to look at comes from counts kept in memory (noteWritten),
// since counting a group's unindexed events in the database for every write
// would cost the writers about as much as the indexing. The counts may run
// high (deleted events, a write counted twice while the indexer recounts),
// which costs a recount, never low, which would leave events unindexed.
func (s *Store) indexPending(ctx context.Context) error {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	for {
		s.pendingMu.Lock()
		var groups []int64
		for g, n := range s.pending {
			if n >= s.segmentSize {
				groups = append(groups, g)
			}
		}
		s.pendingMu.Unlock()
		if len(groups) == 0 {
			return nil
		}
		slices.Sort(groups)
		for _, g := range groups {
			if err := s.indexNext(ctx, g); err != nil {
				return fmt.Errorf("group %d: %w", g, err)
			}
		}
	}
}

// indexNext writes the group's next segment if its events after the last
// segment number segmentSize or more, and recounts what is left.
func (s *Store) indexNext(ctx context.Context, groupID int64) error {
	s.pendingMu.Lock()
	before := s.pending[groupID]
	s.pendingMu.Unlock()
	recount := func(n int) {
		s.pendingMu.Lock()
		s.pending[groupID] += n - before
		s.pendingMu.Unlock()
	}
	covered, err := s.indexedUpTo(ctx, s.db, groupID)
	if err != nil {
		return err
	}
	aead, err := s.sealer(ctx, s.db, groupID)
	if errors.Is(err, ErrNotFound) {
		// Gone since it was counted.
		s.pendingMu.Lock()
		delete(s.pending, groupID)
		s.pendingMu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	// The events are read first and indexed after, so that the
	// connection, which the writers share, is not held while tokenizing.
	rows, err := s.db.QueryContext(ctx, `
		SELECT id, message, sealed FROM log_events INDEXED BY events_group
		WHERE group_id = ? AND id > ? ORDER BY id LIMIT ?`, groupID, covered, s.segmentSize)
	type idMsg struct {
		id     int64
		msg    string
		sealed []byte
	}
	evs, err := collect(rows, err, func(row scanner) (idMsg, error) {
		var e idMsg
		return e, row.Scan(&e.id, &e.msg, &e.sealed)
	})
	if err != nil {
		return err
	}
	if len(evs) < s.segmentSize {
		recount(len(evs))
		return nil
	}
	b := newSegmentBuilder()
	for _, e := range evs {
		msg, err := messageOf(aead, groupID, e.msg, e.sealed)
		if err != nil {
			return fmt.Errorf("event %d: %w", e.id, err)
		}
		b.add(e.id, msg)
	}
	gone, err := s.addSegment(ctx, groupID, b.ids[0], b.ids[len(b.ids)-1], len(b.ids), sealSegment(aead, groupID, b.encode()))
	if err != nil {
		return err
	}
	if gone {
		s.pendingMu.Lock()
		delete(s.pending, groupID)
		s.pendingMu.Unlock()
		return nil
	}
	// What is left is counted on the next round.
	s.pendingMu.Lock()
	s.pending[groupID] -= s.segmentSize
	s.pending[groupID] = max(s.pending[groupID], s.segmentSize)
	s.pendingMu.Unlock()
	return nil
}

// addSegment stores the segment data of the group's n events first..last,
// unless the group is gone (gone), or some of those events are (deleted
// while they were read: the next round reads what is left), or another
// server stored the same segment first (the unique first_id).
func (s *Store) addSegment(ctx context.Context, groupID, first, last int64, n int, data []byte) (gone bool, err error) {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer t.Rollback()
	if err := lockIndex(ctx, t, groupID); err != nil {
		return false, err
	}
	var exists bool
	var held int
	err = t.QueryRowContext(ctx, `
		SELECT EXISTS (SELECT 1 FROM log_groups WHERE id = ?),
			(SELECT COUNT(*) FROM log_events INDEXED BY events_group WHERE group_id = ? AND id BETWEEN ? AND ?)`,
		groupID, groupID, first, last).Scan(&exists, &held)
	if err != nil || !exists || held != n {
		return !exists, err
	}
	if _, err := t.ExecContext(ctx, `
		INSERT INTO index_segments (group_id, first_id, last_id, data) VALUES (?, ?, ?, ?)
		ON CONFLICT (group_id, first_id) DO NOTHING`,
		groupID, first, last, data); err != nil {
		return false, err
	}
	return false, t.Commit()
}

// indexedUpTo returns the last event ID the group's segments cover.
func (s *Store) indexedUpTo(ctx context.Context, q querier, groupID int64) (int64, error) {
	var last int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(last_id), 0) FROM index_segments WHERE group_id = ?`, groupID).Scan(&last)
	return last, err
}

// IndexIdle waits until the indexer has indexed every full segment's worth of
// events written before the call, or ctx ends. Benchmarks and tests use it;
// queries do not need it.
func (s *Store) IndexIdle(ctx context.Context) error {
	if err := s.indexPending(ctx); err != nil {
		return fmt.Errorf("logstore: indexing: %w", err)
	}
	return nil
}

// reindex rebuilds the group's segments that overlap the IDs lo..hi from
// the events they still cover, so that deleted events leave no words in the
// index. The caller holds indexMu.
func (s *Store) reindex(ctx context.Context, groupID, lo, hi int64) error {
	rows, err := s.db.QueryContext(ctx, `
		SELECT id, first_id, last_id FROM index_segments
		WHERE group_id = ? AND last_id >= ? AND first_id <= ?`, groupID, lo, hi)
	segs, err := collect(rows, err, func(row scanner) (segmentRef, error) {
		var sr segmentRef
		return sr, row.Scan(&sr.id, &sr.first, &sr.last)
	})
	if err != nil {
		return err
	}
	aead, err := s.sealer(ctx, s.db, groupID)
	if err != nil {
		return err
	}
	for _, sr := range segs {
		rows, err := s.db.QueryContext(ctx, `
			SELECT id, message, sealed FROM log_events INDEXED BY events_group
			WHERE group_id = ? AND id BETWEEN ? AND ? ORDER BY id`, groupID, sr.first, sr.last)
		b := newSegmentBuilder()
		_, err = collect(rows, err, func(row scanner) (struct{}, error) {
			var id int64
			var msg string
			var sealed []byte
			if err := row.Scan(&id, &msg, &sealed); err != nil {
				return struct{}{}, err
			}
			if msg, err = messageOf(aead, groupID, msg, sealed); err != nil {
				return struct{}{}, fmt.Errorf("event %d: %w", id, err)
			}
			b.add(id, msg)
			return struct{}{}, nil
		})
		if err != nil {
			return err
		}
		var data []byte
		if len(b.ids) > 0 {
			data = sealSegment(aead, groupID, b.encode())
		}
		if err := s.replaceSegment(ctx, groupID, sr, data); err != nil {
			return err
		}
		s.segs.remove(sr.id)
	}
	return nil
}

// replaceSegment replaces the segment sr of the group by data, over the
// same range, or deletes it if data is nil. The rebuilt segment takes a
// new ID: other servers (PostgreSQL) may hold the old one decoded in
// their caches, which must not be consulted for it again.
func (s *Store) replaceSegment(ctx context.Context, groupID int64, sr segmentRef, data []byte) error {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer t.Rollback()
	if err := lockIndex(ctx, t, groupID); err != nil {
		return err
	}
	if _, err := t.ExecContext(ctx, `DELETE FROM index_segments WHERE id = ?`, sr.id); err != nil {
		return err
	}
	if data != nil {
		if _, err := t.ExecContext(ctx, `INSERT INTO index_segments (group_id, first_id, last_id, data) VALUES (?, ?, ?, ?)`,
			groupID, sr.first, sr.last, data); err != nil {
			return err
		}
	}
	return t.Commit()
}

// dropEmptySegments deletes the segments none of whose events are left.
func (s *Store) dropEmptySegments(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `
		DELETE FROM index_segments WHERE NOT EXISTS (
			SELECT 1 FROM log_events e INDEXED BY events_group
			WHERE e.group_id = index_segments.group_id
				AND e.id BETWEEN index_segments.first_id AND index_segments.last_id)`)
	return err
}

// segmentRef is a segment's row.
type segmentRef struct{ id, first, last int64 }

// segment returns the decoded segment of row id, from the cache if there.
func (s *Store) segment(ctx context.Context, id int64, sp readSpec) (*segment, error) {
	if seg := s.segs.get(id); seg != nil {
		return seg, nil
	}
	var data []byte
	if err := s.db.QueryRowContext(ctx, `SELECT data FROM index_segments WHERE id = ?`, id).Scan(&data); err != nil {
		return nil, err
	}
	if sp.aead != nil {
		var err error
		if data, err = unseal(sp.aead, "segment", sp.groupID, data); err != nil {
			return nil, fmt.Errorf("segment %d: %w: %w", id, errSegment, err)
		}
	}
	seg, err := decodeSegment(data)
	if err != nil {
		return nil, fmt.Errorf("segment %d: %w", id, err)
	}
	s.segs.put(id, seg)
	return seg, nil
}

// segmentCache is a least-recently-used cache of decoded segments, bounded
// by their size.
type segmentCache struct {
	max int
	mu  sync.Mutex // guards the fields below
	ll  *list.List // of *cacheEntry, most recent first
	m   map[int64]*list.Element
	n   int // bytes held
}

type cacheEntry struct {
	id  int64
	seg *segment
}

func newSegmentCache(max int) *segmentCache {
	return &segmentCache{max: max, ll: list.New(), m: make(map[int64]*list.Element)}
}

func (c *segmentCache) get(id int64) *segment {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*cacheEntry).seg
	}
	return nil
}

func (c *segmentCache) remove(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		c.ll.Remove(e)
		delete(c.m, id)
		c.n -= e.Value.(*cacheEntry).seg.size
	}
}

func (c *segmentCache) put(id int64, seg *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; ok || seg.size > c.max {
		return
	}
	c.m[id] = c.ll.PushFront(&cacheEntry{id, seg})
	c.n += seg.size
	for c.n > c.max {
		e := c.ll.Back()
		ce := e.Value.(*cacheEntry)
		c.ll.Remove(e)
		delete(c.m, ce.id)
		c.n -= ce.seg.size
	}
}

// ReadOptions says which of a group's events ReadGroup reads, and what of
// them. The zero value reads every event and all of it.
type ReadOptions struct {
	// After skips events with IDs up to it.
	After int64
	// AnyOf skips events that do not hold, for each list, one of its
	// strings, as GroupEventsContaining describes (logquery's
	// MessageLiterals).
	AnyOf [][]string
	// Since and Until, when not zero, skip events whose Time is before
	// or after them.
	Since, Until time.Time
	// NoTime, NoIngested and NoStream leave Time, Ingested and Stream
	// zero: reading less is faster (logquery's Fields says what a
	// query reads).
	NoTime, NoIngested, NoStream bool
}

// QueryOptions returns the ReadOptions of a query (package logquery) over
// [since, until] that reads fields (its Fields: @timestamp, @ingestionTime,
// @logStream, @message and JSON paths) and needs the literals anyOf (its
// MessageLiterals).
func QueryOptions(fields []string, anyOf [][]string, since, until time.Time) ReadOptions {
	return ReadOptions{
		AnyOf:      anyOf,
		Since:      since,
		Until:      until,
		NoTime:     !slices.Contains(fields, "@timestamp"),
		NoIngested: !slices.Contains(fields, "@ingestionTime"),
		NoStream:   !slices.Contains(fields, "@logStream"),
	}
}

// readSpec is what the reading statements need of ReadOptions.
type readSpec struct {
	groupID        int64
	aead           cipher.AEAD // the group's key; nil for a group in the clear
	cols           string      // select list: id, time, ingested, message or sealed, stream_id, or NULLs
	timeLo, timeHi int64       // unix ms, inclusive
	// wide: the group holds most of the store's events, so reading the
	// table in ID order costs less than going through events_group.
	wide bool
}

// spec is what reading the group takes: aead is its key, nil for a group in
// the clear, whose messages are then read from message instead of sealed.
func (o ReadOptions) spec(groupID int64, aead cipher.AEAD) readSpec {
	col := func(omit bool, name string) string {
		if omit {
			return "NULL"
		}
		return name
	}
	msg := "message"
	if aead != nil {
		msg = "sealed"
	}
	sp := readSpec{
		groupID: groupID,
		aead:    aead,
		cols:    "id, " + col(o.NoTime, "time") + ", " + col(o.NoIngested, "ingested") + ", " + msg + ", " + col(o.NoStream, "stream_id"),
		timeLo:  math.MinInt64,
		timeHi:  math.MaxInt64,
	}
	if !o.Since.IsZero() {
		sp.timeLo = o.Since.UnixMilli()
	}
	if !o.Until.IsZero() {
		sp.timeHi = o.Until.UnixMilli()
	}
	return sp
}

// GroupReader reads an account's group in the order the store took its
// events, as queries do (see ReadOptions). The indexed part of the group is
// read through the index.
//
// A goroutine reads ahead a few pages while the caller works through the
// current one; Close stops it.
type GroupReader struct {
	s              *Store
	ctx            context.Context
	account, group string
	opts           ReadOptions

	// Read and written by the reading goroutine only, once started.
	plan    textPlan // nil: the literals give the index nothing to use
	started bool
	spec    readSpec
	after   int64
	segs    []segmentRef     // segments still to visit
	pending []int64          // candidates of the current segment still to fetch
	scanTo  int64            // if not 0, the segment being scanned instead ends here
	streams map[int64]string // stream names by ID
	page    []Event
	done    bool

	running bool
	pages   chan []Event
	stop    context.CancelFunc
	stopped chan struct{} // closed when the reading goroutine has returned
	err     error         // set by the reading goroutine before it closes pages
	cur     []Event       // the page being handed out
	closed  bool
}

// readAhead is how many pages a GroupReader reads ahead of its caller.
const readAhead = 4

// ReadGroup returns a reader of the account's group. Call Close when done
// with it.
func (s *Store) ReadGroup(ctx context.Context, account, group string, opts ReadOptions) *GroupReader {
	plan, _ := planText(opts.AnyOf)
	return &GroupReader{s: s, ctx: ctx, account: account, group: group, opts: opts, after: opts.After, plan: plan}
}

// Next returns the next event, or false at the end or on an error (Err).
func (r *GroupReader) Next() (Event, bool) {
	if !r.running {
		r.running = true
		ctx, cancel := context.WithCancel(r.ctx)
		r.stop = cancel
		r.pages = make(chan []Event, readAhead)
		r.stopped = make(chan struct{})
		go r.read(ctx)
	}
	for len(r.cur) == 0 {
		p, ok := <-r.pages
		if !ok {
			return Event{}, false
		}
		r.cur = p
	}
	e := r.cur[0]
	r.cur = r.cur[1:]
	return e, true
}

// read sends pages until the end, an error or Close.
func (r *GroupReader) read(ctx context.Context) {
	defer close(r.stopped)
	defer close(r.pages)
	r.ctx = ctx
	for !r.done {
		if err := r.fill(); err != nil {
			r.err = fmt.Errorf("logstore: get events of %s: %w", r.group, err)
			return
		}
		if len(r.page) == 0 {
			continue
		}
		select {
		case r.pages <- r.page:
			r.page = nil
		case <-ctx.Done():
			r.err = fmt.Errorf("logstore: get events of %s: %w", r.group, ctx.Err())
			return
		}
	}
}

// Err is the error that ended the reading, if any. Call it after Next
// returned false.
func (r *GroupReader) Err() error { return r.err }

// Close stops reading ahead. The reader returns no more events.
func (r *GroupReader) Close() {
	if r.closed {
		return
	}
	r.closed = true
	if r.running {
		r.stop()
		<-r.stopped
		for range r.pages {
		}
	} else {
		r.running = true
		r.pages = make(chan []Event)
		close(r.pages)
	}
	r.cur = nil
}

// fill reads the next page: candidates of the current segment, the next
// segment's, or past the segments, the next page of the rest. It may leave
// the page empty, to be called again.
func (r *GroupReader) fill() error {
	ctx := r.ctx
	if !r.started {
		r.started = true
		id, err := lookupGroup(ctx, r.s.db, r.account, r.group)
		if err != nil {
			return err
		}
		aead, err := r.s.sealer(ctx, r.s.db, id)
		if err != nil {
			return err
		}
		r.spec = r.opts.spec(id, aead)
		var mine, all int64
		if err := r.s.db.QueryRowContext(ctx, `
			SELECT COALESCE(SUM(CASE WHEN group_id = ? THEN events END), 0), COALESCE(SUM(events), 0)
			FROM log_streams`, id).Scan(&mine, &all); err != nil {
			return err
		}
		r.spec.wide = 2*mine >= all
		r.streams = make(map[int64]string)
		if r.plan != nil {
			rows, err := r.s.db.QueryContext(ctx, `
				SELECT id, first_id, last_id FROM index_segments
				WHERE group_id = ? AND last_id > ? ORDER BY first_id`, id, r.after)
			r.segs, err = collect(rows, err, func(row scanner) (segmentRef, error) {
				var sr segmentRef
				return sr, row.Scan(&sr.id, &sr.first, &sr.last)
			})
			if err != nil {
				return err
			}
		}
	}
	if r.scanTo > 0 {
		page, err := r.s.groupEvents(ctx, r.spec, r.after, r.scanTo, 0, r.opts.AnyOf, r.streams)
		if err != nil {
			return err
		}
		r.page = page
		if len(page) == 0 || page[len(page)-1].ID >= r.scanTo {
			r.after, r.scanTo = max(r.after, r.scanTo), 0
		} else {
			r.after = page[len(page)-1].ID
		}
		return nil
	}
	if len(r.pending) > 0 {
		n := min(fetchBatch, len(r.pending))
		page, err := r.s.eventsByID(ctx, r.spec, r.pending[:n], r.streams)
		r.pending = r.pending[n:]
		r.page = page
		return err
	}
	if len(r.segs) > 0 {
		sr := r.segs[0]
		r.segs = r.segs[1:]
		seg, err := r.s.segment(ctx, sr.id, r.spec)
		if errors.Is(err, errSegment) {
			// A damaged index must not lose events: read the range.
			r.s.logf("logstore: group %s: %v; reading its events without the index", r.group, err)
			r.scanTo = sr.last
			return nil
		}
		if err != nil {
			return err
		}
		cand := seg.candidates(r.plan)
		if cand.count() > len(seg.ids)/4 {
			// Fetching one by one would cost more than reading the
			// segment's range.
			r.scanTo = sr.last
			return nil
		}
		for w, word := range cand {
			for word != 0 {
				b := bits.TrailingZeros64(word)
				word &= word - 1
				if id := seg.ids[w*64+b]; id > r.after {
					r.pending = append(r.pending, id)
				}
			}
		}
		r.after = max(r.after, sr.last)
		return nil
	}
	page, err := r.s.groupEvents(ctx, r.spec, r.after, 0, defaultEventsLimit, r.opts.AnyOf, r.streams)
	if err != nil {
		return err
	}
	if len(page) == 0 {
		r.done = true
		return nil
	}
	r.page = page
	r.after = page[len(page)-1].ID
	return nil
}

// eventsByID returns the group's events of ids (increasing) that still exist
// and are in the spec's time range. The IDs are looked up in the table
// itself (the unary + keeps SQLite from going through events_group, a second
// lookup per event).
func (s *Store) eventsByID(ctx context.Context, sp readSpec, ids []int64, names map[int64]string) ([]Event, error) {
	stmt, err := s.fetchStmt(ctx, sp.cols)
	if err != nil {
		return nil, err
	}
	// One statement of fetchBatch IDs, prepared once; IDs past the end
	// are 0, which no event has.
	args := make([]any, fetchBatch, fetchBatch+3)
	for i := range fetchBatch {
		args[i] = int64(0)
		if i < len(ids) {
			args[i] = ids[i]
		}
	}
	args = append(args, sp.groupID, sp.timeLo, sp.timeHi)
	rows, err := stmt.QueryContext(ctx, args...)
	return s.withStreams(ctx, sp, rows, err, names)
}

// arenaSize is the size of the arenas a page's messages are read into.
const arenaSize = 256 << 10

// withStreams reads rows of sp.cols into events, opening sealed messages
// and naming their streams from names, which it fills as needed: cheaper
// than a join for every row, since a group has few streams next to its
// events.
func (s *Store) withStreams(ctx context.Context, sp readSpec, rows *sql.Rows, err error, names map[int64]string) ([]Event, error) {
	type row struct {
		e      Event
		stream sql.NullInt64 // NULL when not asked for
	}
	var raw sql.RawBytes // valid until the next row: opened or copied at once
	// Messages are opened (or copied) into arenas shared by a page's
	// events, each message a string over its part: a reader of a million
	// events makes a thousand allocations for them, not a million, which
	// is the garbage collector's work on a full scan. Nothing writes an
	// arena's bytes once a string covers them.
	var arena []byte
	aad := sealAAD("event", sp.groupID)
	es, err := collect(rows, err, func(sc scanner) (row, error) {
		var r row
		if err := sc.Scan(&r.e.ID, msTime{&r.e.Time}, msTime{&r.e.Ingested}, &raw, &r.stream); err != nil {
			return r, err
		}
		if cap(arena)-len(arena) < len(raw) {
			arena = make([]byte, 0, max(arenaSize, len(raw)))
		}
		msg := arena[len(arena):len(arena)]
		if sp.aead == nil {
			msg = append(msg, raw...)
		} else {
			if len(raw) < sealOverhead {
				return r, fmt.Errorf("event %d: %w", r.e.ID, errTampered)
			}
			var err error
			if msg, err = sp.aead.Open(msg, raw[:12], raw[12:], aad); err != nil {
				return r, fmt.Errorf("event %d: %w", r.e.ID, errTampered)
			}
		}
		arena = arena[:len(arena)+len(msg)]
		r.e.Message = unsafe.String(unsafe.SliceData(msg), len(msg))
		return r, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(es))
	for i, r := range es {
		if !r.stream.Valid {
			out[i] = r.e
			continue
		}
		name, ok := names[r.stream.Int64]
		if !ok {
			if err := s.db.QueryRowContext(ctx, `SELECT name FROM log_streams WHERE id = ?`, r.stream.Int64).Scan(&name); err != nil {
				return nil, err
			}
			names[r.stream.Int64] = name
		}
		r.e.Stream = name
		out[i] = r.e
	}
	return out, nil
}

// fetchStmt returns the statement eventsByID runs for a select list,
// preparing it once.
func (s *Store) fetchStmt(ctx context.Context, cols string) (*sql.Stmt, error) {
	return s.stmt(ctx, `
		SELECT `+cols+` FROM log_events
		WHERE id IN (?`+strings.Repeat(`, ?`, fetchBatch-1)+`) AND +group_id = ? AND time BETWEEN ? AND ?
		ORDER BY id`)
}

// stmt returns query prepared on the database, once for the Store's life:
// a statement run often (a fetch of events, the inserts of PutEvents)
// costs a parse of its SQL each time otherwise, which was a quarter of
// PutEvents' CPU. Inside a transaction use tx.StmtContext with it, and
// call stmt before the transaction begins: the database has one
// connection, which the transaction holds.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	if stmt, ok := s.fetch[query]; ok {
		return stmt, nil
	}
	stmt, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.fetch[query] = stmt
	return stmt, nil
}

// groupEvents returns up to limit events of the spec's group with IDs
// greater than after and, unless upTo is 0, at most upTo, in its time range,
// whose message passes anyOf as GroupEventsContaining describes. It returns
// no events only at the end.
func (s *Store) groupEvents(ctx context.Context, sp readSpec, after, upTo int64, limit int, anyOf [][]string, names map[int64]string) ([]Event, error) {
	if limit <= 0 {
		limit = defaultEventsLimit
	}
	q := `SELECT ` + sp.cols + ` FROM log_events INDEXED BY events_group WHERE group_id = ? AND id > ?`
	if sp.wide {
		q = `SELECT ` + sp.cols + ` FROM log_events NOT INDEXED WHERE +group_id = ? AND id > ?`
	}
	var args []any
	if upTo > 0 {
		q += ` AND id <= ?`
		args = append(args, upTo)
	}
	if sp.timeLo != math.MinInt64 {
		q += ` AND time >= ?`
		args = append(args, sp.timeLo)
	}
	if sp.timeHi != math.MaxInt64 {
		q += ` AND time <= ?`
		args = append(args, sp.timeHi)
	}
	// SQLite reads messages in the clear and skips those without the
	// literals itself; sealed ones are opened and checked here.
	for _, lits := range anyOf {
		// A literal of a byte or two is in most messages; checking it
		// would cost more than handing them over.
		if sp.aead != nil || len(lits) == 0 || slices.ContainsFunc(lits, func(l string) bool { return len(l) < 3 }) {
			continue
		}
		q += ` AND (instr(message, '\') > 0`
		for _, l := range lits {
			q += ` OR instr(message, ?) > 0`
			args = append(args, l)
		}
		q += `)`
	}
	q += ` ORDER BY id LIMIT ?`
	for {
		rows, err := s.db.QueryContext(ctx, q, append([]any{sp.groupID, after}, append(args, limit)...)...)
		page, err := s.withStreams(ctx, sp, rows, err, names)
		if err != nil || sp.aead == nil || len(page) == 0 {
			return page, err
		}
		after = page[len(page)-1].ID
		kept := slices.DeleteFunc(page, func(e Event) bool { return !passes(e.Message, anyOf) })
		if len(kept) > 0 || len(page) < limit {
			return kept, nil
		}
	}
}
