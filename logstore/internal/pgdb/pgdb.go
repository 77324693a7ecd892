// Package pgdb lets package logstore's tests run against PostgreSQL as well
// as SQLite: a test run under a parent named OnPostgresTest opens its
// stores in a database of package pgtest's server, one per path the test
// names, so that a test reopening a path reopens the same database.
package pgdb

import (
	"strings"
	"sync"
	"testing"

	"github.com/postern/postern/store/postgres/pgtest"
)

// OnPostgresTest is the name of the tests that rerun logstore's tests on
// PostgreSQL, as subtests.
const OnPostgresTest = "TestOnPostgres"

// Selected reports whether t runs under OnPostgresTest.
func Selected(t testing.TB) bool {
	return strings.HasPrefix(t.Name(), OnPostgresTest)
}

var (
	mu  sync.Mutex            // guards dbs
	dbs = map[string]string{} // path → database URL
)

// URL returns the database standing for path: a new one the first time,
// the same one after (":memory:" is new each time).
func URL(t testing.TB, path string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if u, ok := dbs[path]; ok && path != ":memory:" {
		return u
	}
	u := pgtest.NewDatabase(t)
	dbs[path] = u
	return u
}
