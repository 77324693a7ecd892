package server

import (
	"context"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/document"
	"github.com/postern/postern/envelope"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
)

// S3Target is where a session's artifacts go in an S3-compatible bucket, as
// the preferences (s3BucketName, s3KeyPrefix, s3EncryptionEnabled) said
// when the session started. When the preferences' kmsKeyId names an AWS
// KMS key, objects use SSE-KMS with it; otherwise (a built-in key, which
// S3 cannot use) they are encrypted as the bucket's default encryption
// says, or by Postern itself (ClientSide).
type S3Target struct {
	Bucket            string `json:"bucket"`
	Prefix            string `json:"prefix,omitempty"`
	RequireEncryption bool   `json:"requireEncryption,omitempty"`
	KMSKeyID          string `json:"kmsKeyId,omitempty"` // SSE-KMS with this AWS KMS key
	// ClientSide: the server encrypts the artifacts itself (package
	// envelope) before they leave, for stores without KMS.
	ClientSide bool `json:"clientSideEncryption,omitempty"`
}

// S3Destination uploads artifacts to S3-compatible storage.
type S3Destination interface {
	// Check verifies before a session starts that its artifacts can be
	// delivered to t, and that t is encrypted if it must be.
	Check(ctx context.Context, t S3Target) error
	// Put uploads body as name under t's prefix and returns where it went.
	Put(ctx context.Context, t S3Target, name, contentType string, body io.Reader) (location string, err error)
}

// CloudWatchTarget is the log group a session's transcript goes to, as
// the preferences (cloudWatchLogGroupName, cloudWatchEncryptionEnabled)
// said when the session started.
type CloudWatchTarget struct {
	// Account is the session's; the built-in log store keeps each
	// account's log groups apart (CloudWatch Logs has its own accounts).
	Account           string `json:"-"`
	LogGroup          string `json:"logGroup"`
	RequireEncryption bool   `json:"requireEncryption,omitempty"`
	Streaming         bool   `json:"streaming,omitempty"`
}

// CloudWatchDestination uploads transcripts to CloudWatch Logs.
type CloudWatchDestination interface {
	// Check verifies before a session starts that its transcript can go
	// to t, and that t is encrypted if it must be.
	Check(ctx context.Context, t CloudWatchTarget) error
	// PutTranscript uploads the transcript read from body to the log
	// stream named stream, its lines stamped at, and returns where it went.
	PutTranscript(ctx context.Context, t CloudWatchTarget, stream string, at time.Time, body io.Reader) (location string, err error)
	// PutEvents appends events, in order, to the log stream named stream.
	PutEvents(ctx context.Context, t CloudWatchTarget, stream string, events []StreamEvent) error
}

// Timing of deliveries. Variables so tests can shorten them.
var (
	// checkTimeout bounds a destination check at session start, so a
	// destination that hangs refuses the session instead of hanging it.
	checkTimeout = 15 * time.Second
	// deliverTimeout bounds one delivery attempt.
	deliverTimeout = 30 * time.Minute
	// retryMin and retryMax bound the backoff between failed attempts.
	retryMin, retryMax = time.Second, 5 * time.Minute
	// deliverPoll is how often the deliverer looks for due work when
	// nothing wakes it.
	deliverPoll = time.Second
)

// artifacts are what each destination receives, as Session Manager writes
// them: the transcript, and Postern's asciicast beside it.
var artifacts = []struct{ name, contentType string }{
	{"log", "text/plain; charset=utf-8"},
	{"cast", "application/x-asciicast"},
}

// plannedDelivery is a destination a session start resolved to.
type plannedDelivery struct {
	destination string   // "s3", "cloudwatch"
	target      any      // S3Target, CloudWatchTarget
	artifacts   []string // what goes there: log, cast
}

// s3TargetFor is where the preferences in send artifacts in S3.
func s3TargetFor(in document.Inputs, clientSide bool) S3Target {
	t := S3Target{Bucket: in.S3BucketName, Prefix: in.S3KeyPrefix, RequireEncryption: in.S3EncryptionEnabled, ClientSide: clientSide}
	if strings.HasPrefix(in.KMSKeyID, "arn:aws:kms:") {
		t.KMSKeyID = in.KMSKeyID
	}
	return t
}

