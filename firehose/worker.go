package firehose

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/postern/postern/logger"
	"github.com/postern/postern/logstore"
)

// Matcher says whether an event's message is to be delivered.
type Matcher interface {
	Match(message string) bool
}

// Source is one log group read into a delivery stream from a durable
// cursor.
type Source struct {
	Account, Group string
	// Filter names the source's cursor within its group: a subscription
	// filter's name, or a name of Postern's own holding ':', which
	// filter names cannot.
	Filter string
	// Pattern keeps the events it matches (a filter pattern, an event
	// pattern); nil keeps every event.
	Pattern Matcher
	// Cursor is the ID of the last event delivered (or skipped).
	Cursor int64
	// Stream is where the events go.
	Stream Stream
}

type srcKey struct{ account, group, filter string }

func (s Source) key() srcKey { return srcKey{s.Account, s.Group, s.Filter} }

// Deps is what a Worker works with.
type Deps struct {
	// Sources lists what is to be delivered, with each cursor as stored.
	Sources func(ctx context.Context) ([]Source, error)
	// Events reads a group's events after an ID, in ID order
	// (logstore.Store.GroupEvents).
	Events func(ctx context.Context, account, group string, after int64, limit int) ([]logstore.Event, error)
	// SaveCursor stores a source's cursor once its events are written.
	SaveCursor func(ctx context.Context, account, group, filter string, id int64) error
	// Put writes an object.
	Put func(ctx context.Context, bucket, key, contentType string, body []byte) error
	// Refused reports whether a Put's error is the bucket refusing the
	// object for good (access denied, say), not being unavailable: the
	// batch then goes under the stream's error prefix if it has one.
	// Nil: nothing is refused for good.
	Refused func(error) bool
	// Send delivers records of a stream whose destination is not S3
	// (HTTP, OpenSearch), in order, and says how many it delivered
	// before failing: the next attempt starts after them. A destination
	// that takes records item by item and refuses some items for good
	// says so with a *Refusal. Nil: such streams fail to deliver, and
	// say why.
	Send func(ctx context.Context, s Stream, records [][]byte) (sent int, err error)
	// Seal starts an object sealed with the stream's key, for the source
	// account (the partition's, or the stream's own when the stream is
	// not partitioned by source) and the object's key. Nil: streams with
	// a key fail to deliver, and say why.
	Seal func(ctx context.Context, w io.Writer, s Stream, account, objectKey string) (io.WriteCloser, error)
	Now  func() time.Time
	Logf logger.Logf
	// MaxBuffered bounds the bytes buffered across every stream (default
	// 64 MiB): past it, the fullest buffers are written early and nothing
	// more is read until they are.
	MaxBuffered int64
}

// Refusal is Send's error when the destination took records item by item
// (an OpenSearch bulk request's documents) and refused some items for
// good: the first `sent` records are delivered but for Rows, which go to
// the stream's S3 backup in their place; then Err, when set, is why the
// records after the first `sent` were not delivered, and they are tried
// again later. Without a backup (or while it cannot be written) nothing
// moves past the record of the first row and the stream waits, as for any
// error: a destination that answers with a Refusal must take a record
// twice without harm (OpenSearch: the same document ids).
type Refusal struct {
	Rows []RefusedRow // in record order, each Record < sent
	Err  error
}

// RefusedRow is one item a destination refused for good: one line of
// Firehose's error output.
type RefusedRow struct {
	// Record is the index, in the records given to Send, of the record
	// it came from.
	Record int
	// Data is what was refused (the error record's rawData).
	Data          []byte
	Code, Message string
	// DocumentID and Index are where an OpenSearch document was to go
	// (esDocumentId and esIndexName of Firehose's error records).
	DocumentID, Index string
}

func (r *Refusal) Error() string {
	if len(r.Rows) == 0 {
		return fmt.Sprint(r.Err)
	}
	msg := fmt.Sprintf("%d refused for good, the first: %s", len(r.Rows), r.Rows[0].Message)
	if r.Err != nil {
		msg += "; then " + r.Err.Error()
	}
	return msg
}

func (r *Refusal) Unwrap() error { return r.Err }

// DefaultMaxBuffered is Deps.MaxBuffered's default.
const DefaultMaxBuffered = 64 << 20

// pageEvents is how many events one read takes.
const pageEvents = 1000

// maxBackoff bounds the wait between attempts at a failing buffer.
const maxBackoff = 5 * time.Minute

