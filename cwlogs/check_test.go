package cwlogs

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/cwlogs/cwlogstest"
)

func TestCheck(t *testing.T) {
	denied := func(code, msg string) clientOpt {
		return withHook(func(op string, req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
			return cannedError(http.StatusBadRequest, code, msg), nil
		})
	}
	cases := []struct {
		name    string
		target  Target
		opts    []clientOpt
		fault   func(*cwlogstest.Server)
		want    error    // kind; nil: success
		wantMsg string   // exact message, if set
		contain []string // substrings of the message
		noCalls bool     // the check must not reach the service
	}{
		{name: "encrypted group, encryption required", target: Target{LogGroup: "/secure", RequireEncryption: true}},
		{name: "unencrypted group, encryption not required", target: Target{LogGroup: "/plain"}},
		{name: "encrypted group, encryption not required", target: Target{LogGroup: "/secure"}},
		{
			name:    "unencrypted group, encryption required",
			target:  Target{LogGroup: "/plain", RequireEncryption: true},
			want:    ErrNotEncrypted,
			wantMsg: "We couldn't start the session because encryption is not set up on the selected CloudWatch Logs log group /plain. Either encrypt the log group or choose an option to enable logging without encryption.",
		},
		{
			name:    "missing group",
			target:  Target{LogGroup: "/missing"},
			want:    ErrLogGroupNotFound,
			wantMsg: "We couldn't start the session because the CloudWatch Logs log group /missing (cloudWatchLogGroupName) does not exist in region us-east-1. Create the log group in us-east-1, or correct cloudWatchLogGroupName or the region Postern uses for CloudWatch Logs.",
		},
		{
			name:    "only longer names share the prefix",
			target:  Target{LogGroup: "/sessions/pro"},
			want:    ErrLogGroupNotFound,
			contain: []string{"/sessions/pro ", "us-east-1"},
		},
		{name: "exact name among longer names with the same prefix", target: Target{LogGroup: "/sessions"}},
		{name: "exact name with longer siblings", target: Target{LogGroup: "/sessions/prod"}},
		{name: "empty name", target: Target{LogGroup: ""}, want: ErrInvalidName, contain: []string{`""`, "empty"}, noCalls: true},
		{name: "name with a space", target: Target{LogGroup: "my group"}, want: ErrInvalidName, contain: []string{`"my group"`, "may contain only"}, noCalls: true},
		{name: "name with a colon", target: Target{LogGroup: "a:b"}, want: ErrInvalidName, contain: []string{`"a:b"`}, noCalls: true},
		{name: "name of 513 characters", target: Target{LogGroup: strings.Repeat("a", 513)}, want: ErrInvalidName, contain: []string{"513 characters"}, noCalls: true},
		{name: "name of 512 characters is valid (and missing)", target: Target{LogGroup: strings.Repeat("a", 512)}, want: ErrLogGroupNotFound},
		{
			name:    "wrong region",
			target:  Target{LogGroup: "/plain"},
			opts:    []clientOpt{withConfig(func(c *Config) { c.Region = "eu-west-1" })},
			want:    ErrWrongRegion,
			contain: []string{"eu-west-1", "/plain", "does not serve region"},
		},
		{
			name:   "throttled twice, then answered",
			target: Target{LogGroup: "/secure", RequireEncryption: true},
			fault:  func(s *cwlogstest.Server) { s.Throttle(2) },
		},
		{
			name:    "throttled on every attempt",
			target:  Target{LogGroup: "/secure"},
			fault:   func(s *cwlogstest.Server) { s.Throttle(100) },
			want:    ErrUnavailable,
			contain: []string{"kept throttling", "after 6 attempts", "/secure", "us-east-1"},
		},
		{
			name:    "service down",
			target:  Target{LogGroup: "/secure"},
			fault:   func(s *cwlogstest.Server) { s.SetDown(true) },
			want:    ErrUnavailable,
			contain: []string{"ServiceUnavailableException", "/secure", "us-east-1"},
		},
		{
			name:    "access denied",
			target:  Target{LogGroup: "/secure"},
			opts:    []clientOpt{denied("AccessDeniedException", "User: arn:aws:iam::123456789012:user/postern is not authorized to perform: logs:DescribeLogGroups")},
			want:    ErrAccessDenied,
			contain: []string{"denied access while checking log group /secure", "region us-east-1", "logs:DescribeLogGroups"},
		},
		{
			name:    "expired credentials",
			target:  Target{LogGroup: "/secure"},
			opts:    []clientOpt{denied("ExpiredTokenException", "The security token included in the request is expired")},
			want:    ErrAccessDenied,
			contain: []string{"rejected Postern's AWS credentials", "/secure", "us-east-1", "expired"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFake(t)
			setup := newTestClient(t, srv)
			createGroup(t, setup, "/secure", kmsKey)
			createGroup(t, setup, "/plain", "")
			createGroup(t, setup, "/sessions", "")
			createGroup(t, setup, "/sessions/prod", "")
			createGroup(t, setup, "/sessions/prod-eu", "")
			createGroup(t, setup, "/sessions/production", "")
			c := newTestClient(t, srv, tc.opts...)
			if tc.fault != nil {
				tc.fault(srv)
			}
			err := c.Check(t.Context(), tc.target)
			wantKind(t, err, tc.want)
			if err == nil {
				return
			}
			if tc.wantMsg != "" && err.Error() != tc.wantMsg {
				t.Errorf("message:\n got %q\nwant %q", err.Error(), tc.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "We couldn't start the session because ") {
				t.Errorf("message %q is not worded for a refused session", err.Error())
			}
			for _, s := range tc.contain {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not contain %q", err.Error(), s)
				}
			}
			if tc.noCalls && srv.Calls("DescribeLogGroups") != 0 {
				t.Errorf("an invalid name reached the service")
			}
		})
	}
}

