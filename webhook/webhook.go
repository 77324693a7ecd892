// Package webhook sends Postern's webhooks: HTTPS POSTs signed with
// HMAC-SHA256, for delivery streams whose destination is an HTTP endpoint
// and for event rules' targets.
//
// Every request carries
//
//	Postern-Signature: t=UNIX-SECONDS,v1=HEX
//	Postern-Webhook-Id: ID
//
// where v1 is HMAC-SHA256 keyed with the endpoint's secret over the
// decimal t, a '.', and the body's bytes. A receiver recomputes it,
// compares in constant time, and refuses a t more than ReplayWindow away
// from its clock (Verify does all three); the id is the same on every
// attempt at one delivery, for a receiver that drops repeats.
//
// Bodies are either Postern's JSON or, for log events, CloudWatch Logs'
// subscription payload as a Lambda function gets it (AWSLogsBody), so a
// handler written for a CloudWatch Logs subscription works unchanged.
package webhook

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header names.
const (
	SignatureHeader = "Postern-Signature"
	IDHeader        = "Postern-Webhook-Id"
)

// ReplayWindow is how far a signature's time may be from the receiver's
// clock.
const ReplayWindow = 5 * time.Minute

// MinSecretLen is the shortest secret accepted, in bytes.
const MinSecretLen = 32

// Formats of a body.
const (
	// FormatJSON is the payload as it is.
	FormatJSON = "json"
	// FormatAWSLogs is CloudWatch Logs' subscription payload as Lambda
	// gets it: {"awslogs":{"data":BASE64(GZIP(PAYLOAD))}}.
	FormatAWSLogs = "awslogs"
	// FormatSlack is {"text": ...}, what Slack's incoming webhooks and
	// those that copy them take.
	FormatSlack = "slack"
)

// Endpoint is where a webhook goes.
type Endpoint struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
	// CAPEM, when set, is the only CA trusted for the endpoint's
	// certificate (PEM); otherwise the system's.
	CAPEM  string `json:"caPem,omitempty"`
	Format string `json:"format,omitempty"`
}

// Check says what is wrong with an endpoint, naming the field.
func (e Endpoint) Check() error {
	var errs []error
	u, err := url.Parse(e.URL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("url: %v", err))
	case u.Scheme != "https" || u.Host == "":
		errs = append(errs, fmt.Errorf("url %q: an https:// URL", e.URL))
	case u.User != nil:
		errs = append(errs, fmt.Errorf("url: no user or password in the URL; the secret signs the requests"))
	}
	if len(e.Secret) < MinSecretLen {
		errs = append(errs, fmt.Errorf("secret: %d bytes: at least %d", len(e.Secret), MinSecretLen))
	}
	if e.Format != "" && e.Format != FormatJSON && e.Format != FormatAWSLogs && e.Format != FormatSlack {
		errs = append(errs, fmt.Errorf("format %q: %s, %s or %s", e.Format, FormatJSON, FormatAWSLogs, FormatSlack))
	}
	if e.CAPEM != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(e.CAPEM)) {
		errs = append(errs, errors.New("ca: no PEM certificate in it"))
	}
	return errors.Join(errs...)
}

// Sign returns the signature header's value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a signature header against body, as a receiver does.
func Verify(secret []byte, header string, body []byte, now time.Time) error {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("webhook: malformed %s header %q", SignatureHeader, header)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > ReplayWindow || d < -ReplayWindow {
		return fmt.Errorf("webhook: signed %v from now, outside the %v window", d.Round(time.Second), ReplayWindow)
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(secret, ts, body)) {
		return errors.New("webhook: the signature does not match")
	}
	return nil
}

// AWSLogsBody wraps a CloudWatch Logs subscription payload (its JSON) as
// a Lambda function receives it.
func AWSLogsBody(payload []byte) ([]byte, error) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(payload); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]map[string]string{"awslogs": {"data": base64.StdEncoding.EncodeToString(z.Bytes())}})
}

// StatusError is an endpoint's answer other than 2xx.
type StatusError struct {
	URL    string
	Status int
	Body   string // its first bytes
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d %s: %q", e.URL, e.Status, http.StatusText(e.Status), e.Body)
}

// Refused reports whether err is the endpoint refusing a request for
// good: a 4xx other than timeouts and throttling.
func Refused(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status >= 400 && se.Status < 500 &&
		se.Status != http.StatusRequestTimeout && se.Status != http.StatusTooManyRequests
}

// Client posts webhooks. Its zero value is ready.
type Client struct {
	Now     func() time.Time
	Timeout time.Duration // per request; default 10 s

	mu      sync.Mutex              // guards clients
	clients map[string]*http.Client // by the CA they trust ("": the system's)
}

// maxAnswer bounds what is read of an endpoint's answer.
const maxAnswer = 4 << 10

// Post sends body to e, signed, with the delivery id.
func (c *Client) Post(ctx context.Context, e Endpoint, id string, body []byte) error {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Postern-Webhook/1")
	req.Header.Set(SignatureHeader, Sign([]byte(e.Secret), now(), body))
	req.Header.Set(IDHeader, id)
	hc, err := c.client(e.CAPEM)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 != 2 {
		return &StatusError{URL: e.URL, Status: resp.StatusCode, Body: string(answer)}
	}
	return nil
}

// maxClients bounds the clients kept for their connections.
const maxClients = 64

// client is an HTTP client trusting caPEM (or the system's CAs),
// following no redirects (a signed delivery goes where it was configured
// to go), kept so that its connections are reused.
func (c *Client) client(caPEM string) (*http.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc := c.clients[caPEM]; hc != nil {
		return hc, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, errors.New("webhook: the endpoint's CA holds no certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if c.clients == nil || len(c.clients) >= maxClients {
		for _, old := range c.clients {
			old.CloseIdleConnections()
		}
		c.clients = map[string]*http.Client{}
	}
	c.clients[caPEM] = hc
	return hc, nil
}

// Reach checks that e's host answers TLS with a certificate the endpoint
// trusts, without sending a request: a receiver acts on every request,
// so a check must not be one.
func (c *Client) Reach(ctx context.Context, e Endpoint) error {
	u, err := url.Parse(e.URL)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host += ":443"
	}
	cfg := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if e.CAPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(e.CAPEM)) {
			return errors.New("webhook: the endpoint's CA holds no certificate")
		}
		cfg.RootCAs = pool
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: timeout}}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("%s: %w", e.URL, err)
	}
	return conn.Close()
}
