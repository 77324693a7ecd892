// Package store keeps Postern's metadata: accounts, users, API tokens,
// activations, managed nodes and sessions.
//
// The Store interface is what the server needs from a metadata database. The
// embedded default is SQLite through a pure Go driver (OpenSQLite); package
// store/postgres is PostgreSQL, for deployments whose servers share one
// database, and imports a SQLite deployment's tables (SQLite.Export). Both
// run the same conformance suite (package storetest).
//
// Every record belongs to an account: the data model is multi-account from the
// start even though a single-node deployment has only the default account.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors callers branch on. Implementations wrap them with context, so test
// with errors.Is.
var (
	ErrNotFound  = errors.New("not found")
	ErrConflict  = errors.New("already exists")
	ErrExpired   = errors.New("activation expired")
	ErrExhausted = errors.New("activation registration limit reached")
	// ErrUnavailable: the database does not answer (down, unreachable,
	// refusing connections); the same call may succeed later.
	ErrUnavailable = errors.New("the database does not answer")
)

// DefaultAccount is the account a fresh installation creates.
const DefaultAccount = "000000000001"

// Account is a tenant: everything else belongs to exactly one.
type Account struct {
	ID        string // 12 digits
	Name      string
	CreatedAt time.Time
	// Org is the organization the account belongs to, and Parent the
	// root or organizational unit it sits in; both empty for an account
	// outside any organization.
	Org, Parent string
}

// Organization is a management account and the member accounts it
// created, arranged in organizational units under a root, as AWS
// Organizations arranges accounts.
type Organization struct {
	ID                string // o- and 10 characters
	ManagementAccount string
	Root              string // the root unit's id (r- and 4 characters)
	CreatedAt         time.Time
	// Archive is the organization's central archive settings, as package
	// orgs encodes them (JSON); empty for none.
	Archive string
}

// OrgUnit is an organization's root or one of its organizational units.
type OrgUnit struct {
	ID        string // ou-ROOT-8 characters, or the root's r-...
	Org       string
	Parent    string // "" for the root
	Name      string
	CreatedAt time.Time
}

