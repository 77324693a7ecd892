// Package s3logs is the S3-compatible destination for session artifacts
// (transcripts, asciicasts): it checks before a session starts that a
// bucket can take them, as the preferences (s3BucketName, s3KeyPrefix,
// s3EncryptionEnabled, kmsKeyId) demand, and uploads them when the session
// ends. It works with AWS S3, MinIO, Ceph RGW and other S3 APIs through the
// AWS SDK for Go v2.
//
// # Configuration
//
// [Config] says where and how to talk to S3. Anything it leaves empty comes
// from the standard AWS configuration chain (environment, shared config
// files, instance roles), including AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL
// for the endpoint and AWS_REQUEST_CHECKSUM_CALCULATION=when_required for
// S3-compatible stores that reject the SDK's default upload checksums.
//
// Addressing is path-style (http://host/bucket/key) when
// [Config.ForcePathStyle] is set, and automatically when the endpoint's
// host is an IP address or localhost (typical of MinIO); otherwise it is
// virtual-hosted-style (https://bucket.host/key), which is what AWS
// recommends. A bucket name with dots cannot be used with
// virtual-hosted-style addressing over TLS (its host name does not match
// the wildcard certificate), so [Client.Check] and [Client.Put] refuse it
// with a message that suggests path style, rather than relying on the
// SDK's silent fallback.
//
// # Encryption
//
// Put chooses the server-side encryption headers like this:
//
//   - Target.KMSKeyID set: SSE-KMS with that key (aws:kms), whatever the
//     bucket's default encryption.
//   - Target.RequireEncryption (s3EncryptionEnabled) without a key: Put
//     reads the bucket's default encryption (GetBucketEncryption) and sends
//     it explicitly (AES256, or aws:kms with the bucket's key). This keeps
//     the owner's choice of key, satisfies bucket policies that demand the
//     header, and fails closed: if the bucket's default encryption was
//     removed after the session started, Put refuses to upload (the error
//     wraps [ErrNotEncrypted]) instead of storing the log unencrypted.
//   - Otherwise no header: the bucket's default applies (on AWS every
//     bucket encrypts with SSE-S3 at least).
//
// # Uploads
//
// Put streams the body: bodies smaller than one part (8 MiB) go in one
// PutObject, larger ones in a multipart upload of 8 MiB parts, two in
// flight at a time, read from the body as they go, so memory stays
// bounded by a few parts (about 40 MiB) whatever the body's size. It uses
// the SDK's transfer manager (feature/s3/transfermanager, the successor of
// the deprecated feature/s3/manager). Each S3 call (Check as a whole, each
// part of an upload) is bounded by [Config.Timeout], so a hung endpoint
// never blocks a caller for long; the SDK retries transient failures a
// few times within that bound, and long outages are the caller's to ride
// out (Postern's outbox retries with backoff).
//
// # Errors
//
// Check returns a [*CheckError] and Put a [*PutError]; both carry a
// sentence meant for a person (which bucket, which region or endpoint,
// what failed and what to do) and wrap the underlying error. Invalid
// bucket names, keys and configuration wrap [ErrInvalidBucketName],
// [ErrInvalidKey] or [ErrInvalidConfig]; [Permanent] reports whether
// retrying can help.
package s3logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// DefaultTimeout bounds each S3 call when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// DefaultRegion is used when neither Config nor the AWS chain names one.
const DefaultRegion = "us-east-1"

const (
	// defaultPartSize is the multipart part size, and the size above
	// which Put switches to a multipart upload. 8 MiB parts allow
	// objects of up to 78 GiB from a stream of unknown length.
	defaultPartSize = 8 << 20
	// defaultConcurrency is how many parts upload at once. Memory per
	// Put is at most about (defaultConcurrency+3) parts.
	defaultConcurrency = 2
	// minPartSize is S3's minimum part size (except the last part).
	minPartSize = 5 << 20
)