// Worker delivers sources' events to their streams. Run drives it; its
// one goroutine owns the buffers.
type Worker struct {
	d    Deps
	kick chan struct{}
	// pollErr logs a failed listing of sources, at most once a minute.
	pollErr logger.Logf

	// Owned by the goroutine running Pass. A buffer being written
	// (inFlight) belongs to its flush goroutine until its result comes
	// back on done.
	bufs   map[bufKey]*buffer
	read   map[srcKey]int64 // events read into a buffer, not yet written
	flying int              // flushes under way

	// done takes the flushes' results; it has room for maxFlushes, so a
	// flush never waits to hand its result over.
	done    chan flushResult
	flushes sync.WaitGroup // the flush goroutines

	mu     sync.Mutex // guards status
	status map[string]*StreamStatus
}

type bufKey struct{ stream, account, group string }

// buffer is what waits to become one object.
type buffer struct {
	stream         Stream
	parts          []prefixPart
	account, group string // the partition's source; empty when not partitioned
	data           []byte
	ends           []int // where each record of data ends (after its '\n')
	sent           int   // records a Send delivered already
	events         int
	first          time.Time        // when it took its first events
	covers         map[srcKey]int64 // each source's last event read into it

	attempts    int
	nextAttempt time.Time
	inFlight    bool // a flush goroutine is writing it
}

// StreamStatus is what a stream has delivered and what it owes.
type StreamStatus struct {
	Objects       int64     // objects written
	Events        int64     // events delivered in them
	Bytes         int64     // bytes written, as stored
	ErrorObjects  int64     // objects written under the error prefix
	Buffered      int64     // bytes waiting in memory
	LastDelivery  time.Time // when the last object was written
	LastError     string    // the last failure, until an object is written
	FailingSince  time.Time
	NextAttempt   time.Time
	LastObjectKey string
}

// New returns a worker; Run starts it.
func New(d Deps) *Worker {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logf == nil {
		d.Logf = logger.Discard
	}
	if d.MaxBuffered <= 0 {
		d.MaxBuffered = DefaultMaxBuffered
	}
	return &Worker{d: d, pollErr: logger.Throttled(d.Logf, time.Minute), kick: make(chan struct{}, 1), bufs: map[bufKey]*buffer{}, read: map[srcKey]int64{}, status: map[string]*StreamStatus{},
		done: make(chan flushResult, maxFlushes)}
}

// maxFlushes bounds the buffers being written at once. Each stream's
// buffer is written by a goroutine of its own, so that a destination
// that hangs holds up its own stream, not the others.
const maxFlushes = 16

// flushResult is how a flush ended.
type flushResult struct {
	k   bufKey
	b   *buffer
	at  time.Time
	err error
}

// Kick makes the worker look at its sources now: new events, a new
// source.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. Buffers not written by then are dropped:
// their events are read again from the cursors by the next run, of this
// worker (servers sharing a log store run it under a lease, which may
// come back) or another's. Runs must not overlap.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	defer w.reset()
	defer w.flushes.Wait() // they end with ctx
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		case r := <-w.done:
			w.apply(ctx, r)
		}
		next := w.Pass(ctx)
		wait := time.Second
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(w.d.Now()), 10*time.Millisecond))
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// reset drops what a run read and did not write, once its flushes have
// ended, so that the next run starts from the cursors.
func (w *Worker) reset() {
	for {
		select {
		case <-w.done:
			continue
		default:
		}
		break
	}
	w.bufs, w.read, w.flying = map[bufKey]*buffer{}, map[srcKey]int64{}, 0
}

// Status returns each stream's status, by ARN.
func (w *Worker) Status() map[string]StreamStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]StreamStatus, len(w.status))
	for k, v := range w.status {
		out[k] = *v
	}
	return out
}

// statusOf returns a stream's status to update, under w.mu.
func (w *Worker) statusOf(arn string) *StreamStatus {
	st := w.status[arn]
	if st == nil {
		st = &StreamStatus{}
		w.status[arn] = st
	}
	return st
}

// Pass reads what the sources have new and writes the buffers that are
// due. It returns when the next buffer falls due (zero: none waits).
func (w *Worker) Pass(ctx context.Context) time.Time {
	w.applyDone(ctx)
	srcs, err := w.d.Sources(ctx)
	if err != nil {
		w.pollErr("firehose: list sources: %v", err)
		return time.Time{}
	}
	live := make(map[srcKey]bool, len(srcs))
	for _, s := range srcs {
		live[s.key()] = true
		if err := w.readSource(ctx, s); err != nil && ctx.Err() == nil {
			w.d.Logf("firehose: %s %s: %v", s.Group, s.Filter, err)
		}
	}
	for k := range w.read {
		if !live[k] {
			delete(w.read, k)
		}
	}
	return w.flushDue(ctx)
}

