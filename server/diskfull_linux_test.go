package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/diskspace/disktest"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/server"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// TestDiskFull fills the data directory's filesystem (a real tmpfs) while
// a session prints: the session pauses, not fails, and the user's terminal
// says why; new sessions and changes are refused with DiskFull, and the
// refusals are in the audit trail; once space is freed the session resumes
// by itself, without a restart, and its recording holds every byte the
// client was shown, each once.
func TestDiskFull(t *testing.T) {
	dir := disktest.Small(t, 32<<20)
	ts := startServerIn(t, dir, func(c *server.Config) {
		c.MinFreeDisk = 2 << 20
		c.DiskCheckInterval = 20 * time.Millisecond
	})
	node := runAgent(t, ts, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	script := `stty -echo; echo ready; while read a b; do seq "$a" "$b"; echo "done $b"; done; exit 3`
	sess, err := ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"/bin/sh", "-c", script}})
	if err != nil {
		t.Fatal(err)
	}
	rc := attachRaw(t, ctx, ts.admin, sess.ID, 0, false)
	want := []byte("ready\r\n")
	rc.readUntil(ctx, len(want))

	// Below the minimum free: new work is refused, saying why; reads
	// still work, in the headroom the minimum keeps.
	low := disktest.Fill(t, dir, 1<<20)
	waitFor(t, ts.srv.DiskLow)
	_, err = ts.admin.StartSession(ctx, api.StartSessionRequest{Target: node, Command: []string{"true"}})
	wantDiskFull(t, "a new session", err)
	_, err = ts.admin.CreateActivation(ctx, api.CreateActivationRequest{})
	wantDiskFull(t, "a new activation", err)
	if _, err := ts.admin.Nodes(ctx); err != nil {
		t.Fatalf("reading nodes with the disk below its minimum free: %v", err)
	}
	dash := dashboard(t, ts)
	if !dash.Disk.Low || dash.Disk.Free >= dash.Disk.Min || dash.Disk.Min != 2<<20 || dash.Disk.Total == 0 {
		t.Errorf("dashboard's disk = %+v, want it low, below its 2 MiB minimum", dash.Disk)
	}

	// The session's output takes the rest: it pauses, and the user hears
	// why; what they saw so far is a prefix of it all.
	want = append(append(want, seqOutput(1, 300000)...), "done 300000\r\n"...)
	if err := rc.ws.Write(ctx, websocket.MessageBinary, wire.AppendFrame(nil, wire.TInput, []byte("1 300000\n"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return ts.srv.PausedSessions() == 1 })
	rc.readUntilNotice(ctx, "disk is full")
	if !bytes.HasPrefix(want, rc.out.Bytes()) {
		t.Fatalf("output before the pause is not a prefix of the whole\n%s", firstDiff(rc.out.Bytes(), want))
	}
	shownBeforePause := rc.out.Len()
	if s, err := ts.admin.Session(ctx, sess.ID); err != nil || s.Status != "Connected" {
		t.Fatalf("paused session: %+v, %v; want it still Connected", s, err)
	}

	// Not a byte left: a call whose audit record cannot be written fails.
	full := disktest.Fill(t, dir, 0)
	_, err = ts.admin.Nodes(ctx)
	wantDiskFull(t, "a read whose audit record cannot be written", err)
	if !strings.Contains(err.Error(), "audit record could not be written") {
		t.Errorf("the read's error does not say its audit record could not be written: %v", err)
	}

	// Space returns: the session goes on by itself, from where it was.
	full()
	low()
	rc.readUntil(ctx, len(want))
	rc.readUntilNotice(ctx, "can be written again")
	if err := rc.ws.Write(ctx, websocket.MessageBinary, wire.AppendFrame(nil, wire.TInput, []byte{4})); err != nil {
		t.Fatal(err)
	}
	rc.readUntil(ctx, 1<<40)
	if rc.exit == nil || rc.exit.Code != 3 {
		t.Fatalf("exit %+v, want code 3", rc.exit)
	}
	if got := rc.out.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("client output differs (%d bytes, want %d)\n%s", len(got), len(want), firstDiff(got, want))
	}
	t.Logf("shown before the pause: %d of %d bytes", shownBeforePause, len(want))

	// The recording holds exactly what the client was shown.
	jr, err := recording.ReadJournal(ts.srv.JournalPath(store.DefaultAccount, sess.ID), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	var recorded []byte
	for rec, err := range jr.All() {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == recording.KindOutput {
			recorded = append(recorded, rec.Data...)
		}
	}
	if jr.Damaged() || !bytes.Equal(recorded, want) {
		t.Fatalf("recording (damaged %v) differs from what the client was shown (%d bytes, want %d)\n%s", jr.Damaged(), len(recorded), len(want), firstDiff(recorded, want))
	}

	// Changes work again, and the trail has the refusals, intact.
	if _, err := ts.admin.CreateActivation(ctx, api.CreateActivationRequest{}); err != nil {
		t.Fatalf("a change after space returned: %v", err)
	}
	recs, err := ts.admin.Audit(ctx, client.AuditFilter{Action: "POST /v1/activations"})
	if err != nil {
		t.Fatal(err)
	}
	var refused int
	for _, r := range recs {
		if r.Status == http.StatusInsufficientStorage && strings.Contains(r.Detail, "DiskFull") {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("audit trail has %d refused activations with DiskFull, want 1: %+v", refused, recs)
	}
	// The read that failed is in the trail, late, as it was answered.
	recs, err = ts.admin.Audit(ctx, client.AuditFilter{Action: "GET /v1/nodes"})
	if err != nil {
		t.Fatal(err)
	}
	late := 0
	for _, r := range recs {
		if r.Status == http.StatusInsufficientStorage && strings.Contains(r.Detail, "written late") && strings.Contains(r.Detail, "answered DiskFull") {
			late++
		}
	}
	if late != 1 {
		t.Errorf("audit trail has %d failed reads recorded late, want 1: %+v", late, recs)
	}
	v, err := ts.admin.VerifyAudit(ctx)
	if err != nil || !v.OK {
		t.Fatalf("audit verify: %+v, %v", v, err)
	}
}

func wantDiskFull(t *testing.T, what string, err error) {
	t.Helper()
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Code != "DiskFull" || ae.Status != http.StatusInsufficientStorage || !strings.Contains(ae.Message, "disk is full") {
		t.Fatalf("%s while the disk is full: %v, want DiskFull (507) saying the disk is full", what, err)
	}
}

// readUntilNotice reads until a notice containing s has come.
func (rc *rawClient) readUntilNotice(ctx context.Context, s string) {
	rc.t.Helper()
	for i := 0; ; {
		for ; i < len(rc.notices); i++ {
			if strings.Contains(rc.notices[i], s) {
				return
			}
		}
		if rc.exit != nil {
			rc.t.Fatalf("the session ended (%+v) before a notice saying %q; notices: %q", rc.exit, s, rc.notices)
		}
		rc.readFrame(ctx, fmt.Sprintf("awaiting a notice saying %q", s))
	}
}

// dashboard reads the console's dashboard as the administrator.
func dashboard(t *testing.T, ts *testServer) server.Dashboard {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.url+api.PathDashboard, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ts.adminToken)
	resp, err := httpsClient(ts).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d server.Dashboard
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard: %s, %v", resp.Status, err)
	}
	return d
}
