//go:build unix

package server_test

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/ptytest"
	"github.com/postern/postern/ssmchannel/plugintest"
)

// TestSSMSessionThroughAnotherServer: `aws ssm start-session` against a
// server that does not hold the node (behind a balancer, two of three
// requests land so): StartSession is served by the node's server, and
// the plugin's data channel, dialled at the server the CLI called, is
// carried to the session's server; the shell works through AWS's plugin.
func TestSSMSessionThroughAnotherServer(t *testing.T) {
	pluginBin := plugintest.Path(t)
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
	caFile := filepath.Join(b.dir, "tls", "ca.crt")
	type started struct{ SessionId, TokenValue, StreamUrl string }
	// start calls StartSession, signed as the AWS CLI signs it, at url.
	start := func(url, document, command string) started {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"Target": id.NodeID, "DocumentName": document, "Parameters": map[string][]string{"command": {command}}})
		status, resp := awsPostTo(t, b, url, aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}, "ssm", "AmazonSSM.StartSession", body)
		var out started
		if err := json.Unmarshal([]byte(resp), &out); err != nil || status != http.StatusOK || out.TokenValue == "" {
			t.Fatalf("StartSession at %s: %d %s", url, status, resp)
		}
		return out
	}
	// plugin runs session-manager-plugin on what StartSession gave.
	plugin := func(out started, endpoint string) *ptytest.PTY {
		raw, _ := json.Marshal(out)
		cmd := exec.Command(pluginBin, string(raw), "us-east-1", "StartSession", "", `{"Target":"`+id.NodeID+`"}`, endpoint)
		cmd.Env = append(cmd.Environ(), "SSM_PLUGIN_SKIP_CLIENT_CONFIGURE=true", "SSL_CERT_FILE="+caFile)
		return ptytest.Start(t, cmd)
	}

	out := start(b.url, "AWS-StartInteractiveCommand", "echo cluster-$((5*5)); sleep 1")
	if want := "wss://" + strings.TrimPrefix(b.url, "https://") + "/"; !strings.HasPrefix(out.StreamUrl, want) {
		t.Errorf("StreamUrl %s; want it on the server the CLI called (%s...)", out.StreamUrl, want)
	}
	p := plugin(out, b.url)
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

	// A command that ends before the plugin comes (a quick one, a slow
	// plugin): its output and its end are given to the plugin when it
	// comes, by the relay while the server still has it, then from the
	// recording.
	for _, relayGone := range []bool{false, true} {
		out = start(a.url(t), "AWS-StartNonInteractiveCommand", "echo quick-$((4*4)); echo err-$((5*4)) >&2; exit 3")
		waitFor(t, func() bool { s, err := b.admin.Session(ctx, out.SessionId); return err == nil && s.EndedAt != nil })
		if relayGone {
			b.clk.Advance(11 * time.Second) // an ended relay leaves the server 10 s after the end
			waitFor(t, func() bool { _, relayed := a.OutputEnd(out.SessionId); return !relayed })
		}
		p = plugin(out, a.url(t))
		p.Expect(ctx, "quick-16")
		p.Expect(ctx, "exit code 3")
		p.Wait(ctx)
		if !strings.Contains(p.Output(), "err-20") {
			t.Errorf("the ended command's standard error is not shown (relay gone: %v):\n%s", relayGone, p.Output())
		}
	}
}