// total is the bytes buffered across every stream.
func (w *Worker) total() int64 {
	var n int64
	for _, b := range w.bufs {
		n += int64(len(b.data))
	}
	return n
}

// readSource moves a source's new events into its buffer, as far as the
// buffer and the total bound allow.
func (w *Worker) readSource(ctx context.Context, s Source) error {
	parts, err := parsePrefix(s.Stream.Prefix)
	if err != nil {
		return err
	}
	k := s.key()
	bk := bufKey{stream: s.Stream.ARN()}
	if partitioned(parts) {
		bk.account, bk.group = s.Account, s.Group
	}
	after := max(w.read[k], s.Cursor)
	for range 10 { // at most 10 pages a pass, so that one source cannot starve the rest
		b := w.bufs[bk]
		if b != nil && (b.inFlight || int64(len(b.data)) >= b.stream.BufferBytes || b.attempts > 0) {
			return nil
		}
		if w.total() >= w.d.MaxBuffered {
			return nil
		}
		evs, err := w.d.Events(ctx, s.Account, s.Group, after, pageEvents)
		if errors.Is(err, logstore.ErrNotFound) {
			return nil // no such group (yet): nothing to send
		}
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		if b == nil {
			b = &buffer{stream: s.Stream, parts: parts, account: bk.account, group: bk.group, covers: map[srcKey]int64{}}
			w.bufs[bk] = b
		}
		if b.first.IsZero() {
			b.first = w.d.Now()
		}
		b.add(s, evs)
		after = evs[len(evs)-1].ID
		w.read[k] = after
		if len(evs) < pageEvents {
			return nil
		}
	}
	return nil
}

// add appends the events s's pattern keeps, one Payload per log stream
// (in the order streams first appear), and notes how far s was read.
func (b *buffer) add(s Source, evs []logstore.Event) {
	perRecord := maxPayloadEvents
	if s.Stream.PerEvent {
		perRecord = 1
	}
	var order []string
	byStream := map[string]*Payload{}
	for _, e := range evs {
		if s.Pattern != nil && !s.Pattern.Match(e.Message) {
			continue
		}
		p := byStream[e.Stream]
		if p == nil || len(p.LogEvents) >= perRecord {
			if p != nil {
				b.appendRecord(p)
			}
			p = &Payload{MessageType: DataMessage, Owner: s.Account, LogGroup: s.Group, LogStream: e.Stream, SubscriptionFilters: []string{s.Filter}}
			if byStream[e.Stream] == nil {
				order = append(order, e.Stream)
			}
			byStream[e.Stream] = p
		}
		p.LogEvents = append(p.LogEvents, LogEvent{ID: strconv.FormatInt(e.ID, 10), Timestamp: e.Time.UnixMilli(), Message: e.Message})
		b.events++
	}
	for _, name := range order {
		b.appendRecord(byStream[name])
	}
	b.covers[s.key()] = evs[len(evs)-1].ID
}

// appendRecord appends one payload as a record.
func (b *buffer) appendRecord(p *Payload) {
	b.data = appendPayload(b.data, p)
	b.ends = append(b.ends, len(b.data))
}

// records are the buffer's records, without their newlines.
func (b *buffer) records() [][]byte {
	out := make([][]byte, len(b.ends))
	start := 0
	for i, end := range b.ends {
		out[i] = b.data[start : end-1]
		start = end
	}
	return out
}

// flushDue writes the buffers that are full, old enough, or the largest
// while the total is over its bound, and returns when the next falls due.
func (w *Worker) flushDue(ctx context.Context) time.Time {
	now := w.d.Now()
	keys := slices.SortedFunc(maps.Keys(w.bufs), func(a, b bufKey) int {
		return cmp.Compare(len(w.bufs[b].data), len(w.bufs[a].data)) // largest first
	})
	var next time.Time
	due := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, k := range keys {
		b := w.bufs[k]
		if b.inFlight {
			continue
		}
		over := w.total() > w.d.MaxBuffered
		ready := int64(len(b.data)) >= b.stream.BufferBytes || !now.Before(b.first.Add(b.stream.BufferInterval)) || over
		if !ready {
			due(b.first.Add(b.stream.BufferInterval))
			continue
		}
		if now.Before(b.nextAttempt) {
			due(b.nextAttempt)
			continue
		}
		if w.flying >= maxFlushes {
			due(now.Add(10 * time.Millisecond)) // once one is done
			continue
		}
		b.inFlight = true
		w.flying++
		w.flushes.Add(1)
		go func() {
			defer w.flushes.Done()
			err := w.flush(ctx, b)
			w.done <- flushResult{k: k, b: b, at: now, err: err}
		}()
	}
	w.mu.Lock()
	for _, st := range w.status {
		st.Buffered = 0
	}
	for k, b := range w.bufs {
		w.statusOf(k.stream).Buffered += int64(len(b.data))
	}
	w.mu.Unlock()
	return next
}

