package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/postern/postern/journalstore"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/s3logs"
)

// recordingsConfig is the server configuration's `recordings:` section:
// where session journals are kept when object storage, not this server's
// disk, is their system of record (through the `s3:` section's endpoint
// and credentials).
type recordingsConfig struct {
	S3BucketName string `json:"s3BucketName"`
	S3KeyPrefix  string `json:"s3KeyPrefix"`
	// KMSKeyID encrypts the objects with SSE-KMS too (the journals'
	// records are sealed by Postern either way).
	KMSKeyID string `json:"kmsKeyId"`
	// ShipInterval bounds how long a durable record waits for object
	// storage (default 2s); StallTimeout how long object storage may
	// fail before records are acknowledged on local disk (default 30s).
	ShipInterval string `json:"shipInterval"`
	StallTimeout string `json:"stallTimeout"`
}

// recordingStore opens the journal store the configuration names; nil
// without a bucket. Object storage that does not answer at start is no
// reason not to start: sessions run, and ship once it answers.
func recordingStore(ctx context.Context, o serverOptions, logf logger.Logf) (*journalstore.Store, time.Duration, time.Duration, error) {
	rc := o.recordings
	if rc.S3BucketName == "" {
		if rc != (recordingsConfig{}) {
			return nil, 0, 0, fmt.Errorf("recordings: s3BucketName is required")
		}
		return nil, 0, 0, nil
	}
	every, err := parseTimeout("recordings.shipInterval", rc.ShipInterval)
	if err != nil {
		return nil, 0, 0, err
	}
	stall, err := parseTimeout("recordings.stallTimeout", rc.StallTimeout)
	if err != nil {
		return nil, 0, 0, err
	}
	if err := s3logs.CheckBucketName(rc.S3BucketName); err != nil {
		return nil, 0, 0, fmt.Errorf("recordings: %w", err)
	}
	c := o.destinations.S3
	s3t, err := parseTimeout("s3.timeout", c.Timeout)
	if err != nil {
		return nil, 0, 0, err
	}
	cl, err := s3logs.New(ctx, s3logs.Config{
		Endpoint: c.Endpoint, Region: c.Region, AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
		ForcePathStyle: c.ForcePathStyle, StorageClass: c.StorageClass, Tags: c.Tags, Timeout: s3t,
	})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("recordings: s3: %w", err)
	}
	t := s3logs.Target{Bucket: rc.S3BucketName, Prefix: rc.S3KeyPrefix, KMSKeyID: rc.KMSKeyID}
	if _, err := s3logs.Key(t, "journals"); err != nil {
		return nil, 0, 0, fmt.Errorf("recordings: %w", err)
	}
	b := cl.Bucket(t)
	if err := b.Check(ctx); err != nil {
		logf("server: WARNING: recordings: object storage does not answer (%v); sessions run, and their recordings wait on this server's disk until it does", err)
	} else {
		logf("server: recordings are kept in s3://%s/%s (system of record); this server's disk holds them until they are shipped", rc.S3BucketName, rc.S3KeyPrefix)
	}
	st, err := journalstore.New(b, filepath.Join(o.data, "shipping"), logf)
	if err != nil {
		return nil, 0, 0, err
	}
	return st, every, stall, nil
}
