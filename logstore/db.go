package logstore

import (
	"context"
	"database/sql"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The store's SQL is written once, in SQLite's dialect, and runs on
// PostgreSQL too (postgres.go) through db and tx, which hand each query to
// the dialect first. What differs is kept out of the queries where a
// neutral form exists (CASE instead of SQLite's two-argument MAX), made up
// for by the PostgreSQL schema where it is a function (instr), and
// rewritten here where it is syntax: '?' placeholders become $1, $2, …,
// and SQLite's INDEXED BY and NOT INDEXED hints go (PostgreSQL's planner
// picks the index on its own; SQLite's other hint, a unary + on a column,
// means the same in both).

// dialect turns the store's queries into its database's.
type dialect struct {
	postgres bool

	// rewritten caches PostgreSQL's text of each query; cached counts
	// its entries, which stop being added past maxRewritten (a query
	// with many search literals is built per call, and must not grow
	// the cache without bound).
	rewritten sync.Map // string → string
	cached    atomic.Int64
}

// maxRewritten bounds dialect.rewritten.
const maxRewritten = 1024

var sqliteDialect = &dialect{}

// message returns the argument that stores the message m: on PostgreSQL,
// whose message column is BYTEA, its bytes (a string would be taken for
// bytea's escaped text form).
func (d *dialect) message(m string) any {
	if d.postgres {
		return []byte(m)
	}
	return m
}

// reIndexedBy matches SQLite's index hints.
var reIndexedBy = regexp.MustCompile(`\s+(?:INDEXED BY \w+|NOT INDEXED)\b`)

// sql returns q in the dialect.
func (d *dialect) sql(q string) string {
	if !d.postgres {
		return q
	}
	if r, ok := d.rewritten.Load(q); ok {
		return r.(string)
	}
	r := toPostgres(q)
	if d.cached.Load() < maxRewritten {
		if _, loaded := d.rewritten.LoadOrStore(q, r); !loaded {
			d.cached.Add(1)
		}
	}
	return r
}

// toPostgres rewrites a query of this package for PostgreSQL: each '?'
// outside a string literal becomes $n, and index hints go.
func toPostgres(q string) string {
	q = reIndexedBy.ReplaceAllString(q, "")
	var b strings.Builder
	b.Grow(len(q) + 16)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted // '' inside a literal toggles twice
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// db is the store's connection pool, speaking its dialect.
type db struct {
	*sql.DB
	d *dialect
}

func (db *db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.DB.QueryContext(ctx, db.d.sql(q), args...)
}

func (db *db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return db.DB.QueryRowContext(ctx, db.d.sql(q), args...)
}

func (db *db) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.DB.ExecContext(ctx, db.d.sql(q), args...)
}

func (db *db) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return db.DB.PrepareContext(ctx, db.d.sql(q))
}

func (db *db) BeginTx(ctx context.Context, opts *sql.TxOptions) (*tx, error) {
	t, err := db.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, d: db.d}, nil
}

// tx is a transaction of db.
type tx struct {
	*sql.Tx
	d *dialect
}

func (tx *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.Tx.QueryContext(ctx, tx.d.sql(q), args...)
}

func (tx *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, tx.d.sql(q), args...)
}

func (tx *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, tx.d.sql(q), args...)
}

// lockGroup, in a transaction, finds the account's group name and, on
// PostgreSQL, locks its row until the transaction ends: whatever adds a
// group's events, or decides from what a group holds, takes it, so that
// transactions of several servers over one group run one after the other.
// That is what keeps event IDs in commit order within a group (an ID is
// drawn under the lock, and the lock outlives it to the commit), so that a
// reader paging "id > after" never passes over an event committed late.
// SQLite's transactions already run one at a time.
func lockGroup(ctx context.Context, t *tx, account, name string) (int64, error) {
	q := lookupGroupSQL
	if t.d.postgres {
		q += ` FOR NO KEY UPDATE`
	}
	return scanGroupID(t.QueryRowContext(ctx, q, account, name), name)
}

// lockIndex, on PostgreSQL, serializes until the transaction's end what
// writes or rewrites a group's index segments, across servers: without it,
// a segment built from events read just before another server deleted
// them could land after that server rebuilt the index without them.
// SQLite's writers already run one at a time (and indexMu orders this
// process's).
func lockIndex(ctx context.Context, t *tx, groupID int64) error {
	if !t.d.postgres {
		return nil
	}
	_, err := t.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?, ?)`, lockIndexKey, int32(groupID))
	return err
}