// planDeliveries turns the preferences' logging inputs into deliveries and
// checks each destination now: a session whose recording could not be
// delivered where the preferences say is refused before it starts, with
// the reason (Session Manager would find out at the end, if at all).
func (s *Server) planDeliveries(ctx context.Context, account string, in document.Inputs) ([]plannedDelivery, error) {
	var plan []plannedDelivery
	if s.cfg.LogStore != nil {
		// Before the checks: preferences may name it. A log store that
		// cannot take it now must not stop sessions: the recording is
		// the journal, and the stream tries again when it delivers.
		if err := s.ensureOwnLogGroup(ctx, account); err != nil {
			s.logf("server: log store: creating %s for account %s: %v; its sessions are indexed once it can be", OwnLogGroup, account, err)
		}
	}
	if in.S3BucketName != "" || in.CloudWatchLogGroupName != "" {
		// First, as it is local and cheap: a full outbox could not promise
		// this session's recording a delivery either.
		if err := s.outbox.admit(ctx); err != nil {
			return nil, err
		}
	}
	if in.S3BucketName != "" {
		if s.cfg.S3 == nil {
			return nil, errorf(http.StatusConflict, "DestinationUnavailable",
				"we couldn't start the session because the preferences send session logs to S3 bucket %s, but this server has no S3 destination configured", in.S3BucketName)
		}
		t := s3TargetFor(in, s.cfg.S3ClientSideEncryption)
		if err := check(ctx, func(ctx context.Context) error { return s.cfg.S3.Check(ctx, t) }); err != nil {
			return nil, err
		}
		plan = append(plan, plannedDelivery{destination: "s3", target: t, artifacts: []string{"log", "cast"}})
	}
	if in.CloudWatchLogGroupName != "" {
		// CloudWatch Logs when configured, else Postern's own log groups.
		name := "cloudwatch"
		if s.cfg.CloudWatch == nil && s.cfg.LogStore != nil {
			name = "logs"
		}
		dest, err := s.logDestination(name)
		if err != nil {
			return nil, errorf(http.StatusConflict, "DestinationUnavailable",
				"we couldn't start the session because the preferences send session logs to log group %s, but %v", in.CloudWatchLogGroupName, err)
		}
		t := CloudWatchTarget{Account: account, LogGroup: in.CloudWatchLogGroupName, RequireEncryption: in.CloudWatchEncryptionEnabled, Streaming: in.CloudWatchStreamingEnabled}
		if err := check(ctx, func(ctx context.Context) error { return dest.Check(ctx, t) }); err != nil {
			return nil, err
		}
		// Streamed: Session Manager's JSON events as the session runs,
		// instead of the transcript at the end.
		artifact := "log"
		if t.Streaming {
			artifact = "events"
		}
		plan = append(plan, plannedDelivery{destination: name, target: t, artifacts: []string{artifact}})
	}
	if s.cfg.LogStore != nil {
		// Every session streams to Postern's own log store, whatever
		// the preferences say, so that it can be tailed and searched.
		// Preferences that name that very group get its stream (two
		// deliveries to one stream would overwrite each other).
		if len(plan) > 0 && plan[len(plan)-1].destination == "logs" && in.CloudWatchLogGroupName == OwnLogGroup {
			plan = plan[:len(plan)-1]
		}
		t := CloudWatchTarget{Account: account, LogGroup: OwnLogGroup, Streaming: true}
		plan = append(plan, plannedDelivery{destination: ownLogs, target: t, artifacts: []string{"events"}})
	}
	return plan, nil
}

// check runs a destination check within checkTimeout.
func check(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		return errorf(http.StatusConflict, "DestinationCheckFailed", "%v", err)
	}
	return nil
}