// Config says how to reach S3. The zero Config uses the AWS configuration
// chain for everything.
type Config struct {
	// Endpoint is the S3 endpoint URL, e.g. http://127.0.0.1:9000. Empty:
	// the SDK's default chain (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL,
	// shared config), else AWS S3 for the region.
	Endpoint string
	// Region is the signing region. Empty: from the chain; if still
	// empty, "us-east-1".
	Region string
	// AccessKeyID, SecretAccessKey and SessionToken are static
	// credentials. Empty: the default credential chain.
	AccessKeyID, SecretAccessKey, SessionToken string
	// ForcePathStyle selects path-style addressing. It is automatic when
	// the endpoint's host is an IP address or localhost.
	ForcePathStyle bool
	// StorageClass of uploaded objects, e.g. GLACIER_IR, STANDARD_IA.
	// Empty: the bucket's default (STANDARD).
	StorageClass string
	// Tags are set on every uploaded object (at most 10).
	Tags map[string]string
	// Timeout bounds each call: Check as a whole, and each request of an
	// upload (each part of a multipart upload). Default 30s.
	Timeout time.Duration
}

// Target is where one session's artifacts go, from its preferences.
type Target struct {
	Bucket, Prefix    string // s3BucketName, s3KeyPrefix
	RequireEncryption bool   // s3EncryptionEnabled
	KMSKeyID          string // kmsKeyId: when set, uploads use SSE-KMS with it
}

// Client uploads to one S3 endpoint. It is safe for concurrent use.
type Client struct {
	s3        *s3.Client
	tm        *transfermanager.Client
	region    string
	endpoint  string // effective endpoint URL, "" for AWS S3
	pathStyle bool
	https     bool
	timeout   time.Duration
	storage   types.StorageClass
	tagging   string // URL-encoded Tags

	// partSize and concurrency of multipart uploads; tests lower them.
	partSize    int64
	concurrency int
	checksums   aws.RequestChecksumCalculation
}

// Sentinel errors wrapped by the errors Check, Put, Key and New return.
var (
	// ErrInvalidConfig: Config is unusable (New).
	ErrInvalidConfig = errors.New("invalid S3 destination configuration")
	// ErrInvalidBucketName: the bucket name breaks S3's naming rules, or
	// cannot be used with this client's addressing.
	ErrInvalidBucketName = errors.New("invalid S3 bucket name")
	// ErrInvalidKey: the prefix or name would make an object key that
	// escapes the prefix or is ambiguous.
	ErrInvalidKey = errors.New("invalid S3 object key")
	// ErrNotEncrypted: encryption is required and the bucket has no
	// default encryption.
	ErrNotEncrypted = errors.New("S3 bucket not encrypted")
)

// Permanent reports whether err (from Check, Put, Key or New) comes from
// the input itself (invalid configuration, bucket name or key), so that
// retrying the same call can never succeed.
func Permanent(err error) bool {
	return errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrInvalidBucketName) || errors.Is(err, ErrInvalidKey)
}

// New makes a Client. It loads the AWS configuration chain but does not
// contact S3; Check does.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	var loadOpts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: loading the AWS configuration: %v", ErrInvalidConfig, err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultRegion
	}

	c := &Client{
		region:      awsCfg.Region,
		timeout:     cfg.Timeout,
		storage:     types.StorageClass(cfg.StorageClass),
		tagging:     encodeTags(cfg.Tags),
		partSize:    defaultPartSize,
		concurrency: defaultConcurrency,
		checksums:   awsCfg.RequestChecksumCalculation,
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	var endpointErr error
	c.s3 = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		if o.BaseEndpoint != nil {
			c.endpoint = *o.BaseEndpoint
			u, err := url.Parse(c.endpoint)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
				endpointErr = fmt.Errorf("%w: S3 endpoint %q is not an http:// or https:// URL", ErrInvalidConfig, c.endpoint)
				return
			}
			c.https = u.Scheme == "https"
			c.pathStyle = cfg.ForcePathStyle || isLocalHost(u.Hostname())
		} else {
			c.https = true
			c.pathStyle = cfg.ForcePathStyle
		}
		o.UsePathStyle = c.pathStyle
		// The caller (Postern's outbox) retries for as long as a
		// destination is down; the SDK's client-side retry quota would
		// turn a long outage into "retry quota exceeded" errors that hide
		// the real cause, so only the per-call retries remain.
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.RateLimiter = ratelimit.None
		})
	})
	if endpointErr != nil {
		return nil, endpointErr
	}
	c.tm = c.newTransferManager()
	return c, nil
}

