// Package cwlogs is the CloudWatch Logs destination for session logs: it
// checks a log group before a session starts (existence and, when the
// preferences ask for it, a KMS key), uploads a session's transcript to a log
// stream named after the session when the session ends, and uploads streamed
// JSON events (Session Manager's schema) while it runs. It talks to the
// service through the AWS SDK for Go v2.
//
// # Limits
//
// Every PutLogEvents call respects the service's documented limits: at most
// 1,048,576 bytes counted as the UTF-8 length of each message plus 26 bytes per
// event, at most 10,000 events, events in chronological order spanning at
// most 24 hours, and each event at most Config.MaxEventSize bytes (message +
// 26): 1 MiB on the current service, 256 KiB on older ones and on look-alike
// services. Messages are made valid UTF-8 before they are measured (invalid
// bytes become U+FFFD, as a JSON encoder would do anyway), so what is counted
// is what the service receives.
//
// # Retries
//
// The SDK's own retryer is off; this package retries, so that it can tell
// apart failures that certainly stored nothing from ambiguous ones:
//
//   - Throttling (ThrottlingException and the other throttling codes, HTTP
//     429) stored nothing and is retried after an exponential backoff with
//     jitter that ends early when ctx is done.
//   - Server errors (HTTP 5xx) and broken connections are ambiguous for
//     PutLogEvents: the service may have stored the batch before the answer
//     was lost. Before re-sending a batch after such a failure the stream is
//     read back (GetLogEvents) to see whether the batch is there; reads and
//     CreateLogStream are simply retried.
//   - A request that gets no answer within Config.Timeout is not retried
//     inside the call: a hung endpoint would otherwise hold the caller for
//     several timeouts. The call fails with ErrTimeout and the caller's outbox
//     retries it later; PutTranscript resumes where the stream stands.
//   - After 6 failed attempts of one request (4 to 8 s of backoff) the call
//     fails with ErrUnavailable; the outbox retries later.
//
// Check is bounded as a whole by Config.Timeout, retries included, since a
// session waits for it.
//
// # Idempotent transcripts
//
// PutTranscript may be called again for the same session after a failure
// that left part of the transcript in the stream. It must not duplicate what
// is there, and the stream keeps the session's name, so a fresh stream per
// attempt is not an option. Instead, when CreateLogStream reports that the
// stream already exists, PutTranscript reads the stream from its head
// (GetLogEvents, startFromHead) while re-reading the transcript, and compares
// event by event: the events already stored must be exactly the first events
// of this transcript (same message, same timestamp), and those are skipped;
// the rest is uploaded. A stream that holds anything else (another session's
// events, a different transcript) fails the call with ErrStreamConflict
// instead of being appended to. The events of a transcript are a pure function
// of the transcript bytes, the timestamp and the event size limit, so two
// attempts produce the same sequence; PutLogEvents stores a batch atomically
// and the service returns events of equal timestamp in the order they were
// stored, so the stream always holds a prefix of that sequence.
//
// Caveat: CloudWatch Logs makes ingested events visible to GetLogEvents after
// a short delay (usually well under a second). A batch stored just before a
// failure may not yet be visible to the read-back, and would then be sent
// twice. The fake used by the tests is immediately consistent.
//
// The read-back needs logs:GetLogEvents, which policies written for Session
// Manager may lack, besides logs:CreateLogStream and logs:PutLogEvents (and
// logs:DescribeLogGroups for Check).
//
// PutEvents resolves an ambiguous failure the same way but only over the
// batch's time range: the batch counts as stored when all of its events
// (timestamp and message) are found there in order. Session Manager-schema
// events carry their own time and session id, so distinct events do not look
// alike.
package cwlogs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

// Documented PutLogEvents limits.
const (
	// MaxBatchBytes is the largest PutLogEvents batch: the sum over its
	// events of the message's UTF-8 length plus EventOverhead.
	MaxBatchBytes = 1048576
	// EventOverhead is what the service adds to each message's length when
	// it measures events and batches.
	EventOverhead = 26
	// MaxBatchEvents is the largest number of events in one PutLogEvents call.
	MaxBatchEvents = 10000
	// MaxBatchSpan is the largest time span of the events of one batch.
	MaxBatchSpan = 24 * time.Hour
	// DefaultMaxEventSize is the current per-event limit (message + 26).
	DefaultMaxEventSize = 1048576
	// LegacyMaxEventSize is the per-event limit that applied before April
	// 2025 (256 KiB), still the limit of older or look-alike services.
	LegacyMaxEventSize = 262144
	// DefaultTimeout is the default per-request timeout.
	DefaultTimeout = 30 * time.Second

	defaultRegion = "us-east-1"
	// minMaxEventSize leaves room for one 4-byte UTF-8 character per event.
	minMaxEventSize = EventOverhead + 4
)

