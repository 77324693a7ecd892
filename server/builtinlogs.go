package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/postern/postern/subscriptions"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/postern/postern/delivery"
	"github.com/postern/postern/keys"
	"github.com/postern/postern/logstore"
)

// LogStore is Postern's own store of log groups (package logstore): the
// destination of preferences that name a log group when no CloudWatch Logs
// is configured, with the same semantics.
type LogStore interface {
	CreateGroup(ctx context.Context, g logstore.Group) error
	Group(ctx context.Context, account, name string) (logstore.Group, error)
	Sealing(ctx context.Context, account, name string) (kmsKeyID string, sealed bool, err error)
	Groups(ctx context.Context, account string) ([]logstore.Group, error)
	DeleteGroup(ctx context.Context, account, name string) error
	SetRetention(ctx context.Context, account, name string, days int) error
	PutEvents(ctx context.Context, account, group, stream string, events []logstore.Event) error
	ReplaceStream(ctx context.Context, account, group, stream string, events []logstore.Event) error
	Streams(ctx context.Context, account, group string) ([]logstore.Stream, error)
	Events(ctx context.Context, account, group, stream string, after int64, limit int) ([]logstore.Event, error)
	EventsBefore(ctx context.Context, account, group, stream string, before int64, limit int) ([]logstore.Event, error)
	GroupEvents(ctx context.Context, account, group string, after int64, limit int) ([]logstore.Event, error)
	ReadGroup(ctx context.Context, account, group string, opts logstore.ReadOptions) *logstore.GroupReader
	FirstEventSince(ctx context.Context, account, group string, since time.Time) (int64, error)
	ExpireEvents(ctx context.Context) (int64, error)
	DeleteStreams(ctx context.Context, account, stream string) (int, error)
	PutMetricFilter(ctx context.Context, f logstore.MetricFilter) error
	DeleteMetricFilter(ctx context.Context, account, group, name string) error
	MetricFilters(ctx context.Context, account string) ([]logstore.MetricFilter, error)
	subscriptions.LogStore
}

// builtinLogs delivers to the built-in log store as CloudWatch Logs would:
// the same checks, the same streams and events.
type builtinLogs struct {
	ls LogStore
	s  *Server // tails to wake, metric filters to count
}

// took tells the server that events arrived in a group.
func (b builtinLogs) took(t CloudWatchTarget, events []logstore.Event) {
	msgs := make([]string, len(events))
	for i, e := range events {
		msgs[i] = e.Message
	}
	b.s.metricFilters.observe(t.Account, t.LogGroup, msgs)
	b.s.logSignal.notify()
}

func (b builtinLogs) Check(ctx context.Context, t CloudWatchTarget) error {
	g, err := b.ls.Group(ctx, t.Account, t.LogGroup)
	if errors.Is(err, logstore.ErrNotFound) {
		return fmt.Errorf("we couldn't start the session because the log group %s (cloudWatchLogGroupName) does not exist in Postern's built-in log store. Create it (postern logs groups create %s), or correct cloudWatchLogGroupName", t.LogGroup, t.LogGroup)
	}
	if err != nil {
		return fmt.Errorf("we couldn't start the session because the built-in log store could not be read: %w", err)
	}
	if t.RequireEncryption && g.KMSKeyID == "" {
		return fmt.Errorf("we couldn't start the session because encryption is not set up on the selected log group %s. Either encrypt the log group or choose an option to enable logging without encryption", t.LogGroup)
	}
	// The group's key must still serve it: not disabled, not pending
	// deletion, and still allowed for this group by its policy. The log
	// store keeps a group's key once it has it, so sessions already
	// running go on; a new one would record what cannot be read back.
	if ks := b.s.cfg.Keys; t.RequireEncryption && ks != nil {
		logs := keys.Caller{Account: t.Account, Service: keys.LogsService}
		if _, _, err := ks.GenerateDataKey(ctx, logs, g.KMSKeyID, keys.LogGroupContext(t.Account, t.LogGroup)); err != nil {
			return fmt.Errorf("we couldn't start the session because the key %s of the log group %s cannot encrypt it: %w", g.KMSKeyID, t.LogGroup, err)
		}
	}
	return nil
}

// transcriptBatch bounds the transcript PutTranscript holds at once, so
// that delivering the transcript of a session that printed gigabytes
// costs what delivering a small one does.
const transcriptBatch = 1 << 20

