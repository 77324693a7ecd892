package cwlogs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// PutTranscript uploads a session's transcript to the log stream `stream`
// of t.LogGroup, creating the stream or reusing it if it exists, and returns
// its location, "cloudwatch://<group>/<stream>".
//
// Each line of body becomes one event, without its line ending; empty lines
// are dropped; a line longer than the event limit becomes several events,
// cut between UTF-8 characters. Every event is stamped at (the session's
// end). Events go in batches within every PutLogEvents limit, and body is
// read as the batches go: at most one batch is held in memory.
//
// A repeated call after a failure resumes: the events already in the stream,
// which must be the start of this same transcript, are skipped (see the
// package comment). A stream holding other events fails with
// ErrStreamConflict. When the service rejects the events because at is too
// old (14 days, or the group's retention) or too far ahead, the call fails
// with ErrRejected.
func (c *Client) PutTranscript(ctx context.Context, t Target, stream string, at time.Time, body io.Reader) (string, error) {
	const op = "put transcript"
	if err := checkNames(op, t.LogGroup, stream); err != nil {
		return "", err
	}
	if at.Before(time.Unix(0, 0)) {
		return "", &Error{Kind: ErrInvalidEvent, Msg: fmt.Sprintf("cloudwatch logs: %s: time %v is before 1970", op, at)}
	}
	if body == nil {
		body = strings.NewReader("")
	}
	u := &upload{c: c, group: t.LogGroup, stream: stream, ts: at.UnixMilli()}
	fail := func(err error, what string) (string, error) {
		var e *Error
		if errors.As(err, &e) {
			return "", err
		}
		kind, clause := c.explain(err, what, t.LogGroup)
		return "", &Error{Kind: kind, Msg: fmt.Sprintf("cloudwatch logs: uploading the transcript to log group %s stream %s: %s", t.LogGroup, stream, clause), Err: err}
	}

	existed, err := c.createStream(ctx, t.LogGroup, stream)
	if err != nil {
		return fail(err, "creating log stream "+stream)
	}
	gen := newSplitter(body, c.MaxMessageBytes())
	if existed {
		if err := u.skipStored(ctx, gen); err != nil {
			return fail(err, "reading back log stream "+stream)
		}
	}
	for {
		msg, ok, err := gen.next()
		if err != nil {
			return "", readErr(t.LogGroup, stream, err)
		}
		if !ok {
			break
		}
		if !u.fits(msg) {
			if err := u.flush(ctx); err != nil {
				return fail(err, "uploading to log stream "+stream)
			}
		}
		u.append(msg)
	}
	if err := u.flush(ctx); err != nil {
		return fail(err, "uploading to log stream "+stream)
	}
	return location(t.LogGroup, stream), nil
}

func readErr(group, stream string, err error) error {
	return &Error{Msg: fmt.Sprintf("cloudwatch logs: reading the transcript for log group %s stream %s: %v", group, stream, err), Err: err}
}

// upload is one PutTranscript call in progress.
type upload struct {
	c             *Client
	group, stream string
	ts            int64 // every event's timestamp
	stored        int   // events of the transcript known to be in the stream
	batch         []types.InputLogEvent
	batchBytes    int
}

func (u *upload) fits(msg string) bool {
	return len(u.batch) < MaxBatchEvents && u.batchBytes+len(msg)+EventOverhead <= MaxBatchBytes
}

func (u *upload) append(msg string) {
	u.batch = append(u.batch, types.InputLogEvent{Timestamp: aws.Int64(u.ts), Message: aws.String(msg)})
	u.batchBytes += len(msg) + EventOverhead
}

// skipStored reads the stream from its head alongside the transcript and
// consumes from gen the events the stream already holds.
func (u *upload) skipStored(ctx context.Context, gen *splitter) error {
	sc := u.c.scan(u.group, u.stream, nil, nil)
	for {
		ev, ok, err := sc.next(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		msg, more, err := gen.next()
		if err != nil {
			return readErr(u.group, u.stream, err)
		}
		if !more {
			return u.conflict(fmt.Sprintf("it holds more events than the transcript has (%d)", u.stored))
		}
		if aws.ToString(ev.Message) != msg || aws.ToInt64(ev.Timestamp) != u.ts {
			return u.conflict(fmt.Sprintf("its event %d is not the transcript's event %d", u.stored+1, u.stored+1))
		}
		u.stored++
	}
}

func (u *upload) conflict(why string) error {
	return &Error{Kind: ErrStreamConflict, Msg: fmt.Sprintf(
		"cloudwatch logs: log stream %s in log group %s (region %s) already holds events that are not this transcript: %s; delete the stream or deliver the transcript under another name",
		u.stream, u.group, u.c.region, why)}
}

// flush sends the batch, if any.
func (u *upload) flush(ctx context.Context) error {
	if len(u.batch) == 0 {
		return nil
	}
	out, err := u.c.putBatch(ctx, u.group, u.stream, u.batch, func(ctx context.Context) (bool, error) {
		return u.landed(ctx)
	})
	if err != nil {
		return err
	}
	if out != nil {
		var r rejections
		r.add(out.RejectedLogEventsInfo, u.batch)
		if err := r.err(u.c, u.group, u.stream, len(u.batch)); err != nil {
			return err
		}
	}
	u.stored += len(u.batch)
	u.batch = u.batch[:0]
	u.batchBytes = 0
	return nil
}

// landed reads the stream back after an ambiguous failure of the current
// batch and tells whether the service stored it. The stream must hold either
// the u.stored events before the batch, or those and the batch.
func (u *upload) landed(ctx context.Context) (bool, error) {
	sc := u.c.scan(u.group, u.stream, nil, nil)
	n := 0
	for {
		ev, ok, err := sc.next(ctx)
		if err != nil {
			return false, err
		}
		if !ok {
			break
		}
		if i := n - u.stored; i >= 0 {
			if i >= len(u.batch) {
				return false, u.conflict(fmt.Sprintf("it holds more events (%d so far) than were sent (%d)", n+1, u.stored+len(u.batch)))
			}
			if aws.ToString(ev.Message) != aws.ToString(u.batch[i].Message) || aws.ToInt64(ev.Timestamp) != u.ts {
				return false, u.conflict(fmt.Sprintf("its event %d is not the transcript's event %d", n+1, n+1))
			}
		}
		n++
	}
	switch n {
	case u.stored:
		return false, nil
	case u.stored + len(u.batch):
		return true, nil
	}
	return false, u.conflict(fmt.Sprintf("it holds %d events where %d or %d were expected", n, u.stored, u.stored+len(u.batch)))
}

// createStream creates the stream; existed reports that it was there already.
func (c *Client) createStream(ctx context.Context, group, stream string) (existed bool, err error) {
	err = c.call(ctx, func(ctx context.Context) error {
		_, err := c.api.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
			LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
		})
		return err
	})
	var exists *types.ResourceAlreadyExistsException
	if errors.As(err, &exists) {
		return true, nil
	}
	return false, err
}

