// Package postgres is the PostgreSQL implementation of store.Store, for
// deployments whose metadata lives in a database server that several
// Postern servers can share (issue 21). It runs the same conformance suite
// as the embedded SQLite store (package store/storetest), has its own
// ordered migrations, and imports a SQLite deployment table by table
// (Import).
//
// SQLite has one writer at a time, and the SQLite store leans on that: a
// read followed by a write in one transaction sees nothing change in
// between. PostgreSQL runs transactions side by side (READ COMMITTED,
// its default, here), from this process and from other servers, so every
// read-then-write here takes a lock first, and says which: a row lock
// (SELECT ... FOR UPDATE) where a row stands for what is being decided, a
// table lock for the audit trail's single chain, an advisory lock where
// the thing decided has no row yet (a document's next version, the
// schema's next migration). Unique constraints back each of them, so
// that a mistake shows as ErrConflict, never as two winners.
//
// Crypto-shredding is weaker here than in SQLite, which zeroes deleted
// content and truncates its WAL: PostgreSQL keeps an updated or deleted
// row's old version in the table file until VACUUM reuses its space, and
// in its write-ahead log (and any WAL archive or backup) until that is
// recycled. ShredSession and DestroyKey remove the secret from every
// query at once; from the disk it goes with autovacuum and WAL recycling.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/postern/postern/store"
)

// Store is the PostgreSQL store: a pool of connections to one database.
// It is safe for concurrent use, by goroutines of this process and by
// other servers sharing the database.
type Store struct {
	pool *pgxpool.Pool
	// desc names the database in errors and logs, without its password.
	desc string
}

var _ store.Store = (*Store)(nil)

// DefaultConnectTimeout bounds a connection attempt when the DSN does not
// (libpq's default is to wait as long as TCP does, minutes for a host
// that has gone away): a server starting, or a call needing a new
// connection, fails with the reason instead of hanging.
const DefaultConnectTimeout = 10 * time.Second

// Open connects to the database named by dsn (a URL,
// postgres://user@host:port/db?sslmode=..., or the key=value form libpq
// takes; PGPASSWORD, PGSSLMODE and the other libpq environment
// variables, and ~/.pgpass, fill in what it leaves out) and brings its
// schema up to date. pool_max_conns in dsn sizes the pool (default: the
// larger of 4 and the number of CPUs); connect_timeout bounds each
// connection attempt (default: DefaultConnectTimeout).
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's error shows the DSN with its password masked.
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	s := &Store{desc: describe(cfg.ConnConfig)}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", s.desc, err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("store: open %s: %w", s.desc, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("store: %s: %w", s.desc, err)
	}
	return s, nil
}

// describe names a database for people: database, host and port (or
// socket directory) and user, never the password.
func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("PostgreSQL database %q on %s as %s", c.Database, hostPort(c.Host, c.Port), c.User)
}

func hostPort(host string, port uint16) string {
	if strings.HasPrefix(host, "/") {
		return host // a Unix socket's directory
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// String names the database for people, without the password.
func (s *Store) String() string { return s.desc }

// Close closes the pool's connections, waiting for those in use.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Advisory locks: PostgreSQL's application-defined locks, taken with
// pg_advisory_xact_lock and released at the end of the transaction. Their
// keys are shared by everything that uses the database, so every use is
// listed here: a single 64-bit key for a lock of its own, and the first
// of two 32-bit keys (a different key space) for a family of locks, the
// second naming the member.
const (
	// lockMigrations serializes servers bringing the schema up to date.
	lockMigrations int64 = 0x706f7374_65726e01 // "postern" 1
	// lockDocuments, with a hash of account and name, serializes
	// numbering a document's versions.
	lockDocuments int32 = 0x706f7302

	// Package logstore's, in the same database: 0x706f7374_65726e10
	// (its migrations) and the family 0x706f7310 (a log group's index
	// segments, by group ID). See logstore/postgres.go.
)

func (s *Store) EnsureAccount(ctx context.Context, a store.Account) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO NOTHING`,
		a.ID, a.Name, tsArg(a.CreatedAt))
	return wrapErr(err, "ensure account %s", a.ID)
}

func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	groups, err := jsonListArg(u.Groups)
	if err != nil {
		return fmt.Errorf("store: create user %s/%s: %w", u.Account, u.Name, err)
	}
	// admin mirrors membership of administrators, as the SQLite schema
	// keeps it, so that the two schemas stay column for column alike.
	_, err = s.pool.Exec(ctx, `
		INSERT INTO users (account, name, password_hash, admin, groups, run_as, federated, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.Account, u.Name, u.PasswordHash, slices.Contains(u.Groups, "administrators"), groups, u.RunAs, u.Federated, tsArg(u.CreatedAt))
	return wrapErr(err, "create user %s/%s", u.Account, u.Name)
}

const userColumns = `account, name, password_hash, groups, run_as, federated, created_at`

func scanUser(row scanner) (store.User, error) {
	var u store.User
	var groups string
	err := row.Scan(&u.Account, &u.Name, &u.PasswordHash, &groups, &u.RunAs, &u.Federated, ts{&u.CreatedAt})
	if err == nil {
		err = json.Unmarshal([]byte(groups), &u.Groups)
		u.Groups = slices.Clip(nilIfEmpty(u.Groups))
	}
	return u, err
}

func (s *Store) GetUser(ctx context.Context, account, name string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE account = $1 AND name = $2`, account, name))
	if err != nil {
		return store.User{}, wrapErr(err, "get user %s/%s", account, name)
	}
	return u, nil
}

// UpdateUser updates the user's password hash, groups, RunAs and
// federated identity.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	groups, err := jsonListArg(u.Groups)
	if err != nil {
		return fmt.Errorf("store: update user %s/%s: %w", u.Account, u.Name, err)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE users SET password_hash = $1, admin = $2, groups = $3, run_as = $4, federated = $5
		WHERE account = $6 AND name = $7`,
		u.PasswordHash, slices.Contains(u.Groups, "administrators"), groups, u.RunAs, u.Federated, u.Account, u.Name)
	return wrapErr(checkAffected(tag, err), "update user %s/%s", u.Account, u.Name)
}

