package logstore

// SchemaVersion is the schema version Open brings a SQLite database to.
var SchemaVersion = len(migrations)

// AddMigrations adds SQLite migrations after this version's, for a test
// of an upgrade; restore takes them away.
func AddMigrations(m ...string) (restore func()) {
	saved := migrations
	migrations = append(append([]string(nil), migrations...), m...)
	return func() { migrations = saved }
}
