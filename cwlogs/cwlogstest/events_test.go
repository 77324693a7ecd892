package cwlogstest_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/postern/postern/cwlogs/cwlogstest"
)

const (
	hourMs = int64(time.Hour / time.Millisecond)
	dayMs  = 24 * hourMs
)

func repeatEv(n int, ts int64, msgLen int) []types.InputLogEvent {
	out := make([]types.InputLogEvent, n)
	for i := range out {
		out[i] = ev(ts, strings.Repeat("a", msgLen))
	}
	return out
}

// TestPutLogEventsLimits drives every documented PutLogEvents limit through
// the real SDK with retries disabled.
func TestPutLogEventsLimits(t *testing.T) {
	now := ms(fixedNow)
	idx := func(i int32) *int32 { return &i }
	cases := []struct {
		name         string
		opts         []cwlogstest.Option
		retention    int32
		events       []types.InputLogEvent
		token        *string
		check        func(*testing.T, error) // nil: the call must succeed
		wantStored   int
		wantRejected *types.RejectedLogEventsInfo
	}{
		{
			name:       "batch of exactly 1,048,576 bytes (4 x (262,118 + 26))",
			events:     repeatEv(4, now, 262118),
			wantStored: 4,
		},
		{
			name:   "batch of 1,048,577 bytes",
			events: append(repeatEv(3, now, 262118), ev(now, strings.Repeat("a", 262119))),
			check:  wantErr[*types.InvalidParameterException]("Upload too large: 1048577 bytes exceeds limit of 1048576"),
		},
		{
			name:   "batch size counts UTF-8 bytes, not characters",
			events: []types.InputLogEvent{ev(now, strings.Repeat("\u00e9", 262144)), ev(now, strings.Repeat("\u00e9", 262144))},
			check:  wantErr[*types.InvalidParameterException]("Upload too large: 1048628 bytes"),
		},
		{
			name:       "multi-byte batch just under the limit",
			events:     []types.InputLogEvent{ev(now, strings.Repeat("\u00e9", 262000)), ev(now, strings.Repeat("\u00e9", 262000))},
			wantStored: 2,
		},
		{
			name:       "10,000 events",
			events:     evs(10000, now, 0, "m"),
			wantStored: 10000,
		},
		{
			name:   "10,001 events",
			events: evs(10001, now, 0, "m"),
			check:  wantErr[*types.InvalidParameterException]("'logEvents' failed to satisfy constraint: Member must have length less than or equal to 10000"),
		},
		{
			name:   "empty batch",
			events: []types.InputLogEvent{},
			check:  wantErr[*types.InvalidParameterException]("'logEvents' failed to satisfy constraint: Member must have length greater than or equal to 1"),
		},
		{
			name:       "one event at the 1 MB event limit (1,048,550 + 26)",
			events:     repeatEv(1, now, 1048550),
			wantStored: 1,
		},
		{
			name:   "one event over the 1 MB event limit",
			events: repeatEv(1, now, 1048551),
			check:  wantErr[*types.InvalidParameterException]("Log event too large: 1048577 bytes exceeds limit of 1048576"),
		},
		{
			name:       "300 KB event is legal under the current 1 MB limit",
			events:     repeatEv(1, now, 300000),
			wantStored: 1,
		},
		{
			name:       "legacy 256 KB limit: 262,118-byte message fits",
			opts:       []cwlogstest.Option{cwlogstest.WithMaxEventSize(cwlogstest.LegacyMaxEventSize)},
			events:     repeatEv(1, now, 262118),
			wantStored: 1,
		},
		{
			name:   "legacy 256 KB limit: 262,119-byte message does not",
			opts:   []cwlogstest.Option{cwlogstest.WithMaxEventSize(cwlogstest.LegacyMaxEventSize)},
			events: repeatEv(1, now, 262119),
			check:  wantErr[*types.InvalidParameterException]("Log event too large: 262145 bytes exceeds limit of 262144"),
		},
		{
			name:   "events out of chronological order",
			events: []types.InputLogEvent{ev(now, "b"), ev(now-1, "a")},
			check:  wantErr[*types.InvalidParameterException]("must be in chronological order"),
		},
		{
			name:       "equal timestamps are in order",
			events:     evs(3, now, 0, "same"),
			wantStored: 3,
		},
		{
			name:       "span of exactly 24 hours",
			events:     []types.InputLogEvent{ev(now-dayMs, "a"), ev(now, "b")},
			wantStored: 2,
		},
		{
			name:   "span of 24 hours and 1 ms",
			events: []types.InputLogEvent{ev(now-dayMs-1, "a"), ev(now, "b")},
			check:  wantErr[*types.InvalidParameterException]("cannot span more than 24 hours"),
		},
		{
			name:         "span over 24 hours only through a too-old event is accepted",
			events:       []types.InputLogEvent{ev(now-15*dayMs, "old"), ev(now-hourMs, "a"), ev(now, "b")},
			wantStored:   2,
			wantRejected: &types.RejectedLogEventsInfo{TooOldLogEventEndIndex: idx(1)},
		},
		{
			name:         "event 14 days and 1 ms old is rejected, the call succeeds",
			events:       []types.InputLogEvent{ev(now-14*dayMs-1, "old"), ev(now, "b")},
			wantStored:   1,
			wantRejected: &types.RejectedLogEventsInfo{TooOldLogEventEndIndex: idx(1)},
		},
		{
			name:       "event exactly 14 days old is kept",
			events:     []types.InputLogEvent{ev(now-14*dayMs, "old")},
			wantStored: 1,
		},
		{
			name:         "event 2 hours and 1 ms ahead is rejected, the call succeeds",
			events:       []types.InputLogEvent{ev(now, "a"), ev(now+2*hourMs+1, "future")},
			wantStored:   1,
			wantRejected: &types.RejectedLogEventsInfo{TooNewLogEventStartIndex: idx(1)},
		},
		{
			name:       "event exactly 2 hours ahead is kept",
			events:     []types.InputLogEvent{ev(now+2*hourMs, "future")},
			wantStored: 1,
		},
		{
			name:         "event older than the group's retention is expired",
			retention:    1,
			events:       []types.InputLogEvent{ev(now-25*hourMs, "expired"), ev(now, "b")},
			wantStored:   1,
			wantRejected: &types.RejectedLogEventsInfo{ExpiredLogEventEndIndex: idx(1)},
		},
		{
			name:         "too old and expired together",
			retention:    1,
			events:       []types.InputLogEvent{ev(now-15*dayMs, "old"), ev(now-25*hourMs, "expired"), ev(now, "b")},
			wantStored:   1,
			wantRejected: &types.RejectedLogEventsInfo{TooOldLogEventEndIndex: idx(1), ExpiredLogEventEndIndex: idx(2)},
		},
		{
			name:         "every event rejected still succeeds",
			events:       []types.InputLogEvent{ev(now-15*dayMs, "old"), ev(now+3*hourMs, "future")},
			wantStored:   0,
			wantRejected: &types.RejectedLogEventsInfo{TooOldLogEventEndIndex: idx(1), TooNewLogEventStartIndex: idx(1)},
		},
		{
			name:       "sequence token is accepted and ignored",
			events:     []types.InputLogEvent{ev(now, "a")},
			token:      aws.String("49039859591834925960000000000000000000000000000000000000"),
			wantStored: 1,
		},
		{
			name:   "empty message",
			events: []types.InputLogEvent{ev(now, "a"), ev(now, "")},
			check:  wantErr[*types.InvalidParameterException]("'logEvents.2.member.message' failed to satisfy constraint: Member must have length greater than or equal to 1"),
		},
		{
			name:   "negative timestamp",
			events: []types.InputLogEvent{ev(-1, "a")},
			check:  wantErr[*types.InvalidParameterException]("'logEvents.1.member.timestamp'"),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, append([]cwlogstest.Option{cwlogstest.WithClock(fixedClock)}, tc.opts...)...)
			c := newClient(t, srv)
			createGroup(t, c, "/limits")
			createStream(t, c, "/limits", "s")
			if tc.retention > 0 {
				if _, err := c.PutRetentionPolicy(t.Context(), &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String("/limits"), RetentionInDays: aws.Int32(tc.retention)}); err != nil {
					t.Fatal(err)
				}
			}
			out, err := c.PutLogEvents(t.Context(), &cloudwatchlogs.PutLogEventsInput{
				LogGroupName: aws.String("/limits"), LogStreamName: aws.String("s"), LogEvents: tc.events, SequenceToken: tc.token,
			})
			stored := srv.Events("/limits", "s")
			if tc.check != nil {
				tc.check(t, err)
				if got := httpStatus(t, err); got != 400 {
					t.Errorf("status = %d, want 400", got)
				}
				if len(stored) != 0 {
					t.Errorf("a failed call stored %d events", len(stored))
				}
				return
			}
			if err != nil {
				t.Fatalf("PutLogEvents: %v", err)
			}
			if len(stored) != tc.wantStored {
				t.Errorf("stored %d events, want %d", len(stored), tc.wantStored)
			}
			for _, e := range stored {
				if e.IngestionTime != now || e.EventID == "" {
					t.Fatalf("stored event %+v: ingestion time or ID wrong", e)
				}
			}
			got, want := out.RejectedLogEventsInfo, tc.wantRejected
			if (got == nil) != (want == nil) {
				t.Fatalf("rejectedLogEventsInfo = %+v, want %+v", got, want)
			}
			if got != nil {
				for _, f := range []struct {
					name      string
					got, want *int32
				}{
					{"tooOldLogEventEndIndex", got.TooOldLogEventEndIndex, want.TooOldLogEventEndIndex},
					{"tooNewLogEventStartIndex", got.TooNewLogEventStartIndex, want.TooNewLogEventStartIndex},
					{"expiredLogEventEndIndex", got.ExpiredLogEventEndIndex, want.ExpiredLogEventEndIndex},
				} {
					if ptrInt32(f.got) != ptrInt32(f.want) {
						t.Errorf("%s = %s, want %s", f.name, ptrInt32(f.got), ptrInt32(f.want))
					}
				}
			}
			if aws.ToString(out.NextSequenceToken) == "" {
				t.Errorf("no nextSequenceToken")
			}
		})
	}
}

