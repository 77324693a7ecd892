package agent

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/pki"
	"github.com/postern/postern/wire"
)

const testNodeID = "mi-0a1b2c3d4e5f60718"

// testTrust is the server side of a test agent's trust: the CA it
// registered with and the server's session signer.
type testTrust struct {
	ca     *pki.CA
	signer *pki.Signer
}

var testTrusts sync.Map // *Agent -> *testTrust

// trustForTest makes a CA and a session signer for a, and has a trust the
// CA, as registration would.
func trustForTest(t *testing.T, a *Agent) *testTrust {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ca.SessionSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	tr := &testTrust{ca: ca, signer: signer}
	a.grants = newGrantVerifier(ca.Pool(), testNodeID, nil)
	testTrusts.Store(a, tr)
	t.Cleanup(func() { testTrusts.Delete(a) })
	return tr
}

func trustOf(t *testing.T, a *Agent) *testTrust {
	t.Helper()
	tr, ok := testTrusts.Load(a)
	if !ok {
		t.Fatal("the agent has no test trust: make it with newTestAgent")
	}
	return tr.(*testTrust)
}

// grant signs req for the test node, valid from now for two minutes, as
// the server does.
func (tr *testTrust) grant(t *testing.T, req wire.Request) []byte {
	t.Helper()
	return signGrant(t, tr.signer.Sign, req, testNodeID, time.Now(), 2*time.Minute)
}

