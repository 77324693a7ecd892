package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite is the embedded Store: one SQLite database file.
//
// All queries share a single connection. SQLite admits one writer at a time
// whatever the pool size, so more connections would only turn in-process
// contention into SQLITE_BUSY and busy_timeout polling; with one connection
// database/sql queues callers instead, RegisterNode's check-then-write cannot
// interleave with another writer in this process, and ":memory:" databases
// work. Reads queue behind writes too, which is fine for metadata-sized
// queries; if that ever shows, add a separate read-only pool, which WAL mode
// allows to run alongside the writer.
type SQLite struct {
	db *sql.DB
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens the SQLite database at path, creating it if needed, and
// brings its schema up to date. A path of ":memory:" gives a private
// in-memory database that lasts until Close.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	dsn, err := sqliteDSN(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	// Never let the connection go idle-closed: reopening it would drop an
	// in-memory database and the page cache.
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)

	s := &SQLite{db: db}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// sqliteDSN builds the driver DSN for path. Pragmas go in the DSN rather than
// through Exec after opening so that they also apply to a connection
// database/sql opens to replace a broken one.
func sqliteDSN(path string) (string, error) {
	const params = "?_busy_timeout=5000" + // wait for other processes' locks (backups, the sqlite3 shell)
		"&_foreign_keys=1" +
		"&_journal_mode=WAL" +
		"&_synchronous=NORMAL" + // durable enough under WAL; FULL costs an fsync per commit
		// Overwrite deleted content with zeros instead of leaving it in
		// free pages and in the gaps of pages still in use: a destroyed
		// key's wrapped material, and later crypto-shredded session
		// secrets, must not linger in the file for a copy of it (a
		// backup, a disk) to give back. See DestroyKey for what WAL mode
		// adds to that.
		"&_pragma=secure_delete(1)" +
		// Every transaction here writes. A deferred one that reads first
		// and then writes fails with SQLITE_BUSY, without waiting, if
		// another process wrote in between; IMMEDIATE takes the write lock
		// up front, under busy_timeout.
		"&_txlock=immediate"
	if path == ":memory:" {
		return path + params, nil
	}
	// A file: URI so that a '?' in the path is not taken for the start of
	// the parameters. filepath.Abs also keeps a path starting with "//"
	// from reading as a URI authority.
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: file:/C:/...
	}
	p = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	return "file:" + p + params, nil
}

