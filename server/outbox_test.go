package server_test

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/store"
)

// TestArtifactsFollowTheEnd checks that a client gets the exit code without
// waiting for the recording to be rendered, that the session says its
// artifacts are pending meanwhile, and that fetching them waits for them.
func TestArtifactsFollowTheEnd(t *testing.T) {
	ts := startServer(t)
	release := make(chan struct{})
	ts.srv.HoldRendering(func(string) { <-release })
	var released bool
	defer func() {
		if !released {
			close(release)
		}
	}()
	var d net.Dialer
	node := runAgent(t, ts, d.DialContext)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", "echo hello-outbox; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	exit, err := ts.admin.RunTerminal(ctx, sess.ID, client.TerminalIO{Out: &out}, client.ResumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if exit.Code != 3 || !strings.Contains(string(out.Bytes()), "hello-outbox") {
		t.Fatalf("exit %+v, output %q", exit, out.Bytes())
	}
	got, err := ts.admin.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusTerminated || len(got.Logs) == 0 {
		t.Fatalf("session = %+v, want Terminated with logs", got)
	}
	for _, l := range got.Logs {
		if l.Status != "Pending" {
			t.Errorf("%s log is %s while rendering is held, want Pending", l.Format, l.Status)
		}
	}

	type result struct {
		text string
		err  error
	}
	logs := make(chan result, 1)
	go func() {
		rc, err := ts.admin.Logs(ctx, sess.ID, "log")
		if err != nil {
			logs <- result{err: err}
			return
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		logs <- result{string(b), err}
	}()
	close(release)
	released = true
	r := <-logs
	if r.err != nil || !strings.Contains(r.text, "hello-outbox") || !strings.Contains(r.text, `COMMAND_EXIT_CODE="3"`) {
		t.Fatalf("logs get = %q, %v", r.text, r.err)
	}
	got, err = ts.admin.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range got.Logs {
		if l.Status != "Delivered" {
			t.Errorf("%s log is %s after rendering, want Delivered", l.Format, l.Status)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(ts.dir, "outbox", store.DefaultAccount))
	if len(entries) != 0 {
		t.Errorf("outbox still holds %d entries", len(entries))
	}
}
