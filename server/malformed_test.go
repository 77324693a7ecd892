package server_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/wire"
)

// TestMalformedClientInputClosesOnlyThatAttachment sends broken frames on a
// session's WebSocket. Each closes only that attachment; the session keeps
// running and a well-behaved client can use it afterwards.
func TestMalformedClientInputClosesOnlyThatAttachment(t *testing.T) {
	ts := startServer(t)
	var d net.Dialer
	node := runAgent(t, ts, d.DialContext)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", "read line; echo got-$line; exit 5"}})
	if err != nil {
		t.Fatal(err)
	}

	bad := []struct {
		name string
		typ  websocket.MessageType
		msg  []byte
	}{
		{"text message", websocket.MessageText, []byte("hello")},
		{"short frame", websocket.MessageBinary, []byte{byte(wire.TInput), 0}},
		{"unknown type", websocket.MessageBinary, wire.AppendFrame(nil, wire.Type(99), nil)},
		{"length mismatch", websocket.MessageBinary, append(wire.AppendFrame(nil, wire.TInput, []byte("ab")), 'c')},
		{"frame a client may not send", websocket.MessageBinary, wire.AppendFrame(nil, wire.TAck, wire.AppendSeq(nil, 1<<40))},
		{"over the size limit", websocket.MessageBinary, make([]byte, wire.MaxPayload+wire.HeaderLen+1)},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			ws, err := ts.admin.Attach(ctx, sess.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()
			ws.Write(ctx, b.typ, b.msg)
			// The server closes the attachment: reading ends with a close,
			// not with more output.
			rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
			defer rcancel()
			for {
				_, _, err := ws.Read(rctx)
				if err == nil {
					continue // output sent before the server read our frame
				}
				if rctx.Err() != nil {
					t.Fatalf("the server kept the attachment open after %s", b.name)
				}
				if s := websocket.CloseStatus(err); s == -1 {
					t.Logf("attachment ended with %v", err)
				}
				break
			}
		})
	}

	// The session is unharmed: a good client finishes it.
	in := strings.NewReader("still-alive\n")
	var out syncBuffer
	exit, err := ts.admin.RunTerminal(ctx, sess.ID, client.TerminalIO{In: in, Out: &out}, client.ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if exit.Code != 5 || !strings.Contains(string(out.Bytes()), "got-still-alive") {
		t.Fatalf("after the bad clients: exit %d, output %q", exit.Code, out.Bytes())
	}
	// And the server still serves other requests.
	if _, err := ts.admin.Nodes(ctx); err != nil {
		t.Fatal(err)
	}
}