func (s *Store) FederatedUser(ctx context.Context, account, federated string) (store.User, error) {
	if federated == "" {
		return store.User{}, fmt.Errorf("store: federated user: none named: %w", store.ErrNotFound)
	}
	u, err := scanUser(s.pool.QueryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE account = $1 AND federated = $2`, account, federated))
	if err != nil {
		return store.User{}, wrapErr(err, "federated user in %s", account)
	}
	return u, nil
}

// DeleteUser deletes a user and, with it (the foreign key cascades), the
// user's tokens.
func (s *Store) DeleteUser(ctx context.Context, account, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM users WHERE account = $1 AND name = $2`, account, name)
	return wrapErr(checkAffected(tag, err), "delete user %s/%s", account, name)
}

// ListUsers returns the account's users ordered by name.
func (s *Store) ListUsers(ctx context.Context, account string) ([]store.User, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+userColumns+` FROM users WHERE account = $1 ORDER BY name`, account)
	us, err := collect(rows, err, scanUser)
	return us, wrapErr(err, "list users in %s", account)
}

func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	scopes, err := jsonListArg(t.Scopes)
	if err != nil {
		return fmt.Errorf("store: create token for %s/%s: %w", t.Account, t.User, err)
	}
	if t.Kind == "" {
		t.Kind = store.TokenSession
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO tokens (hash, id, account, user_name, kind, name, scopes, created_at, expires_at, signed_in_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.Hash, t.ID, t.Account, t.User, t.Kind, t.Name, scopes, tsArg(t.CreatedAt), tsArg(t.ExpiresAt), tsArg(t.SignedInAt))
	// The hash stays out of errors: they end up in logs.
	return wrapErr(err, "create token for %s/%s", t.Account, t.User)
}

const tokenColumns = `hash, id, account, user_name, kind, name, scopes, created_at, expires_at, signed_in_at`

func scanToken(row scanner) (store.Token, error) {
	var t store.Token
	var scopes string
	err := row.Scan(&t.Hash, &t.ID, &t.Account, &t.User, &t.Kind, &t.Name, &scopes, ts{&t.CreatedAt}, ts{&t.ExpiresAt}, ts{&t.SignedInAt})
	if err == nil {
		err = json.Unmarshal([]byte(scopes), &t.Scopes)
		t.Scopes = nilIfEmpty(t.Scopes)
	}
	return t, err
}

func (s *Store) GetToken(ctx context.Context, hash string, now time.Time) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash))
	if err != nil {
		return store.Token{}, wrapErr(err, "get token")
	}
	if !t.ExpiresAt.IsZero() && now.After(t.ExpiresAt) {
		return store.Token{}, fmt.Errorf("store: get token: expired: %w", store.ErrNotFound)
	}
	return t, nil
}

func (s *Store) DeleteToken(ctx context.Context, hash string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE hash = $1`, hash)
	return wrapErr(checkAffected(tag, err), "delete token")
}

func (s *Store) ListTokens(ctx context.Context, account, user string, now time.Time) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens
		WHERE account = $1 AND user_name = $2 AND (expires_at IS NULL OR expires_at >= $3)
		ORDER BY created_at DESC NULLS LAST, id`, account, user, now)
	ts, err := collect(rows, err, scanToken)
	for i := range ts {
		ts[i].Hash = "" // what lists are for: showing, not using
	}
	return ts, wrapErr(err, "list tokens of %s/%s", account, user)
}

func (s *Store) RevokeToken(ctx context.Context, account, user, id string) error {
	if id == "" {
		return fmt.Errorf("store: revoke token: no ID: %w", store.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE account = $1 AND user_name = $2 AND id = $3`, account, user, id)
	return wrapErr(checkAffected(tag, err), "revoke token %s of %s/%s", id, account, user)
}

func (s *Store) RevokeUserTokens(ctx context.Context, account, user string) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE account = $1 AND user_name = $2`, account, user)
	if err != nil {
		return 0, wrapErr(err, "revoke the tokens of %s/%s", account, user)
	}
	return int(tag.RowsAffected()), nil
}

func (s *Store) Cursor(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT value FROM cursors WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, wrapErr(err, "cursor %s", name)
}

func (s *Store) CreateAccessKey(ctx context.Context, k store.AccessKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO access_keys (id, account, user_name, sealed_secret, created_at) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.Account, k.User, k.SealedSecret, tsArg(k.CreatedAt))
	return wrapErr(err, "create access key for %s/%s", k.Account, k.User)
}

const accessKeyColumns = `id, account, user_name, sealed_secret, created_at`

func scanAccessKey(row scanner) (store.AccessKey, error) {
	var k store.AccessKey
	return k, row.Scan(&k.ID, &k.Account, &k.User, &k.SealedSecret, ts{&k.CreatedAt})
}

func (s *Store) GetAccessKey(ctx context.Context, id string) (store.AccessKey, error) {
	k, err := scanAccessKey(s.pool.QueryRow(ctx, `SELECT `+accessKeyColumns+` FROM access_keys WHERE id = $1`, id))
	return k, wrapErr(err, "access key %s", id)
}

func (s *Store) ListAccessKeys(ctx context.Context, account, user string) ([]store.AccessKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accessKeyColumns+` FROM access_keys WHERE account = $1 AND user_name = $2 ORDER BY created_at, id`, account, user)
	ks, err := collect(rows, err, scanAccessKey)
	return ks, wrapErr(err, "list access keys of %s/%s", account, user)
}

func (s *Store) DeleteAccessKey(ctx context.Context, account, user, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM access_keys WHERE account = $1 AND user_name = $2 AND id = $3`, account, user, id)
	return wrapErr(checkAffected(tag, err), "delete access key %s of %s/%s", id, account, user)
}

// AcquireLease measures expiry on the database's clock, so that the
// servers' clocks need not agree.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO leases (name, holder, expires) VALUES ($1, $2, clock_timestamp() + $3 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
		WHERE leases.holder = excluded.holder OR leases.expires <= clock_timestamp()`, name, holder, ttl.Microseconds())
	if err != nil {
		return false, wrapErr(err, "acquire lease %s", name)
	}
	return tag.RowsAffected() == 1, nil
}

func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
	return wrapErr(err, "release lease %s", name)
}