// Config says where CloudWatch Logs is and how to call it. The zero value
// uses the standard AWS configuration chain.
type Config struct {
	// Endpoint is the service URL. Empty: the SDK's default chain, which
	// honours AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, AWS_ENDPOINT_URL and the
	// shared config file; AWS_ENDPOINT_URL_LOGS, the name Postern documents,
	// is honoured too, after AWS_ENDPOINT_URL_CLOUDWATCH_LOGS and before
	// AWS_ENDPOINT_URL.
	Endpoint string
	// Region is the AWS region. Empty: from the chain (AWS_REGION, shared
	// config); still empty: "us-east-1".
	Region string
	// Static credentials. Empty: the default credential chain.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Timeout bounds each request to the service; default 30s. Check is
	// bounded by it as a whole.
	Timeout time.Duration
	// MaxEventSize is the per-event limit in bytes, message plus 26 bytes of
	// overhead; default 1,048,576 (the current service); 262,144 for older
	// services.
	MaxEventSize int
}

// Client is a CloudWatch Logs destination. It is safe for concurrent use;
// concurrent uploads to the same stream are not ordered with each other.
type Client struct {
	api      *cloudwatchlogs.Client
	region   string
	endpoint string // as configured, for messages; "" for the SDK default
	timeout  time.Duration
	maxEvent int // per-event limit, message + EventOverhead

	// Retry policy: at most attempts tries of one request; backoff before
	// try n+1 is a random duration in [d/2, d] with d = backoffBase·2^(n-1)
	// capped at backoffMax.
	attempts    int
	backoffBase time.Duration
	backoffMax  time.Duration

	streams streamSet
}

// New builds a client from cfg and the standard AWS configuration chain. It
// makes no request.
func New(ctx context.Context, cfg Config) (*Client, error) {
	return newClient(ctx, cfg)
}

// newClient is New with extra SDK options, which the tests use to put a
// misbehaving transport between the client and the fake.
func newClient(ctx context.Context, cfg Config, optFns ...func(*cloudwatchlogs.Options)) (*Client, error) {
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("cloudwatch logs: timeout %v is negative", cfg.Timeout)
	case cfg.MaxEventSize != 0 && (cfg.MaxEventSize < minMaxEventSize || cfg.MaxEventSize > MaxBatchBytes):
		return nil, fmt.Errorf("cloudwatch logs: max event size %d is outside %d..%d bytes", cfg.MaxEventSize, minMaxEventSize, MaxBatchBytes)
	case (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == ""):
		return nil, errors.New("cloudwatch logs: an access key ID needs its secret access key and the other way round")
	case cfg.SessionToken != "" && cfg.AccessKeyID == "":
		return nil, errors.New("cloudwatch logs: a session token needs an access key ID and a secret access key")
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = logsEndpointFromEnv()
	}
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("cloudwatch logs: endpoint %q is not an http:// or https:// URL", endpoint)
		}
	}

	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch logs: loading AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = defaultRegion
	}

	c := &Client{
		region:      awsCfg.Region,
		endpoint:    endpoint,
		timeout:     cfg.Timeout,
		maxEvent:    cfg.MaxEventSize,
		attempts:    6,
		backoffBase: 250 * time.Millisecond,
		backoffMax:  8 * time.Second,
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxEvent == 0 {
		c.maxEvent = DefaultMaxEventSize
	}
	c.api = cloudwatchlogs.NewFromConfig(awsCfg, append([]func(*cloudwatchlogs.Options){
		func(o *cloudwatchlogs.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
			}
			// This package retries (see the package comment).
			o.Retryer = aws.NopRetryer{}
			o.RetryMaxAttempts = 0
		},
	}, optFns...)...)
	return c, nil
}