// migrations are applied in order, each in its own transaction; the version
// of a database is the number applied. Append only: never edit or reorder an
// entry once it has shipped.
//
// Times are INTEGER unix microseconds (the precision PostgreSQL keeps), NULL
// for the zero time. Maps are JSON objects in TEXT.
var migrations = []string{
	// 1: initial schema.
	`
CREATE TABLE accounts (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at INTEGER
) STRICT;

CREATE TABLE users (
	account       TEXT NOT NULL REFERENCES accounts (id),
	name          TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	admin         INTEGER NOT NULL,
	run_as        TEXT NOT NULL,
	created_at    INTEGER,
	PRIMARY KEY (account, name)
) STRICT;

CREATE TABLE tokens (
	hash       TEXT PRIMARY KEY,
	account    TEXT NOT NULL,
	user_name  TEXT NOT NULL,
	created_at INTEGER,
	expires_at INTEGER,
	-- A user's tokens go with the user.
	FOREIGN KEY (account, user_name) REFERENCES users (account, name) ON DELETE CASCADE
) STRICT;
CREATE INDEX tokens_user ON tokens (account, user_name);

CREATE TABLE activations (
	id                 TEXT PRIMARY KEY,
	account            TEXT NOT NULL REFERENCES accounts (id),
	code_hash          TEXT NOT NULL,
	description        TEXT NOT NULL,
	default_name       TEXT NOT NULL,
	tags               TEXT NOT NULL,
	registration_limit INTEGER NOT NULL,
	registration_count INTEGER NOT NULL,
	expires_at         INTEGER,
	created_at         INTEGER
) STRICT;
CREATE INDEX activations_account ON activations (account);

-- activation_id is not a foreign key: a node stays registered after its
-- activation is deleted, as in Session Manager.
CREATE TABLE nodes (
	id            TEXT PRIMARY KEY,
	account       TEXT NOT NULL REFERENCES accounts (id),
	name          TEXT NOT NULL,
	hostname      TEXT NOT NULL,
	os            TEXT NOT NULL,
	platform      TEXT NOT NULL,
	agent_version TEXT NOT NULL,
	ip            TEXT NOT NULL,
	tags          TEXT NOT NULL,
	activation_id TEXT NOT NULL,
	cert_serial   TEXT NOT NULL,
	registered_at INTEGER,
	last_seen     INTEGER
) STRICT;
CREATE INDEX nodes_account ON nodes (account);

-- owner and target are not foreign keys: session history outlives the
-- users and nodes it names.
CREATE TABLE sessions (
	id            TEXT PRIMARY KEY,
	account       TEXT NOT NULL REFERENCES accounts (id),
	owner         TEXT NOT NULL,
	target        TEXT NOT NULL,
	document      TEXT NOT NULL,
	reason        TEXT NOT NULL,
	status        TEXT NOT NULL,
	status_reason TEXT NOT NULL,
	run_as_user   TEXT NOT NULL,
	started_at    INTEGER,
	ended_at      INTEGER,
	exit_code     INTEGER,
	cols          INTEGER NOT NULL,
	term_rows     INTEGER NOT NULL,
	recorded_seq  INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_account_started ON sessions (account, started_at);
CREATE INDEX sessions_target ON sessions (target, started_at);
CREATE INDEX sessions_owner ON sessions (account, owner, started_at);
CREATE INDEX sessions_status ON sessions (account, status, started_at);
`,
	// 2: session documents, versioned.
	`
CREATE TABLE documents (
	account      TEXT NOT NULL REFERENCES accounts (id),
	name         TEXT NOT NULL,
	version      INTEGER NOT NULL,
	content      TEXT NOT NULL,
	session_type TEXT NOT NULL,
	description  TEXT NOT NULL,
	created_by   TEXT NOT NULL,
	created_at   INTEGER,
	PRIMARY KEY (account, name, version)
) STRICT;
`,
	// 3: the delivery outbox.
	`
CREATE TABLE deliveries (
	account      TEXT NOT NULL REFERENCES accounts (id),
	session_id   TEXT NOT NULL,
	destination  TEXT NOT NULL,
	artifact     TEXT NOT NULL,
	target       TEXT NOT NULL,
	status       TEXT NOT NULL,
	attempts     INTEGER NOT NULL,
	last_error   TEXT NOT NULL,
	location     TEXT NOT NULL,
	bytes        INTEGER NOT NULL,
	cursor       INTEGER NOT NULL,
	next_attempt INTEGER,
	created_at   INTEGER,
	updated_at   INTEGER,
	PRIMARY KEY (account, session_id, destination, artifact)
) STRICT;
CREATE INDEX deliveries_due ON deliveries (status, next_attempt);
`,
	// 4: what the server enforces for a session (JSON of SessionSettings),
	// so that it survives a restart.
	`
ALTER TABLE sessions ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
`,
	// 5: the key service's keys, their versions (material wrapped by the
	// root key) and aliases, and the value that recognises the root key.
	// rotation_period is a time.Duration: integer nanoseconds.
	`
CREATE TABLE keys (
	account         TEXT NOT NULL REFERENCES accounts (id),
	id              TEXT NOT NULL,
	description     TEXT NOT NULL,
	state           TEXT NOT NULL,
	deletion_date   INTEGER,
	policy          TEXT NOT NULL,
	rotation_period INTEGER NOT NULL,
	next_rotation   INTEGER,
	created_at      INTEGER,
	PRIMARY KEY (account, id)
) STRICT;
CREATE INDEX keys_next_rotation ON keys (state, next_rotation);
CREATE INDEX keys_deletion_date ON keys (state, deletion_date);

CREATE TABLE key_versions (
	account    TEXT NOT NULL,
	key_id     TEXT NOT NULL,
	version    INTEGER NOT NULL,
	wrapped    BLOB NOT NULL CHECK (length(wrapped) > 0),
	created_at INTEGER,
	PRIMARY KEY (account, key_id, version),
	FOREIGN KEY (account, key_id) REFERENCES keys (account, id) ON DELETE CASCADE
) STRICT;

CREATE TABLE key_aliases (
	account    TEXT NOT NULL,
	name       TEXT NOT NULL,
	key_id     TEXT NOT NULL,
	created_at INTEGER,
	PRIMARY KEY (account, name),
	FOREIGN KEY (account, key_id) REFERENCES keys (account, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX key_aliases_key ON key_aliases (account, key_id);

-- At most one row: the CHECK pins its id.
CREATE TABLE root_key_check (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	value BLOB NOT NULL
) STRICT;
`,
	// 6: a session's shred key (see Session.ShredKey); NULL once shredded,
	// and for sessions of older versions.
	`
ALTER TABLE sessions ADD COLUMN shred_key BLOB;
`,
	// 7: the audit trail, a hash chain (see AuditRecord).
	`
CREATE TABLE audit (
	seq        INTEGER PRIMARY KEY,
	time       INTEGER NOT NULL,
	account    TEXT NOT NULL,
	actor      TEXT NOT NULL,
	action     TEXT NOT NULL,
	resource   TEXT NOT NULL,
	source     TEXT NOT NULL,
	result     TEXT NOT NULL,
	status     INTEGER NOT NULL,
	request_id TEXT NOT NULL,
	detail     TEXT NOT NULL,
	prev_hash  BLOB,
	hash       BLOB NOT NULL
) STRICT;
CREATE INDEX audit_account_time ON audit (account, time);
`,
	// 8: identities and authorization: users' groups (administrators were
	// the admin flag, which stays for older readers) and single sign-on
	// subject; tokens with IDs, kinds, names and scopes; accounts'
	// policies.
	`
ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN federated TEXT NOT NULL DEFAULT '';
UPDATE users SET groups = '["administrators"]' WHERE admin = 1;
CREATE UNIQUE INDEX users_federated ON users (account, federated) WHERE federated != '';
ALTER TABLE tokens ADD COLUMN id TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'session';
ALTER TABLE tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
CREATE INDEX tokens_id ON tokens (account, user_name, id);
ALTER TABLE accounts ADD COLUMN policies_seeded INTEGER NOT NULL DEFAULT 0;
CREATE TABLE policies (
	account    TEXT NOT NULL REFERENCES accounts (id),
	id         TEXT NOT NULL,
	body       TEXT NOT NULL,
	updated_at INTEGER,
	updated_by TEXT NOT NULL,
	PRIMARY KEY (account, id)
) STRICT;
`,
	// 9: durable cursors of background shippers (how far the audit trail
	// has been copied to each destination).
	`
CREATE TABLE cursors (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) STRICT;
`,
	// 10: when the sign-in behind a session or refresh token happened,
	// carried from refresh to refresh so that a sign-in has a lifetime.
	`
ALTER TABLE tokens ADD COLUMN signed_in_at INTEGER;
`,
	// 11: organizations: a management account, member accounts, and the
	// root and organizational units they sit in. An account's org and
	// parent are not declared foreign keys: organizations refer to their
	// management account, and a cycle of references has no order to copy
	// the tables in (Export); the store checks them itself.
	`
CREATE TABLE organizations (
	id                 TEXT PRIMARY KEY,
	management_account TEXT NOT NULL UNIQUE REFERENCES accounts (id),
	root               TEXT NOT NULL,
	created_at         INTEGER
);
CREATE TABLE org_units (
	id         TEXT PRIMARY KEY,
	org        TEXT NOT NULL REFERENCES organizations (id),
	parent     TEXT REFERENCES org_units (id),
	name       TEXT NOT NULL,
	created_at INTEGER
);
CREATE UNIQUE INDEX org_units_name ON org_units (org, COALESCE(parent, ''), name);
ALTER TABLE accounts ADD COLUMN org TEXT;
ALTER TABLE accounts ADD COLUMN parent TEXT;
CREATE INDEX accounts_org ON accounts (org, parent);
`,
	// 12: an organization's central archive settings.
	`
ALTER TABLE organizations ADD COLUMN archive TEXT NOT NULL DEFAULT '';
`,
	// 13: stack sets, the templates an organization rolls out to its
	// accounts, and their instances, one per account.
	`
CREATE TABLE stack_sets (
	org             TEXT NOT NULL REFERENCES organizations (id),
	name            TEXT NOT NULL,
	description     TEXT NOT NULL,
	template        TEXT NOT NULL,
	template_name   TEXT NOT NULL,
	digest          TEXT NOT NULL,
	parameters      TEXT NOT NULL,
	targets         TEXT NOT NULL,
	created_at      INTEGER,
	updated_at      INTEGER,
	operation       TEXT NOT NULL,
	operation_until INTEGER,
	PRIMARY KEY (org, name)
) STRICT;
CREATE TABLE stack_instances (
	org              TEXT NOT NULL,
	stack_set        TEXT NOT NULL,
	account          TEXT NOT NULL REFERENCES accounts (id),
	status           TEXT NOT NULL,
	reason           TEXT NOT NULL,
	digest           TEXT NOT NULL,
	parameters       TEXT NOT NULL,
	physical_ids     TEXT NOT NULL,
	resources        TEXT NOT NULL,
	drift            TEXT NOT NULL,
	drift_checked_at INTEGER,
	updated_at       INTEGER,
	PRIMARY KEY (org, stack_set, account),
	FOREIGN KEY (org, stack_set) REFERENCES stack_sets (org, name)
) STRICT;
CREATE INDEX stack_instances_account ON stack_instances (account);
`,
	// 14: what operations on stack sets did, the newest few of each.
	`
CREATE TABLE stack_set_operations (
	org        TEXT NOT NULL,
	stack_set  TEXT NOT NULL,
	id         TEXT NOT NULL,
	action     TEXT NOT NULL,
	actor      TEXT NOT NULL,
	stopped    TEXT NOT NULL,
	accounts   TEXT NOT NULL,
	started_at INTEGER,
	ended_at   INTEGER,
	PRIMARY KEY (org, stack_set, id),
	FOREIGN KEY (org, stack_set) REFERENCES stack_sets (org, name)
) STRICT;
CREATE INDEX stack_set_operations_started ON stack_set_operations (org, stack_set, started_at);
`,
	// 15: Run Command's commands and their invocations, one per node.
	`
CREATE TABLE commands (
	account           TEXT NOT NULL REFERENCES accounts (id),
	id                TEXT NOT NULL,
	owner             TEXT NOT NULL,
	document_name     TEXT NOT NULL,
	parameters        TEXT NOT NULL,
	targets           TEXT NOT NULL,
	comment           TEXT NOT NULL,
	max_concurrency   TEXT NOT NULL,
	max_errors        TEXT NOT NULL,
	script            TEXT NOT NULL,
	working_directory TEXT NOT NULL,
	timeout_seconds   INTEGER NOT NULL,
	status            TEXT NOT NULL,
	status_details    TEXT NOT NULL,
	target_count      INTEGER NOT NULL,
	completed_count   INTEGER NOT NULL,
	error_count       INTEGER NOT NULL,
	requested_at      INTEGER,
	ended_at          INTEGER,
	PRIMARY KEY (account, id)
) STRICT;
CREATE INDEX commands_requested ON commands (account, requested_at);
CREATE INDEX commands_running ON commands (requested_at) WHERE ended_at IS NULL;
CREATE TABLE command_invocations (
	account        TEXT NOT NULL,
	command_id     TEXT NOT NULL,
	node_id        TEXT NOT NULL,
	seq            INTEGER NOT NULL,
	node_name      TEXT NOT NULL,
	status         TEXT NOT NULL,
	status_details TEXT NOT NULL,
	session_id     TEXT NOT NULL,
	exit_code      INTEGER,
	stdout         TEXT NOT NULL,
	stderr         TEXT NOT NULL,
	stdout_bytes   INTEGER NOT NULL,
	stderr_bytes   INTEGER NOT NULL,
	started_at     INTEGER,
	ended_at       INTEGER,
	PRIMARY KEY (account, command_id, node_id),
	FOREIGN KEY (account, command_id) REFERENCES commands (account, id)
) STRICT;
`,
	// 16: leases: which server does a piece of background work.
	`
CREATE TABLE leases (
	name    TEXT PRIMARY KEY,
	holder  TEXT NOT NULL,
	expires INTEGER NOT NULL
) STRICT;
`,
	// 17: access keys for the AWS-compatible APIs.
	`
CREATE TABLE access_keys (
	id            TEXT PRIMARY KEY,
	account       TEXT NOT NULL,
	user_name     TEXT NOT NULL,
	sealed_secret BLOB NOT NULL,
	created_at    INTEGER,
	FOREIGN KEY (account, user_name) REFERENCES users (account, name) ON DELETE CASCADE
) STRICT;
CREATE INDEX access_keys_user ON access_keys (account, user_name);
`,
	// 18: placements: which server holds a node's link or a session.
	`
CREATE TABLE placements (
	key    TEXT PRIMARY KEY,
	server TEXT NOT NULL
) STRICT;
`,
}

