package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/postern/postern/awskms"
	"github.com/postern/postern/cwlogs"
	"github.com/postern/postern/delivery"
	"github.com/postern/postern/s3logs"
	"github.com/postern/postern/server"
)

// destinationsConfig is the server configuration's `s3:` and
// `cloudWatch:` sections. What it leaves empty comes from the standard AWS
// configuration chain (environment, shared config and credentials files),
// including AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_LOGS.
type destinationsConfig struct {
	S3 struct {
		Endpoint        string            `json:"endpoint"`
		Region          string            `json:"region"`
		AccessKeyID     string            `json:"accessKeyId"`
		SecretAccessKey string            `json:"secretAccessKey"`
		ForcePathStyle  bool              `json:"forcePathStyle"`
		StorageClass    string            `json:"storageClass"`
		Tags            map[string]string `json:"tags"`
		Timeout         string            `json:"timeout"`
		// ClientSideEncryption: Postern encrypts what it uploads
		// (package envelope; postern logs decrypt reads it), for stores
		// without KMS.
		ClientSideEncryption bool `json:"clientSideEncryption"`
	} `json:"s3"`
	CloudWatch struct {
		// Use is "aws" or "builtin" to choose where log groups are
		// regardless of the environment; empty: CloudWatch Logs when any
		// AWS configuration for it is found (see awsLogsConfigured).
		Use             string `json:"use"`
		Endpoint        string `json:"endpoint"`
		Region          string `json:"region"`
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
		Timeout         string `json:"timeout"`
		// MaxEventSize is 262144 for services that predate the 1 MiB
		// event limit.
		MaxEventSize int `json:"maxEventSize"`
	} `json:"cloudWatch"`
	// KMS is where kmsKeyId values that name AWS KMS keys go. Use "aws"
	// sends every kmsKeyId there (alias/x as in AWS); "builtin" none;
	// empty: ARNs arn:aws:kms:... go to AWS KMS when any AWS
	// configuration is found, the rest to the built-in key service.
	KMS struct {
		Use             string `json:"use"`
		Endpoint        string `json:"endpoint"`
		Region          string `json:"region"`
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
	} `json:"kms"`
}

// awsKMS returns the AWS KMS client the configuration asks for, and whether
// every kmsKeyId goes to it; nil when AWS KMS is not configured.
func awsKMS(ctx context.Context, c destinationsConfig) (*awskms.Client, bool, error) {
	k := c.KMS
	switch k.Use {
	case "builtin":
		return nil, false, nil
	case "", "aws":
	default:
		return nil, false, fmt.Errorf("kms.use: %q must be aws or builtin", k.Use)
	}
	if k.Use == "" && k.Endpoint == "" && k.Region == "" && !awsEnvironment("AWS_ENDPOINT_URL_KMS") {
		return nil, false, nil
	}
	cl, err := awskms.New(ctx, awskms.Config{Endpoint: k.Endpoint, Region: k.Region, AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey})
	if err != nil {
		return nil, false, fmt.Errorf("kms: %w", err)
	}
	return cl, k.Use == "aws", nil
}

// destinations builds the S3 and CloudWatch Logs destinations. The AWS SDK
// resolves credentials lazily, so a server without any AWS configuration
// starts; sessions whose preferences name a bucket it cannot reach are
// refused with the reason. Without any AWS configuration for CloudWatch
// Logs there is no CloudWatch destination (nil): log groups are then
// Postern's built-in ones, so the same preferences work without AWS.
func destinations(ctx context.Context, c destinationsConfig) (server.S3Destination, server.CloudWatchDestination, error) {
	switch c.CloudWatch.Use {
	case "", "aws", "builtin":
	default:
		return nil, nil, fmt.Errorf("cloudWatch.use: %q must be aws or builtin", c.CloudWatch.Use)
	}
	s3t, err := parseTimeout("s3.timeout", c.S3.Timeout)
	if err != nil {
		return nil, nil, err
	}
	cwt, err := parseTimeout("cloudWatch.timeout", c.CloudWatch.Timeout)
	if err != nil {
		return nil, nil, err
	}
	s3c, err := s3logs.New(ctx, s3logs.Config{
		Endpoint: c.S3.Endpoint, Region: c.S3.Region, AccessKeyID: c.S3.AccessKeyID, SecretAccessKey: c.S3.SecretAccessKey,
		ForcePathStyle: c.S3.ForcePathStyle, StorageClass: c.S3.StorageClass, Tags: c.S3.Tags, Timeout: s3t,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("s3: %w", err)
	}
	if !awsLogsConfigured(c) {
		return s3Destination{s3c}, nil, nil
	}
	cwc, err := cwlogs.New(ctx, cwlogs.Config{
		Endpoint: c.CloudWatch.Endpoint, Region: c.CloudWatch.Region, AccessKeyID: c.CloudWatch.AccessKeyID,
		SecretAccessKey: c.CloudWatch.SecretAccessKey, Timeout: cwt, MaxEventSize: c.CloudWatch.MaxEventSize,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cloudWatch: %w", err)
	}
	return s3Destination{s3c}, delivery.CloudWatchLogs{Client: cwc}, nil
}

func parseTimeout(field, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration such as 30s", field, v)
	}
	return d, nil
}

// s3Destination adapts s3logs to the server.
type s3Destination struct{ c *s3logs.Client }

func s3Target(t server.S3Target) s3logs.Target {
	return s3logs.Target{Bucket: t.Bucket, Prefix: t.Prefix, RequireEncryption: t.RequireEncryption, KMSKeyID: t.KMSKeyID}
}

func (d s3Destination) Check(ctx context.Context, t server.S3Target) error {
	return d.c.Check(ctx, s3Target(t))
}

func (d s3Destination) Put(ctx context.Context, t server.S3Target, name, contentType string, body io.Reader) (string, error) {
	return d.c.Put(ctx, s3Target(t), name, contentType, body)
}

// awsLogsConfigured reports whether log groups are CloudWatch Logs' rather
// than Postern's own: the configuration says so, or names an endpoint,
// region or keys for it, or the environment holds AWS configuration the
// SDK would use (region, endpoint, profile, keys, shared files).
func awsLogsConfigured(c destinationsConfig) bool {
	cw := c.CloudWatch
	switch cw.Use {
	case "aws":
		return true
	case "builtin":
		return false
	}
	if cw.Endpoint != "" || cw.Region != "" || cw.AccessKeyID != "" {
		return true
	}
	return awsEnvironment("AWS_ENDPOINT_URL_LOGS")
}

// awsEnvironment reports whether the environment or the shared files hold
// any AWS configuration: service's endpoint variable, or the general ones.
func awsEnvironment(service string) bool {
	for _, k := range []string{service, "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		if os.Getenv(k) != "" {
			return true
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		for _, f := range []string{"config", "credentials"} {
			if _, err := os.Stat(filepath.Join(home, ".aws", f)); err == nil {
				return true
			}
		}
	}
	return false
}
