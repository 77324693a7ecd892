// Package cwlogstest is a FAKE of the AWS CloudWatch Logs service for tests.
//
// It exists only because CloudWatch Logs has no runnable local implementation
// in this project's environment (no Docker, no LocalStack), and delivery code
// must still be exercised over the real wire protocol by the real AWS SDK.
// Everything here is hand-written from the CloudWatch Logs API reference and
// the doc comments of github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs
// v1.92.2; where the documentation is silent the choice made is stated in the
// comment of the code that makes it.
//
// The fake is an in-process HTTP server (net/http/httptest) speaking the AWS
// JSON 1.1 protocol exactly as the service does: every call is
// "POST /" with "X-Amz-Target: Logs_20140328.<Operation>" and
// "Content-Type: application/x-amz-json-1.1"; errors are HTTP 400 (503 when the
// fake is marked down) with a JSON body {"__type": "<Code>", "message": "..."}.
// Requests must carry an "Authorization: AWS4-HMAC-SHA256 Credential=...,
// SignedHeaders=..., Signature=..." header scoped to the "logs" service and
// the fake's region; the signature itself is NOT verified.
//
// Implemented operations: CreateLogGroup, DeleteLogGroup, DescribeLogGroups,
// PutRetentionPolicy, DeleteRetentionPolicy, AssociateKmsKey, CreateLogStream,
// DeleteLogStream, DescribeLogStreams, PutLogEvents, GetLogEvents and
// FilterLogEvents (without filter patterns). Any other target is answered with
// UnknownOperationException.
//
// Enforced PutLogEvents rules (from the PutLogEvents API reference):
//   - batch size, the sum over events of (UTF-8 bytes of message + 26), at most
//     1,048,576 bytes;
//   - at most 10,000 events, at least 1;
//   - each event at most MaxEventSize bytes counted the same way (message + 26);
//     the current documentation says "Each log event can be no larger than
//     1 MB", so the default is 1,048,576; WithMaxEventSize(262144) restores the
//     256 KB limit that applied before April 2025;
//   - events in chronological order, else InvalidParameterException;
//   - events more than 14 days old, older than the log group's retention, or
//     more than 2 hours in the future are not stored and are reported through
//     rejectedLogEventsInfo; the call itself succeeds;
//   - the remaining (valid) events may not span more than 24 hours, else
//     InvalidParameterException;
//   - the sequence token is accepted and ignored, as the service does today;
//     SetLegacySequenceTokens(true) switches back to the old behaviour with
//     InvalidSequenceTokenException and DataAlreadyAcceptedException.
//
// Fault injection for retry and timeout tests: Throttle, ThrottleOp, SetDelay,
// SetDown and SetDownBehavior.
package cwlogstest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"
)

// Documented service limits enforced by the fake.
const (
	// MaxBatchBytes is the maximum PutLogEvents batch size: the sum of all
	// event messages in UTF-8 plus EventOverheadBytes per event.
	MaxBatchBytes = 1048576
	// EventOverheadBytes is added to each event's UTF-8 message length when
	// computing batch and event sizes.
	EventOverheadBytes = 26
	// MaxBatchEvents is the maximum number of events in one PutLogEvents call.
	MaxBatchEvents = 10000
	// DefaultMaxEventSize is the per-event limit ("Each log event can be no
	// larger than 1 MB"), counted as message bytes + EventOverheadBytes.
	DefaultMaxEventSize = 1048576
	// LegacyMaxEventSize is the per-event limit before April 2025 (256 KB).
	LegacyMaxEventSize = 262144
	// MaxEventAge is how far in the past an event may be before it is
	// rejected as too old.
	MaxEventAge = 14 * 24 * time.Hour
	// MaxEventFuture is how far in the future an event may be before it is
	// rejected as too new.
	MaxEventFuture = 2 * time.Hour
	// MaxBatchSpan is the largest time span the valid events of one batch may
	// cover.
	MaxBatchSpan = 24 * time.Hour

	targetPrefix = "Logs_20140328."
	// maxRequestBody bounds what the fake reads from one request. It is far
	// above the largest legal PutLogEvents body (a 1 MiB batch JSON-escaped).
	maxRequestBody = 16 << 20
)

// DownBehavior selects what a server marked down with SetDown(true) does.
type DownBehavior int