// migrate applies the migrations the database has not seen yet.
func (s *SQLite) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `
		CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return s.migrateAll(ctx)
}

// migrateAll applies every pending migration in one transaction, so that
// an upgrade whose migration fails leaves the database as it was, at its
// old version, and says so. It reads the version inside the transaction
// so that two processes opening a new database at once do not both apply
// them.
func (s *SQLite) migrateAll(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer tx.Rollback()

	var version int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	switch {
	case version == len(migrations):
		return nil
	case version > len(migrations):
		return fmt.Errorf("store: migrate: database schema version %d is newer than this binary's %d", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("store: migrate from version %d to %d: version %d failed: %w; the database is unchanged, at version %d", version, len(migrations), v+1, err, version)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			v+1, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("store: migrate to version %d: %w", v+1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate from version %d to %d: %w; the database is unchanged, at version %d", version, len(migrations), err, version)
	}
	return nil
}

// Close closes the database.
func (s *SQLite) Close() error {
	return s.db.Close()
}

func (s *SQLite) EnsureAccount(ctx context.Context, a Account) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO NOTHING`,
		a.ID, a.Name, timeArg(a.CreatedAt))
	return wrapErr(err, "ensure account %s", a.ID)
}

func (s *SQLite) CreateUser(ctx context.Context, u User) error {
	groups, err := jsonListArg(u.Groups)
	if err != nil {
		return fmt.Errorf("store: create user %s/%s: %w", u.Account, u.Name, err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO users (account, name, password_hash, admin, groups, run_as, federated, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		u.Account, u.Name, u.PasswordHash, slices.Contains(u.Groups, "administrators"), groups, u.RunAs, u.Federated, timeArg(u.CreatedAt))
	return wrapErr(err, "create user %s/%s", u.Account, u.Name)
}

const userColumns = `account, name, password_hash, groups, run_as, federated, created_at`

func scanUser(row scanner) (User, error) {
	var u User
	var groups string
	err := row.Scan(&u.Account, &u.Name, &u.PasswordHash, &groups, &u.RunAs, &u.Federated, microTime{&u.CreatedAt})
	if err == nil {
		err = json.Unmarshal([]byte(groups), &u.Groups)
		u.Groups = slices.Clip(nilIfEmpty(u.Groups))
	}
	return u, err
}

func (s *SQLite) GetUser(ctx context.Context, account, name string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE account = ? AND name = ?`, account, name))
	if err != nil {
		return User{}, wrapErr(err, "get user %s/%s", account, name)
	}
	return u, nil
}

// UpdateUser updates the user's password hash, groups, RunAs and
// federated identity.
func (s *SQLite) UpdateUser(ctx context.Context, u User) error {
	groups, err := jsonListArg(u.Groups)
	if err != nil {
		return fmt.Errorf("store: update user %s/%s: %w", u.Account, u.Name, err)
	}
	res, err := s.db.ExecContext(ctx, `
		UPDATE users SET password_hash = ?, admin = ?, groups = ?, run_as = ?, federated = ?
		WHERE account = ? AND name = ?`,
		u.PasswordHash, slices.Contains(u.Groups, "administrators"), groups, u.RunAs, u.Federated, u.Account, u.Name)
	return wrapErr(checkAffected(res, err), "update user %s/%s", u.Account, u.Name)
}

func (s *SQLite) FederatedUser(ctx context.Context, account, federated string) (User, error) {
	if federated == "" {
		return User{}, fmt.Errorf("store: federated user: none named: %w", ErrNotFound)
	}
	u, err := scanUser(s.db.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE account = ? AND federated = ?`, account, federated))
	if err != nil {
		return User{}, wrapErr(err, "federated user in %s", account)
	}
	return u, nil
}

// DeleteUser deletes a user and, with it, the user's tokens.
func (s *SQLite) DeleteUser(ctx context.Context, account, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE account = ? AND name = ?`, account, name)
	return wrapErr(checkAffected(res, err), "delete user %s/%s", account, name)
}

// ListUsers returns the account's users ordered by name.
func (s *SQLite) ListUsers(ctx context.Context, account string) ([]User, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE account = ? ORDER BY name`, account)
	us, err := collect(rows, err, scanUser)
	return us, wrapErr(err, "list users in %s", account)
}

func (s *SQLite) CreateToken(ctx context.Context, t Token) error {
	scopes, err := jsonListArg(t.Scopes)
	if err != nil {
		return fmt.Errorf("store: create token for %s/%s: %w", t.Account, t.User, err)
	}
	if t.Kind == "" {
		t.Kind = TokenSession
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO tokens (hash, id, account, user_name, kind, name, scopes, created_at, expires_at, signed_in_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.ID, t.Account, t.User, t.Kind, t.Name, scopes, timeArg(t.CreatedAt), timeArg(t.ExpiresAt), timeArg(t.SignedInAt))
	// The hash stays out of errors: they end up in logs.
	return wrapErr(err, "create token for %s/%s", t.Account, t.User)
}

const tokenColumns = `hash, id, account, user_name, kind, name, scopes, created_at, expires_at, signed_in_at`

func scanToken(row scanner) (Token, error) {
	var t Token
	var scopes string
	err := row.Scan(&t.Hash, &t.ID, &t.Account, &t.User, &t.Kind, &t.Name, &scopes, microTime{&t.CreatedAt}, microTime{&t.ExpiresAt}, microTime{&t.SignedInAt})
	if err == nil {
		err = json.Unmarshal([]byte(scopes), &t.Scopes)
		t.Scopes = nilIfEmpty(t.Scopes)
	}
	return t, err
}

func (s *SQLite) GetToken(ctx context.Context, hash string, now time.Time) (Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if err != nil {
		return Token{}, wrapErr(err, "get token")
	}
	if !t.ExpiresAt.IsZero() && now.After(t.ExpiresAt) {
		return Token{}, fmt.Errorf("store: get token: expired: %w", ErrNotFound)
	}
	return t, nil
}

func (s *SQLite) DeleteToken(ctx context.Context, hash string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM tokens WHERE hash = ?`, hash)
	return wrapErr(checkAffected(res, err), "delete token")
}

func (s *SQLite) ListTokens(ctx context.Context, account, user string, now time.Time) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens
		WHERE account = ? AND user_name = ? AND (expires_at IS NULL OR expires_at = 0 OR expires_at >= ?)
		ORDER BY created_at DESC, id`, account, user, now.UnixMicro())
	ts, err := collect(rows, err, scanToken)
	for i := range ts {
		ts[i].Hash = "" // what lists are for: showing, not using
	}
	return ts, wrapErr(err, "list tokens of %s/%s", account, user)
}

