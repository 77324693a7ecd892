package server_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/postern/postern/keys"
	"github.com/postern/postern/server"
)

// withKeyService gives servers a key service on one root key, so that
// all of them open the access keys' secrets one of them made.
func withKeyService(t *testing.T) func(*server.Config) {
	t.Helper()
	t.Setenv(keys.RootKeyEnv, "")
	rootKey := filepath.Join(t.TempDir(), "root.key")
	return func(c *server.Config) {
		ks, err := keys.Open(t.Context(), c.Store, rootKey, keys.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c.Keys = ks
	}
}

// awsPost sends body to ts's AWS endpoint, signed as the AWS SDK signs,
// for service at the server's time; target is the JSON operation ("" for
// an STS query). mutate, if given, changes the request after signing.
func awsPost(t *testing.T, ts *testServer, creds aws.Credentials, service, target string, body []byte, mutate ...func(*http.Request)) (int, string) {
	t.Helper()
	return awsPostTo(t, ts, ts.url, creds, service, target, body, mutate...)
}

// awsPostTo is awsPost to the server at url (a peer of ts, say).
func awsPostTo(t *testing.T, ts *testServer, url string, creds aws.Credentials, service, target string, body []byte, mutate ...func(*http.Request)) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/", bytes.NewReader(body))
	if target != "" {
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", target)
	} else {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", ts.clk.Now()); err != nil {
		t.Fatal(err)
	}
	for _, m := range mutate {
		m(req)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ts.srv.CA().Cert)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSessionCredentials: STS's GetSessionToken gives short-lived
// credentials that sign as the key's user until they expire; bad
// requests get STS's errors in XML.
func TestSessionCredentials(t *testing.T) {
	ts := startServerWith(t, withKeyService(t))
	key, err := ts.admin.CreateAccessKey(t.Context(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	long := aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}
	for _, c := range []struct{ name, body, want string }{
		{"too short", "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=60", "<Code>ValidationError</Code>"},
		{"too long", "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=129601", "<Code>ValidationError</Code>"},
		{"not a number", "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=1h", "<Code>ValidationError</Code>"},
		{"another action", "Action=AssumeRole&Version=2011-06-15", "<Code>InvalidAction</Code>"},
		{"another version", "Action=GetSessionToken&Version=2099-01-01", "<Code>InvalidAction</Code>"},
	} {
		if status, body := awsPost(t, ts, long, "sts", "", []byte(c.body)); status != http.StatusBadRequest || !strings.Contains(body, c.want) || !strings.Contains(body, "<ErrorResponse") {
			t.Errorf("%s: %d %s; want 400 with %s", c.name, status, body, c.want)
		}
	}

	status, body := awsPost(t, ts, long, "sts", "", []byte("Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900"))
	var out struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string } `xml:"GetSessionTokenResult>Credentials"`
	}
	if err := xml.Unmarshal([]byte(body), &out); status != http.StatusOK || err != nil || out.Credentials.SessionToken == "" {
		t.Fatalf("GetSessionToken: %d %s (%v)", status, body, err)
	}
	short := aws.Credentials{AccessKeyID: out.Credentials.AccessKeyId, SecretAccessKey: out.Credentials.SecretAccessKey, SessionToken: out.Credentials.SessionToken}
	describe := []byte(`{}`)
	if status, body := awsPost(t, ts, short, "ssm", "AmazonSSM.DescribeInstanceInformation", describe); status != http.StatusOK {
		t.Fatalf("signed with session credentials: %d %s", status, body)
	}
	// The token not covered by the signature: refused.
	unsigned := aws.Credentials{AccessKeyID: short.AccessKeyID, SecretAccessKey: short.SecretAccessKey}
	if status, body := awsPost(t, ts, unsigned, "ssm", "AmazonSSM.DescribeInstanceInformation", describe, func(r *http.Request) {
		r.Header.Set("X-Amz-Security-Token", short.SessionToken)
	}); status != http.StatusBadRequest || !strings.Contains(body, "IncompleteSignatureException") {
		t.Errorf("an unsigned session token: %d %s", status, body)
	}
	// Another key's token: refused.
	if status, body := awsPost(t, ts, aws.Credentials{AccessKeyID: "ASIAOTHERKEY00000000", SecretAccessKey: short.SecretAccessKey, SessionToken: short.SessionToken}, "ssm", "AmazonSSM.DescribeInstanceInformation", describe); status != http.StatusBadRequest || !strings.Contains(body, "UnrecognizedClientException") {
		t.Errorf("a token with another key id: %d %s", status, body)
	}
	ts.clk.Advance(15*time.Minute + time.Second)
	if status, body := awsPost(t, ts, short, "ssm", "AmazonSSM.DescribeInstanceInformation", describe); status != http.StatusBadRequest || !strings.Contains(body, "ExpiredTokenException") {
		t.Errorf("expired session credentials: %d %s; want 400 ExpiredTokenException", status, body)
	}
	if status, _ := awsPost(t, ts, long, "ssm", "AmazonSSM.DescribeInstanceInformation", describe); status != http.StatusOK {
		t.Errorf("the long-term key after its session credentials expired: %d", status)
	}
}