func TestLegacySequenceTokens(t *testing.T) {
	srv := newServer(t, cwlogstest.WithClock(fixedClock))
	srv.SetLegacySequenceTokens(true)
	c := newClient(t, srv)
	createGroup(t, c, "/seq")
	createStream(t, c, "/seq", "s")
	now := ms(fixedNow)
	call := func(tok *string, msg string) (*cloudwatchlogs.PutLogEventsOutput, error) {
		return c.PutLogEvents(t.Context(), &cloudwatchlogs.PutLogEventsInput{
			LogGroupName: aws.String("/seq"), LogStreamName: aws.String("s"),
			LogEvents: []types.InputLogEvent{ev(now, msg)}, SequenceToken: tok,
		})
	}

	first, err := call(nil, "one") // a new stream needs no token
	if err != nil {
		t.Fatal(err)
	}
	t1 := first.NextSequenceToken

	_, err = call(aws.String("12345"), "two")
	wantErr[*types.InvalidSequenceTokenException]("The next expected sequenceToken is: "+*t1)(t, err)
	var ist *types.InvalidSequenceTokenException
	if errors.As(err, &ist) && aws.ToString(ist.ExpectedSequenceToken) != *t1 {
		t.Errorf("expectedSequenceToken = %q, want %q", aws.ToString(ist.ExpectedSequenceToken), *t1)
	}

	second, err := call(t1, "two")
	if err != nil {
		t.Fatal(err)
	}
	_, err = call(t1, "two") // the same batch with the token it was accepted with
	wantErr[*types.DataAlreadyAcceptedException]("already been accepted")(t, err)
	var daa *types.DataAlreadyAcceptedException
	if errors.As(err, &daa) && aws.ToString(daa.ExpectedSequenceToken) != aws.ToString(second.NextSequenceToken) {
		t.Errorf("expectedSequenceToken = %q, want %q", aws.ToString(daa.ExpectedSequenceToken), aws.ToString(second.NextSequenceToken))
	}
	if n := len(srv.Events("/seq", "s")); n != 2 {
		t.Errorf("stored %d events, want 2", n)
	}

	out, err := c.DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/seq")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.LogStreams[0].UploadSequenceToken); got != aws.ToString(second.NextSequenceToken) {
		t.Errorf("uploadSequenceToken = %q", got)
	}

	srv.SetLegacySequenceTokens(false)
	if _, err := call(aws.String("anything"), "three"); err != nil {
		t.Errorf("with legacy tokens off the token must be ignored: %v", err)
	}
}