func (s *SQLite) RevokeToken(ctx context.Context, account, user, id string) error {
	if id == "" {
		return fmt.Errorf("store: revoke token: no ID: %w", ErrNotFound)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM tokens WHERE account = ? AND user_name = ? AND id = ?`, account, user, id)
	return wrapErr(checkAffected(res, err), "revoke token %s of %s/%s", id, account, user)
}

func (s *SQLite) RevokeUserTokens(ctx context.Context, account, user string) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM tokens WHERE account = ? AND user_name = ?`, account, user)
	if err != nil {
		return 0, wrapErr(err, "revoke the tokens of %s/%s", account, user)
	}
	n, err := res.RowsAffected()
	return int(n), wrapErr(err, "revoke the tokens of %s/%s", account, user)
}

func (s *SQLite) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := time.Now()
	res, err := s.db.ExecContext(ctx, `INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
		WHERE leases.holder = excluded.holder OR leases.expires <= ?`,
		name, holder, now.Add(ttl).UnixMicro(), now.UnixMicro())
	if err != nil {
		return false, wrapErr(err, "acquire lease %s", name)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapErr(err, "acquire lease %s", name)
}

func (s *SQLite) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
	return wrapErr(err, "release lease %s", name)
}

func (s *SQLite) LeaseHolders(ctx context.Context, prefix string) (map[string]string, error) {
	return scanPairs(s.db.QueryContext(ctx, `SELECT name, holder FROM leases WHERE substr(name, 1, ?) = ? AND expires > ?`,
		len(prefix), prefix, time.Now().UnixMicro()))
}

func (s *SQLite) Place(ctx context.Context, key, server string) (string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", wrapErr(err, "place %s", key)
	}
	defer tx.Rollback()
	var prev string
	err = tx.QueryRowContext(ctx, `SELECT server FROM placements WHERE key = ?`, key).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", wrapErr(err, "placement of %s", key)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO placements (key, server) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET server = excluded.server`, key, server); err != nil {
		return "", wrapErr(err, "place %s", key)
	}
	return prev, wrapErr(tx.Commit(), "place %s", key)
}

func (s *SQLite) Placement(ctx context.Context, key string) (string, error) {
	var server string
	err := s.db.QueryRowContext(ctx, `SELECT server FROM placements WHERE key = ?`, key).Scan(&server)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return server, wrapErr(err, "placement of %s", key)
}

func (s *SQLite) PlaceIf(ctx context.Context, key, server, from string) (bool, error) {
	var res sql.Result
	var err error
	if from == "" {
		res, err = s.db.ExecContext(ctx, `INSERT INTO placements (key, server) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, server)
	} else {
		res, err = s.db.ExecContext(ctx, `UPDATE placements SET server = ? WHERE key = ? AND server = ?`, server, key, from)
	}
	if err != nil {
		return false, wrapErr(err, "place %s", key)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapErr(err, "place %s", key)
}

func (s *SQLite) PlacementsWith(ctx context.Context, prefix string) (map[string]string, error) {
	return scanPairs(s.db.QueryContext(ctx, `SELECT key, server FROM placements WHERE substr(key, 1, ?) = ?`, len(prefix), prefix))
}

// scanPairs reads rows of two strings into a map.
func scanPairs(rows *sql.Rows, err error) (map[string]string, error) {
	if err != nil {
		return nil, wrapErr(err, "placements")
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, wrapErr(err, "placements")
		}
		m[k] = v
	}
	return m, wrapErr(rows.Err(), "placements")
}

func (s *SQLite) Unplace(ctx context.Context, key, server string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM placements WHERE key = ? AND server = ?`, key, server)
	return wrapErr(err, "unplace %s", key)
}

func (s *SQLite) CreateAccessKey(ctx context.Context, k AccessKey) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO access_keys (id, account, user_name, sealed_secret, created_at) VALUES (?, ?, ?, ?, ?)`,
		k.ID, k.Account, k.User, k.SealedSecret, timeArg(k.CreatedAt))
	return wrapErr(err, "create access key for %s/%s", k.Account, k.User)
}

const accessKeyColumns = `id, account, user_name, sealed_secret, created_at`

func scanAccessKey(row scanner) (AccessKey, error) {
	var k AccessKey
	return k, row.Scan(&k.ID, &k.Account, &k.User, &k.SealedSecret, microTime{&k.CreatedAt})
}

func (s *SQLite) GetAccessKey(ctx context.Context, id string) (AccessKey, error) {
	k, err := scanAccessKey(s.db.QueryRowContext(ctx, `SELECT `+accessKeyColumns+` FROM access_keys WHERE id = ?`, id))
	return k, wrapErr(err, "access key %s", id)
}

func (s *SQLite) ListAccessKeys(ctx context.Context, account, user string) ([]AccessKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+accessKeyColumns+` FROM access_keys WHERE account = ? AND user_name = ? ORDER BY created_at, id`, account, user)
	ks, err := collect(rows, err, scanAccessKey)
	return ks, wrapErr(err, "list access keys of %s/%s", account, user)
}

func (s *SQLite) DeleteAccessKey(ctx context.Context, account, user, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM access_keys WHERE account = ? AND user_name = ? AND id = ?`, account, user, id)
	return wrapErr(checkAffected(res, err), "delete access key %s of %s/%s", id, account, user)
}

func (s *SQLite) Cursor(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT value FROM cursors WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, wrapErr(err, "cursor %s", name)
}