func (s *Store) LeaseHolders(ctx context.Context, prefix string) (map[string]string, error) {
	return s.pairs(ctx, `SELECT name, holder FROM leases WHERE starts_with(name, $1) AND expires > clock_timestamp()`, prefix)
}

func (s *Store) PlacementsWith(ctx context.Context, prefix string) (map[string]string, error) {
	return s.pairs(ctx, `SELECT key, server FROM placements WHERE starts_with(key, $1)`, prefix)
}

// pairs reads rows of two strings, selected by a prefix, into a map.
func (s *Store) pairs(ctx context.Context, query, prefix string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, query, prefix)
	if err != nil {
		return nil, wrapErr(err, "%s*", prefix)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, wrapErr(err, "%s*", prefix)
		}
		m[k] = v
	}
	return m, wrapErr(rows.Err(), "%s*", prefix)
}

// Place reads the previous holder and writes the new one in one
// statement: the row lock orders two servers placing the same key.
func (s *Store) Place(ctx context.Context, key, server string) (string, error) {
	var prev string
	err := s.pool.QueryRow(ctx, `WITH old AS (SELECT server FROM placements WHERE key = $1 FOR UPDATE),
		up AS (INSERT INTO placements (key, server) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET server = excluded.server)
		SELECT COALESCE((SELECT server FROM old), '')`, key, server).Scan(&prev)
	return prev, wrapErr(err, "place %s", key)
}

func (s *Store) PlaceIf(ctx context.Context, key, server, from string) (bool, error) {
	q := `UPDATE placements SET server = $2 WHERE key = $1 AND server = $3`
	if from == "" {
		q = `INSERT INTO placements (key, server) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`
	}
	args := []any{key, server}
	if from != "" {
		args = append(args, from)
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return false, wrapErr(err, "place %s", key)
	}
	return tag.RowsAffected() == 1, nil
}

func (s *Store) Placement(ctx context.Context, key string) (string, error) {
	var server string
	err := s.pool.QueryRow(ctx, `SELECT server FROM placements WHERE key = $1`, key).Scan(&server)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return server, wrapErr(err, "placement of %s", key)
}

func (s *Store) Unplace(ctx context.Context, key, server string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM placements WHERE key = $1 AND server = $2`, key, server)
	return wrapErr(err, "unplace %s", key)
}

func (s *Store) SetCursor(ctx context.Context, name string, value int64) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO cursors (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return wrapErr(err, "set cursor %s", name)
}

func (s *Store) Policies(ctx context.Context, account string) ([]store.Policy, bool, error) {
	var seeded bool
	if err := s.pool.QueryRow(ctx, `SELECT policies_seeded FROM accounts WHERE id = $1`, account).Scan(&seeded); err != nil {
		return nil, false, wrapErr(err, "policies of %s", account)
	}
	rows, err := s.pool.Query(ctx, `SELECT account, id, body, updated_at, updated_by FROM policies WHERE account = $1 ORDER BY id`, account)
	ps, err := collect(rows, err, func(row scanner) (store.Policy, error) {
		var p store.Policy
		return p, row.Scan(&p.Account, &p.ID, &p.Text, ts{&p.UpdatedAt}, &p.UpdatedBy)
	})
	return ps, seeded, wrapErr(err, "policies of %s", account)
}

func (s *Store) PutPolicy(ctx context.Context, p store.Policy) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO policies (account, id, body, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (account, id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			p.Account, p.ID, p.Text, tsArg(p.UpdatedAt), p.UpdatedBy); err != nil {
			return err
		}
		if err := checkAffected(tx.Exec(ctx, `UPDATE accounts SET policies_seeded = true WHERE id = $1`, p.Account)); err != nil {
			return fmt.Errorf("account: %w", err)
		}
		return nil
	})
	return wrapErr(err, "put policy %s/%s", p.Account, p.ID)
}

func (s *Store) DeletePolicy(ctx context.Context, account, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM policies WHERE account = $1 AND id = $2`, account, id)
	return wrapErr(checkAffected(tag, err), "delete policy %s/%s", account, id)
}

func (s *Store) CreateActivation(ctx context.Context, a store.Activation) error {
	tags, err := jsonMapArg(a.Tags)
	if err != nil {
		return fmt.Errorf("store: create activation %s: %w", a.ID, err)
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO activations (id, account, code_hash, description, default_name, tags,
			registration_limit, registration_count, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		a.ID, a.Account, a.CodeHash, a.Description, a.DefaultName, tags,
		a.RegistrationLimit, a.RegistrationCount, tsArg(a.ExpiresAt), tsArg(a.CreatedAt))
	return wrapErr(err, "create activation %s", a.ID)
}

const activationColumns = `id, account, code_hash, description, default_name, tags,
	registration_limit, registration_count, expires_at, created_at`

func scanActivation(row scanner) (store.Activation, error) {
	var a store.Activation
	var tags string
	err := row.Scan(&a.ID, &a.Account, &a.CodeHash, &a.Description, &a.DefaultName, &tags,
		&a.RegistrationLimit, &a.RegistrationCount, ts{&a.ExpiresAt}, ts{&a.CreatedAt})
	if err == nil {
		a.Tags, err = jsonMap(tags)
	}
	return a, err
}

func (s *Store) GetActivation(ctx context.Context, id string) (store.Activation, error) {
	a, err := scanActivation(s.pool.QueryRow(ctx,
		`SELECT `+activationColumns+` FROM activations WHERE id = $1`, id))
	if err != nil {
		return store.Activation{}, wrapErr(err, "get activation %s", id)
	}
	return a, nil
}

// ListActivations returns the account's activations, oldest first.
func (s *Store) ListActivations(ctx context.Context, account string) ([]store.Activation, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+activationColumns+` FROM activations WHERE account = $1 ORDER BY created_at NULLS FIRST, id`, account)
	as, err := collect(rows, err, scanActivation)
	return as, wrapErr(err, "list activations in %s", account)
}