// logsEndpointFromEnv returns AWS_ENDPOINT_URL_LOGS unless the SDK would use
// a more specific setting or configured endpoints are switched off.
func logsEndpointFromEnv() string {
	if v, _ := strconv.ParseBool(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")); v {
		return ""
	}
	if os.Getenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS") != "" {
		return ""
	}
	return os.Getenv("AWS_ENDPOINT_URL_LOGS")
}

// Region is the region the client calls.
func (c *Client) Region() string { return c.region }

// MaxMessageBytes is the largest message, in UTF-8 bytes, of one event:
// MaxEventSize minus the 26 bytes of overhead.
func (c *Client) MaxMessageBytes() int { return c.maxEvent - EventOverhead }

// Target is a log group as the session preferences name it.
type Target struct {
	LogGroup          string // cloudWatchLogGroupName
	RequireEncryption bool   // cloudWatchEncryptionEnabled
}

// Event is one event for PutEvents.
type Event struct {
	Time    time.Time
	Message string
}

// Kinds of failure; every error this package returns for one of these
// reasons matches it with errors.Is.
var (
	// ErrInvalidName: the log group or stream name breaks the service's rules.
	ErrInvalidName = errors.New("invalid CloudWatch Logs name")
	// ErrInvalidEvent: an event given to PutEvents cannot be sent (empty,
	// too large, before 1970).
	ErrInvalidEvent = errors.New("invalid log event")
	// ErrLogGroupNotFound: the log group does not exist in the region.
	ErrLogGroupNotFound = errors.New("log group not found")
	// ErrNotEncrypted: encryption is required and the group has no KMS key.
	ErrNotEncrypted = errors.New("log group not encrypted")
	// ErrAccessDenied: the credentials are missing, invalid or expired, or
	// lack a permission.
	ErrAccessDenied = errors.New("access denied")
	// ErrWrongRegion: the endpoint does not serve the region, or the region
	// has no endpoint.
	ErrWrongRegion = errors.New("wrong region")
	// ErrTimeout: a request got no answer within Config.Timeout.
	ErrTimeout = errors.New("timed out")
	// ErrUnavailable: the service kept throttling, failing or refusing
	// connections through every retry.
	ErrUnavailable = errors.New("service unavailable")
	// ErrStreamConflict: the log stream holds events that are not a prefix of
	// the transcript being uploaded, or changed during the upload.
	ErrStreamConflict = errors.New("log stream conflict")
	// ErrRejected: the service refused events because of their timestamp
	// (more than 14 days old, older than the group's retention, or more than
	// 2 hours ahead). Retrying does not help.
	ErrRejected = errors.New("log events rejected")
)

// Error is the error this package returns. Error() is a complete sentence
// for people; Kind (one of the Err variables, or nil) and Err (the cause,
// often an SDK error, or nil) are reachable with errors.Is and errors.As.
type Error struct {
	Kind error
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// PartialError is returned by PutEvents when it failed after storing some of
// the events: the first Delivered events in chronological order (a stable
// sort by Time, so events[Delivered:] when they were given in order) are in
// the stream, the others are not, except that a batch whose request timed out
// may or may not have been stored.
type PartialError struct {
	Delivered int
	Err       error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%v (%d events were delivered before the failure)", e.Err, e.Delivered)
}

func (e *PartialError) Unwrap() error { return e.Err }

// streamSet remembers streams known to exist so that PutEvents, called every
// second for a live session, does not call CreateLogStream each time. It is
// bounded: when full it starts over, which costs one CreateLogStream per
// stream.
type streamSet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

const maxKnownStreams = 4096

func streamKey(group, stream string) string { return group + "\x00" + stream }

func (s *streamSet) has(group, stream string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[streamKey(group, stream)]
	return ok
}

func (s *streamSet) add(group, stream string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) >= maxKnownStreams {
		s.m = map[string]struct{}{}
	}
	s.m[streamKey(group, stream)] = struct{}{}
}

func (s *streamSet) forget(group, stream string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, streamKey(group, stream))
}

// location is the address PutTranscript reports: "cloudwatch://" + group +
// "/" + stream, the group name as it is (a leading "/" stays, since "/a" and
// "a" are different groups).
func location(group, stream string) string {
	return "cloudwatch://" + group + "/" + stream
}
