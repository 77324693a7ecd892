package delivery

import (
	"context"
	"io"
	"time"

	"github.com/postern/postern/cwlogs"
)

// CloudWatchLogs is the CloudWatch Logs destination, through package
// cwlogs: what a server configured for CloudWatch Logs delivers to, and
// what tests that run one against cwlogstest use.
type CloudWatchLogs struct{ Client *cwlogs.Client }

func (d CloudWatchLogs) target(t CloudWatchTarget) cwlogs.Target {
	return cwlogs.Target{LogGroup: t.LogGroup, RequireEncryption: t.RequireEncryption}
}

func (d CloudWatchLogs) Check(ctx context.Context, t CloudWatchTarget) error {
	return d.Client.Check(ctx, d.target(t))
}

func (d CloudWatchLogs) PutTranscript(ctx context.Context, t CloudWatchTarget, stream string, at time.Time, body io.Reader) (string, error) {
	return d.Client.PutTranscript(ctx, d.target(t), stream, at, body)
}

func (d CloudWatchLogs) PutEvents(ctx context.Context, t CloudWatchTarget, stream string, events []StreamEvent) error {
	evs := make([]cwlogs.Event, len(events))
	for i, e := range events {
		evs[i] = cwlogs.Event{Time: e.Time, Message: e.Message}
	}
	return d.Client.PutEvents(ctx, d.target(t), stream, evs)
}
