package cwlogs

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/postern/postern/cwlogs/cwlogstest"
)

const group = "/postern/sessions"

func TestPutTranscript(t *testing.T) {
	const smallMax = 10 // message bytes under a 36-byte event limit
	cases := []struct {
		name     string
		maxEvent int // both the fake's and the client's limit; 0: default
		body     string
		want     []string // nil: refEvents(body, limit)
		wantPuts int
	}{
		{
			name:     "small transcript",
			body:     "Script started on 2026-03-01 12:00:00+00:00 [TERM=\"xterm\"]\nsh-5.2$ echo hello\nhello\n\nsh-5.2$ exit\r\nScript done on 2026-03-01 12:00:05+00:00 [COMMAND_EXIT_CODE=\"0\"]\n",
			want:     []string{"Script started on 2026-03-01 12:00:00+00:00 [TERM=\"xterm\"]", "sh-5.2$ echo hello", "hello", "sh-5.2$ exit", "Script done on 2026-03-01 12:00:05+00:00 [COMMAND_EXIT_CODE=\"0\"]"},
			wantPuts: 1,
		},
		{name: "no final newline", body: "one\ntwo", want: []string{"one", "two"}, wantPuts: 1},
		{name: "only empty lines", body: "\n\r\n\n", want: []string{}, wantPuts: 0},
		{name: "empty transcript", body: "", want: []string{}, wantPuts: 0},
		{name: "whitespace lines are kept", body: " \n\t\n", want: []string{" ", "\t"}, wantPuts: 1},
		{name: "invalid UTF-8 becomes U+FFFD", body: "a\xffb\nc\xe2\x82\nd\xe2\x82\xac\n", want: []string{"a\uFFFDb", "c\uFFFD\uFFFD", "d€"}, wantPuts: 1},
		{
			name:     "25,000 lines take 3 batches (10,000 events each at most)",
			body:     lines(25000, 40, "line"),
			wantPuts: 3,
		},
		{
			name:     "12 lines of 200,000 bytes take 3 batches (1,048,576 bytes each at most)",
			body:     lines(12, 200000, "big"),
			wantPuts: 3, // 5 × 200,026 = 1,000,130 fits, 6 do not
		},
		{
			name:     "a batch of exactly 1,048,576 bytes is one batch",
			body:     lines(4, 262118, "exact") + "next\n",
			maxEvent: LegacyMaxEventSize,
			wantPuts: 2,
		},
		{
			name:     "a 2.5 MB line is cut at the 1 MB event limit",
			body:     "before\n" + strings.Repeat("0123456789", 250000) + "\nafter\n",
			wantPuts: 4, // [before], [1,048,550 bytes], [1,048,550 bytes], [402,900 bytes, after]
		},
		{
			name:     "a 600,000-byte line is cut at the legacy 256 KB event limit",
			body:     strings.Repeat("z", 600000) + "\n",
			maxEvent: LegacyMaxEventSize,
			want:     []string{strings.Repeat("z", 262118), strings.Repeat("z", 262118), strings.Repeat("z", 75764)},
			wantPuts: 1,
		},
		{
			name:     "two-byte characters are never split",
			body:     strings.Repeat("é", 11) + "\n",
			maxEvent: EventOverhead + smallMax,
			want:     []string{"ééééé", "ééééé", "é"},
			wantPuts: 1,
		},
		{
			name:     "three-byte characters are never split",
			body:     strings.Repeat("€", 7) + "\n",
			maxEvent: EventOverhead + smallMax,
			want:     []string{"€€€", "€€€", "€"},
			wantPuts: 1,
		},
		{
			name:     "four-byte characters are never split",
			body:     strings.Repeat("😀", 5) + "\n",
			maxEvent: EventOverhead + smallMax,
			want:     []string{"😀😀", "😀😀", "😀"},
			wantPuts: 1,
		},
		{
			name:     "mixed widths are cut at the last boundary that fits",
			body:     "ab€😀cé€€€😀x\r\n",
			maxEvent: EventOverhead + smallMax,
			want:     []string{"ab€😀c", "é€€", "€😀x"},
			wantPuts: 1,
		},
		{
			name:     "multi-byte lines over many read buffers",
			body:     strings.Repeat("aé€😀", 50000) + "\n" + strings.Repeat("€", 100000) + "\n",
			maxEvent: LegacyMaxEventSize,
			wantPuts: 1, // 5 events, 800,130 bytes
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []cwlogstest.Option
			var copts []clientOpt
			if tc.maxEvent != 0 {
				opts = append(opts, cwlogstest.WithMaxEventSize(tc.maxEvent))
				copts = append(copts, withConfig(func(c *Config) { c.MaxEventSize = tc.maxEvent }))
			}
			srv := newFake(t, opts...)
			c := newTestClient(t, srv, copts...)
			createGroup(t, c, group, "")
			at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)

			loc, err := c.PutTranscript(t.Context(), Target{LogGroup: group}, "alice-07e2d6c1b9a3f4e51", at, strings.NewReader(tc.body))
			if err != nil {
				t.Fatalf("PutTranscript: %v", err)
			}
			if want := "cloudwatch:///postern/sessions/alice-07e2d6c1b9a3f4e51"; loc != want {
				t.Errorf("location = %q, want %q", loc, want)
			}
			want := tc.want
			if want == nil {
				want = refEvents(tc.body, c.MaxMessageBytes())
			}
			stored := srv.Events(group, "alice-07e2d6c1b9a3f4e51")
			sameMessages(t, messages(stored), want)
			for i, e := range stored {
				if e.Timestamp != at.UnixMilli() {
					t.Fatalf("event %d stamped %d, want %d (the session's end)", i, e.Timestamp, at.UnixMilli())
				}
				if !utf8.ValidString(e.Message) {
					t.Fatalf("event %d is not valid UTF-8", i)
				}
			}
			if got := srv.Calls("PutLogEvents"); got != tc.wantPuts {
				t.Errorf("PutLogEvents calls = %d, want %d", got, tc.wantPuts)
			}
			if got := srv.Calls("CreateLogStream"); got != 1 {
				t.Errorf("CreateLogStream calls = %d, want 1", got)
			}
			if got := srv.Calls("GetLogEvents"); got != 0 {
				t.Errorf("a new stream was read back (%d GetLogEvents)", got)
			}
		})
	}
}