func (c *Client) newTransferManager() *transfermanager.Client {
	return transfermanager.New(timeoutClient{c.s3, c.timeout}, func(o *transfermanager.Options) {
		o.PartSizeBytes = c.partSize
		o.MultipartUploadThreshold = c.partSize
		o.Concurrency = c.concurrency
		// Abort a failed multipart upload with a fresh context, so that
		// it is cleaned up even when the caller's context was canceled.
		o.FailTimeout = c.timeout
		// The transfer manager otherwise forces checksums on every
		// upload, ignoring AWS_REQUEST_CHECKSUM_CALCULATION.
		o.RequestChecksumCalculation = c.checksums
	})
}

// setPartSize changes the multipart part size (for tests).
func (c *Client) setPartSize(n int64, concurrency int) {
	c.partSize, c.concurrency = n, concurrency
	c.tm = c.newTransferManager()
}

func validateConfig(cfg Config) error {
	switch {
	case cfg.Timeout < 0:
		return fmt.Errorf("%w: negative timeout %s", ErrInvalidConfig, cfg.Timeout)
	case (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == ""):
		return fmt.Errorf("%w: set both the access key ID and the secret access key, or neither (to use the AWS credential chain)", ErrInvalidConfig)
	case cfg.SessionToken != "" && cfg.AccessKeyID == "":
		return fmt.Errorf("%w: a session token needs an access key ID and secret access key", ErrInvalidConfig)
	}
	if cfg.StorageClass != "" {
		known := types.StorageClass("").Values()
		ok := false
		for _, v := range known {
			ok = ok || string(v) == cfg.StorageClass
		}
		if !ok {
			names := make([]string, len(known))
			for i, v := range known {
				names[i] = string(v)
			}
			return fmt.Errorf("%w: unknown S3 storage class %q (known: %s)", ErrInvalidConfig, cfg.StorageClass, strings.Join(names, ", "))
		}
	}
	if len(cfg.Tags) > 10 {
		return fmt.Errorf("%w: %d object tags; S3 allows at most 10", ErrInvalidConfig, len(cfg.Tags))
	}
	for k, v := range cfg.Tags {
		if k == "" || len([]rune(k)) > 128 {
			return fmt.Errorf("%w: object tag key %q must be 1 to 128 characters", ErrInvalidConfig, k)
		}
		if len([]rune(v)) > 256 {
			return fmt.Errorf("%w: object tag %q: value longer than 256 characters", ErrInvalidConfig, k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return fmt.Errorf("%w: object tag key %q: the aws: prefix is reserved", ErrInvalidConfig, k)
		}
		for _, s := range []string{k, v} {
			if i := strings.IndexFunc(s, badTagRune); i >= 0 {
				r, _ := utf8.DecodeRuneInString(s[i:])
				return fmt.Errorf("%w: object tag %q=%q: %q is not allowed (S3 allows letters, digits, spaces and + - = . _ : / @)", ErrInvalidConfig, k, v, r)
			}
		}
	}
	return nil
}

// badTagRune reports a character S3 does not allow in tags.
func badTagRune(r rune) bool {
	return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || strings.ContainsRune("+-=._:/@", r))
}