func signGrant(t *testing.T, sign func([]byte) ([]byte, []byte, error), req wire.Request, node string, issued time.Time, ttl time.Duration) []byte {
	t.Helper()
	tok, err := wire.SignGrant(req, node, issued, ttl, sign)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// firstFrame sends a first frame on a new stream to a and returns the
// agent's answer.
func firstFrame(t *testing.T, a *Agent, typ wire.Type, msg any) wire.OpenResult {
	t.Helper()
	st := serverStream(t, a)
	t.Cleanup(func() { st.Close() })
	if err := wire.NewWriter(st).WriteJSON(typ, msg); err != nil {
		t.Fatal(err)
	}
	f, err := wire.NewReader(st).Read()
	if err != nil {
		t.Fatalf("reading the answer to %s: %v", typ, err)
	}
	var res wire.OpenResult
	if err := wire.DecodeJSON(f, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// logRecorder keeps an agent's log lines.
type logRecorder struct {
	t     *testing.T
	mu    sync.Mutex // guards lines
	lines []string
}

func (l *logRecorder) logf(format string, args ...any) {
	l.t.Helper()
	l.t.Logf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logRecorder) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// TestGrantRefusals: the agent starts a session only for an Open the
// server signed for this node, this session and exactly these parameters,
// by a signer its CA certified, now, and once.
func TestGrantRefusals(t *testing.T) {
	a := newTestAgent(t, &testClock{t: time.Now()})
	logs := &logRecorder{t: t}
	a.logf = logs.logf
	now := time.Now()
	a.grants.now = func() time.Time { return now }
	tr := trustOf(t, a)
	sign := tr.signer.Sign

	// Another CA's session signer.
	otherDir := t.TempDir()
	other, err := pki.LoadOrCreateCA(otherDir, "another CA")
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := other.SessionSigner(otherDir)
	if err != nil {
		t.Fatal(err)
	}
	// An agent's own client certificate, from the right CA, for an Ed25519
	// key it holds: what a stolen node identity would sign with.
	_, agentKey, _ := ed25519.GenerateKey(rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, agentKey)
	if err != nil {
		t.Fatal(err)
	}
	agentPEM, _, err := tr.ca.SignClient(csr, testNodeID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	agentCert, err := pki.ParseCertPEM(agentPEM)
	if err != nil {
		t.Fatal(err)
	}
	signAsAgent := func(msg []byte) ([]byte, []byte, error) { return ed25519.Sign(agentKey, msg), agentCert.Raw, nil }

	tests := []struct {
		name string
		// grant returns the grant for o; o's session id is unique to the
		// case.
		grant   func(o wire.Open) []byte
		tamper  func(o *wire.Open) // changes the request after signing
		wantErr string             // "": starts
	}{
		{name: "valid", grant: func(o wire.Open) []byte { return signGrant(t, sign, o.Request(), testNodeID, now, 2*time.Minute) }},
		{name: "missing grant", grant: func(wire.Open) []byte { return nil }, wantErr: "carries no grant"},
		{name: "garbage", grant: func(wire.Open) []byte { return []byte("let me in") }, wantErr: "malformed session grant"},
		{name: "forged signature", grant: func(o wire.Open) []byte {
			tok := signGrant(t, sign, o.Request(), testNodeID, now, 2*time.Minute)
			g, _ := wire.ParseGrant(tok)
			g.Signature[0] ^= 1
			return g.Marshal()
		}, wantErr: "bad signature"},
		{name: "resigned fields", grant: func(o wire.Open) []byte {
			// A grant for another node, edited to name this one.
			tok := signGrant(t, sign, o.Request(), "mi-00000000000000000", now, 2*time.Minute)
			g, _ := wire.ParseGrant(tok)
			g.NodeID = testNodeID
			return g.Marshal()
		}, wantErr: "bad signature"},
		{name: "signer from another CA", grant: func(o wire.Open) []byte {
			return signGrant(t, otherSigner.Sign, o.Request(), testNodeID, now, 2*time.Minute)
		}, wantErr: "does not verify against the server's CA"},
		{name: "an agent certificate as signer", grant: func(o wire.Open) []byte {
			return signGrant(t, signAsAgent, o.Request(), testNodeID, now, 2*time.Minute)
		}, wantErr: "not a session signer"},
		{name: "wrong node", grant: func(o wire.Open) []byte {
			return signGrant(t, sign, o.Request(), "mi-00000000000000000", now, 2*time.Minute)
		}, wantErr: "is for node mi-00000000000000000, not " + testNodeID},
		{name: "wrong session", grant: func(o wire.Open) []byte {
			o.SessionID = "someone-else-0000000"
			return signGrant(t, sign, o.Request(), testNodeID, now, 2*time.Minute)
		}, wantErr: "is for session someone-else-0000000"},
		{name: "tampered command", grant: func(o wire.Open) []byte {
			return signGrant(t, sign, o.Request(), testNodeID, now, 2*time.Minute)
		}, tamper: func(o *wire.Open) { o.Command = []string{"/bin/sh", "-c", "echo pwned"} }, wantErr: "parameters are not the ones signed"},
		{name: "tampered run-as", grant: func(o wire.Open) []byte {
			return signGrant(t, sign, o.Request(), testNodeID, now, 2*time.Minute)
		}, tamper: func(o *wire.Open) { o.RunAs, o.AllowRoot = "root", true }, wantErr: "parameters are not the ones signed"},
		{name: "a resume grant", grant: func(o wire.Open) []byte {
			return signGrant(t, sign, wire.Resume{SessionID: o.SessionID}.Request(), testNodeID, now, 2*time.Minute)
		}, wantErr: "grants a resume, not a command"},
		{name: "expired", grant: func(o wire.Open) []byte {
			return signGrant(t, sign, o.Request(), testNodeID, now.Add(-4*time.Minute), 2*time.Minute)
		}, wantErr: "expired"},
		{name: "expired within the clock skew", grant: func(o wire.Open) []byte {
			return signGrant(t, sign, o.Request(), testNodeID, now.Add(-2*time.Minute-50*time.Second), 2*time.Minute)
		}},
		{name: "from the future", grant: func(o wire.Open) []byte {
			return signGrant(t, sign, o.Request(), testNodeID, now.Add(2*time.Minute), 2*time.Minute)
		}, wantErr: "in the future of this node's clock"},
		{name: "future within the clock skew", grant: func(o wire.Open) []byte {
			return signGrant(t, sign, o.Request(), testNodeID, now.Add(50*time.Second), 2*time.Minute)
		}},
		{name: "too long a lifetime", grant: func(o wire.Open) []byte {
			return signGrant(t, sign, o.Request(), testNodeID, now, time.Hour)
		}, wantErr: "longer than the 5m0s allowed"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := wire.Open{SessionID: fmt.Sprintf("grant-%017x", i), Owner: "alice", Command: []string{"/bin/sh", "-c", "echo granted"}}
			o.Grant = tt.grant(o)
			if tt.tamper != nil {
				tt.tamper(&o)
			}
			if tt.wantErr == "" {
				fs, res := openSession(t, a, o)
				if !res.OK {
					t.Fatalf("open refused: %s", res.Error)
				}
				fs.waitOutput("granted")
				fs.waitExit()
				return
			}
			res := firstFrame(t, a, wire.TOpen, o)
			if res.OK || !strings.Contains(res.Error, tt.wantErr) {
				t.Fatalf("open = %+v, want refused with %q", res, tt.wantErr)
			}
			a.mu.Lock()
			started := a.sessions[o.SessionID] != nil
			a.mu.Unlock()
			if started {
				t.Error("the session started")
			}
			if !logs.has(fmt.Sprintf("refused open for session %q", o.SessionID)) {
				t.Error("the refusal was not logged")
			}
		})
	}
}

// TestGrantReplay: a grant works once. An Open grant replayed after its
// session ended, a new grant for a session id already opened, and a Resume
// or Forward grant used twice are refused.
func TestGrantReplay(t *testing.T) {
	a := newTestAgent(t, &testClock{t: time.Now()})
	tr := trustOf(t, a)

	t.Run("open", func(t *testing.T) {
		o := wire.Open{SessionID: "replay-00000000000000001", Command: []string{"/bin/sh", "-c", "echo once"}}
		o.Grant = tr.grant(t, o.Request())
		fs, res := openSession(t, a, o)
		if !res.OK {
			t.Fatalf("open: %s", res.Error)
		}
		fs.waitExit()
		waitGone(t, a, o.SessionID)
		if res := firstFrame(t, a, wire.TOpen, o); res.OK || !strings.Contains(res.Error, "already used") {
			t.Errorf("replayed open = %+v, want refused as already used", res)
		}
		o.Grant = tr.grant(t, o.Request())
		if res := firstFrame(t, a, wire.TOpen, o); res.OK || !strings.Contains(res.Error, "session replay-00000000000000001 was already opened") {
			t.Errorf("second open of the same session = %+v, want refused", res)
		}
	})

	t.Run("resume", func(t *testing.T) {
		o := wire.Open{SessionID: "replay-00000000000000002", Command: []string{"/bin/sh", "-c", "echo ready; exec cat"}}
		fs, res := openSession(t, a, o)
		if !res.OK {
			t.Fatalf("open: %s", res.Error)
		}
		fs.waitOutput("ready")
		rs := wire.Resume{SessionID: o.SessionID}
		rs.Grant = tr.grant(t, rs.Request())
		if res := firstFrame(t, a, wire.TResume, rs); !res.OK {
			t.Fatalf("resume: %s", res.Error)
		}
		if res := firstFrame(t, a, wire.TResume, rs); res.OK || !strings.Contains(res.Error, "already used") {
			t.Errorf("replayed resume = %+v, want refused as already used", res)
		}
		rs.Grant = nil
		if res := firstFrame(t, a, wire.TResume, rs); res.OK || res.Unknown || !strings.Contains(res.Error, "carries no grant") {
			t.Errorf("resume without a grant = %+v, want refused", res)
		}
		// Acknowledging more than was recorded would drop output: the
		// acknowledged sequence number is part of what is signed.
		rs.Grant = tr.grant(t, rs.Request())
		rs.AckedSeq = 1 << 40
		if res := firstFrame(t, a, wire.TResume, rs); res.OK || !strings.Contains(res.Error, "parameters are not the ones signed") {
			t.Errorf("resume with another acknowledgement = %+v, want refused", res)
		}
		rs.AckedSeq = 0
		rs.Grant = tr.grant(t, rs.Request())
		if res := firstFrame(t, a, wire.TResume, rs); !res.OK {
			t.Errorf("a fresh resume grant: %s", res.Error)
		}
	})

	t.Run("forward", func(t *testing.T) {
		fw := wire.Forward{SessionID: "replay-00000000000000003", Host: "127.0.0.1", Port: 1}
		fw.Grant = tr.grant(t, fw.Request())
		// The connection itself fails (nothing listens on port 1): the
		// grant was accepted, and used.
		if res := firstFrame(t, a, wire.TForward, fw); res.OK || !strings.Contains(res.Error, "could not connect") {
			t.Fatalf("forward = %+v, want a failed connection", res)
		}
		if res := firstFrame(t, a, wire.TForward, fw); res.OK || !strings.Contains(res.Error, "already used") {
			t.Errorf("replayed forward = %+v, want refused as already used", res)
		}
		fw.Grant = nil
		if res := firstFrame(t, a, wire.TForward, fw); res.OK || !strings.Contains(res.Error, "carries no grant") {
			t.Errorf("forward without a grant = %+v, want refused", res)
		}
		fw.Grant = tr.grant(t, fw.Request())
		fw.Port = 22
		if res := firstFrame(t, a, wire.TForward, fw); res.OK || !strings.Contains(res.Error, "parameters are not the ones signed") {
			t.Errorf("forward to another port = %+v, want refused", res)
		}
	})
}

// TestGrantReplayCacheExpires: what the agent remembers of used grants
// leaves once they expired, which is when they would be refused anyway.
func TestGrantReplayCacheExpires(t *testing.T) {
	a := &Agent{}
	tr := trustForTest(t, a)
	now := time.Now()
	a.grants.now = func() time.Time { return now }
	for i := range 100 {
		req := wire.Resume{SessionID: fmt.Sprintf("s-%d", i)}.Request()
		if err := a.grants.verify(signGrant(t, tr.signer.Sign, req, testNodeID, now, 2*time.Minute), req); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.grants.seen); n != 100 {
		t.Fatalf("%d grants remembered, want 100", n)
	}
	now = now.Add(2*time.Minute + GrantClockSkew + time.Second)
	req := wire.Resume{SessionID: "later"}.Request()
	if err := a.grants.verify(signGrant(t, tr.signer.Sign, req, testNodeID, now, 2*time.Minute), req); err != nil {
		t.Fatal(err)
	}
	if n := len(a.grants.seen); n != 1 {
		t.Errorf("%d grants remembered after the others expired, want 1", n)
	}
}

// waitGone waits until the agent has let go of a session.
func waitGone(t *testing.T, a *Agent, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a.mu.Lock()
		s := a.sessions[id]
		a.mu.Unlock()
		if s == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s never left the agent", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