// TestPutTranscriptReadsAsItGoes: the first batch leaves before the
// transcript is read to its end.
func TestPutTranscriptReadsAsItGoes(t *testing.T) {
	t.Parallel()
	body := lines(5000, 1000, "stream") // 5 MB
	cr := &countingReader{r: strings.NewReader(body)}
	var readAtFirstPut atomic.Int64
	srv := newFake(t)
	c := newTestClient(t, srv, withHook(func(op string, req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		if op == "PutLogEvents" {
			readAtFirstPut.CompareAndSwap(0, cr.n.Load())
		}
		return next(req)
	}))
	createGroup(t, c, group, "")
	if _, err := c.PutTranscript(t.Context(), Target{LogGroup: group}, "s", time.Now(), cr); err != nil {
		t.Fatal(err)
	}
	if got := readAtFirstPut.Load(); got > 2<<20 {
		t.Errorf("%d of %d bytes were read before the first batch was sent; want at most a batch and a buffer", got, len(body))
	}
	if got := len(srv.Events(group, "s")); got != 5000 {
		t.Errorf("stored %d events", got)
	}
}

// TestPutTranscriptRetries covers failures that one call rides out.
func TestPutTranscriptRetries(t *testing.T) {
	body := lines(15, 200000, "retry") // 3 batches of 5 events
	cases := []struct {
		name     string
		fault    func(*cwlogstest.Server)
		hook     func(n int) (fail, forward bool) // by PutLogEvents request number from 1
		wantPuts int                              // requests that reached the fake
		wantRead bool                             // the stream was read back
	}{
		{name: "throttled PutLogEvents", fault: func(s *cwlogstest.Server) { s.ThrottleOp("PutLogEvents", 3) }, wantPuts: 6},
		{name: "throttled CreateLogStream", fault: func(s *cwlogstest.Server) { s.ThrottleOp("CreateLogStream", 2) }, wantPuts: 3},
		{name: "throttled everything", fault: func(s *cwlogstest.Server) { s.Throttle(4) }, wantPuts: 3},
		{
			name:     "connection lost before the request arrived",
			hook:     func(n int) (bool, bool) { return n == 2, false },
			wantPuts: 3, wantRead: true,
		},
		{
			name:     "connection lost after the batch was stored",
			hook:     func(n int) (bool, bool) { return n == 2, true },
			wantPuts: 3, wantRead: true, // the batch is not sent again
		},
		{
			name:     "answer lost twice in a row",
			hook:     func(n int) (bool, bool) { return n == 1 || n == 2, n == 2 },
			wantPuts: 3, wantRead: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFake(t)
			var opts []clientOpt
			if tc.hook != nil {
				var n atomic.Int32
				opts = append(opts, withHook(func(op string, req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
					if op != "PutLogEvents" {
						return next(req)
					}
					fail, forward := tc.hook(int(n.Add(1)))
					if !fail {
						return next(req)
					}
					if forward {
						if resp, err := next(req); err == nil {
							resp.Body.Close()
						}
					}
					return nil, &netErr{syscall.ECONNRESET}
				}))
			}
			c := newTestClient(t, srv, opts...)
			createGroup(t, c, group, "")
			if tc.fault != nil {
				tc.fault(srv)
			}
			if _, err := c.PutTranscript(t.Context(), Target{LogGroup: group}, "s", time.Now(), strings.NewReader(body)); err != nil {
				t.Fatalf("PutTranscript: %v", err)
			}
			sameMessages(t, messages(srv.Events(group, "s")), refEvents(body, c.MaxMessageBytes()))
			if got := srv.Calls("PutLogEvents"); got != tc.wantPuts {
				t.Errorf("PutLogEvents reaching the fake = %d, want %d", got, tc.wantPuts)
			}
			if got := srv.Calls("GetLogEvents") > 0; got != tc.wantRead {
				t.Errorf("stream read back: %v, want %v", got, tc.wantRead)
			}
		})
	}
}

