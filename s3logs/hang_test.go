package s3logs

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hungEndpoint accepts connections and never answers, like an S3
// endpoint behind a black-holing proxy.
func hungEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			// Read and discard what is sent, so that large bodies do
			// not block on a full socket buffer: the endpoint is hung,
			// not slow.
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

func TestHungEndpointTimesOut(t *testing.T) {
	t.Parallel()
	endpoint := hungEndpoint(t)
	const timeout = 700 * time.Millisecond
	c, err := New(context.Background(), Config{Endpoint: endpoint, AccessKeyID: "k", SecretAccessKey: "s", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	c.setPartSize(minPartSize, 2)
	tests := []struct {
		name string
		call func(context.Context) error
		want string
	}{
		{"Check", func(ctx context.Context) error {
			return c.Check(ctx, Target{Bucket: "logs"})
		}, "The S3 endpoint " + endpoint + " (region us-east-1) did not answer within 700ms (HeadBucket on bucket logs)."},
		{"Check with encryption required", func(ctx context.Context) error {
			return c.Check(ctx, Target{Bucket: "logs", RequireEncryption: true})
		}, "did not answer within 700ms (HeadBucket on bucket logs)."},
		{"Put small", func(ctx context.Context) error {
			_, err := c.Put(ctx, Target{Bucket: "logs"}, "a.log", "text/plain", strings.NewReader("hello"))
			return err
		}, "upload to s3://logs/a.log failed: The S3 endpoint " + endpoint + " (region us-east-1) did not answer within 700ms (PutObject on bucket logs)."},
		{"Put multipart", func(ctx context.Context) error {
			_, err := c.Put(ctx, Target{Bucket: "logs"}, "a.cast", "text/plain", newBody(1, 3*minPartSize))
			return err
		}, "did not answer within 700ms (CreateMultipartUpload on bucket logs)."},
		{"Put with encryption required", func(ctx context.Context) error {
			_, err := c.Put(ctx, Target{Bucket: "logs", RequireEncryption: true}, "a.log", "text/plain", strings.NewReader("hello"))
			return err
		}, "did not answer within 700ms (GetBucketEncryption on bucket logs)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The endpoint never answers: returning at all, with the
			// timeout's own error, is the proof (no wall-clock bound,
			// which a busy machine would break).
			err := tt.call(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want one containing %q", err, tt.want)
			}
			if !errors.Is(err, context.DeadlineExceeded) || Permanent(err) {
				t.Errorf("error %v: want a retryable context.DeadlineExceeded", err)
			}
		})
	}

	t.Run("caller cancels first", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := c.Check(ctx, Target{Bucket: "logs"})
		if want := "HeadBucket on S3 bucket logs was canceled: context deadline exceeded."; err == nil || err.Error() != want {
			t.Fatalf("Check = %v; want %q", err, want)
		}
	})
}

// fakeS3 answers like AWS S3 does in cases MinIO cannot reproduce: HEAD
// errors without a body (the code is only in the follow-up request),
// redirects to the bucket's region, expired credentials.
func fakeS3(t *testing.T, head func(w http.ResponseWriter), get func(w http.ResponseWriter)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amz-Request-Id", "FAKE")
		switch r.Method {
		case http.MethodHead:
			head(w)
		default:
			get(w)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func s3ErrorXML(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>`+msg+`</Message><RequestId>FAKE</RequestId></Error>`)
}

func TestAWSErrorMessages(t *testing.T) {
	t.Parallel()
	status := func(code int, hdr ...string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			for i := 0; i+1 < len(hdr); i += 2 {
				w.Header().Set(hdr[i], hdr[i+1])
			}
			w.WriteHeader(code)
		}
	}
	xmlErr := func(code int, c, msg string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) { s3ErrorXML(w, code, c, msg) }
	}
	tests := []struct {
		name      string
		head, get func(http.ResponseWriter)
		target    Target
		want      string
	}{
		{
			name:   "bucket in another region",
			head:   status(301, "X-Amz-Bucket-Region", "eu-central-1"),
			get:    xmlErr(301, "PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint."),
			target: Target{Bucket: "logs"},
			want:   "S3 bucket logs is in region eu-central-1, but the S3 destination uses region us-east-1: set its region to eu-central-1.",
		},
		{
			name:   "expired credentials",
			head:   status(400),
			get:    xmlErr(400, "ExpiredToken", "The provided token has expired."),
			target: Target{Bucket: "logs"},
			want:   "The S3 credentials (access key ID AKIDEXAMPLE) have expired (ExpiredToken): renew them.",
		},
		{
			name:   "access denied",
			head:   status(403),
			get:    xmlErr(403, "AccessDenied", "Access Denied"),
			target: Target{Bucket: "logs"},
			want: "Access to S3 bucket logs is denied for access key ID AKIDEXAMPLE (AccessDenied on HeadBucket): " +
				"grant s3:ListBucket on the bucket to these credentials, and check the bucket policy.",
		},
		{
			name:   "access denied to the encryption configuration",
			head:   status(200),
			get:    xmlErr(403, "AccessDenied", "Access Denied"),
			target: Target{Bucket: "logs", RequireEncryption: true},
			want: "Access to S3 bucket logs is denied for access key ID AKIDEXAMPLE (AccessDenied on GetBucketEncryption): " +
				"grant s3:GetEncryptionConfiguration on the bucket to these credentials, and check the bucket policy.",
		},
		{
			name:   "clock skew",
			head:   status(403),
			get:    xmlErr(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."),
			target: Target{Bucket: "logs"},
			want:   "(region us-east-1) refused the request because this host's clock differs too much from its own (RequestTimeTooSkewed): fix the system time.",
		},
		{
			name:   "server error",
			head:   status(503),
			get:    xmlErr(503, "SlowDown", "Please reduce your request rate."),
			target: Target{Bucket: "logs"},
			want:   "(region us-east-1) failed with HTTP 503 ServiceUnavailable: Service Unavailable on HeadBucket for S3 bucket logs; it may be overloaded or down.",
		},
		{
			name:   "bucket without default encryption",
			head:   status(200),
			get:    xmlErr(404, "ServerSideEncryptionConfigurationNotFoundError", "The server side encryption configuration was not found"),
			target: Target{Bucket: "logs", RequireEncryption: true},
			want: "We couldn't start the session because encryption is not set up on the selected S3 bucket logs. " +
				"Either encrypt the bucket or choose an option to enable logging without encryption.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			endpoint := fakeS3(t, tt.head, tt.get)
			c, err := New(context.Background(), Config{Endpoint: endpoint, Region: "us-east-1", AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "s", Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Check(context.Background(), tt.target)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check = %v\nwant it to contain %s", err, tt.want)
			}
		})
	}
}
