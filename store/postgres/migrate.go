package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// migrations are applied in order, each in its own transaction; the
// version of a database is the number applied. Append only: never edit or
// reorder an entry once it has shipped. Versions count apart from the
// SQLite store's: this schema began at that one's version 10, whole.
//
// The tables and their columns are the SQLite schema's, name for name, so
// that Import can copy a SQLite deployment table by table without a list
// of its own to forget a table in (TestSchemasMatch holds them to it).
// The types are PostgreSQL's own: timestamptz where SQLite keeps unix
// microseconds (the precision both keep), boolean for its 0/1 flags,
// bytea for blobs, bigint for every integer. Maps and lists stay JSON in
// text, as SQLite keeps them: jsonb would reorder nothing the store
// reads, but refuses a \u0000 that text holds.
//
// Text columns are COLLATE "C": ordering by bytes, as SQLite's BINARY
// does, so that lists come in the same order from both stores and from
// databases created with any locale.
//
// Indexes on sessions' start time are descending, as ListSessions reads
// them, newest first.
var migrations = []string{
	// 1: the schema of SQLite version 10.
	`
CREATE TABLE accounts (
	id              text COLLATE "C" PRIMARY KEY,
	name            text COLLATE "C" NOT NULL,
	created_at      timestamptz,
	policies_seeded boolean NOT NULL DEFAULT false
);

CREATE TABLE users (
	account       text COLLATE "C" NOT NULL REFERENCES accounts (id),
	name          text COLLATE "C" NOT NULL,
	password_hash text COLLATE "C" NOT NULL,
	admin         boolean NOT NULL,
	run_as        text COLLATE "C" NOT NULL,
	created_at    timestamptz,
	groups        text COLLATE "C" NOT NULL DEFAULT '[]',
	federated     text COLLATE "C" NOT NULL DEFAULT '',
	PRIMARY KEY (account, name)
);
CREATE UNIQUE INDEX users_federated ON users (account, federated) WHERE federated != '';

CREATE TABLE tokens (
	hash         text COLLATE "C" PRIMARY KEY,
	account      text COLLATE "C" NOT NULL,
	user_name    text COLLATE "C" NOT NULL,
	created_at   timestamptz,
	expires_at   timestamptz,
	id           text COLLATE "C" NOT NULL DEFAULT '',
	kind         text COLLATE "C" NOT NULL DEFAULT 'session',
	name         text COLLATE "C" NOT NULL DEFAULT '',
	scopes       text COLLATE "C" NOT NULL DEFAULT '[]',
	signed_in_at timestamptz,
	-- A user's tokens go with the user.
	FOREIGN KEY (account, user_name) REFERENCES users (account, name) ON DELETE CASCADE
);
CREATE INDEX tokens_user ON tokens (account, user_name);
CREATE INDEX tokens_id ON tokens (account, user_name, id);

CREATE TABLE policies (
	account    text COLLATE "C" NOT NULL REFERENCES accounts (id),
	id         text COLLATE "C" NOT NULL,
	body       text COLLATE "C" NOT NULL,
	updated_at timestamptz,
	updated_by text COLLATE "C" NOT NULL,
	PRIMARY KEY (account, id)
);

CREATE TABLE cursors (
	name  text COLLATE "C" PRIMARY KEY,
	value bigint NOT NULL
);

CREATE TABLE activations (
	id                 text COLLATE "C" PRIMARY KEY,
	account            text COLLATE "C" NOT NULL REFERENCES accounts (id),
	code_hash          text COLLATE "C" NOT NULL,
	description        text COLLATE "C" NOT NULL,
	default_name       text COLLATE "C" NOT NULL,
	tags               text COLLATE "C" NOT NULL,
	registration_limit bigint NOT NULL,
	registration_count bigint NOT NULL,
	expires_at         timestamptz,
	created_at         timestamptz
);
CREATE INDEX activations_account ON activations (account);

-- activation_id is not a foreign key: a node stays registered after its
-- activation is deleted, as in Session Manager.
CREATE TABLE nodes (
	id            text COLLATE "C" PRIMARY KEY,
	account       text COLLATE "C" NOT NULL REFERENCES accounts (id),
	name          text COLLATE "C" NOT NULL,
	hostname      text COLLATE "C" NOT NULL,
	os            text COLLATE "C" NOT NULL,
	platform      text COLLATE "C" NOT NULL,
	agent_version text COLLATE "C" NOT NULL,
	ip            text COLLATE "C" NOT NULL,
	tags          text COLLATE "C" NOT NULL,
	activation_id text COLLATE "C" NOT NULL,
	cert_serial   text COLLATE "C" NOT NULL,
	registered_at timestamptz,
	last_seen     timestamptz
);
CREATE INDEX nodes_account ON nodes (account);

-- owner and target are not foreign keys: session history outlives the
-- users and nodes it names.
CREATE TABLE sessions (
	id            text COLLATE "C" PRIMARY KEY,
	account       text COLLATE "C" NOT NULL REFERENCES accounts (id),
	owner         text COLLATE "C" NOT NULL,
	target        text COLLATE "C" NOT NULL,
	document      text COLLATE "C" NOT NULL,
	reason        text COLLATE "C" NOT NULL,
	status        text COLLATE "C" NOT NULL,
	status_reason text COLLATE "C" NOT NULL,
	run_as_user   text COLLATE "C" NOT NULL,
	started_at    timestamptz,
	ended_at      timestamptz,
	exit_code     bigint,
	cols          bigint NOT NULL,
	term_rows     bigint NOT NULL,
	-- A uint64's bits: bigint is signed.
	recorded_seq  bigint NOT NULL,
	settings      text COLLATE "C" NOT NULL DEFAULT '{}',
	shred_key     bytea
);
CREATE INDEX sessions_account_started ON sessions (account, started_at DESC NULLS LAST, id DESC);
CREATE INDEX sessions_target ON sessions (target, started_at DESC NULLS LAST, id DESC);
CREATE INDEX sessions_owner ON sessions (account, owner, started_at DESC NULLS LAST, id DESC);
CREATE INDEX sessions_status ON sessions (account, status, started_at DESC NULLS LAST, id DESC);

CREATE TABLE documents (
	account      text COLLATE "C" NOT NULL REFERENCES accounts (id),
	name         text COLLATE "C" NOT NULL,
	version      bigint NOT NULL,
	content      text COLLATE "C" NOT NULL,
	session_type text COLLATE "C" NOT NULL,
	description  text COLLATE "C" NOT NULL,
	created_by   text COLLATE "C" NOT NULL,
	created_at   timestamptz,
	PRIMARY KEY (account, name, version)
);

CREATE TABLE deliveries (
	account      text COLLATE "C" NOT NULL REFERENCES accounts (id),
	session_id   text COLLATE "C" NOT NULL,
	destination  text COLLATE "C" NOT NULL,
	artifact     text COLLATE "C" NOT NULL,
	target       text COLLATE "C" NOT NULL,
	status       text COLLATE "C" NOT NULL,
	attempts     bigint NOT NULL,
	last_error   text COLLATE "C" NOT NULL,
	location     text COLLATE "C" NOT NULL,
	bytes        bigint NOT NULL,
	cursor       bigint NOT NULL,
	next_attempt timestamptz,
	created_at   timestamptz,
	updated_at   timestamptz,
	PRIMARY KEY (account, session_id, destination, artifact)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt);

-- rotation_period is a time.Duration: integer nanoseconds.
CREATE TABLE keys (
	account         text COLLATE "C" NOT NULL REFERENCES accounts (id),
	id              text COLLATE "C" NOT NULL,
	description     text COLLATE "C" NOT NULL,
	state           text COLLATE "C" NOT NULL,
	deletion_date   timestamptz,
	policy          text COLLATE "C" NOT NULL,
	rotation_period bigint NOT NULL,
	next_rotation   timestamptz,
	created_at      timestamptz,
	PRIMARY KEY (account, id)
);
CREATE INDEX keys_next_rotation ON keys (state, next_rotation);
CREATE INDEX keys_deletion_date ON keys (state, deletion_date);

CREATE TABLE key_versions (
	account    text COLLATE "C" NOT NULL,
	key_id     text COLLATE "C" NOT NULL,
	version    bigint NOT NULL,
	wrapped    bytea NOT NULL CHECK (octet_length(wrapped) > 0),
	created_at timestamptz,
	PRIMARY KEY (account, key_id, version),
	FOREIGN KEY (account, key_id) REFERENCES keys (account, id) ON DELETE CASCADE
);

CREATE TABLE key_aliases (
	account    text COLLATE "C" NOT NULL,
	name       text COLLATE "C" NOT NULL,
	key_id     text COLLATE "C" NOT NULL,
	created_at timestamptz,
	PRIMARY KEY (account, name),
	FOREIGN KEY (account, key_id) REFERENCES keys (account, id) ON DELETE CASCADE
);
CREATE INDEX key_aliases_key ON key_aliases (account, key_id);

-- At most one row: the CHECK pins its id.
CREATE TABLE root_key_check (
	id    bigint PRIMARY KEY CHECK (id = 1),
	value bytea NOT NULL
);

CREATE TABLE audit (
	seq        bigint PRIMARY KEY,
	time       timestamptz NOT NULL,
	account    text COLLATE "C" NOT NULL,
	actor      text COLLATE "C" NOT NULL,
	action     text COLLATE "C" NOT NULL,
	resource   text COLLATE "C" NOT NULL,
	source     text COLLATE "C" NOT NULL,
	result     text COLLATE "C" NOT NULL,
	status     bigint NOT NULL,
	request_id text COLLATE "C" NOT NULL,
	detail     text COLLATE "C" NOT NULL,
	prev_hash  bytea,
	hash       bytea NOT NULL
);
CREATE INDEX audit_account_time ON audit (account, time);
`,
	// 2: organizations (SQLite's version 11): a management account,
	// member accounts, and the root and organizational units they sit in.
	// An account's org and parent are not foreign keys, as in SQLite:
	// organizations refer to their management account.
	`
CREATE TABLE organizations (
	id                 text COLLATE "C" PRIMARY KEY,
	management_account text COLLATE "C" NOT NULL UNIQUE REFERENCES accounts (id),
	root               text COLLATE "C" NOT NULL,
	created_at         timestamptz
);
CREATE TABLE org_units (
	id         text COLLATE "C" PRIMARY KEY,
	org        text COLLATE "C" NOT NULL REFERENCES organizations (id),
	parent     text COLLATE "C" REFERENCES org_units (id),
	name       text COLLATE "C" NOT NULL,
	created_at timestamptz
);
CREATE UNIQUE INDEX org_units_name ON org_units (org, COALESCE(parent, ''), name);
ALTER TABLE accounts ADD COLUMN org text COLLATE "C";
ALTER TABLE accounts ADD COLUMN parent text COLLATE "C";
CREATE INDEX accounts_org ON accounts (org, parent);
`,
	// 3: an organization's central archive settings (SQLite's 12).
	`
ALTER TABLE organizations ADD COLUMN archive text COLLATE "C" NOT NULL DEFAULT '';
`,
	// 4: stack sets and their instances (SQLite's 13).
	`
CREATE TABLE stack_sets (
	org             text COLLATE "C" NOT NULL REFERENCES organizations (id),
	name            text COLLATE "C" NOT NULL,
	description     text COLLATE "C" NOT NULL,
	template        text COLLATE "C" NOT NULL,
	template_name   text COLLATE "C" NOT NULL,
	digest          text COLLATE "C" NOT NULL,
	parameters      text COLLATE "C" NOT NULL,
	targets         text COLLATE "C" NOT NULL,
	created_at      timestamptz,
	updated_at      timestamptz,
	operation       text COLLATE "C" NOT NULL,
	operation_until timestamptz,
	PRIMARY KEY (org, name)
);
CREATE TABLE stack_instances (
	org              text COLLATE "C" NOT NULL,
	stack_set        text COLLATE "C" NOT NULL,
	account          text COLLATE "C" NOT NULL REFERENCES accounts (id),
	status           text COLLATE "C" NOT NULL,
	reason           text COLLATE "C" NOT NULL,
	digest           text COLLATE "C" NOT NULL,
	parameters       text COLLATE "C" NOT NULL,
	physical_ids     text COLLATE "C" NOT NULL,
	resources        text COLLATE "C" NOT NULL,
	drift            text COLLATE "C" NOT NULL,
	drift_checked_at timestamptz,
	updated_at       timestamptz,
	PRIMARY KEY (org, stack_set, account),
	FOREIGN KEY (org, stack_set) REFERENCES stack_sets (org, name)
);
CREATE INDEX stack_instances_account ON stack_instances (account);
`,
	// 5: what operations on stack sets did (SQLite's 14).
	`
CREATE TABLE stack_set_operations (
	org        text COLLATE "C" NOT NULL,
	stack_set  text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	action     text COLLATE "C" NOT NULL,
	actor      text COLLATE "C" NOT NULL,
	stopped    text COLLATE "C" NOT NULL,
	accounts   text COLLATE "C" NOT NULL,
	started_at timestamptz,
	ended_at   timestamptz,
	PRIMARY KEY (org, stack_set, id),
	FOREIGN KEY (org, stack_set) REFERENCES stack_sets (org, name)
);
CREATE INDEX stack_set_operations_started ON stack_set_operations (org, stack_set, started_at);
`,
	// 6: Run Command's commands and their invocations (SQLite's 15).
	`
CREATE TABLE commands (
	account           text COLLATE "C" NOT NULL REFERENCES accounts (id),
	id                text COLLATE "C" NOT NULL,
	owner             text COLLATE "C" NOT NULL,
	document_name     text COLLATE "C" NOT NULL,
	parameters        text COLLATE "C" NOT NULL,
	targets           text COLLATE "C" NOT NULL,
	comment           text COLLATE "C" NOT NULL,
	max_concurrency   text COLLATE "C" NOT NULL,
	max_errors        text COLLATE "C" NOT NULL,
	script            text COLLATE "C" NOT NULL,
	working_directory text COLLATE "C" NOT NULL,
	timeout_seconds   bigint NOT NULL,
	status            text COLLATE "C" NOT NULL,
	status_details    text COLLATE "C" NOT NULL,
	target_count      bigint NOT NULL,
	completed_count   bigint NOT NULL,
	error_count       bigint NOT NULL,
	requested_at      timestamptz,
	ended_at          timestamptz,
	PRIMARY KEY (account, id)
);
CREATE INDEX commands_requested ON commands (account, requested_at);
CREATE INDEX commands_running ON commands (requested_at) WHERE ended_at IS NULL;
CREATE TABLE command_invocations (
	account        text COLLATE "C" NOT NULL,
	command_id     text COLLATE "C" NOT NULL,
	node_id        text COLLATE "C" NOT NULL,
	seq            bigint NOT NULL,
	node_name      text COLLATE "C" NOT NULL,
	status         text COLLATE "C" NOT NULL,
	status_details text COLLATE "C" NOT NULL,
	session_id     text COLLATE "C" NOT NULL,
	exit_code      bigint,
	stdout         text COLLATE "C" NOT NULL,
	stderr         text COLLATE "C" NOT NULL,
	stdout_bytes   bigint NOT NULL,
	stderr_bytes   bigint NOT NULL,
	started_at     timestamptz,
	ended_at       timestamptz,
	PRIMARY KEY (account, command_id, node_id),
	FOREIGN KEY (account, command_id) REFERENCES commands (account, id)
);
`,
	// 2: leases (SQLite's version 16).
	`
CREATE TABLE leases (
	name    text COLLATE "C" PRIMARY KEY,
	holder  text COLLATE "C" NOT NULL,
	expires timestamptz NOT NULL
);
`,
	// 3: access keys (SQLite's version 17).
	`
CREATE TABLE access_keys (
	id            text COLLATE "C" PRIMARY KEY,
	account       text COLLATE "C" NOT NULL,
	user_name     text COLLATE "C" NOT NULL,
	sealed_secret bytea NOT NULL,
	created_at    timestamptz,
	FOREIGN KEY (account, user_name) REFERENCES users (account, name) ON DELETE CASCADE
);
CREATE INDEX access_keys_user ON access_keys (account, user_name);
`,
	// 4: placements (SQLite's version 18).
	`
CREATE TABLE placements (
	key    text COLLATE "C" PRIMARY KEY,
	server text COLLATE "C" NOT NULL
);
`,
}

// migrate applies the migrations the database has not seen yet, all in
// one transaction that holds the migrations' advisory lock: servers
// starting at once against a new database take turns (the second finds
// the work done), and an upgrade whose migration fails leaves the
// database as it was, at its old version, and says so. The bookkeeping
// table is created under the same lock, since CREATE TABLE IF NOT EXISTS
// run twice at once can fail.
func (s *Store) migrate(ctx context.Context) error {
	var from int
	var failed int // the version whose migration failed; 0: none
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockMigrations); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			CREATE TABLE IF NOT EXISTS schema_migrations (
				version    bigint PRIMARY KEY,
				applied_at timestamptz NOT NULL
			)`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&from); err != nil {
			return err
		}
		if from > len(migrations) {
			return fmt.Errorf("database schema version %d is newer than this binary's %d", from, len(migrations))
		}
		for v := from; v < len(migrations); v++ {
			// No arguments: the simple protocol, which runs a
			// migration's several statements.
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				failed = v + 1
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, v+1, time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err != nil && failed != 0:
		return fmt.Errorf("migrate from version %d to %d: version %d failed: %w; the database is unchanged, at version %d", from, len(migrations), failed, err, from)
	case err != nil:
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