// netErr is a connection error as the transport reports it.
type netErr struct{ err error }

func (e *netErr) Error() string { return "read tcp 127.0.0.1:1->127.0.0.1:2: " + e.err.Error() }
func (e *netErr) Unwrap() error { return e.err }

// TestPutTranscriptDownThenUp: while the service is down the call fails
// after its retries; the next call, once it is up, delivers everything once.
func TestPutTranscriptDownThenUp(t *testing.T) {
	for _, b := range []struct {
		name     string
		behavior cwlogstest.DownBehavior
		cause    []string // the error names one of these
	}{
		{"HTTP 503", cwlogstest.Down503, []string{"ServiceUnavailableException"}},
		// A reset reaches the client as a reset, or, when it lands while
		// the request body is still being written, as a failed write on
		// the connection the transport has just closed.
		{"connection reset", cwlogstest.DownReset, []string{"connection reset", "broken pipe", "use of closed network connection"}},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			body := lines(8, 200000, "down")
			srv := newFake(t)
			c := newTestClient(t, srv)
			createGroup(t, c, group, "")
			srv.SetDownBehavior(b.behavior)
			srv.SetDown(true)
			at := time.Now()
			_, err := c.PutTranscript(t.Context(), Target{LogGroup: group}, "s", at, strings.NewReader(body))
			wantKind(t, err, ErrUnavailable)
			if !slices.ContainsFunc(b.cause, func(c string) bool { return strings.Contains(err.Error(), c) }) {
				t.Errorf("error %q names none of %q", err, b.cause)
			}
			for _, s := range []string{group, "us-east-1", "after 6 attempts"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			srv.SetDown(false)
			loc, err := c.PutTranscript(t.Context(), Target{LogGroup: group}, "s", at, strings.NewReader(body))
			if err != nil {
				t.Fatalf("after recovery: %v", err)
			}
			if loc != "cloudwatch://"+group+"/s" {
				t.Errorf("location %q", loc)
			}
			sameMessages(t, messages(srv.Events(group, "s")), refEvents(body, c.MaxMessageBytes()))
		})
	}
}

