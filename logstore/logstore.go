// Package logstore is Postern's built-in log destination: log groups with
// CloudWatch Logs' semantics (a name, a retention in days, an optional KMS key
// id), each holding log streams of timestamped events, kept in an embedded
// SQLite database of their own. It lets a Session Manager preferences document
// that names cloudWatchLogGroupName work without AWS.
//
// Every group belongs to an account, and every method takes the account, so
// that one account never sees another's groups.
//
// The schema is kept plain so that search and queries can be built on it:
// all events are rows of one table, in insertion order, with their stream,
// their own time and their ingestion time in unix milliseconds, and the
// message text. A full-text index of each group (index.go, segment.go),
// written behind the writers, lets ReadGroup hand a query only the events
// holding its literals.
package logstore

import (
	"cmp"
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/postern/postern/lazyregexp"
	"github.com/postern/postern/logger"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors callers branch on. They come wrapped with context, so test with
// errors.Is.
var (
	ErrNotFound = errors.New("logstore: not found")
	ErrExists   = errors.New("logstore: already exists")
	// ErrInvalid is a name, retention or event the store refuses; the
	// error's text says which and what is allowed.
	ErrInvalid = errors.New("logstore: invalid")
)

// invalidError is a validation error: its own text, matching ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// MaxMessageBytes is the largest message an event may carry, in bytes of
// UTF-8: CloudWatch Logs' historical event size limit.
const MaxMessageBytes = 256 << 10

// defaultEventsLimit is how many events Events returns when not told.
const defaultEventsLimit = 10_000

const msPerDay = 24 * 60 * 60 * 1000

// validRetentionDays are the retentions CloudWatch Logs accepts
// (PutRetentionPolicy's retentionInDays). 0, never expire, is valid too.
var validRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Group is a log group.
type Group struct {
	Account       string
	Name          string // CloudWatch rules: 1-512 chars of [.\-_/#A-Za-z0-9]
	RetentionDays int    // 0: never expire; else one of CloudWatch's values (see SetRetention)
	KMSKeyID      string // empty: not encrypted with a key
	CreatedAt     time.Time
	StoredBytes   int64 // filled by Group/Groups: sum of message bytes stored
	IndexBytes    int64 // filled by Group/Groups: bytes of its full-text index
	Encrypted     bool  // filled by Group/Groups: its events are sealed at rest (seal.go)
}

// Stream is a log stream and what it holds.
type Stream struct {
	Name         string    // CloudWatch rules: 1-512 chars, no ':' or '*'
	FirstEvent   time.Time // earliest event Time held; zero if none
	LastEvent    time.Time // latest event Time held; zero if none
	LastIngested time.Time // when the store last took events for it; zero if never
	Events       int64
	StoredBytes  int64 // sum of message bytes held
}

// Event is a log event.
type Event struct {
	ID       int64     // assigned by the store, increasing in insertion order; 0 on input
	Time     time.Time // the event's own time (ms precision); required
	Ingested time.Time // when the store took it; set by the store
	Message  string
	// Stream is the event's stream, filled by GroupEvents (the other
	// readers name one stream).
	Stream string
}

// Store is a log store in one SQLite database file, or in a PostgreSQL
// database that several servers share (OpenPostgres).
//
// On SQLite, all queries share a single connection, as in package store:
// SQLite admits one writer at a time anyway, so more connections would
// only turn in-process contention into SQLITE_BUSY polling, while one
// connection makes database/sql queue callers. A Store is safe for
// concurrent use.
type Store struct {
	db   *db
	now  func() time.Time
	logf logger.Logf

	segs       *segmentCache
	indexPoke  chan struct{} // a write tells the indexer, without waiting
	stopIndex  context.CancelFunc
	indexDone  chan struct{} // closed when the indexer has returned
	closeOnce  sync.Once
	closeError error

	segmentSize int
	indexMu     sync.Mutex    // held while indexing, so that one segment is written once
	pendingMu   sync.Mutex    // guards pending
	pending     map[int64]int // group ID → events written since its last segment, at least; see indexPending

	keys    GroupKeys             // nil: new groups are not sealed
	sealMu  sync.Mutex            // guards sealers
	sealers map[int64]cipher.AEAD // by group ID; nil value: a group in the clear

	// writes carries PutEvents' writes to the writer goroutine
	// (write.go), which stops when writerStop is closed and then closes
	// writerDone.
	writes     chan *writeReq
	writerStop chan struct{}
	writerDone chan struct{}

	fetchMu sync.Mutex           // guards fetch
	fetch   map[string]*sql.Stmt // prepared statements by their SQL; see stmt
}

// Options are a Store's dependencies. The zero value is usable.
type Options struct {
	// Now is the clock for ingestion times and retention; nil means
	// time.Now.
	Now func() time.Time
	// Logf logs what goes wrong in the background (indexing); nil
	// discards.
	Logf logger.Logf

	// Keys seals the groups created from now on (seal.go); nil: they
	// are kept in the clear.
	Keys GroupKeys

	segmentSize int // events per index segment; 0 means segmentEvents (tests make it small)
}

// Open opens the database at path, creating it if needed, and brings its
// schema up to date. A path of ":memory:" gives a private in-memory database
// that lasts until Close. The Store indexes events in the background until
// Close.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	dsn, err := sqliteDSN(path)
	if err != nil {
		return nil, fmt.Errorf("logstore: open %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("logstore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	// Never let the connection go idle-closed: reopening it would drop an
	// in-memory database and the page cache.
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return start(ctx, db, sqliteDialect, path, opts)
}

// start makes a Store of the database sdb, named desc in errors, brings
// its schema up to date and starts its writer and indexer. It closes sdb
// if it fails.
func start(ctx context.Context, sdb *sql.DB, d *dialect, desc string, opts Options) (*Store, error) {
	now, logf := opts.Now, opts.Logf
	if now == nil {
		now = time.Now
	}
	if logf == nil {
		logf = logger.Discard
	}
	db := &db{DB: sdb, d: d}
	s := &Store{
		db:          db,
		now:         now,
		logf:        logf,
		segs:        newSegmentCache(segmentCacheBytes),
		indexPoke:   make(chan struct{}, 1),
		indexDone:   make(chan struct{}),
		pending:     make(map[int64]int),
		fetch:       make(map[string]*sql.Stmt),
		keys:        opts.Keys,
		sealers:     make(map[int64]cipher.AEAD),
		segmentSize: cmp.Or(opts.segmentSize, segmentEvents),
		writes:      make(chan *writeReq),
		writerStop:  make(chan struct{}),
		writerDone:  make(chan struct{}),
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("logstore: open %s: %w", desc, err)
	}
	migrate := s.migrate
	if d.postgres {
		migrate = s.migratePostgres
	}
	if err := migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// Whatever was written before, by an older version or before a
	// crash, is counted by the indexer's first round.
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM log_groups`)
	groups, err := collect(rows, err, func(row scanner) (int64, error) {
		var id int64
		return id, row.Scan(&id)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("logstore: open %s: %w", desc, err)
	}
	for _, g := range groups {
		s.pending[g] = s.segmentSize
	}
	ictx, cancel := context.WithCancel(context.Background())
	s.stopIndex = cancel
	go s.indexLoop(ictx)
	go s.writer()
	s.pokeIndexer()
	return s, nil
}

// Close stops the indexer and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.writerStop)
		<-s.writerDone
		s.stopIndex()
		<-s.indexDone
		s.fetchMu.Lock()
		for _, stmt := range s.fetch {
			stmt.Close()
		}
		s.fetchMu.Unlock()
		s.closeError = s.db.Close()
	})
	return s.closeError
}

// sqliteDSN builds the driver DSN for path, with the same pragmas as package
// store. They go in the DSN rather than through Exec after opening so that
// they also apply to a connection database/sql opens to replace a broken one.
func sqliteDSN(path string) (string, error) {
	const params = "?_busy_timeout=5000" + // wait for other processes' locks (backups, the sqlite3 shell)
		"&_foreign_keys=1" + // DeleteGroup relies on ON DELETE CASCADE
		"&_journal_mode=WAL" +
		"&_synchronous=NORMAL" + // durable enough under WAL; FULL costs an fsync per commit
		// A deferred transaction that reads first and then writes fails
		// with SQLITE_BUSY, without waiting, if another process wrote in
		// between; IMMEDIATE takes the write lock up front, under
		// busy_timeout.
		"&_txlock=immediate" +
		"&_pragma=mmap_size(2147418112)" +
		// Deleted events (a session's logs deleted on request) are
		// zeroed, not left in free pages.
		"&_pragma=secure_delete(1)"
	if path == ":memory:" {
		return path + params, nil
	}
	// A file: URI so that a '?' in the path is not taken for the start of
	// the parameters. filepath.Abs also keeps a path starting with "//"
	// from reading as a URI authority.
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: file:/C:/...
	}
	p = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	return "file:" + p + params, nil
}

// migrations are applied in order, all those a database lacks in one
// transaction; the version of a database is the number applied. Append only: never edit or reorder an
// entry once it has shipped.
//
// Times are INTEGER unix milliseconds, CloudWatch Logs' precision, NULL for
// none.
var migrations = []string{
	// 1: initial schema.
	//
	// Groups and streams have integer ids so that each event row carries
	// an integer, not the account, group and stream names, both in the
	// table and in its indexes. A group re-created under the same name
	// gets a new id, so nothing of the old one can show through.
	//
	// log_streams keeps running counts of its events and their bytes
	// (octet_length of the message), so that sizes cost a row read, not a
	// scan; whatever adds or removes events updates them in the same
	// transaction. A group's size is the sum over its streams. The first
	// and last event times come from events_stream_time instead, so that
	// expiring events does not have to recompute them.
	//
	// log_events' ids are AUTOINCREMENT so that they are never reused after
	// the newest events are deleted (ReplaceStream, DeleteGroup): a reader
	// paging with "id > after" must not miss events that take an old id.
	`
CREATE TABLE log_groups (
	id             INTEGER PRIMARY KEY,
	account        TEXT NOT NULL,
	name           TEXT NOT NULL,
	retention_days INTEGER NOT NULL,
	kms_key_id     TEXT NOT NULL,
	created_at     INTEGER NOT NULL,
	UNIQUE (account, name)
) STRICT;

CREATE TABLE log_streams (
	id            INTEGER PRIMARY KEY,
	group_id      INTEGER NOT NULL REFERENCES log_groups (id) ON DELETE CASCADE,
	name          TEXT NOT NULL,
	last_ingested INTEGER,
	events        INTEGER NOT NULL,
	stored_bytes  INTEGER NOT NULL,
	UNIQUE (group_id, name)
) STRICT;

CREATE TABLE log_events (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	stream_id INTEGER NOT NULL REFERENCES log_streams (id) ON DELETE CASCADE,
	time      INTEGER NOT NULL,
	ingested  INTEGER NOT NULL,
	message   TEXT NOT NULL
) STRICT;
-- Reading a stream in order, and the cascade from log_streams.
CREATE INDEX events_stream ON log_events (stream_id, id);
-- Retention, and a stream's first and last event times.
CREATE INDEX events_stream_time ON log_events (stream_id, time);
`,
	// 2: metric filters, CloudWatch's: a pattern over a group's events
	// and the metric it counts into. Deleted with their group.
	`
CREATE TABLE metric_filters (
	group_id    INTEGER NOT NULL REFERENCES log_groups (id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	pattern     TEXT NOT NULL,
	namespace   TEXT NOT NULL,
	metric_name TEXT NOT NULL,
	value       TEXT NOT NULL,
	dimensions  TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (group_id, name)
) STRICT;
`,
	// 3: events carry their group, so that reading a whole group in order
	// (a tail, a query) is one range of an index instead of a sort of
	// every event of every stream for each page.
	`
ALTER TABLE log_events ADD COLUMN group_id INTEGER NOT NULL DEFAULT 0;
UPDATE log_events SET group_id = (SELECT group_id FROM log_streams WHERE log_streams.id = log_events.stream_id);
CREATE INDEX events_group ON log_events (group_id, id);
`,
	// 4: the full-text index (index.go, segment.go): segments of a
	// group's events. IDs are AUTOINCREMENT so that a decoded segment
	// cached under its ID is never taken for a later one.
	`
CREATE TABLE index_segments (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	group_id INTEGER NOT NULL REFERENCES log_groups (id) ON DELETE CASCADE,
	first_id INTEGER NOT NULL,
	last_id  INTEGER NOT NULL,
	data     BLOB NOT NULL
) STRICT;
CREATE INDEX index_segments_group ON index_segments (group_id, last_id);
`,
	// 5: sealed groups (seal.go): a group's wrapped data key, and events'
	// encrypted messages (message is then empty).
	`
ALTER TABLE log_groups ADD COLUMN data_key BLOB;
ALTER TABLE log_events ADD COLUMN sealed BLOB;
`,
	// 6: subscription filters (subscriptions.go), the cursors of what
	// reads groups onward (a filter's, or an archive's of the group, so
	// apart from the filters), and the delivery streams they feed. Filters
	// and cursors go with their group.
	`
CREATE TABLE subscription_filters (
	group_id        INTEGER NOT NULL REFERENCES log_groups (id) ON DELETE CASCADE,
	name            TEXT NOT NULL,
	pattern         TEXT NOT NULL,
	destination_arn TEXT NOT NULL,
	distribution    TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	PRIMARY KEY (group_id, name)
) STRICT;
CREATE TABLE subscription_cursors (
	group_id     INTEGER NOT NULL REFERENCES log_groups (id) ON DELETE CASCADE,
	filter       TEXT NOT NULL,
	delivered_id INTEGER NOT NULL,
	PRIMARY KEY (group_id, filter)
) STRICT;
CREATE TABLE delivery_streams (
	account    TEXT NOT NULL,
	name       TEXT NOT NULL,
	settings   TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (account, name)
) STRICT;
`,
	// 7: event rules (rules.go), which read each account's event group
	// (package events) from cursors of their own.
	`
CREATE TABLE event_rules (
	account     TEXT NOT NULL,
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	pattern     TEXT NOT NULL,
	state       TEXT NOT NULL,
	targets     TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (account, name)
) STRICT;
`,
	// 8: at most one segment per group and first event, so that two
	// servers indexing the same events at once (PostgreSQL, postgres.go)
	// cannot both write one. One process never wrote duplicates; any
	// there are go first all the same.
	`
DELETE FROM index_segments WHERE id NOT IN (SELECT MIN(id) FROM index_segments GROUP BY group_id, first_id);
CREATE UNIQUE INDEX index_segments_first ON index_segments (group_id, first_id);
`,
}

// migrate applies the migrations the database has not seen yet.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `
		CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
		return fmt.Errorf("logstore: migrate: %w", err)
	}
	return s.migrateAll(ctx)
}

// migrateAll applies every pending migration in one transaction, so that
// an upgrade whose migration fails leaves the database as it was, at its
// old version (which the old binary still opens), and says so. It reads
// the version inside the transaction so that two processes opening a new
// database at once do not both apply them.
func (s *Store) migrateAll(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("logstore: migrate: %w", err)
	}
	defer tx.Rollback()

	var version int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return fmt.Errorf("logstore: migrate: %w", err)
	}
	switch {
	case version == len(migrations):
		return nil
	case version > len(migrations):
		return fmt.Errorf("logstore: migrate: database schema version %d is newer than this binary's %d", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("logstore: migrate from version %d to %d: version %d failed: %w; the database is unchanged, at version %d", version, len(migrations), v+1, err, version)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			v+1, s.now().UnixMilli()); err != nil {
			return fmt.Errorf("logstore: migrate to version %d: %w", v+1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("logstore: migrate from version %d to %d: %w; the database is unchanged, at version %d", version, len(migrations), err, version)
	}
	return nil
}

// CreateGroup creates the log group g. It fails with ErrExists if the
// account already has a group of that name. A zero CreatedAt means now.
func (s *Store) CreateGroup(ctx context.Context, g Group) error {
	if err := checkGroupName(g.Name); err != nil {
		return fmt.Errorf("logstore: create group %q: %w", g.Name, err)
	}
	if err := checkRetention(g.RetentionDays); err != nil {
		return fmt.Errorf("logstore: create group %s: %w", g.Name, err)
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.now()
	}
	var wrapped []byte
	if s.keys != nil {
		var err error
		if wrapped, err = s.keys.NewGroupKey(ctx, g.Account, g.Name, g.KMSKeyID); err != nil {
			return fmt.Errorf("logstore: create group %s: %w", g.Name, err)
		}
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO log_groups (account, name, retention_days, kms_key_id, created_at, data_key)
		VALUES (?, ?, ?, ?, ?, ?)`,
		g.Account, g.Name, g.RetentionDays, g.KMSKeyID, g.CreatedAt.UnixMilli(), wrapped)
	return wrapErr(err, "create group %s", g.Name)
}

const groupColumns = `g.account, g.name, g.retention_days, g.kms_key_id, g.created_at,
	(SELECT COALESCE(SUM(stored_bytes), 0) FROM log_streams WHERE group_id = g.id),
	(SELECT COALESCE(SUM(length(data)), 0) FROM index_segments WHERE group_id = g.id),
	g.data_key IS NOT NULL`

func scanGroup(row scanner) (Group, error) {
	var g Group
	err := row.Scan(&g.Account, &g.Name, &g.RetentionDays, &g.KMSKeyID, msTime{&g.CreatedAt}, &g.StoredBytes, &g.IndexBytes, &g.Encrypted)
	return g, err
}

// Group returns the account's group name, or ErrNotFound.
func (s *Store) Group(ctx context.Context, account, name string) (Group, error) {
	g, err := scanGroup(s.db.QueryRowContext(ctx,
		`SELECT `+groupColumns+` FROM log_groups g WHERE g.account = ? AND g.name = ?`, account, name))
	if err != nil {
		return Group{}, wrapErr(err, "get group %s", name)
	}
	return g, nil
}

// Sealing reports how the account's group name is sealed: its KMS key id
// (empty: the account's default key) and whether it is sealed at all. It
// reads the group's row only, where Group also sums its sizes.
func (s *Store) Sealing(ctx context.Context, account, name string) (kmsKeyID string, sealed bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT kms_key_id, data_key IS NOT NULL FROM log_groups WHERE account = ? AND name = ?`,
		account, name).Scan(&kmsKeyID, &sealed)
	return kmsKeyID, sealed, wrapErr(err, "get group %s", name)
}

// Groups returns the account's groups ordered by name.
func (s *Store) Groups(ctx context.Context, account string) ([]Group, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+groupColumns+` FROM log_groups g WHERE g.account = ? ORDER BY g.name`, account)
	gs, err := collect(rows, err, scanGroup)
	return gs, wrapErr(err, "list groups")
}

// SetRetention sets the retention of the account's group name, in days: 0
// (never expire) or one of CloudWatch Logs' values, 1, 3, 5, 7, 14, 30, 60,
// 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288
// and 3653. Events go at the next ExpireEvents.
func (s *Store) SetRetention(ctx context.Context, account, name string, days int) error {
	if err := checkRetention(days); err != nil {
		return fmt.Errorf("logstore: set retention of group %s: %w", name, err)
	}
	res, err := s.db.ExecContext(ctx,
		`UPDATE log_groups SET retention_days = ? WHERE account = ? AND name = ?`, days, account, name)
	return wrapErr(checkAffected(res, err), "set retention of group %s", name)
}

// DeleteGroup deletes the account's group name with its streams and events,
// or returns ErrNotFound.
func (s *Store) DeleteGroup(ctx context.Context, account, name string) error {
	// The streams and events go by ON DELETE CASCADE.
	var id int64
	err := s.db.QueryRowContext(ctx, `DELETE FROM log_groups WHERE account = ? AND name = ? RETURNING id`, account, name).Scan(&id)
	if err != nil {
		return wrapErr(err, "delete group %s", name)
	}
	s.forgetSealer(id)
	return nil
}

// DeleteStreams deletes the streams called stream in every group of the
// account, as when a session's logs are deleted, and reports how many went.
// The index segments that held their events are rebuilt without them, and
// the database is checkpointed, so that neither the events nor their words
// remain in the files.
func (s *Store) DeleteStreams(ctx context.Context, account, stream string) (int, error) {
	s.indexMu.Lock() // no segment is written from events being deleted
	defer s.indexMu.Unlock()
	type hit struct{ group, stream, lo, hi int64 }
	rows, err := s.db.QueryContext(ctx, `
		SELECT st.group_id, st.id, COALESCE(MIN(e.id), 0), COALESCE(MAX(e.id), 0)
		FROM log_streams st JOIN log_groups g ON g.id = st.group_id
		LEFT JOIN log_events e ON e.stream_id = st.id
		WHERE g.account = ? AND st.name = ? GROUP BY st.id`, account, stream)
	hits, err := collect(rows, err, func(row scanner) (hit, error) {
		var h hit
		return h, row.Scan(&h.group, &h.stream, &h.lo, &h.hi)
	})
	if err != nil {
		return 0, fmt.Errorf("logstore: delete streams %s: %w", stream, err)
	}
	for _, h := range hits {
		if err := s.deleteStream(ctx, h.group, h.stream); err != nil {
			return 0, fmt.Errorf("logstore: delete stream %s: %w", stream, err)
		}
		if h.hi == 0 {
			continue
		}
		if err := s.reindex(ctx, h.group, h.lo, h.hi); err != nil {
			return 0, fmt.Errorf("logstore: delete stream %s: rebuild index: %w", stream, err)
		}
	}
	if !s.db.d.postgres {
		s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return len(hits), nil
}

// deleteStream deletes the group's stream id and its events, under the
// group's index lock: a segment being built from them on another server
// is written before (and rebuilt by the caller) or refused after.
func (s *Store) deleteStream(ctx context.Context, groupID, id int64) error {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer t.Rollback()
	if err := lockIndex(ctx, t, groupID); err != nil {
		return err
	}
	if _, err := t.ExecContext(ctx, `DELETE FROM log_streams WHERE id = ?`, id); err != nil {
		return err
	}
	return t.Commit()
}

// PutEvents appends events, in order, to the stream of the account's group
// (ErrNotFound if the group does not exist), creating the stream on first
// use. It is one transaction: if an event is refused (a zero Time, a message
// longer than MaxMessageBytes), nothing is stored. Invalid UTF-8 in messages
// is stored as U+FFFD, as CloudWatch Logs would receive it from a JSON
// encoder. An empty batch is a no-op.
func (s *Store) PutEvents(ctx context.Context, account, group, stream string, events []Event) error {
	if err := s.write(ctx, account, group, stream, events, false); err != nil {
		return fmt.Errorf("logstore: put events to %s/%s: %w", group, stream, err)
	}
	return nil
}

// ReplaceStream makes the stream of the account's group hold exactly events,
// deleting what it held, in one transaction: an upload of a whole transcript
// that can be retried and leaves one copy however often it ran. The stream
// is created if needed, even for no events. Events are checked as by
// PutEvents.
func (s *Store) ReplaceStream(ctx context.Context, account, group, stream string, events []Event) error {
	if err := s.write(ctx, account, group, stream, events, true); err != nil {
		return fmt.Errorf("logstore: replace stream %s/%s: %w", group, stream, err)
	}
	return nil
}

// Streams returns the streams of the account's group ordered by name, or
// ErrNotFound if the group does not exist.
func (s *Store) Streams(ctx context.Context, account, group string) ([]Stream, error) {
	groupID, err := lookupGroup(ctx, s.db, account, group)
	if err != nil {
		return nil, fmt.Errorf("logstore: list streams of %s: %w", group, err)
	}
	// Each MIN and MAX is one lookup in events_stream_time.
	rows, err := s.db.QueryContext(ctx, `
		SELECT s.name,
			(SELECT MIN(time) FROM log_events WHERE stream_id = s.id),
			(SELECT MAX(time) FROM log_events WHERE stream_id = s.id),
			s.last_ingested, s.events, s.stored_bytes
		FROM log_streams s WHERE s.group_id = ? ORDER BY s.name`, groupID)
	ss, err := collect(rows, err, func(row scanner) (Stream, error) {
		var st Stream
		err := row.Scan(&st.Name, msTime{&st.FirstEvent}, msTime{&st.LastEvent}, msTime{&st.LastIngested}, &st.Events, &st.StoredBytes)
		return st, err
	})
	return ss, wrapErr(err, "list streams of %s", group)
}

// Events returns up to limit events of the stream of the account's group
// with IDs greater than after, in ID order; limit <= 0 means 10,000. Pass the
// last ID returned as after to read on. It returns ErrNotFound if the group
// does not exist; an unknown stream has no events.
func (s *Store) Events(ctx context.Context, account, group, stream string, after int64, limit int) ([]Event, error) {
	return s.streamEvents(ctx, account, group, stream, `e.id > ? ORDER BY e.id`, after, limit)
}

// EventsBefore returns up to limit events of the stream of the account's
// group with IDs less than before, the last ones there are, in ID order;
// limit <= 0 means 10,000. Pass the first ID returned as before to read
// back further: it is how a reader starts at the newest events, as
// CloudWatch Logs' GetLogEvents does.
func (s *Store) EventsBefore(ctx context.Context, account, group, stream string, before int64, limit int) ([]Event, error) {
	es, err := s.streamEvents(ctx, account, group, stream, `e.id < ? ORDER BY e.id DESC`, before, limit)
	slices.Reverse(es)
	return es, err
}

// streamEvents reads a stream's events where the ID compares with pos as
// cond says, in its order.
func (s *Store) streamEvents(ctx context.Context, account, group, stream, cond string, pos int64, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = defaultEventsLimit
	}
	groupID, err := lookupGroup(ctx, s.db, account, group)
	if err != nil {
		return nil, fmt.Errorf("logstore: get events of %s/%s: %w", group, stream, err)
	}
	aead, err := s.sealer(ctx, s.db, groupID)
	if err != nil {
		return nil, fmt.Errorf("logstore: get events of %s/%s: %w", group, stream, err)
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT e.id, e.time, e.ingested, e.message, e.sealed
		FROM log_streams s JOIN log_events e ON e.stream_id = s.id
		WHERE s.group_id = ? AND s.name = ? AND `+cond+` LIMIT ?`, groupID, stream, pos, limit)
	es, err := collect(rows, err, func(row scanner) (Event, error) {
		var e Event
		var sealed []byte
		if err := row.Scan(&e.ID, msTime{&e.Time}, msTime{&e.Ingested}, &e.Message, &sealed); err != nil {
			return e, err
		}
		e.Message, err = messageOf(aead, groupID, e.Message, sealed)
		return e, err
	})
	return es, wrapErr(err, "get events of %s/%s", group, stream)
}

// GroupEvents returns up to limit events of any stream of the account's
// group with IDs greater than after, in ID order (the order the store took
// them), each with its stream; limit <= 0 means 10,000. It is how a tail
// follows a group: pass the last ID returned as after. ErrNotFound if the
// group does not exist.
func (s *Store) GroupEvents(ctx context.Context, account, group string, after int64, limit int) ([]Event, error) {
	return s.GroupEventsContaining(ctx, account, group, after, limit, nil)
}

// GroupEventsContaining is GroupEvents for a query that needs only events
// whose message, for each list of anyOf, holds one of its strings or a
// backslash (see logquery's MessageLiterals): SQLite skips the others
// without handing them over, which is most of a read's cost. ReadGroup
// does the same through the full-text index.
func (s *Store) GroupEventsContaining(ctx context.Context, account, group string, after int64, limit int, anyOf [][]string) ([]Event, error) {
	groupID, err := lookupGroup(ctx, s.db, account, group)
	if err != nil {
		return nil, fmt.Errorf("logstore: get events of %s: %w", group, err)
	}
	aead, err := s.sealer(ctx, s.db, groupID)
	if err != nil {
		return nil, fmt.Errorf("logstore: get events of %s: %w", group, err)
	}
	sp := ReadOptions{}.spec(groupID, aead)
	es, err := s.groupEvents(ctx, sp, after, 0, limit, anyOf, make(map[int64]string))
	return es, wrapErr(err, "get events of %s", group)
}

// FirstEventSince returns the ID just before the first event of the
// account's group (any stream) whose Time is at or after since, for a tail
// that starts there: pass it as GroupEvents' after. With no such event it
// returns the group's last ID, so the tail shows only what comes next.
func (s *Store) FirstEventSince(ctx context.Context, account, group string, since time.Time) (int64, error) {
	groupID, err := lookupGroup(ctx, s.db, account, group)
	if err != nil {
		return 0, fmt.Errorf("logstore: find events of %s: %w", group, err)
	}
	var first, last sql.NullInt64
	err = s.db.QueryRowContext(ctx, `
		SELECT (SELECT MIN(e.id) FROM log_events e JOIN log_streams s ON s.id = e.stream_id WHERE s.group_id = ? AND e.time >= ?),
		       (SELECT MAX(e.id) FROM log_events e JOIN log_streams s ON s.id = e.stream_id WHERE s.group_id = ?)`,
		groupID, since.UnixMilli(), groupID).Scan(&first, &last)
	if err != nil {
		return 0, wrapErr(err, "find events of %s", group)
	}
	if first.Valid {
		return first.Int64 - 1, nil
	}
	return last.Int64, nil
}

// ExpireEvents deletes the events whose Time is older than their group's
// retention and reports how many went. Groups with retention 0 keep
// everything. The server calls it periodically.
//
// Each stream is expired in its own transaction, so that a large expiry does
// not hold the write lock for long; on error, the count covers the streams
// done.
func (s *Store) ExpireEvents(ctx context.Context) (int64, error) {
	now := s.now().UnixMilli()
	rows, err := s.db.QueryContext(ctx, `
		SELECT s.id FROM log_streams s JOIN log_groups g ON g.id = s.group_id
		WHERE g.retention_days > 0
			AND (SELECT MIN(time) FROM log_events WHERE stream_id = s.id) < ? - g.retention_days * ?`,
		now, msPerDay)
	ids, err := collect(rows, err, func(row scanner) (int64, error) {
		var id int64
		err := row.Scan(&id)
		return id, err
	})
	if err != nil {
		return 0, fmt.Errorf("logstore: expire events: %w", err)
	}
	var total int64
	for _, id := range ids {
		n, err := s.expireStream(ctx, id, now)
		total += n
		if err != nil {
			return total, fmt.Errorf("logstore: expire events: %w", err)
		}
	}
	if total > 0 {
		if err := s.dropEmptySegments(ctx); err != nil {
			return total, fmt.Errorf("logstore: expire events: drop index segments: %w", err)
		}
	}
	return total, nil
}

// expireStream deletes the events of stream id older than its group's
// retention at now (unix ms) and keeps its counts right.
func (s *Store) expireStream(ctx context.Context, id, now int64) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()

	// The retention is read again, under the write lock (on PostgreSQL,
	// the group's, as writers take it: see lockGroup): it may have
	// changed, or the group gone, since ExpireEvents listed the stream.
	q := `SELECT g.retention_days FROM log_streams s JOIN log_groups g ON g.id = s.group_id WHERE s.id = ?`
	if tx.d.postgres {
		q += ` FOR NO KEY UPDATE OF g`
	}
	var days int64
	err = tx.QueryRowContext(ctx, q, id).Scan(&days)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && days == 0) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	cutoff := now - days*msPerDay
	var n, bytes int64
	if err := tx.QueryRowContext(ctx, `
		SELECT COUNT(*), COALESCE(SUM(octet_length(message) + COALESCE(length(sealed) - `+strconv.Itoa(sealOverhead)+`, 0)), 0)
		FROM log_events WHERE stream_id = ? AND time < ?`, id, cutoff).Scan(&n, &bytes); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM log_events WHERE stream_id = ? AND time < ?`, id, cutoff); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE log_streams SET events = events - ?, stored_bytes = stored_bytes - ? WHERE id = ?`,
		n, bytes, id); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return n, nil
}

// querier is a *db or *tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// lookupGroupSQL finds a group's id by account and name.
const lookupGroupSQL = `SELECT id FROM log_groups WHERE account = ? AND name = ?`

// lookupGroup returns the id of the account's group name, or ErrNotFound.
func lookupGroup(ctx context.Context, q querier, account, name string) (int64, error) {
	return scanGroupID(q.QueryRowContext(ctx, lookupGroupSQL, account, name), name)
}

// scanGroupID reads the row of lookupGroupSQL for the group name.
func scanGroupID(row *sql.Row, name string) (int64, error) {
	var id int64
	err := row.Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("log group %s: %w", name, ErrNotFound)
	}
	return id, err
}

// reGroupName is CloudWatch Logs' pattern for log group names
// (CreateLogGroup), without the length.
var reGroupName = lazyregexp.New(`^[.\-_/#A-Za-z0-9]+$`)

const maxNameLen = 512

const groupNameRule = "log group names are 1 to 512 characters among a-z, A-Z, 0-9, '_' (underscore), '-' (hyphen), '/' (forward slash), '.' (period) and '#' (number sign)"

// checkGroupName reports why name is not a valid log group name.
func checkGroupName(name string) error {
	switch {
	case name == "":
		return invalidf("invalid Name: it is empty; %s", groupNameRule)
	case len(name) > maxNameLen:
		return invalidf("invalid Name: it is %d characters long; %s", len(name), groupNameRule)
	case !reGroupName.MatchString(name):
		return invalidf("invalid Name: %s", groupNameRule)
	}
	return nil
}

const streamNameRule = "log stream names are 1 to 512 characters of UTF-8 other than ':' (colon) and '*' (asterisk)"

// checkStreamName reports why name is not a valid log stream name
// (CreateLogStream).
func checkStreamName(name string) error {
	switch {
	case name == "":
		return invalidf("invalid stream name: it is empty; %s", streamNameRule)
	case !utf8.ValidString(name):
		return invalidf("invalid stream name: it is not valid UTF-8; %s", streamNameRule)
	case utf8.RuneCountInString(name) > maxNameLen:
		return invalidf("invalid stream name: it is %d characters long; %s", utf8.RuneCountInString(name), streamNameRule)
	case strings.ContainsAny(name, ":*"):
		return invalidf("invalid stream name: %s", streamNameRule)
	}
	return nil
}

// checkRetention reports why days is not a retention CloudWatch Logs
// accepts.
func checkRetention(days int) error {
	if days == 0 {
		return nil
	}
	for _, d := range validRetentionDays {
		if d == days {
			return nil
		}
	}
	vals := make([]string, len(validRetentionDays))
	for i, d := range validRetentionDays {
		vals[i] = strconv.Itoa(d)
	}
	return invalidf("invalid RetentionDays %d: want 0 (never expire) or one of %s", days, strings.Join(vals, ", "))
}

// wrapErr adds context to err and translates SQLite errors callers branch on
// into this package's sentinel errors. It returns nil if err is nil.
func wrapErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			err = ErrExists
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgUniqueViolation {
		err = ErrExists
	}
	return fmt.Errorf("logstore: "+format+": %w", append(args, err)...)
}

// checkAffected turns an update or delete that matched no row into
// ErrNotFound.
func checkAffected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every row with scan. It takes the results of QueryContext
// as they are, so that callers have one error to check.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// msTime scans a unix millisecond column into *t, in UTC; NULL is the zero
// time.
type msTime struct{ t *time.Time }

func (m msTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*m.t = time.Time{}
	case int64:
		*m.t = time.UnixMilli(v).UTC()
	default:
		return fmt.Errorf("time column holds %T, want integer", src)
	}
	return nil
}
