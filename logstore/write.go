package logstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
)

// Writing events. Every write of PutEvents goes through one writer
// goroutine, which takes whatever writes are waiting when it is free and
// commits them in one transaction, each in a savepoint of its own so that
// one refused (its group gone, its context ended) leaves the others in. A
// fleet's sessions each stream a batch of lines every half second; one
// transaction each cost a commit (WAL frames for the same few pages: the
// events' last page, their indexes', the streams') and a round of
// statement setup apiece. ReplaceStream, rare and large, writes alone.

// writeReq is one write waiting for the writer.
type writeReq struct {
	ctx                    context.Context
	account, group, stream string
	events                 []Event
	msgs                   []string // the events' messages, checked
	bytes                  int64
	replace                bool
	done                   chan error // the write's result, once
	groupID, streamID      int64      // set by insert
}

// maxWriteBatch bounds the writes one transaction takes.
const maxWriteBatch = 128

// rowsPerInsert is how many events one INSERT statement takes: each
// statement costs as much as a few dozen rows do.
const rowsPerInsert = 64

// write is PutEvents, or ReplaceStream if replace.
func (s *Store) write(ctx context.Context, account, group, stream string, events []Event, replace bool) error {
	if err := checkStreamName(stream); err != nil {
		return err
	}
	w := &writeReq{ctx: ctx, account: account, group: group, stream: stream, events: events, replace: replace, msgs: make([]string, len(events))}
	for i, e := range events {
		if e.Time.IsZero() {
			return invalidf("event %d: Time is zero", i)
		}
		m := strings.ToValidUTF8(e.Message, "\uFFFD")
		if len(m) > MaxMessageBytes {
			return invalidf("event %d: message is %d bytes, more than MaxMessageBytes (%d)", i, len(m), MaxMessageBytes)
		}
		w.msgs[i] = m
		w.bytes += int64(len(m))
	}
	if len(events) == 0 && !replace {
		return nil
	}
	if replace {
		return s.commitWrites(ctx, []*writeReq{w})[0]
	}
	w.done = make(chan error, 1)
	select {
	case s.writes <- w:
	case <-s.writerStop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		// The writer still answers, into done's buffer; whether the
		// events went in is not known to this caller.
		return ctx.Err()
	}
}

var errClosed = errors.New("the log store is closed")

// writer commits the writes PutEvents queues, in batches, until Close.
func (s *Store) writer() {
	defer close(s.writerDone)
	for {
		var batch []*writeReq
		select {
		case w := <-s.writes:
			batch = append(batch, w)
		case <-s.writerStop:
			return
		}
	more:
		for len(batch) < maxWriteBatch {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break more
			}
		}
		for i, err := range s.commitWrites(context.Background(), batch) {
			batch[i].done <- err
		}
	}
}

