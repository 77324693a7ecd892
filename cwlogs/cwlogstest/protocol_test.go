package cwlogstest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/smithy-go"
)

const (
	goodAuth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260301/us-east-1/logs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123456789abcdef"
	amzDate  = "20260301T120000Z"
)

// TestWireProtocol drives the fake with hand-made requests to pin the AWS JSON
// 1.1 envelope: POST /, X-Amz-Target, the SigV4 header requirements, and the
// {"__type","message"} error body with HTTP 400.
func TestWireProtocol(t *testing.T) {
	srv := newServer(t)
	cases := []struct {
		name       string
		method     string
		headers    map[string]string
		body       string
		wantStatus int
		wantType   string // "" for success
		wantMsg    string
	}{
		{
			name:       "valid CreateLogGroup answers 200 with an empty body",
			headers:    map[string]string{"Authorization": goodAuth, "X-Amz-Target": "Logs_20140328.CreateLogGroup"},
			body:       `{"logGroupName":"/wire/ok"}`,
			wantStatus: 200,
		},
		{
			name:       "unsigned request",
			headers:    map[string]string{"X-Amz-Target": "Logs_20140328.DescribeLogGroups"},
			body:       `{}`,
			wantStatus: 400, wantType: "MissingAuthenticationTokenException", wantMsg: "Missing Authentication Token",
		},
		{
			name:       "non-SigV4 Authorization scheme",
			headers:    map[string]string{"Authorization": "Bearer abc", "X-Amz-Target": "Logs_20140328.DescribeLogGroups"},
			body:       `{}`,
			wantStatus: 400, wantType: "IncompleteSignatureException",
		},
		{
			name:       "SigV4 header without Signature",
			headers:    map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260301/us-east-1/logs/aws4_request, SignedHeaders=host", "X-Amz-Target": "Logs_20140328.DescribeLogGroups"},
			body:       `{}`,
			wantStatus: 400, wantType: "IncompleteSignatureException", wantMsg: "requires 'Signature' parameter",
		},
		{
			name:       "credential scoped to another service",
			headers:    map[string]string{"Authorization": strings.Replace(goodAuth, "/logs/", "/s3/", 1), "X-Amz-Target": "Logs_20140328.DescribeLogGroups"},
			body:       `{}`,
			wantStatus: 400, wantType: "InvalidSignatureException", wantMsg: "correct service: 'logs'",
		},
		{
			name:       "credential scoped to another region",
			headers:    map[string]string{"Authorization": strings.Replace(goodAuth, "us-east-1", "eu-west-1", 1), "X-Amz-Target": "Logs_20140328.DescribeLogGroups"},
			body:       `{}`,
			wantStatus: 400, wantType: "InvalidSignatureException", wantMsg: "not 'eu-west-1'",
		},
		{
			name:       "missing X-Amz-Target",
			headers:    map[string]string{"Authorization": goodAuth},
			body:       `{}`,
			wantStatus: 400, wantType: "UnknownOperationException",
		},
		{
			name:       "unknown operation",
			headers:    map[string]string{"Authorization": goodAuth, "X-Amz-Target": "Logs_20140328.NoSuchThing"},
			body:       `{}`,
			wantStatus: 400, wantType: "UnknownOperationException",
		},
		{
			name:       "GET is not an operation",
			method:     http.MethodGet,
			headers:    map[string]string{"Authorization": goodAuth, "X-Amz-Target": "Logs_20140328.DescribeLogGroups"},
			wantStatus: 400, wantType: "UnknownOperationException",
		},
		{
			name:       "malformed JSON",
			headers:    map[string]string{"Authorization": goodAuth, "X-Amz-Target": "Logs_20140328.CreateLogGroup"},
			body:       `{"logGroupName":`,
			wantStatus: 400, wantType: "SerializationException",
		},
		{
			name:       "member of the wrong JSON type",
			headers:    map[string]string{"Authorization": goodAuth, "X-Amz-Target": "Logs_20140328.CreateLogGroup"},
			body:       `{"logGroupName":5}`,
			wantStatus: 400, wantType: "SerializationException",
		},
		{
			name:       "missing required member",
			headers:    map[string]string{"Authorization": goodAuth, "X-Amz-Target": "Logs_20140328.CreateLogGroup"},
			body:       `{}`,
			wantStatus: 400, wantType: "InvalidParameterException",
			wantMsg: "1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null",
		},
		{
			name:       "two violations are reported together",
			headers:    map[string]string{"Authorization": goodAuth, "X-Amz-Target": "Logs_20140328.CreateLogStream"},
			body:       `{"logGroupName":"bad name","logStreamName":"a:b"}`,
			wantStatus: 400, wantType: "InvalidParameterException",
			wantMsg: `2 validation errors detected: Value 'bad name' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+; Value 'a:b' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequestWithContext(t.Context(), method, srv.URL()+"/", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("X-Amz-Date", amzDate)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Errorf("Content-Type = %q", ct)
			}
			if resp.Header.Get("X-Amzn-Requestid") == "" {
				t.Errorf("no x-amzn-RequestId header")
			}
			if tc.wantType == "" {
				if len(body) != 0 {
					t.Errorf("body = %q, want empty", body)
				}
				return
			}
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %q: %v", body, err)
			}
			if e.Type != tc.wantType {
				t.Errorf("__type = %q, want %q (message %q)", e.Type, tc.wantType, e.Message)
			}
			if !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tc.wantMsg)
			}
		})
	}
}

// TestSDKSigningRequirements checks what the real SDK sees when its request
// is unsigned or signed for the wrong region: an API error with the code the
// service uses (these codes are not modelled, so the SDK gives a
// GenericAPIError), HTTP 400.
func TestSDKSigningRequirements(t *testing.T) {
	srv := newServer(t)
	cases := []struct {
		name     string
		opt      func(*cloudwatchlogs.Options)
		wantCode string
	}{
		{"anonymous credentials send no Authorization", func(o *cloudwatchlogs.Options) { o.Credentials = aws.AnonymousCredentials{} }, "MissingAuthenticationTokenException"},
		{"client signing for another region", func(o *cloudwatchlogs.Options) { o.Region = "eu-west-1" }, "InvalidSignatureException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, srv, tc.opt)
			_, err := c.DescribeLogGroups(t.Context(), &cloudwatchlogs.DescribeLogGroupsInput{})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error = %v, want an API error", err)
			}
			if apiErr.ErrorCode() != tc.wantCode {
				t.Errorf("code = %q, want %q", apiErr.ErrorCode(), tc.wantCode)
			}
			if got := httpStatus(t, err); got != 400 {
				t.Errorf("status = %d, want 400", got)
			}
		})
	}

	t.Run("signed SDK request succeeds and carries a request ID", func(t *testing.T) {
		c := newClient(t, srv)
		out, err := c.DescribeLogGroups(t.Context(), &cloudwatchlogs.DescribeLogGroupsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); !ok || id == "" {
			t.Errorf("request ID = %q, %v", id, ok)
		}
	})
}
