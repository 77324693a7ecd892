// Package delivery is the outbox's worker: it delivers each session's
// artifacts (the transcript, the .cast) to S3-compatible storage, and its
// events to CloudWatch Logs or Postern's own log store, streaming them as
// the session runs, from the session's journal, with retries and backoff
// for as long as it takes. The journal is the only copy until every
// destination has what it is owed: nothing is staged, and a stream's
// cursor says where it resumes.
//
// It works with what Deps gives it (the slice of the metadata store it
// uses, a clock, a logger, the destinations, the journals, and callbacks
// for the relay's state and the metrics), never a server: the pipeline
// that carries the "nothing is lost" promise can be built, and tested,
// with only these.
package delivery

import (
	"context"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/postern/postern/envelope"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
)

// OwnLogs is the deliveries' name for the stream of every session to
// Postern's own log group (apart from "logs", a log group the preferences
// name in the built-in store).
const OwnLogs = "postern"

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

// ArchiveDestination is the destination of an organization's archive
// copies (package orgs): every account's session artifacts, in the
// archive account's bucket, sealed with its key.
const ArchiveDestination = "archive"

// ArchiveTarget is where an archive copy goes, as the organization's
// archive settings said when the session started.
type ArchiveTarget struct {
	Org     string `json:"org"`
	Account string `json:"account"` // the archive account
	Bucket  string `json:"bucket"`
	Prefix  string `json:"prefix,omitempty"`
	KeyARN  string `json:"keyArn"`
}

// ObjectPrefix is where account's copies of a session started at start
// go: PREFIX/ACCOUNT/sessions/YYYY/MM/DD (UTC).
func (t ArchiveTarget) ObjectPrefix(account string, start time.Time) string {
	return t.AccountPrefix(account) + "/sessions/" + start.UTC().Format("2006/01/02")
}

// AccountPrefix is where an account's copies go: PREFIX/ACCOUNT.
func (t ArchiveTarget) AccountPrefix(account string) string {
	if t.Prefix != "" {
		return strings.TrimSuffix(t.Prefix, "/") + "/" + account
	}
	return account
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
	// A desktop session's: its recording, and who/where/when with the
	// recording's hash (DesktopMetadata).
	{"guac", "application/vnd.postern.guac; charset=utf-8"},
	{"json", "application/json"},
}

// Worker works the outbox: it delivers due artifacts, one at a time
// per destination kind, and reschedules failures with backoff. A
// destination that is down for hours only grows the backlog; the journals
// stay on disk until every artifact made from them is delivered.
type Worker struct {
	Deps
	wake chan struct{} // capacity 1

	mu     sync.Mutex // guards active, gen and doneGen
	active map[deliveryKey]bool
	// gen counts finished attempts; doneGen is the gen at which each
	// delivery's last attempt finished, kept until the next query of due
	// work begins. A query that ran while
	// an attempt finished may return the delivery as due still: without
	// this, it would be attempted again once it left active (a second
	// upload, a stream's last events sent twice).
	gen     uint64
	doneGen map[deliveryKey]uint64

	// pollErr logs a failed poll for due work, at most once a minute
	// (a database that does not answer fails every poll).
	pollErr logger.Logf

	// reopenMu serializes reopening a session's deliveries (late output,
	// the server's late hand-over) with recording the outcome of an attempt, so that an
	// attempt which rendered the journal before it grew cannot mark its
	// delivery Delivered after the reopening made it due again. It is
	// taken before mu.
	reopenMu sync.Mutex
	// reopened holds the attempts in flight when their session's
	// deliveries were reopened (guarded by reopenMu): what they deliver
	// is not the whole recording, so they end pending, not delivered.
	reopened map[deliveryKey]bool
}

// Store is the slice of the metadata store a Worker uses.
type Store interface {
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error)
	UpdateDelivery(ctx context.Context, d store.Delivery) error
	ReopenDeliveries(ctx context.Context, account, sessionID string, now time.Time) error
	GetSession(ctx context.Context, id string) (store.Session, error)
}