func TestDescribeLogStreams(t *testing.T) {
	srv := newServer(t, cwlogstest.WithClock(fixedClock))
	c := newClient(t, srv)
	createGroup(t, c, "/streams")
	now := ms(fixedNow)
	// Stream names sort a, b, c, web-1, web-2; last event times c < a < web-2.
	for _, s := range []string{"web-2", "a", "c", "web-1", "b"} {
		createStream(t, c, "/streams", s)
	}
	mustPut(t, c, "/streams", "c", []types.InputLogEvent{ev(now-3000, "x")})
	mustPut(t, c, "/streams", "a", []types.InputLogEvent{ev(now-2000, "x"), ev(now-1500, "yy")})
	mustPut(t, c, "/streams", "web-2", []types.InputLogEvent{ev(now-1000, "x")})

	names := func(ss []types.LogStream) []string {
		var out []string
		for _, s := range ss {
			out = append(out, aws.ToString(s.LogStreamName))
		}
		return out
	}
	cases := []struct {
		name string
		in   cloudwatchlogs.DescribeLogStreamsInput
		want []string
	}{
		{"all by name", cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/streams")}, []string{"a", "b", "c", "web-1", "web-2"}},
		{"prefix", cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/streams"), LogStreamNamePrefix: aws.String("web-")}, []string{"web-1", "web-2"}},
		{"by name descending", cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/streams"), Descending: aws.Bool(true)}, []string{"web-2", "web-1", "c", "b", "a"}},
		{"by last event time, newest first", cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/streams"), OrderBy: types.OrderByLastEventTime, Descending: aws.Bool(true), Limit: aws.Int32(3)}, []string{"web-2", "a", "c"}},
		{"log group identifier as ARN", cloudwatchlogs.DescribeLogStreamsInput{LogGroupIdentifier: aws.String("arn:aws:logs:us-east-1:123456789012:log-group:/streams"), LogStreamNamePrefix: aws.String("a")}, []string{"a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeLogStreams(t.Context(), &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(out.LogStreams); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("streams = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("stream fields", func(t *testing.T) {
		out, err := c.DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/streams"), LogStreamNamePrefix: aws.String("a")})
		if err != nil {
			t.Fatal(err)
		}
		s := out.LogStreams[0]
		if aws.ToInt64(s.FirstEventTimestamp) != now-2000 || aws.ToInt64(s.LastEventTimestamp) != now-1500 ||
			aws.ToInt64(s.LastIngestionTime) != now || aws.ToInt64(s.CreationTime) != now {
			t.Errorf("timestamps: first %d last %d ingest %d created %d", aws.ToInt64(s.FirstEventTimestamp), aws.ToInt64(s.LastEventTimestamp), aws.ToInt64(s.LastIngestionTime), aws.ToInt64(s.CreationTime))
		}
		if aws.ToString(s.Arn) != "arn:aws:logs:us-east-1:123456789012:log-group:/streams:log-stream:a" {
			t.Errorf("arn = %q", aws.ToString(s.Arn))
		}
	})

	t.Run("pagination through the SDK paginator", func(t *testing.T) {
		p := cloudwatchlogs.NewDescribeLogStreamsPaginator(c, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/streams"), Limit: aws.Int32(2)})
		var got []string
		pages := 0
		for p.HasMorePages() {
			page, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			pages++
			got = append(got, names(page.LogStreams)...)
		}
		if pages != 3 || !reflect.DeepEqual(got, []string{"a", "b", "c", "web-1", "web-2"}) {
			t.Errorf("%d pages: %v", pages, got)
		}
	})

	errCases := []struct {
		name string
		in   cloudwatchlogs.DescribeLogStreamsInput
		msg  string
	}{
		{"LastEventTime with a prefix", cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/streams"), OrderBy: types.OrderByLastEventTime, LogStreamNamePrefix: aws.String("a")}, "LastEventTime"},
		{"both name and identifier", cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/streams"), LogGroupIdentifier: aws.String("/streams")}, "mutually exclusive"},
		{"neither name nor identifier", cloudwatchlogs.DescribeLogStreamsInput{}, "must be specified"},
		{"limit 51", cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/streams"), Limit: aws.Int32(51)}, "less than or equal to 50"},
		{"unknown orderBy", cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/streams"), OrderBy: "Size"}, "enum value set"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.DescribeLogStreams(t.Context(), &tc.in)
			wantErr[*types.InvalidParameterException](tc.msg)(t, err)
		})
	}
}

func TestGetLogEvents(t *testing.T) {
	srv := newServer(t, cwlogstest.WithClock(fixedClock))
	c := newClient(t, srv)
	createGroup(t, c, "/get")
	createStream(t, c, "/get", "s")
	base := ms(fixedNow) - hourMs
	// Two batches, the second older than the first: the stream is kept in
	// timestamp order whatever the arrival order.
	mustPut(t, c, "/get", "s", evs(25, base, 1000, "m")[10:])
	mustPut(t, c, "/get", "s", evs(25, base, 1000, "m")[:10])

	msgs := func(out *cloudwatchlogs.GetLogEventsOutput) []string {
		var m []string
		for _, e := range out.Events {
			m = append(m, aws.ToString(e.Message))
		}
		return m
	}
	rng := func(from, to int) []string {
		var m []string
		for i := from; i < to; i++ {
			m = append(m, fmt.Sprintf("m%02d", i))
		}
		return m
	}
	get := func(in cloudwatchlogs.GetLogEventsInput) *cloudwatchlogs.GetLogEventsOutput {
		t.Helper()
		in.LogGroupName, in.LogStreamName = aws.String("/get"), aws.String("s")
		out, err := c.GetLogEvents(t.Context(), &in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	t.Run("forward from head with nextForwardToken", func(t *testing.T) {
		var tok *string
		var pages [][]string
		for range 4 {
			out := get(cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), Limit: aws.Int32(10), NextToken: tok})
			pages = append(pages, msgs(out))
			if tok != nil && len(out.Events) == 0 && *out.NextForwardToken != *tok {
				t.Errorf("at the end the forward token changed: %q -> %q", *tok, *out.NextForwardToken)
			}
			tok = out.NextForwardToken
		}
		want := [][]string{rng(0, 10), rng(10, 20), rng(20, 25), nil}
		if !reflect.DeepEqual(pages, want) {
			t.Errorf("pages = %v\nwant %v", pages, want)
		}
	})

	t.Run("default reads the newest events, then backwards", func(t *testing.T) {
		out := get(cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(10)})
		if got := msgs(out); !reflect.DeepEqual(got, rng(15, 25)) {
			t.Errorf("newest page = %v", got)
		}
		out = get(cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(10), NextToken: out.NextBackwardToken})
		if got := msgs(out); !reflect.DeepEqual(got, rng(5, 15)) {
			t.Errorf("second page = %v", got)
		}
		out = get(cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(10), NextToken: out.NextBackwardToken})
		if got := msgs(out); !reflect.DeepEqual(got, rng(0, 5)) {
			t.Errorf("third page = %v", got)
		}
		last := out.NextBackwardToken
		out = get(cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(10), NextToken: last})
		if len(out.Events) != 0 || *out.NextBackwardToken != *last {
			t.Errorf("past the start: %v, token %q -> %q", msgs(out), *last, *out.NextBackwardToken)
		}
	})

	t.Run("SDK paginator reads the whole stream and stops on the repeated token", func(t *testing.T) {
		p := cloudwatchlogs.NewGetLogEventsPaginator(c, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String("/get"), LogStreamName: aws.String("s"), StartFromHead: aws.Bool(true), Limit: aws.Int32(7),
		}, func(o *cloudwatchlogs.GetLogEventsPaginatorOptions) {
			// At the end of a stream the service hands back the token it
			// was given; the paginator stops on that only when asked to.
			o.StopOnDuplicateToken = true
		})
		var all []string
		for i := 0; p.HasMorePages(); i++ {
			if i > 10 {
				t.Fatal("paginator did not stop")
			}
			page, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, msgs(page)...)
		}
		if !reflect.DeepEqual(all, rng(0, 25)) {
			t.Errorf("events = %v", all)
		}
	})

	t.Run("startTime inclusive, endTime exclusive", func(t *testing.T) {
		out := get(cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), StartTime: aws.Int64(base + 5000), EndTime: aws.Int64(base + 8000)})
		if got := msgs(out); !reflect.DeepEqual(got, rng(5, 8)) {
			t.Errorf("events = %v", got)
		}
	})

	t.Run("ingestion time is reported", func(t *testing.T) {
		out := get(cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), Limit: aws.Int32(1)})
		if aws.ToInt64(out.Events[0].IngestionTime) != ms(fixedNow) || aws.ToInt64(out.Events[0].Timestamp) != base {
			t.Errorf("event = %+v", out.Events[0])
		}
	})

	errCases := []struct {
		name string
		in   cloudwatchlogs.GetLogEventsInput
		msg  string
	}{
		{"limit 0", cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(0)}, "greater than or equal to 1"},
		{"limit 10,001", cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(10001)}, "less than or equal to 10000"},
		{"forged token", cloudwatchlogs.GetLogEventsInput{NextToken: aws.String("x/123")}, "nextToken"},
		{"token past the end", cloudwatchlogs.GetLogEventsInput{NextToken: aws.String("f/00000000000000000000000000000000000000000000000000000026")}, "nextToken"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.LogGroupName, in.LogStreamName = aws.String("/get"), aws.String("s")
			_, err := c.GetLogEvents(t.Context(), &in)
			wantErr[*types.InvalidParameterException](tc.msg)(t, err)
		})
	}
}

