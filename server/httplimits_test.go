package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/server"
	"github.com/postern/postern/store"
)

// tlsDial opens a TLS connection to the test server, as an anonymous
// client would.
func tlsDial(t *testing.T, ts *testServer) *tls.Conn {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ts.srv.CA().CertPEM)
	c, err := tls.Dial("tcp", strings.TrimPrefix(ts.url, "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout()
}

// TestSlowAndIdleConnectionsAreClosed: a request whose body trickles in
// and a keep-alive connection left idle are closed by the server, rather
// than held open forever (finding 3).
func TestSlowAndIdleConnectionsAreClosed(t *testing.T) {
	t.Cleanup(server.SetHTTPTimeouts(time.Second, time.Second)) // after the server stops
	ts := startServer(t)

	slow := tlsDial(t, ts)
	fmt.Fprintf(slow, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", api.PathLogin)
	if !closedWithin(slow, 30*time.Second) {
		t.Fatal("a request body that stopped arriving was not cut off")
	}

	idle := tlsDial(t, ts)
	fmt.Fprintf(idle, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", api.PathHealth)
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !closedWithin(idle, 30*time.Second) {
		t.Fatal("an idle keep-alive connection was not closed")
	}
}

// TestPendingConnectionsPerSource: a source holding its cap of
// connections that never authenticate gets the next one closed at once;
// once they go, it is served again, and authenticated connections never
// count.
func TestPendingConnectionsPerSource(t *testing.T) {
	ts := startServerWith(t, func(c *server.Config) { c.MaxPendingConns = 4 })
	ctx := context.Background()
	// An authenticated keep-alive connection, made first, is not counted.
	if _, err := ts.admin.Nodes(ctx); err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "https://"))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond) // let the server accept them
	over := tlsDialErr(ts)
	if over == nil {
		t.Fatal("a fifth unauthenticated connection from the same source completed its handshake")
	}
	if _, err := ts.admin.Nodes(ctx); err != nil {
		t.Fatalf("an authenticated client's kept-alive connection was refused: %v", err)
	}
	for _, c := range held {
		c.Close()
	}
	waitFor(t, func() bool { return tlsDialErr(ts) == nil })
}

func tlsDialErr(ts *testServer) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ts.srv.CA().CertPEM)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", strings.TrimPrefix(ts.url, "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err == nil {
		c.Close()
	}
	return err
}

// TestUnauthenticatedFloodIsBounded: refused unauthenticated requests
// with megabyte fields neither grow the audit trail by what they send nor
// get it echoed back; past a rate per source they are counted, and one
// summary record says how many (finding 1).
func TestUnauthenticatedFloodIsBounded(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	big := strings.Repeat("A", 900<<10)
	hc := httpsClient(ts)
	const n = 40
	for i := range n {
		body, _ := json.Marshal(api.RegisterRequest{ActivationID: fmt.Sprint(i, big), ActivationCode: "x"})
		resp, err := hc.Post(ts.url+api.PathRegister, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || len(b) > 4<<10 || !strings.Contains(string(b), "more bytes]") {
			t.Fatalf("register with a 1 MB id: %d, %d bytes back: %.300s", resp.StatusCode, len(b), b)
		}
	}
	// A megabyte in the path does not get through the header limit.
	resp, err := hc.Get(ts.url + "/v1/" + big)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || len(b) > 4<<10 {
		t.Fatalf("1 MB path: %d with %d bytes back", resp.StatusCode, len(b))
	}

	recs, err := ts.srvStore.ListAudit(ctx, store.AuditFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	stored, register := 0, 0
	for _, r := range recs {
		stored += len(r.Actor) + len(r.Action) + len(r.Resource) + len(r.Detail) + len(r.Source)
		if strings.Contains(r.Action, api.PathRegister) {
			register++
		}
	}
	if stored > 200<<10 {
		t.Fatalf("the audit trail holds %d bytes of fields after %d refused 1 MB requests", stored, n)
	}
	if register >= n || register == 0 {
		t.Fatalf("%d of %d refused registrations recorded one by one; want the first ones only", register, n)
	}
	// Stopping the server writes the summary of the rest.
	ts.stop()
	st, err := store.OpenSQLite(ctx, ts.dir+"/postern.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err = st.ListAudit(ctx, store.AuditFilter{Action: "RefusedRequestsSummarized", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || !strings.Contains(recs[0].Detail, fmt.Sprintf("%d refused unauthenticated requests from 127.0.0.1/32", n-register)) {
		t.Fatalf("summary records %+v, want one counting the %d not recorded", recs, n-register)
	}
}

func httpsClient(ts *testServer) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ts.srv.CA().CertPEM)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}
