package cwlogs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// class is what a failed request means for retrying it.
type class int

const (
	permanent class = iota // an answer that retrying will not change
	throttled              // refused before processing: re-send
	transient              // 5xx or a broken connection: may or may not have been processed
	timedOut               // no answer within the request timeout
	canceled               // the caller's context is done
)

// throttleCodes are the error codes that mean "slow down". The SDK's list
// also holds LimitExceededException, which CloudWatch Logs uses for resource
// quotas (too many log groups), not for rates.
var throttleCodes = map[string]bool{
	"ThrottlingException":       true,
	"Throttling":                true,
	"ThrottledException":        true,
	"RequestThrottledException": true,
	"TooManyRequestsException":  true,
	"RequestLimitExceeded":      true,
	"RequestThrottled":          true,
}

var transientCodes = map[string]bool{
	"ServiceUnavailableException": true,
	"ServiceUnavailable":          true,
	"InternalFailure":             true,
	"InternalServerError":         true,
	"InternalError":               true,
	"RequestTimeout":              true,
	"RequestTimeoutException":     true,
}

// timeoutError marks a request that got no answer within the timeout.
type timeoutError struct {
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string { return fmt.Sprintf("no answer within %v: %v", e.after, e.err) }
func (e *timeoutError) Unwrap() error { return e.err }

// exhaustedError marks a request that failed on every attempt.
type exhaustedError struct {
	attempts int
	err      error
}

func (e *exhaustedError) Error() string {
	return fmt.Sprintf("still failing after %d attempts: %v", e.attempts, e.err)
}
func (e *exhaustedError) Unwrap() error { return e.err }

func classify(ctx context.Context, err error) class {
	if ctx.Err() != nil {
		return canceled
	}
	var te *timeoutError
	if errors.As(err, &te) {
		return timedOut
	}
	var ae smithy.APIError
	isAPI := errors.As(err, &ae)
	if isAPI {
		switch {
		case throttleCodes[ae.ErrorCode()]:
			return throttled
		case transientCodes[ae.ErrorCode()]:
			return transient
		}
	}
	var hs interface{ HTTPStatusCode() int }
	if errors.As(err, &hs) {
		switch s := hs.HTTPStatusCode(); {
		case s == 429:
			return throttled
		case s >= 500:
			return transient
		}
	}
	if isAPI {
		return permanent
	}
	if (retry.RetryableConnectionError{}).IsErrorRetryable(err) == aws.TrueTernary ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return transient
	}
	return permanent
}

// once makes one request with the per-request timeout.
func (c *Client) once(ctx context.Context, fn func(context.Context) error) error {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err := fn(rctx)
	if err != nil && ctx.Err() == nil && rctx.Err() != nil {
		return &timeoutError{after: c.timeout, err: err}
	}
	return err
}

// call makes a request that is safe to repeat (a read, CreateLogStream),
// retrying throttling and transient failures.
func (c *Client) call(ctx context.Context, fn func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := c.once(ctx, fn)
		if err == nil {
			return nil
		}
		if err := c.retryable(ctx, attempt, err); err != nil {
			return err
		}
	}
}

// retryable decides after a failed attempt: nil means try again (after the
// backoff, already waited); otherwise the error to return.
func (c *Client) retryable(ctx context.Context, attempt int, err error) error {
	switch classify(ctx, err) {
	case throttled, transient:
		if attempt >= c.attempts {
			return &exhaustedError{attempts: attempt, err: err}
		}
		if werr := c.backoff(ctx, attempt); werr != nil {
			return fmt.Errorf("%w (last error: %w)", werr, err)
		}
		return nil
	case canceled:
		if errors.Is(err, ctx.Err()) {
			return err
		}
		return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
	default:
		return err
	}
}