// Without a limit GetLogEvents returns "as many log events as can fit in a
// response size of 1 MB".
func TestGetLogEventsDefaultPageIsOneMegabyte(t *testing.T) {
	srv := newServer(t, cwlogstest.WithClock(fixedClock))
	c := newClient(t, srv)
	createGroup(t, c, "/big")
	createStream(t, c, "/big", "s")
	now := ms(fixedNow)
	mustPut(t, c, "/big", "s", repeatEv(3, now, 300000))
	mustPut(t, c, "/big", "s", repeatEv(2, now, 300000))
	out, err := c.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String("/big"), LogStreamName: aws.String("s"), StartFromHead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 3 {
		t.Errorf("first page has %d events of 300,000 bytes, want 3", len(out.Events))
	}
}

func TestFilterLogEvents(t *testing.T) {
	srv := newServer(t, cwlogstest.WithClock(fixedClock))
	c := newClient(t, srv)
	createGroup(t, c, "/filter")
	for _, s := range []string{"a", "b", "other"} {
		createStream(t, c, "/filter", s)
	}
	base := ms(fixedNow) - hourMs
	mustPut(t, c, "/filter", "a", []types.InputLogEvent{ev(base+0, "a0"), ev(base+20, "a2"), ev(base+40, "a4")})
	mustPut(t, c, "/filter", "b", []types.InputLogEvent{ev(base+10, "b1"), ev(base+30, "b3")})
	mustPut(t, c, "/filter", "other", []types.InputLogEvent{ev(base+50, "o5")})

	msgs := func(es []types.FilteredLogEvent) []string {
		var m []string
		for _, e := range es {
			m = append(m, aws.ToString(e.Message))
		}
		return m
	}
	cases := []struct {
		name string
		in   cloudwatchlogs.FilterLogEventsInput
		want []string
	}{
		{"whole group interleaved by time", cloudwatchlogs.FilterLogEventsInput{}, []string{"a0", "b1", "a2", "b3", "a4", "o5"}},
		{"logStreamNames", cloudwatchlogs.FilterLogEventsInput{LogStreamNames: []string{"b", "other"}}, []string{"b1", "b3", "o5"}},
		{"logStreamNames naming a missing stream", cloudwatchlogs.FilterLogEventsInput{LogStreamNames: []string{"b", "gone"}}, []string{"b1", "b3"}},
		{"logStreamNamePrefix", cloudwatchlogs.FilterLogEventsInput{LogStreamNamePrefix: aws.String("o")}, []string{"o5"}},
		{"startTime and endTime are inclusive", cloudwatchlogs.FilterLogEventsInput{StartTime: aws.Int64(base + 10), EndTime: aws.Int64(base + 30)}, []string{"b1", "a2", "b3"}},
		{"empty filter pattern matches everything", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String(""), LogStreamNames: []string{"a"}}, []string{"a0", "a2", "a4"}},
		{"startFromHead false is newest first", cloudwatchlogs.FilterLogEventsInput{StartFromHead: aws.Bool(false), StartTime: aws.Int64(base)}, []string{"o5", "a4", "b3", "a2", "b1", "a0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.LogGroupName = aws.String("/filter")
			out, err := c.FilterLogEvents(t.Context(), &in)
			if err != nil {
				t.Fatal(err)
			}
			if got := msgs(out.Events); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("event fields", func(t *testing.T) {
		out, err := c.FilterLogEvents(t.Context(), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/filter")})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range out.Events {
			id := aws.ToString(e.EventId)
			if id == "" || seen[id] {
				t.Errorf("eventId %q missing or repeated", id)
			}
			seen[id] = true
			if aws.ToInt64(e.IngestionTime) != ms(fixedNow) || e.LogStreamName == nil {
				t.Errorf("event %+v", e)
			}
		}
		if out.NextToken != nil {
			t.Errorf("nextToken %q with nothing left", *out.NextToken)
		}
	})

	t.Run("SDK paginator with limit 4", func(t *testing.T) {
		p := cloudwatchlogs.NewFilterLogEventsPaginator(c, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/filter"), Limit: aws.Int32(4)})
		var all []string
		pages := 0
		for p.HasMorePages() {
			page, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			pages++
			all = append(all, msgs(page.Events)...)
		}
		if pages != 2 || !reflect.DeepEqual(all, []string{"a0", "b1", "a2", "b3", "a4", "o5"}) {
			t.Errorf("%d pages: %v", pages, all)
		}
	})

	errCases := []struct {
		name  string
		in    cloudwatchlogs.FilterLogEventsInput
		check func(*testing.T, error)
	}{
		{"non-empty filterPattern is unsupported", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String("ERROR")}, wantErr[*types.InvalidParameterException]("filterPattern", "not supported")},
		{"logStreamNames with logStreamNamePrefix", cloudwatchlogs.FilterLogEventsInput{LogStreamNames: []string{"a"}, LogStreamNamePrefix: aws.String("a")}, wantErr[*types.InvalidParameterException]("mutually exclusive")},
		{"101 logStreamNames", cloudwatchlogs.FilterLogEventsInput{LogStreamNames: make101Names()}, wantErr[*types.InvalidParameterException]("less than or equal to 100")},
		{"limit 10,001", cloudwatchlogs.FilterLogEventsInput{Limit: aws.Int32(10001)}, wantErr[*types.InvalidParameterException]("less than or equal to 10000")},
		{"newest first from before 2024", cloudwatchlogs.FilterLogEventsInput{StartFromHead: aws.Bool(false), StartTime: aws.Int64(0)}, wantErr[*types.InvalidParameterException]("2024")},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.LogGroupName = aws.String("/filter")
			_, err := c.FilterLogEvents(t.Context(), &in)
			tc.check(t, err)
		})
	}
}

func make101Names() []string {
	out := make([]string, 101)
	for i := range out {
		out[i] = fmt.Sprintf("s%d", i)
	}
	return out
}
