package s3logs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/s3logs/miniotest"
)

// testPartSize keeps multipart uploads small enough to be quick: S3's
// minimum part size.
const testPartSize = minPartSize

// newTestClient is a client for srv with its root credentials.
func newTestClient(t testing.TB, srv *miniotest.Server, mods ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		Endpoint:        srv.URL(),
		Region:          srv.Region(),
		AccessKeyID:     srv.AccessKey(),
		SecretAccessKey: srv.SecretKey(),
		Timeout:         10 * time.Second,
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.setPartSize(testPartSize, 2)
	return c
}

// body is n deterministic pseudo-random bytes, as a reader that is
// neither a Seeker nor sized, like a stream whose length is unknown.
type body struct {
	r io.Reader
}

func newBody(seed uint64, n int64) *body {
	return &body{io.LimitReader(&prng{rand.NewPCG(seed, seed)}, n)}
}

func (b *body) Read(p []byte) (int, error) { return b.r.Read(p) }

type prng struct{ src *rand.PCG }

func (p *prng) Read(b []byte) (int, error) {
	for i := 0; i < len(b); i += 8 {
		v := p.src.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return len(b), nil
}

func digest(r io.Reader) ([32]byte, int64) {
	h := sha256.New()
	n, _ := io.Copy(h, r)
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, n
}

// TestMinIO runs the destination against one real MinIO server.
func TestMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	srv.CreateBucket(t, "plain", false)
	srv.CreateBucket(t, "encrypted", true)
	srv.CreateBucket(t, "logs.example.com", false)

	// Sequential, before any parallel subtest: it changes the environment.
	t.Run("endpoint from AWS_ENDPOINT_URL_S3", func(t *testing.T) {
		t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL())
		t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey())
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey())
		t.Setenv("AWS_REGION", "")
		t.Setenv("AWS_DEFAULT_REGION", "")
		t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
		c, err := New(context.Background(), Config{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Endpoint() != srv.URL() || !c.PathStyle() || c.Region() != "us-east-1" {
			t.Fatalf("Endpoint, PathStyle, Region = %q, %v, %q; want %q, true, us-east-1", c.Endpoint(), c.PathStyle(), c.Region(), srv.URL())
		}
		if err := c.Check(context.Background(), Target{Bucket: "plain"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Check", func(t *testing.T) {
		t.Parallel()
		where := srv.URL() + " (region us-east-1)"
		tests := []struct {
			name    string
			target  Target
			cfg     func(*Config)
			want    string // the whole message; "" means Check succeeds
			wantIs  error
			partial bool // want is a substring
		}{
			{name: "plain bucket", target: Target{Bucket: "plain", Prefix: "ssm/"}},
			{name: "encrypted bucket, encryption required", target: Target{Bucket: "encrypted", RequireEncryption: true}},
			{name: "plain bucket with a KMS key", target: Target{Bucket: "plain", KMSKeyID: srv.KMSKeyID()}},
			{name: "bucket with dots over path style", target: Target{Bucket: "logs.example.com"}},
			{
				name:   "unencrypted bucket, encryption required",
				target: Target{Bucket: "plain", RequireEncryption: true},
				want: "We couldn't start the session because encryption is not set up on the selected S3 bucket plain. " +
					"Either encrypt the bucket or choose an option to enable logging without encryption.",
				wantIs: ErrNotEncrypted,
			},
			{
				name:   "missing bucket",
				target: Target{Bucket: "no-such-bucket"},
				want:   "S3 bucket no-such-bucket does not exist at " + where + ". Create it, or correct s3BucketName.",
			},
			{
				name:   "missing bucket, encryption required",
				target: Target{Bucket: "no-such-bucket", RequireEncryption: true},
				want:   "S3 bucket no-such-bucket does not exist at " + where + ". Create it, or correct s3BucketName.",
			},
			{
				name:   "unknown access key",
				target: Target{Bucket: "plain"},
				cfg:    func(c *Config) { c.AccessKeyID = "AKIDNOBODY" },
				want:   "The access key ID AKIDNOBODY is not known to " + where + " (InvalidAccessKeyId): check the S3 credentials.",
			},
			{
				name:   "wrong secret key",
				target: Target{Bucket: "plain"},
				cfg:    func(c *Config) { c.SecretAccessKey = "not-the-secret" },
				want: where + " rejected the request signed with the secret access key of access key ID " + srv.AccessKey() +
					" (SignatureDoesNotMatch): check the secret access key.",
			},
			{
				name:   "bogus session token",
				target: Target{Bucket: "plain"},
				cfg:    func(c *Config) { c.SessionToken = "bogus" },
				want: "The S3 session token of access key ID " + srv.AccessKey() +
					" is invalid (InvalidTokenId): check the session token, or leave it empty for long-term keys.",
			},
			{
				name:    "invalid bucket name",
				target:  Target{Bucket: "Session_Logs"},
				want:    `invalid S3 bucket name "Session_Logs": bucket names must be lowercase`,
				wantIs:  ErrInvalidBucketName,
				partial: true,
			},
			{
				name:    "bucket name with a folder",
				target:  Target{Bucket: "plain/ssm"},
				want:    `bucket names cannot contain "/"; put the folder in s3KeyPrefix`,
				wantIs:  ErrInvalidBucketName,
				partial: true,
			},
			{
				name:    "prefix escaping",
				target:  Target{Bucket: "plain", Prefix: "../x"},
				want:    `s3KeyPrefix "../x" has a ".." segment`,
				wantIs:  ErrInvalidKey,
				partial: true,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var mods []func(*Config)
				if tt.cfg != nil {
					mods = append(mods, tt.cfg)
				}
				c := newTestClient(t, srv, mods...)
				err := c.Check(context.Background(), tt.target)
				if tt.want == "" {
					if err != nil {
						t.Fatalf("Check(%+v) = %v", tt.target, err)
					}
					return
				}
				var ce *CheckError
				if !errors.As(err, &ce) {
					t.Fatalf("Check(%+v) = %v (%T); want a *CheckError", tt.target, err, err)
				}
				if got := err.Error(); (tt.partial && !strings.Contains(got, tt.want)) || (!tt.partial && got != tt.want) {
					t.Errorf("Check(%+v):\n got %s\nwant %s", tt.target, got, tt.want)
				}
				if ce.Bucket != tt.target.Bucket || ce.Region != "us-east-1" {
					t.Errorf("CheckError Bucket, Region = %q, %q", ce.Bucket, ce.Region)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("error does not wrap %v", tt.wantIs)
				}
			})
		}
	})

	t.Run("Put round trip", func(t *testing.T) {
		t.Parallel()
		c := newTestClient(t, srv)
		tests := []struct {
			name string
			size int64
			// seekable bodies let the SDK know the size up front.
			seekable bool
		}{
			{"empty", 0, false},
			{"small", 1234, false},
			{"exactly one part", testPartSize, false},
			{"one byte over one part", testPartSize + 1, false},
			{"large, multipart, unknown length", 40 << 20, false},
			{"large, multipart, seekable", 12<<20 + 7, true},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				seed := uint64(i + 1)
				var r io.Reader = newBody(seed, tt.size)
				if tt.seekable {
					b, _ := io.ReadAll(r)
					r = bytes.NewReader(b)
				}
				name := fmt.Sprintf("roundtrip-%d.cast", i)
				loc, err := c.Put(context.Background(), Target{Bucket: "plain", Prefix: "rt"}, name, "application/x-asciicast", r)
				if err != nil {
					t.Fatal(err)
				}
				if want := "s3://plain/rt/" + name; loc != want {
					t.Errorf("location %q, want %q", loc, want)
				}
				got, hdr := srv.Object(t, "plain", "rt/"+name)
				wantSum, wantN := digest(newBody(seed, tt.size))
				gotSum, gotN := digest(bytes.NewReader(got))
				if gotN != wantN || gotSum != wantSum {
					t.Errorf("read back %d bytes (sha256 %x), want %d bytes (sha256 %x)", gotN, gotSum[:8], wantN, wantSum[:8])
				}
				if hdr["content-type"] != "application/x-asciicast" {
					t.Errorf("content-type %q", hdr["content-type"])
				}
			})
		}
	})

	t.Run("Put encryption", func(t *testing.T) {
		t.Parallel()
		c := newTestClient(t, srv)
		tests := []struct {
			name    string
			target  Target
			size    int64
			wantSSE string // x-amz-server-side-encryption; "" none
			wantKey string // x-amz-server-side-encryption-aws-kms-key-id
			wantErr string
			wantIs  error
		}{
			{name: "no encryption asked, plain bucket", target: Target{Bucket: "plain"}, size: 100},
			{name: "no encryption asked, encrypted bucket", target: Target{Bucket: "encrypted"}, size: 100, wantSSE: "AES256"},
			{name: "encryption required, encrypted bucket", target: Target{Bucket: "encrypted", RequireEncryption: true}, size: 100, wantSSE: "AES256"},
			{name: "encryption required, encrypted bucket, multipart", target: Target{Bucket: "encrypted", RequireEncryption: true}, size: 11 << 20, wantSSE: "AES256"},
			{name: "KMS key, plain bucket", target: Target{Bucket: "plain", KMSKeyID: srv.KMSKeyID()}, size: 100,
				wantSSE: "aws:kms", wantKey: "arn:aws:kms:" + srv.KMSKeyID()},
			{name: "KMS key, plain bucket, multipart", target: Target{Bucket: "plain", KMSKeyID: srv.KMSKeyID()}, size: 11 << 20,
				wantSSE: "aws:kms", wantKey: "arn:aws:kms:" + srv.KMSKeyID()},
			{name: "KMS key wins over bucket default", target: Target{Bucket: "encrypted", RequireEncryption: true, KMSKeyID: srv.KMSKeyID()}, size: 100,
				wantSSE: "aws:kms", wantKey: "arn:aws:kms:" + srv.KMSKeyID()},
			{name: "encryption required, plain bucket: refused, nothing stored", target: Target{Bucket: "plain", RequireEncryption: true}, size: 100,
				wantErr: "encryption is not set up on the selected S3 bucket plain", wantIs: ErrNotEncrypted},
			{name: "unknown KMS key", target: Target{Bucket: "plain", KMSKeyID: "no-such-key"}, size: 100,
				wantErr: "The KMS key no-such-key could not be used to encrypt objects in S3 bucket plain (kms:KeyNotFound"},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tt.target.Prefix = fmt.Sprintf("sse/%d", i)
				_, err := c.Put(context.Background(), tt.target, "s.log", "text/plain", newBody(7, tt.size))
				if tt.wantErr != "" {
					var pe *PutError
					if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("Put = %v; want a *PutError containing %q", err, tt.wantErr)
					}
					if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
						t.Errorf("error does not wrap %v", tt.wantIs)
					}
					if keys := srv.Keys(t, tt.target.Bucket, tt.target.Prefix); len(keys) != 0 {
						t.Errorf("objects stored despite the error: %v", keys)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got, hdr := srv.Object(t, tt.target.Bucket, tt.target.Prefix+"/s.log")
				if int64(len(got)) != tt.size {
					t.Errorf("read back %d bytes, want %d", len(got), tt.size)
				}
				if hdr["x-amz-server-side-encryption"] != tt.wantSSE {
					t.Errorf("x-amz-server-side-encryption = %q, want %q", hdr["x-amz-server-side-encryption"], tt.wantSSE)
				}
				if hdr["x-amz-server-side-encryption-aws-kms-key-id"] != tt.wantKey {
					t.Errorf("x-amz-server-side-encryption-aws-kms-key-id = %q, want %q", hdr["x-amz-server-side-encryption-aws-kms-key-id"], tt.wantKey)
				}
			})
		}
	})

	t.Run("Put keys", func(t *testing.T) {
		t.Parallel()
		c := newTestClient(t, srv)
		tests := []struct {
			name, prefix, file string
			wantKey            string // "" means refused
		}{
			{name: "no prefix", prefix: "", file: "top.log", wantKey: "top.log"},
			{name: "prefix", prefix: "keys/a", file: "s.log", wantKey: "keys/a/s.log"},
			{name: "prefix with trailing slash", prefix: "keys/b/", file: "s.log", wantKey: "keys/b/s.log"},
			{name: "sub-folder in name", prefix: "keys/c", file: "events/s.json", wantKey: "keys/c/events/s.json"},
			{name: "name escaping the prefix", prefix: "keys/d", file: "../../top.log"},
			{name: "prefix escaping", prefix: "keys/../..", file: "s.log"},
			{name: "absolute name", prefix: "keys/e", file: "/etc/s.log"},
			{name: "leading slash prefix", prefix: "/keys/f", file: "s.log"},
			{name: "empty segment", prefix: "keys//g", file: "s.log"},
			{name: "dot segment", prefix: "keys/./h", file: "s.log"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				target := Target{Bucket: "plain", Prefix: tt.prefix}
				loc, err := c.Put(context.Background(), target, tt.file, "text/plain", strings.NewReader("hello"))
				if tt.wantKey == "" {
					if err == nil {
						t.Fatalf("Put(%q, %q) = %q; want it refused", tt.prefix, tt.file, loc)
					}
					if !errors.Is(err, ErrInvalidKey) || !Permanent(err) {
						t.Errorf("Put error %v: want ErrInvalidKey, permanent", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if loc != "s3://plain/"+tt.wantKey {
					t.Errorf("location %q, want s3://plain/%s", loc, tt.wantKey)
				}
				if k, _ := Key(target, tt.file); k != tt.wantKey {
					t.Errorf("Key = %q, want %q", k, tt.wantKey)
				}
				if got, _ := srv.Object(t, "plain", tt.wantKey); string(got) != "hello" {
					t.Errorf("object %s = %q", tt.wantKey, got)
				}
			})
		}
		// Nothing escaped: every object is where a valid case put it.
		keys := srv.Keys(t, "plain", "")
		for _, k := range keys {
			if strings.Contains(k, "..") || strings.HasPrefix(k, "/") || strings.Contains(k, "//") || strings.HasPrefix(k, "etc") {
				t.Errorf("unexpected object key %q", k)
			}
		}
	})

	t.Run("Put storage class and tags", func(t *testing.T) {
		t.Parallel()
		// MinIO knows STANDARD and REDUCED_REDUNDANCY only (GLACIER_IR is
		// refused with InvalidStorageClass, see below).
		c := newTestClient(t, srv, func(c *Config) {
			c.StorageClass = "REDUCED_REDUNDANCY"
			c.Tags = map[string]string{"app": "postern", "retention": "7 years + more: a/b@c=d"}
		})
		for _, size := range []int64{10, 11 << 20} {
			t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
				name := fmt.Sprintf("tagged-%d.log", size)
				if _, err := c.Put(context.Background(), Target{Bucket: "plain"}, name, "text/plain", newBody(3, size)); err != nil {
					t.Fatal(err)
				}
				_, hdr := srv.Object(t, "plain", name)
				if hdr["x-amz-storage-class"] != "REDUCED_REDUNDANCY" {
					t.Errorf("x-amz-storage-class = %q", hdr["x-amz-storage-class"])
				}
				want := map[string]string{"app": "postern", "retention": "7 years + more: a/b@c=d"}
				if got := srv.Tags(t, "plain", name); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("tags %v, want %v", got, want)
				}
			})
		}
		t.Run("storage class the server refuses", func(t *testing.T) {
			g := newTestClient(t, srv, func(c *Config) { c.StorageClass = "GLACIER_IR" })
			_, err := g.Put(context.Background(), Target{Bucket: "plain"}, "glacier.log", "text/plain", strings.NewReader("x"))
			want := "does not accept storage class GLACIER_IR for S3 bucket plain (InvalidStorageClass"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Put = %v; want an error containing %q", err, want)
			}
		})
	})

	t.Run("Put with a failing body", func(t *testing.T) {
		t.Parallel()
		c := newTestClient(t, srv)
		for _, size := range []int64{1000, 12 << 20} {
			t.Run(fmt.Sprintf("fails after %d bytes", size), func(t *testing.T) {
				t.Parallel()
				name := fmt.Sprintf("failing-%d.log", size)
				r := io.MultiReader(newBody(5, size), iotestErrReader{errors.New("disk on fire")})
				_, err := c.Put(context.Background(), Target{Bucket: "plain", Prefix: "failing"}, name, "text/plain", r)
				want := "upload to s3://plain/failing/" + name + " failed: Reading the artifact to upload failed: "
				if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "disk on fire") {
					t.Fatalf("Put = %v; want %q... disk on fire", err, want)
				}
				if keys := srv.Keys(t, "plain", "failing/"); len(keys) != 0 {
					t.Errorf("objects stored despite the failure: %v", keys)
				}
			})
		}
	})

	t.Run("Put with wrong credentials", func(t *testing.T) {
		t.Parallel()
		c := newTestClient(t, srv, func(c *Config) { c.SecretAccessKey = "not-the-secret" })
		_, err := c.Put(context.Background(), Target{Bucket: "plain"}, "denied.log", "text/plain", strings.NewReader("x"))
		want := "upload to s3://plain/denied.log failed: " + srv.URL() + " (region us-east-1) rejected the request signed with the secret access key"
		if err == nil || !strings.HasPrefix(err.Error(), want) || Permanent(err) {
			t.Fatalf("Put = %v; want a non-permanent error starting %q", err, want)
		}
	})
}

