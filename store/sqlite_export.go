package store

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// Table is one table of a store's schema, as Export reads it.
type Table struct {
	Name    string
	Columns []string // in the table's order
	// Rows is how many rows the table holds in the snapshot Export reads.
	Rows int64
}

// Export reads every table of the database (every one but the migrations'
// bookkeeping), to copy a deployment to another store (package
// store/postgres imports it). It is generic on purpose: a table added by a
// migration is exported without anyone remembering to, and an importer
// without a place for it fails loudly instead of dropping it.
//
// All of it is read in one transaction, so the tables agree with one
// another and with their counts. Like every transaction of this store it
// takes the write lock (see sqliteDSN), so a server still running on the
// database waits, and after its busy timeout fails, while the export
// runs: stop it first. The
// tables come parents first (a table after those its foreign keys name),
// so that an importer checking foreign keys as it goes finds them
// satisfied. fn gets each table and its rows, each row's values in
// t.Columns' order as SQLite holds them (int64, float64, string, []byte
// or nil); the rows must be read before fn returns.
func (s *SQLite) Export(ctx context.Context, fn func(t Table, rows iter.Seq2[[]any, error]) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: export: %w", err)
	}
	defer tx.Rollback()
	tables, err := exportTables(ctx, tx)
	if err != nil {
		return fmt.Errorf("store: export: %w", err)
	}
	for _, t := range tables {
		if err := fn(t, tableRows(ctx, tx, t)); err != nil {
			return err
		}
	}
	return nil
}

// exportTables lists the tables with their columns and row counts, parents
// first.
func exportTables(ctx context.Context, tx *sql.Tx) ([]Table, error) {
	names, err := queryStrings(ctx, tx, `SELECT name FROM sqlite_schema
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name != 'schema_migrations'
		ORDER BY name`)
	if err != nil {
		return nil, err
	}
	parents := map[string][]string{}
	byName := map[string]Table{}
	for _, name := range names {
		t := Table{Name: name}
		if t.Columns, err = queryStrings(ctx, tx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, name); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", name, err)
		}
		if parents[name], err = queryStrings(ctx, tx, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, name); err != nil {
			return nil, fmt.Errorf("foreign keys of %s: %w", name, err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(name)).Scan(&t.Rows); err != nil {
			return nil, fmt.Errorf("count of %s: %w", name, err)
		}
		byName[name] = t
	}
	order, err := parentsFirst(names, parents)
	if err != nil {
		return nil, err
	}
	tables := make([]Table, len(order))
	for i, name := range order {
		tables[i] = byName[name]
	}
	return tables, nil
}

// parentsFirst orders names so that each comes after the names parents
// lists for it (a depth-first topological sort; names' own order breaks
// ties). A table referring to itself is its own business; a longer cycle
// is an error, as no order satisfies it.
func parentsFirst(names []string, parents map[string][]string) ([]string, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order []string
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("foreign keys form a cycle: %s", strings.Join(append(path, name), " -> "))
		}
		state[name] = visiting
		for _, p := range parents[name] {
			if p == name || !slices.Contains(names, p) {
				continue
			}
			if err := visit(p, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = done
		order = append(order, name)
		return nil
	}
	for _, name := range names {
		if err := visit(name, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// tableRows reads t's rows, one at a time.
func tableRows(ctx context.Context, tx *sql.Tx, t Table) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = quoteIdent(c)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+quoteIdent(t.Name))
		if err != nil {
			yield(nil, fmt.Errorf("store: export %s: %w", t.Name, err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				yield(nil, fmt.Errorf("store: export %s: %w", t.Name, err))
				return
			}
			if !yield(vals, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, fmt.Errorf("store: export %s: %w", t.Name, err))
		}
	}
}

func queryStrings(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	return collect(rows, err, func(row scanner) (string, error) {
		var s string
		return s, row.Scan(&s)
	})
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
