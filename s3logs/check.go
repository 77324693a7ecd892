package s3logs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// CheckError is the error Check returns: the session must not start.
type CheckError struct {
	Bucket string
	Region string // the region the client uses
	// Reason is the whole message, for the person starting the session
	// and the server log: which bucket, what failed and what to do. When
	// encryption is required and missing it is Session Manager's
	// wording.
	Reason string
	// Err is the underlying error; errors.Is(err, ErrNotEncrypted),
	// ErrInvalidBucketName etc. see through it.
	Err error
}

func (e *CheckError) Error() string { return e.Reason }

func (e *CheckError) Unwrap() error { return e.Err }

// Check verifies before a session starts that its artifacts can go to t:
// the bucket name is valid for this client's addressing, credentials are
// available and not expired, the bucket exists and these credentials can
// reach it (HeadBucket, which needs s3:ListBucket), and, when
// t.RequireEncryption, the bucket has default encryption
// (GetBucketEncryption, which needs s3:GetEncryptionConfiguration). The
// whole check is bounded by Config.Timeout. Errors are *CheckError.
//
// Check does not verify t.KMSKeyID: that would need KMS permissions the
// uploader does not otherwise need; a bad key shows when Put fails.
func (c *Client) Check(ctx context.Context, t Target) error {
	fail := func(reason string, err error) error {
		return &CheckError{Bucket: t.Bucket, Region: c.region, Reason: reason, Err: err}
	}
	if reason, err := c.checkBucketName(t.Bucket); err != nil {
		return fail(reason, err)
	}
	if t.Prefix != "" {
		// Any name would do: this checks the prefix.
		if _, err := Key(t, "x"); err != nil {
			return fail(err.Error(), err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if reason, err := c.checkCredentials(cctx); err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			reason = fmt.Sprintf("Could not get S3 credentials within %s while checking S3 bucket %s: %v", c.timeout, t.Bucket, err)
		}
		return fail(reason, err)
	}

	_, err := c.s3.HeadBucket(cctx, &s3.HeadBucketInput{Bucket: aws.String(t.Bucket)})
	if err != nil {
		err = c.diagnose(cctx, t.Bucket, err)
		return fail(c.explain(ctx, err, t, "HeadBucket"), err)
	}
	if t.RequireEncryption {
		if _, reason, err := c.defaultEncryption(cctx, t.Bucket); err != nil {
			if !errors.Is(err, ErrNotEncrypted) {
				// explain against the caller's ctx, not cctx.
				reason = c.explain(ctx, err, t, "GetBucketEncryption")
			}
			return fail(reason, err)
		}
	}
	return nil
}

// diagnose replaces a HeadBucket error, which has no body and so only an
// HTTP status, by the error of a request that does have one
// (ListObjectsV2 for no keys, which needs the same s3:ListBucket
// permission), so that "403 Forbidden" becomes InvalidAccessKeyId,
// SignatureDoesNotMatch, ExpiredToken or AccessDenied. MinIO puts the
// code in x-minio-error-code, which explain reads directly.
func (c *Client) diagnose(ctx context.Context, bucket string, headErr error) error {
	_, status, hdr := apiDetails(headErr)
	if hdr.Get("X-Minio-Error-Code") != "" || (status != 400 && status != 403 && status != 301) {
		return headErr
	}
	if r := hdr.Get("X-Amz-Bucket-Region"); r != "" && r != c.region {
		return headErr // explain reports the region
	}
	_, err := c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(0)})
	if err == nil {
		return headErr
	}
	if dcode, _, _ := apiDetails(err); dcode != "" && dcode != "UnknownError" {
		return err
	}
	return headErr
}

// checkCredentials retrieves the credentials (cached by the SDK) so that
// a missing or expired credential is reported as such.
func (c *Client) checkCredentials(ctx context.Context) (string, error) {
	prov := c.s3.Options().Credentials
	if prov == nil {
		return "No S3 credentials are configured.", errors.New("no credentials provider")
	}
	creds, err := prov.Retrieve(ctx)
	if err != nil {
		return "No usable S3 credentials: " + err.Error() + ". Set an access key in the S3 destination's configuration, " +
			"or provide AWS credentials through the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), " +
			"shared config files (AWS_PROFILE) or an instance role.", err
	}
	if creds.CanExpire && creds.Expired() {
		return fmt.Sprintf("The S3 credentials (access key ID %s) expired at %s: renew them.",
			creds.AccessKeyID, creds.Expires.UTC().Format(time.RFC3339)), errors.New("credentials expired")
	}
	return "", nil
}

