package cluster

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/pki"
	"github.com/postern/postern/store"
)

// peerServer is a server of the cluster on loopback: its certificate is
// the CA's, it verifies peers' certificates, says who it is, and echoes
// what a forwarded request looked like on arrival.
func peerServer(t *testing.T, ca *pki.CA, instance string) *httptest.Server {
	t.Helper()
	cert, err := ca.ServerCertificate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == InstancePath {
			io.WriteString(w, instance+"\n")
			return
		}
		peer := FromPeer(r)
		io.WriteString(w, strings.Join([]string{instance, r.Method, r.URL.Path, r.Host, r.RemoteAddr, r.Header.Get(HopHeader), map[bool]string{true: "peer", false: "not a peer"}[peer], r.Header.Get("Authorization")}, "|"))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.Pool()}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func newCluster(t *testing.T, st Store, ca *pki.CA, id string, unreachable func(holder string, err error)) *Cluster {
	t.Helper()
	peer, err := ca.PeerCertificate(id)
	if err != nil {
		t.Fatal(err)
	}
	return New(Deps{
		Store: st, ID: id, Peer: peer, Roots: ca.Pool(), TTL: 3 * time.Second,
		Unreachable: func(w http.ResponseWriter, r *http.Request, holder string, err error) {
			unreachable(holder, err)
			http.Error(w, "unreachable", http.StatusServiceUnavailable)
		},
	})
}

// Two servers on one database: each sees the other once it announces
// itself; what one holds, the other forwards to it, as a peer, with the
// caller's address and credentials; a dead holder is nobody's.
func TestHolderAndForward(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	var unreached []string
	a := newCluster(t, st, ca, "host/a", func(h string, err error) { unreached = append(unreached, h) })
	b := newCluster(t, st, ca, "host/b", func(h string, err error) { unreached = append(unreached, h) })
	srvA := peerServer(t, ca, "host/a")
	actx, stopA := context.WithCancel(ctx)
	announced := make(chan struct{})
	go func() { defer close(announced); a.Announce(actx, srvA.URL) }()

	for {
		if addr, ok, err := b.Alive(ctx, "host/a"); err != nil {
			t.Fatal(err)
		} else if ok && addr == srvA.URL {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := st.Place(ctx, "node/mi-1", "host/a"); err != nil {
		t.Fatal(err)
	}
	if h, addr, err := b.Holder(ctx, "node/mi-1"); err != nil || h != "host/a" || addr != srvA.URL {
		t.Fatalf("b.Holder = %q %q %v; want host/a at %s", h, addr, err, srvA.URL)
	}
	if h, _, err := a.Holder(ctx, "node/mi-1"); err != nil || h != "" {
		t.Fatalf("a.Holder of its own = %q, %v; want none", h, err)
	}
	if h, _, err := b.Holder(ctx, "node/mi-2"); err != nil || h != "" {
		t.Fatalf("b.Holder of an unplaced key = %q, %v", h, err)
	}
	if l := b.Probe(ctx, "host/a", srvA.URL); l != Alive {
		t.Errorf("host/a is %v, want alive", l)
	}
	if l := b.Probe(ctx, "host/z", srvA.URL); l != Gone {
		t.Errorf("host/z, whose address host/a answers, is %v, want gone: a replacement on a dead server's address would hold its sessions", l)
	}
	if l := b.Probe(ctx, "host/c", "https://127.0.0.1:1"); l != Gone {
		t.Errorf("a server whose address refuses connections is %v, want gone", l)
	}
	stranger := httptest.NewTLSServer(http.NotFoundHandler()) // a certificate of another CA
	defer stranger.Close()
	if l := b.Probe(ctx, "host/d", stranger.URL); l != Unknown {
		t.Errorf("a server failing TLS is %v, want unknown: it may be alive", l)
	}
	if b.LastAddr("host/a") != srvA.URL {
		t.Errorf("LastAddr(host/a) = %q", b.LastAddr("host/a"))
	}

	req := httptest.NewRequest(http.MethodPost, "https://postern.example/v1/sessions", strings.NewReader("{}"))
	req.RemoteAddr = "192.0.2.7:4567"
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	b.Forward(rec, req, "host/a", srvA.URL)
	want := "host/a|POST|/v1/sessions|postern.example|192.0.2.7:4567|host/b|peer|Bearer tok"
	if got := rec.Body.String(); rec.Code != http.StatusOK || got != want {
		t.Fatalf("forwarded: %d %q; want %q", rec.Code, got, want)
	}

	// A caller that is no peer is not trusted with the forwarded address.
	res, err := srvA.Client().Do(mustRequest(t, srvA.URL+"/x", map[string]string{ClientAddrHeader: "203.0.113.1:1"}))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if s := string(body); !strings.Contains(s, "|not a peer|") || strings.Contains(s, "203.0.113.1") {
		t.Errorf("a plain client's request arrived as %q", s)
	}

	// A holder that does not answer: the caller is told, not hung.
	b.Forward(httptest.NewRecorder(), req, "host/c", "https://127.0.0.1:1")
	if len(unreached) != 1 || unreached[0] != "host/c" {
		t.Errorf("unreachable holders: %v", unreached)
	}

	// A clean stop gives the presence up at once: host/a holds nothing.
	stopA()
	<-announced
	time.Sleep(peersFresh + 100*time.Millisecond)
	if h, _, err := b.Holder(ctx, "node/mi-1"); err != nil || h != "" {
		t.Fatalf("after host/a stopped: b.Holder = %q, %v; want none", h, err)
	}
}

func mustRequest(t *testing.T, url string, headers map[string]string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return r
}
