package firehose

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/clocktest"
	"github.com/postern/postern/filterpattern"
	"github.com/postern/postern/logstore"
)

// These tests drive the worker's buffering and cursors with an in-memory
// group and a bucket that is a map: the logic under test is the worker's
// own. The e2e suite (TestDeliveryStreams) runs it against the real log
// store and MinIO, read back with the AWS CLI.

// group is an in-memory log group: events in ID order.
type group struct {
	mu     sync.Mutex
	events []logstore.Event
}

func (g *group) add(stream string, at time.Time, msgs ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range msgs {
		g.events = append(g.events, logstore.Event{ID: int64(len(g.events) + 1), Time: at, Message: m, Stream: stream})
	}
}

type bucket struct {
	mu      sync.Mutex
	objects map[string][]byte
	fail    error
}

type fixture struct {
	clock   *clocktest.Clock
	groups  map[string]*group // by account/group
	cmu     sync.Mutex        // guards cursors: flushes save them from goroutines of their own
	cursors map[srcKey]int64
	bucket  *bucket
	sources []Source
	w       *Worker
}

func newFixture(t *testing.T, sources ...Source) *fixture {
	t.Helper()
	f := &fixture{
		clock:   clocktest.New(time.Date(2026, 12, 6, 13, 59, 30, 0, time.UTC)),
		groups:  map[string]*group{},
		cursors: map[srcKey]int64{},
		bucket:  &bucket{objects: map[string][]byte{}},
		sources: sources,
	}
	for _, s := range sources {
		f.groups[s.Account+s.Group] = &group{}
	}
	f.w = New(f.deps())
	return f
}

func (f *fixture) deps() Deps {
	return Deps{
		Now:  f.clock.Now,
		Logf: func(string, ...any) {},
		Sources: func(context.Context) ([]Source, error) {
			out := make([]Source, len(f.sources))
			for i, s := range f.sources {
				s.Cursor = f.cursor(s)
				out[i] = s
			}
			return out, nil
		},
		Events: func(_ context.Context, account, name string, after int64, limit int) ([]logstore.Event, error) {
			g := f.groups[account+name]
			if g == nil {
				return nil, logstore.ErrNotFound
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			var out []logstore.Event
			for _, e := range g.events {
				if e.ID > after && len(out) < limit {
					out = append(out, e)
				}
			}
			return out, nil
		},
		SaveCursor: func(_ context.Context, account, group, filter string, id int64) error {
			f.cmu.Lock()
			defer f.cmu.Unlock()
			f.cursors[srcKey{account, group, filter}] = id
			return nil
		},
		Put: func(_ context.Context, bucketName, key, _ string, body []byte) error {
			f.bucket.mu.Lock()
			defer f.bucket.mu.Unlock()
			if f.bucket.fail != nil && !strings.Contains(key, "delivery-failed/") {
				return f.bucket.fail
			}
			f.bucket.objects[bucketName+"/"+key] = bytes.Clone(body)
			return nil
		},
		Refused: func(err error) bool { return errors.Is(err, errRefused) },
	}
}

var errRefused = errors.New("AccessDenied")

func (f *fixture) objects() map[string][]byte {
	f.bucket.mu.Lock()
	defer f.bucket.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range f.bucket.objects {
		out[k] = v
	}
	return out
}

// cursor is a source's stored cursor.
func (f *fixture) cursor(s Source) int64 {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	return f.cursors[s.key()]
}

// pass runs a pass of the worker and waits for the flushes it started.
func (f *fixture) pass(ctx context.Context) {
	f.w.Pass(ctx)
	f.w.Wait(ctx)
}

// payloads decodes an object's lines.
func payloads(t *testing.T, body []byte, gz bool) []Payload {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if gz {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("object is not gzip: %v", err)
		}
		r = zr
	}
	var out []Payload
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var p Payload
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, p)
	}
	return out
}

func stream(name string, interval time.Duration) Stream {
	s := Stream{Account: "111111111111", Name: name, Bucket: "b", Prefix: "logs/", BufferInterval: interval, Compression: GZIP}
	s.Defaults()
	return s
}