// PutDocument implements store.Store. Writers of one document take turns
// (an advisory lock on its account and name) and the next version number
// is read after the lock is held, so concurrent writers, of any server,
// get distinct versions; the primary key would turn a slip into
// ErrConflict.
func (s *Store) PutDocument(ctx context.Context, d store.Document) (store.Document, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3))`,
			lockDocuments, d.Account, d.Name); err != nil {
			return err
		}
		// A statement of its own: under READ COMMITTED each statement
		// sees what was committed before it started, the last writer's
		// version included.
		return tx.QueryRow(ctx, `
			INSERT INTO documents (account, name, version, content, session_type, description, created_by, created_at)
			VALUES ($1, $2, (SELECT COALESCE(MAX(version), 0) + 1 FROM documents WHERE account = $1 AND name = $2),
				$3, $4, $5, $6, $7)
			RETURNING version`,
			d.Account, d.Name, d.Content, d.SessionType, d.Description, d.CreatedBy, tsArg(d.CreatedAt),
		).Scan(&d.Version)
	})
	if err != nil {
		return store.Document{}, wrapErr(err, "put document %s", d.Name)
	}
	return d, nil
}

const documentColumns = `account, name, version, content, session_type, description, created_by, created_at`

func scanDocument(row scanner) (store.Document, error) {
	var d store.Document
	err := row.Scan(&d.Account, &d.Name, &d.Version, &d.Content, &d.SessionType, &d.Description, &d.CreatedBy, ts{&d.CreatedAt})
	return d, err
}

// GetDocument implements store.Store.
func (s *Store) GetDocument(ctx context.Context, account, name string, version int) (store.Document, error) {
	q := `SELECT ` + documentColumns + ` FROM documents WHERE account = $1 AND name = $2 ORDER BY version DESC LIMIT 1`
	args := []any{account, name}
	if version > 0 {
		q = `SELECT ` + documentColumns + ` FROM documents WHERE account = $1 AND name = $2 AND version = $3`
		args = append(args, version)
	}
	d, err := scanDocument(s.pool.QueryRow(ctx, q, args...))
	if err != nil {
		return store.Document{}, wrapErr(err, "get document %s version %d", name, version)
	}
	return d, nil
}

// ListDocuments implements store.Store.
func (s *Store) ListDocuments(ctx context.Context, account string) ([]store.Document, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT ON (name) `+documentColumns+` FROM documents WHERE account = $1
		ORDER BY name, version DESC`, account)
	ds, err := collect(rows, err, scanDocument)
	return ds, wrapErr(err, "list documents in %s", account)
}

// DeleteDocument implements store.Store.
func (s *Store) DeleteDocument(ctx context.Context, account, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM documents WHERE account = $1 AND name = $2`, account, name)
	return wrapErr(checkAffected(tag, err), "delete document %s", name)
}

// RegisterNode implements store.Store. The node's Account and
// ActivationID are taken from the activation, whatever n holds, so that a
// node can only land in the account that created the activation. An
// activation with a zero ExpiresAt counts as expired.
//
// The activation's row is locked (FOR UPDATE) before its count is
// checked, so registrations through one activation, from any server, take
// turns and none sees a count another is about to raise.
func (s *Store) RegisterNode(ctx context.Context, activationID string, n store.Node, now time.Time) error {
	err := s.registerNode(ctx, activationID, n, now)
	return wrapErr(err, "register node %s with activation %s", n.ID, activationID)
}

func (s *Store) registerNode(ctx context.Context, activationID string, n store.Node, now time.Time) error {
	tags, err := jsonMapArg(n.Tags)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			account      string
			limit, count int
			expires      time.Time
		)
		err := tx.QueryRow(ctx, `
			SELECT account, registration_limit, registration_count, expires_at
			FROM activations WHERE id = $1 FOR UPDATE`, activationID).
			Scan(&account, &limit, &count, ts{&expires})
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("activation: %w", store.ErrNotFound)
		case err != nil:
			return err
		case now.After(expires):
			return store.ErrExpired
		case count >= limit:
			return store.ErrExhausted
		}
		// The condition repeats the check so that the limit holds by
		// itself, not only because of the lock.
		tag, err := tx.Exec(ctx, `
			UPDATE activations SET registration_count = registration_count + 1
			WHERE id = $1 AND registration_count < registration_limit`, activationID)
		if err := checkAffected(tag, err); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return store.ErrExhausted
			}
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO nodes (id, account, name, hostname, os, platform, agent_version, ip, tags,
				activation_id, cert_serial, registered_at, last_seen)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			n.ID, account, n.Name, n.Hostname, n.OS, n.Platform, n.AgentVersion, n.IP, tags,
			activationID, n.CertSerial, tsArg(n.RegisteredAt), tsArg(n.LastSeen))
		return err // an error rolls back the count too
	})
}

const nodeColumns = `id, account, name, hostname, os, platform, agent_version, ip, tags,
	activation_id, cert_serial, registered_at, last_seen`

func scanNode(row scanner) (store.Node, error) {
	var n store.Node
	var tags string
	err := row.Scan(&n.ID, &n.Account, &n.Name, &n.Hostname, &n.OS, &n.Platform, &n.AgentVersion,
		&n.IP, &tags, &n.ActivationID, &n.CertSerial, ts{&n.RegisteredAt}, ts{&n.LastSeen})
	if err == nil {
		n.Tags, err = jsonMap(tags)
	}
	return n, err
}

func (s *Store) GetNode(ctx context.Context, id string) (store.Node, error) {
	n, err := scanNode(s.pool.QueryRow(ctx, `SELECT `+nodeColumns+` FROM nodes WHERE id = $1`, id))
	if err != nil {
		return store.Node{}, wrapErr(err, "get node %s", id)
	}
	return n, nil
}

// ListNodes returns the account's nodes ordered by name, then id.
func (s *Store) ListNodes(ctx context.Context, account string) ([]store.Node, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+nodeColumns+` FROM nodes WHERE account = $1 ORDER BY name, id`, account)
	ns, err := collect(rows, err, scanNode)
	return ns, wrapErr(err, "list nodes in %s", account)
}

// TouchNode implements store.Store. It sets LastSeen, IP and AgentVersion
// to the given values, empty ones included.
func (s *Store) TouchNode(ctx context.Context, id string, seen time.Time, ip, agentVersion string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE nodes SET last_seen = $1, ip = $2, agent_version = $3 WHERE id = $4`,
		tsArg(seen), ip, agentVersion, id)
	return wrapErr(checkAffected(tag, err), "touch node %s", id)
}