func (s *SQLite) SetCursor(ctx context.Context, name string, value int64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO cursors (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return wrapErr(err, "set cursor %s", name)
}

func (s *SQLite) Policies(ctx context.Context, account string) ([]Policy, bool, error) {
	var seeded bool
	if err := s.db.QueryRowContext(ctx, `SELECT policies_seeded FROM accounts WHERE id = ?`, account).Scan(&seeded); err != nil {
		return nil, false, wrapErr(err, "policies of %s", account)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT account, id, body, updated_at, updated_by FROM policies WHERE account = ? ORDER BY id`, account)
	ps, err := collect(rows, err, func(row scanner) (Policy, error) {
		var p Policy
		return p, row.Scan(&p.Account, &p.ID, &p.Text, microTime{&p.UpdatedAt}, &p.UpdatedBy)
	})
	return ps, seeded, wrapErr(err, "policies of %s", account)
}

func (s *SQLite) PutPolicy(ctx context.Context, p Policy) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "put policy %s/%s", p.Account, p.ID)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO policies (account, id, body, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (account, id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		p.Account, p.ID, p.Text, timeArg(p.UpdatedAt), p.UpdatedBy); err != nil {
		return wrapErr(err, "put policy %s/%s", p.Account, p.ID)
	}
	if err := checkAffected(tx.ExecContext(ctx, `UPDATE accounts SET policies_seeded = 1 WHERE id = ?`, p.Account)); err != nil {
		return wrapErr(err, "put policy %s/%s: account", p.Account, p.ID)
	}
	return wrapErr(tx.Commit(), "put policy %s/%s", p.Account, p.ID)
}

func (s *SQLite) DeletePolicy(ctx context.Context, account, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM policies WHERE account = ? AND id = ?`, account, id)
	return wrapErr(checkAffected(res, err), "delete policy %s/%s", account, id)
}

func (s *SQLite) CreateActivation(ctx context.Context, a Activation) error {
	tags, err := jsonMapArg(a.Tags)
	if err != nil {
		return fmt.Errorf("store: create activation %s: %w", a.ID, err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO activations (id, account, code_hash, description, default_name, tags,
			registration_limit, registration_count, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Account, a.CodeHash, a.Description, a.DefaultName, tags,
		a.RegistrationLimit, a.RegistrationCount, timeArg(a.ExpiresAt), timeArg(a.CreatedAt))
	return wrapErr(err, "create activation %s", a.ID)
}

const activationColumns = `id, account, code_hash, description, default_name, tags,
	registration_limit, registration_count, expires_at, created_at`

func scanActivation(row scanner) (Activation, error) {
	var a Activation
	err := row.Scan(&a.ID, &a.Account, &a.CodeHash, &a.Description, &a.DefaultName, jsonMap{&a.Tags},
		&a.RegistrationLimit, &a.RegistrationCount, microTime{&a.ExpiresAt}, microTime{&a.CreatedAt})
	return a, err
}

func (s *SQLite) GetActivation(ctx context.Context, id string) (Activation, error) {
	a, err := scanActivation(s.db.QueryRowContext(ctx,
		`SELECT `+activationColumns+` FROM activations WHERE id = ?`, id))
	if err != nil {
		return Activation{}, wrapErr(err, "get activation %s", id)
	}
	return a, nil
}

// ListActivations returns the account's activations, oldest first.
func (s *SQLite) ListActivations(ctx context.Context, account string) ([]Activation, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+activationColumns+` FROM activations WHERE account = ? ORDER BY created_at, id`, account)
	as, err := collect(rows, err, scanActivation)
	return as, wrapErr(err, "list activations in %s", account)
}

// PutDocument implements Store. The next version number is taken inside
// the insert, so concurrent writers get distinct versions.
func (s *SQLite) PutDocument(ctx context.Context, d Document) (Document, error) {
	err := s.db.QueryRowContext(ctx, `
		INSERT INTO documents (account, name, version, content, session_type, description, created_by, created_at)
		VALUES (?, ?, (SELECT COALESCE(MAX(version), 0) + 1 FROM documents WHERE account = ? AND name = ?), ?, ?, ?, ?, ?)
		RETURNING version`,
		d.Account, d.Name, d.Account, d.Name, d.Content, d.SessionType, d.Description, d.CreatedBy, timeArg(d.CreatedAt),
	).Scan(&d.Version)
	if err != nil {
		return Document{}, wrapErr(err, "put document %s", d.Name)
	}
	return d, nil
}

const documentColumns = `account, name, version, content, session_type, description, created_by, created_at`

func scanDocument(row scanner) (Document, error) {
	var d Document
	err := row.Scan(&d.Account, &d.Name, &d.Version, &d.Content, &d.SessionType, &d.Description, &d.CreatedBy, microTime{&d.CreatedAt})
	return d, err
}

// GetDocument implements Store.
func (s *SQLite) GetDocument(ctx context.Context, account, name string, version int) (Document, error) {
	q := `SELECT ` + documentColumns + ` FROM documents WHERE account = ? AND name = ? ORDER BY version DESC LIMIT 1`
	args := []any{account, name}
	if version > 0 {
		q = `SELECT ` + documentColumns + ` FROM documents WHERE account = ? AND name = ? AND version = ?`
		args = append(args, version)
	}
	d, err := scanDocument(s.db.QueryRowContext(ctx, q, args...))
	if err != nil {
		return Document{}, wrapErr(err, "get document %s version %d", name, version)
	}
	return d, nil
}

// ListDocuments implements Store.
func (s *SQLite) ListDocuments(ctx context.Context, account string) ([]Document, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+documentColumns+` FROM documents d WHERE account = ?
		AND version = (SELECT MAX(version) FROM documents WHERE account = d.account AND name = d.name)
		ORDER BY name`, account)
	ds, err := collect(rows, err, scanDocument)
	return ds, wrapErr(err, "list documents in %s", account)
}

// DeleteDocument implements Store.
func (s *SQLite) DeleteDocument(ctx context.Context, account, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM documents WHERE account = ? AND name = ?`, account, name)
	return wrapErr(checkAffected(res, err), "delete document %s", name)
}

// RegisterNode implements Store. The node's Account and ActivationID are
// taken from the activation, whatever n holds, so that a node can only land
// in the account that created the activation. An activation with a zero
// ExpiresAt counts as expired.
func (s *SQLite) RegisterNode(ctx context.Context, activationID string, n Node, now time.Time) error {
	err := s.registerNode(ctx, activationID, n, now)
	return wrapErr(err, "register node %s with activation %s", n.ID, activationID)
}

func (s *SQLite) registerNode(ctx context.Context, activationID string, n Node, now time.Time) error {
	tags, err := jsonMapArg(n.Tags)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var (
		account      string
		limit, count int
		expires      time.Time
	)
	err = tx.QueryRowContext(ctx, `
		SELECT account, registration_limit, registration_count, expires_at
		FROM activations WHERE id = ?`, activationID).
		Scan(&account, &limit, &count, microTime{&expires})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("activation: %w", ErrNotFound)
	case err != nil:
		return err
	case now.After(expires):
		return ErrExpired
	case count >= limit:
		return ErrExhausted
	}

	// The count < limit condition repeats the check above so that the limit
	// holds by itself, not only because of how the transaction locks.
	res, err := tx.ExecContext(ctx, `
		UPDATE activations SET registration_count = registration_count + 1
		WHERE id = ? AND registration_count < registration_limit`, activationID)
	if err := checkAffected(res, err); err != nil {
		if errors.Is(err, ErrNotFound) {
			return ErrExhausted
		}
		return err
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO nodes (id, account, name, hostname, os, platform, agent_version, ip, tags,
			activation_id, cert_serial, registered_at, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, account, n.Name, n.Hostname, n.OS, n.Platform, n.AgentVersion, n.IP, tags,
		activationID, n.CertSerial, timeArg(n.RegisteredAt), timeArg(n.LastSeen))
	if err != nil {
		return err // rolls back the count too
	}
	return tx.Commit()
}

const nodeColumns = `id, account, name, hostname, os, platform, agent_version, ip, tags,
	activation_id, cert_serial, registered_at, last_seen`

func scanNode(row scanner) (Node, error) {
	var n Node
	err := row.Scan(&n.ID, &n.Account, &n.Name, &n.Hostname, &n.OS, &n.Platform, &n.AgentVersion,
		&n.IP, jsonMap{&n.Tags}, &n.ActivationID, &n.CertSerial,
		microTime{&n.RegisteredAt}, microTime{&n.LastSeen})
	return n, err
}

func (s *SQLite) GetNode(ctx context.Context, id string) (Node, error) {
	n, err := scanNode(s.db.QueryRowContext(ctx, `SELECT `+nodeColumns+` FROM nodes WHERE id = ?`, id))
	if err != nil {
		return Node{}, wrapErr(err, "get node %s", id)
	}
	return n, nil
}

// ListNodes returns the account's nodes ordered by name, then id.
func (s *SQLite) ListNodes(ctx context.Context, account string) ([]Node, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+nodeColumns+` FROM nodes WHERE account = ? ORDER BY name, id`, account)
	ns, err := collect(rows, err, scanNode)
	return ns, wrapErr(err, "list nodes in %s", account)
}

// TouchNode implements Store. It sets LastSeen, IP and AgentVersion to the
// given values, empty ones included.
func (s *SQLite) TouchNode(ctx context.Context, id string, seen time.Time, ip, agentVersion string) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE nodes SET last_seen = ?, ip = ?, agent_version = ? WHERE id = ?`,
		timeArg(seen), ip, agentVersion, id)
	return wrapErr(checkAffected(res, err), "touch node %s", id)
}