// encodeTags is the x-amz-tagging value: a URL query (spaces as %20, so
// that a "+" in a tag stays a "+"), sorted for reproducible requests.
func encodeTags(tags map[string]string) string {
	if len(tags) == 0 {
		return ""
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(tagEscape(k))
		b.WriteByte('=')
		b.WriteString(tagEscape(tags[k]))
	}
	return b.String()
}

func tagEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func isLocalHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// Region is the region the client signs requests for.
func (c *Client) Region() string { return c.region }

// Endpoint is the S3 endpoint URL in use, or "" for AWS S3's regional
// endpoint.
func (c *Client) Endpoint() string { return c.endpoint }

// PathStyle reports whether the client uses path-style addressing.
func (c *Client) PathStyle() bool { return c.pathStyle }

// where names the endpoint for messages.
func (c *Client) where() string {
	if c.endpoint == "" {
		return "AWS S3 in region " + c.region
	}
	return c.endpoint + " (region " + c.region + ")"
}

// PutError is the error Put returns.
type PutError struct {
	Bucket, Key string
	// Reason says what failed and what to do, for a person.
	Reason string
	// Err is the underlying error.
	Err error
}

func (e *PutError) Error() string {
	return fmt.Sprintf("upload to s3://%s/%s failed: %s", e.Bucket, e.Key, e.Reason)
}

func (e *PutError) Unwrap() error { return e.Err }

