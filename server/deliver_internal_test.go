package server

import (
	"testing"

	"github.com/postern/postern/document"
)

// TestS3TargetKMSKey: a kmsKeyId that names an AWS KMS key encrypts the
// objects too (SSE-KMS); a built-in key, which S3 cannot use, does not.
func TestS3TargetKMSKey(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"alias/session-manager-logs", ""},
		{"", ""},
	} {
		got := s3TargetFor(document.Inputs{S3BucketName: "b", S3KeyPrefix: "p", KMSKeyID: tc.key}, false)
		if got.KMSKeyID != tc.want || got.Bucket != "b" || got.Prefix != "p" {
			t.Errorf("kmsKeyId %q: %+v, want SSE-KMS key %q", tc.key, got, tc.want)
		}
	}
}
