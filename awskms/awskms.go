// Package awskms makes and unwraps data keys with AWS KMS, or a service
// that speaks its API: GenerateDataKey and Decrypt with an encryption
// context. The key service (package keys) sends it the kmsKeyId values that
// name AWS keys, so that Session Manager's preferences that name a customer
// managed key in AWS work unchanged.
//
// AWS evaluates the key's policy against the server's own AWS identity;
// AWS's errors come back as package keys' (keys.ErrNotFound,
// keys.ErrInvalidState, keys.ErrAccessDenied, keys.ErrDecrypt), wrapped with
// AWS's message.
package awskms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/postern/postern/keys"
)

// Config says where AWS KMS is; what it leaves empty comes from the
// standard AWS configuration chain, AWS_ENDPOINT_URL_KMS included.
type Config struct {
	Endpoint        string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// Timeout bounds each call (default 10 s): a session waits on it to
	// start.
	Timeout time.Duration
}

// Client calls AWS KMS.
type Client struct {
	api     *kms.Client
	timeout time.Duration
}

// New returns a client for cfg.
func New(ctx context.Context, cfg Config) (*Client, error) {
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws kms: loading AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	c := &Client{timeout: cfg.Timeout}
	if c.timeout == 0 {
		c.timeout = 10 * time.Second
	}
	c.api = kms.NewFromConfig(awsCfg, func(o *kms.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return c, nil
}

// GenerateDataKey returns a new 256-bit data key in plain text and
// encrypted under keyID (a key id, ARN, alias name or alias ARN), and the
// ARN of the key that encrypted it.
func (c *Client) GenerateDataKey(ctx context.Context, keyID string, ec map[string]string) (plaintext, blob []byte, keyARN string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out, err := c.api.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec,
	})
	if err != nil {
		return nil, nil, "", fmt.Errorf("aws kms: generate a data key with %s: %w", keyID, kmsError(err))
	}
	return out.Plaintext, out.CiphertextBlob, aws.ToString(out.KeyId), nil
}

// Decrypt unwraps a data key made by GenerateDataKey with the same
// encryption context, and returns the ARN of the key that made it.
func (c *Client) Decrypt(ctx context.Context, blob []byte, ec map[string]string) (plaintext []byte, keyARN string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out, err := c.api.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
	if err != nil {
		return nil, "", fmt.Errorf("aws kms: decrypt a data key: %w", kmsError(err))
	}
	return out.Plaintext, aws.ToString(out.KeyId), nil
}

// kmsError adds the package keys error that AWS's error code means.
func kmsError(err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err
	}
	var kind error
	switch ae.ErrorCode() {
	case "NotFoundException":
		kind = keys.ErrNotFound
	case "DisabledException", "KMSInvalidStateException", "KeyUnavailableException":
		kind = keys.ErrInvalidState
	case "AccessDeniedException":
		kind = keys.ErrAccessDenied
	case "InvalidCiphertextException", "IncorrectKeyException":
		kind = keys.ErrDecrypt
	default:
		return err
	}
	return fmt.Errorf("%w: %s: %s", kind, ae.ErrorCode(), ae.ErrorMessage())
}
