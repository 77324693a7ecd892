package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testKey    = "AKIAPOSTERNEXAMPLE01"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func lookup(id string) (string, string, error) {
	if id != testKey {
		return "", "", ErrUnknownKey
	}
	return testSecret, "alice", nil
}

// signed is a request signed by the AWS SDK for Go's own signer.
func signed(t *testing.T, method, target string, body []byte, at time.Time, secret string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "AmazonSSM.DescribeInstanceInformation")
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: secret}, r, hex.EncodeToString(sum[:]), "ssm", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The SDK's signatures verify, over paths and queries that need
// encoding; anything changed after signing does not.
func TestVerifySDKSignatures(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"MaxResults":50}`)
	for _, target := range []string{"https://postern.example/", "https://postern.example/a%20b/c~d", "https://postern.example/?b=2&a=1&a=0&x=%2F%20+"} {
		r := signed(t, "POST", target, body, now, testSecret)
		v, err := Verify(r, body, now.Add(time.Minute), "ssm", lookup)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if v.Principal != "alice" || v.Credential.Region != "us-east-1" {
			t.Errorf("%s: verified %+v", target, v)
		}
	}
	r := signed(t, "POST", "https://postern.example/", body, now, testSecret)
	for name, c := range map[string]struct {
		r    func() *http.Request
		body []byte
		now  time.Time
		svc  string
		code string
	}{
		"body changed": {func() *http.Request { return r }, []byte(`{"MaxResults":51}`), now, "ssm", CodeInvalidSignature},
		"wrong secret": {func() *http.Request {
			return signed(t, "POST", "https://postern.example/", body, now, "not the secret")
		}, body, now, "ssm", CodeInvalidSignature},
		"too old":         {func() *http.Request { return r }, body, now.Add(16 * time.Minute), "ssm", CodeInvalidSignature},
		"from the future": {func() *http.Request { return r }, body, now.Add(-16 * time.Minute), "ssm", CodeInvalidSignature},
		"other service":   {func() *http.Request { return r }, body, now, "logs", CodeInvalidSignature},
		"header changed": {func() *http.Request {
			r2 := r.Clone(context.Background())
			r2.Header.Set("X-Amz-Target", "AmazonSSM.TerminateSession")
			return r2
		}, body, now, "ssm", CodeInvalidSignature},
		"no authorization": {func() *http.Request { r2 := r.Clone(context.Background()); r2.Header.Del("Authorization"); return r2 }, body, now, "ssm", CodeMissingAuthentication},
		"content type not signed": {func() *http.Request {
			r2 := httptest.NewRequest("POST", "https://postern.example/", bytes.NewReader(body))
			r2.Header.Set("X-Amz-Target", "AmazonSSM.DescribeInstanceInformation")
			sum := sha256.Sum256(body)
			v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, r2, hex.EncodeToString(sum[:]), "ssm", "us-east-1", now)
			r2.Header.Set("Content-Type", "application/x-amz-json-1.1") // after signing
			return r2
		}, body, now, "ssm", CodeIncompleteSignature},
		"unknown key": {func() *http.Request {
			r2 := r.Clone(context.Background())
			r2.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testKey, "AKIAUNKNOWN000000000", 1))
			return r2
		}, body, now, "ssm", CodeUnrecognizedClient},
	} {
		_, err := Verify(c.r(), c.body, c.now, c.svc, lookup)
		var e *Error
		if !errors.As(err, &e) || e.Code != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
}

// TestAWSCLI: the AWS CLI itself signs requests that verify, and shows
// AWS's error codes for those that do not.
func TestAWSCLI(t *testing.T) {
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the aws CLI is not installed (scripts/install-test-deps)")
		}
		t.Skip("the aws CLI is not installed")
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		v, err := Verify(r, body, time.Now(), "ssm", lookup)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		var e *Error
		if errors.As(err, &e) {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
			return
		}
		fmt.Fprintf(w, `{"InstanceInformationList":[{"InstanceId":"mi-0123456789abcdef0","ComputerName":"signed-by-%s"}]}`, v.Principal)
	}))
	defer srv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	run := func(secret string) (string, string, error) {
		cmd := exec.Command(awsBin, "ssm", "describe-instance-information", "--endpoint-url", srv.URL, "--region", "us-east-1", "--output", "json")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+testKey, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_CA_BUNDLE="+caFile,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "HOME="+dir, "AWS_MAX_ATTEMPTS=1")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	out, errOut, err := run(testSecret)
	if err != nil || !strings.Contains(out, "signed-by-alice") {
		t.Fatalf("aws ssm describe-instance-information: %v\n%s%s", err, out, errOut)
	}
	_, errOut, err = run("wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGKEY")
	if err == nil || !strings.Contains(errOut, "InvalidSignatureException") {
		t.Fatalf("with a wrong secret: %v\n%s", err, errOut)
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e")
	f.Add("AWS4-HMAC-SHA256 ,,,,")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeIncompleteSignature {
				t.Fatalf("error %v is not an IncompleteSignature", err)
			}
			return
		}
		if a.Credential.AccessKeyID == "" || len(a.Signature) != 64 || len(a.SignedHeaders) == 0 {
			t.Fatalf("accepted %q as %+v", h, a)
		}
	})
}