// applyDone takes the results of the flushes that have ended.
func (w *Worker) applyDone(ctx context.Context) {
	for {
		select {
		case r := <-w.done:
			w.apply(ctx, r)
		default:
			return
		}
	}
}

// apply takes a flush's result: a written buffer goes, a failed one
// waits for its next attempt.
func (w *Worker) apply(ctx context.Context, r flushResult) {
	w.flying--
	b := r.b
	b.inFlight = false
	if r.err == nil {
		delete(w.bufs, r.k)
		return
	}
	if ctx.Err() != nil {
		return
	}
	b.attempts++
	backoff := min(time.Second<<min(b.attempts-1, 16), maxBackoff)
	b.nextAttempt = r.at.Add(backoff)
	w.mu.Lock()
	st := w.statusOf(r.k.stream)
	st.LastError = r.err.Error()
	if st.FailingSince.IsZero() {
		st.FailingSince = r.at
	}
	st.NextAttempt = b.nextAttempt
	w.mu.Unlock()
	w.d.Logf("firehose: %s: %v (attempt %d; next in %v)", b.stream.Name, r.err, b.attempts, backoff)
}

// Wait waits for the flushes under way and takes their results, for
// tests that drive Pass themselves.
func (w *Worker) Wait(ctx context.Context) {
	w.flushes.Wait()
	w.applyDone(ctx)
}