// DeleteNode implements store.Store.
func (s *Store) DeleteNode(ctx context.Context, account, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM nodes WHERE account = $1 AND id = $2`, account, id)
	return wrapErr(checkAffected(tag, err), "delete node %s", id)
}

func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	settings, err := json.Marshal(se.Settings)
	if err != nil {
		return fmt.Errorf("store: create session %s: %w", se.ID, err)
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO sessions (id, account, owner, target, document, reason, status, status_reason,
			run_as_user, started_at, ended_at, exit_code, cols, term_rows, recorded_seq, settings, shred_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		se.ID, se.Account, se.Owner, se.Target, se.Document, se.Reason, se.Status, se.StatusReason,
		se.RunAsUser, tsArg(se.StartedAt), tsArg(se.EndedAt), se.ExitCode,
		se.Cols, se.Rows, int64(se.RecordedSeq), string(settings), se.ShredKey)
	return wrapErr(err, "create session %s", se.ID)
}

const sessionColumns = `id, account, owner, target, document, reason, status, status_reason,
	run_as_user, started_at, ended_at, exit_code, cols, term_rows, recorded_seq, settings, shred_key`

func scanSession(row scanner) (store.Session, error) {
	var (
		se       store.Session
		seq      int64
		settings string
	)
	err := row.Scan(&se.ID, &se.Account, &se.Owner, &se.Target, &se.Document, &se.Reason,
		&se.Status, &se.StatusReason, &se.RunAsUser, ts{&se.StartedAt}, ts{&se.EndedAt},
		&se.ExitCode, &se.Cols, &se.Rows, &seq, &settings, &se.ShredKey)
	if err != nil {
		return se, err
	}
	// The bits of a uint64, as they were stored: bigint is signed.
	se.RecordedSeq = uint64(seq)
	if err := json.Unmarshal([]byte(settings), &se.Settings); err != nil {
		return se, fmt.Errorf("session %s: settings %q: %w", se.ID, settings, err)
	}
	return se, nil
}

func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	se, err := scanSession(s.pool.QueryRow(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	if err != nil {
		return store.Session{}, wrapErr(err, "get session %s", id)
	}
	return se, nil
}

// ShredSession implements store.Store. See the package comment for when
// the shred key leaves the disk.
func (s *Store) ShredSession(ctx context.Context, account, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET shred_key = NULL WHERE id = $1 AND account = $2`, id, account)
	return wrapErr(checkAffected(tag, err), "shred session %s", id)
}

// UpdateSession implements store.Store. The session must match on both ID
// and Account.
func (s *Store) UpdateSession(ctx context.Context, se store.Session) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE sessions SET status = $1, status_reason = $2, run_as_user = $3, ended_at = $4, exit_code = $5,
			cols = $6, term_rows = $7, recorded_seq = $8
		WHERE id = $9 AND account = $10`,
		se.Status, se.StatusReason, se.RunAsUser, tsArg(se.EndedAt), se.ExitCode,
		se.Cols, se.Rows, int64(se.RecordedSeq), se.ID, se.Account)
	return wrapErr(checkAffected(tag, err), "update session %s", se.ID)
}

// activeStatuses are the statuses for which Session.Active reports true.
var activeStatuses = []string{store.StatusConnecting, store.StatusConnected, store.StatusTerminating}

// ListSessions implements store.Store. Sessions that started at the same
// time are ordered by descending ID so that pages are stable.
func (s *Store) ListSessions(ctx context.Context, f store.SessionFilter) ([]store.Session, error) {
	var q query
	if f.Account != "" {
		q.where("account = " + q.arg(f.Account))
	}
	if f.Active != nil {
		cond := "status = ANY(" + q.arg(activeStatuses) + ")"
		if !*f.Active {
			cond = "NOT " + cond
		}
		q.where(cond)
	}
	if f.Target != "" {
		q.where("target = " + q.arg(f.Target))
	}
	if f.Owner != "" {
		q.where("owner = " + q.arg(f.Owner))
	}
	if !f.Since.IsZero() {
		q.where("started_at >= " + q.arg(f.Since))
	}
	sql := `SELECT ` + sessionColumns + ` FROM sessions` + q.whereClause() + ` ORDER BY started_at DESC NULLS LAST, id DESC`
	if f.Limit > 0 {
		sql += " LIMIT " + q.arg(f.Limit)
	}
	rows, err := s.pool.Query(ctx, sql, q.args...)
	ss, err := collect(rows, err, scanSession)
	return ss, wrapErr(err, "list sessions")
}

// CreateDeliveries implements store.Store.
func (s *Store) CreateDeliveries(ctx context.Context, ds []store.Delivery) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, d := range ds {
			_, err := tx.Exec(ctx, `
				INSERT INTO deliveries (`+deliveryColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
				d.Account, d.SessionID, d.Destination, d.Artifact, d.Target, d.Status, d.Attempts,
				d.LastError, d.Location, d.Bytes, int64(d.Cursor), tsArg(d.NextAttempt), tsArg(d.CreatedAt), tsArg(d.UpdatedAt))
			if err != nil {
				return fmt.Errorf("delivery of %s %s to %s: %w", d.SessionID, d.Artifact, d.Destination, err)
			}
		}
		return nil
	})
	return wrapErr(err, "create deliveries")
}

const deliveryColumns = `account, session_id, destination, artifact, target, status, attempts,
	last_error, location, bytes, cursor, next_attempt, created_at, updated_at`

func scanDelivery(row scanner) (store.Delivery, error) {
	var d store.Delivery
	var cursor int64
	err := row.Scan(&d.Account, &d.SessionID, &d.Destination, &d.Artifact, &d.Target, &d.Status, &d.Attempts,
		&d.LastError, &d.Location, &d.Bytes, &cursor, ts{&d.NextAttempt}, ts{&d.CreatedAt}, ts{&d.UpdatedAt})
	d.Cursor = uint64(cursor)
	return d, err
}

// UpdateDelivery implements store.Store.
func (s *Store) UpdateDelivery(ctx context.Context, d store.Delivery) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE deliveries SET status = $1, attempts = $2, last_error = $3, location = $4, bytes = $5,
			cursor = $6, next_attempt = $7, updated_at = $8
		WHERE account = $9 AND session_id = $10 AND destination = $11 AND artifact = $12`,
		d.Status, d.Attempts, d.LastError, d.Location, d.Bytes, int64(d.Cursor), tsArg(d.NextAttempt), tsArg(d.UpdatedAt),
		d.Account, d.SessionID, d.Destination, d.Artifact)
	return wrapErr(checkAffected(tag, err), "update delivery of %s %s to %s", d.SessionID, d.Artifact, d.Destination)
}

