package miniotest

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestStopRestartKeepsDataAndPort(t *testing.T) {
	s := Start(t)
	url := s.URL()
	s.CreateBucket(t, "enc", true)
	ctx := context.Background()
	if _, err := s.Client().PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("enc"), Key: aws.String("k"), Body: bytes.NewReader([]byte("hello")),
	}); err != nil {
		t.Fatal(err)
	}

	s.Stop()
	if s.Running() {
		t.Fatal("running after Stop")
	}
	if _, err := http.Get(url + "/minio/health/live"); err == nil {
		t.Fatal("MinIO still answers after Stop")
	}
	s.Stop() // idempotent

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.URL() != url {
		t.Errorf("URL changed across Restart: %s, then %s", url, s.URL())
	}
	body, hdr := s.Object(t, "enc", "k")
	if string(body) != "hello" || hdr["x-amz-server-side-encryption"] != "AES256" {
		t.Errorf("after restart: %q, SSE %q", body, hdr["x-amz-server-side-encryption"])
	}
}