// createDeliveries records a new session's deliveries; they wait until the
// session ends.
func (s *Server) createDeliveries(ctx context.Context, sess store.Session, plan []plannedDelivery) error {
	var ds []store.Delivery
	for _, p := range plan {
		target, err := json.Marshal(p.target)
		if err != nil {
			return err
		}
		for _, a := range p.artifacts {
			d := store.Delivery{
				Account: sess.Account, SessionID: sess.ID, Destination: p.destination, Artifact: a,
				Target: string(target), Status: store.DeliveryWaiting, CreatedAt: sess.StartedAt, UpdatedAt: sess.StartedAt,
			}
			if a == "events" {
				// Streamed from the start.
				d.Status, d.NextAttempt = store.DeliveryPending, sess.StartedAt
			}
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return nil
	}
	if err := s.store.CreateDeliveries(ctx, ds); err != nil {
		return err
	}
	s.outbox.changed()
	s.deliver.kick()
	return nil
}

// deliverer works the outbox: it delivers due artifacts, one at a time
// per destination kind, and reschedules failures with backoff. A
// destination that is down for hours only grows the backlog; the journals
// stay on disk until every artifact made from them is delivered.
type deliverer struct {
	deliveryDeps
	wake chan struct{} // capacity 1

	mu     sync.Mutex // guards active
	active map[deliveryKey]bool

	// reopenMu serializes reopening a session's deliveries (late output,
	// late.go) with recording the outcome of an attempt, so that an
	// attempt which rendered the journal before it grew cannot mark its
	// delivery Delivered after the reopening made it due again. It is
	// taken before mu.
	reopenMu sync.Mutex
	// reopened holds the attempts in flight when their session's
	// deliveries were reopened (guarded by reopenMu): what they deliver
	// is not the whole recording, so they end pending, not delivered.
	reopened map[deliveryKey]bool
}

// deliveryStore is the slice of the metadata store the deliverer uses.
type deliveryStore interface {
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error)
	UpdateDelivery(ctx context.Context, d store.Delivery) error
	ReopenDeliveries(ctx context.Context, account, sessionID string, now time.Time) error
	GetSession(ctx context.Context, id string) (store.Session, error)
}

// deliveryDeps are what the deliverer works with, passed in rather than
// reached through the server, so that the pipeline that carries the
// "nothing is lost" promise can be built, and tested, with only these.
type deliveryDeps struct {
	store deliveryStore
	now   func() time.Time
	logf  logger.Logf
	// s3 is the S3 destination; nil: none is configured.
	s3 S3Destination
	// logDestination resolves a log-group destination by name
	// ("cloudwatch", "logs", ownLogs); ensureOwnLogGroup creates an
	// account's own log group if it is missing.
	logDestination    func(name string) (CloudWatchDestination, error)
	ensureOwnLogGroup func(ctx context.Context, account string) error
	// journalPath and journalKey find a session's journal and its key.
	journalPath func(account, id string) string
	journalKey  func(ctx context.Context, account, id string) (cipher.AEAD, error)
	// envelopeWriter seals an artifact for client-side encryption.
	envelopeWriter func(ctx context.Context, w io.Writer, dl store.Delivery) (*envelope.Writer, error)
	// sessionEnded reports whether a session has ended (its journal
	// holds all there will be); outputSoFar how much a running session
	// has printed, if it runs here.
	sessionEnded func(ctx context.Context, id string) bool
	outputSoFar  func(id string) (uint64, bool)
	// changed says the outbox's contents changed; delivered counts an
	// attempt's result; streamed observes a streamed line's latency.
	changed   func()
	delivered func(destination, artifact, result string)
	streamed  func(destination string, latency time.Duration)
}

type deliveryKey struct{ account, session, destination, artifact string }

func keyOf(d store.Delivery) deliveryKey {
	return deliveryKey{d.Account, d.SessionID, d.Destination, d.Artifact}
}

func newDeliverer(deps deliveryDeps) *deliverer {
	return &deliverer{deliveryDeps: deps, wake: make(chan struct{}, 1), active: map[deliveryKey]bool{}, reopened: map[deliveryKey]bool{}}
}

