package cwlogs

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/postern/postern/cwlogs/cwlogstest"
)

// streamEvent is an event in Session Manager's streaming schema.
func streamEvent(at time.Time, data ...string) Event {
	quoted := make([]string, len(data))
	for i, d := range data {
		quoted[i] = fmt.Sprintf("%q", d)
	}
	return Event{Time: at, Message: fmt.Sprintf(`{"eventVersion":"1.0","eventTime":%q,"awsRegion":"local","target":{"id":"mi-0a1b2c3d4e5f60718"},"userIdentity":{"arn":"prn:postern:iam:000000000001:user/alice"},"runAsUser":"ssm-user","sessionId":"alice-07e2d6c1b9a3f4e51","sessionData":[%s]}`,
		at.UTC().Format(time.RFC3339Nano), strings.Join(quoted, ","))}
}

// smallEvents are n short events, a step apart.
func smallEvents(n int, start time.Time, step time.Duration) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{Time: start.Add(time.Duration(i) * step), Message: fmt.Sprintf("event %05d", i)}
	}
	return out
}

func seqEvents(n int, start time.Time, step time.Duration, size int) []Event {
	out := make([]Event, n)
	for i := range out {
		e := streamEvent(start.Add(time.Duration(i)*step), fmt.Sprintf("line %d", i))
		if size > len(e.Message) {
			e.Message += strings.Repeat(" ", size-len(e.Message))
		}
		out[i] = e
	}
	return out
}

// chronological is what the stream must hold for events: a stable sort by
// time.
func chronological(events []Event) []string {
	s := slices.Clone(events)
	slices.SortStableFunc(s, func(a, b Event) int { return a.Time.Compare(b.Time) })
	out := make([]string, len(s))
	for i, e := range s {
		out[i] = e.Message
	}
	return out
}

func TestPutEvents(t *testing.T) {
	now := time.Now().Truncate(time.Millisecond)
	cases := []struct {
		name     string
		events   []Event
		wantPuts int
	}{
		{name: "one event", events: []Event{streamEvent(now, "sh-5.2$ echo hello", "hello")}, wantPuts: 1},
		{
			name: "out of order events are sent in chronological order",
			events: []Event{
				streamEvent(now, "third"), streamEvent(now.Add(-2*time.Second), "first"),
				streamEvent(now.Add(-time.Second), "second"), streamEvent(now.Add(time.Second), "fourth"),
			},
			wantPuts: 1,
		},
		{
			name:     "equal times keep their order",
			events:   []Event{{now, "b1"}, {now.Add(-time.Second), "a"}, {now, "b2"}, {now, "b3"}},
			wantPuts: 1,
		},
		{name: "25,000 events take 3 batches", events: smallEvents(25000, now.Add(-time.Minute), time.Millisecond), wantPuts: 3},
		{name: "3,500 streamed events of about 300 bytes take 2 batches", events: seqEvents(3500, now.Add(-time.Minute), time.Millisecond, 300), wantPuts: 2},
		{name: "25 events of 100,000 bytes take 3 batches", events: seqEvents(25, now.Add(-time.Minute), time.Second, 100000), wantPuts: 3},
		{
			name:     "events over 30 hours take 2 batches (24 hours each at most)",
			events:   []Event{streamEvent(now.Add(-30*time.Hour), "a"), streamEvent(now.Add(-6*time.Hour-time.Millisecond), "b"), streamEvent(now.Add(-6*time.Hour), "c"), streamEvent(now, "d")},
			wantPuts: 2,
		},
		{name: "an event at the 1 MB limit", events: []Event{{now, strings.Repeat("j", DefaultMaxEventSize-EventOverhead)}, {now, "x"}}, wantPuts: 2},
		{name: "no events", events: nil, wantPuts: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFake(t)
			c := newTestClient(t, srv)
			createGroup(t, c, group, "")
			if err := c.PutEvents(t.Context(), Target{LogGroup: group}, "live", tc.events); err != nil {
				t.Fatalf("PutEvents: %v", err)
			}
			stored := srv.Events(group, "live")
			sameMessages(t, messages(stored), chronological(tc.events))
			if got := srv.Calls("PutLogEvents"); got != tc.wantPuts {
				t.Errorf("PutLogEvents calls = %d, want %d", got, tc.wantPuts)
			}
			if srv.Groups()[0].Streams == nil {
				t.Error("the stream was not created")
			}
		})
	}
}

