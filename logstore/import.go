package logstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// TableCount is one table's rows in an import's source and target.
type TableCount struct {
	Table          string
	Source, Target int64
}

// importTables are the store's tables in the order they refer to each
// other, with their columns: every column of SQLite's schema, which
// PostgreSQL's has too (TestImportSQLite fails when one is left out).
var importTables = []struct {
	name, cols string
	identity   bool // its id is drawn from a sequence, set past the copied ones
}{
	{"log_groups", "id, account, name, retention_days, kms_key_id, created_at, data_key", true},
	{"log_streams", "id, group_id, name, last_ingested, events, stored_bytes", true},
	{"log_events", "id, stream_id, group_id, time, ingested, message, sealed", true},
	{"metric_filters", "group_id, name, pattern, namespace, metric_name, value, dimensions, created_at", false},
	{"index_segments", "id, group_id, first_id, last_id, data", true},
	{"subscription_filters", "group_id, name, pattern, destination_arn, distribution, created_at", false},
	{"subscription_cursors", "group_id, filter, delivered_id", false},
	{"delivery_streams", "account, name, settings, created_at", false},
	{"event_rules", "account, name, description, pattern, state, targets, created_at", false},
}

// ErrNotEmpty is ImportSQLite's refusal of a target that holds log
// groups, delivery streams or rules already.
var ErrNotEmpty = errors.New("the PostgreSQL log store is not empty")

// importBatch is how many rows one INSERT of an import takes.
const importBatch = 256

// ImportSQLite copies every row of src, a SQLite store, into s, a
// PostgreSQL one, with their IDs (so that cursors and segments stay
// right), in one transaction: s ends with all of it, each table's count
// checked against src's, or with none. s must be empty unless replace,
// which empties it first.
func (s *Store) ImportSQLite(ctx context.Context, src *Store, replace bool) ([]TableCount, error) {
	if !s.db.d.postgres || src.db.d.postgres {
		return nil, errors.New("logstore: import: from SQLite to PostgreSQL only")
	}
	s.indexMu.Lock() // this process indexes nothing meanwhile
	defer s.indexMu.Unlock()
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("logstore: import: %w", err)
	}
	defer t.Rollback()
	// Nobody writes the target meanwhile (other servers included): the
	// tables are locked until the commit.
	var names []string
	for _, tb := range importTables {
		names = append(names, tb.name)
	}
	if _, err := t.ExecContext(ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return nil, fmt.Errorf("logstore: import: %w", err)
	}
	if replace {
		if _, err := t.ExecContext(ctx, `TRUNCATE `+strings.Join(names, ", ")); err != nil {
			return nil, fmt.Errorf("logstore: import: empty the target: %w", err)
		}
	} else {
		var held int64
		if err := t.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM log_groups) + (SELECT COUNT(*) FROM delivery_streams) + (SELECT COUNT(*) FROM event_rules)`).Scan(&held); err != nil {
			return nil, fmt.Errorf("logstore: import: %w", err)
		}
		if held > 0 {
			return nil, fmt.Errorf("logstore: import: %w", ErrNotEmpty)
		}
	}
	// The source is read in one transaction, so that its tables agree.
	st, err := src.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("logstore: import: %w", err)
	}
	defer st.Rollback()
	var counts []TableCount
	for _, tb := range importTables {
		c := TableCount{Table: tb.name}
		if err := st.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+tb.name).Scan(&c.Source); err != nil {
			return nil, fmt.Errorf("logstore: import: count %s: %w", tb.name, err)
		}
		if err := copyRows(ctx, st, t, tb.name, tb.cols); err != nil {
			return nil, fmt.Errorf("logstore: import: table %s: %w", tb.name, err)
		}
		if err := t.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+tb.name).Scan(&c.Target); err != nil {
			return nil, fmt.Errorf("logstore: import: count %s: %w", tb.name, err)
		}
		if c.Target != c.Source {
			return nil, fmt.Errorf("logstore: import: table %s: copied %d rows of %d", tb.name, c.Target, c.Source)
		}
		if tb.identity {
			if _, err := t.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+tb.name+`', 'id'), COALESCE((SELECT MAX(id) FROM `+tb.name+`), 0) + 1, false)`); err != nil {
				return nil, fmt.Errorf("logstore: import: table %s: %w", tb.name, err)
			}
		}
		counts = append(counts, c)
	}
	if err := t.Commit(); err != nil {
		return nil, fmt.Errorf("logstore: import: %w", err)
	}
	// What was copied is indexed, if it was not, on this store's next
	// round.
	s.pendingMu.Lock()
	s.pending = make(map[int64]int)
	s.pendingMu.Unlock()
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM log_groups`)
	groups, err := collect(rows, err, func(row scanner) (int64, error) {
		var id int64
		return id, row.Scan(&id)
	})
	if err == nil {
		for _, g := range groups {
			s.noteWritten(g, s.segmentSize)
		}
	}
	return counts, nil
}

// copyRows copies the columns cols of table from src to dst, in batches.
func copyRows(ctx context.Context, src, dst *tx, table, cols string) error {
	n := strings.Count(cols, ",") + 1
	rows, err := src.QueryContext(ctx, `SELECT `+cols+` FROM `+table)
	if err != nil {
		return err
	}
	defer rows.Close()
	isMessage := make([]bool, n)
	for i, c := range strings.Split(cols, ", ") {
		isMessage[i] = table == "log_events" && c == "message"
	}
	var batch []any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		row := "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
		q := `INSERT INTO ` + table + ` (` + cols + `) VALUES ` + strings.TrimSuffix(strings.Repeat(row+", ", len(batch)/n), ", ")
		_, err := dst.ExecContext(ctx, q, batch...)
		batch = batch[:0]
		return err
	}
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			if isMessage[i] {
				// SQLite's TEXT, PostgreSQL's BYTEA.
				switch m := v.(type) {
				case string:
					vals[i] = []byte(m)
				case []byte:
				default:
					return fmt.Errorf("message column holds %T", v)
				}
			}
		}
		batch = append(batch, vals...)
		if len(batch) >= importBatch*n {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}