// TestCheckHungServer: a server that never answers (for an hour) ends
// Check with a timeout after one attempt, and the message says so.
func TestCheckHungServer(t *testing.T) {
	t.Parallel()
	srv := newFake(t)
	setup := newTestClient(t, srv)
	createGroup(t, setup, "/secure", kmsKey)
	c := newTestClient(t, srv, withConfig(func(c *Config) { c.Timeout = 300 * time.Millisecond }))
	srv.SetDelay(time.Hour)
	before := srv.Calls("DescribeLogGroups")
	err := c.Check(t.Context(), Target{LogGroup: "/secure", RequireEncryption: true})
	wantKind(t, err, ErrTimeout)
	if n := srv.Calls("DescribeLogGroups") - before; n != 1 {
		t.Errorf("%d DescribeLogGroups calls; want 1 (a hung server is not retried)", n)
	}
	for _, s := range []string{"did not answer within 300ms", "/secure", "us-east-1"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q does not contain %q", err.Error(), s)
		}
	}
}

// TestCheckThrottledWithinTimeout: retries of a throttled check stop when
// the check's Timeout runs out, and the error says it timed out.
func TestCheckThrottledWithinTimeout(t *testing.T) {
	t.Parallel()
	srv := newFake(t)
	c := newTestClient(t, srv, withConfig(func(c *Config) { c.Timeout = 200 * time.Millisecond }))
	c.attempts, c.backoffBase, c.backoffMax = 1000, 50*time.Millisecond, 50*time.Millisecond
	srv.Throttle(1 << 20)
	err := c.Check(t.Context(), Target{LogGroup: "/secure"})
	// 1000 attempts 50ms apart would take 50s and end throttled: a
	// timeout is the proof that the Timeout stopped them.
	wantKind(t, err, ErrTimeout)
}

// TestEndpointFromEnvironment: with no Endpoint in Config, the endpoint comes
// from AWS_ENDPOINT_URL_LOGS (Postern's documented name) or the SDK's
// AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, which wins.
func TestEndpointFromEnvironment(t *testing.T) {
	srv := newFake(t)
	createGroup(t, newTestClient(t, srv), "/env", "")
	creds := Config{Region: srv.Region(), AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Timeout: 2 * time.Second}

	t.Run("AWS_ENDPOINT_URL_LOGS", func(t *testing.T) {
		t.Setenv("AWS_ENDPOINT_URL_LOGS", srv.URL())
		c, err := New(t.Context(), creds)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Check(t.Context(), Target{LogGroup: "/env"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS wins", func(t *testing.T) {
		t.Setenv("AWS_ENDPOINT_URL_LOGS", "http://127.0.0.1:1")
		t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", srv.URL())
		c, err := New(t.Context(), creds)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Check(t.Context(), Target{LogGroup: "/env"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("AWS_ENDPOINT_URL", func(t *testing.T) {
		t.Setenv("AWS_ENDPOINT_URL", srv.URL())
		c, err := New(t.Context(), creds)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Check(t.Context(), Target{LogGroup: "/env"}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewConfig(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
		region  string
		maxMsg  int
	}{
		{name: "defaults", cfg: Config{}, region: "us-east-1", maxMsg: 1048550},
		{name: "region and legacy event size", cfg: Config{Region: "eu-west-3", MaxEventSize: LegacyMaxEventSize}, region: "eu-west-3", maxMsg: 262118},
		{name: "event size too small", cfg: Config{MaxEventSize: 29}, wantErr: "max event size 29"},
		{name: "event size above a batch", cfg: Config{MaxEventSize: MaxBatchBytes + 1}, wantErr: "max event size 1048577"},
		{name: "key without secret", cfg: Config{AccessKeyID: "AKID"}, wantErr: "secret access key"},
		{name: "session token alone", cfg: Config{SessionToken: "tok"}, wantErr: "session token"},
		{name: "endpoint not a URL", cfg: Config{Endpoint: "localhost:4566"}, wantErr: `endpoint "localhost:4566"`},
		{name: "negative timeout", cfg: Config{Timeout: -time.Second}, wantErr: "negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(t.Context(), tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Region() != tc.region || c.MaxMessageBytes() != tc.maxMsg || c.timeout != DefaultTimeout {
				t.Errorf("region %q, max message %d, timeout %v", c.Region(), c.MaxMessageBytes(), c.timeout)
			}
		})
	}
}
