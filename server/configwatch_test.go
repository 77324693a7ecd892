package server_test

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/client"
	"github.com/postern/postern/server"
	"github.com/postern/postern/store"
)

// A policy changed on one server of two sharing a database reaches the
// other's decisions without a restart (configwatch.go): bob, allowed to
// ask server B who he is (its cache warm), is refused there once server A
// stores a policy that forbids it, and allowed again once A deletes it.
func TestPolicyChangeReachesOtherServer(t *testing.T) {
	a := startServer(t)
	ctx := t.Context()
	b := startPeer(t, a)
	tok, _, err := b.IssueToken(ctx, store.DefaultAccount, "bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := client.New(client.Config{Server: b.url(t), CA: string(b.CA().CertPEM), Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	whoAmI := func() error { _, err := bob.WhoAmI(ctx); return err }
	if err := whoAmI(); err != nil {
		t.Fatalf("bob asks server B who he is before any change: %v", err)
	}
	if _, err := a.admin.PutPolicy(ctx, "no-bob", `forbid (principal == User::"bob", action == Action::"GetCallerIdentity", resource);`); err != nil {
		t.Fatal(err)
	}
	bobA, _ := client.New(client.Config{Server: a.url, CA: string(a.srv.CA().CertPEM), Token: tok})
	if _, err := bobA.WhoAmI(ctx); err == nil {
		t.Fatal("server A, where the policy changed, lets bob ask who he is")
	}
	waitFor(t, func() bool { return whoAmI() != nil })
	if err := a.admin.DeletePolicy(ctx, "no-bob"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return whoAmI() == nil })
}

// peer is a second server on another's database and CA.
type peer struct {
	*server.Server
	addr string
	stop func() // stops the server cleanly (its store stays open)
}

func (p *peer) url(t *testing.T) string { return "https://" + p.addr }

// startPeer starts a second server sharing ts's store and CA, with a data
// directory of its own (and recordings in object storage, if given).
func startPeer(t *testing.T, ts *testServer, recordings ...server.RecordingStore) *peer {
	t.Helper()
	return startPeerWith(t, ts, func(cfg *server.Config) {
		if len(recordings) > 0 {
			cfg.Recordings = recordings[0]
		}
	})
}

// startPeerWith is startPeer with tune adjusting the configuration.
func startPeerWith(t *testing.T, ts *testServer, tune func(*server.Config)) *peer {
	t.Helper()
	dir := t.TempDir()
	cfg := server.Config{
		DataDir: dir, Store: ts.srvStore, Logf: t.Logf, Now: ts.clk.Now,
		CACertFile: filepath.Join(ts.dir, "tls", "ca.crt"), CAKeyFile: filepath.Join(ts.dir, "tls", "ca.key"),
	}
	tune(&cfg)
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return &peer{Server: srv, addr: ln.Addr().String(), stop: stop}
}