// TestBuffersByTime: events wait for the interval, then go as one gzip
// object under the hour's partition, in order per stream, and the cursor
// moves only then.
func TestBuffersByTime(t *testing.T) {
	ctx := context.Background()
	src := Source{Account: "111111111111", Group: "/postern/sessions", Filter: "all", Stream: stream("s1", 60*time.Second)}
	f := newFixture(t, src)
	g := f.groups[src.Account+src.Group]
	g.add("alice-1", f.clock.Now(), "one", "two")
	g.add("bob-2", f.clock.Now(), "three")
	g.add("alice-1", f.clock.Now(), "four")

	f.pass(ctx)
	if n := len(f.objects()); n != 0 {
		t.Fatalf("%d objects before the interval", n)
	}
	if c := f.cursor(src); c != 0 {
		t.Fatalf("cursor %d before anything was written", c)
	}
	f.clock.Advance(60 * time.Second) // 14:00:30: the next hour's partition
	f.pass(ctx)
	objs := f.objects()
	if len(objs) != 1 {
		t.Fatalf("objects: %v", keysOf(objs))
	}
	for k, body := range objs {
		if !strings.HasPrefix(k, "b/logs/2026/12/06/14/s1-1-2026-12-06-14-00-30-") || !strings.HasSuffix(k, ".gz") {
			t.Errorf("object key %q", k)
		}
		ps := payloads(t, body, true)
		var got []string
		for _, p := range ps {
			if p.MessageType != DataMessage || p.Owner != src.Account || p.LogGroup != src.Group || p.SubscriptionFilters[0] != "all" {
				t.Errorf("payload header %+v", p)
			}
			for _, e := range p.LogEvents {
				got = append(got, p.LogStream+":"+e.Message+"#"+e.ID)
			}
		}
		if want := "alice-1:one#1 alice-1:two#2 alice-1:four#4 bob-2:three#3"; strings.Join(got, " ") != want {
			t.Errorf("events %q, want %q", strings.Join(got, " "), want)
		}
	}
	if c := f.cursor(src); c != 4 {
		t.Errorf("cursor %d after the object, want 4", c)
	}
	f.clock.Advance(time.Hour)
	f.pass(ctx)
	if n := len(f.objects()); n != 1 {
		t.Errorf("%d objects with nothing new", n)
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestBuffersBySize: a buffer that reaches its size goes at once.
func TestBuffersBySize(t *testing.T) {
	ctx := context.Background()
	s := stream("big", 900*time.Second)
	s.BufferBytes = MinBufferBytes
	src := Source{Account: "111111111111", Group: "g", Filter: "all", Stream: s}
	f := newFixture(t, src)
	line := strings.Repeat("x", 1000)
	for range 1200 {
		f.groups[src.Account+src.Group].add("st", f.clock.Now(), line)
	}
	f.pass(ctx)
	objs := f.objects()
	if len(objs) != 1 {
		t.Fatalf("%d objects past the size, want 1", len(objs))
	}
	n := 0
	for _, body := range objs {
		for _, p := range payloads(t, body, true) {
			n += len(p.LogEvents)
		}
	}
	if c := f.cursor(src); int(c) != n || n < 1000 {
		t.Errorf("cursor %d, events written %d", c, n)
	}
	f.pass(ctx) // takes the rest, which waits for the interval
	if len(f.objects()) != 1 {
		t.Fatalf("%d objects before the rest's interval", len(f.objects()))
	}
	f.clock.Advance(900 * time.Second)
	f.pass(ctx)
	total := 0
	for _, body := range f.objects() {
		for _, p := range payloads(t, body, true) {
			total += len(p.LogEvents)
		}
	}
	if total != 1200 {
		t.Errorf("%d events delivered of 1200", total)
	}
}

// TestNothingLost: while the bucket fails, the cursor stays; a new worker
// (a restarted server) reads again from the cursor; once the bucket is
// back every event is delivered.
func TestNothingLost(t *testing.T) {
	ctx := context.Background()
	src := Source{Account: "111111111111", Group: "g", Filter: "all", Stream: stream("s", 0)}
	f := newFixture(t, src)
	g := f.groups[src.Account+src.Group]
	f.bucket.fail = errors.New("connection refused")
	g.add("st", f.clock.Now(), "a", "b")
	f.pass(ctx)
	next := f.w.Pass(ctx) // the failed buffer's next attempt
	if len(f.objects()) != 0 || f.cursor(src) != 0 {
		t.Fatal("delivered to a failing bucket")
	}
	st := f.w.Status()[src.Stream.ARN()]
	if !strings.Contains(st.LastError, "connection refused") || st.FailingSince.IsZero() || next.IsZero() {
		t.Errorf("status while failing: %+v, next %v", st, next)
	}
	// The server restarts: its buffers are gone, the cursor is not.
	f.w = New(f.deps())
	g.add("st", f.clock.Now(), "c")
	f.bucket.fail = nil
	f.pass(ctx)
	var got []string
	for _, body := range f.objects() {
		for _, p := range payloads(t, body, true) {
			for _, e := range p.LogEvents {
				got = append(got, e.Message)
			}
		}
	}
	if strings.Join(got, "") != "abc" {
		t.Errorf("delivered %q, want abc", got)
	}
	if st := f.w.Status()[src.Stream.ARN()]; st.Objects != 1 || st.Events != 3 || st.LastError != "" {
		t.Errorf("status: %+v", st)
	}
}

// TestPatternAndPartitions: a pattern keeps what it matches; the cursor
// passes what it does not without writing anything; a prefix naming the
// source writes each source's own objects.
func TestPatternAndPartitions(t *testing.T) {
	ctx := context.Background()
	s := stream("central", 0)
	s.Prefix = "org/!{source:account}/logs/!{source:logGroup}/!{timestamp:yyyy-MM-dd}/"
	p, err := filterpattern.Parse(`"ERROR"`)
	if err != nil {
		t.Fatal(err)
	}
	a := Source{Account: "111111111111", Group: "/postern/sessions", Filter: "errors", Pattern: p, Stream: s}
	b := Source{Account: "222222222222", Group: "app", Filter: "all", Stream: s}
	f := newFixture(t, a, b)
	f.groups[a.Account+a.Group].add("x", f.clock.Now(), "fine", "still fine")
	f.pass(ctx)
	if len(f.objects()) != 0 || f.cursor(a) != 2 {
		t.Fatalf("nothing matched: objects %v, cursor %d (want 2)", keysOf(f.objects()), f.cursor(a))
	}
	f.groups[a.Account+a.Group].add("x", f.clock.Now(), "an ERROR here")
	f.groups[b.Account+b.Group].add("y", f.clock.Now(), "hello")
	f.pass(ctx)
	objs := f.objects()
	var ks []string
	for k := range objs {
		ks = append(ks, k[:strings.LastIndexByte(k, '/')])
	}
	want := map[string]bool{"b/org/111111111111/logs/postern/sessions/2026-12-06": true, "b/org/222222222222/logs/app/2026-12-06": true}
	if len(ks) != 2 || !want[ks[0]] || !want[ks[1]] {
		t.Errorf("object prefixes %q", ks)
	}
}

// TestErrorPrefix: a batch the bucket refuses for good goes under the
// error prefix, in Firehose's error records, and the cursor moves on; one
// it cannot take for now waits.
func TestErrorPrefix(t *testing.T) {
	ctx := context.Background()
	s := stream("s", 0)
	s.ErrorPrefix = "errors/"
	s.Compression = Uncompressed
	src := Source{Account: "111111111111", Group: "g", Filter: "all", Stream: s}
	f := newFixture(t, src)
	f.bucket.fail = fmt.Errorf("put: %w", errRefused)
	f.groups[src.Account+src.Group].add("st", f.clock.Now(), "m")
	f.pass(ctx)
	objs := f.objects()
	if len(objs) != 1 {
		t.Fatalf("objects %v", keysOf(objs))
	}
	for k, body := range objs {
		if !strings.HasPrefix(k, "b/errors/delivery-failed/2026/12/06/13/") {
			t.Errorf("error object %q", k)
		}
		var rec struct {
			ErrorMessage string `json:"errorMessage"`
			RawData      []byte `json:"rawData"`
		}
		if err := json.Unmarshal(bytes.TrimSpace(body), &rec); err != nil {
			t.Fatal(err)
		}
		var p Payload
		if err := json.Unmarshal(rec.RawData, &p); err != nil || p.LogEvents[0].Message != "m" || !strings.Contains(rec.ErrorMessage, "AccessDenied") {
			t.Errorf("error record %+v (%v)", rec, err)
		}
	}
	if f.cursor(src) != 1 || f.w.Status()[s.ARN()].ErrorObjects != 1 {
		t.Errorf("cursor %d, status %+v", f.cursor(src), f.w.Status()[s.ARN()])
	}
}

// TestMaxBuffered: past the total bound, the worker writes early and
// reads no more until it has.
func TestMaxBuffered(t *testing.T) {
	ctx := context.Background()
	s := stream("s", 900*time.Second)
	src := Source{Account: "111111111111", Group: "g", Filter: "all", Stream: s}
	f := newFixture(t, src)
	d := f.deps()
	d.MaxBuffered = 100 << 10
	f.w = New(d)
	for range 500 {
		f.groups[src.Account+src.Group].add("st", f.clock.Now(), strings.Repeat("y", 1000))
	}
	f.pass(ctx)
	if len(f.objects()) == 0 {
		t.Fatal("nothing written past the bound")
	}
	if b := f.w.Status()[s.ARN()].Buffered; b > 100<<10+pageEvents*1100 {
		t.Errorf("%d bytes buffered past a bound of 100 KiB", b)
	}
}

func TestValidate(t *testing.T) {
	good := stream("ok", 60*time.Second)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*Stream)
		want string
	}{
		{func(s *Stream) { s.Name = "bad name" }, "name"},
		{func(s *Stream) { s.Bucket = "" }, "bucket"},
		{func(s *Stream) { s.BufferBytes = 200 << 20 }, "buffer size"},
		{func(s *Stream) { s.BufferInterval = 901 * time.Second }, "buffer interval"},
		{func(s *Stream) { s.Compression = "ZIP" }, "compression"},
		{func(s *Stream) { s.Prefix = "a/!{nope:x}/" }, "prefix"},
		{func(s *Stream) { s.ErrorPrefix = "e/!{timestamp:yyyy" }, "error prefix"},
		{func(s *Stream) { s.Prefix = "/abs" }, "prefix"},
	} {
		s := good
		tc.edit(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %q", s, err, tc.want)
		}
	}
	if a, n, err := ParseARN(good.ARN()); err != nil || a != good.Account || n != "ok" {
		t.Errorf("ParseARN(%s) = %s %s %v", good.ARN(), a, n, err)
	}
	if _, _, err := ParseARN("prn:postern:firehose:12:deliverystream/x"); err == nil {
		t.Error("ParseARN took a bad account")
	}
}