// putBatch sends one batch. Throttling is retried; after an ambiguous failure
// landed decides whether the batch was stored (then putBatch returns nil, nil)
// or must be sent again.
func (c *Client) putBatch(ctx context.Context, group, stream string, batch []types.InputLogEvent, landed func(context.Context) (bool, error)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	in := &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: batch,
	}
	for attempt := 1; ; attempt++ {
		var out *cloudwatchlogs.PutLogEventsOutput
		err := c.once(ctx, func(ctx context.Context) error {
			var err error
			out, err = c.api.PutLogEvents(ctx, in)
			return err
		})
		if err == nil {
			return out, nil
		}
		ambiguous := classify(ctx, err) == transient
		if err := c.retryable(ctx, attempt, err); err != nil {
			return nil, err
		}
		if ambiguous {
			ok, err := landed(ctx)
			if err != nil {
				return nil, err
			}
			if ok {
				return nil, nil
			}
		}
	}
}

// rejections counts the events of batches the service refused for their
// timestamps.
type rejections struct {
	tooOld, expired, tooNew int
	first, last             int64 // timestamps of the refused events
}

// add counts what rejectedLogEventsInfo says about batch.
func (r *rejections) add(info *types.RejectedLogEventsInfo, batch []types.InputLogEvent) {
	if info == nil {
		return
	}
	// Both end indexes are exclusive and count from the batch's start; the
	// expired range begins where the too-old range ends.
	tooOld := int(aws.ToInt32(info.TooOldLogEventEndIndex))
	expired := max(0, int(aws.ToInt32(info.ExpiredLogEventEndIndex))-tooOld)
	tooNew := 0
	if info.TooNewLogEventStartIndex != nil {
		tooNew = max(0, len(batch)-int(*info.TooNewLogEventStartIndex))
	}
	if tooOld+expired+tooNew == 0 {
		return
	}
	lo, hi := 0, len(batch)-1
	if tooOld+expired == 0 {
		lo = len(batch) - tooNew
	}
	if tooNew == 0 {
		hi = tooOld + expired - 1
	}
	if r.total() == 0 || aws.ToInt64(batch[lo].Timestamp) < r.first {
		r.first = aws.ToInt64(batch[lo].Timestamp)
	}
	r.last = max(r.last, aws.ToInt64(batch[hi].Timestamp))
	r.tooOld += tooOld
	r.expired += expired
	r.tooNew += tooNew
}

func (r *rejections) total() int { return r.tooOld + r.expired + r.tooNew }

// err is an ErrRejected error, or nil when nothing was refused.
func (r *rejections) err(c *Client, group, stream string, sent int) error {
	if r.total() == 0 {
		return nil
	}
	stamp := func(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }
	return &Error{Kind: ErrRejected, Msg: fmt.Sprintf(
		"cloudwatch logs: log group %s stream %s (region %s) refused %d of %d events, stamped %s to %s: %d more than 14 days old, %d older than the log group's retention, %d more than 2 hours ahead of the service's clock",
		group, stream, c.region, r.total(), sent, stamp(r.first), stamp(r.last), r.tooOld, r.expired, r.tooNew)}
}

// scanner reads a stream's events from its head, a page at a time.
type scanner struct {
	c    *Client
	in   cloudwatchlogs.GetLogEventsInput
	page []types.OutputLogEvent
	done bool
}

// scan reads group/stream, restricted to [start, end) when given.
func (c *Client) scan(group, stream string, start, end *int64) *scanner {
	return &scanner{c: c, in: cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
		StartFromHead: aws.Bool(true), StartTime: start, EndTime: end,
	}}
}

// next returns the next event; ok is false after the last. The service
// signals the end by returning the token it was given.
func (s *scanner) next(ctx context.Context) (ev types.OutputLogEvent, ok bool, err error) {
	for len(s.page) == 0 {
		if s.done {
			return ev, false, nil
		}
		in := s.in
		var out *cloudwatchlogs.GetLogEventsOutput
		err := s.c.call(ctx, func(ctx context.Context) error {
			var err error
			out, err = s.c.api.GetLogEvents(ctx, &in)
			return err
		})
		if err != nil {
			return ev, false, err
		}
		s.page = out.Events
		tok := aws.ToString(out.NextForwardToken)
		if tok == "" || tok == aws.ToString(s.in.NextToken) {
			s.done = true
		}
		s.in.NextToken = out.NextForwardToken
	}
	ev, s.page = s.page[0], s.page[1:]
	return ev, true, nil
}
