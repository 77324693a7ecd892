package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
)

// StreamEvent is one CloudWatch Logs event of a streamed session.
type StreamEvent struct {
	Time    time.Time
	Message string
}

// streamFlush is how often a streamed session's new lines are sent:
// Session Manager's users expect them within a second or two.
const streamFlush = 500 * time.Millisecond

// cursorEvery is how often a streamed session's position is stored.
const cursorEvery = 5 * time.Second

// StreamLimits bound what a stream sends; zero fields take the defaults
// (DefaultStreamLimits).
type StreamLimits struct {
	// MaxEvent bounds one event's JSON; lines beyond it go in the next
	// event. Well under the service's 256 KiB (older) and 1 MiB limits.
	MaxEvent int
	// OwnLogsBudget is how much output a session's stream to Postern's
	// own log store renders per flush: 1 MiB/s, more than people read,
	// far less than a bulk transfer.
	OwnLogsBudget int
	// OwnLogsBusy is the output per flush above which a session's
	// own-log stream waits for the burst to end (2 MB/s).
	OwnLogsBusy int
	// OwnLogsMaxOutput is how much of a session's output its stream to
	// Postern's own log store indexes.
	OwnLogsMaxOutput int64
}

// DefaultStreamLimits are the limits a zero StreamLimits takes.
var DefaultStreamLimits = StreamLimits{MaxEvent: 200 << 10, OwnLogsBudget: 512 << 10, OwnLogsBusy: 1 << 20, OwnLogsMaxOutput: 64 << 20}

func (l StreamLimits) withDefaults() StreamLimits {
	d := DefaultStreamLimits
	if l.MaxEvent > 0 {
		d.MaxEvent = l.MaxEvent
	}
	if l.OwnLogsBudget > 0 {
		d.OwnLogsBudget = l.OwnLogsBudget
	}
	if l.OwnLogsBusy > 0 {
		d.OwnLogsBusy = l.OwnLogsBusy
	}
	if l.OwnLogsMaxOutput > 0 {
		d.OwnLogsMaxOutput = l.OwnLogsMaxOutput
	}
	return d
}

// SessionEvent is Session Manager's streamed event (DESIGN.md §4).
type SessionEvent struct {
	EventVersion string `json:"eventVersion"`
	EventTime    string `json:"eventTime"`
	AWSRegion    string `json:"awsRegion"`
	Target       struct {
		ID string `json:"id"`
	} `json:"target"`
	UserIdentity struct {
		ARN string `json:"arn"`
	} `json:"userIdentity"`
	RunAsUser   string   `json:"runAsUser"`
	SessionID   string   `json:"sessionId"`
	SessionData []string `json:"sessionData"`
}

// commandEvent is Postern's per-command event, streamed beside Session
// Manager's: one per command an integrated shell ran, or line entered at a
// prompt without integration (recording.Command), with who ran it where,
// and where it starts in the .cast.
type commandEvent struct {
	EventVersion string `json:"eventVersion"`
	EventType    string `json:"eventType"` // "Command"
	EventTime    string `json:"eventTime"` // when the command started
	AWSRegion    string `json:"awsRegion"`
	Target       struct {
		ID string `json:"id"`
	} `json:"target"`
	UserIdentity struct {
		ARN string `json:"arn"`
	} `json:"userIdentity"`
	RunAsUser  string  `json:"runAsUser"`
	SessionID  string  `json:"sessionId"`
	Command    string  `json:"command"`
	ExitCode   *int    `json:"exitCode,omitempty"`   // absent: the shell never said
	DurationMS *int64  `json:"durationMs,omitempty"` // absent: a line read off the terminal
	CastOffset float64 `json:"castOffset"`           // seconds into the .cast
	// Prompt is what the line was typed after, for a line read off the
	// terminal (no integration): it often says who ran it, and where.
	Prompt string `json:"prompt,omitempty"`
}

// newCommandEvent describes c of the session ev streams.
func newCommandEvent(ev *SessionEvent, started time.Time, c recording.Command) commandEvent {
	ce := commandEvent{
		EventVersion: "1.0", EventType: "Command", AWSRegion: ev.AWSRegion,
		EventTime: started.Add(c.Start).UTC().Format(time.RFC3339Nano),
		RunAsUser: ev.RunAsUser, SessionID: ev.SessionID, Command: c.Line,
		CastOffset: c.Start.Seconds(), Prompt: c.Prompt,
	}
	ce.Target.ID, ce.UserIdentity.ARN = ev.Target.ID, ev.UserIdentity.ARN
	if !c.LineOnly {
		ms := c.Duration.Milliseconds()
		ce.DurationMS = &ms
	}
	if c.HasExit {
		code := c.ExitCode
		ce.ExitCode = &code
	}
	return ce
}

