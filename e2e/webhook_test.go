package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/firehose"
	"github.com/postern/postern/webhook"
)

// hookReceiver is an HTTPS endpoint as a CloudWatch Logs subscription's
// Lambda function would be: it checks each request's signature and
// decodes the awslogs payload.
type hookReceiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	status int // what it answers; 0: 200
	got    []firehose.Payload
	bad    int // requests whose signature did not check
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := webhook.Verify([]byte(h.secret), r.Header.Get(webhook.SignatureHeader), body, time.Now()); err != nil || r.Header.Get(webhook.IDHeader) == "" {
		h.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if h.status != 0 {
		w.WriteHeader(h.status)
		return
	}
	var env struct {
		AWSLogs struct{ Data string } `json:"awslogs"`
	}
	z, err := base64.StdEncoding.DecodeString(func() string { json.Unmarshal(body, &env); return env.AWSLogs.Data }())
	if err != nil {
		h.t.Errorf("awslogs.data is not base64: %s", body)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		h.t.Errorf("awslogs.data is not gzip: %v", err)
		return
	}
	var p firehose.Payload
	if err := json.NewDecoder(zr).Decode(&p); err != nil {
		h.t.Errorf("awslogs payload: %v", err)
		return
	}
	h.got = append(h.got, p)
}

func (h *hookReceiver) messages() (control int, data string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, p := range h.got {
		if p.MessageType == "CONTROL_MESSAGE" {
			control++
			continue
		}
		for _, e := range p.LogEvents {
			b.WriteString(e.Message + "\n")
		}
	}
	return control, b.String()
}

