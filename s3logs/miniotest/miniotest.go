// Package miniotest runs a real MinIO server on loopback for tests of the
// S3-compatible log destination.
//
// The MinIO binary is the pinned build that ./scripts/install-test-deps
// makes once into the test cache. It is found through, in order:
//
//   - $POSTERN_MINIO, a path to a MinIO binary;
//   - ${POSTERN_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/postern-test}/minio-<Version>.
//
// When neither exists, [Start] skips the test with a message naming
// ./scripts/install-test-deps, unless POSTERN_REQUIRE_MINIO=1, in which
// case it fails: CI sets it so that S3 tests cannot silently be skipped.
//
// Each server gets a free loopback port, a temporary data directory, a
// random root user and password, and a static KMS key
// (MINIO_KMS_SECRET_KEY), so that SSE-S3, SSE-KMS and bucket default
// encryption work as on AWS. The web console is off.
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Version is the MinIO version ./scripts/install-test-deps builds.
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// Region is the region MinIO reports unless [Options.Region] says otherwise.
const Region = "us-east-1"

// startTimeout bounds how long Start and Restart wait for
// /minio/health/ready and then for S3 requests to be answered (serves).
const startTimeout = 30 * time.Second

// Options adjust the server [StartWith] runs.
type Options struct {
	// Region is the server's site region (MINIO_SITE_REGION); requests
	// signed for another region are refused, as AWS does. Empty: MinIO's
	// default, which accepts us-east-1.
	Region string
}

// Server is a running (or stopped) MinIO server owned by one test.
type Server struct {
	bin       string
	dir       string // data directory
	certsDir  string
	addr      string // 127.0.0.1:port of the S3 API
	console   string // 127.0.0.1:port of the (disabled) console
	accessKey string
	secretKey string
	kmsKey    string // name of the static KMS key
	env       []string
	region    string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  *syncBuffer

	clientOnce sync.Once
	client     *s3.Client
}

// Binary returns the path of the MinIO binary Start would run, and whether
// it exists.
func Binary() (string, bool) {
	if p := os.Getenv("POSTERN_MINIO"); p != "" {
		return p, isExecutable(p)
	}
	cache := os.Getenv("POSTERN_TEST_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", false
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "postern-test")
	}
	p := filepath.Join(cache, "minio-"+Version)
	return p, isExecutable(p)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Start runs a MinIO server for t and stops it when t ends. See the
// package documentation for how the binary is found and when the test is
// skipped.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, ok := Binary()
	if !ok {
		msg := fmt.Sprintf("MinIO %s not found at %s: run ./scripts/install-test-deps (or set POSTERN_MINIO to a MinIO binary)", Version, bin)
		if os.Getenv("POSTERN_MINIO") != "" {
			t.Fatalf("miniotest: POSTERN_MINIO=%s is not an executable file", bin)
		}
		if os.Getenv("POSTERN_REQUIRE_MINIO") == "1" {
			t.Fatalf("miniotest: %s (POSTERN_REQUIRE_MINIO=1 forbids skipping)", msg)
		}
		t.Skipf("miniotest: %s", msg)
	}

	root := t.TempDir()
	s := &Server{
		bin:       bin,
		dir:       filepath.Join(root, "data"),
		certsDir:  filepath.Join(root, "certs"),
		accessKey: "postern-" + randomHex(4),
		secretKey: randomHex(16),
		kmsKey:    "postern-test-key",
		region:    opts.Region,
		log:       &syncBuffer{},
	}
	if s.region == "" {
		s.region = Region
	}
	for _, d := range []string{s.dir, s.certsDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatalf("miniotest: %v", err)
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	s.env = minioEnv(map[string]string{
		"MINIO_ROOT_USER":      s.accessKey,
		"MINIO_ROOT_PASSWORD":  s.secretKey,
		"MINIO_KMS_SECRET_KEY": s.kmsKey + ":" + base64.StdEncoding.EncodeToString(key),
		"MINIO_BROWSER":        "off",
		"MINIO_UPDATE":         "off",
		"MINIO_SITE_REGION":    opts.Region,
	})

	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("miniotest: MinIO output (last 4 KiB):\n%s", s.log.tail(4096))
		}
	})

	// A free port found by listening and closing can be taken by someone
	// else before MinIO binds it; try a few times.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		s.addr, s.console = freePort(t), freePort(t)
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("miniotest: %v\nMinIO output:\n%s", err, s.log.tail(4096))
	return nil
}

// minioEnv is the process environment without any inherited MINIO_* or
// AWS_* variables, plus set (empty values are left out).
func minioEnv(set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MINIO_") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range set {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// start runs the process and waits until it is live.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	cmd := exec.Command(s.bin, "server", s.dir,
		"--address", s.addr,
		"--console-address", s.console,
		"--certs-dir", s.certsDir,
		"--quiet")
	cmd.Env = s.env
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	setProcAttr(cmd)
	fmt.Fprintf(s.log, "--- miniotest: starting MinIO on %s\n", s.addr)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(startTimeout)
	hc := &http.Client{Timeout: time.Second}
	for {
		resp, err := hc.Get(s.URL() + "/minio/health/ready")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && s.serves() {
				return nil
			}
		}
		select {
		case <-done:
			s.cmd, s.done = nil, nil
			return fmt.Errorf("MinIO exited during startup on %s: %v", s.addr, cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.killLocked()
			return fmt.Errorf("MinIO on %s not ready after %s", s.addr, startTimeout)
		}
	}
}