const (
	// Down503 answers every request with HTTP 503 and a
	// ServiceUnavailableException body.
	Down503 DownBehavior = iota
	// DownReset accepts the request and then resets the TCP connection without
	// writing a response, as an unreachable or crashing endpoint would.
	DownReset
)

// Event is one stored log event.
type Event struct {
	// Timestamp is the event time in milliseconds since the Unix epoch, as
	// sent by the client.
	Timestamp int64
	// Message is the event message.
	Message string
	// IngestionTime is the fake's clock, in milliseconds, when the event was
	// accepted.
	IngestionTime int64
	// EventID is the identifier FilterLogEvents reports for the event.
	EventID string
}

// Group is a snapshot of one log group.
type Group struct {
	Name            string
	ARN             string // arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*
	CreationTime    int64  // milliseconds since the Unix epoch
	KMSKeyID        string // "" when no key is associated
	RetentionInDays int32  // 0 when events never expire
	Class           string // STANDARD unless set at creation
	Tags            map[string]string
	Streams         []string // sorted
	StoredBytes     int64    // UTF-8 bytes of all stored messages
}

// Option configures a Server at construction.
type Option func(*Server)

// WithClock replaces the server's clock (time.Now). It decides creation and
// ingestion times and which events are too old or too new.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// WithRegion sets the region the fake serves (default "us-east-1"). Requests
// whose SigV4 credential scope names another region are rejected, and ARNs use
// this region.
func WithRegion(region string) Option {
	return func(s *Server) { s.region = region }
}

// WithAccountID sets the account ID used in ARNs (default "123456789012").
func WithAccountID(id string) Option {
	return func(s *Server) { s.account = id }
}

// WithMaxEventSize sets the per-event size limit in bytes, counted as UTF-8
// message length + 26. The default is DefaultMaxEventSize (1 MB);
// LegacyMaxEventSize restores the former 256 KB limit.
func WithMaxEventSize(n int) Option {
	return func(s *Server) { s.maxEventSize = n }
}

// Server is a running fake CloudWatch Logs endpoint.
type Server struct {
	ts        *httptest.Server
	quit      chan struct{}
	closeOnce sync.Once

	now          func() time.Time
	region       string
	account      string
	maxEventSize int

	mu           sync.Mutex
	groups       map[string]*group
	calls        map[string]int
	throttleAll  int
	throttleOps  map[string]int
	delay        time.Duration
	down         bool
	downBehavior DownBehavior
	legacySeq    bool
	tokenSeq     uint64
	eventSeq     uint64
	badKMSKeys   map[string]bool
}

type group struct {
	name         string
	creationTime int64
	kmsKeyID     string
	retention    int32
	class        string
	tags         map[string]string
	streams      map[string]*stream
}

type stream struct {
	name          string
	creationTime  int64
	events        []Event // sorted by Timestamp; equal timestamps keep arrival order
	lastIngestion int64
	storedBytes   int64

	// Legacy sequence-token state (SetLegacySequenceTokens).
	uploadToken string // token the next PutLogEvents must carry; "" before the first upload
	prevToken   string // token the last accepted batch carried
	lastBatch   string // digest of the last accepted batch
	hasUpload   bool
}

// NewServer starts a fake CloudWatch Logs server on a loopback port. Call
// Close when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		quit:         make(chan struct{}),
		now:          time.Now,
		region:       "us-east-1",
		account:      "123456789012",
		maxEventSize: DefaultMaxEventSize,
		groups:       map[string]*group{},
		calls:        map[string]int{},
		throttleOps:  map[string]int{},
		badKMSKeys:   map[string]bool{},
	}
	for _, o := range opts {
		o(s)
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the endpoint to give the SDK as BaseEndpoint.
func (s *Server) URL() string { return s.ts.URL }

// Region is the region the fake serves.
func (s *Server) Region() string { return s.region }

// Close stops the server. Requests held by SetDelay are released first, so
// Close never waits for a delay to run out.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.ts.Close()
	})
}

// Throttle makes the next n calls, whatever their operation, fail with
// ThrottlingException (HTTP 400) before they are processed.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	s.throttleAll = n
	s.mu.Unlock()
}