// ReleaseDeliveries implements store.Store.
func (s *Store) ReleaseDeliveries(ctx context.Context, account, sessionID string, now time.Time) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE deliveries SET status = $1, next_attempt = $2, updated_at = $2
		WHERE account = $3 AND session_id = $4 AND status = $5`,
		store.DeliveryPending, tsArg(now), account, sessionID, store.DeliveryWaiting)
	return wrapErr(err, "release deliveries of %s", sessionID)
}

// ReopenDeliveries implements store.Store.
func (s *Store) ReopenDeliveries(ctx context.Context, account, sessionID string, now time.Time) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE deliveries SET status = $1, next_attempt = $2, updated_at = $2
		WHERE account = $3 AND session_id = $4 AND status != $5`,
		store.DeliveryPending, tsArg(now), account, sessionID, store.DeliveryWaiting)
	return wrapErr(err, "reopen deliveries of %s", sessionID)
}

// ListDeliveries implements store.Store.
func (s *Store) ListDeliveries(ctx context.Context, account, sessionID string) ([]store.Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE account = $1 AND session_id = $2 ORDER BY destination, artifact`, account, sessionID)
	ds, err := collect(rows, err, scanDelivery)
	return ds, wrapErr(err, "list deliveries of %s", sessionID)
}

// DueDeliveries implements store.Store. Two servers asking at once get
// the same deliveries: who delivers what is for the caller to settle
// (issue 21's leases), not this read.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE status IN ($1, $2) AND next_attempt <= $3 ORDER BY next_attempt, session_id, destination, artifact LIMIT $4`,
		store.DeliveryPending, store.DeliveryFailing, now, limit)
	ds, err := collect(rows, err, scanDelivery)
	return ds, wrapErr(err, "list due deliveries")
}

// WaitingDeliveries implements store.Store.
func (s *Store) WaitingDeliveries(ctx context.Context, limit int) ([]store.Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE status = $1 ORDER BY created_at NULLS FIRST, session_id LIMIT $2`, store.DeliveryWaiting, limit)
	ds, err := collect(rows, err, scanDelivery)
	return ds, wrapErr(err, "list waiting deliveries")
}

// DeliveryBacklog implements store.Store.
func (s *Store) DeliveryBacklog(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest time.Time
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE status != $1`,
		store.DeliveryDelivered).Scan(&n, ts{&oldest})
	return n, oldest, wrapErr(err, "delivery backlog")
}

func (s *Store) OwedSessions(ctx context.Context, except ...string) ([]store.SessionRef, error) {
	if except == nil {
		except = []string{} // an empty array: destination != ALL('{}') holds
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT account, session_id FROM deliveries
		WHERE status != $1 AND destination != ALL($2) ORDER BY account, session_id`,
		store.DeliveryDelivered, except)
	refs, err := collect(rows, err, func(row scanner) (store.SessionRef, error) {
		var r store.SessionRef
		err := row.Scan(&r.Account, &r.SessionID)
		return r, err
	})
	return refs, wrapErr(err, "owed sessions")
}

// CreateKey implements store.Store. The key and its versions are inserted
// in one transaction. Versions must be numbered 1, 2, ... in order, as
// AddKeyVersion numbers them, so that the last one is the newest.
func (s *Store) CreateKey(ctx context.Context, k store.Key) error {
	for i, v := range k.Versions {
		if v.Version != i+1 {
			return fmt.Errorf("store: create key %s/%s: version %d at position %d, want versions 1, 2, ... in order",
				k.Account, k.ID, v.Version, i+1)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO keys (account, id, description, state, deletion_date, policy,
				rotation_period, next_rotation, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			k.Account, k.ID, k.Description, k.State, tsArg(k.DeletionDate), k.Policy,
			int64(k.RotationPeriod), tsArg(k.NextRotation), tsArg(k.CreatedAt))
		if err != nil {
			return err
		}
		for _, v := range k.Versions {
			if err := insertKeyVersion(ctx, tx, k.Account, k.ID, v); err != nil {
				return fmt.Errorf("version %d: %w", v.Version, err)
			}
		}
		return nil
	})
	return wrapErr(err, "create key %s/%s", k.Account, k.ID)
}

func insertKeyVersion(ctx context.Context, tx pgx.Tx, account, id string, v store.KeyVersion) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO key_versions (account, key_id, version, wrapped, created_at)
		VALUES ($1, $2, $3, $4, $5)`,
		account, id, v.Version, v.Wrapped, tsArg(v.CreatedAt))
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
	k       store.Key
	v       store.KeyVersion
	version *int // nil: the key has no versions
}

func scanKeyRow(row scanner) (keyRow, error) {
	var (
		r      keyRow
		period int64
	)
	err := row.Scan(&r.k.Account, &r.k.ID, &r.k.Description, &r.k.State, ts{&r.k.DeletionDate}, &r.k.Policy,
		&period, ts{&r.k.NextRotation}, ts{&r.k.CreatedAt},
		&r.version, &r.v.Wrapped, ts{&r.v.CreatedAt})
	r.k.RotationPeriod = time.Duration(period)
	if r.version != nil {
		r.v.Version = *r.version
	}
	return r, err
}

// collectKeys reads the rows of a keysWithVersions query into keys, with
// their versions.
func collectKeys(rows pgx.Rows, err error) ([]store.Key, error) {
	rs, err := collect(rows, err, scanKeyRow)
	if err != nil {
		return nil, err
	}
	var ks []store.Key
	for _, r := range rs {
		if n := len(ks); n == 0 || ks[n-1].Account != r.k.Account || ks[n-1].ID != r.k.ID {
			ks = append(ks, r.k)
		}
		if r.version != nil {
			k := &ks[len(ks)-1]
			k.Versions = append(k.Versions, r.v)
		}
	}
	return ks, nil
}