// DeleteNode implements Store.
func (s *SQLite) DeleteNode(ctx context.Context, account, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM nodes WHERE account = ? AND id = ?`, account, id)
	return wrapErr(checkAffected(res, err), "delete node %s", id)
}

func (s *SQLite) CreateSession(ctx context.Context, se Session) error {
	settings, err := json.Marshal(se.Settings)
	if err != nil {
		return fmt.Errorf("store: create session %s: %w", se.ID, err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO sessions (id, account, owner, target, document, reason, status, status_reason,
			run_as_user, started_at, ended_at, exit_code, cols, term_rows, recorded_seq, settings, shred_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		se.ID, se.Account, se.Owner, se.Target, se.Document, se.Reason, se.Status, se.StatusReason,
		se.RunAsUser, timeArg(se.StartedAt), timeArg(se.EndedAt), intPtrArg(se.ExitCode),
		se.Cols, se.Rows, int64(se.RecordedSeq), string(settings), se.ShredKey)
	return wrapErr(err, "create session %s", se.ID)
}

const sessionColumns = `id, account, owner, target, document, reason, status, status_reason,
	run_as_user, started_at, ended_at, exit_code, cols, term_rows, recorded_seq, settings, shred_key`

func scanSession(row scanner) (Session, error) {
	var (
		se       Session
		exit     sql.Null[int]
		seq      int64
		settings string
	)
	err := row.Scan(&se.ID, &se.Account, &se.Owner, &se.Target, &se.Document, &se.Reason,
		&se.Status, &se.StatusReason, &se.RunAsUser, microTime{&se.StartedAt}, microTime{&se.EndedAt},
		&exit, &se.Cols, &se.Rows, &seq, &settings, &se.ShredKey)
	if err != nil {
		return se, err
	}
	if exit.Valid {
		se.ExitCode = &exit.V
	}
	se.RecordedSeq = uint64(seq)
	if err := json.Unmarshal([]byte(settings), &se.Settings); err != nil {
		return se, fmt.Errorf("session %s: settings %q: %w", se.ID, settings, err)
	}
	return se, nil
}

func (s *SQLite) GetSession(ctx context.Context, id string) (Session, error) {
	se, err := scanSession(s.db.QueryRowContext(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if err != nil {
		return Session{}, wrapErr(err, "get session %s", id)
	}
	return se, nil
}

// ShredSession implements Store. Like DestroyKey, it ends with a
// truncating checkpoint, so that the shred key is gone from the files, not
// only from the table.
func (s *SQLite) ShredSession(ctx context.Context, account, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE sessions SET shred_key = NULL WHERE id = ? AND account = ?`, id, account)
	if err := checkAffected(res, err); err != nil {
		return wrapErr(err, "shred session %s", id)
	}
	s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return nil
}

// UpdateSession implements Store. The mutable fields are Status,
// StatusReason, EndedAt, ExitCode, Cols, Rows and RecordedSeq; the rest is
// fixed when the session starts. The session must match on both ID and
// Account.
func (s *SQLite) UpdateSession(ctx context.Context, se Session) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE sessions SET status = ?, status_reason = ?, run_as_user = ?, ended_at = ?, exit_code = ?,
			cols = ?, term_rows = ?, recorded_seq = ?
		WHERE id = ? AND account = ?`,
		se.Status, se.StatusReason, se.RunAsUser, timeArg(se.EndedAt), intPtrArg(se.ExitCode),
		se.Cols, se.Rows, int64(se.RecordedSeq), se.ID, se.Account)
	return wrapErr(checkAffected(res, err), "update session %s", se.ID)
}

// activeStatuses are the statuses for which Session.Active reports true.
var activeStatuses = []any{StatusConnecting, StatusConnected, StatusTerminating}

// ListSessions implements Store. Sessions that started at the same time are
// ordered by descending ID so that pages are stable.
func (s *SQLite) ListSessions(ctx context.Context, f SessionFilter) ([]Session, error) {
	var (
		where []string
		args  []any
	)
	if f.Account != "" {
		where = append(where, "account = ?")
		args = append(args, f.Account)
	}
	if f.Active != nil {
		in := "IN"
		if !*f.Active {
			in = "NOT IN"
		}
		where = append(where, "status "+in+" (?"+strings.Repeat(", ?", len(activeStatuses)-1)+")")
		args = append(args, activeStatuses...)
	}
	if f.Target != "" {
		where = append(where, "target = ?")
		args = append(args, f.Target)
	}
	if f.Owner != "" {
		where = append(where, "owner = ?")
		args = append(args, f.Owner)
	}
	if !f.Since.IsZero() {
		where = append(where, "started_at >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	q := `SELECT ` + sessionColumns + ` FROM sessions`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY started_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	ss, err := collect(rows, err, scanSession)
	return ss, wrapErr(err, "list sessions")
}

// wrapErr adds context to err and translates SQLite errors callers branch on
// into this package's sentinel errors. It returns nil if err is nil.
func wrapErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			err = ErrConflict
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			err = fmt.Errorf("referenced record %w", ErrNotFound)
		}
	}
	return fmt.Errorf("store: "+format+": %w", append(args, err)...)
}

// checkAffected turns an update or delete that matched no row into
// ErrNotFound.
func checkAffected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every row with scan. It takes the results of QueryContext
// as they are, so that callers have one error to check.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// timeArg returns t as a query argument: unix microseconds, or NULL for the
// zero time, whose UnixMicro is not zero and would not compare sensibly.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// microTime scans what timeArg stored into *t, in UTC.
type microTime struct{ t *time.Time }

func (m microTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*m.t = time.Time{}
	case int64:
		*m.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column holds %T, want integer", src)
	}
	return nil
}

// jsonMapArg returns m as a JSON object. A nil map is stored as {}, so that
// the column is always an object.
func jsonMapArg(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// nilIfEmpty makes what was stored from nil read back as nil.
func nilIfEmpty(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// jsonListArg returns l as a JSON array; nil is [].
func jsonListArg(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// jsonMap scans a JSON object into *m. An empty object gives a nil map, so
// that what was stored from nil reads back as nil.
type jsonMap struct{ m *map[string]string }

func (j jsonMap) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("map column holds %T, want text", src)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if len(m) == 0 {
		m = nil
	}
	*j.m = m
	return nil
}

func intPtrArg(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// CreateDeliveries implements Store.
func (s *SQLite) CreateDeliveries(ctx context.Context, ds []Delivery) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "create deliveries")
	}
	defer tx.Rollback()
	for _, d := range ds {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO deliveries (`+deliveryColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.Account, d.SessionID, d.Destination, d.Artifact, d.Target, d.Status, d.Attempts,
			d.LastError, d.Location, d.Bytes, int64(d.Cursor), timeArg(d.NextAttempt), timeArg(d.CreatedAt), timeArg(d.UpdatedAt))
		if err != nil {
			return wrapErr(err, "create delivery of %s %s to %s", d.SessionID, d.Artifact, d.Destination)
		}
	}
	return wrapErr(tx.Commit(), "create deliveries")
}

const deliveryColumns = `account, session_id, destination, artifact, target, status, attempts,
	last_error, location, bytes, cursor, next_attempt, created_at, updated_at`

func scanDelivery(row scanner) (Delivery, error) {
	var d Delivery
	var cursor int64
	err := row.Scan(&d.Account, &d.SessionID, &d.Destination, &d.Artifact, &d.Target, &d.Status, &d.Attempts,
		&d.LastError, &d.Location, &d.Bytes, &cursor, microTime{&d.NextAttempt}, microTime{&d.CreatedAt}, microTime{&d.UpdatedAt})
	d.Cursor = uint64(cursor)
	return d, err
}

// UpdateDelivery implements Store.
func (s *SQLite) UpdateDelivery(ctx context.Context, d Delivery) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE deliveries SET status = ?, attempts = ?, last_error = ?, location = ?, bytes = ?,
			cursor = ?, next_attempt = ?, updated_at = ?
		WHERE account = ? AND session_id = ? AND destination = ? AND artifact = ?`,
		d.Status, d.Attempts, d.LastError, d.Location, d.Bytes, int64(d.Cursor), timeArg(d.NextAttempt), timeArg(d.UpdatedAt),
		d.Account, d.SessionID, d.Destination, d.Artifact)
	return wrapErr(checkAffected(res, err), "update delivery of %s %s to %s", d.SessionID, d.Artifact, d.Destination)
}

// ReleaseDeliveries implements Store.
func (s *SQLite) ReleaseDeliveries(ctx context.Context, account, sessionID string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE deliveries SET status = ?, next_attempt = ?, updated_at = ?
		WHERE account = ? AND session_id = ? AND status = ?`,
		DeliveryPending, timeArg(now), timeArg(now), account, sessionID, DeliveryWaiting)
	return wrapErr(err, "release deliveries of %s", sessionID)
}