// ThrottleOp makes the next n calls of one operation (for example
// "PutLogEvents") fail with ThrottlingException.
func (s *Server) ThrottleOp(op string, n int) {
	s.mu.Lock()
	s.throttleOps[op] = n
	s.mu.Unlock()
}

// SetDelay holds every subsequent request for d before answering it; a very
// long d makes the server hang. A held request ends early if the client gives
// up or the server is closed. Zero removes the delay.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// SetDown marks the service down (true) or up again (false). While down,
// requests are answered as SetDownBehavior says (HTTP 503 by default).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// SetDownBehavior chooses what SetDown(true) does: Down503 (the default) or
// DownReset.
func (s *Server) SetDownBehavior(b DownBehavior) {
	s.mu.Lock()
	s.downBehavior = b
	s.mu.Unlock()
}

// SetLegacySequenceTokens switches PutLogEvents to the service's former
// behaviour: after the first upload to a stream every call must carry the
// stream's current sequence token, else InvalidSequenceTokenException; a batch
// re-sent with the token it was accepted with is answered with
// DataAlreadyAcceptedException. Both carry expectedSequenceToken. The default
// (false) is the current behaviour: the token is accepted and ignored.
func (s *Server) SetLegacySequenceTokens(on bool) {
	s.mu.Lock()
	s.legacySeq = on
	s.mu.Unlock()
}

// MarkKMSKeyUnusable makes CreateLogGroup and AssociateKmsKey reject the given
// key ARN with InvalidParameterException, as the service does for a key that
// does not exist or is disabled. Any well-formed KMS key ARN is usable
// otherwise.
func (s *Server) MarkKMSKeyUnusable(arn string) {
	s.mu.Lock()
	s.badKMSKeys[arn] = true
	s.mu.Unlock()
}

// Calls reports how many requests named operation op (for example
// "PutLogEvents") reached the server, including ones that failed, were
// throttled or were answered while the server was down.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Events returns a copy of the events stored in a stream, in the order
// GetLogEvents returns them (by timestamp). It returns nil if the group or
// stream does not exist.
func (s *Server) Events(groupName, streamName string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[groupName]
	if g == nil {
		return nil
	}
	st := g.streams[streamName]
	if st == nil {
		return nil
	}
	return append([]Event(nil), st.events...)
}

// Groups returns a snapshot of every log group, sorted by name.
func (s *Server) Groups() []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Group, 0, len(s.groups))
	for _, g := range s.sortedGroups() {
		gg := Group{
			Name:            g.name,
			ARN:             s.groupARN(g.name) + ":*",
			CreationTime:    g.creationTime,
			KMSKeyID:        g.kmsKeyID,
			RetentionInDays: g.retention,
			Class:           g.class,
			Tags:            map[string]string{},
			StoredBytes:     g.storedBytes(),
		}
		for k, v := range g.tags {
			gg.Tags[k] = v
		}
		for _, st := range g.sortedStreams() {
			gg.Streams = append(gg.Streams, st.name)
		}
		out = append(out, gg)
	}
	return out
}

func (s *Server) sortedGroups() []*group {
	gs := make([]*group, 0, len(s.groups))
	for _, g := range s.groups {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].name < gs[j].name })
	return gs
}

func (g *group) sortedStreams() []*stream {
	ss := make([]*stream, 0, len(g.streams))
	for _, st := range g.streams {
		ss = append(ss, st)
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].name < ss[j].name })
	return ss
}

func (g *group) storedBytes() int64 {
	var n int64
	for _, st := range g.streams {
		n += st.storedBytes
	}
	return n
}

func (s *Server) groupARN(name string) string {
	return fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", s.region, s.account, name)
}

func (s *Server) nowMillis() int64 { return s.now().UnixMilli() }

// apiError is an error response in the service's JSON error format.
type apiError struct {
	status int
	code   string
	msg    string
	extra  map[string]any
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errInvalidParameter(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InvalidParameterException", msg: fmt.Sprintf(format, args...)}
}

func errGroupNotFound() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "ResourceNotFoundException", msg: "The specified log group does not exist."}
}