// Put uploads body as <prefix>/<name> (see Key) with contentType, and
// returns its location, "s3://bucket/key". The body is streamed; see the
// package documentation for multipart uploads and encryption headers.
// Uploading the same name again replaces the object, so a retried upload
// is idempotent.
func (c *Client) Put(ctx context.Context, t Target, name, contentType string, body io.Reader) (string, error) {
	key, err := Key(t, name)
	if err != nil {
		shown := name
		if t.Prefix != "" {
			shown = strings.TrimSuffix(t.Prefix, "/") + "/" + name
		}
		return "", &PutError{Bucket: t.Bucket, Key: shown, Reason: err.Error(), Err: err}
	}
	fail := func(reason string, err error) (string, error) {
		return "", &PutError{Bucket: t.Bucket, Key: key, Reason: reason, Err: err}
	}
	if reason, err := c.checkBucketName(t.Bucket); err != nil {
		return fail(reason, err)
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	reason, err := c.checkCredentials(cctx)
	cancel()
	if err != nil {
		return fail(reason, err)
	}

	src := watchBody(body)
	in := &transfermanager.UploadObjectInput{
		Bucket:       aws.String(t.Bucket),
		Key:          aws.String(key),
		Body:         src,
		StorageClass: tmtypes.StorageClass(c.storage),
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if c.tagging != "" {
		in.Tagging = aws.String(c.tagging)
	}
	switch {
	case t.KMSKeyID != "":
		in.ServerSideEncryption = tmtypes.ServerSideEncryptionAwsKms
		in.SSEKMSKeyID = aws.String(t.KMSKeyID)
	case t.RequireEncryption:
		rule, reason, err := c.defaultEncryption(ctx, t.Bucket)
		if err != nil {
			return fail(reason, err)
		}
		in.ServerSideEncryption = tmtypes.ServerSideEncryption(rule.SSEAlgorithm)
		if rule.SSEAlgorithm != types.ServerSideEncryptionAes256 {
			in.SSEKMSKeyID = rule.KMSMasterKeyID
			in.BucketKeyEnabled = rule.bucketKey
		}
	}

	if _, err := c.tm.UploadObject(ctx, in); err != nil {
		if rerr := src.readErr(); rerr != nil {
			return fail("Reading the artifact to upload failed: "+rerr.Error()+".", err)
		}
		op := "PutObject"
		var oe *smithy.OperationError
		if errors.As(err, &oe) {
			op = oe.OperationName
		}
		return fail(c.explain(ctx, err, t, op), err)
	}
	return "s3://" + t.Bucket + "/" + key, nil
}

// bodyWatcher records the error of the body being uploaded, to tell a
// failing source from a failing destination. It keeps the body's
// io.Seeker, through which the transfer manager learns the size.
type bodyWatcher interface {
	io.Reader
	readErr() error
}

func watchBody(r io.Reader) bodyWatcher {
	w := &watchedReader{r: r}
	if s, ok := r.(io.ReadSeeker); ok {
		return &watchedReadSeeker{watchedReader: w, s: s}
	}
	return w
}

type watchedReader struct {
	r   io.Reader
	err error
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF && w.err == nil {
		w.err = err
	}
	return n, err
}

func (w *watchedReader) readErr() error { return w.err }

type watchedReadSeeker struct {
	*watchedReader
	s io.Seeker
}

func (w *watchedReadSeeker) Seek(off int64, whence int) (int64, error) { return w.s.Seek(off, whence) }

// encryptionRule is a bucket's default encryption.
type encryptionRule struct {
	SSEAlgorithm   types.ServerSideEncryption
	KMSMasterKeyID *string
	bucketKey      *bool
}

// defaultEncryption reads the bucket's default encryption; a bucket
// without one gives an error wrapping ErrNotEncrypted.
func (c *Client) defaultEncryption(ctx context.Context, bucket string) (encryptionRule, string, error) {
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out, err := c.s3.GetBucketEncryption(cctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	if err != nil {
		if apiCode(err) == "ServerSideEncryptionConfigurationNotFoundError" {
			return encryptionRule{}, notEncryptedMessage(bucket), fmt.Errorf("%w: %w", ErrNotEncrypted, err)
		}
		return encryptionRule{}, c.explain(ctx, err, Target{Bucket: bucket}, "GetBucketEncryption"), err
	}
	if out.ServerSideEncryptionConfiguration != nil {
		for _, r := range out.ServerSideEncryptionConfiguration.Rules {
			d := r.ApplyServerSideEncryptionByDefault
			if d == nil {
				continue
			}
			switch d.SSEAlgorithm {
			case types.ServerSideEncryptionAes256, types.ServerSideEncryptionAwsKms, types.ServerSideEncryptionAwsKmsDsse:
				return encryptionRule{d.SSEAlgorithm, d.KMSMasterKeyID, r.BucketKeyEnabled}, "", nil
			}
		}
	}
	return encryptionRule{}, notEncryptedMessage(bucket), ErrNotEncrypted
}

// notEncryptedMessage is Session Manager's refusal, word for word.
func notEncryptedMessage(bucket string) string {
	return "We couldn't start the session because encryption is not set up on the selected S3 bucket " + bucket +
		". Either encrypt the bucket or choose an option to enable logging without encryption."
}

// timeoutClient bounds each S3 call the transfer manager makes by d, so
// that every part of an upload (not the upload as a whole) has the
// per-call timeout. Part bodies are already in memory when the call
// starts, so the timeout covers the network only.
type timeoutClient struct {
	c *s3.Client
	d time.Duration
}

var _ transfermanager.S3APIClient = timeoutClient{}

func (t timeoutClient) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.c.PutObject(ctx, in, o...)
}

func (t timeoutClient) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.c.UploadPart(ctx, in, o...)
}

func (t timeoutClient) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, o ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.c.CreateMultipartUpload(ctx, in, o...)
}

func (t timeoutClient) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, o ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.c.CompleteMultipartUpload(ctx, in, o...)
}

func (t timeoutClient) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, o ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.c.AbortMultipartUpload(ctx, in, o...)
}

func (t timeoutClient) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.c.HeadObject(ctx, in, o...)
}

func (t timeoutClient) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, o ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.c.ListObjectsV2(ctx, in, o...)
}

// GetObject is not bounded: its body is read after it returns. Put does
// not use it.
func (t timeoutClient) GetObject(ctx context.Context, in *s3.GetObjectInput, o ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return t.c.GetObject(ctx, in, o...)
}