// deliveryDeps gives the server's deliverer what it works with.
func (s *Server) deliveryDeps() deliveryDeps {
	return deliveryDeps{
		store: s.store, now: s.now, logf: s.logf, s3: s.cfg.S3,
		logDestination: s.logDestination, ensureOwnLogGroup: s.ensureOwnLogGroup,
		journalPath: s.journalPath, journalKey: s.journalKey, envelopeWriter: s.envelopeWriter,
		sessionEnded: s.sessionEnded, outputSoFar: s.outputSoFar,
		changed: func() { s.outbox.changed() },
		delivered: func(destination, artifact, result string) {
			s.metrics.deliveries.WithLabelValues(destination, artifact, result).Inc()
		},
		streamed: func(destination string, latency time.Duration) {
			s.metrics.streamLatency.WithLabelValues(destination).Observe(latency.Seconds())
		},
	}
}

// kick makes the deliverer look for due work now.
func (d *deliverer) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run delivers until ctx ends.
func (d *deliverer) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(deliverPoll)
	defer t.Stop()
	for {
		// Running attempts (streams last as long as their sessions) are
		// due too; ask for enough that they cannot crowd out new work.
		d.mu.Lock()
		running := len(d.active)
		d.mu.Unlock()
		due, err := d.store.DueDeliveries(ctx, d.now(), 32+running)
		if err != nil && ctx.Err() == nil {
			d.logf("server: outbox: %v", err)
		}
		for _, dl := range due {
			k := keyOf(dl)
			d.mu.Lock()
			busy := d.active[k]
			d.active[k] = true
			d.mu.Unlock()
			if busy {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.attempt(ctx, dl) // forgets k in active when done
				d.kick()           // the next one may be due
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-t.C:
		}
	}
}

// attempt tries one delivery and records the outcome.
func (d *deliverer) attempt(ctx context.Context, dl store.Delivery) {
	timeout := deliverTimeout
	if dl.Artifact == "events" {
		timeout = 0 // it streams for as long as the session runs
	}
	actx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, timeout)
	}
	loc, n, err := d.deliver(actx, &dl)
	cancel()
	if ctx.Err() != nil {
		// Shutting down: the delivery stays due for the next start.
		d.mu.Lock()
		delete(d.active, keyOf(dl))
		d.mu.Unlock()
		return
	}
	now := d.now()
	dl.Attempts++
	dl.UpdatedAt = now
	result := "delivered"
	if err != nil {
		result = "failed"
	}
	d.delivered(dl.Destination, dl.Artifact, result)
	if err != nil {
		dl.Status, dl.LastError = store.DeliveryFailing, err.Error()
		dl.NextAttempt = now.Add(backoff(dl.Attempts))
		d.logf("server: session %s: delivering its %s to %s (attempt %d): %v; retrying at %s",
			dl.SessionID, dl.Artifact, dl.Destination, dl.Attempts, err, dl.NextAttempt.UTC().Format(time.RFC3339))
	} else {
		dl.Status, dl.LastError, dl.Location, dl.Bytes = store.DeliveryDelivered, "", loc, n
	}
	k := keyOf(dl)
	d.reopenMu.Lock()
	if d.reopened[k] {
		delete(d.reopened, k)
		if err == nil {
			// Delivered what the journal held before late output
			// arrived: again, with all of it.
			dl.Status, dl.NextAttempt = store.DeliveryPending, now
		}
	}
	if err := d.store.UpdateDelivery(context.WithoutCancel(ctx), dl); err != nil {
		d.logf("server: session %s: recording delivery state: %v", dl.SessionID, err)
	}
	// No longer in flight: under reopenMu, so that reopen either sees it
	// in flight or finds its outcome in the store.
	d.mu.Lock()
	delete(d.active, k)
	d.mu.Unlock()
	d.reopenMu.Unlock()
	d.changed()
}

