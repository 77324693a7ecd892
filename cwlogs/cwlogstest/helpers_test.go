package cwlogstest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/postern/postern/cwlogs/cwlogstest"
)

// fixedNow is the fake clock used by tests that depend on event ages.
var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

// ms converts a time to the milliseconds CloudWatch Logs timestamps use.
func ms(t time.Time) int64 { return t.UnixMilli() }

// newServer starts a fake and closes it when the test ends.
func newServer(t *testing.T, opts ...cwlogstest.Option) *cwlogstest.Server {
	t.Helper()
	srv := cwlogstest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

// newClient builds a real SDK client pointed at the fake with BaseEndpoint.
// Retries are off (one attempt) so that every error the fake returns reaches
// the test; pass withRetries to turn them back on.
func newClient(t *testing.T, srv *cwlogstest.Server, optFns ...func(*cloudwatchlogs.Options)) *cloudwatchlogs.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(
			"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "")),
		// Keep the developer's ~/.aws out of the tests.
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	return cloudwatchlogs.NewFromConfig(cfg, append([]func(*cloudwatchlogs.Options){
		func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String(srv.URL()) },
	}, optFns...)...)
}

// withRetries gives the client the SDK's standard retryer with n attempts,
// no backoff delay and no retry quota, so retry tests run fast.
func withRetries(n int) func(*cloudwatchlogs.Options) {
	return func(o *cloudwatchlogs.Options) {
		o.RetryMaxAttempts = 0
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = n
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			so.RateLimiter = ratelimit.None
		})
	}
}

// wantErr returns a check that err unwraps to the SDK's typed error T.
func wantErr[T error](msgContains ...string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var target T
		if !errors.As(err, &target) {
			t.Fatalf("error = %v (%T); want %T", err, err, target)
		}
		for _, s := range msgContains {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not contain %q", err.Error(), s)
			}
		}
	}
}

// httpStatus extracts the HTTP status code of an SDK operation error.
func httpStatus(t *testing.T, err error) int {
	t.Helper()
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) {
		t.Fatalf("error %v carries no HTTP response", err)
	}
	return re.HTTPStatusCode()
}

func createGroup(t *testing.T, c *cloudwatchlogs.Client, name string) {
	t.Helper()
	if _, err := c.CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name)}); err != nil {
		t.Fatalf("CreateLogGroup(%q): %v", name, err)
	}
}

func createStream(t *testing.T, c *cloudwatchlogs.Client, group, name string) {
	t.Helper()
	if _, err := c.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(name)}); err != nil {
		t.Fatalf("CreateLogStream(%q, %q): %v", group, name, err)
	}
}

func put(ctx context.Context, c *cloudwatchlogs.Client, group, stream string, evs []types.InputLogEvent) (*cloudwatchlogs.PutLogEventsOutput, error) {
	return c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: evs,
	})
}

func mustPut(t *testing.T, c *cloudwatchlogs.Client, group, stream string, evs []types.InputLogEvent) *cloudwatchlogs.PutLogEventsOutput {
	t.Helper()
	out, err := put(t.Context(), c, group, stream, evs)
	if err != nil {
		t.Fatalf("PutLogEvents: %v", err)
	}
	return out
}

func ev(ts int64, msg string) types.InputLogEvent {
	return types.InputLogEvent{Timestamp: aws.Int64(ts), Message: aws.String(msg)}
}

// evs builds n events at ts, ts+step, ... with messages prefix00, prefix01, ...
func evs(n int, ts, step int64, prefix string) []types.InputLogEvent {
	out := make([]types.InputLogEvent, n)
	for i := range out {
		out[i] = ev(ts+int64(i)*step, fmt.Sprintf("%s%02d", prefix, i))
	}
	return out
}

func ptrInt32(p *int32) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}
