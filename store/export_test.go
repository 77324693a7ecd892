package store

import "database/sql"

// SchemaVersion is the schema version OpenSQLite brings a database to.
var SchemaVersion = len(migrations)

// Migrations are the schema's migrations, to build older databases.
var Migrations = migrations

// DB returns the store's database handle, to inspect what the interface
// does not show.
func (s *SQLite) DB() *sql.DB { return s.db }