// flush writes a buffer as one object (or, refused for good, under the
// error prefix) and then stores its sources' cursors.
func (w *Worker) flush(ctx context.Context, b *buffer) error {
	now := w.d.Now()
	var key string
	var size int
	isError := false
	if b.stream.Destination != "" && b.stream.Destination != DestS3 && len(b.ends) > 0 {
		if w.d.Send == nil {
			return fmt.Errorf("stream %s sends to %s, which this server cannot", b.stream.Name, b.stream.Destination)
		}
		recs := b.records()
		backup := b.stream.Bucket != "" && b.stream.ErrorPrefix != ""
		for b.sent < len(recs) {
			n, err := w.d.Send(ctx, b.stream, recs[b.sent:])
			var rf *Refusal
			if errors.As(err, &rf) && len(rf.Rows) > 0 {
				// Parts of records refused for good go to the backup,
				// and the records they came from count as sent. Until
				// they are written there, nothing moves past the first
				// of them.
				if !backup {
					b.sent += min(rf.Rows[0].Record, n)
					return err
				}
				if _, _, derr := w.deadLetter(ctx, b, rf.Rows, rf, now); derr != nil {
					b.sent += min(rf.Rows[0].Record, n)
					return derr
				}
				b.sent += n
				w.mu.Lock()
				w.statusOf(b.stream.ARN()).ErrorObjects++
				w.mu.Unlock()
				if rf.Err != nil {
					return rf.Err
				}
				continue
			}
			b.sent += n
			if err == nil {
				break
			}
			// A record the destination refuses for good goes to the
			// stream's S3 backup, and the rest go on.
			if w.d.Refused == nil || !w.d.Refused(err) || !backup || b.sent >= len(recs) {
				return err
			}
			if _, _, derr := w.deadLetter(ctx, b, recordRows(recs[b.sent:b.sent+1], b.stream.Destination+".Refused", err), err, now); derr != nil {
				return derr
			}
			b.sent++
			w.mu.Lock()
			w.statusOf(b.stream.ARN()).ErrorObjects++
			w.mu.Unlock()
		}
		size = len(b.data)
	} else if len(b.ends) > 0 {
		var err error
		key, size, err = w.write(ctx, b, b.parts, b.data, now)
		if err != nil && w.d.Refused != nil && w.d.Refused(err) && b.stream.ErrorPrefix != "" {
			var eerr error
			key, size, eerr = w.deadLetter(ctx, b, recordRows(b.records(), "S3.Refused", err), err, now)
			if eerr != nil {
				return eerr
			}
			isError = true
			err = nil
		}
		if err != nil {
			return err
		}
	}
	for k, id := range b.covers {
		if err := w.d.SaveCursor(ctx, k.account, k.group, k.filter, id); err != nil && !errors.Is(err, logstore.ErrNotFound) {
			// The object is written: the events would only be sent
			// again after a restart (at least once).
			w.d.Logf("firehose: %s: save the cursor of %s %s at %d: %v", b.stream.Name, k.group, k.filter, id, err)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.statusOf(b.stream.ARN())
	if len(b.ends) > 0 {
		if isError {
			st.ErrorObjects++
		} else {
			st.Objects++
			st.Events += int64(b.events)
			st.Bytes += int64(size)
			st.LastDelivery, st.LastObjectKey = now, key
			st.LastError, st.FailingSince, st.NextAttempt = "", time.Time{}, time.Time{}
		}
	}
	return nil
}

// write makes one object of data under parts and puts it.
func (w *Worker) write(ctx context.Context, b *buffer, parts []prefixPart, data []byte, now time.Time) (key string, size int, err error) {
	s := b.stream
	gz := s.Compression == GZIP
	key = expand(parts, b.account, b.group, now) + objectName(s.Name, now, gz)
	var body bytes.Buffer
	var sink io.Writer = &body
	var sealed io.WriteCloser
	if s.KeyARN != "" {
		if w.d.Seal == nil {
			return "", 0, fmt.Errorf("stream %s is to be sealed with %s, but this server has no key service", s.Name, s.KeyARN)
		}
		account := b.account
		if account == "" {
			account = s.Account
		}
		sealed, err = w.d.Seal(ctx, &body, s, account, key)
		if err != nil {
			return "", 0, err
		}
		sink = sealed
	}
	if gz {
		zw := gzip.NewWriter(sink)
		_, _ = zw.Write(data)
		if err := zw.Close(); err != nil {
			return "", 0, err
		}
	} else if _, err := sink.Write(data); err != nil {
		return "", 0, err
	}
	if sealed != nil {
		if err := sealed.Close(); err != nil {
			return "", 0, err
		}
	}
	contentType := "application/x-ndjson"
	switch {
	case s.KeyARN != "":
		contentType = "application/octet-stream"
	case gz:
		contentType = "application/gzip"
	}
	if err := w.d.Put(ctx, s.Bucket, key, contentType, body.Bytes()); err != nil {
		return "", 0, err
	}
	return key, body.Len(), nil
}

// deadLetter writes what a destination refused for good under the
// stream's error prefix, in S3.
func (w *Worker) deadLetter(ctx context.Context, b *buffer, rows []RefusedRow, cause error, now time.Time) (key string, size int, err error) {
	eparts, err := parsePrefix(b.stream.ErrorPrefix + "delivery-failed/")
	if err != nil {
		return "", 0, errors.Join(cause, err)
	}
	key, size, err = w.write(ctx, b, eparts, errorRecords(b, rows), now)
	if err != nil {
		return "", 0, fmt.Errorf("%w; and under the error prefix: %w", cause, err)
	}
	return key, size, nil
}

// recordRows are whole records refused for one reason.
func recordRows(records [][]byte, code string, cause error) []RefusedRow {
	rows := make([]RefusedRow, len(records))
	for i, r := range records {
		rows[i] = RefusedRow{Record: i, Data: r, Code: code, Message: cause.Error()}
	}
	return rows
}

// errorRecords are refused records in Firehose's error output: one JSON
// line per record (or per document, for OpenSearch) with the attempt
// count, the error and the record's bytes in base64.
func errorRecords(b *buffer, rows []RefusedRow) []byte {
	var out []byte
	for _, r := range rows {
		rec, _ := json.Marshal(struct {
			AttemptsMade     int    `json:"attemptsMade"`
			ArrivalTimestamp int64  `json:"arrivalTimestamp"`
			ErrorCode        string `json:"errorCode"`
			ErrorMessage     string `json:"errorMessage"`
			RawData          string `json:"rawData"`
			DocumentID       string `json:"esDocumentId,omitempty"`
			IndexName        string `json:"esIndexName,omitempty"`
		}{b.attempts + 1, b.first.UnixMilli(), r.Code, r.Message, base64.StdEncoding.EncodeToString(r.Data), r.DocumentID, r.Index})
		out = append(append(out, rec...), '\n')
	}
	return out
}