// TestWebhookDeliveryStream sends the session log group to an HTTPS
// endpoint in CloudWatch Logs' subscription payload, signed: a control
// message when the stream is made, then the events; bad settings and an
// endpoint that does not answer are refused at creation; while the
// endpoint answers 503 the events wait, and they arrive once it is back.
func TestWebhookDeliveryStream(t *testing.T) {
	ctx := testCtx(t)
	recv := &hookReceiver{t: t, secret: strings.Repeat("k", 40)}
	srv := httptest.NewTLSServer(recv)
	defer srv.Close()
	dir := t.TempDir()
	caFile, secretFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "secret")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	os.WriteFile(secretFile, []byte(recv.secret+"\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("tooshort"), 0o600)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedURL := "https://" + closed.Addr().String() + "/hook"
	closed.Close()

	e := startDev(t, "--metrics-listen", "127.0.0.1:0")
	metricsURL := e.dev.waitFor(ctx, regexp.MustCompile(`metrics on (http://\S+)`))[1]
	node := hostname(t)
	create := func(args ...string) []string {
		return append([]string{"delivery-streams", "create", "hook", "--destination", "HTTP", "--buffer-interval", "0"}, args...)
	}
	e.mustFail(create("--http-url", srv.URL+"/hook", "--http-secret-file", short, "--http-ca-file", caFile), "secret: 8 bytes: at least 32")
	e.mustFail(create("--http-url", "http://example.com/hook", "--http-secret-file", secretFile), `url "http://example.com/hook": an https:// URL`)
	e.mustFail(create("--http-url", closedURL, "--http-secret-file", secretFile, "--http-ca-file", caFile), "did not take a control message")
	e.mustFail(create("--http-url", srv.URL+"/hook", "--http-secret-file", secretFile), "did not take a control message") // its CA is not trusted
	out := e.mustRun(ctx, create("--http-url", srv.URL+"/hook", "--http-secret-file", secretFile, "--http-ca-file", caFile)...)
	if !strings.Contains(out, "posts to "+srv.URL+"/hook (awslogs)") {
		t.Errorf("create printed %q", out)
	}
	if control, _ := recv.messages(); control != 1 {
		t.Errorf("%d control messages at creation, want 1", control)
	}
	var ds api.DeliveryStream
	e.jsonOut(ctx, &ds, "delivery-streams", "describe", "hook")
	if ds.Destination != "HTTP" || ds.HTTP == nil || ds.HTTP.Secret != "" || ds.HTTP.URL != srv.URL+"/hook" {
		t.Errorf("describe: %+v %+v (the secret is never shown)", ds, ds.HTTP)
	}

	e.mustRun(ctx, "exec", node, "--", "echo", "Zq7Before")
	e.waitDelivered(ctx, e.sessions(ctx)[0].ID)
	e.mustRun(ctx, "logs", "subscription-filters", "put", "--group", "/postern/sessions", "--name", "hook", "--destination", ds.ARN)
	e.mustRun(ctx, "exec", node, "--", "echo", "Zq7Hooked")
	waitFor(ctx, t, "the session's events at the webhook", func() bool {
		_, data := recv.messages()
		return strings.Contains(data, "Zq7Hooked")
	})
	if _, data := recv.messages(); strings.Contains(data, "Zq7Before") {
		t.Errorf("events from before the filter were posted")
	}

	// The endpoint fails: the events wait, and arrive once it is back.
	recv.mu.Lock()
	recv.status = http.StatusServiceUnavailable
	recv.mu.Unlock()
	e.mustRun(ctx, "exec", node, "--", "echo", "Zq7Outage")
	waitFor(ctx, t, "the stream to report the endpoint's failure", func() bool {
		e.jsonOut(ctx, &ds, "delivery-streams", "describe", "hook")
		return ds.Status != nil && strings.Contains(ds.Status.LastError, "503")
	})
	// The metrics say so: failing, and a backlog with an age.
	streamLabel := `stream="` + ds.ARN + `"`
	waitFor(ctx, t, "the metrics to show the failing stream and its backlog", func() bool {
		m := scrape(t, metricsURL, e.metricsToken())
		return strings.Contains(m, "postern_delivery_stream_failing{"+streamLabel+"} 1") &&
			regexp.MustCompile(`postern_subscription_backlog_events\{account="000000000001",log_group="/postern/sessions",reader="hook"\} [1-9]`).MatchString(m)
	})
	recv.mu.Lock()
	recv.status = 0
	recv.mu.Unlock()
	waitFor(ctx, t, "the events held during the outage at the webhook", func() bool {
		_, data := recv.messages()
		return strings.Contains(data, "Zq7Outage")
	})
	waitFor(ctx, t, "the metrics to show the backlog drained", func() bool {
		m := scrape(t, metricsURL, e.metricsToken())
		return strings.Contains(m, "postern_delivery_stream_failing{"+streamLabel+"} 0") &&
			strings.Contains(m, `postern_subscription_backlog_events{account="000000000001",log_group="/postern/sessions",reader="hook"} 0`) &&
			regexp.MustCompile(`postern_delivery_stream_events_total\{`+regexp.QuoteMeta(streamLabel)+`\} [1-9]`).MatchString(m)
	})
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if recv.bad != 0 {
		t.Errorf("%d requests were not signed right", recv.bad)
	}
}

// TestWebhookServerKilledMidDelivery kills the server (SIGKILL) while a
// webhook holds a delivery in flight: the server that comes back on the
// same data delivers it again from the filter's cursor (at least once),
// and goes on with what follows.
func TestWebhookServerKilledMidDelivery(t *testing.T) {
	ctx := testCtx(t)
	secret := strings.Repeat("k", 40)
	var (
		mu       sync.Mutex
		inFlight = make(chan struct{})
		release  = make(chan struct{})
		blocked  bool
		killSeen int // deliveries of the killed one after the restart
		restart  bool
		after    bool
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, time.Now()) != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p firehose.Payload
		json.Unmarshal(body, &p) // format json: the payload as it is
		text := ""
		for _, e := range p.LogEvents {
			text += e.Message
		}
		mu.Lock()
		switch {
		case strings.Contains(text, "Zq5Kill") && !blocked:
			blocked = true
			mu.Unlock()
			close(inFlight)
			<-release // the server is killed meanwhile
			return
		case strings.Contains(text, "Zq5Kill") && restart:
			killSeen++
		}
		if strings.Contains(text, "Zq5After") {
			after = true
		}
		mu.Unlock()
	}))
	defer srv.Close()
	defer close(release)
	dir := t.TempDir()
	caFile, secretFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "secret")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	os.WriteFile(secretFile, []byte(secret), 0o600)

	e := startDev(t)
	node := hostname(t)
	var ds api.DeliveryStream
	e.mustRun(ctx, "delivery-streams", "create", "hook", "--destination", "HTTP", "--buffer-interval", "0",
		"--http-url", srv.URL, "--http-secret-file", secretFile, "--http-ca-file", caFile, "--http-format", "json")
	e.jsonOut(ctx, &ds, "delivery-streams", "describe", "hook")
	e.mustRun(ctx, "exec", node, "--", "true")
	e.waitDelivered(ctx, e.sessions(ctx)[0].ID)
	e.mustRun(ctx, "logs", "subscription-filters", "put", "--group", "/postern/sessions", "--name", "hook", "--destination", ds.ARN)
	e.mustRun(ctx, "exec", node, "--", "echo", "Zq5Kill")
	select {
	case <-inFlight:
	case <-ctx.Done():
		t.Fatal("the delivery never reached the webhook")
	}
	e.dev.signal(syscall.SIGKILL)
	<-e.dev.done
	mu.Lock()
	restart = true
	mu.Unlock()
	e.startDevIn(ctx)
	waitFor(ctx, t, "the killed server's delivery, again from the cursor", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return killSeen >= 1
	})
	waitFor(ctx, t, "the node back online", func() bool {
		_, errOut, code := e.run(ctx, "exec", node, "--", "echo", "Zq5After")
		if code != 0 && !strings.Contains(errOut, "offline") {
			t.Fatalf("exec after the restart: %s", errOut)
		}
		return code == 0
	})
	waitFor(ctx, t, "what follows the restart at the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return after
	})
}
