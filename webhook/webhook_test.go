package webhook

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/clocktest"
)

var secret = strings.Repeat("s", MinSecretLen)

func TestSignVerify(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	body := []byte(`{"a":1}`)
	h := Sign([]byte(secret), at, body)
	if err := Verify([]byte(secret), h, body, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		header string
		body   []byte
		now    time.Time
		want   string
	}{
		"tampered": {h, []byte(`{"a":2}`), at, "does not match"},
		"replayed": {h, body, at.Add(ReplayWindow + time.Second), "outside"},
		"early":    {h, body, at.Add(-ReplayWindow - time.Second), "outside"},
		"other":    {Sign([]byte(strings.Repeat("x", 32)), at, body), body, at, "does not match"},
		"garbage":  {"v1=zz", body, at, "malformed"},
	} {
		if err := Verify([]byte(secret), tc.header, tc.body, tc.now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestAWSLogsBody(t *testing.T) {
	payload := []byte(`{"messageType":"DATA_MESSAGE","logEvents":[]}`)
	b, err := AWSLogsBody(payload)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		AWSLogs struct{ Data string } `json:"awslogs"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	z, err := base64.StdEncoding.DecodeString(env.AWSLogs.Data)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if !bytes.Equal(got, payload) {
		t.Errorf("decoded %s", got)
	}
}

func TestCheck(t *testing.T) {
	good := Endpoint{URL: "https://hooks.example/x", Secret: secret, Format: FormatAWSLogs}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		e    Endpoint
		want string
	}{
		{Endpoint{URL: "http://hooks.example/x", Secret: secret}, "https://"},
		{Endpoint{URL: "https://u:p@hooks.example/x", Secret: secret}, "no user"},
		{Endpoint{URL: "https://hooks.example/x", Secret: "short"}, "secret: 5 bytes: at least 32"},
		{Endpoint{URL: "https://hooks.example/x", Secret: secret, Format: "xml"}, "format"},
		{Endpoint{URL: "https://hooks.example/x", Secret: secret, CAPEM: "nope"}, "ca:"},
	} {
		if err := tc.e.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.e, err, tc.want)
		}
	}
}

// TestPost posts to a real TLS server trusting only its CA, which checks
// the signature and id; a 400 is refused for good, a 503 is not.
func TestPost(t *testing.T) {
	clock := clocktest.New(time.Now())
	status := http.StatusNoContent
	var got []byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := Verify([]byte(secret), r.Header.Get(SignatureHeader), body, time.Now()); err != nil || r.Header.Get(IDHeader) != "d-1" {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		got = body
		w.WriteHeader(status)
	}))
	defer srv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	c := &Client{Now: clock.Now}
	e := Endpoint{URL: srv.URL + "/hook", Secret: secret, CAPEM: ca}
	if err := c.Post(context.Background(), e, "d-1", []byte(`{"x":1}`)); err != nil || string(got) != `{"x":1}` {
		t.Fatalf("Post: %v, received %s", err, got)
	}
	if err := c.Post(context.Background(), Endpoint{URL: e.URL, Secret: secret}, "d-1", nil); err == nil {
		t.Error("a server whose CA is not trusted was posted to")
	}
	status = http.StatusBadRequest
	err := c.Post(context.Background(), e, "d-1", []byte(`{}`))
	if !Refused(err) {
		t.Errorf("a 400: %v, want refused for good", err)
	}
	status = http.StatusServiceUnavailable
	err = c.Post(context.Background(), e, "d-1", []byte(`{}`))
	var se *StatusError
	if Refused(err) || !errors.As(err, &se) || se.Status != 503 {
		t.Errorf("a 503: %v, want a retryable failure", err)
	}
}

func FuzzVerify(f *testing.F) {
	at := time.Unix(1_800_000_000, 0)
	f.Add(Sign([]byte(secret), at, []byte("b")), []byte("b"))
	f.Add("t=,v1=", []byte(""))
	f.Add("t=1800000000,v1=00,v1=11", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		if Verify([]byte(secret), header, body, at) == nil && header != Sign([]byte(secret), at, body) {
			// Only a header whose t is within the window and whose v1 is
			// the MAC may pass; the fuzzer cannot forge one.
			if !strings.Contains(header, "v1=") {
				t.Errorf("Verify accepted %q", header)
			}
		}
	})
}