// TestPutTranscriptResumes: a call that fails part way (the service goes
// down between batches) leaves a prefix of the transcript; the next call
// uploads only the rest.
func TestPutTranscriptResumes(t *testing.T) {
	t.Parallel()
	const perBatch = 5                  // 5 × 200,026 bytes fit in a batch, 6 do not
	body := lines(25, 200000, "resume") // 5 batches
	want := refEvents(body, DefaultMaxEventSize-EventOverhead)
	srv := newFake(t)
	c := newTestClient(t, srv)
	createGroup(t, c, group, "")
	at := time.Now()

	// Take the service down once the reader is past 60% of the transcript:
	// by then at least two batches have been sent.
	cr := &countingReader{r: strings.NewReader(body), at: int64(len(body)) * 6 / 10, action: func() { srv.SetDown(true) }}
	_, err := c.PutTranscript(t.Context(), Target{LogGroup: group}, "s", at, cr)
	wantKind(t, err, ErrUnavailable)
	partial := len(srv.Events(group, "s"))
	if partial == 0 || partial >= len(want) || partial%perBatch != 0 {
		t.Fatalf("after the failure the stream holds %d events; want a whole number of batches, more than none and less than all %d", partial, len(want))
	}
	firstPuts := srv.Calls("PutLogEvents")

	srv.SetDown(false)
	if _, err := c.PutTranscript(t.Context(), Target{LogGroup: group}, "s", at, strings.NewReader(body)); err != nil {
		t.Fatalf("second call: %v", err)
	}
	sameMessages(t, messages(srv.Events(group, "s")), want)
	wantPuts := (len(want) - partial + perBatch - 1) / perBatch
	if got := srv.Calls("PutLogEvents") - firstPuts; got != wantPuts {
		t.Errorf("the second call made %d PutLogEvents calls, want %d (only the missing events)", got, wantPuts)
	}

	// A third call finds everything there and sends nothing.
	before := srv.Calls("PutLogEvents")
	if _, err := c.PutTranscript(t.Context(), Target{LogGroup: group}, "s", at, strings.NewReader(body)); err != nil {
		t.Fatalf("third call: %v", err)
	}
	if got := srv.Calls("PutLogEvents") - before; got != 0 {
		t.Errorf("a complete stream got %d more PutLogEvents calls", got)
	}
	sameMessages(t, messages(srv.Events(group, "s")), want)
}

// TestPutTranscriptConflicts: a stream that holds anything but a prefix of
// this transcript is left alone.
func TestPutTranscriptConflicts(t *testing.T) {
	at := time.Now().Truncate(time.Millisecond)
	cases := []struct {
		name     string
		existing string // uploaded first with existingAt
		atOffset time.Duration
		body     string
		want     error
	}{
		{name: "another transcript", existing: "other\nsession\n", body: "my\nsession\n", want: ErrStreamConflict},
		{name: "more events than this transcript", existing: "a\nb\nc\n", body: "a\nb\n", want: ErrStreamConflict},
		{name: "same lines at another time", existing: "a\nb\n", atOffset: time.Second, body: "a\nb\nc\n", want: ErrStreamConflict},
		{name: "a prefix of this transcript", existing: "a\nb\n", body: "a\nb\nc\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFake(t)
			c := newTestClient(t, srv)
			createGroup(t, c, group, "")
			if _, err := c.PutTranscript(t.Context(), Target{LogGroup: group}, "s", at.Add(tc.atOffset), strings.NewReader(tc.existing)); err != nil {
				t.Fatal(err)
			}
			before := messages(srv.Events(group, "s"))
			_, err := c.PutTranscript(t.Context(), Target{LogGroup: group}, "s", at, strings.NewReader(tc.body))
			wantKind(t, err, tc.want)
			if tc.want == nil {
				sameMessages(t, messages(srv.Events(group, "s")), refEvents(tc.body, c.MaxMessageBytes()))
				return
			}
			if !strings.Contains(err.Error(), "already holds events that are not this transcript") {
				t.Errorf("error %q", err)
			}
			sameMessages(t, messages(srv.Events(group, "s")), before)
		})
	}
}