// TestPutEventsLiveStream: a live session flushes many times; the stream is
// created once, recreated if deleted, and events accumulate in order.
func TestPutEventsLiveStream(t *testing.T) {
	t.Parallel()
	srv := newFake(t)
	c := newTestClient(t, srv)
	createGroup(t, c, group, kmsKey)
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	var all []Event
	for i := range 5 {
		flush := []Event{streamEvent(start.Add(time.Duration(i)*time.Second), fmt.Sprintf("flush %d", i))}
		all = append(all, flush...)
		if err := c.PutEvents(t.Context(), Target{LogGroup: group, RequireEncryption: true}, "live", flush); err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	if got := srv.Calls("CreateLogStream"); got != 1 {
		t.Errorf("CreateLogStream calls = %d over 5 flushes, want 1", got)
	}
	sameMessages(t, messages(srv.Events(group, "live")), chronological(all))

	if _, err := c.api.DeleteLogStream(t.Context(), &cloudwatchlogs.DeleteLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	after := []Event{streamEvent(start.Add(10*time.Second), "after delete")}
	if err := c.PutEvents(t.Context(), Target{LogGroup: group}, "live", after); err != nil {
		t.Fatalf("after the stream was deleted: %v", err)
	}
	sameMessages(t, messages(srv.Events(group, "live")), chronological(after))
	if got := srv.Calls("CreateLogStream"); got != 2 {
		t.Errorf("CreateLogStream calls = %d, want 2", got)
	}
}

func TestPutEventsRetries(t *testing.T) {
	now := time.Now().Truncate(time.Millisecond)
	events := seqEvents(25, now.Add(-time.Minute), time.Second, 100000) // 3 batches of 10 events at most
	cases := []struct {
		name     string
		fault    func(*cwlogstest.Server)
		hook     func(n int) (fail, forward bool)
		wantPuts int
	}{
		{name: "throttled", fault: func(s *cwlogstest.Server) { s.ThrottleOp("PutLogEvents", 4) }, wantPuts: 7},
		{name: "throttled CreateLogStream", fault: func(s *cwlogstest.Server) { s.ThrottleOp("CreateLogStream", 2) }, wantPuts: 3},
		{name: "connection lost before the request arrived", hook: func(n int) (bool, bool) { return n == 2, false }, wantPuts: 3},
		{name: "connection lost after the batch was stored", hook: func(n int) (bool, bool) { return n == 3, true }, wantPuts: 3},
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
			if err := c.PutEvents(t.Context(), Target{LogGroup: group}, "live", events); err != nil {
				t.Fatalf("PutEvents: %v", err)
			}
			sameMessages(t, messages(srv.Events(group, "live")), chronological(events))
			if got := srv.Calls("PutLogEvents"); got != tc.wantPuts {
				t.Errorf("PutLogEvents reaching the fake = %d, want %d", got, tc.wantPuts)
			}
		})
	}
}

// TestPutEventsPartialFailure: the service goes down after the first batch;
// the error says how many events were delivered, and sending the rest
// completes the stream without duplicates.
func TestPutEventsPartialFailure(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Millisecond)
	events := seqEvents(25, now.Add(-time.Minute), time.Second, 100000) // 3 batches of 10 events at most
	srv := newFake(t)
	var puts atomic.Int32
	c := newTestClient(t, srv, withHook(func(op string, req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		resp, err := next(req)
		if op == "PutLogEvents" && puts.Add(1) == 1 {
			srv.SetDown(true)
		}
		return resp, err
	}))
	createGroup(t, c, group, "")
	err := c.PutEvents(t.Context(), Target{LogGroup: group}, "live", events)
	var pe *PartialError
	if !errors.As(err, &pe) || pe.Delivered != 10 {
		t.Fatalf("error = %v; want a PartialError with 10 delivered", err)
	}
	wantKind(t, err, ErrUnavailable)
	srv.SetDown(false)
	if err := c.PutEvents(t.Context(), Target{LogGroup: group}, "live", events[pe.Delivered:]); err != nil {
		t.Fatal(err)
	}
	sameMessages(t, messages(srv.Events(group, "live")), chronological(events))
}

