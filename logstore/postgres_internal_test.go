package logstore

import (
	"strings"
	"testing"
)

// TestOnPostgresIndex runs the index's tests with their stores in
// PostgreSQL, as TestOnPostgres does the others.
func TestOnPostgresIndex(t *testing.T) {
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"IndexedReadsMatchScans", TestIndexedReadsMatchScans},
		{"IndexCorruptSegmentIsReadWithout", TestIndexCorruptSegmentIsReadWithout},
		{"IndexSegmentsExpireWithTheirEvents", TestIndexSegmentsExpireWithTheirEvents},
		{"IndexCatchesUpAfterReopen", TestIndexCatchesUpAfterReopen},
		{"GroupReaderCloseEarly", TestGroupReaderCloseEarly},
		{"DeleteStreamsLeavesNothing", TestDeleteStreamsLeavesNothing},
	} {
		t.Run(tc.name, tc.test)
	}
}

// TestImportTablesCoverSchema: every table and column of the SQLite
// schema is one ImportSQLite copies, so that a migration adding one
// cannot leave its rows behind.
func TestImportTablesCoverSchema(t *testing.T) {
	s, err := Open(t.Context(), ":memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.db.QueryContext(t.Context(), `
		SELECT m.name, p.name FROM sqlite_schema m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT IN ('schema_migrations', 'sqlite_sequence')
		ORDER BY m.name, p.cid`)
	cols, err := collect(rows, err, func(row scanner) (string, error) {
		var table, col string
		err := row.Scan(&table, &col)
		return table + "." + col, err
	})
	if err != nil {
		t.Fatal(err)
	}
	copied := map[string]bool{}
	for _, tb := range importTables {
		for _, c := range strings.Split(tb.cols, ", ") {
			copied[tb.name+"."+c] = true
		}
	}
	for _, c := range cols {
		if !copied[c] {
			t.Errorf("column %s is not imported (importTables)", c)
		}
	}
	if len(cols) != len(copied) {
		t.Errorf("importTables names %d columns, the schema has %d", len(copied), len(cols))
	}
}
