// Package kmstest runs local-kms (github.com/nsmithuk/local-kms), a server
// that speaks AWS KMS's API, on loopback for tests of the AWS KMS provider.
//
// The binary is the pinned build ./scripts/install-test-deps makes once into
// the test cache. It is found through, in order:
//
//   - $POSTERN_LOCAL_KMS, a path to a local-kms binary;
//   - ${POSTERN_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/postern-test}/local-kms-<Version>.
//
// When neither exists, [Start] skips the test with a message naming
// ./scripts/install-test-deps, unless POSTERN_REQUIRE_LOCAL_KMS=1 (set by
// the test command), in which case it fails.
package kmstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Version is the local-kms version ./scripts/install-test-deps builds.
const Version = "v0.0.0-20260228092603-2a5e92d09ab6"

// Region and Account are what the server reports in its key ARNs.
const (
	Region  = "us-east-1"
	Account = "111122223333"
)

// Server is a running local-kms.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	once sync.Once
}

func binary() string {
	if p := os.Getenv("POSTERN_LOCAL_KMS"); p != "" {
		return p
	}
	cache := os.Getenv("POSTERN_TEST_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "postern-test")
	}
	return filepath.Join(cache, "local-kms-"+Version)
}

// Start runs local-kms on a free loopback port with a temporary data
// directory, and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary()
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		msg := fmt.Sprintf("local-kms %s not found at %s: run ./scripts/install-test-deps (or set POSTERN_LOCAL_KMS)", Version, bin)
		if os.Getenv("POSTERN_REQUIRE_LOCAL_KMS") == "1" {
			t.Fatalf("kmstest: %s (POSTERN_REQUIRE_LOCAL_KMS=1 forbids skipping)", msg)
		}
		t.Skip("kmstest: " + msg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var out strings.Builder
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "KMS_REGION="+Region, "KMS_ACCOUNT_ID="+Account,
		"KMS_DATA_PATH="+t.TempDir(), "KMS_SEED_PATH="+filepath.Join(t.TempDir(), "none.yaml"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("kmstest: start local-kms: %v", err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("kmstest: local-kms output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("kmstest: local-kms did not listen on %d: %v\n%s", port, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Close stops the server, as an outage would; clients then fail to
// connect. It may be called more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	})
}

// Env is the environment a process needs to reach the server through the
// standard AWS configuration chain.
func (s *Server) Env() []string {
	return []string{"AWS_ENDPOINT_URL_KMS=" + s.URL, "AWS_REGION=" + Region, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test"}
}

// Client returns an AWS KMS client for the server, for tests to create and
// disable keys with.
func (s *Server) Client() *kms.Client {
	return kms.New(kms.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// CreateKey creates a symmetric key and returns its ARN.
func (s *Server) CreateKey(t testing.TB, description string) string {
	t.Helper()
	out, err := s.Client().CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String(description)})
	if err != nil {
		t.Fatalf("kmstest: CreateKey: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}