// URL is the S3 endpoint, http://127.0.0.1:PORT. It stays the same across
// Stop and Restart.
func (s *Server) URL() string { return "http://" + s.addr }

// Addr is the S3 endpoint's host:port.
func (s *Server) Addr() string { return s.addr }

// AccessKey is the root user, usable as an S3 access key ID.
func (s *Server) AccessKey() string { return s.accessKey }

// SecretKey is the root password, usable as an S3 secret access key.
func (s *Server) SecretKey() string { return s.secretKey }

// KMSKeyID is the name of MinIO's static KMS key: the key id that SSE-KMS
// requests (x-amz-server-side-encryption-aws-kms-key-id) may name.
func (s *Server) KMSKeyID() string { return s.kmsKey }

// Region is the region the server expects requests to be signed for.
func (s *Server) Region() string { return s.region }

// Client is an S3 client with the root credentials, path-style, for
// arranging and inspecting buckets in tests.
func (s *Server) Client() *s3.Client {
	s.clientOnce.Do(func() {
		s.client = s3.New(s3.Options{
			BaseEndpoint: aws.String(s.URL()),
			Region:       s.region,
			UsePathStyle: true,
			Credentials:  credentials.NewStaticCredentialsProvider(s.accessKey, s.secretKey, ""),
		})
	})
	return s.client
}

// serves reports whether MinIO answers S3 requests: its health checks
// can pass while its object layer still refuses them
// (XMinioServerNotInitialized), which a loaded machine made tests meet.
func (s *Server) serves() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := s.Client().ListBuckets(ctx, &s3.ListBucketsInput{})
	return err == nil
}

func ctx10s() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// CreateBucket creates bucket name; when encrypted, it also sets the
// bucket's default encryption to SSE-S3 (AES256), as
// PutBucketEncryption does on AWS.
func (s *Server) CreateBucket(t testing.TB, name string, encrypted bool) {
	t.Helper()
	ctx, cancel := ctx10s()
	defer cancel()
	c := s.Client()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("miniotest: create bucket %s: %v", name, err)
	}
	if !encrypted {
		return
	}
	_, err := c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
		Bucket: aws.String(name),
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{
			Rules: []types.ServerSideEncryptionRule{{
				ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{
					SSEAlgorithm: types.ServerSideEncryptionAes256,
				},
			}},
		},
	})
	if err != nil {
		t.Fatalf("miniotest: set default encryption on bucket %s: %v", name, err)
	}
}

// Object reads bucket/key and returns its content and its response
// headers, with lower-case names (e.g. "content-type",
// "x-amz-server-side-encryption",
// "x-amz-server-side-encryption-aws-kms-key-id", "x-amz-storage-class",
// "x-amz-tagging-count"); multiple values are joined with ", ".
func (s *Server) Object(t testing.TB, bucket, key string) ([]byte, map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("miniotest: get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("miniotest: read s3://%s/%s: %v", bucket, key, err)
	}
	headers := map[string]string{}
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		for k, v := range raw.Header {
			headers[strings.ToLower(k)] = strings.Join(v, ", ")
		}
	}
	return body, headers
}

// Tags returns the object's tags.
func (s *Server) Tags(t testing.TB, bucket, key string) map[string]string {
	t.Helper()
	ctx, cancel := ctx10s()
	defer cancel()
	out, err := s.Client().GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("miniotest: get tags of s3://%s/%s: %v", bucket, key, err)
	}
	tags := map[string]string{}
	for _, tag := range out.TagSet {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return tags
}

// Keys lists the object keys in bucket under prefix.
func (s *Server) Keys(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	ctx, cancel := ctx10s()
	defer cancel()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("miniotest: list s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// Stop stops the server (SIGTERM, then SIGKILL after 5 s) and waits for
// it to exit. The data directory and port are kept for Restart. Stopping
// a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sigterm)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.killLocked()
		return
	}
	s.cmd, s.done = nil, nil
}

func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

// Restart starts the server again on the same port with the same data
// directory, credentials and KMS key, stopping it first if it runs, and
// waits until it is live. The error (which includes the end of MinIO's
// output) says why it did not come up. It may be called from any
// goroutine.
func (s *Server) Restart() error {
	s.Stop()
	var err error
	// The port was just released; another process could take it, so try
	// again briefly before giving up.
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("miniotest: restart MinIO on %s: %w\nMinIO output:\n%s", s.addr, err, s.log.tail(4096))
}

// Running reports whether the MinIO process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Log returns what MinIO printed so far.
func (s *Server) Log() string { return s.log.String() }

// syncBuffer is a bytes.Buffer safe for the process's output goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) tail(n int) string {
	s := b.String()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}