// connectionEvent is Postern's per-connection event of a port session,
// streamed as Session Manager's events are: one as a forwarded connection
// opens and one as it closes (recording.Connection), so that queries and
// metric filters can find who connected from where to what, when, how much
// went each way and why it closed.
type connectionEvent struct {
	EventVersion string `json:"eventVersion"`
	EventType    string `json:"eventType"` // recording.ConnectionOpened or ConnectionClosed
	EventTime    string `json:"eventTime"` // when it opened, or closed
	AWSRegion    string `json:"awsRegion"`
	Target       struct {
		ID string `json:"id"`
	} `json:"target"`
	UserIdentity struct {
		ARN string `json:"arn"`
	} `json:"userIdentity"`
	SessionID     string `json:"sessionId"`
	ConnectionID  int    `json:"connectionId"`
	ClientAddress string `json:"clientAddress"`
	TargetHost    string `json:"targetHost"`
	TargetPort    int    `json:"targetPort"`
	StartTime     string `json:"startTime"`
	// The rest once it closed; the byte counts are absent when they are
	// not known (recording.Connection.BytesUnknown).
	EndTime         string `json:"endTime,omitempty"`
	DurationMS      *int64 `json:"durationMs,omitempty"`
	BytesFromClient *int64 `json:"bytesFromClient,omitempty"`
	BytesFromTarget *int64 `json:"bytesFromTarget,omitempty"`
	CloseReason     string `json:"closeReason,omitempty"`
	Detail          string `json:"detail,omitempty"`
}

// newConnectionEvent describes c of the session ev streams.
func newConnectionEvent(ev *SessionEvent, c recording.Connection) connectionEvent {
	ce := connectionEvent{
		EventVersion: "1.0", EventType: c.Event, AWSRegion: ev.AWSRegion, SessionID: ev.SessionID,
		EventTime: c.Start.UTC().Format(time.RFC3339Nano), StartTime: c.Start.UTC().Format(time.RFC3339Nano),
		ConnectionID: c.ID, ClientAddress: c.Client, TargetHost: c.Host, TargetPort: c.Port,
	}
	ce.Target.ID, ce.UserIdentity.ARN = ev.Target.ID, ev.UserIdentity.ARN
	if c.Event == recording.ConnectionClosed {
		ce.EventTime = c.End.UTC().Format(time.RFC3339Nano)
		ce.EndTime = ce.EventTime
		ms := c.End.Sub(c.Start).Milliseconds()
		ce.DurationMS = &ms
		if !c.BytesUnknown {
			in, out := c.BytesFromClient, c.BytesFromTarget
			ce.BytesFromClient, ce.BytesFromTarget = &in, &out
		}
		ce.CloseReason, ce.Detail = c.CloseReason, c.Detail
	}
	return ce
}

// lineSink collects the lines a TextRenderer writes.
type lineSink struct {
	lines   []string
	discard bool
}

func (l *lineSink) Write(p []byte) (int, error) {
	if !l.discard {
		for _, line := range bytes.SplitAfter(p, []byte("\n")) {
			if len(line) > 0 {
				l.lines = append(l.lines, string(bytes.TrimSuffix(line, []byte("\n"))))
			}
		}
	}
	return len(p), nil
}