func FuzzPrefix(f *testing.F) {
	for _, s := range []string{"logs/", "a/!{timestamp:yyyy/MM/dd/HH}/b", "!{source:account}/!{source:logGroup}/", "!{", "!{x:y}", "!{timestamp:}"} {
		f.Add(s)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, p string) {
		parts, err := parsePrefix(p)
		if err != nil {
			return
		}
		out := expand(parts, "111111111111", "/g", at)
		if strings.Contains(out, "!{") && !strings.Contains(p, "!{") {
			t.Errorf("expand(%q) = %q", p, out)
		}
	})
}

// TestSendResumes: a stream whose destination is not S3 hands its records
// to Send in order; a failure resumes after what was delivered; a record
// refused for good goes to the S3 backup, and the rest go on.
func TestSendResumes(t *testing.T) {
	ctx := context.Background()
	s := Stream{Account: "111111111111", Name: "hook", Destination: DestHTTP, Bucket: "b", ErrorPrefix: "failed/", BufferInterval: 0}
	s.Defaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	src := Source{Account: "111111111111", Group: "g", Filter: "all", Stream: s}
	f := newFixture(t, src)
	var got []string
	calls := 0
	d := f.deps()
	d.Send = func(_ context.Context, st Stream, records [][]byte) (int, error) {
		calls++
		for i, r := range records {
			var p Payload
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			msg := p.LogEvents[0].Message
			switch {
			case msg == "two" && calls == 1:
				return i, errors.New("503 Service Unavailable")
			case msg == "bad":
				return i, fmt.Errorf("400: %w", errRefused)
			}
			got = append(got, p.LogStream+":"+msg)
		}
		return len(records), nil
	}
	f.w = New(d)
	g := f.groups[src.Account+src.Group]
	for _, m := range []string{"one", "two", "bad", "three"} {
		g.add("st-"+m, f.clock.Now(), m) // a stream each: a record each
	}
	f.pass(ctx)
	if strings.Join(got, " ") != "st-one:one" || f.cursor(src) != 0 {
		t.Fatalf("after a failure: sent %q, cursor %d", got, f.cursor(src))
	}
	f.clock.Advance(time.Minute)
	f.pass(ctx)
	if strings.Join(got, " ") != "st-one:one st-two:two st-three:three" || f.cursor(src) != 4 {
		t.Errorf("after the retry: sent %q, cursor %d", got, f.cursor(src))
	}
	objs := f.objects()
	if len(objs) != 1 {
		t.Fatalf("backup objects: %v", keysOf(objs))
	}
	for k, body := range objs {
		plain := body // uncompressed, as the stream says
		if !strings.HasPrefix(k, "b/failed/delivery-failed/") || !strings.Contains(string(plain), `"errorCode":"HTTP.Refused"`) || strings.Count(string(plain), "\n") != 1 {
			t.Errorf("backup %s: %s", k, plain)
		}
	}
}