// reopen makes a session's released deliveries due again, because its
// recording grew after it ended (late output): S3 objects and built-in
// transcripts are written again whole, streams go on from their cursor.
// Attempts in flight finish as they are and are then done again.
func (d *deliverer) reopen(ctx context.Context, account, sessionID string) error {
	d.reopenMu.Lock()
	d.mu.Lock()
	for k := range d.active {
		if k.account == account && k.session == sessionID {
			d.reopened[k] = true
		}
	}
	d.mu.Unlock()
	err := d.store.ReopenDeliveries(ctx, account, sessionID, d.now())
	d.reopenMu.Unlock()
	if err != nil {
		return err
	}
	d.changed()
	d.kick()
	return nil
}

// backoff is the wait before attempt n+1: exponential from retryMin,
// capped at retryMax, with jitter so a recovered destination is not hit by
// every session at once.
func backoff(attempts int) time.Duration {
	d := retryMin << min(attempts-1, 20)
	if d <= 0 || d > retryMax {
		d = retryMax
	}
	return d/2 + rand.N(d/2+1)
}

// deliver renders the artifact from the session's journal straight into
// the destination's upload: nothing is staged on disk, and the journal
// stays the only copy until every destination has its artifacts.
func (d *deliverer) deliver(ctx context.Context, dl *store.Delivery) (string, int64, error) {
	if dl.Artifact == "events" {
		dest, err := d.logDestination(dl.Destination)
		if err != nil {
			return "", 0, err
		}
		if dl.Destination == ownLogs {
			// It may have failed at the session's start, or an
			// administrator may have deleted it since.
			if err := d.ensureOwnLogGroup(ctx, dl.Account); err != nil {
				return "", 0, err
			}
		}
		t, err := logTarget(*dl)
		if err != nil {
			return "", 0, err
		}
		if err := d.stream(ctx, dl, dest, t); err != nil {
			return "", 0, err
		}
		return logLocation(*dl, t), 0, nil
	}
	var contentType string
	for _, a := range artifacts {
		if a.name == dl.Artifact {
			contentType = a.contentType
		}
	}
	if contentType == "" {
		return "", 0, fmt.Errorf("unknown artifact %q", dl.Artifact)
	}
	render := func(upload func(io.Reader) error) (int64, error) { return d.render(ctx, *dl, false, upload) }
	var loc string
	switch dl.Destination {
	case "s3":
		if d.s3 == nil {
			return "", 0, errors.New("this server has no S3 destination configured")
		}
		var t S3Target
		if err := json.Unmarshal([]byte(dl.Target), &t); err != nil {
			return "", 0, fmt.Errorf("delivery target: %w", err)
		}
		if t.ClientSide {
			contentType = "application/octet-stream"
		}
		n, err := d.render(ctx, *dl, t.ClientSide, func(body io.Reader) (err error) {
			loc, err = d.s3.Put(ctx, t, dl.SessionID+"."+dl.Artifact, contentType, body)
			return err
		})
		return loc, n, err
	case "cloudwatch", "logs", ownLogs:
		dest, err := d.logDestination(dl.Destination)
		if err != nil {
			return "", 0, err
		}
		t, err := logTarget(*dl)
		if err != nil {
			return "", 0, err
		}
		sess, err := d.store.GetSession(ctx, dl.SessionID)
		if err != nil {
			return "", 0, err
		}
		stream := dl.SessionID
		if dl.Location != "" && dl.Destination == "cloudwatch" {
			// Delivered before, and reopened by late output. A
			// CloudWatch Logs stream only grows, and the transcript
			// changed before its end (the exit line, a line cut off),
			// so the complete one goes to a stream of its own, named
			// after the recording's length so that another late
			// hand-over gets another (the built-in log store replaces
			// a transcript in place).
			stream = fmt.Sprintf("%s-late-%d", dl.SessionID, sess.RecordedSeq)
		}
		n, err := render(func(body io.Reader) (err error) {
			loc, err = dest.PutTranscript(ctx, t, stream, sess.EndedAt, body)
			return err
		})
		return loc, n, err
	}
	return "", 0, fmt.Errorf("unknown destination %q", dl.Destination)
}

