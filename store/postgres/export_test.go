package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// SchemaVersion is the schema version Open brings a database to.
var SchemaVersion = len(migrations)

// Pool returns the store's pool, to inspect what the interface does not
// show.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Convert is convert, for its table test.
var Convert = convert
