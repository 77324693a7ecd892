package store

import "database/sql"

// SchemaVersion is the schema version OpenSQLite brings a database to.
var SchemaVersion = len(migrations)

// Migrations are the schema's migrations, to build older databases.
var Migrations = migrations

// DB returns the store's database handle, to inspect what the interface
// does not show.
func (s *SQLite) DB() *sql.DB { return s.db }

// AddMigrations adds migrations after this version's, for a test of an
// upgrade; restore takes them away.
func AddMigrations(m ...string) (restore func()) {
	saved := migrations
	migrations = append(append([]string(nil), migrations...), m...)
	return func() { migrations = saved }
}