// itemDest is a destination that takes each record's events one by one,
// as OpenSearch's bulk API takes documents: an event "bad..." is refused
// for good, "busy..." fails for now the first time it is tried, and the
// rest are taken (again, harmlessly, when a record is sent twice).
type itemDest struct {
	taken map[string]int // times each event was taken
	tried map[string]int
}

func (d *itemDest) send(_ context.Context, _ Stream, records [][]byte) (int, error) {
	var rows []RefusedRow
	for i, r := range records {
		var p Payload
		if err := json.Unmarshal(r, &p); err != nil {
			return i, err
		}
		busy := false
		for _, e := range p.LogEvents {
			d.tried[e.Message]++
			switch {
			case strings.HasPrefix(e.Message, "bad"):
				rows = append(rows, RefusedRow{Record: i, Data: []byte(e.Message), Code: "OpenSearch.mapper_parsing_exception",
					Message: "400 mapper_parsing_exception: " + e.Message, DocumentID: "id-" + e.ID, Index: "idx"})
			case strings.HasPrefix(e.Message, "busy") && d.tried[e.Message] == 1:
				busy = true
			default:
				d.taken[e.Message]++
			}
		}
		if busy {
			// Rows of this record are not reported: it is sent again.
			for len(rows) > 0 && rows[len(rows)-1].Record == i {
				rows = rows[:len(rows)-1]
			}
			err := errors.New("429 es_rejected_execution_exception")
			if len(rows) > 0 {
				return i, &Refusal{Rows: rows, Err: err}
			}
			return i, err
		}
	}
	if len(rows) > 0 {
		return len(records), &Refusal{Rows: rows}
	}
	return len(records), nil
}

