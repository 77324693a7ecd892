package server_test

import (
	"context"
	"os/user"
	"path/filepath"
	"testing"
	"time"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
	"github.com/postern/postern/journalstore"
	"github.com/postern/postern/s3logs"
	"github.com/postern/postern/s3logs/miniotest"
	"github.com/postern/postern/server"
	"github.com/postern/postern/store"
)

// A session whose server is gone and whose node dials no other (it knows
// only the dead server's address) is taken up by the server looking for
// orphans: it waits for the node there for the grace period, then fails,
// rather than stay active for ever.
func TestOrphanedSessionIsTakenUp(t *testing.T) {
	s3 := miniotest.Start(t)
	s3.CreateBucket(t, "recordings", false)
	b := startServerWith(t, func(c *server.Config) { c.Recordings = recordingsIn(t, s3) }) // the server that stays
	ctx := t.Context()
	a := startPeer(t, b, recordingsIn(t, s3)) // the server that goes
	id := agentOnPeer(t, b, a)

	onA, err := client.New(client.Config{Server: a.url(t), CA: string(b.srv.CA().CertPEM), Token: b.adminToken})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := onA.StartSession(ctx, api.StartSessionRequest{Target: id.NodeID, Command: []string{"sleep", "600"}})
	if err != nil {
		t.Fatal(err)
	}
	// Its server goes (a clean stop: the session stays active, held by
	// a server that is no more), and the node, which knows only that
	// server's address, dials it in vain. The journal's beginning is in
	// the bucket first (shipped at once at a session's start): a server
	// does not ship at its stop what it never acknowledged.
	waitFor(t, func() bool { return len(s3.Keys(t, "recordings", "journals/")) > 0 })
	a.stop()
	held := func() string {
		h, err := b.srvStore.Placement(ctx, "session/"+sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	before := held()
	if err := b.srv.TakeOrphans(ctx); err != nil {
		t.Fatal(err)
	}
	if after := held(); after == before || after == "" {
		t.Fatalf("the session is held by %q after the orphans were looked for, as before (%q)", after, before)
	}
	if s, err := b.admin.Session(ctx, sess.ID); err != nil || s.EndedAt != nil {
		t.Fatalf("taken up: %+v %v; want it waiting for its node", s, err)
	}
	// Its node does not come back within the grace period.
	b.clk.Advance(3 * time.Minute)
	waitFor(t, func() bool {
		b.srv.CheckSession(sess.ID)
		s, err := b.admin.Session(ctx, sess.ID)
		return err == nil && s.Status == store.StatusFailed
	})
}

// recordingsIn is a server's journal store on a MinIO bucket, with a
// backlog directory of its own.
func recordingsIn(t *testing.T, s3 *miniotest.Server) server.RecordingStore {
	t.Helper()
	c, err := s3logs.New(t.Context(), s3logs.Config{Endpoint: s3.URL(), Region: s3.Region(), AccessKeyID: s3.AccessKey(), SecretAccessKey: s3.SecretKey()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := journalstore.New(c.Bucket(s3logs.Target{Bucket: "recordings"}), filepath.Join(t.TempDir(), "shipping"), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// agentOnPeer registers a node with b and runs its agent, dialling the
// peer a only (the node knows that server's address alone), until the
// test ends; it returns once a holds the node.
func agentOnPeer(t *testing.T, b *testServer, a *peer) agent.Identity {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	act := b.activation(t, api.CreateActivationRequest{})
	dir := t.TempDir()
	id, err := agent.Register(t.Context(), agent.RegisterOptions{Server: b.url, Code: act.Code, ID: act.ID, CAPin: act.CAPin, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ag, err := agent.New(agent.Config{Dir: dir, Logf: t.Logf, DefaultRunAs: me.Username, Server: a.url(t)})
	if err != nil {
		t.Fatal(err)
	}
	actx, stopAgent := context.WithCancel(context.Background())
	agentDone := make(chan struct{})
	go func() { ag.Run(actx); close(agentDone) }()
	t.Cleanup(func() { stopAgent(); <-agentDone })
	waitFor(t, func() bool { return a.NodeOnline(id.NodeID) })
	return id
}