// StackSet is a template of resources an organization's management
// account rolls out to the organization's accounts (package orgs), as
// CloudFormation StackSets does: its instances are its deployments, one
// per account.
type StackSet struct {
	Org         string
	Name        string
	Description string
	// Template is the template's text; TemplateName names it in errors
	// (the file it came from); Digest is its SHA-256, hex.
	Template, TemplateName, Digest string
	// Parameters are the values given for the template's parameters.
	Parameters map[string]string
	// Targets are the organizational units (and the root, and accounts)
	// it was deployed to: an account created in, or moved into, one of
	// those units later gets an instance too.
	Targets   []string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Operation is the id of the operation running on the stack set (a
	// deployment, an update, a drift detection), which holds it until
	// OperationUntil; empty when none does.
	Operation      string
	OperationUntil time.Time
}

// StackInstance is a stack set's deployment in one account.
type StackInstance struct {
	Org, StackSet, Account string
	// Status is CURRENT, OUTDATED, FAILED or DRIFTED (package api's
	// StackStatus...); Reason says why, for the last three.
	Status, Reason string
	// Digest and Parameters are the template and values last deployed
	// (empty before the first deployment).
	Digest     string
	Parameters map[string]string
	// PhysicalIDs are the ids chosen for resources whose id the service
	// assigns (keys), by logical id: chosen once, before the first
	// deployment, and kept.
	PhysicalIDs map[string]string
	// Resources are the resources deployed, as package rollout records
	// them (JSON text).
	Resources string
	// Drift is the last drift detection's findings (JSON text, package
	// orgs's), DriftCheckedAt when it ran; empty and zero if never.
	Drift          string
	DriftCheckedAt time.Time
	// UpdatedAt is the last operation's time.
	UpdatedAt time.Time
}

// StackSetOperation is what an operation on a stack set did (a
// deployment, an update, a removal, a drift detection), kept so that the
// management account can see a stack set's recent operations, as
// StackSets' ListStackSetOperations shows them.
type StackSetOperation struct {
	Org, StackSet string
	// ID is the operation's id, the one that held the stack set.
	ID string
	// Action is DEPLOY, UPDATE, REMOVE or DETECT_DRIFT; By is who asked
	// (a user's resource name).
	Action, By string
	// Stopped says why accounts were left out, if some were.
	Stopped string
	// Accounts are its outcomes, account by account (JSON text, package
	// orgs's).
	Accounts           string
	StartedAt, EndedAt time.Time
}

// User is a person who signs in to Postern.
type User struct {
	Account      string
	Name         string
	PasswordHash string   // PHC-formatted argon2id hash; empty for users who cannot sign in with a password
	Groups       []string // what policies know the user by (administrators, operators, ...), sorted
	RunAs        string   // per-user OS user override (Session Manager's SSMSessionRunAs tag); empty for none
	// Federated is the issuer and subject of a user who signs in through
	// single sign-on ("issuer sub"); empty for local users.
	Federated string
	CreatedAt time.Time
}

// The kinds of token.
const (
	TokenSession = "session" // from signing in; short-lived
	TokenRefresh = "refresh" // trades for a new session token
	TokenAPI     = "api"     // made by a user for automation
)

// Token is a bearer token. Only its SHA-256 hash is stored.
type Token struct {
	Hash    string // hex SHA-256 of the secret
	ID      string // shown to users, to list and revoke tokens without their secret
	Account string
	User    string
	Kind    string // TokenSession, TokenRefresh or TokenAPI
	Name    string // an API token's description
	// Scopes, when not empty, are the only actions the token may be used
	// for (authz action names), whatever its user may do.
	Scopes    []string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
	// SignedInAt is when the user proved who they are (password or single
	// sign-on) for a session or refresh token: refreshes carry it on, so
	// that a sign-in ends however often it is refreshed. Zero for API
	// tokens, and for tokens older than it (then CreatedAt stands in).
	SignedInAt time.Time
}

// Policy is one of an account's authorization policy documents (Cedar).
type Policy struct {
	Account   string
	ID        string
	Text      string
	UpdatedAt time.Time
	UpdatedBy string
}

// Activation lets nodes register, as a Session Manager hybrid activation.
type Activation struct {
	ID                string // UUID shown to the operator
	Account           string
	CodeHash          string // hex SHA-256 of the activation code
	Description       string
	DefaultName       string            // name given to registered nodes that bring none
	Tags              map[string]string // applied to every node registered with it
	RegistrationLimit int
	RegistrationCount int
	ExpiresAt         time.Time
	CreatedAt         time.Time
}

// Node is a managed node (an agent) registered through an activation.
type Node struct {
	ID           string // mi- + 17 lowercase hex
	Account      string
	Name         string
	Hostname     string
	OS           string // e.g. "linux"
	Platform     string // e.g. "Debian GNU/Linux 12 (bookworm)"
	AgentVersion string
	IP           string
	Tags         map[string]string
	ActivationID string
	CertSerial   string // serial of the client certificate issued at registration (hex)
	RegisteredAt time.Time
	LastSeen     time.Time // zero: never connected
}

// Session states, as Session Manager names them where it has a name.
const (
	StatusConnecting  = "Connecting"
	StatusConnected   = "Connected"
	StatusTerminating = "Terminating"
	StatusTerminated  = "Terminated"
	StatusFailed      = "Failed"
)

// Session is one shell, command or port forward on a node.
type Session struct {
	ID           string // <user>-<17 hex>
	Account      string
	Owner        string // user name
	Target       string // node id
	Document     string // session document name
	Reason       string // free text given by the user at start
	Status       string
	StatusReason string // why the session ended or failed, e.g. "IdleTimeout"
	RunAsUser    string
	StartedAt    time.Time
	EndedAt      time.Time // zero while active
	ExitCode     *int      // nil while active or when unknown
	Cols, Rows   int
	// RecordedSeq is the highest agent record sequence number durably
	// recorded; a restarted server resumes the agent stream after it.
	RecordedSeq uint64
	// Settings are what the server enforces, fixed when the session
	// starts and kept so that a restarted server goes on enforcing them.
	Settings SessionSettings
	// ShredKey is mixed into the key that encrypts the session's
	// recordings, so that erasing it (ShredSession) makes every copy
	// unreadable, wherever it is, while the key it was wrapped with lives
	// on for other sessions. Set at creation; nil once shredded.
	ShredKey []byte
}

// SessionSettings are the parts of a session's document the server keeps
// enforcing for as long as the session runs.
type SessionSettings struct {
	IdleTimeout      time.Duration `json:"idleTimeout,omitempty"`
	IdleCountsOutput bool          `json:"idleCountsOutput,omitempty"`
	MaxDuration      time.Duration `json:"maxDuration,omitempty"`
	// Port is where a port session's connections go; nil for other
	// sessions.
	Port *PortTarget `json:"port,omitempty"`
	// Type is the session document's sessionType (Standard_Stream,
	// InteractiveCommands, NonInteractiveCommands, Port); Pipes marks a
	// session without a terminal. Kept for listings and the console,
	// which show what kind of session each was.
	Type  string `json:"type,omitempty"`
	Pipes bool   `json:"pipes,omitempty"`
	// RunAs is the run-as user the server asked the node for (the
	// user's runAs attribute or the preferences' runAsDefaultUser);
	// empty when run-as was off and the node's agent chose. A resume is
	// decided on, and a change of the owner's runAs ends the session,
	// by it.
	RunAs string `json:"runAs,omitempty"`
	// Desktop marks a remote desktop session (Type "Desktop"): a port
	// session to the node's RDP server whose client is the server's
	// desktop engine.
	Desktop *DesktopSettings `json:"desktop,omitempty"`
	// Command is the Run Command command whose invocation this session
	// is: the server relaying it holds it as its client, wherever it
	// runs (a server that takes it up from another holds it too).
	Command string `json:"command,omitempty"`
}

// DesktopSettings are what a desktop session keeps from the account's
// connection recording preferences.
type DesktopSettings struct {
	// RecordKeys records the keys the user presses (opt-in: passwords
	// are typed into desktops too).
	RecordKeys bool `json:"recordKeys,omitempty"`
}

// PortTarget is the destination of a port session's connections, from the
// node.
type PortTarget struct {
	Host           string `json:"host,omitempty"` // empty: the node itself
	Port           int    `json:"port"`
	AllowLinkLocal bool   `json:"allowLinkLocal,omitempty"`
	// Stdio marks a session that carries one connection, as ssh's
	// ProxyCommand does: it ends when that connection closes.
	Stdio bool `json:"stdio,omitempty"`
}

// Active reports whether the session has not ended.
func (s Session) Active() bool {
	return s.Status == StatusConnecting || s.Status == StatusConnected || s.Status == StatusTerminating
}

// Document is one version of a session document, stored as its author
// wrote it (JSON or YAML) so that `documents show` returns it unchanged.
type Document struct {
	Account     string
	Name        string
	Version     int // 1, 2, ... per name
	Content     string
	SessionType string
	Description string
	CreatedBy   string
	CreatedAt   time.Time
}

// Delivery states. A delivery waits while its session runs, is pending once
// the session has ended, and then either delivered or failing (retried
// with backoff, never dropped).
const (
	DeliveryWaiting   = "Waiting"
	DeliveryPending   = "Pending"
	DeliveryDelivered = "Delivered"
	DeliveryFailing   = "Failing"
)

// SessionRef names a session.
type SessionRef struct{ Account, SessionID string }

// Delivery is one artifact of one session owed to one destination: a row
// of the durable outbox. The target (bucket and prefix, log group, ...) is
// fixed when the session starts, from the preferences then in force, so
// that a later change of preferences does not redirect a recording.
type Delivery struct {
	Account     string
	SessionID   string
	Destination string // "s3", "cloudwatch"
	Artifact    string // "log", "cast"
	Target      string // the destination's own description of where, as JSON
	Status      string
	Attempts    int
	LastError   string // the last failed attempt's error
	Location    string // where it was delivered, e.g. s3://bucket/key
	Bytes       int64  // size delivered
	// Cursor is how far a streamed delivery got: the sequence number of
	// the last journal record whose output the destination has.
	Cursor      uint64
	NextAttempt time.Time // when a pending or failing delivery is due
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// SessionFilter selects sessions in ListSessions. Zero fields match all.
type SessionFilter struct {
	Account string
	Active  *bool // true: active only; false: ended only
	Target  string
	Owner   string
	Since   time.Time // started at or after
	Limit   int       // 0: no limit
}

// Command is one run of a command document on managed nodes, as Systems
// Manager's Run Command sends one (package runcommand): what was asked,
// and how it stands. Its invocations, one per node, hold each node's
// part.
type Command struct {
	Account string
	ID      string // a UUID, as Run Command's command ids
	Owner   string // the user who sent it, whose sessions run it
	// DocumentName is the document as named by the sender; Parameters
	// the values given (a StringList's as a JSON list); Targets the
	// targets asked for, as package runcommand encodes them (JSON).
	DocumentName string
	Parameters   map[string]string
	Targets      string
	Comment      string
	// MaxConcurrency and MaxErrors are as given: a number or a
	// percentage ("10%").
	MaxConcurrency, MaxErrors string
	// Script, WorkingDirectory and Timeout are what the document
	// resolved to, run on every node: fixed when the command is sent.
	Script           string
	WorkingDirectory string
	Timeout          time.Duration // whole seconds
	Status           string
	StatusDetails    string
	// TargetCount is how many nodes it was sent to; CompletedCount how
	// many reached a terminal status; ErrorCount how many of those
	// count against MaxErrors.
	TargetCount, CompletedCount, ErrorCount int
	RequestedAt                             time.Time
	EndedAt                                 time.Time // zero while it runs
}

// CommandInvocation is a command's part on one node.
type CommandInvocation struct {
	Account, CommandID, NodeID string
	// Seq orders a command's invocations: the order they start in.
	Seq           int
	NodeName      string
	Status        string
	StatusDetails string
	// SessionID is the session that runs it, chosen before it starts
	// (so that a server restarted meanwhile finds it); empty while none
	// was chosen.
	SessionID string
	ExitCode  *int // nil while unknown
	// Stdout and Stderr are the beginning of the command's output
	// (package runcommand bounds it); StdoutBytes and StderrBytes how
	// long all of it was. The whole is in the session's recording.
	Stdout, Stderr           string
	StdoutBytes, StderrBytes int64
	StartedAt, EndedAt       time.Time
}

// CommandFilter selects commands in ListCommands. Zero fields match all.
type CommandFilter struct {
	Account string
	Owner   string
	Active  *bool // true: running only (EndedAt zero); false: ended only
	Limit   int   // 0: no limit
}

// Key states, as AWS KMS names them.
const (
	KeyEnabled         = "Enabled"
	KeyDisabled        = "Disabled"
	KeyPendingDeletion = "PendingDeletion"
)

// Key is a symmetric key of the built-in key service (package keys). Its
// material never leaves the server unwrapped: each version is stored
// encrypted under the root key.
type Key struct {
	Account     string
	ID          string // UUID, as AWS KMS key ids
	Description string
	State       string // KeyEnabled, KeyDisabled or KeyPendingDeletion
	// DeletionDate is when a key pending deletion is destroyed; zero
	// otherwise.
	DeletionDate time.Time
	// Policy is the key policy, a JSON document (see package keys).
	Policy string
	// RotationPeriod is how often a new version is made (0: never);
	// NextRotation when the next is due.
	RotationPeriod time.Duration
	NextRotation   time.Time
	CreatedAt      time.Time
	// Versions are the key's material, oldest first; the last encrypts,
	// all decrypt. Filled by GetKey and ListKeys.
	Versions []KeyVersion
}

// KeyVersion is one version of a key's material, wrapped by the root key.
type KeyVersion struct {
	Version   int // 1, 2, ...
	Wrapped   []byte
	CreatedAt time.Time
}

// KeyAlias is a friendly name for a key, "alias/..." as in AWS KMS; unique
// per account.
type KeyAlias struct {
	Account   string
	Name      string // "alias/session-manager-logs"
	KeyID     string
	CreatedAt time.Time
}

// AuditRecord is one entry of the audit trail: an API call or a session's
// lifecycle event. Records form a chain: each one's Hash commits to its
// fields and to the previous record's Hash (package audit computes it), so
// that an edited, removed or reordered record shows.
type AuditRecord struct {
	Seq       int64 // 1, 2, ... in the order appended; set by AppendAudit
	Time      time.Time
	Account   string // empty for calls of no account (a failed sign-in)
	Actor     string // a user's resource name, "agent:mi-...", or "anonymous"
	Action    string // "POST /v1/sessions", or a lifecycle event ("SessionEnded")
	Resource  string // what it was about: a path, a session id
	Source    string // the client's address
	Result    string // "Allowed", "Denied" or "Failed"
	Status    int    // the HTTP status, 0 for events
	RequestID string
	Detail    string // e.g. the error's code and message
	PrevHash  []byte // set by AppendAudit
	Hash      []byte // set by AppendAudit
}

// AuditFilter selects audit records in ListAudit; zero fields match all.
type AuditFilter struct {
	Account  string
	Actor    string
	Action   string // a substring
	Since    time.Time
	AfterSeq int64
	Limit    int // 0: no limit
}

// The store's roles. A consumer takes the role it uses, as small as it
// needs (a delivery pipeline takes Deliveries and Sessions, not the whole
// Store), so that each part can be tested with only what it touches.
// Store is all of them.

// Accounts stores accounts.
type Accounts interface {
	// EnsureAccount creates the account if it does not exist.
	EnsureAccount(ctx context.Context, a Account) error
	// GetAccount returns an account.
	GetAccount(ctx context.Context, id string) (Account, error)
}

// Organizations stores organizations, their units and their accounts.
type Organizations interface {
	// CreateOrganization makes an organization whose management
	// account (which must exist, outside any organization) is placed in
	// its root. ErrConflict if the account already belongs to one.
	CreateOrganization(ctx context.Context, o Organization) error
	GetOrganization(ctx context.Context, id string) (Organization, error)
	// CreateOrgUnit adds a unit under a parent (the root or a unit) of
	// the same organization; ErrConflict if the parent has a unit of
	// that name, ErrNotFound if the parent is not the organization's.
	CreateOrgUnit(ctx context.Context, u OrgUnit) error
	// ListOrgUnits returns the organization's root and units, root first.
	ListOrgUnits(ctx context.Context, org string) ([]OrgUnit, error)
	// DeleteOrgUnit deletes an empty unit; ErrConflict if it holds units
	// or accounts, or is the root.
	DeleteOrgUnit(ctx context.Context, org, id string) error
	// CreateMemberAccount creates a new account in a.Org under a.Parent.
	CreateMemberAccount(ctx context.Context, a Account) error
	// MoveAccount moves an account of org from one parent to another (the
	// move says where it expects the account to be, as AWS's does);
	// ErrNotFound if it is not there or the destination is not the
	// organization's.
	MoveAccount(ctx context.Context, org, account, from, to string) error
	// ListAccounts returns the organization's accounts, by id.
	ListAccounts(ctx context.Context, org string) ([]Account, error)
	// SetOrgArchive replaces the organization's archive settings.
	SetOrgArchive(ctx context.Context, org, archive string) error
	// ListOrganizations returns every organization, by id.
	ListOrganizations(ctx context.Context) ([]Organization, error)
}

// StackSets stores organizations' stack sets and their instances.
type StackSets interface {
	// CreateStackSet stores a new stack set of an existing organization
	// (ErrNotFound otherwise); ErrConflict if the organization has one of
	// that name.
	CreateStackSet(ctx context.Context, ss StackSet) error
	GetStackSet(ctx context.Context, org, name string) (StackSet, error)
	// ListStackSets returns the organization's stack sets, by name.
	ListStackSets(ctx context.Context, org string) ([]StackSet, error)
	// UpdateStackSet replaces what changes after creation (description,
	// template, its name and digest, parameters, targets, updated at);
	// ErrNotFound if there is no such stack set.
	UpdateStackSet(ctx context.Context, ss StackSet) error
	// DeleteStackSet deletes a stack set that has no instances, and its
	// operations; ErrConflict if it has instances, ErrNotFound if there is
	// none.
	DeleteStackSet(ctx context.Context, org, name string) error
	// BeginStackSetOperation makes operation id the stack set's, until
	// until, unless another one holds it at now (ErrConflict): one
	// operation at a time, across servers sharing the store, and a
	// server that dies holding it holds it only until then.
	BeginStackSetOperation(ctx context.Context, org, name, id string, now, until time.Time) error
	// EndStackSetOperation releases the stack set, if id still holds it.
	EndStackSetOperation(ctx context.Context, org, name, id string) error
	// PutStackInstance creates or replaces an instance of an existing
	// stack set in an existing account (ErrNotFound otherwise).
	PutStackInstance(ctx context.Context, in StackInstance) error
	GetStackInstance(ctx context.Context, org, stackSet, account string) (StackInstance, error)
	// ListStackInstances returns a stack set's instances, by account.
	ListStackInstances(ctx context.Context, org, stackSet string) ([]StackInstance, error)
	// AccountStackInstances returns the instances in an account, of every
	// stack set, by organization and stack set.
	AccountStackInstances(ctx context.Context, account string) ([]StackInstance, error)
	// DeleteStackInstance deletes an instance (ErrNotFound if none).
	DeleteStackInstance(ctx context.Context, org, stackSet, account string) error
	// AddStackSetOperation records what an operation on an existing stack
	// set did (ErrNotFound otherwise; ErrConflict if its id is recorded)
	// and forgets all but the stack set's keep newest (by start, then
	// id): a stack set's history stays as small as keep says.
	AddStackSetOperation(ctx context.Context, op StackSetOperation, keep int) error
	// ListStackSetOperations returns a stack set's recorded operations,
	// newest first (by start, then id).
	ListStackSetOperations(ctx context.Context, org, stackSet string) ([]StackSetOperation, error)
}

// Users stores users, and finds those signed in through single sign-on.
type Users interface {
	CreateUser(ctx context.Context, u User) error // ErrConflict if it exists
	GetUser(ctx context.Context, account, name string) (User, error)
	UpdateUser(ctx context.Context, u User) error
	ListUsers(ctx context.Context, account string) ([]User, error)
	DeleteUser(ctx context.Context, account, name string) error
	// FederatedUser returns the user signed in through single sign-on as
	// federated ("issuer subject").
	FederatedUser(ctx context.Context, account, federated string) (User, error)
}

// Tokens stores sign-in and API tokens.
type Tokens interface {
	CreateToken(ctx context.Context, t Token) error
	// GetToken returns the token with this hash; expired tokens are
	// ErrNotFound.
	GetToken(ctx context.Context, hash string, now time.Time) (Token, error)
	DeleteToken(ctx context.Context, hash string) error
	// ListTokens returns a user's unexpired tokens, newest first.
	ListTokens(ctx context.Context, account, user string, now time.Time) ([]Token, error)
	// RevokeToken deletes the user's token with this ID, and the tokens
	// made from it (a session token's refresh token shares its ID).
	RevokeToken(ctx context.Context, account, user, id string) error
	// RevokeUserTokens deletes every token of the user (session, refresh
	// and API) and returns how many there were.
	RevokeUserTokens(ctx context.Context, account, user string) (int, error)
}

// Policies stores accounts' authorization policies.
type Policies interface {
	// Policies returns the account's policies, ordered by ID. seeded
	// reports whether the account has ever had policies (so that an
	// account an administrator emptied is not refilled with defaults).
	Policies(ctx context.Context, account string) (ps []Policy, seeded bool, err error)
	// PutPolicy creates or replaces a policy, marking the account seeded.
	PutPolicy(ctx context.Context, p Policy) error
	// DeletePolicy deletes a policy (ErrNotFound if there is none).
	DeletePolicy(ctx context.Context, account, id string) error
}

// Cursors stores named durable positions.
type Cursors interface {
	// Cursor returns a named durable position (0 if never set); SetCursor
	// moves it.
	Cursor(ctx context.Context, name string) (int64, error)
	SetCursor(ctx context.Context, name string, value int64) error
}

// Leases are named, expiring claims that several servers sharing a
// database use so that background work runs on one of them at a time.
// Expiry is on the store's clock (the database's, for PostgreSQL), so
// that servers' clocks need not agree.
type Leases interface {
	// AcquireLease takes the lease name for holder for ttl from now, if
	// it is free, expired, or holder's already (a renewal), and reports
	// whether holder holds it. Of holders that race for a free lease,
	// exactly one gets it.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder holds it.
	ReleaseLease(ctx context.Context, name, holder string) error
	// LeaseHolders returns the holders of the unexpired leases whose
	// names start with prefix, by name (the servers' presence leases).
	LeaseHolders(ctx context.Context, prefix string) (map[string]string, error)
}

// Placements say which server holds what lives on one server at a time
// among those sharing a database: a node's agent link ("node/ID") and a
// running session's relay ("session/ID"). Whether that server is alive
// is its presence lease's business (Leases), not the placement's.
type Placements interface {
	// Place records that server holds key, and returns who held it
	// before ("" for nobody).
	Place(ctx context.Context, key, server string) (prev string, err error)
	// Placement returns who holds key, "" for nobody.
	Placement(ctx context.Context, key string) (string, error)
	// PlaceIf records that server holds key only if from holds it now
	// ("" for nobody), and reports whether it did: of servers taking a
	// key from the same holder, one gets it.
	PlaceIf(ctx context.Context, key, server, from string) (bool, error)
	// Unplace forgets key if server holds it.
	Unplace(ctx context.Context, key, server string) error
	// PlacementsWith returns the placements of the keys that start with
	// prefix: key → server.
	PlacementsWith(ctx context.Context, prefix string) (map[string]string, error)
}

// AccessKey is a user's key for Postern's AWS-compatible APIs (Signature
// Version 4): an ID the user's requests name, and a secret both sides
// sign with, which the store keeps sealed (the server seals it).
type AccessKey struct {
	ID           string // AKIA... (20 characters)
	Account      string
	User         string
	SealedSecret []byte
	CreatedAt    time.Time
}

// AccessKeys stores users' access keys.
type AccessKeys interface {
	CreateAccessKey(ctx context.Context, k AccessKey) error
	// GetAccessKey finds a key by its ID alone, as a signed request
	// names it.
	GetAccessKey(ctx context.Context, id string) (AccessKey, error)
	// ListAccessKeys returns a user's keys, oldest first.
	ListAccessKeys(ctx context.Context, account, user string) ([]AccessKey, error)
	DeleteAccessKey(ctx context.Context, account, user, id string) error
}

// Nodes stores hybrid activations and the nodes registered with them.
type Nodes interface {
	CreateActivation(ctx context.Context, a Activation) error
	GetActivation(ctx context.Context, id string) (Activation, error)
	ListActivations(ctx context.Context, account string) ([]Activation, error)

	// RegisterNode atomically checks that the activation exists (ErrNotFound),
	// has not expired at now (ErrExpired) and is under its registration limit
	// (ErrExhausted), counts the registration and inserts the node
	// (ErrConflict if the node id exists). The activation code is checked by
	// the caller before.
	RegisterNode(ctx context.Context, activationID string, n Node, now time.Time) error
	GetNode(ctx context.Context, id string) (Node, error)
	ListNodes(ctx context.Context, account string) ([]Node, error)
	// TouchNode records that the node connected or sent a heartbeat, and
	// updates what it reports about itself.
	TouchNode(ctx context.Context, id string, seen time.Time, ip, agentVersion string) error
	// DeleteNode deregisters the account's node: it is gone from the
	// listing and its certificate no longer connects; its sessions stay,
	// naming it (ErrNotFound if the account has no such node).
	DeleteNode(ctx context.Context, account, id string) error
}

// Documents stores session documents, by version.
type Documents interface {
	// PutDocument stores a new version of a document (version 1 for a new
	// name) and returns it with its version number.
	PutDocument(ctx context.Context, d Document) (Document, error)
	// GetDocument returns a version of a document; version 0 is the latest.
	GetDocument(ctx context.Context, account, name string, version int) (Document, error)
	// ListDocuments returns the latest version of each of the account's
	// documents, by name.
	ListDocuments(ctx context.Context, account string) ([]Document, error)
	// DeleteDocument removes every version of a document.
	DeleteDocument(ctx context.Context, account, name string) error
}

// Sessions stores sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s Session) error // ErrConflict if the id exists
	GetSession(ctx context.Context, id string) (Session, error)
	// UpdateSession replaces the fields that change after creation
	// (status, status reason, run-as user, end, exit code, size, recorded
	// sequence) with the given values; ErrNotFound unless both id and
	// account match.
	UpdateSession(ctx context.Context, s Session) error
	// ListSessions returns matching sessions, newest first.
	ListSessions(ctx context.Context, f SessionFilter) ([]Session, error)
	// ShredSession erases a session's ShredKey for good (ErrNotFound
	// unless both id and account match).
	ShredSession(ctx context.Context, account, id string) error
}

// Deliveries stores the outbox: what each session owes each log destination.
type Deliveries interface {
	// CreateDeliveries adds a session's deliveries (ErrConflict if one
	// exists), all or none.
	CreateDeliveries(ctx context.Context, ds []Delivery) error
	// UpdateDelivery replaces a delivery's state (status, attempts, last
	// error, location, bytes, cursor, next attempt, updated at);
	// ErrNotFound if it does not exist.
	UpdateDelivery(ctx context.Context, d Delivery) error
	// ReleaseDeliveries makes a session's waiting deliveries pending and
	// due at now, when the session has ended.
	ReleaseDeliveries(ctx context.Context, account, sessionID string, now time.Time) error
	// ReopenDeliveries makes a session's released deliveries (pending,
	// failing or delivered) pending and due at now, leaving the rest of
	// their state (attempts, location, cursor) as it is: the session's
	// recording grew after it ended (late output), and every destination
	// gets the complete artifacts again, streams from their cursor.
	ReopenDeliveries(ctx context.Context, account, sessionID string, now time.Time) error
	// ListDeliveries returns a session's deliveries by destination and
	// artifact.
	ListDeliveries(ctx context.Context, account, sessionID string) ([]Delivery, error)
	// DueDeliveries returns up to limit pending or failing deliveries due
	// at or before now, of any account, the longest due first.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	// WaitingDeliveries returns up to limit deliveries still waiting for
	// their sessions to end, of any account; a starting server releases
	// those of sessions that ended while it was going down.
	WaitingDeliveries(ctx context.Context, limit int) ([]Delivery, error)
	// DeliveryBacklog counts the deliveries not yet delivered (waiting
	// ones included) and the creation time of the oldest.
	DeliveryBacklog(ctx context.Context) (n int, oldest time.Time, err error)
	// OwedSessions returns the sessions, of any account, that have a
	// delivery not yet delivered to a destination other than those
	// excepted: the recordings the outbox holds.
	OwedSessions(ctx context.Context, except ...string) ([]SessionRef, error)
	// CountDeliveries counts the deliveries to destination by account
	// and status, with the creation time of the oldest of each.
	CountDeliveries(ctx context.Context, destination string) ([]DeliveryCount, error)
}

// DeliveryCount is how many deliveries of an account have a status.
type DeliveryCount struct {
	Account, Status string
	N               int
	Oldest          time.Time
}

// Commands stores Run Command's commands and their invocations.
type Commands interface {
	// CreateCommand stores a new command of an existing account with its
	// invocations, all or none (ErrConflict if the id exists).
	CreateCommand(ctx context.Context, c Command, invs []CommandInvocation) error
	GetCommand(ctx context.Context, account, id string) (Command, error)
	// ListCommands returns matching commands, newest first (by request
	// time, then id).
	ListCommands(ctx context.Context, f CommandFilter) ([]Command, error)
	// UpdateCommand replaces what changes after creation (status,
	// details, counts, end); ErrNotFound unless it exists.
	UpdateCommand(ctx context.Context, c Command) error
	// ListCommandInvocations returns a command's invocations by Seq.
	ListCommandInvocations(ctx context.Context, account, commandID string) ([]CommandInvocation, error)
	// UpdateCommandInvocation replaces what changes after creation
	// (status, details, session, exit code, output, start, end);
	// ErrNotFound unless it exists.
	UpdateCommandInvocation(ctx context.Context, inv CommandInvocation) error
}

// Keys stores the key service's keys, versions and aliases.
type Keys interface {
	// CreateKey stores a new key with its versions, which must be numbered
	// 1, 2, ... in order (ErrConflict if the id exists in the account).
	CreateKey(ctx context.Context, k Key) error
	// GetKey returns a key with its versions.
	GetKey(ctx context.Context, account, id string) (Key, error)
	// ListKeys returns the account's keys, with their versions, oldest
	// first.
	ListKeys(ctx context.Context, account string) ([]Key, error)
	// DueKeys returns the keys of any account that have work due at now:
	// a rotation (NextRotation at or before now) or a destruction
	// (pending deletion with DeletionDate at or before now).
	DueKeys(ctx context.Context, now time.Time) ([]Key, error)
	// UpdateKey replaces what changes after creation (description, state,
	// deletion date, policy, rotation period, next rotation); ErrNotFound
	// if it does not exist.
	UpdateKey(ctx context.Context, k Key) error
	// AddKeyVersion appends a version, which must be the key's last
	// version + 1 (ErrConflict otherwise), and sets the key's next
	// rotation, in one transaction.
	AddKeyVersion(ctx context.Context, account, id string, v KeyVersion, nextRotation time.Time) error
	// DestroyKey deletes a key, its versions and its aliases; the
	// material is gone for good.
	DestroyKey(ctx context.Context, account, id string) error
	// PutAlias creates an alias or points it at another key.
	PutAlias(ctx context.Context, a KeyAlias) error
	GetAlias(ctx context.Context, account, name string) (KeyAlias, error)
	// ListAliases returns the account's aliases by name.
	ListAliases(ctx context.Context, account string) ([]KeyAlias, error)
	DeleteAlias(ctx context.Context, account, name string) error
	// RootKeyCheck returns the value the key service stored to recognise
	// its root key (nil if none yet); SetRootKeyCheck stores it, only if
	// none is stored (ErrConflict otherwise), so that two servers starting
	// at once do not each record their own.
	RootKeyCheck(ctx context.Context) ([]byte, error)
	SetRootKeyCheck(ctx context.Context, check []byte) error
}

// Audit stores the audit trail.
type Audit interface {
	// AppendAudit appends r to the audit trail in one transaction: it
	// sets r.Seq to the last record's + 1, r.PrevHash to the last record's
	// Hash (nil for the first), and r.Hash to link(r), and returns r.
	AppendAudit(ctx context.Context, r AuditRecord, link func(AuditRecord) []byte) (AuditRecord, error)
	// ListAudit returns matching records in sequence order.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
	// EachAudit calls fn with each matching record in sequence order,
	// reading as it goes (memory stays flat whatever the trail holds),
	// and stops at fn's first error.
	EachAudit(ctx context.Context, f AuditFilter, fn func(AuditRecord) error) error
}

// Store is the metadata database the server uses: every role, and Close.
// Implementations are safe for concurrent use.
type Store interface {
	Leases
	Placements
	AccessKeys
	Accounts
	Organizations
	StackSets
	Users
	Tokens
	Policies
	Cursors
	Nodes
	Documents
	Sessions
	Deliveries
	Keys
	Audit
	Commands

	Close() error
}
