package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/postern/postern/store"
)

// Exporter is a store that reads out its tables: the SQLite store
// (store.SQLite.Export).
type Exporter interface {
	Export(ctx context.Context, fn func(t store.Table, rows iter.Seq2[[]any, error]) error) error
}

// ErrNotEmpty is Import's refusal of a target that holds rows.
var ErrNotEmpty = errors.New("the target is not empty")

// ImportOptions adjust Import.
type ImportOptions struct {
	// Replace empties the target's tables first. Without it, a target
	// holding any row is refused.
	Replace bool
}

// TableCount is how many rows a table held in the source and holds in the
// target after Import.
type TableCount struct {
	Table          string
	Source, Target int64
}

// Import copies every row of every table of src into s, in one
// transaction: the target ends up with all of it, checked, or with none.
//
// The copy is generic: each of src's tables goes to the table of the same
// name, column for column, each value converted to the target column's
// type (SQLite's unix microseconds to timestamptz, its 0/1 to boolean).
// A table or column of src with no counterpart here is an error, so a
// table added to the SQLite schema and not to this one cannot be left
// behind. Tables only this schema has are left as they are, and listed
// with a source count of -1.
//
// Before committing, Import counts each table's rows in the target and
// compares them with the source's count, read in the same snapshot as
// the rows; any difference is an error and nothing is kept.
func (s *Store) Import(ctx context.Context, src Exporter, opts ImportOptions) ([]TableCount, error) {
	var counts []TableCount
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		target, err := targetTables(ctx, tx)
		if err != nil {
			return err
		}
		if err := prepareTarget(ctx, tx, target, opts.Replace); err != nil {
			return err
		}
		copied := map[string]bool{}
		err = src.Export(ctx, func(t store.Table, rows iter.Seq2[[]any, error]) error {
			cols, ok := target[t.Name]
			if !ok {
				return fmt.Errorf("table %s has no counterpart in the PostgreSQL schema: add it to store/postgres's migrations", t.Name)
			}
			n, err := copyTable(ctx, tx, t, cols, rows)
			if err != nil {
				return fmt.Errorf("table %s: %w", t.Name, err)
			}
			if n != t.Rows {
				return fmt.Errorf("table %s: copied %d rows of %d", t.Name, n, t.Rows)
			}
			var got int64
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+pgx.Identifier{t.Name}.Sanitize()).Scan(&got); err != nil {
				return fmt.Errorf("table %s: count: %w", t.Name, err)
			}
			if got != t.Rows {
				return fmt.Errorf("table %s: the source has %d rows, the target %d", t.Name, t.Rows, got)
			}
			copied[t.Name] = true
			counts = append(counts, TableCount{Table: t.Name, Source: t.Rows, Target: got})
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range sortedKeys(target) {
			if copied[name] {
				continue
			}
			var got int64
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+pgx.Identifier{name}.Sanitize()).Scan(&got); err != nil {
				return fmt.Errorf("table %s: count: %w", name, err)
			}
			counts = append(counts, TableCount{Table: name, Source: -1, Target: got})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: import into %s: %w", s.desc, err)
	}
	return counts, nil
}

// column is a target table's column.
type column struct {
	name, typ string // typ as information_schema.columns' data_type has it
}

// targetTables returns the tables of the schema the store uses (the first
// of the search path, where the migrations made them), but the
// migrations' bookkeeping, with their columns.
func targetTables(ctx context.Context, tx pgx.Tx) (map[string][]column, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.table_name, c.column_name, c.data_type
		FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name != 'schema_migrations'
		ORDER BY c.table_name, c.ordinal_position`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	tables := map[string][]column{}
	for rows.Next() {
		var table string
		var c column
		if err := rows.Scan(&table, &c.name, &c.typ); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		tables[table] = append(tables[table], c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	if len(tables) == 0 {
		return nil, errors.New("the database has no tables: is the search path's first schema the store's?")
	}
	return tables, nil
}

// prepareTarget refuses a target holding rows, or with replace empties
// it.
func prepareTarget(ctx context.Context, tx pgx.Tx, tables map[string][]column, replace bool) error {
	names := sortedKeys(tables)
	if replace {
		idents := make([]string, len(names))
		for i, n := range names {
			idents[i] = pgx.Identifier{n}.Sanitize()
		}
		if _, err := tx.Exec(ctx, `TRUNCATE `+strings.Join(idents, ", ")); err != nil {
			return fmt.Errorf("empty the target: %w", err)
		}
		return nil
	}
	var full []string
	for _, n := range names {
		var has bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{n}.Sanitize()+`)`).Scan(&has); err != nil {
			return fmt.Errorf("table %s: %w", n, err)
		}
		if has {
			full = append(full, n)
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w (rows in %s): import into a new database, or replace what it holds", ErrNotEmpty, strings.Join(full, ", "))
	}
	return nil
}

// copyTable copies rows, in t's columns, into the target table with cols,
// by COPY, and returns how many it copied.
func copyTable(ctx context.Context, tx pgx.Tx, t store.Table, cols []column, rows iter.Seq2[[]any, error]) (int64, error) {
	types := make([]string, len(t.Columns))
	for i, name := range t.Columns {
		j := slices.IndexFunc(cols, func(c column) bool { return c.name == name })
		if j < 0 {
			return 0, fmt.Errorf("column %s has no counterpart in the PostgreSQL schema", name)
		}
		types[i] = cols[j].typ
	}
	for _, c := range cols {
		if !slices.Contains(t.Columns, c.name) {
			return 0, fmt.Errorf("column %s is not in the source: the schemas differ", c.name)
		}
	}
	next, stop := iter.Pull2(rows)
	defer stop()
	row := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		vals, err, ok := next()
		if !ok {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		row++
		if len(vals) != len(types) {
			return nil, fmt.Errorf("row %d has %d values for %d columns", row, len(vals), len(types))
		}
		for i, v := range vals {
			if vals[i], err = convert(v, types[i]); err != nil {
				return nil, fmt.Errorf("row %d, column %s: %w", row, t.Columns[i], err)
			}
		}
		return vals, nil
	})
	return tx.CopyFrom(ctx, pgx.Identifier{t.Name}, t.Columns, src)
}

// convert turns a value as SQLite holds it into one for a column of type
// typ (information_schema's data_type). NULL stays NULL. Anything it does
// not know how to convert is an error: a value is never guessed at.
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "timestamp with time zone":
		if n, ok := v.(int64); ok {
			return time.UnixMicro(n).UTC(), nil // as the SQLite store writes times
		}
	case "boolean":
		if n, ok := v.(int64); ok && (n == 0 || n == 1) {
			return n == 1, nil
		}
	case "bigint":
		if n, ok := v.(int64); ok {
			return n, nil
		}
	case "text":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "bytea":
		if b, ok := v.([]byte); ok {
			return b, nil
		}
	}
	// The value stays out of the error: it may be a secret's hash.
	return nil, fmt.Errorf("a value of type %T does not convert to %s", v, typ)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
