package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/agent"
	"github.com/postern/postern/api"
	"github.com/postern/postern/authn"
	"github.com/postern/postern/client"
	"github.com/postern/postern/clocktest"
	"github.com/postern/postern/pki"
	"github.com/postern/postern/server"
	"github.com/postern/postern/store"
)

// clock is an injectable clock for expiry tests.
type testServer struct {
	srv        *server.Server
	url        string
	dir        string
	admin      *client.Client
	adminToken string
	clk        *clocktest.Clock
	srvStore   *store.SQLite
	tune       func(*server.Config) // adjusts the configuration of each run
	stop       func()               // stops srv and closes its store
}

// startServer runs a real server on a loopback port with an admin user.
func startServer(t *testing.T) *testServer {
	t.Helper()
	return startServerWith(t, nil)
}

// startServerWith is startServer with tune adjusting the configuration.
func startServerWith(t *testing.T, tune func(*server.Config)) *testServer {
	t.Helper()
	return startServerIn(t, t.TempDir(), tune)
}

// startServerIn is startServerWith on the data directory dir.
func startServerIn(t *testing.T, dir string, tune func(*server.Config)) *testServer {
	t.Helper()
	ts := &testServer{dir: dir, clk: clocktest.New(time.Now()), tune: tune}
	ts.run(t, "127.0.0.1:0")
	ctx := t.Context()
	st := ts.srvStore
	hash, _ := authn.HashPassword("pw")
	if err := st.CreateUser(ctx, store.User{Account: store.DefaultAccount, Name: "admin", PasswordHash: hash, Groups: []string{"administrators"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, store.User{Account: store.DefaultAccount, Name: "bob", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := ts.srv.IssueToken(ctx, store.DefaultAccount, "admin", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: ts.url, CA: string(ts.srv.CA().CertPEM), Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	ts.admin, ts.adminToken = c, tok
	return ts
}

// run starts a server on ts's data directory, listening on addr.
func (ts *testServer) run(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.OpenSQLite(ctx, filepath.Join(ts.dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{DataDir: ts.dir, Store: st, Logf: t.Logf, Now: ts.clk.Now}
	if ts.tune != nil {
		ts.tune(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	var once sync.Once
	ts.stop = func() { once.Do(func() { cancel(); <-done; st.Close() }) }
	t.Cleanup(ts.stop)
	ts.srv, ts.srvStore, ts.url = srv, st, "https://"+ln.Addr().String()
}

// restart stops the server and starts a new one on the same data directory
// and address, as a restarted process would be; agents and clients
// reconnect by themselves.
func (ts *testServer) restart(t *testing.T) {
	t.Helper()
	ts.stop()
	ts.run(t, strings.TrimPrefix(ts.url, "https://"))
}

func (ts *testServer) activation(t *testing.T, req api.CreateActivationRequest) api.Activation {
	t.Helper()
	a, err := ts.admin.CreateActivation(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (ts *testServer) register(t *testing.T, a api.Activation, code string) (agent.Identity, error) {
	return agent.Register(context.Background(), agent.RegisterOptions{
		Server: ts.url, Code: code, ID: a.ID, CAPin: a.CAPin, Dir: t.TempDir(),
		Tags: map[string]string{"env": "test"},
	})
}

func TestRegistration(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()

	a := ts.activation(t, api.CreateActivationRequest{RegistrationLimit: 2, Tags: map[string]string{"team": "infra"}})
	id, err := ts.register(t, a, a.Code)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	nodes, err := ts.admin.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].ID != id.NodeID || nodes[0].Tags["team"] != "infra" || nodes[0].Tags["env"] != "test" || nodes[0].Hostname == "" || nodes[0].OS == "" || nodes[0].AgentVersion == "" {
		t.Fatalf("nodes = %+v, want the registered node with its tags and facts", nodes)
	}

	tests := []struct {
		name    string
		act     func() (api.Activation, string)
		wantErr string
	}{
		{"wrong code", func() (api.Activation, string) { return a, "not-the-code" }, "activation code does not match"},
		{"unknown activation", func() (api.Activation, string) {
			b := a
			b.ID = "00000000-0000-0000-0000-000000000000"
			return b, a.Code
		}, "does not exist"},
		{"used up", func() (api.Activation, string) {
			b := ts.activation(t, api.CreateActivationRequest{RegistrationLimit: 1})
			if _, err := ts.register(t, b, b.Code); err != nil {
				t.Fatal(err)
			}
			return b, b.Code
		}, "registration limit of 1"},
		{"expired", func() (api.Activation, string) {
			b := ts.activation(t, api.CreateActivationRequest{ExpiresIn: "1h"})
			ts.clk.Advance(2 * time.Hour)
			return b, b.Code
		}, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act, code := tt.act()
			_, err := ts.register(t, act, code)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("register = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestActivationNeedsAdmin(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	anon, _ := client.New(client.Config{Server: ts.url, CA: string(ts.srv.CA().CertPEM)})
	res, err := anon.Login(ctx, "", "bob", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Login(ctx, "", "bob", "wrong"); err == nil || !strings.Contains(err.Error(), "wrong user name or password") {
		t.Errorf("bad password: %v", err)
	}
	bob, _ := client.New(client.Config{Server: ts.url, CA: string(ts.srv.CA().CertPEM), Token: res.Token})
	if _, err := bob.CreateActivation(ctx, api.CreateActivationRequest{}); err == nil || !strings.Contains(err.Error(), "bob is not allowed to CreateActivation on account 000000000001 (denied: no policy permits it)") {
		t.Errorf("non-admin created an activation: %v", err)
	}
}

// TestAgentCertificates checks that only the certificate issued to a node
// lets an agent connect.
func TestAgentCertificates(t *testing.T) {
	ts := startServer(t)
	a := ts.activation(t, api.CreateActivationRequest{})
	dir := t.TempDir()
	id, err := agent.Register(context.Background(), agent.RegisterOptions{Server: ts.url, Code: a.Code, ID: a.ID, CAPin: a.CAPin, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	pool := ts.srv.CA().Pool()
	dial := func(certs []tls.Certificate) (int, error) {
		tc := &tls.Config{RootCAs: pool}
		if len(certs) > 0 {
			// Send the certificate even when it does not match the CAs the
			// server asks for, as an attacker would.
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		resp, err := hc.Get(ts.url + api.PathAgent)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := dial(nil); err != nil || code != http.StatusUnauthorized {
		t.Errorf("no certificate: status %d, err %v; want 401", code, err)
	}
	// A certificate from a foreign CA naming the real node fails the TLS
	// handshake.
	foreign := selfSigned(t, id.NodeID)
	if code, err := dial([]tls.Certificate{foreign}); err == nil {
		t.Errorf("foreign certificate accepted with status %d", code)
	}
	// The node's own certificate gets as far as the WebSocket upgrade.
	tc, err := id.TLSConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := dial(tc.Certificates); err != nil || code == http.StatusUnauthorized {
		t.Errorf("own certificate: status %d, err %v", code, err)
	}
}

func selfSigned(t *testing.T, cn string) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSFromFiles runs a server on a CA and certificate given as files
// instead of the ones it would create.
func TestTLSFromFiles(t *testing.T) {
	pkiDir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(pkiDir, "operator CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ServerCertificate(pkiDir, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(server.Config{
		DataDir: dir, Store: st, Logf: t.Logf,
		CACertFile: filepath.Join(pkiDir, "ca.crt"), CAKeyFile: filepath.Join(pkiDir, "ca.key"),
		CertFile: filepath.Join(pkiDir, "server.crt"), KeyFile: filepath.Join(pkiDir, "server.key"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.CA().Pin() != ca.Pin() {
		t.Error("server did not use the CA from the files")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, ln)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool()})
	if err != nil {
		t.Fatalf("TLS with the operator's CA: %v", err)
	}
	conn.Close()
	if _, err := os.Stat(filepath.Join(dir, "tls", "ca.key")); err == nil {
		t.Error("server created its own CA although one was given")
	}
	_, err = server.New(server.Config{DataDir: t.TempDir(), Store: st, CACertFile: filepath.Join(pkiDir, "ca.crt")})
	if err == nil || !strings.Contains(err.Error(), "both a certificate and a key") {
		t.Errorf("CA without key: %v", err)
	}
}

// TestClientRenewsExpiredToken: a client whose token expired renews it
// with its refresh token, once, and reports the new pair.
func TestClientRenewsExpiredToken(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	anon, _ := client.New(client.Config{Server: ts.url, CA: string(ts.srv.CA().CertPEM)})
	res, err := anon.Login(ctx, "", "bob", "pw")
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := client.New(client.Config{Server: ts.url, CA: string(ts.srv.CA().CertPEM), Token: res.Token, RefreshToken: res.RefreshToken})
	var renewed []api.LoginResponse
	bob.OnRefresh(func(r api.LoginResponse) { renewed = append(renewed, r) })
	if _, err := bob.WhoAmI(ctx); err != nil || len(renewed) != 0 {
		t.Fatalf("fresh token: %v, renewed %d", err, len(renewed))
	}
	ts.clk.Advance(2 * time.Hour)
	if w, err := bob.WhoAmI(ctx); err != nil || w.User != "bob" {
		t.Fatalf("after expiry: %+v, %v", w, err)
	}
	if len(renewed) != 1 || renewed[0].Token == res.Token {
		t.Fatalf("renewed %+v", renewed)
	}
	// A client with only the old, used refresh token gets the server's
	// refusal, not a loop.
	stale, _ := client.New(client.Config{Server: ts.url, CA: string(ts.srv.CA().CertPEM), Token: res.Token, RefreshToken: res.RefreshToken})
	if _, err := stale.WhoAmI(ctx); err == nil || !strings.Contains(err.Error(), "unknown, expired or revoked") {
		t.Errorf("stale client: %v", err)
	}
}

// TestActivationPin: an activation carries the CA's pin when the chain the
// server sends holds the CA (its own certificate, or one from files that
// the CA issued: the CA is added to the chain, and an agent registers with
// the pin), and none when the certificate is another CA's (a pin could
// not verify: the node's system roots decide).
func TestActivationPin(t *testing.T) {
	pkiDir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(pkiDir, "operator CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ServerCertificate(pkiDir, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	other, err := pki.LoadOrCreateCA(otherDir, "a public CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.ServerCertificate(otherDir, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		certDir  string // "": the server's own
		trust    *pki.CA
		wantsPin bool
	}{{"its own certificate", "", nil, true}, {"a file its CA issued", pkiDir, ca, true}, {"another CA's", otherDir, other, false}} {
		t.Run(c.name, func(t *testing.T) {
			ts := startServerWith(t, func(cfg *server.Config) {
				if c.certDir != "" {
					cfg.CACertFile, cfg.CAKeyFile = filepath.Join(pkiDir, "ca.crt"), filepath.Join(pkiDir, "ca.key")
					cfg.CertFile, cfg.KeyFile = filepath.Join(c.certDir, "server.crt"), filepath.Join(c.certDir, "server.key")
				}
			})
			trust := ts.srv.CA()
			if c.trust != nil {
				trust = c.trust
			}
			admin, err := client.New(client.Config{Server: ts.url, CA: string(trust.CertPEM), Token: ts.adminToken})
			if err != nil {
				t.Fatal(err)
			}
			a, err := admin.CreateActivation(t.Context(), api.CreateActivationRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if (a.CAPin != "") != c.wantsPin || (c.wantsPin && a.CAPin != ts.srv.CA().Pin()) {
				t.Fatalf("pin %q, want one: %v", a.CAPin, c.wantsPin)
			}
			if c.wantsPin {
				if _, err := agent.Register(t.Context(), agent.RegisterOptions{Server: ts.url, Code: a.Code, ID: a.ID, CAPin: a.CAPin, Dir: t.TempDir()}); err != nil {
					t.Errorf("registering with the pin: %v", err)
				}
			}
		})
	}
}