// A large upload streams: the client holds a few parts, never the body.
func TestPutStreamsLargeBody(t *testing.T) {
	srv := miniotest.Start(t)
	srv.CreateBucket(t, "plain", false)
	c := newTestClient(t, srv)
	const size = 64 << 20

	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	_, err := c.Put(context.Background(), Target{Bucket: "plain"}, "big.cast", "application/x-asciicast", newBody(9, size))
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("heap in use grew by at most %d MiB for a %d MiB body (parts of %d MiB)", grew>>20, size>>20, testPartSize>>20)
	// Buffering the body would take at least its 64 MiB; streaming takes
	// about (concurrency+3) parts, plus garbage the GC has not reclaimed.
	if limit := int64(size * 3 / 4); grew > limit {
		t.Errorf("heap grew by %d MiB during the upload; want under %d MiB (the body must stream)", grew>>20, limit>>20)
	}
	got, _ := srv.Object(t, "plain", "big.cast")
	wantSum, _ := digest(newBody(9, size))
	if gotSum, n := digest(bytes.NewReader(got)); n != size || gotSum != wantSum {
		t.Errorf("read back %d bytes, differing", n)
	}
}

// A bucket in another region than the client's is reported with the
// bucket's region.
func TestCheckWrongRegion(t *testing.T) {
	t.Parallel()
	srv := miniotest.StartWith(t, miniotest.Options{Region: "eu-west-1"})
	srv.CreateBucket(t, "plain", false)
	c := newTestClient(t, srv, func(c *Config) { c.Region = "us-east-1" })
	err := c.Check(context.Background(), Target{Bucket: "plain"})
	want := "S3 bucket plain is in region eu-west-1, but the S3 destination uses region us-east-1: set its region to eu-west-1."
	if err == nil || err.Error() != want {
		t.Fatalf("Check = %v\nwant %s", err, want)
	}
	c = newTestClient(t, srv, func(c *Config) { c.Region = "eu-west-1" })
	if err := c.Check(context.Background(), Target{Bucket: "plain"}); err != nil {
		t.Fatalf("Check in the right region: %v", err)
	}
}

