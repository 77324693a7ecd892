package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// SchemaVersion is the schema version Open brings a database to.
var SchemaVersion = len(migrations)

// Pool returns the store's pool, to inspect what the interface does not
// show.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Convert is convert, for its table test.
var Convert = convert

// AddMigrations adds migrations after this version's, for a test of an
// upgrade; restore takes them away.
func AddMigrations(m ...string) (restore func()) {
	saved := migrations
	migrations = append(append([]string(nil), migrations...), m...)
	return func() { migrations = saved }
}
