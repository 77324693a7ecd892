package server_test

import (
	"context"
	"io"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/recording"
)

// TestRecordingIsTheJournal checks that a session is stored once, as its
// journal, and that both artifacts are rendered from it when read: the
// client gets its exit code without waiting for any rendering, and the
// data directory holds no second copy.
func TestRecordingIsTheJournal(t *testing.T) {
	ts := startServer(t)
	var d net.Dialer
	node := runAgent(t, ts, d.DialContext)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", "echo hello-journal; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	exit, err := ts.admin.RunTerminal(ctx, sess.ID, client.TerminalIO{Out: &out}, client.ResumeOptions{})
	if err != nil || exit.Code != 3 {
		t.Fatalf("exit %+v, %v", exit, err)
	}
	got, err := ts.admin.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Logs) != 1 || got.Logs[0].Format != "journal" || got.Logs[0].Status != "Complete" {
		t.Fatalf("logs = %+v, want one complete journal", got.Logs)
	}

	read := func(format string) string {
		rc, err := ts.admin.Logs(ctx, sess.ID, format)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	text := read("log")
	if !strings.Contains(text, "hello-journal") || !strings.Contains(text, `COMMAND_EXIT_CODE="3"`) {
		t.Errorf("transcript:\n%s", text)
	}
	h, events, err := recording.ReadCast(strings.NewReader(read("cast")))
	if err != nil || h.Version != 2 {
		t.Fatalf("cast: %+v, %v", h, err)
	}
	var castOut strings.Builder
	for _, e := range events {
		if e.Type == recording.EventOutput {
			castOut.WriteString(e.Data)
		}
	}
	if !strings.Contains(castOut.String(), "hello-journal") {
		t.Errorf("cast output %q", castOut.String())
	}

	var files []string
	filepath.WalkDir(ts.dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && strings.Contains(e.Name(), sess.ID) {
			files = append(files, e.Name())
		}
		return nil
	})
	if len(files) != 1 || files[0] != sess.ID+".journal" {
		t.Errorf("files of the session: %v, want only its journal", files)
	}
}