func (c *Client) accessKeyID() string {
	prov := c.s3.Options().Credentials
	if prov == nil {
		return "(none)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	creds, err := prov.Retrieve(ctx)
	if err != nil {
		return "(unknown)"
	}
	return creds.AccessKeyID
}

// apiDetails extracts the S3 error code, HTTP status and response
// headers of err, as far as it has them. MinIO's x-minio-error-code wins
// over the generic codes of body-less (HEAD) responses.
func apiDetails(err error) (code string, status int, hdr http.Header) {
	hdr = http.Header{}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		status = re.HTTPStatusCode()
		hdr = re.Response.Header
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	if mc := hdr.Get("X-Minio-Error-Code"); mc != "" {
		code = mc
	}
	return code, status, hdr
}

func apiCode(err error) string {
	code, _, _ := apiDetails(err)
	return code
}

// apiMessage is the S3 error message of err, or MinIO's description.
func apiMessage(err error) string {
	_, _, hdr := apiDetails(err)
	if d := hdr.Get("X-Minio-Error-Desc"); d != "" {
		return strings.Trim(d, `"`)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// permission names the IAM permission op needs.
func permission(op string, t Target) string {
	switch op {
	case "HeadBucket":
		return "s3:ListBucket"
	case "GetBucketEncryption":
		return "s3:GetEncryptionConfiguration"
	default:
		p := "s3:PutObject"
		if t.KMSKeyID != "" || t.RequireEncryption {
			p += " (and kms:GenerateDataKey on the bucket's or kmsKeyId's KMS key)"
		}
		return p
	}
}

// explain turns an error of op on t.Bucket into a sentence that says
// what failed and what to do. ctx is the caller's context, to tell its
// cancellation from the per-call timeout.
func (c *Client) explain(ctx context.Context, err error, t Target, op string) string {
	b := t.Bucket
	if ctx.Err() != nil {
		return fmt.Sprintf("%s on S3 bucket %s was canceled: %v.", op, b, context.Cause(ctx))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("The S3 endpoint %s did not answer within %s (%s on bucket %s).", c.where(), c.timeout, op, b)
	}
	code, status, hdr := apiDetails(err)
	msg := apiMessage(err)
	detail := code
	if msg != "" && msg != code {
		detail += ": " + msg
	}

	if r := hdr.Get("X-Amz-Bucket-Region"); r != "" && r != c.region &&
		(status == 301 || status == 400 || status == 403 || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed") {
		return fmt.Sprintf("S3 bucket %s is in region %s, but the S3 destination uses region %s: set its region to %s.", b, r, c.region, r)
	}
	lcode := strings.ToLower(code)
	switch {
	case strings.Contains(lcode, "kms"):
		key := t.KMSKeyID
		if key == "" {
			key = "(the bucket's default key)"
		}
		return fmt.Sprintf("The KMS key %s could not be used to encrypt objects in S3 bucket %s (%s). "+
			"Check kmsKeyId, and that these credentials may use the key (kms:GenerateDataKey).", key, b, detail)
	case code == "NoSuchBucket" || (code == "NotFound" && op == "HeadBucket"):
		return fmt.Sprintf("S3 bucket %s does not exist at %s. Create it, or correct s3BucketName.", b, c.where())
	case code == "InvalidAccessKeyId":
		return fmt.Sprintf("The access key ID %s is not known to %s (InvalidAccessKeyId): check the S3 credentials.", c.accessKeyID(), c.where())
	case code == "SignatureDoesNotMatch":
		return fmt.Sprintf("%s rejected the request signed with the secret access key of access key ID %s (SignatureDoesNotMatch): "+
			"check the secret access key.", c.where(), c.accessKeyID())
	case code == "ExpiredToken" || code == "ExpiredTokenException" || code == "TokenRefreshRequired":
		return fmt.Sprintf("The S3 credentials (access key ID %s) have expired (%s): renew them.", c.accessKeyID(), code)
	case code == "InvalidToken" || code == "InvalidTokenId":
		return fmt.Sprintf("The S3 session token of access key ID %s is invalid (%s): check the session token, or leave it empty for long-term keys.", c.accessKeyID(), code)
	case code == "RequestTimeTooSkewed":
		return fmt.Sprintf("%s refused the request because this host's clock differs too much from its own (RequestTimeTooSkewed): fix the system time.", c.where())
	case code == "AccessDenied" || code == "Forbidden" || code == "AllAccessDisabled":
		return fmt.Sprintf("Access to S3 bucket %s is denied for access key ID %s (%s on %s): grant %s on the bucket to these credentials, "+
			"and check the bucket policy.", b, c.accessKeyID(), code, op, permission(op, t))
	case code == "InvalidStorageClass":
		return fmt.Sprintf("%s does not accept storage class %s for S3 bucket %s (%s): change the S3 destination's storage class.", c.where(), c.storage, b, detail)
	case code == "NoSuchUpload":
		return fmt.Sprintf("The multipart upload to S3 bucket %s was aborted by the server (NoSuchUpload), e.g. by a lifecycle rule or a restart; it will be retried.", b)
	case status == 499:
		return fmt.Sprintf("%s dropped %s for S3 bucket %s (HTTP 499 %s); it may be shutting down.", c.where(), op, b, detail)
	case status >= 500:
		return fmt.Sprintf("%s failed with HTTP %d %s on %s for S3 bucket %s; it may be overloaded or down.", c.where(), status, detail, op, b)
	case status != 0:
		return fmt.Sprintf("%s on S3 bucket %s failed at %s: HTTP %d %s.", op, b, c.where(), status, detail)
	}

	// No HTTP response: the network or TLS.
	var dnsErr *net.DNSError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("Cannot connect to the S3 endpoint %s: connection refused (%s on bucket %s).", c.where(), op, b)
	case errors.Is(err, syscall.ECONNRESET):
		return fmt.Sprintf("The S3 endpoint %s reset the connection (%s on bucket %s).", c.where(), op, b)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("Cannot resolve the S3 endpoint's host %s: %v (%s on bucket %s).", dnsErr.Name, dnsErr.Err, op, b)
	case errors.As(err, &hostErr):
		hint := ""
		if strings.Contains(b, ".") && !c.pathStyle {
			hint = " A bucket name with dots needs path-style addressing (forcePathStyle)."
		}
		return fmt.Sprintf("The TLS certificate of the S3 endpoint %s is not valid for %s (%s on bucket %s).%s", c.where(), hostErr.Host, op, b, hint)
	case errors.As(err, &authErr), errors.As(err, &certErr):
		return fmt.Sprintf("The TLS certificate of the S3 endpoint %s is not trusted: %v (%s on bucket %s).", c.where(), err, op, b)
	}
	return fmt.Sprintf("%s on S3 bucket %s at %s failed: %v", op, b, c.where(), err)
}