func TestPutEventsRefused(t *testing.T) {
	now := time.Now().Truncate(time.Millisecond)
	cases := []struct {
		name      string
		events    []Event
		maxEvent  int
		retention int32
		want      error
		contain   string
		wantCalls bool // PutLogEvents reached the fake
		stored    int
	}{
		{name: "empty message", events: []Event{{now, "a"}, {now, ""}}, want: ErrInvalidEvent, contain: "event 1 cannot be sent: its message is empty"},
		{name: "message over the event limit", events: []Event{{now, strings.Repeat("j", DefaultMaxEventSize-EventOverhead+1)}}, want: ErrInvalidEvent, contain: "1048551 bytes, more than the 1048550"},
		{name: "message over the legacy event limit", maxEvent: LegacyMaxEventSize, events: []Event{{now, strings.Repeat("j", 262119)}}, want: ErrInvalidEvent, contain: "more than the 262118"},
		{name: "time before 1970", events: []Event{{time.Unix(-1, 0), "a"}}, want: ErrInvalidEvent, contain: "before 1970"},
		{
			name:      "too old and too new events are reported, the others delivered",
			events:    []Event{{now.Add(-15 * 24 * time.Hour), "old"}, {now, "ok1"}, {now.Add(time.Second), "ok2"}, {now.Add(3 * time.Hour), "future"}},
			want:      ErrRejected,
			contain:   "refused 2 of 4 events, stamped " + now.Add(-15*24*time.Hour).UTC().Format(time.RFC3339Nano) + " to " + now.Add(3*time.Hour).UTC().Format(time.RFC3339Nano) + ": 1 more than 14 days old, 0 older than the log group's retention, 1 more than 2 hours ahead",
			wantCalls: true, stored: 2,
		},
		{
			name:      "events older than the group's retention are reported",
			retention: 1,
			events:    []Event{{now.Add(-25 * time.Hour), "expired"}, {now.Add(-23 * time.Hour), "kept"}},
			want:      ErrRejected,
			contain:   "refused 1 of 2 events, stamped " + now.Add(-25*time.Hour).UTC().Format(time.RFC3339Nano) + " to " + now.Add(-25*time.Hour).UTC().Format(time.RFC3339Nano) + ": 0 more than 14 days old, 1 older than the log group's retention, 0 more than 2 hours ahead",
			wantCalls: true, stored: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []clientOpt
			if tc.maxEvent != 0 {
				opts = append(opts, withConfig(func(c *Config) { c.MaxEventSize = tc.maxEvent }))
			}
			srv := newFake(t)
			c := newTestClient(t, srv, opts...)
			createGroup(t, c, group, "")
			if tc.retention != 0 {
				if _, err := c.api.PutRetentionPolicy(t.Context(), &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(group), RetentionInDays: aws.Int32(tc.retention)}); err != nil {
					t.Fatal(err)
				}
			}
			err := c.PutEvents(t.Context(), Target{LogGroup: group}, "live", tc.events)
			wantKind(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.contain) {
				t.Errorf("error %q does not contain %q", err, tc.contain)
			}
			if got := srv.Calls("PutLogEvents") > 0; got != tc.wantCalls {
				t.Errorf("PutLogEvents called: %v, want %v", got, tc.wantCalls)
			}
			if got := len(srv.Events(group, "live")); got != tc.stored {
				t.Errorf("stored %d events, want %d", got, tc.stored)
			}
		})
	}
}