// Stream follows a running session's journal and sends its transcript to
// CloudWatch Logs as Session Manager's events, a batch of lines at a time,
// until the session has ended and everything is sent. The journal is the
// spool: the delivery's cursor says which records the log group has, so a
// restart or an outage resumes exactly there (the transcript up to the
// cursor is rendered again, unsent, to rebuild the terminal's state).
// Lines sent in the last cursorEvery before the server dies may be sent
// twice; none is lost.
func (d *Worker) Stream(ctx context.Context, dl *store.Delivery, dest CloudWatchDestination, t CloudWatchTarget) error {
	sess, err := d.Store.GetSession(ctx, dl.SessionID)
	if err != nil {
		return err
	}
	key, err := d.JournalKey(ctx, dl.Account, dl.SessionID)
	if err != nil {
		return err
	}
	jr, err := recording.ReadJournal(d.JournalPath(dl.Account, dl.SessionID), key)
	if err != nil {
		return err
	}
	defer jr.Close()
	sink := &lineSink{discard: dl.Cursor > 0}
	tr := recording.NewTextRenderer(sink, jr.Meta().Width)
	// Commands of an integrated shell; none in a session without a
	// terminal.
	tracker := recording.NewCommandTracker(jr.Meta().Width)
	var cmds []recording.Command
	// A port session's connections opened or closed since the last
	// flush.
	var conns []recording.Connection
	var scratch []byte
	ev := SessionEvent{EventVersion: "1.0", AWSRegion: "local", SessionID: sess.ID, RunAsUser: sess.RunAsUser}
	ev.Target.ID = sess.Target
	ev.UserIdentity.ARN = "prn:postern:iam:" + sess.Account + ":user/" + sess.Owner

	var seq uint64 // last record fed to the renderer
	// oldest is when the oldest output not yet sent was printed on the
	// node (the session's start plus the record's time, which is the
	// agent's clock: skew between the two shows in the latency).
	var oldest time.Time
	tick := time.NewTicker(streamFlush)
	defer tick.Stop()
	// Postern's own log store takes every session, so a session that
	// prints hundreds of MB/s must not spend the relay's CPU on it: its
	// stream reads at most Limits.OwnLogsBudget of output per flush and catches
	// up from the journal after the burst.
	// It also indexes only the first Limits.OwnLogsMaxOutput of a session's
	// output (commands are followed to the end): searching a dump of
	// hundreds of MB is not what the store is for, and the recording
	// keeps all of it.
	budget, maxOutput := -1, int64(-1)
	if dl.Destination == OwnLogs {
		budget, maxOutput = d.Limits.OwnLogsBudget, d.Limits.OwnLogsMaxOutput
	}
	var cursorWritten time.Time // when dl.Cursor was last stored
	var rendered int64          // output fed to the renderer, resumed or not
	var lastOut uint64          // the session's output so far, at the last flush
	// A session relayed by another server sharing the database grows
	// here only by fetching its journal from object storage (deliver
	// fetched it first; for a session relayed here it is a no-op):
	// every streamFetchEvery while it runs, and once when it has ended,
	// when object storage holds all of it.
	fetchedAt, fetchedEnded := time.Now(), false
	for {
		ended := d.SessionEnded(ctx, dl.SessionID)
		if d.FetchJournal != nil && (ended && !fetchedEnded || time.Since(fetchedAt) >= streamFetchEvery) {
			if err := d.FetchJournal(ctx, dl.Account, dl.SessionID); err != nil {
				return err
			}
			fetchedAt, fetchedEnded = time.Now(), ended
		}
		if budget >= 0 && !ended {
			// While the session prints faster than anyone reads, its
			// own-log stream waits: on two cores, indexing beside a
			// bulk transfer delays everyone's keystrokes by tens of
			// ms. The journal keeps it all for when the burst ends.
			if out, ok := d.OutputSoFar(dl.SessionID); ok {
				busy := out-lastOut > uint64(d.Limits.OwnLogsBusy)
				lastOut = out
				if busy {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-tick.C:
					}
					continue
				}
			}
		}
		exited := false
		more, throttled := false, false // stopped before the journal's end
		read := 0
		for {
			rec, err := jr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			seq = rec.Seq
			switch rec.Kind {
			case recording.KindOutput, recording.KindStderr:
				if oldest.IsZero() && !sink.discard {
					oldest = sess.StartedAt.Add(rec.Time)
				}
				switch {
				case maxOutput >= 0 && rendered >= maxOutput:
					// Past the cap: not rendered, so not read either.
				case jr.Meta().Pipes:
					// No terminal turned "\n" into "\r\n"; the user's did.
					tr.Write(bytes.ReplaceAll(rec.Data, []byte("\n"), []byte("\r\n")))
				default:
					tr.Write(rec.Data)
				}
				if maxOutput >= 0 && rendered < maxOutput && rendered+int64(len(rec.Data)) >= maxOutput {
					tr.Flush()
					fmt.Fprintf(sink, "[postern: this session's output beyond %d MiB is not indexed here; its recording has all of it]\n", maxOutput>>20)
				}
				rendered += int64(len(rec.Data))
				if !jr.Meta().Pipes {
					var done []recording.Command
					scratch, done = tracker.Feed(scratch[:0], rec.Time, rec.Data)
					if !sink.discard {
						cmds = append(cmds, done...)
					}
				}
			case recording.KindTyped:
				// Where lines were started and entered: the tracker
				// reads them off the terminal where no integration
				// marks them.
				if !jr.Meta().Pipes {
					tracker.Typed(rec.Time, rec.Data)
				}
			case recording.KindConnection:
				c, err := recording.ParseConnection(rec.Data)
				if err != nil {
					// Only the server writes them: a bug, not input.
					d.Logf("server: session %s: record %d: %v; not streamed", dl.SessionID, rec.Seq, err)
				} else if !sink.discard {
					conns = append(conns, c)
				}
			case recording.KindResize:
				tr.Resize(rec.Cols)
				tracker.Resize(rec.Cols)
			case recording.KindExit:
				exited = true
				if !jr.Meta().Pipes {
					_, done := tracker.Close(nil, rec.Time)
					if !sink.discard {
						// Not when the exit was sent before (seq ==
						// dl.Cursor): a stream run again over a session
						// it finished must not send the command the exit
						// closed a second time.
						cmds = append(cmds, done...)
					}
				}
			}
			if seq == dl.Cursor {
				sink.discard = false // caught up with what was sent
			}
			if len(sink.lines) > 4096 || len(conns) > 4096 {
				more = true
				break // send what there is before reading on
			}
			if maxOutput < 0 || rendered <= maxOutput {
				read += len(rec.Data)
			}
			if budget >= 0 && read >= budget && !sink.discard {
				more, throttled = true, true
				break
			}
		}
		if seq < dl.Cursor {
			// The journal holds less than was sent: only a journal cut
			// back after a crash does that, and its records come again.
			if ended {
				return errors.New("the journal ends before what was already streamed")
			}
		}
		// The exit record is the last; a session that ended without one is
		// done once its journal is read to the end.
		done := exited || ended && !more
		if done {
			tr.Flush() // the last, unterminated line
		}
		if len(sink.lines) > 0 || len(cmds) > 0 || len(conns) > 0 || done {
			if ev.RunAsUser == "" {
				// Known once the node has started the session.
				if s, err := d.Store.GetSession(ctx, dl.SessionID); err == nil {
					ev.RunAsUser = s.RunAsUser
				}
			}
			var extra []string
			for _, c := range cmds {
				b, err := json.Marshal(newCommandEvent(&ev, sess.StartedAt, c))
				if err != nil {
					return err
				}
				extra = append(extra, string(b))
			}
			for _, c := range conns {
				b, err := json.Marshal(newConnectionEvent(&ev, c))
				if err != nil {
					return err
				}
				extra = append(extra, string(b))
			}
			if err := d.sendLines(ctx, dest, t, dl.SessionID, &ev, sink.lines, extra...); err != nil {
				return err
			}
			if d.Commands != nil && len(cmds) > 0 {
				d.Commands(*dl, extra[:len(cmds)])
			}
			cmds, conns = cmds[:0], conns[:0]
			if len(sink.lines) > 0 && !oldest.IsZero() {
				d.Streamed(dl.Destination, d.Now().Sub(oldest))
			}
			oldest = time.Time{}
			sink.lines = sink.lines[:0]
			if seq > dl.Cursor {
				dl.Cursor = seq
				// Written at most every cursorEvery (a write of the
				// metadata store per flush per session was a third of
				// streaming's cost): a restart sends again what was
				// sent since, as it does what was in flight.
				if done || time.Since(cursorWritten) >= cursorEvery {
					cursorWritten = time.Now()
					dl.UpdatedAt = d.Now()
					if err := d.Store.UpdateDelivery(context.WithoutCancel(ctx), *dl); err != nil {
						d.Logf("server: session %s: recording stream position: %v", dl.SessionID, err)
					}
				}
			}
		}
		if done {
			return nil
		}
		if more && !throttled {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// streamFetchEvery is how often a stream fetches the journal of a session
// running on another server: the lag of its events, and an object
// storage listing per such session each time.
const streamFetchEvery = 5 * time.Second

// sendLines sends lines as events of at most Limits.MaxEvent bytes each,
// then the extra events' messages (command and connection events), in one
// batch.
func (d *Worker) sendLines(ctx context.Context, dest CloudWatchDestination, t CloudWatchTarget, stream string, ev *SessionEvent, lines []string, extra ...string) error {
	var events []StreamEvent
	now := d.Now()
	ev.EventTime = now.UTC().Format(time.RFC3339)
	for len(lines) > 0 {
		n, size := 0, 512 // the event's fixed fields
		for n < len(lines) && (n == 0 || size+len(lines[n])+8 <= d.Limits.MaxEvent) {
			size += len(lines[n]) + 8 // quotes, comma, and room for escapes
			n++
		}
		batch := lines[:n]
		lines = lines[n:]
		if len(batch) == 1 && len(batch[0]) > d.Limits.MaxEvent {
			// One enormous line (output without newlines): cut it, not
			// inside a character.
			cut := d.Limits.MaxEvent
			for cut > 0 && !utf8.RuneStart(batch[0][cut]) {
				cut--
			}
			rest := batch[0][cut:]
			batch = []string{batch[0][:cut]}
			lines = append([]string{rest}, lines...)
		}
		ev.SessionData = batch
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		events = append(events, StreamEvent{Time: now, Message: string(b)})
	}
	// Stamped with the batch's time too: a batch must be in order, and
	// each command or connection event says when it happened.
	for _, m := range extra {
		events = append(events, StreamEvent{Time: now, Message: m})
	}
	if len(events) == 0 {
		return nil
	}
	return dest.PutEvents(ctx, t, stream, events)
}