// TestSendRefusal: a destination that refuses some items of the records
// it is given (a *Refusal) gets the rest delivered; the refused items go
// to the S3 backup, one error record each with the document's id and
// index, and the stream goes on after them; items failing for now are
// tried again from their record. Without a backup the stream waits at the
// first refused item's record, and the cursor stays.
func TestSendRefusal(t *testing.T) {
	ctx := context.Background()
	for _, withBackup := range []bool{true, false} {
		t.Run(fmt.Sprintf("backup=%v", withBackup), func(t *testing.T) {
			s := Stream{Account: "111111111111", Name: "search", Destination: DestOpenSearch}
			if withBackup {
				s.Bucket, s.ErrorPrefix = "b", "failed/"
			}
			s.Defaults()
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			src := Source{Account: "111111111111", Group: "g", Filter: "all", Stream: s}
			f := newFixture(t, src)
			dest := &itemDest{taken: map[string]int{}, tried: map[string]int{}}
			d := f.deps()
			d.Send = dest.send
			f.w = New(d)
			g := f.groups[src.Account+src.Group]
			g.add("st-a", f.clock.Now(), "ok1", "bad1")
			g.add("st-b", f.clock.Now(), "ok2")
			g.add("st-c", f.clock.Now(), "busy1", "bad2")
			g.add("st-d", f.clock.Now(), "ok3")

			f.pass(ctx)
			if f.cursor(src) != 0 {
				t.Fatalf("cursor %d while busy1 waits", f.cursor(src))
			}
			f.clock.Advance(time.Minute)
			f.pass(ctx)
			f.clock.Advance(time.Minute)
			f.pass(ctx)
			st := f.w.Status()[s.ARN()]
			if !withBackup {
				if f.cursor(src) != 0 || len(f.objects()) != 0 {
					t.Errorf("without a backup: cursor %d, objects %v", f.cursor(src), keysOf(f.objects()))
				}
				// Every attempt starts again at st-a, the first
				// refused item's record.
				if !strings.Contains(st.LastError, "refused for good") || dest.tried["ok1"] != 3 {
					t.Errorf("without a backup: last error %q; ok1 tried %d times, want 3", st.LastError, dest.tried["ok1"])
				}
				return
			}
			for _, m := range []string{"ok1", "ok2", "busy1", "ok3"} {
				if dest.taken[m] < 1 {
					t.Errorf("%s was not delivered: %v", m, dest.taken)
				}
			}
			if dest.taken["ok1"] != 1 || dest.taken["ok2"] != 1 {
				t.Errorf("records before the busy one were sent again: %v", dest.taken)
			}
			if f.cursor(src) != 6 || st.ErrorObjects != 2 || st.LastError != "" {
				t.Errorf("cursor %d, error objects %d, last error %q", f.cursor(src), st.ErrorObjects, st.LastError)
			}
			var rows []string
			for k, body := range f.objects() {
				if !strings.HasPrefix(k, "b/failed/delivery-failed/") {
					t.Errorf("backup object %s", k)
				}
				for line := range strings.Lines(string(body)) {
					var r struct {
						ErrorCode, ErrorMessage, RawData string
						EsDocumentID, EsIndexName        string
					}
					if err := json.Unmarshal([]byte(line), &r); err != nil {
						t.Fatal(err)
					}
					raw, _ := base64.StdEncoding.DecodeString(r.RawData)
					rows = append(rows, string(raw)+" "+r.ErrorCode+" "+r.EsDocumentID+" "+r.EsIndexName)
				}
			}
			slices.Sort(rows)
			want := "bad1 OpenSearch.mapper_parsing_exception id-2 idx|bad2 OpenSearch.mapper_parsing_exception id-5 idx"
			if strings.Join(rows, "|") != want {
				t.Errorf("backup rows:\n%s\nwant\n%s", strings.Join(rows, "|"), want)
			}
		})
	}
}