// render streams an artifact of dl's session to upload, which must read
// the body to its end, and returns the artifact's size. Sealed, the
// artifact goes in an envelope (client-side encryption).
func (d *deliverer) render(ctx context.Context, dl store.Delivery, sealed bool, upload func(io.Reader) error) (int64, error) {
	jpath := d.journalPath(dl.Account, dl.SessionID)
	pr, pw := io.Pipe()
	cw := &countingWriter{w: pw}
	go func() {
		key, err := d.journalKey(ctx, dl.Account, dl.SessionID)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		out := io.Writer(cw)
		var env *envelope.Writer
		if sealed {
			if env, err = d.envelopeWriter(ctx, cw, dl); err != nil {
				pw.CloseWithError(err)
				return
			}
			out = env
		}
		var cast, log io.Writer
		if dl.Artifact == "cast" {
			cast = out
		} else {
			log = out
		}
		err = recording.RenderJournal(jpath, key, cast, log)
		if err == nil && env != nil {
			err = env.Close()
		}
		pw.CloseWithError(err)
	}()
	err := upload(pr)
	pr.CloseWithError(errors.New("upload ended")) // stops the renderer if the upload gave up early
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// apiDeliveries adds a session's deliveries to its log locations.
func (s *Server) apiDeliveries(ctx context.Context, sess store.Session, out *api.Session) {
	ds, err := s.store.ListDeliveries(ctx, sess.Account, sess.ID)
	if err != nil {
		s.logf("server: session %s: %v", out.ID, err)
		return
	}
	for _, d := range ds {
		l := api.LogLocation{Destination: d.Destination, Format: d.Artifact, Location: d.Location, Status: d.Status,
			Attempts: d.Attempts, Error: d.LastError, Bytes: d.Bytes}
		if d.Artifact == "events" && d.Status == store.DeliveryPending && sess.Active() {
			l.Status = "Streaming"
		}
		if !d.NextAttempt.IsZero() && d.Status != store.DeliveryDelivered && d.Status != store.DeliveryWaiting {
			t := d.NextAttempt
			l.NextAttempt = &t
		}
		if l.Location == "" {
			l.Location = describeTarget(d)
		}
		out.Logs = append(out.Logs, l)
	}
}

// describeTarget says where an undelivered artifact is going.
func describeTarget(d store.Delivery) string {
	if d.Destination == "cloudwatch" || d.Destination == "logs" || d.Destination == ownLogs {
		if t, err := logTarget(d); err == nil {
			return logLocation(d, t)
		}
	}
	if d.Destination == "s3" {
		var t S3Target
		if json.Unmarshal([]byte(d.Target), &t) == nil {
			key := d.SessionID + "." + d.Artifact
			if t.Prefix != "" {
				key = t.Prefix + "/" + key
			}
			return "s3://" + t.Bucket + "/" + key
		}
	}
	return d.Destination
}

// logDestination is the log-group destination a delivery names:
// "cloudwatch" (CloudWatch Logs) or "logs" (the built-in log store).
func (s *Server) logDestination(name string) (CloudWatchDestination, error) {
	switch name {
	case "cloudwatch":
		if s.cfg.CloudWatch == nil {
			return nil, errors.New("this server has no CloudWatch Logs destination configured")
		}
		return s.cfg.CloudWatch, nil
	case "logs", ownLogs:
		if s.cfg.LogStore == nil {
			return nil, errors.New("this server has no built-in log store")
		}
		return builtinLogs{s.cfg.LogStore, s}, nil
	}
	return nil, fmt.Errorf("unknown log destination %q", name)
}

// logTarget decodes a log-group delivery's target.
func logTarget(d store.Delivery) (CloudWatchTarget, error) {
	var t CloudWatchTarget
	if err := json.Unmarshal([]byte(d.Target), &t); err != nil {
		return t, fmt.Errorf("delivery target: %w", err)
	}
	t.Account = d.Account
	return t, nil
}

// logLocation names a session's log stream in its log group.
func logLocation(d store.Delivery, t CloudWatchTarget) string {
	scheme := "cloudwatch"
	if d.Destination == "logs" || d.Destination == ownLogs {
		scheme = "postern-logs"
	}
	return scheme + "://" + t.LogGroup + "/" + d.SessionID
}