// ReopenDeliveries implements Store.
func (s *SQLite) ReopenDeliveries(ctx context.Context, account, sessionID string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE deliveries SET status = ?, next_attempt = ?, updated_at = ?
		WHERE account = ? AND session_id = ? AND status != ?`,
		DeliveryPending, timeArg(now), timeArg(now), account, sessionID, DeliveryWaiting)
	return wrapErr(err, "reopen deliveries of %s", sessionID)
}

// ListDeliveries implements Store.
func (s *SQLite) ListDeliveries(ctx context.Context, account, sessionID string) ([]Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE account = ? AND session_id = ? ORDER BY destination, artifact`, account, sessionID)
	ds, err := collect(rows, err, scanDelivery)
	return ds, wrapErr(err, "list deliveries of %s", sessionID)
}

// DueDeliveries implements Store.
func (s *SQLite) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE status IN (?, ?) AND next_attempt <= ? ORDER BY next_attempt, session_id, destination, artifact LIMIT ?`,
		DeliveryPending, DeliveryFailing, timeArg(now), limit)
	ds, err := collect(rows, err, scanDelivery)
	return ds, wrapErr(err, "list due deliveries")
}

// WaitingDeliveries implements Store.
func (s *SQLite) WaitingDeliveries(ctx context.Context, limit int) ([]Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE status = ? ORDER BY created_at, session_id LIMIT ?`, DeliveryWaiting, limit)
	ds, err := collect(rows, err, scanDelivery)
	return ds, wrapErr(err, "list waiting deliveries")
}

// DeliveryBacklog implements Store.
func (s *SQLite) DeliveryBacklog(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest time.Time
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE status != ?`,
		DeliveryDelivered).Scan(&n, microTime{&oldest})
	return n, oldest, wrapErr(err, "delivery backlog")
}

func (s *SQLite) OwedSessions(ctx context.Context, except ...string) ([]SessionRef, error) {
	q := `SELECT DISTINCT account, session_id FROM deliveries WHERE status != ?`
	args := []any{DeliveryDelivered}
	for _, d := range except {
		q += ` AND destination != ?`
		args = append(args, d)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY account, session_id`, args...)
	refs, err := collect(rows, err, func(row scanner) (SessionRef, error) {
		var r SessionRef
		err := row.Scan(&r.Account, &r.SessionID)
		return r, err
	})
	return refs, wrapErr(err, "owed sessions")
}

// CreateKey implements Store. The key and its versions are inserted in one
// transaction. Versions must be numbered 1, 2, ... in order, as
// AddKeyVersion numbers them, so that the last one is the newest.
func (s *SQLite) CreateKey(ctx context.Context, k Key) error {
	for i, v := range k.Versions {
		if v.Version != i+1 {
			return fmt.Errorf("store: create key %s/%s: version %d at position %d, want versions 1, 2, ... in order",
				k.Account, k.ID, v.Version, i+1)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "create key %s/%s", k.Account, k.ID)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `
		INSERT INTO keys (account, id, description, state, deletion_date, policy,
			rotation_period, next_rotation, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.Account, k.ID, k.Description, k.State, timeArg(k.DeletionDate), k.Policy,
		int64(k.RotationPeriod), timeArg(k.NextRotation), timeArg(k.CreatedAt))
	if err != nil {
		return wrapErr(err, "create key %s/%s", k.Account, k.ID)
	}
	for _, v := range k.Versions {
		if err := insertKeyVersion(ctx, tx, k.Account, k.ID, v); err != nil {
			return wrapErr(err, "create key %s/%s version %d", k.Account, k.ID, v.Version)
		}
	}
	return wrapErr(tx.Commit(), "create key %s/%s", k.Account, k.ID)
}

func insertKeyVersion(ctx context.Context, tx *sql.Tx, account, id string, v KeyVersion) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO key_versions (account, key_id, version, wrapped, created_at)
		VALUES (?, ?, ?, ?, ?)`,
		account, id, v.Version, v.Wrapped, timeArg(v.CreatedAt))
	return err
}

// keysWithVersions selects keys joined with their versions, one row per
// version and one, with NULL version columns, for a key without any; add
// WHERE and ORDER BY, the order keeping each key's rows together and by
// version, and read the rows with collectKeys. Reading a key and its
// versions in one statement reads them as of one moment.
const keysWithVersions = `
	SELECT k.account, k.id, k.description, k.state, k.deletion_date, k.policy,
		k.rotation_period, k.next_rotation, k.created_at,
		v.version, v.wrapped, v.created_at
	FROM keys k LEFT JOIN key_versions v ON v.account = k.account AND v.key_id = k.id`

// keyRow is one row of keysWithVersions.
type keyRow struct {
	k Key
	v sql.Null[KeyVersion]
}

func scanKeyRow(row scanner) (keyRow, error) {
	var (
		r       keyRow
		period  int64
		version sql.Null[int]
	)
	err := row.Scan(&r.k.Account, &r.k.ID, &r.k.Description, &r.k.State, microTime{&r.k.DeletionDate}, &r.k.Policy,
		&period, microTime{&r.k.NextRotation}, microTime{&r.k.CreatedAt},
		&version, &r.v.V.Wrapped, microTime{&r.v.V.CreatedAt})
	r.k.RotationPeriod = time.Duration(period)
	r.v.V.Version, r.v.Valid = version.V, version.Valid
	return r, err
}

// collectKeys reads the rows of a keysWithVersions query into keys, with
// their versions.
func collectKeys(rows *sql.Rows, err error) ([]Key, error) {
	rs, err := collect(rows, err, scanKeyRow)
	if err != nil {
		return nil, err
	}
	var ks []Key
	for _, r := range rs {
		if n := len(ks); n == 0 || ks[n-1].Account != r.k.Account || ks[n-1].ID != r.k.ID {
			ks = append(ks, r.k)
		}
		if r.v.Valid {
			k := &ks[len(ks)-1]
			k.Versions = append(k.Versions, r.v.V)
		}
	}
	return ks, nil
}

// GetKey implements Store.
func (s *SQLite) GetKey(ctx context.Context, account, id string) (Key, error) {
	rows, err := s.db.QueryContext(ctx, keysWithVersions+`
		WHERE k.account = ? AND k.id = ? ORDER BY v.version`, account, id)
	ks, err := collectKeys(rows, err)
	if err == nil && len(ks) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return Key{}, wrapErr(err, "get key %s/%s", account, id)
	}
	return ks[0], nil
}

// ListKeys implements Store. Keys created at the same time are ordered by
// id.
func (s *SQLite) ListKeys(ctx context.Context, account string) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, keysWithVersions+`
		WHERE k.account = ? ORDER BY k.created_at, k.id, v.version`, account)
	ks, err := collectKeys(rows, err)
	return ks, wrapErr(err, "list keys in %s", account)
}

// DueKeys implements Store. A rotation is due only for an enabled key, as
// AWS KMS rotates neither disabled keys nor keys pending deletion. The keys
// come by account, then as ListKeys orders them.
func (s *SQLite) DueKeys(ctx context.Context, now time.Time) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, keysWithVersions+`
		WHERE (k.state = ? AND k.next_rotation <= ?) OR (k.state = ? AND k.deletion_date <= ?)
		ORDER BY k.account, k.created_at, k.id, v.version`,
		KeyEnabled, timeArg(now), KeyPendingDeletion, timeArg(now))
	ks, err := collectKeys(rows, err)
	return ks, wrapErr(err, "list due keys")
}