// TestHungDestinationHoldsOnlyItself: a stream whose destination hangs
// holds up its own records, not another stream's.
func TestHungDestinationHoldsOnlyItself(t *testing.T) {
	ctx := context.Background()
	hung := Stream{Account: "111111111111", Name: "hung", Destination: DestHTTP, BufferInterval: 0}
	hung.Defaults()
	fine := stream("fine", 0)
	a := Source{Account: "111111111111", Group: "a", Filter: "all", Stream: hung}
	b := Source{Account: "111111111111", Group: "b", Filter: "all", Stream: fine}
	f := newFixture(t, a, b)
	release := make(chan struct{})
	d := f.deps()
	d.Send = func(ctx context.Context, _ Stream, records [][]byte) (int, error) {
		select {
		case <-release:
			return len(records), nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	f.w = New(d)
	f.groups["111111111111a"].add("s", f.clock.Now(), "to the hung one")
	f.groups["111111111111b"].add("s", f.clock.Now(), "to the fine one")
	f.w.Pass(ctx)
	deadline := time.Now().Add(time.Minute)
	for f.cursor(b) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the fine stream waited for the hung one")
		}
		time.Sleep(5 * time.Millisecond)
		f.w.Pass(ctx)
	}
	if len(f.objects()) != 1 || f.cursor(a) != 0 {
		t.Errorf("objects %v, the hung stream's cursor %d", keysOf(f.objects()), f.cursor(a))
	}
	close(release)
	f.w.Wait(ctx)
	if f.cursor(a) != 1 {
		t.Errorf("the hung stream's cursor after it answered: %d", f.cursor(a))
	}
}

// TestRunAgainStartsFromCursors: servers sharing a log store run the
// worker under a lease, which moves. A run that ends drops what it had
// buffered and not written, so that when its server takes the lease back
// it starts from the cursors the other server moved, rather than writing
// its stale buffer again.
func TestRunAgainStartsFromCursors(t *testing.T) {
	ctx := context.Background()
	src := Source{Account: "111111111111", Group: "/postern/sessions", Filter: "all", Stream: stream("s1", 60*time.Second)}
	f := newFixture(t, src)
	g := f.groups[src.Account+src.Group]
	g.add("alice-1", f.clock.Now(), "one", "two")
	f.pass(ctx) // buffered, not written: the interval has not passed
	ended, cancel := context.WithCancel(ctx)
	cancel()
	f.w.Run(ended) // the lease is lost

	other := New(f.deps()) // another server's worker takes over
	other.Pass(ctx)
	f.clock.Advance(60 * time.Second)
	other.Pass(ctx)
	other.Wait(ctx)
	if n, c := len(f.objects()), f.cursor(src); n != 1 || c != 2 {
		t.Fatalf("the other server wrote %d objects, cursor %d; want 1 and 2", n, c)
	}

	f.clock.Advance(time.Hour) // the lease comes back
	f.pass(ctx)
	if n := len(f.objects()); n != 1 {
		t.Errorf("%d objects after the lease came back with nothing new: the old buffer was written again", n)
	}
}