// GetKey implements store.Store.
func (s *Store) GetKey(ctx context.Context, account, id string) (store.Key, error) {
	rows, err := s.pool.Query(ctx, keysWithVersions+`
		WHERE k.account = $1 AND k.id = $2 ORDER BY v.version`, account, id)
	ks, err := collectKeys(rows, err)
	if err == nil && len(ks) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Key{}, wrapErr(err, "get key %s/%s", account, id)
	}
	return ks[0], nil
}

// ListKeys implements store.Store. Keys created at the same time are
// ordered by id.
func (s *Store) ListKeys(ctx context.Context, account string) ([]store.Key, error) {
	rows, err := s.pool.Query(ctx, keysWithVersions+`
		WHERE k.account = $1 ORDER BY k.created_at NULLS FIRST, k.id, v.version`, account)
	ks, err := collectKeys(rows, err)
	return ks, wrapErr(err, "list keys in %s", account)
}

// DueKeys implements store.Store. A rotation is due only for an enabled
// key, as AWS KMS rotates neither disabled keys nor keys pending deletion.
// The keys come by account, then as ListKeys orders them.
func (s *Store) DueKeys(ctx context.Context, now time.Time) ([]store.Key, error) {
	rows, err := s.pool.Query(ctx, keysWithVersions+`
		WHERE (k.state = $1 AND k.next_rotation <= $2) OR (k.state = $3 AND k.deletion_date <= $2)
		ORDER BY k.account, k.created_at NULLS FIRST, k.id, v.version`,
		store.KeyEnabled, now, store.KeyPendingDeletion)
	ks, err := collectKeys(rows, err)
	return ks, wrapErr(err, "list due keys")
}

// UpdateKey implements store.Store. The key must match on both ID and
// Account; its CreatedAt and Versions are left as they are.
func (s *Store) UpdateKey(ctx context.Context, k store.Key) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE keys SET description = $1, state = $2, deletion_date = $3, policy = $4,
			rotation_period = $5, next_rotation = $6
		WHERE account = $7 AND id = $8`,
		k.Description, k.State, tsArg(k.DeletionDate), k.Policy,
		int64(k.RotationPeriod), tsArg(k.NextRotation), k.Account, k.ID)
	return wrapErr(checkAffected(tag, err), "update key %s/%s", k.Account, k.ID)
}

// AddKeyVersion implements store.Store. A missing key is ErrNotFound. A
// key without versions takes version 1.
//
// The key's row is locked first, so that servers rotating the same key at
// once take turns, and the one that comes second finds the first's
// version and gets ErrConflict.
func (s *Store) AddKeyVersion(ctx context.Context, account, id string, v store.KeyVersion, nextRotation time.Time) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockKey(ctx, tx, account, id); err != nil {
			return err
		}
		// A statement of its own, after the lock: it sees the versions
		// committed while this one waited.
		var last int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM key_versions WHERE account = $1 AND key_id = $2`,
			account, id).Scan(&last); err != nil {
			return err
		}
		if v.Version != last+1 {
			return fmt.Errorf("the key is at version %d: %w", last, store.ErrConflict)
		}
		if err := insertKeyVersion(ctx, tx, account, id, v); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE keys SET next_rotation = $1 WHERE account = $2 AND id = $3`,
			tsArg(nextRotation), account, id)
		return err
	})
	return wrapErr(err, "add version %d to key %s/%s", v.Version, account, id)
}

// lockKey locks a key's row until the transaction ends (pgx.ErrNoRows if
// there is none).
func lockKey(ctx context.Context, tx pgx.Tx, account, id string) error {
	var one int
	return tx.QueryRow(ctx, `SELECT 1 FROM keys WHERE account = $1 AND id = $2 FOR UPDATE`, account, id).Scan(&one)
}

// DestroyKey implements store.Store. It locks the key as AddKeyVersion
// does, so that a rotation running at the same moment either lands before
// (and its version is destroyed too) or finds the key gone. The versions
// and aliases are deleted by statements of their own rather than left to
// the foreign keys' cascade, as the SQLite store does. See the package
// comment for when the material leaves the disk.
func (s *Store) DestroyKey(ctx context.Context, account, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockKey(ctx, tx, account, id); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM key_aliases WHERE account = $1 AND key_id = $2`,
			`DELETE FROM key_versions WHERE account = $1 AND key_id = $2`,
			`DELETE FROM keys WHERE account = $1 AND id = $2`,
		} {
			if _, err := tx.Exec(ctx, q, account, id); err != nil {
				return err
			}
		}
		return nil
	})
	return wrapErr(err, "destroy key %s/%s", account, id)
}

// PutAlias implements store.Store. An alias pointed at another key keeps
// its CreatedAt; a.CreatedAt is used only when the alias is new. A key
// that does not exist in the alias's account is ErrNotFound, the foreign
// key refusing it.
func (s *Store) PutAlias(ctx context.Context, a store.KeyAlias) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO key_aliases (account, name, key_id, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (account, name) DO UPDATE SET key_id = excluded.key_id`,
		a.Account, a.Name, a.KeyID, tsArg(a.CreatedAt))
	return wrapErr(err, "put alias %s/%s for key %s", a.Account, a.Name, a.KeyID)
}

const aliasColumns = `account, name, key_id, created_at`

func scanAlias(row scanner) (store.KeyAlias, error) {
	var a store.KeyAlias
	err := row.Scan(&a.Account, &a.Name, &a.KeyID, ts{&a.CreatedAt})
	return a, err
}

// GetAlias implements store.Store.
func (s *Store) GetAlias(ctx context.Context, account, name string) (store.KeyAlias, error) {
	a, err := scanAlias(s.pool.QueryRow(ctx,
		`SELECT `+aliasColumns+` FROM key_aliases WHERE account = $1 AND name = $2`, account, name))
	if err != nil {
		return store.KeyAlias{}, wrapErr(err, "get alias %s/%s", account, name)
	}
	return a, nil
}

// ListAliases implements store.Store.
func (s *Store) ListAliases(ctx context.Context, account string) ([]store.KeyAlias, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+aliasColumns+` FROM key_aliases WHERE account = $1 ORDER BY name`, account)
	as, err := collect(rows, err, scanAlias)
	return as, wrapErr(err, "list aliases in %s", account)
}

// DeleteAlias implements store.Store. A missing alias is ErrNotFound; the
// key stays.
func (s *Store) DeleteAlias(ctx context.Context, account, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM key_aliases WHERE account = $1 AND name = $2`, account, name)
	return wrapErr(checkAffected(tag, err), "delete alias %s/%s", account, name)
}