// Deps are what a Worker works with, passed in rather than reached
// through a server, so that the pipeline that carries the
// "nothing is lost" promise can be built, and tested, with only these.
type Deps struct {
	Store Store
	Now   func() time.Time
	Logf  logger.Logf
	// S3 is the S3 destination; nil: none is configured.
	S3 S3Destination
	// LogDestination resolves a log-group destination by name
	// ("cloudwatch", "logs", OwnLogs); EnsureOwnLogGroup creates an
	// account's own log group if it is missing.
	LogDestination    func(name string) (CloudWatchDestination, error)
	EnsureOwnLogGroup func(ctx context.Context, account string) error
	// JournalPath and JournalKey find a session's journal and its key.
	JournalPath func(account, id string) string
	JournalKey  func(ctx context.Context, account, id string) (cipher.AEAD, error)
	// FetchJournal brings the journal at JournalPath up to what object
	// storage holds, before a delivery reads it: the session may have
	// run on another server sharing the database (whose disk this one
	// cannot read), or been handed over from here. nil: journals are
	// only ever local.
	FetchJournal func(ctx context.Context, account, id string) error
	// EnvelopeWriter seals an artifact for client-side encryption.
	EnvelopeWriter func(ctx context.Context, w io.Writer, dl store.Delivery) (*envelope.Writer, error)
	// Commands is told of the command events a stream delivered (their
	// JSON), once they are; nil: nobody. A stream run again tells again.
	Commands func(dl store.Delivery, events []string)
	// ArchiveEnvelope seals an archive copy with the archive's key.
	ArchiveEnvelope func(ctx context.Context, w io.Writer, dl store.Delivery, t ArchiveTarget) (*envelope.Writer, error)
	// SessionEnded reports whether a session has ended (its journal
	// holds all there will be); OutputSoFar how much a running session
	// has printed, if it runs here.
	SessionEnded func(ctx context.Context, id string) bool
	OutputSoFar  func(id string) (uint64, bool)
	// Changed says the outbox's contents changed; Delivered counts an
	// attempt's result; Streamed observes a streamed line's latency.
	Changed   func()
	Delivered func(destination, artifact, result string)
	Streamed  func(destination string, latency time.Duration)
	// Limits bound what streams send (zero: DefaultStreamLimits).
	Limits StreamLimits
	// NodeName names a node in a desktop recording's metadata; nil: the
	// metadata has the node's id only.
	NodeName func(ctx context.Context, id string) string
}

type deliveryKey struct{ account, session, destination, artifact string }

func keyOf(d store.Delivery) deliveryKey {
	return deliveryKey{d.Account, d.SessionID, d.Destination, d.Artifact}
}

// New returns a Worker; Run makes it work. Logf and the callbacks may be
// nil.
func New(deps Deps) *Worker {
	deps.Limits = deps.Limits.withDefaults()
	// The callbacks a test of one part may leave out.
	if deps.Logf == nil {
		deps.Logf = logger.Discard
	}
	if deps.Changed == nil {
		deps.Changed = func() {}
	}
	if deps.Delivered == nil {
		deps.Delivered = func(string, string, string) {}
	}
	if deps.Streamed == nil {
		deps.Streamed = func(string, time.Duration) {}
	}
	return &Worker{Deps: deps, pollErr: logger.Throttled(deps.Logf, time.Minute), wake: make(chan struct{}, 1), active: map[deliveryKey]bool{}, doneGen: map[deliveryKey]uint64{}, reopened: map[deliveryKey]bool{}}
}

