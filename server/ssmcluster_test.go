//go:build unix

package server_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/postern/postern/ptytest"
	"github.com/postern/postern/ssmchannel/plugintest"
)

// TestSSMSessionThroughAnotherServer: `aws ssm start-session` against a
// server that does not hold the node (behind a balancer, two of three
// requests land so): StartSession is served by the node's server, and
// the plugin's data channel, dialled at the server the CLI called, is
// carried to the session's server; the shell works through AWS's plugin.
func TestSSMSessionThroughAnotherServer(t *testing.T) {
	plugin := plugintest.Path(t)
	// Both servers open access keys' secrets with one root key.
	withKeys := withKeyService(t)
	b := startServerWith(t, withKeys)
	a := startPeerWith(t, b, withKeys)
	ctx := ptytest.Context(t)
	id := agentOnPeer(t, b, a) // the node's agent dials a

	key, err := b.admin.CreateAccessKey(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	// StartSession, signed as the AWS CLI signs it, to b.
	body, _ := json.Marshal(map[string]any{"Target": id.NodeID, "DocumentName": "AWS-StartInteractiveCommand", "Parameters": map[string][]string{"command": {"echo cluster-$((5*5)); sleep 1"}}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.url+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.StartSession")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}, req, hex.EncodeToString(sum[:]), "ssm", "us-east-1", b.clk.Now()); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(b.dir, "tls", "ca.crt")
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ SessionId, TokenValue, StreamUrl string }
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || out.TokenValue == "" {
		t.Fatalf("StartSession on the other server: %s, %+v, %v", resp.Status, out, err)
	}
	if want := "wss://" + strings.TrimPrefix(b.url, "https://") + "/"; !strings.HasPrefix(out.StreamUrl, want) {
		t.Errorf("StreamUrl %s; want it on the server the CLI called (%s...)", out.StreamUrl, want)
	}

	raw, _ := json.Marshal(out)
	cmd := exec.Command(plugin, string(raw), "us-east-1", "StartSession", "", `{"Target":"`+id.NodeID+`"}`, b.url)
	cmd.Env = append(cmd.Environ(), "SSM_PLUGIN_SKIP_CLIENT_CONFIGURE=true", "SSL_CERT_FILE="+caFile)
	p := ptytest.Start(t, cmd)
	p.Expect(ctx, "cluster-25")
	_, onA := a.OutputEnd(out.SessionId)
	_, onB := b.srv.OutputEnd(out.SessionId)
	if !onA || onB {
		t.Errorf("session %s relayed by the node's server: %v, by the other: %v", out.SessionId, onA, onB)
	}
	p.Expect(ctx, "exit code 0")
	if code := p.Wait(ctx); code != 0 {
		t.Errorf("the plugin exited %d", code)
	}
}
