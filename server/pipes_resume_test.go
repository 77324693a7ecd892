package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/netfault"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/wire"
)

// taggedWriter writes to its own buffer and to a shared one, so that the
// test sees each stream and the order of both.
type taggedWriter struct {
	own, both *syncBuffer
}

func (w taggedWriter) Write(p []byte) (int, error) {
	w.own.Write(p)
	return w.both.Write(p)
}

// TestPipesResumeAcrossConnectionCuts cuts the client's connection again
// and again while a session without a terminal writes a known stream to
// standard output and standard error. Each must reach the client's own
// writer exactly once and in order, interleaved as the recording has them,
// and standard input given before the cuts, with its end, must reach the
// command.
func TestPipesResumeAcrossConnectionCuts(t *testing.T) {
	t.Cleanup(wire.SetLiveness(100*time.Millisecond, 300*time.Millisecond))
	ts := startServer(t)
	target := strings.TrimPrefix(ts.url, "https://")
	clientProxy, err := netfault.New(target)
	if err != nil {
		t.Fatal(err)
	}
	defer clientProxy.Close()
	var d net.Dialer
	node := runAgent(t, ts, func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	})

	const lines = 3000
	// It reads its input to the end first: "stdin:" plus what came.
	script := fmt.Sprintf(`printf 'stdin:%%s\n' "$(cat)"; i=0; while [ $i -lt %d ]; do i=$((i+1)); echo "out-$i"; echo "err-$i" >&2; if [ $((i %% 150)) -eq 0 ]; then sleep 0.1; fi; done; exit 4`, lines)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", script}, Pipes: true})
	if err != nil {
		t.Fatal(err)
	}
	if !sess.Pipes || sess.SessionType != "NonInteractiveCommands" {
		t.Fatalf("session %+v: want pipes, NonInteractiveCommands", sess)
	}
	c, err := client.New(client.Config{Server: "https://" + clientProxy.Addr(), CA: string(ts.srv.CA().CertPEM), Token: ts.adminToken})
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	faultsDone := make(chan int)
	go func() {
		cuts := 0
		for i := 0; ; i++ {
			select {
			case <-stop:
				faultsDone <- cuts
				return
			case <-time.After(150 * time.Millisecond):
			}
			if i%3 == 2 {
				clientProxy.Stall(true)
				time.Sleep(3 * 300 * time.Millisecond) // three liveness timeouts (SetLiveness above)
				clientProxy.Stall(false)
			} else {
				cuts += clientProxy.Cut()
			}
		}
	}()
	var stdout, stderr, both, notices syncBuffer
	exit, err := c.RunTerminal(ctx, sess.ID, client.TerminalIO{
		In:  strings.NewReader("hello"),
		Out: taggedWriter{&stdout, &both}, Stderr: taggedWriter{&stderr, &both},
		Notices: &notices, Pipes: true,
	}, client.ResumeOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	close(stop)
	cuts := <-faultsDone
	if err != nil {
		t.Fatalf("RunTerminal: %v\nnotices: %s", err, notices.Bytes())
	}
	if exit.Code != 4 {
		t.Errorf("exit code %d, want 4", exit.Code)
	}
	if cuts < 3 {
		t.Errorf("only %d connections were cut; the test did not exercise resumption", cuts)
	}
	t.Logf("%d connections cut", cuts)

	var wantOut, wantErr bytes.Buffer
	wantOut.WriteString("stdin:hello\n")
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&wantOut, "out-%d\n", i)
		fmt.Fprintf(&wantErr, "err-%d\n", i)
	}
	if got := stdout.Bytes(); !bytes.Equal(got, wantOut.Bytes()) {
		t.Fatalf("standard output differs (%d bytes, want %d)\n%s", len(got), wantOut.Len(), firstDiff(got, wantOut.Bytes()))
	}
	if got := stderr.Bytes(); !bytes.Equal(got, wantErr.Bytes()) {
		t.Fatalf("standard error differs (%d bytes, want %d)\n%s", len(got), wantErr.Len(), firstDiff(got, wantErr.Bytes()))
	}

	// The recording has both, interleaved as the client showed them, as
	// a terminal shows a pipe's output (\n as \r\n); and the input.
	rc, err := ts.admin.Logs(ctx, sess.ID, "cast")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, events, err := recording.ReadCast(rc)
	if err != nil {
		t.Fatal(err)
	}
	var rec, in bytes.Buffer
	for _, ev := range events {
		switch ev.Type {
		case recording.EventOutput:
			rec.WriteString(ev.Data)
		case recording.EventInput:
			in.WriteString(ev.Data)
		}
	}
	want := bytes.ReplaceAll(both.Bytes(), []byte("\n"), []byte("\r\n"))
	if !bytes.Equal(rec.Bytes(), want) {
		t.Fatalf("recording differs from what the client showed (%d bytes, want %d)\n%s", rec.Len(), len(want), firstDiff(rec.Bytes(), want))
	}
	if in.String() != "hello" {
		t.Errorf("recorded input %q, want hello", in.String())
	}
}
