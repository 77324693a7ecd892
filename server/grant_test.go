package server_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/wire"
)

// TestAgentRefusesUngrantedStreams: a stream that reaches an agent without
// going through the server's session logic, and so without its grant, is
// refused, while sessions the server starts run; the signing key survives
// a restart.
func TestAgentRefusesUngrantedStreams(t *testing.T) {
	ts := startServer(t)
	node := runAgent(t, ts, nil)
	for _, tt := range []struct {
		typ wire.Type
		msg any
	}{
		{wire.TOpen, wire.Open{SessionID: "admin-00000000000000001", Owner: "admin", Command: []string{"/bin/sh", "-c", "echo pwned"}}},
		{wire.TResume, wire.Resume{SessionID: "admin-00000000000000001"}},
		{wire.TForward, wire.Forward{SessionID: "admin-00000000000000001", Host: "127.0.0.1", Port: 22}},
	} {
		st, err := ts.srv.AgentStream(node)
		if err != nil {
			t.Fatal(err)
		}
		if err := wire.NewWriter(st).WriteJSON(tt.typ, tt.msg); err != nil {
			t.Fatal(err)
		}
		f, err := wire.NewReader(st).Read()
		if err != nil {
			t.Fatalf("%s: %v", tt.typ, err)
		}
		var res wire.OpenResult
		if err := wire.DecodeJSON(f, &res); err != nil {
			t.Fatal(err)
		}
		if res.OK || res.Unknown || !strings.Contains(res.Error, "no valid session grant from the server: it carries no grant") {
			t.Errorf("%s without a grant: %+v, want refused", tt.typ, res)
		}
		st.Close()
	}

	ctx := context.Background()
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", "echo granted"}})
	if err != nil {
		t.Fatalf("a session the server started: %v", err)
	}
	var out syncBuffer
	if _, err := ts.admin.RunTerminal(ctx, sess.ID, client.TerminalIO{In: strings.NewReader(""), Out: &out}, client.ResumeOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out.Bytes(), []byte("granted")) {
		t.Errorf("output %q", out.Bytes())
	}

	certPath := filepath.Join(ts.dir, "tls", "session-signer.crt")
	before, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatalf("the signer's certificate is not next to the CA: %v", err)
	}
	ts.restart(t)
	after, _ := os.ReadFile(certPath)
	if !bytes.Equal(before, after) {
		t.Error("a restart replaced the session signer")
	}
}
