package cwlogs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// PutEvents uploads events (serialized JSON in Session Manager's schema,
// each at most MaxMessageBytes) to the log stream `stream` of t.LogGroup,
// creating the stream if needed. Events are sent in chronological order (a
// stable sort by Time) in batches within every PutLogEvents limit, a batch
// spanning at most 24 hours. Retries follow the package rules; an ambiguous
// failure is resolved by reading the batch's time range back.
//
// All events are validated before anything is sent: an empty or too large
// message, or a time before 1970, fails the call with ErrInvalidEvent.
// Invalid UTF-8 is replaced by U+FFFD. A failure after some batches were
// stored is a *PartialError saying how many. Events the service refuses for
// their age (14 days, the group's retention) or for being more than 2 hours
// ahead are reported after the other events were delivered, as an
// ErrRejected error; sending them again does not help.
//
// Zero events only make sure the stream exists. The streams this client
// created or found are remembered, so a live session's periodic flushes do
// not call CreateLogStream; a stream deleted meanwhile is created again.
func (c *Client) PutEvents(ctx context.Context, t Target, stream string, events []Event) error {
	const op = "put events"
	if err := checkNames(op, t.LogGroup, stream); err != nil {
		return err
	}
	evs := make([]types.InputLogEvent, len(events))
	sizes := make([]int, len(events))
	for i, e := range events {
		msg := e.Message
		if !utf8.ValidString(msg) {
			msg = strings.ToValidUTF8(msg, "\uFFFD")
		}
		why := ""
		switch {
		case msg == "":
			why = "its message is empty"
		case len(msg) > c.MaxMessageBytes():
			why = fmt.Sprintf("its message is %d bytes, more than the %d an event can hold", len(msg), c.MaxMessageBytes())
		case e.Time.Before(time.Unix(0, 0)):
			why = fmt.Sprintf("its time %v is before 1970", e.Time)
		}
		if why != "" {
			return &Error{Kind: ErrInvalidEvent, Msg: fmt.Sprintf("cloudwatch logs: %s to log group %s stream %s: event %d cannot be sent: %s", op, t.LogGroup, stream, i, why)}
		}
		evs[i] = types.InputLogEvent{Timestamp: aws.Int64(e.Time.UnixMilli()), Message: aws.String(msg)}
		sizes[i] = len(msg) + EventOverhead
	}
	if !slices.IsSortedFunc(evs, cmpTime) {
		// Sort indexes so that sizes follow their events.
		idx := make([]int, len(evs))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmpTime(evs[a], evs[b]) })
		sorted, sortedSizes := make([]types.InputLogEvent, len(evs)), make([]int, len(evs))
		for i, j := range idx {
			sorted[i], sortedSizes[i] = evs[j], sizes[j]
		}
		evs, sizes = sorted, sortedSizes
	}

	p := &putter{c: c, group: t.LogGroup, stream: stream}
	fail := func(err error) error {
		var e *Error
		if !errors.As(err, &e) {
			kind, clause := c.explain(err, "uploading events to log stream "+stream, t.LogGroup)
			err = &Error{Kind: kind, Msg: fmt.Sprintf("cloudwatch logs: %s to log group %s stream %s: %s", op, t.LogGroup, stream, clause), Err: err}
		}
		if p.delivered > 0 {
			return &PartialError{Delivered: p.delivered, Err: err}
		}
		return err
	}
	if err := p.ensureStream(ctx, false); err != nil {
		return fail(err)
	}
	var rejected rejections
	for start := 0; start < len(evs); {
		end, bytes := start, 0
		first := aws.ToInt64(evs[start].Timestamp)
		for end < len(evs) && end-start < MaxBatchEvents && bytes+sizes[end] <= MaxBatchBytes &&
			aws.ToInt64(evs[end].Timestamp)-first <= MaxBatchSpan.Milliseconds() {
			bytes += sizes[end]
			end++
		}
		batch := evs[start:end]
		out, err := p.put(ctx, batch)
		if err != nil {
			return fail(err)
		}
		if out != nil {
			rejected.add(out.RejectedLogEventsInfo, batch)
		}
		p.delivered += len(batch)
		start = end
	}
	return rejected.err(c, t.LogGroup, stream, len(evs))
}

func cmpTime(a, b types.InputLogEvent) int {
	return int(max(-1, min(1, aws.ToInt64(a.Timestamp)-aws.ToInt64(b.Timestamp))))
}

// putter is one PutEvents call in progress.
type putter struct {
	c             *Client
	group, stream string
	delivered     int
}

// ensureStream creates the stream unless it is known to exist (or force).
func (p *putter) ensureStream(ctx context.Context, force bool) error {
	if !force && p.c.streams.has(p.group, p.stream) {
		return nil
	}
	if _, err := p.c.createStream(ctx, p.group, p.stream); err != nil {
		return err
	}
	p.c.streams.add(p.group, p.stream)
	return nil
}

// put sends one batch; if the stream is gone, it creates it and sends again.
func (p *putter) put(ctx context.Context, batch []types.InputLogEvent) (*cloudwatchlogs.PutLogEventsOutput, error) {
	landed := func(ctx context.Context) (bool, error) { return p.c.windowHolds(ctx, p.group, p.stream, batch) }
	out, err := p.c.putBatch(ctx, p.group, p.stream, batch, landed)
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) && strings.Contains(aws.ToString(nf.Message), "log stream") {
		p.c.streams.forget(p.group, p.stream)
		if err := p.ensureStream(ctx, true); err != nil {
			return nil, err
		}
		out, err = p.c.putBatch(ctx, p.group, p.stream, batch, landed)
	}
	return out, err
}

// windowHolds tells whether every event of batch (timestamp and message) is
// in the stream, in order, within the batch's time range.
func (c *Client) windowHolds(ctx context.Context, group, stream string, batch []types.InputLogEvent) (bool, error) {
	start := aws.ToInt64(batch[0].Timestamp)
	end := aws.ToInt64(batch[len(batch)-1].Timestamp) + 1 // exclusive
	sc := c.scan(group, stream, &start, &end)
	i := 0
	for i < len(batch) {
		ev, ok, err := sc.next(ctx)
		if err != nil {
			var nf *types.ResourceNotFoundException
			if errors.As(err, &nf) {
				return false, nil
			}
			return false, err
		}
		if !ok {
			return false, nil
		}
		if aws.ToInt64(ev.Timestamp) == aws.ToInt64(batch[i].Timestamp) && aws.ToString(ev.Message) == aws.ToString(batch[i].Message) {
			i++
		}
	}
	return true, nil
}