// Kick makes the worker look for due work now.
func (d *Worker) Kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (d *Worker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(deliverPoll)
	defer t.Stop()
	for {
		// Running attempts (streams last as long as their sessions) are
		// due too; ask for enough that they cannot crowd out new work.
		d.mu.Lock()
		running, queried := len(d.active), d.gen
		d.mu.Unlock()
		due, err := d.Store.DueDeliveries(ctx, d.Now(), 32+running)
		if err != nil && ctx.Err() == nil {
			d.pollErr("server: outbox: %v", err)
		}
		for _, dl := range due {
			k := keyOf(dl)
			d.mu.Lock()
			// Busy, or finished since the query began: what the query
			// saw of it is stale.
			busy := d.active[k] || d.doneGen[k] > queried
			if !busy {
				d.active[k] = true
			}
			d.mu.Unlock()
			if busy {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.attempt(ctx, dl) // forgets k in active when done
				d.Kick()           // the next one may be due
			}()
		}
		// The next query begins after every attempt finished so far:
		// none of them can make what it returns stale.
		d.mu.Lock()
		clear(d.doneGen)
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-t.C:
		}
	}
}

// attempt tries one delivery and records the outcome.
func (d *Worker) attempt(ctx context.Context, dl store.Delivery) {
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
	now := d.Now()
	dl.Attempts++
	dl.UpdatedAt = now
	result := "delivered"
	if err != nil {
		result = "failed"
	}
	d.Delivered(dl.Destination, dl.Artifact, result)
	if err != nil {
		dl.Status, dl.LastError = store.DeliveryFailing, err.Error()
		dl.NextAttempt = now.Add(backoff(dl.Attempts))
		d.Logf("server: session %s: delivering its %s to %s (attempt %d): %v; retrying at %s",
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
	if err := d.Store.UpdateDelivery(context.WithoutCancel(ctx), dl); err != nil {
		d.Logf("server: session %s: recording delivery state: %v", dl.SessionID, err)
	}
	// No longer in flight: under reopenMu, so that reopen either sees it
	// in flight or finds its outcome in the store.
	d.mu.Lock()
	delete(d.active, k)
	d.gen++
	d.doneGen[k] = d.gen
	d.mu.Unlock()
	d.reopenMu.Unlock()
	d.Changed()
}

// Reopen makes a session's released deliveries due again, because its
// recording grew after it ended (late output): S3 objects and built-in
// transcripts are written again whole, streams go on from their cursor.
// Attempts in flight finish as they are and are then done again.
func (d *Worker) Reopen(ctx context.Context, account, sessionID string) error {
	d.reopenMu.Lock()
	d.mu.Lock()
	for k := range d.active {
		if k.account == account && k.session == sessionID {
			d.reopened[k] = true
		}
	}
	d.mu.Unlock()
	err := d.Store.ReopenDeliveries(ctx, account, sessionID, d.Now())
	d.reopenMu.Unlock()
	if err != nil {
		return err
	}
	d.Changed()
	d.Kick()
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
func (d *Worker) deliver(ctx context.Context, dl *store.Delivery) (string, int64, error) {
	if d.FetchJournal != nil {
		if err := d.FetchJournal(ctx, dl.Account, dl.SessionID); err != nil {
			return "", 0, err
		}
	}
	if dl.Artifact == "events" {
		dest, err := d.LogDestination(dl.Destination)
		if err != nil {
			return "", 0, err
		}
		if dl.Destination == OwnLogs {
			// It may have failed at the session's start, or an
			// administrator may have deleted it since.
			if err := d.EnsureOwnLogGroup(ctx, dl.Account); err != nil {
				return "", 0, err
			}
		}
		t, err := LogTarget(*dl)
		if err != nil {
			return "", 0, err
		}
		if err := d.Stream(ctx, dl, dest, t); err != nil {
			return "", 0, err
		}
		return LogLocation(*dl, t), 0, nil
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
	render := func(upload func(io.Reader) error) (int64, error) { return d.render(ctx, *dl, nil, upload) }
	var loc string
	switch dl.Destination {
	case "s3":
		if d.S3 == nil {
			return "", 0, errors.New("this server has no S3 destination configured")
		}
		var t S3Target
		if err := json.Unmarshal([]byte(dl.Target), &t); err != nil {
			return "", 0, fmt.Errorf("delivery target: %w", err)
		}
		var seal sealer
		if t.ClientSide {
			contentType = "application/octet-stream"
			seal = func(ctx context.Context, w io.Writer) (*envelope.Writer, error) { return d.EnvelopeWriter(ctx, w, *dl) }
		}
		n, err := d.render(ctx, *dl, seal, func(body io.Reader) (err error) {
			loc, err = d.S3.Put(ctx, t, dl.SessionID+"."+dl.Artifact, contentType, body)
			return err
		})
		return loc, n, err
	case ArchiveDestination:
		// An organization's archive copy: in its bucket, under the
		// account and the session's start day, always sealed with the
		// archive's key.
		if d.S3 == nil {
			return "", 0, errors.New("this server has no S3 destination configured, which the organization's archive needs")
		}
		if d.ArchiveEnvelope == nil {
			return "", 0, errors.New("this server has no key service, which the organization's archive needs")
		}
		var t ArchiveTarget
		if err := json.Unmarshal([]byte(dl.Target), &t); err != nil {
			return "", 0, fmt.Errorf("delivery target: %w", err)
		}
		sess, err := d.Store.GetSession(ctx, dl.SessionID)
		if err != nil {
			return "", 0, err
		}
		st := S3Target{Bucket: t.Bucket, Prefix: t.ObjectPrefix(dl.Account, sess.StartedAt)}
		n, err := d.render(ctx, *dl, func(ctx context.Context, w io.Writer) (*envelope.Writer, error) {
			return d.ArchiveEnvelope(ctx, w, *dl, t)
		},
			func(body io.Reader) (err error) {
				loc, err = d.S3.Put(ctx, st, dl.SessionID+"."+dl.Artifact, "application/octet-stream", body)
				return err
			})
		return loc, n, err
	case "cloudwatch", "logs", OwnLogs:
		dest, err := d.LogDestination(dl.Destination)
		if err != nil {
			return "", 0, err
		}
		t, err := LogTarget(*dl)
		if err != nil {
			return "", 0, err
		}
		sess, err := d.Store.GetSession(ctx, dl.SessionID)
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
func (d *Worker) render(ctx context.Context, dl store.Delivery, seal sealer, upload func(io.Reader) error) (int64, error) {
	jpath := d.JournalPath(dl.Account, dl.SessionID)
	pr, pw := io.Pipe()
	cw := &countingWriter{w: pw}
	rendered := make(chan struct{})
	go func() {
		defer close(rendered)
		key, err := d.JournalKey(ctx, dl.Account, dl.SessionID)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		out := io.Writer(cw)
		var env *envelope.Writer
		if seal != nil {
			if env, err = seal(ctx, cw); err != nil {
				pw.CloseWithError(err)
				return
			}
			out = env
		}
		switch dl.Artifact {
		case "guac":
			_, err = recording.RenderGuac(jpath, key, out)
		case "json":
			err = d.renderDesktopMetadata(ctx, dl, jpath, key, out)
		case "cast":
			err = recording.RenderJournal(jpath, key, out, nil)
		default:
			err = recording.RenderJournal(jpath, key, nil, out)
		}
		if err == nil && env != nil {
			err = env.Close()
		}
		pw.CloseWithError(err)
	}()
	err := upload(pr)
	pr.CloseWithError(errors.New("upload ended")) // stops the renderer if the upload gave up early
	// The renderer is done writing, and cw.n is its count, only once it
	// has returned: an upload that gave up early returns first.
	<-rendered
	return cw.n, err
}

// sealer starts an artifact's envelope on w (client-side encryption).
type sealer func(ctx context.Context, w io.Writer) (*envelope.Writer, error)

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// logTarget decodes a log-group delivery's target.
func LogTarget(d store.Delivery) (CloudWatchTarget, error) {
	var t CloudWatchTarget
	if err := json.Unmarshal([]byte(d.Target), &t); err != nil {
		return t, fmt.Errorf("delivery target: %w", err)
	}
	t.Account = d.Account
	return t, nil
}

// logLocation names a session's log stream in its log group.
func LogLocation(d store.Delivery, t CloudWatchTarget) string {
	scheme := "cloudwatch"
	if d.Destination == "logs" || d.Destination == OwnLogs {
		scheme = "postern-logs"
	}
	return scheme + "://" + t.LogGroup + "/" + d.SessionID
}