// PutTranscript stores the transcript's lines as the stream's events,
// replacing what an earlier attempt stored, so a retry never doubles it.
// It reads and stores in batches: the first replaces the stream, the rest
// append, so memory stays bounded whatever the transcript's size (a
// reader may see the stream half written while a delivery runs, as it
// may see a CloudWatch Logs stream). A line longer than an event may be
// is cut into several, at character boundaries.
func (b builtinLogs) PutTranscript(ctx context.Context, t CloudWatchTarget, stream string, at time.Time, body io.Reader) (string, error) {
	var batch []logstore.Event
	size, replaced := 0, false
	flush := func() error {
		var err error
		if replaced {
			err = b.ls.PutEvents(ctx, t.Account, t.LogGroup, stream, batch)
		} else {
			err = b.ls.ReplaceStream(ctx, t.Account, t.LogGroup, stream, batch)
		}
		if err != nil {
			return err
		}
		b.took(t, batch)
		replaced, batch, size = true, batch[:0], 0
		return nil
	}
	add := func(msg string) error {
		batch = append(batch, logstore.Event{Time: at, Message: msg})
		if size += len(msg); size >= transcriptBatch {
			return flush()
		}
		return nil
	}
	// Room for a character carried over from the last piece.
	br := bufio.NewReaderSize(body, logstore.MaxMessageBytes-utf8.UTFMax)
	var carry []byte // the start of a character cut off the last piece
	partial := false // pieces of the current line went out already
	for {
		chunk, err := br.ReadSlice('\n')
		piece := append(carry, chunk...)
		carry = nil
		switch {
		case err == bufio.ErrBufferFull:
			// A line longer than an event: out goes what fits, cut at a
			// character boundary.
			cut := len(piece)
			for i := len(piece) - 1; i >= 0 && i >= len(piece)-utf8.UTFMax; i-- {
				if utf8.RuneStart(piece[i]) {
					if !utf8.FullRune(piece[i:]) {
						cut = i
					}
					break
				}
			}
			carry = append([]byte(nil), piece[cut:]...)
			if cut > 0 {
				if err := add(string(piece[:cut])); err != nil {
					return "", err
				}
				partial = true
			}
			continue
		case err != nil && err != io.EOF:
			return "", fmt.Errorf("reading the transcript: %w", err)
		}
		line := strings.TrimSuffix(string(piece), "\n")
		if line != "" || (err == nil && !partial) {
			for _, p := range splitMessage(line, logstore.MaxMessageBytes) {
				if err := add(p); err != nil {
					return "", err
				}
			}
		}
		partial = false
		if err == io.EOF {
			break
		}
	}
	if len(batch) > 0 || !replaced {
		if err := flush(); err != nil {
			return "", err
		}
	}
	return builtinLocation(t.LogGroup, stream), nil
}

func (b builtinLogs) PutEvents(ctx context.Context, t CloudWatchTarget, stream string, events []StreamEvent) error {
	evs := make([]logstore.Event, len(events))
	for i, e := range events {
		evs[i] = logstore.Event{Time: e.Time, Message: e.Message}
	}
	if err := b.ls.PutEvents(ctx, t.Account, t.LogGroup, stream, evs); err != nil {
		return err
	}
	b.took(t, evs)
	return nil
}

// logSignal wakes the tails waiting for new events in the log store.
type logSignal struct {
	mu sync.Mutex    // guards ch
	ch chan struct{} // closed when events arrive; nil until someone waits
}

// wait returns a channel closed when events next arrive.
func (s *logSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *logSignal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// builtinLocation names a stream of the built-in log store, as logLocation
// does.
func builtinLocation(group, stream string) string {
	return "postern-logs://" + group + "/" + stream
}

// splitMessage cuts s into pieces of at most max bytes, not inside a
// character; an empty s is one empty piece.
func splitMessage(s string, max int) []string {
	if len(s) <= max {
		return []string{s}
	}
	var out []string
	for len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 {
			cut = max
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// expireLogs enforces the log groups' retention every interval until ctx
// ends (the server stops, or another holds the lease).
func (s *Server) expireLogs(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.cfg.LogStore.ExpireEvents(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.logf("server: log store retention: %v", err)
		case n > 0:
			s.logf("server: log store retention: %d events past their group's retention deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// OwnLogGroup is the built-in log group every session streams to: its
// Session Manager events and its command events, for tail and queries.
const OwnLogGroup = "/postern/sessions"

// ownLogs is the deliveries' name for the stream to OwnLogGroup (apart
// from "logs", a built-in group the preferences name).
const ownLogs = delivery.OwnLogs

// ensureOwnLogGroup creates the account's OwnLogGroup if it does not exist
// yet (never expiring: an administrator sets a retention).
func (s *Server) ensureOwnLogGroup(ctx context.Context, account string) error {
	return s.ensureGroup(ctx, account, OwnLogGroup)
}

// ensureGroup creates one of Postern's own groups of the account if it is
// missing.
func (s *Server) ensureGroup(ctx context.Context, account, name string) error {
	_, err := s.cfg.LogStore.Group(ctx, account, name)
	if !errors.Is(err, logstore.ErrNotFound) {
		return err
	}
	err = s.cfg.LogStore.CreateGroup(ctx, logstore.Group{Account: account, Name: name, CreatedAt: s.now()})
	if errors.Is(err, logstore.ErrExists) {
		return nil // created meanwhile
	}
	return err
}