// UpdateKey implements Store. The key must match on both ID and Account;
// its CreatedAt and Versions are left as they are.
func (s *SQLite) UpdateKey(ctx context.Context, k Key) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE keys SET description = ?, state = ?, deletion_date = ?, policy = ?,
			rotation_period = ?, next_rotation = ?
		WHERE account = ? AND id = ?`,
		k.Description, k.State, timeArg(k.DeletionDate), k.Policy,
		int64(k.RotationPeriod), timeArg(k.NextRotation), k.Account, k.ID)
	return wrapErr(checkAffected(res, err), "update key %s/%s", k.Account, k.ID)
}

// AddKeyVersion implements Store. A missing key is ErrNotFound. A key
// without versions takes version 1.
func (s *SQLite) AddKeyVersion(ctx context.Context, account, id string, v KeyVersion, nextRotation time.Time) error {
	err := s.addKeyVersion(ctx, account, id, v, nextRotation)
	return wrapErr(err, "add version %d to key %s/%s", v.Version, account, id)
}

func (s *SQLite) addKeyVersion(ctx context.Context, account, id string, v KeyVersion, nextRotation time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var last int
	err = tx.QueryRowContext(ctx, `
		SELECT (SELECT COALESCE(MAX(version), 0) FROM key_versions WHERE account = k.account AND key_id = k.id)
		FROM keys k WHERE account = ? AND id = ?`, account, id).Scan(&last)
	if err != nil {
		return err // sql.ErrNoRows: no such key
	}
	if v.Version != last+1 {
		return fmt.Errorf("the key is at version %d: %w", last, ErrConflict)
	}
	if err := insertKeyVersion(ctx, tx, account, id, v); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE keys SET next_rotation = ? WHERE account = ? AND id = ?`,
		timeArg(nextRotation), account, id); err != nil {
		return err
	}
	return tx.Commit()
}

// DestroyKey implements Store. The versions and aliases are deleted by
// statements of their own rather than left to the foreign keys' cascade,
// so that the material goes even from a database whose foreign keys are
// off.
//
// secure_delete (see sqliteDSN) zeroes the material, but in WAL mode the
// zeros reach the database file only at a checkpoint, and the WAL file
// keeps the frames that once wrote the material until a checkpoint
// truncates it. So a truncating checkpoint follows: destruction is rare,
// and what it promises (nothing left to decrypt with) must hold on disk,
// not only in the tables. If readers keep it from completing, the
// material goes at the next checkpoint instead; the key is gone either way.
func (s *SQLite) DestroyKey(ctx context.Context, account, id string) error {
	if err := s.destroyKey(ctx, account, id); err != nil {
		return wrapErr(err, "destroy key %s/%s", account, id)
	}
	s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return nil
}

func (s *SQLite) destroyKey(ctx context.Context, account, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{
		`DELETE FROM key_aliases WHERE account = ? AND key_id = ?`,
		`DELETE FROM key_versions WHERE account = ? AND key_id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, account, id); err != nil {
			return err
		}
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE account = ? AND id = ?`, account, id)
	if err := checkAffected(res, err); err != nil {
		return err
	}
	return tx.Commit()
}

// PutAlias implements Store. An alias pointed at another key keeps its
// CreatedAt; a.CreatedAt is used only when the alias is new. A key that
// does not exist in the alias's account is ErrNotFound, the foreign key
// refusing it.
func (s *SQLite) PutAlias(ctx context.Context, a KeyAlias) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO key_aliases (account, name, key_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (account, name) DO UPDATE SET key_id = excluded.key_id`,
		a.Account, a.Name, a.KeyID, timeArg(a.CreatedAt))
	return wrapErr(err, "put alias %s/%s for key %s", a.Account, a.Name, a.KeyID)
}

const aliasColumns = `account, name, key_id, created_at`

func scanAlias(row scanner) (KeyAlias, error) {
	var a KeyAlias
	err := row.Scan(&a.Account, &a.Name, &a.KeyID, microTime{&a.CreatedAt})
	return a, err
}

// GetAlias implements Store.
func (s *SQLite) GetAlias(ctx context.Context, account, name string) (KeyAlias, error) {
	a, err := scanAlias(s.db.QueryRowContext(ctx,
		`SELECT `+aliasColumns+` FROM key_aliases WHERE account = ? AND name = ?`, account, name))
	if err != nil {
		return KeyAlias{}, wrapErr(err, "get alias %s/%s", account, name)
	}
	return a, nil
}

// ListAliases implements Store.
func (s *SQLite) ListAliases(ctx context.Context, account string) ([]KeyAlias, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+aliasColumns+` FROM key_aliases WHERE account = ? ORDER BY name`, account)
	as, err := collect(rows, err, scanAlias)
	return as, wrapErr(err, "list aliases in %s", account)
}

// DeleteAlias implements Store. A missing alias is ErrNotFound; the key
// stays.
func (s *SQLite) DeleteAlias(ctx context.Context, account, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM key_aliases WHERE account = ? AND name = ?`, account, name)
	return wrapErr(checkAffected(res, err), "delete alias %s/%s", account, name)
}

// RootKeyCheck implements Store.
func (s *SQLite) RootKeyCheck(ctx context.Context) ([]byte, error) {
	var check []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM root_key_check WHERE id = 1`).Scan(&check)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapErr(err, "get root key check")
	}
	return check, nil
}

// SetRootKeyCheck implements Store. An empty check is refused: it would
// read back as none.
func (s *SQLite) SetRootKeyCheck(ctx context.Context, check []byte) error {
	if len(check) == 0 {
		return errors.New("store: set root key check: empty check")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO root_key_check (id, value) VALUES (1, ?)`, check)
	return wrapErr(err, "set root key check")
}

// AppendAudit implements Store.
func (s *SQLite) AppendAudit(ctx context.Context, r AuditRecord, link func(AuditRecord) []byte) (AuditRecord, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return r, wrapErr(err, "append audit record")
	}
	defer tx.Rollback()
	var last sql.NullInt64
	var prev []byte
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return r, wrapErr(err, "append audit record")
	}
	r.Seq, r.PrevHash = last.Int64+1, prev
	r.Hash = link(r)
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO audit (seq, time, account, actor, action, resource, source, result, status, request_id, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, timeArg(r.Time), r.Account, r.Actor, r.Action, r.Resource, r.Source, r.Result, r.Status, r.RequestID, r.Detail, r.PrevHash, r.Hash); err != nil {
		return r, wrapErr(err, "append audit record")
	}
	return r, wrapErr(tx.Commit(), "append audit record")
}

// ListAudit implements Store.
func (s *SQLite) EachAudit(ctx context.Context, f AuditFilter, fn func(AuditRecord) error) error {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.Account != "" {
		add("account = ?", f.Account)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Action != "" {
		add("instr(action, ?) > 0", f.Action)
	}
	if !f.Since.IsZero() {
		add("time >= ?", timeArg(f.Since))
	}
	if f.AfterSeq > 0 {
		add("seq > ?", f.AfterSeq)
	}
	q := `SELECT seq, time, account, actor, action, resource, source, result, status, request_id, detail, prev_hash, hash FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return wrapErr(err, "list audit records")
	}
	defer rows.Close()
	for rows.Next() {
		var r AuditRecord
		if err := rows.Scan(&r.Seq, microTime{&r.Time}, &r.Account, &r.Actor, &r.Action, &r.Resource, &r.Source, &r.Result, &r.Status, &r.RequestID, &r.Detail, &r.PrevHash, &r.Hash); err != nil {
			return wrapErr(err, "list audit records")
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return wrapErr(rows.Err(), "list audit records")
}

func (s *SQLite) ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	var rs []AuditRecord
	err := s.EachAudit(ctx, f, func(r AuditRecord) error { rs = append(rs, r); return nil })
	return rs, err
}