// commitWrites writes ws in one transaction, each in a savepoint, and
// returns each one's result.
func (s *Store) commitWrites(ctx context.Context, ws []*writeReq) []error {
	errs := make([]error, len(ws))
	fail := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	// Prepared before the transaction takes the connection (see stmt).
	queries := []string{lookupGroupSQL, upsertStreamSQL(false), upsertStreamSQL(true), `SAVEPOINT w`, `RELEASE w`, `ROLLBACK TO w`}
	for _, w := range ws {
		if len(w.events) >= rowsPerInsert {
			queries = append(queries, insertEventsSQL(rowsPerInsert))
		}
		if n := len(w.events) % rowsPerInsert; n > 0 {
			queries = append(queries, insertEventsSQL(n))
		}
	}
	stmts := make(map[string]*sql.Stmt, len(queries))
	for _, q := range queries {
		if stmts[q] != nil {
			continue
		}
		st, err := s.stmt(ctx, q)
		if err != nil {
			return fail(err)
		}
		stmts[q] = st
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if tx.d.postgres {
		// The batch's groups, locked in one order (account, then
		// name), so that two servers' batches wait for each other
		// rather than deadlock. A group not found fails its write
		// below.
		groups := make([][2]string, 0, len(ws))
		for _, w := range ws {
			groups = append(groups, [2]string{w.account, w.group})
		}
		slices.SortFunc(groups, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
		for _, g := range slices.Compact(groups) {
			if _, err := lockGroup(ctx, tx, g[0], g[1]); err != nil && !errors.Is(err, ErrNotFound) {
				return fail(err)
			}
		}
	}
	in := func(q string) *sql.Stmt { return tx.StmtContext(ctx, stmts[q]) }
	now := s.now().UnixMilli()
	for i, w := range ws {
		if err := w.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := in(`SAVEPOINT w`).ExecContext(ctx); err != nil {
			return fail(err)
		}
		errs[i] = s.insert(w.ctx, tx, in, w, now)
		if errs[i] != nil {
			if _, err := in(`ROLLBACK TO w`).ExecContext(ctx); err != nil {
				return fail(err)
			}
		}
		if _, err := in(`RELEASE w`).ExecContext(ctx); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	for i, w := range ws {
		if errs[i] == nil {
			s.noteWritten(w.groupID, len(w.events))
		}
	}
	return errs
}

// insert writes w's events in the transaction tx, whose prepared
// statements in returns.
func (s *Store) insert(ctx context.Context, tx *tx, in func(string) *sql.Stmt, w *writeReq, now int64) error {
	var ingested any // NULL keeps the stream's last_ingested
	if len(w.events) > 0 {
		ingested = now
	}
	groupID, err := scanGroupID(in(lookupGroupSQL).QueryRowContext(ctx, w.account, w.group), w.group)
	if err != nil {
		return err
	}
	aead, err := s.sealer(ctx, tx, groupID)
	if err != nil {
		return err
	}
	var streamID int64
	if err = in(upsertStreamSQL(w.replace)).QueryRowContext(ctx, groupID, w.stream, ingested, len(w.events), w.bytes).Scan(&streamID); err != nil {
		return err
	}
	if w.replace {
		if _, err := tx.ExecContext(ctx, `DELETE FROM log_events WHERE stream_id = ?`, streamID); err != nil {
			return err
		}
	}
	args := make([]any, 0, 6*min(len(w.events), rowsPerInsert))
	for i := 0; i < len(w.events); i += rowsPerInsert {
		n := min(rowsPerInsert, len(w.events)-i)
		args = args[:0]
		for j := i; j < i+n; j++ {
			if aead != nil {
				args = append(args, streamID, groupID, w.events[j].Time.UnixMilli(), now, tx.d.message(""), seal(aead, "event", groupID, []byte(w.msgs[j])))
			} else {
				args = append(args, streamID, groupID, w.events[j].Time.UnixMilli(), now, tx.d.message(w.msgs[j]), nil)
			}
		}
		if _, err := in(insertEventsSQL(n)).ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	w.groupID, w.streamID = groupID, streamID
	return nil
}

// upsertStreamSQL creates a stream or counts what is added to it (or, to
// replace its events, counts anew), returning its id.
func upsertStreamSQL(replace bool) string {
	// Qualified: PostgreSQL takes a bare column here for ambiguous.
	counts := `events = log_streams.events + excluded.events, stored_bytes = log_streams.stored_bytes + excluded.stored_bytes`
	if replace {
		counts = `events = excluded.events, stored_bytes = excluded.stored_bytes`
	}
	return `
		INSERT INTO log_streams (group_id, name, last_ingested, events, stored_bytes)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (group_id, name) DO UPDATE SET
			last_ingested = COALESCE(excluded.last_ingested, log_streams.last_ingested), ` + counts + `
		RETURNING id`
}

// insertEventsSQL inserts n events.
func insertEventsSQL(n int) string {
	return `INSERT INTO log_events (stream_id, group_id, time, ingested, message, sealed) VALUES (?, ?, ?, ?, ?, ?)` +
		strings.Repeat(`, (?, ?, ?, ?, ?, ?)`, n-1)
}
