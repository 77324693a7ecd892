package cwlogs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/postern/postern/cwlogs/cwlogstest"
)

const kmsKey = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

func TestMain(m *testing.M) {
	// Keep the developer's AWS configuration out of the tests.
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LOGS", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"} {
		os.Unsetenv(k)
	}
	os.Setenv("AWS_CONFIG_FILE", os.DevNull)
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	os.Exit(m.Run())
}

func newFake(t *testing.T, opts ...cwlogstest.Option) *cwlogstest.Server {
	t.Helper()
	srv := cwlogstest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

// hook sits between the client and the fake: it sees every request with its
// operation name and decides what happens (next sends it on).
type hook func(op string, req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error)

type hookClient struct {
	next *http.Client
	hook hook
}

func (h *hookClient) Do(req *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "Logs_20140328.")
	return h.hook(op, req, h.next.Do)
}

type clientOpt func(*Config, *[]func(*cloudwatchlogs.Options))

func withConfig(f func(*Config)) clientOpt {
	return func(c *Config, _ *[]func(*cloudwatchlogs.Options)) { f(c) }
}

func withHook(h hook) clientOpt {
	return func(_ *Config, o *[]func(*cloudwatchlogs.Options)) {
		*o = append(*o, func(o *cloudwatchlogs.Options) {
			o.HTTPClient = &hookClient{next: &http.Client{}, hook: h}
		})
	}
}

// newTestClient is a client of the fake with static credentials and a fast
// backoff (1 to 4 ms) so that retry tests run quickly.
func newTestClient(t *testing.T, srv *cwlogstest.Server, opts ...clientOpt) *Client {
	t.Helper()
	cfg := Config{
		Endpoint:    srv.URL(),
		Region:      srv.Region(),
		AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		Timeout: 5 * time.Second,
	}
	var sdkOpts []func(*cloudwatchlogs.Options)
	for _, o := range opts {
		o(&cfg, &sdkOpts)
	}
	c, err := newClient(t.Context(), cfg, sdkOpts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.backoffBase, c.backoffMax = time.Millisecond, 4*time.Millisecond
	return c
}

func createGroup(t *testing.T, c *Client, name, kmsKeyID string) {
	t.Helper()
	in := &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name)}
	if kmsKeyID != "" {
		in.KmsKeyId = aws.String(kmsKeyID)
	}
	if _, err := c.api.CreateLogGroup(t.Context(), in); err != nil {
		t.Fatalf("CreateLogGroup(%q): %v", name, err)
	}
}

func messages(evs []cwlogstest.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Message
	}
	return out
}

// wantKind fails unless err matches kind (nil: err must be nil).
func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if kind == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error = %v; want one matching %q", err, kind)
	}
}

// sameMessages compares stored messages to the expected ones without
// printing megabytes when they differ.
func sameMessages(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("stream holds %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("event %d = %.60q (%d bytes), want %.60q (%d bytes)", i, got[i], len(got[i]), want[i], len(want[i]))
		}
	}
}

// refEvents is an independent statement of what PutTranscript must send
// for body: lines split on "\n", one trailing "\r" removed, invalid UTF-8
// bytes replaced one by one with U+FFFD, empty lines dropped, lines cut
// greedily into pieces of at most max bytes between characters.
func refEvents(body string, max int) []string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		var b strings.Builder
		for i := 0; i < len(line); {
			r, size := utf8.DecodeRuneInString(line[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteString(line[i : i+size])
			}
			i += size
		}
		s := strings.TrimSuffix(b.String(), "\r")
		for len(s) > 0 {
			n := 0
			for _, r := range s {
				if n+utf8.RuneLen(r) > max {
					break
				}
				n += utf8.RuneLen(r)
			}
			out = append(out, s[:n])
			s = s[n:]
		}
	}
	return out
}

// countingReader counts the bytes read and can act when a count is passed.
type countingReader struct {
	r      io.Reader
	n      atomic.Int64
	at     int64
	once   sync.Once
	action func()
}

func (c *countingReader) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		p = p[:4096] // small reads, so that the action fires close to its mark
	}
	n, err := c.r.Read(p)
	if c.n.Add(int64(n)) >= c.at && c.action != nil {
		c.once.Do(c.action)
	}
	return n, err
}

// lines builds n lines "prefix-00000 <pad>" of lineLen bytes each (without
// the newline).
func lines(n, lineLen int, prefix string) string {
	var b bytes.Buffer
	for i := range n {
		l := fmt.Sprintf("%s-%05d ", prefix, i)
		if len(l) < lineLen {
			l += strings.Repeat("x", lineLen-len(l))
		}
		b.WriteString(l[:lineLen])
		b.WriteByte('\n')
	}
	return b.String()
}

// cannedError answers a request with a CloudWatch Logs JSON error.
func cannedError(status int, code, msg string) *http.Response {
	body := fmt.Sprintf(`{"__type":%q,"message":%q}`, code, msg)
	return &http.Response{
		StatusCode:    status,
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Requestid": {"00000000-0000-0000-0000-000000000000"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Proto:         "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
}