// TestPutTranscriptHungServer: a server that never answers costs one
// Timeout, not a retry loop of them.
func TestPutTranscriptHungServer(t *testing.T) {
	t.Parallel()
	srv := newFake(t)
	c := newTestClient(t, srv, withConfig(func(c *Config) { c.Timeout = 300 * time.Millisecond }))
	createGroup(t, c, group, "")
	srv.SetDelay(time.Hour)
	ops := []string{"CreateLogStream", "DescribeLogStreams", "PutLogEvents"}
	calls := func() (n int) {
		for _, op := range ops {
			n += srv.Calls(op)
		}
		return n
	}
	before := calls()
	_, err := c.PutTranscript(t.Context(), Target{LogGroup: group}, "s", time.Now(), strings.NewReader("hello\n"))
	wantKind(t, err, ErrTimeout)
	if n := calls() - before; n != 1 {
		t.Errorf("%d calls to %v; want 1 (a hung server is not retried)", n, ops)
	}
	if !strings.Contains(err.Error(), "did not answer within 300ms") {
		t.Errorf("error %q", err)
	}
}

func TestPutTranscriptFailures(t *testing.T) {
	cases := []struct {
		name    string
		group   string
		stream  string
		at      time.Time
		body    io.Reader
		want    error
		contain string
		noCalls bool
	}{
		{name: "missing log group", group: "/nope", stream: "s", want: ErrLogGroupNotFound, contain: "log group /nope does not exist in region us-east-1"},
		{name: "invalid group name", group: "bad name", stream: "s", want: ErrInvalidName, noCalls: true},
		{name: "stream name with a colon", group: group, stream: "a:b", want: ErrInvalidName, noCalls: true},
		{name: "stream name with an asterisk", group: group, stream: "a*", want: ErrInvalidName, noCalls: true},
		{name: "empty stream name", group: group, stream: "", want: ErrInvalidName, noCalls: true},
		{name: "session ended 15 days ago", group: group, stream: "s", at: time.Now().Add(-15 * 24 * time.Hour), want: ErrRejected, contain: "1 more than 14 days old"},
		{name: "session ends 3 hours from now", group: group, stream: "s", at: time.Now().Add(3 * time.Hour), want: ErrRejected, contain: "1 more than 2 hours ahead"},
		{name: "body fails", group: group, stream: "s", body: io.MultiReader(strings.NewReader("a\n"), errReader{}), contain: "reading the transcript"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFake(t)
			c := newTestClient(t, srv)
			createGroup(t, c, group, "")
			at, body := tc.at, tc.body
			if at.IsZero() {
				at = time.Now()
			}
			if body == nil {
				body = strings.NewReader("line\n")
			}
			_, err := c.PutTranscript(t.Context(), Target{LogGroup: tc.group}, tc.stream, at, body)
			if err == nil {
				t.Fatal("PutTranscript succeeded")
			}
			if tc.want != nil {
				wantKind(t, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.contain) {
				t.Errorf("error %q does not contain %q", err, tc.contain)
			}
			if tc.noCalls && srv.Calls("CreateLogStream")+srv.Calls("PutLogEvents") != 0 {
				t.Error("an invalid name reached the service")
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestSplitterChunking: the events do not depend on how the reader delivers
// the bytes.
func TestSplitterChunking(t *testing.T) {
	body := "x" + strings.Repeat("aé€😀\xff", 8000) + "\r\n\n" + strings.Repeat("\xe2\x82", 40000) + "\nend"
	for _, max := range []int{4, 5, 7, 100, 65536} {
		want := refEvents(body, max)
		for _, chunk := range []int{1, 3, 4096, 1 << 20} {
			s := newSplitter(&chunkReader{s: body, n: chunk}, max)
			var got []string
			for {
				m, ok, err := s.next()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				got = append(got, m)
			}
			if len(got) != len(want) {
				t.Fatalf("max %d, reads of %d: %d events, want %d", max, chunk, len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("max %d, reads of %d: event %d = %.40q, want %.40q", max, chunk, i, got[i], want[i])
				}
			}
		}
	}
}

type chunkReader struct {
	s string
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.s) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.s)
	r.s = r.s[n:]
	return n, nil
}