// MinIO stopped: Check and Put fail with a clear, retryable error; after
// a restart the same Puts succeed.
func TestMinIOOutage(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	srv.CreateBucket(t, "plain", true)
	c := newTestClient(t, srv, func(c *Config) { c.Timeout = 5 * time.Second })
	target := Target{Bucket: "plain", Prefix: "ssm"}
	encrypted := Target{Bucket: "plain", Prefix: "ssm", RequireEncryption: true}
	if err := c.Check(context.Background(), encrypted); err != nil {
		t.Fatal(err)
	}

	type upload struct {
		name   string
		target Target
		size   int64
	}
	uploads := []upload{
		{"small.log", target, 100},
		{"multipart.cast", target, 11 << 20},
		{"encrypted.log", encrypted, 100},
		{"interrupted.cast", target, 40 << 20},
	}
	put := func(u upload, r io.Reader) error {
		_, err := c.Put(context.Background(), u.target, u.name, "text/plain", r)
		return err
	}

	// MinIO goes away in the middle of a multipart upload.
	interrupted := uploads[3]
	r := &hookReader{r: newBody(4, interrupted.size), at: 12 << 20, hook: srv.Stop}
	err := put(interrupted, r)
	// Which request fails, and how, depends on timing (a part in flight
	// gets MinIO's 499 ClientDisconnected, later ones connection
	// refused): any retryable error about the upload will do.
	if err == nil || Permanent(err) || !strings.HasPrefix(err.Error(), "upload to s3://plain/ssm/interrupted.cast failed: ") {
		t.Fatalf("Put interrupted by MinIO stopping = %v; want a retryable error", err)
	}
	t.Logf("interrupted: %v", err)

	refused := "Cannot connect to the S3 endpoint " + srv.URL() + " (region us-east-1): connection refused"
	err = c.Check(context.Background(), encrypted)
	if err == nil || !strings.HasPrefix(err.Error(), refused+" (HeadBucket on bucket plain).") {
		t.Fatalf("Check with MinIO stopped = %v; want %q...", err, refused)
	}
	for _, u := range uploads[:3] {
		start := time.Now()
		err := put(u, newBody(uint64(u.size), u.size))
		if err == nil || !strings.Contains(err.Error(), "failed: "+refused) || Permanent(err) {
			t.Fatalf("Put of %s with MinIO stopped = %v; want a retryable error containing %q", u.name, err, refused)
		}
		t.Logf("Put with MinIO stopped failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, u := range uploads {
		if err := put(u, newBody(uint64(u.size), u.size)); err != nil {
			t.Fatalf("Put of %s after restart: %v", u.name, err)
		}
		got, hdr := srv.Object(t, "plain", "ssm/"+u.name)
		wantSum, _ := digest(newBody(uint64(u.size), u.size))
		if gotSum, n := digest(bytes.NewReader(got)); n != u.size || gotSum != wantSum || hdr["x-amz-server-side-encryption"] != "AES256" {
			t.Errorf("%s: read back %d bytes (equal: %v), SSE %q", u.name, n, gotSum == wantSum, hdr["x-amz-server-side-encryption"])
		}
		want = append(want, "ssm/"+u.name)
	}
	slices.Sort(want)
	if keys := srv.Keys(t, "plain", ""); !slices.Equal(keys, want) {
		t.Errorf("objects %v, want %v", keys, want)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// hookReader calls hook once, when at bytes have been read.
type hookReader struct {
	r    io.Reader
	n    int64
	at   int64
	hook func()
	done bool
}

func (h *hookReader) Read(p []byte) (int, error) {
	if !h.done && h.n >= h.at {
		h.done = true
		h.hook()
	}
	n, err := h.r.Read(p)
	h.n += int64(n)
	return n, err
}