func errStreamNotFound() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "ResourceNotFoundException", msg: "The specified log stream does not exist."}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, isLogsTarget := strings.CutPrefix(target, targetPrefix)

	s.mu.Lock()
	if isLogsTarget {
		s.calls[op]++
	}
	delay, down, behavior := s.delay, s.down, s.downBehavior
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client gave up; nobody reads the answer
		case <-s.quit:
			t.Stop()
			// Drop the connection: returning normally would send an empty
			// 200, which the SDK would take for success.
			panic(http.ErrAbortHandler)
		}
	}

	if down {
		if behavior == DownReset {
			resetConnection(w)
			return
		}
		writeError(w, &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailableException", msg: "The service cannot complete the request."})
		return
	}

	if r.Method != http.MethodPost || (r.URL.Path != "/" && r.URL.Path != "") {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "UnknownOperationException", msg: fmt.Sprintf("%s %s is not an operation; CloudWatch Logs takes POST / with an X-Amz-Target header", r.Method, r.URL.Path)})
		return
	}
	if err := s.checkAuth(r); err != nil {
		writeError(w, err)
		return
	}
	if !isLogsTarget {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "UnknownOperationException", msg: fmt.Sprintf("X-Amz-Target %q does not name a Logs_20140328 operation", target)})
		return
	}
	handler, ok := operations[op]
	if !ok {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "UnknownOperationException", msg: fmt.Sprintf("operation %s is not implemented by the cwlogstest fake", op)})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" && ct != "application/x-amz-json-1.0" {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "SerializationException", msg: fmt.Sprintf("Content-Type %q is not application/x-amz-json-1.1", ct)})
		return
	}
	if s.takeThrottle(op) {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "ThrottlingException", msg: "Rate exceeded"})
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return // client went away
	}
	if len(body) > maxRequestBody {
		writeError(w, &apiError{status: http.StatusRequestEntityTooLarge, code: "SerializationException", msg: "Request body too large"})
		return
	}
	out, aerr := handler(s, body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) takeThrottle(op string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttleAll > 0 {
		s.throttleAll--
		return true
	}
	if s.throttleOps[op] > 0 {
		s.throttleOps[op]--
		return true
	}
	return false
}

// checkAuth requires a SigV4 Authorization header for the "logs" service in
// the fake's region. The signature is not verified. The error codes and
// messages are the ones AWS front ends return for these cases.
func (s *Server) checkAuth(r *http.Request) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return &apiError{status: http.StatusBadRequest, code: "MissingAuthenticationTokenException", msg: "Missing Authentication Token"}
	}
	const alg = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, alg) {
		scheme, _, _ := strings.Cut(auth, " ")
		return &apiError{status: http.StatusBadRequest, code: "IncompleteSignatureException", msg: fmt.Sprintf("Unsupported Authorization scheme %q: requests must be signed with AWS4-HMAC-SHA256", scheme)}
	}
	params := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, alg), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			params[k] = v
		}
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[k] == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", k))
		}
	}
	if r.Header.Get("X-Amz-Date") == "" && r.Header.Get("Date") == "" {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return &apiError{status: http.StatusBadRequest, code: "IncompleteSignatureException", msg: strings.Join(missing, " ") + " Authorization=" + auth}
	}
	// Credential=AKID/YYYYMMDD/REGION/SERVICE/aws4_request
	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return &apiError{status: http.StatusBadRequest, code: "IncompleteSignatureException", msg: fmt.Sprintf("Credential %q is malformed; expecting \"<access key>/YYYYMMDD/<region>/<service>/aws4_request\".", params["Credential"])}
	}
	if scope[3] != "logs" {
		return &apiError{status: http.StatusBadRequest, code: "InvalidSignatureException", msg: "Credential should be scoped to correct service: 'logs'. "}
	}
	if scope[2] != s.region {
		return &apiError{status: http.StatusBadRequest, code: "InvalidSignatureException", msg: fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", scope[2])}
	}
	return nil
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"__type": e.code, "message": e.msg}
	for k, v := range e.extra {
		body[k] = v
	}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if v != nil {
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			status = http.StatusInternalServerError
			buf.Reset()
			fmt.Fprintf(&buf, `{"__type":"InternalFailure","message":%q}`, err.Error())
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-RequestId", newRequestID())
	h.Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// resetConnection drops the client's connection without a response. SO_LINGER
// 0 makes the close send a TCP RST, so the client sees "connection reset by
// peer" rather than a clean EOF where the platform allows it.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetLinger(0)
	}
	conn.Close()
}