// RootKeyCheck implements store.Store.
func (s *Store) RootKeyCheck(ctx context.Context) ([]byte, error) {
	var check []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM root_key_check WHERE id = 1`).Scan(&check)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapErr(err, "get root key check")
	}
	return check, nil
}

// SetRootKeyCheck implements store.Store. An empty check is refused: it
// would read back as none. Of servers storing theirs at once, the primary
// key lets one win; the others wait for it to commit and get ErrConflict.
func (s *Store) SetRootKeyCheck(ctx context.Context, check []byte) error {
	if len(check) == 0 {
		return errors.New("store: set root key check: empty check")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO root_key_check (id, value) VALUES (1, $1)`, check)
	return wrapErr(err, "set root key check")
}

// AppendAudit implements store.Store. The trail is one chain, whichever
// server appends, so appenders take turns: the table lock (SHARE ROW
// EXCLUSIVE conflicts with itself and with writes, not with reads) is
// held from reading the last record to committing the next. The primary
// key on seq backs it.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord, link func(store.AuditRecord) []byte) (store.AuditRecord, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE audit IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var last int64
		var prev []byte
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		r.Seq, r.PrevHash = last+1, prev
		r.Hash = link(r)
		_, err = tx.Exec(ctx, `
			INSERT INTO audit (seq, time, account, actor, action, resource, source, result, status, request_id, detail, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			r.Seq, tsArg(r.Time), r.Account, r.Actor, r.Action, r.Resource, r.Source, r.Result, r.Status, r.RequestID, r.Detail, r.PrevHash, r.Hash)
		return err
	})
	return r, wrapErr(err, "append audit record")
}

// EachAudit implements store.Store. The rows stream from the server as
// fn takes them.
func (s *Store) EachAudit(ctx context.Context, f store.AuditFilter, fn func(store.AuditRecord) error) error {
	var q query
	if f.Account != "" {
		q.where("account = " + q.arg(f.Account))
	}
	if f.Actor != "" {
		q.where("actor = " + q.arg(f.Actor))
	}
	if f.Action != "" {
		q.where("strpos(action, " + q.arg(f.Action) + ") > 0")
	}
	if !f.Since.IsZero() {
		q.where("time >= " + q.arg(f.Since))
	}
	if f.AfterSeq > 0 {
		q.where("seq > " + q.arg(f.AfterSeq))
	}
	sql := `SELECT seq, time, account, actor, action, resource, source, result, status, request_id, detail, prev_hash, hash FROM audit` +
		q.whereClause() + ` ORDER BY seq`
	if f.Limit > 0 {
		sql += " LIMIT " + q.arg(f.Limit)
	}
	rows, err := s.pool.Query(ctx, sql, q.args...)
	if err != nil {
		return wrapErr(err, "list audit records")
	}
	defer rows.Close()
	for rows.Next() {
		var r store.AuditRecord
		if err := rows.Scan(&r.Seq, ts{&r.Time}, &r.Account, &r.Actor, &r.Action, &r.Resource, &r.Source, &r.Result, &r.Status, &r.RequestID, &r.Detail, &r.PrevHash, &r.Hash); err != nil {
			return wrapErr(err, "list audit records")
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return wrapErr(rows.Err(), "list audit records")
}

// ListAudit implements store.Store.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	var rs []store.AuditRecord
	err := s.EachAudit(ctx, f, func(r store.AuditRecord) error { rs = append(rs, r); return nil })
	return rs, err
}

// query builds a WHERE clause and its numbered arguments.
type query struct {
	conds []string
	args  []any
}

// arg adds an argument and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *query) where(cond string) { q.conds = append(q.conds, cond) }

func (q *query) whereClause() string {
	if len(q.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.conds, " AND ")
}

// wrapErr adds context to err and translates PostgreSQL errors callers
// branch on into the store's sentinel errors. It returns nil if err is
// nil.
func wrapErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if unavailable(err) {
		return fmt.Errorf("store: "+format+": %w: %w", append(args, store.ErrUnavailable, err)...)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			err = fmt.Errorf("%s: %w", pe.ConstraintName, store.ErrConflict)
		case "23503": // foreign_key_violation
			err = fmt.Errorf("referenced record %w", store.ErrNotFound)
		}
	}
	return fmt.Errorf("store: "+format+": %w", append(args, err)...)
}

// unavailable reports whether err says the database cannot be reached or
// is not serving, rather than that the statement failed: a connection
// that could not be made, was cut, or was ended by the server.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller's own deadline or cancellation
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08, connection exceptions; 57P01-57P03, the server
		// shutting down or not yet accepting connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || pgconn.SafeToRetry(err)
}

// checkAffected turns an update or delete that matched no row into
// ErrNotFound.
func checkAffected(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every row with scan. It takes the results of Query as
// they are, so that callers have one error to check.
func collect[T any](rows pgx.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
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

// tsArg returns t as a query argument: NULL for the zero time, as the
// SQLite store keeps it, so that "not set" reads back as the zero time.
func tsArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// ts scans a timestamptz into *t, in UTC; NULL is the zero time.
type ts struct{ t *time.Time }

func (d ts) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*d.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return fmt.Errorf("time column holds %s, want a time", v.InfinityModifier)
	default:
		*d.t = v.Time.UTC()
	}
	return nil
}

// jsonMapArg returns m as a JSON object. A nil map is stored as {}, so
// that the column is always an object.
func jsonMapArg(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// jsonMap reads a JSON object. An empty object gives a nil map, so that
// what was stored from nil reads back as nil.
func jsonMap(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		m = nil
	}
	return m, nil
}

// jsonListArg returns l as a JSON array; nil is [].
func jsonListArg(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// nilIfEmpty makes what was stored from nil read back as nil.
func nilIfEmpty(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}