// backoff waits before attempt+1, or until ctx is done.
func (c *Client) backoff(ctx context.Context, attempt int) error {
	d := c.backoffBase << min(attempt-1, 30)
	if d <= 0 || d > c.backoffMax {
		d = c.backoffMax
	}
	if d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// apiCode returns the service's error code, or "".
func apiCode(err error) (code, msg string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

var credentialCodes = map[string]bool{
	"UnrecognizedClientException":         true,
	"InvalidClientTokenId":                true,
	"ExpiredTokenException":               true,
	"ExpiredToken":                        true,
	"MissingAuthenticationTokenException": true,
	"IncompleteSignatureException":        true,
	"SignatureDoesNotMatch":               true,
}

// explain turns a failed request into a kind and a clause for a message,
// worded to follow "because " or ": ". what names the request for people,
// e.g. "checking log group /x".
func (c *Client) explain(err error, what, group string) (kind error, clause string) {
	where := "in region " + c.region
	if c.endpoint != "" {
		where += " (endpoint " + c.endpoint + ")"
	}
	var ex *exhaustedError
	attempts, detail := "", err
	if errors.As(err, &ex) {
		attempts, detail = fmt.Sprintf(" after %d attempts", ex.attempts), ex.err
	}
	code, msg := apiCode(err)
	msg = strings.TrimSpace(msg)
	var te *timeoutError
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.Canceled) || (errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &te)):
		k := context.Canceled
		if errors.Is(err, context.DeadlineExceeded) {
			k = context.DeadlineExceeded
		}
		return k, fmt.Sprintf("%s in CloudWatch Logs %s was abandoned: %v", what, where, err)
	case errors.As(err, &te):
		return ErrTimeout, fmt.Sprintf("CloudWatch Logs %s did not answer within %v while %s", where, te.after, what)
	case code == "ResourceNotFoundException" && strings.Contains(msg, "log group"):
		return ErrLogGroupNotFound, fmt.Sprintf("the CloudWatch Logs log group %s does not exist in region %s", group, c.region)
	case code == "AccessDeniedException" || code == "AccessDenied" || code == "UnauthorizedOperation":
		return ErrAccessDenied, fmt.Sprintf("CloudWatch Logs %s denied access while %s (%s: %s); allow Postern's credentials logs:DescribeLogGroups, logs:CreateLogStream, logs:GetLogEvents and logs:PutLogEvents on the log group", where, what, code, msg)
	case credentialCodes[code]:
		return ErrAccessDenied, fmt.Sprintf("CloudWatch Logs %s rejected Postern's AWS credentials while %s (%s: %s); check the access key, secret and session token and whether they have expired", where, what, code, msg)
	case code == "InvalidSignatureException" && strings.Contains(msg, "region"):
		return ErrWrongRegion, fmt.Sprintf("the CloudWatch Logs endpoint does not serve region %s (%s: %s) while %s; configure the region the log group is in", c.region, code, msg, what)
	case code == "InvalidSignatureException":
		return ErrAccessDenied, fmt.Sprintf("CloudWatch Logs %s rejected the request signature while %s (%s: %s); check the secret access key and the clock", where, what, code, msg)
	case strings.Contains(err.Error(), "get identity:"):
		// The SDK wraps credential resolution failures this way; there is
		// no typed error for them.
		return ErrAccessDenied, fmt.Sprintf("there are no usable AWS credentials for CloudWatch Logs %s while %s: %v", where, what, err)
	case errors.As(err, &dns) && dns.IsNotFound:
		if c.endpoint != "" {
			return ErrUnavailable, fmt.Sprintf("the CloudWatch Logs endpoint %s has no address (%v) while %s; check the endpoint", c.endpoint, dns, what)
		}
		return ErrWrongRegion, fmt.Sprintf("there is no CloudWatch Logs endpoint for region %s (%v) while %s; check the region", c.region, dns, what)
	}
	switch classify(context.Background(), err) {
	case throttled:
		return ErrUnavailable, fmt.Sprintf("CloudWatch Logs %s kept throttling the requests%s while %s: %v", where, attempts, what, detail)
	case transient:
		return ErrUnavailable, fmt.Sprintf("CloudWatch Logs %s failed%s while %s: %v", where, attempts, what, detail)
	}
	return nil, fmt.Sprintf("CloudWatch Logs %s failed while %s: %v", where, what, err)
}
