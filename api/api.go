// Package api holds the JSON types of Postern's HTTPS API. The server, the
// Go client, the agent's registration and the web console all speak them.
//
// Errors are returned as an Error body with an HTTP status; Message is
// written for the person at the terminal: what is wrong and what to do.
package api

import "time"

// Paths of the API.
const (
	PathLogin       = "/v1/login"
	PathWhoAmI      = "/v1/whoami"
	PathActivations = "/v1/activations"
	PathRegister    = "/v1/register"
	PathAgent       = "/v1/agent/connect"
	PathNodes       = "/v1/nodes"
	PathSessions    = "/v1/sessions"
	PathDocuments   = "/v1/documents"
	PathPreferences = "/v1/preferences"
	// PathDesktopPreferences are the account's connection recording
	// preferences for remote desktops (AWS::SSMGuiConnect::Preferences).
	PathDesktopPreferences = "/v1/desktop/preferences"
	PathUsers              = "/v1/users"
	PathLogGroups          = "/v1/log-groups"
	PathKeys               = "/v1/keys"
	PathAudit              = "/v1/audit"
	PathRefresh            = "/v1/login/refresh"
	PathPolicies           = "/v1/policies"
	PathConsole            = "/v1/console"
	PathDashboard          = "/v1/dashboard"
	PathOrg                = "/v1/organization"
	PathStackSets          = PathOrg + "/stacksets"
	// PathRules are event rules (package events, package subscriptions).
	PathRules = "/v1/events/rules"
	// PathDeliveryStreams are delivery streams (package firehose).
	PathDeliveryStreams = "/v1/delivery-streams"
	// PathCommands are Run Command's commands (package runcommand).
	PathCommands = "/v1/commands"
	PathHealth   = "/healthz"
	// PathAgentDownloads serves the agent builds the node install
	// command downloads, and their SHA256SUMS (package nodeinstall).
	PathAgentDownloads = "/install/agent/"
	// PathInstallCA serves the CA certificate the node install command
	// checks against the activation's pin.
	PathInstallCA = "/install/ca.pem"
	// PathInstallScriptPS serves the Windows node install script, whose
	// SHA-256 the command that runs it holds.
	PathInstallScriptPS = "/install.ps1"
)

// Error is the body of every non-2xx response.
type Error struct {
	Code    string `json:"code"` // machine-readable, e.g. "NodeOffline"
	Message string `json:"message"`
}

// LoginRequest signs a user in with a password.
type LoginRequest struct {
	Account  string `json:"account,omitempty"` // default: the default account
	User     string `json:"user"`
	Password string `json:"password"`
}

// LoginResponse carries a short-lived session token and the refresh token
// that buys the next one.
type LoginResponse struct {
	Token            string    `json:"token"`
	ExpiresAt        time.Time `json:"expiresAt"`
	RefreshToken     string    `json:"refreshToken,omitempty"`
	RefreshExpiresAt time.Time `json:"refreshExpiresAt,omitzero"`
	Account          string    `json:"account"`
	User             string    `json:"user"`
}

// RefreshRequest trades a refresh token for a new session token (and a
// new refresh token: each is good once).
type RefreshRequest struct {
	RefreshToken string `json:"refreshToken"`
}

// WhoAmI describes the caller.
type WhoAmI struct {
	Account string   `json:"account"`
	User    string   `json:"user"`
	ARN     string   `json:"arn"`
	Admin   bool     `json:"admin"` // in the administrators group
	Groups  []string `json:"groups,omitempty"`
	RunAs   string   `json:"runAs,omitempty"`
	// TokenID and Scopes describe the token the request came with.
	TokenID string   `json:"tokenId,omitempty"`
	Scopes  []string `json:"scopes,omitempty"`
}

// CreateUserRequest creates a local user. Without a password the user
// signs in only through single sign-on (or not at all, for automation
// with API tokens an administrator makes).
type CreateUserRequest struct {
	Name     string   `json:"name"`
	Password string   `json:"password,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	RunAs    string   `json:"runAs,omitempty"`
}

// CreateTokenRequest makes an API token for a user.
type CreateTokenRequest struct {
	Name      string   `json:"name"`
	ExpiresIn string   `json:"expiresIn,omitempty"` // Go duration or Nd; default 30d, at most 365d
	Scopes    []string `json:"scopes,omitempty"`    // actions; empty: all the user's permissions
}

// Token describes a token; Secret is shown once, at creation.
type Token struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name,omitempty"`
	Scopes    []string  `json:"scopes,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	Secret    string    `json:"secret,omitempty"`
}

// AccessKey is a user's key for the AWS-compatible APIs; the secret is
// shown once, when it is made.
type AccessKey struct {
	AccessKeyID     string    `json:"accessKeyId"`
	User            string    `json:"user"`
	CreatedAt       time.Time `json:"createdAt"`
	SecretAccessKey string    `json:"secretAccessKey,omitempty"`
}

// Policy is one of an account's Cedar policy documents.
type Policy struct {
	ID        string    `json:"id"`
	Text      string    `json:"text"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	UpdatedBy string    `json:"updatedBy,omitempty"`
}

// PolicyTestRequest asks whether a principal may perform an action on a
// resource, under the account's policies or, with Policies set, under
// these instead (to try a change before putting it).
type PolicyTestRequest struct {
	Principal string            `json:"principal"` // a user name
	Action    string            `json:"action"`
	Resource  string            `json:"resource"` // node:ID|NAME, session:ID, document:NAME, log-group:NAME, key:ID, user:NAME, account
	Context   map[string]string `json:"context,omitempty"`
	Policies  []Policy          `json:"policies,omitempty"`
}

// PolicyTestResponse is the decision and what decided it.
type PolicyTestResponse struct {
	Decision    string   `json:"decision"` // Allow or Deny
	Explanation string   `json:"explanation"`
	Policies    []string `json:"policies,omitempty"`  // the policies that decided
	Documents   []string `json:"documents,omitempty"` // the stored documents they are in
	Errors      []string `json:"errors,omitempty"`
}

// CreateActivationRequest creates an activation, as Session Manager's
// CreateActivation.
type CreateActivationRequest struct {
	Description       string            `json:"description,omitempty"`
	DefaultName       string            `json:"defaultInstanceName,omitempty"`
	RegistrationLimit int               `json:"registrationLimit,omitempty"` // default 1
	ExpiresIn         string            `json:"expiresIn,omitempty"`         // Go duration or Nd; default 24h, at most 30d
	Tags              map[string]string `json:"tags,omitempty"`
}

// Activation is an activation as listed; the code is shown only once, at
// creation.
type Activation struct {
	ID                string            `json:"activationId"`
	Code              string            `json:"activationCode,omitempty"`
	Description       string            `json:"description,omitempty"`
	DefaultName       string            `json:"defaultInstanceName,omitempty"`
	RegistrationLimit int               `json:"registrationLimit"`
	RegistrationCount int               `json:"registrationsCount"`
	ExpiresAt         time.Time         `json:"expirationDate"`
	Expired           bool              `json:"expired"`
	Tags              map[string]string `json:"tags,omitempty"`
	CreatedAt         time.Time         `json:"createdDate"`
	// CAPin is the server CA's fingerprint, for the agent's first contact.
	CAPin string `json:"caPin,omitempty"`
}

// RegisterRequest is an agent's registration.
type RegisterRequest struct {
	ActivationID   string            `json:"activationId"`
	ActivationCode string            `json:"activationCode"`
	CSR            string            `json:"csr"` // PEM certificate request
	Name           string            `json:"name,omitempty"`
	Hostname       string            `json:"hostname"`
	OS             string            `json:"os"`
	Platform       string            `json:"platform,omitempty"`
	AgentVersion   string            `json:"agentVersion"`
	IP             string            `json:"ip,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
}

// RegisterResponse carries the node's identity.
type RegisterResponse struct {
	NodeID string `json:"nodeId"`
	// Name is the node's name; Renamed says why it is not the one asked
	// for (another node of the account has that name).
	Name        string `json:"name"`
	Renamed     string `json:"renamed,omitempty"`
	Certificate string `json:"certificate"` // PEM
	CA          string `json:"ca"`          // PEM
}

// Node is a managed node.
type Node struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Hostname     string            `json:"hostname"`
	OS           string            `json:"os"`
	Platform     string            `json:"platform,omitempty"`
	AgentVersion string            `json:"agentVersion"`
	IP           string            `json:"ip,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	Online       bool              `json:"online"`
	PingStatus   string            `json:"pingStatus"` // Online or ConnectionLost, as Session Manager
	LastSeen     time.Time         `json:"lastSeen,omitzero"`
	RegisteredAt time.Time         `json:"registeredAt"`
}

// StartSessionRequest starts a session on a node.
type StartSessionRequest struct {
	Target     string            `json:"target"` // node id or name
	Document   string            `json:"documentName,omitempty"`
	Parameters map[string]string `json:"parameters,omitempty"`
	Reason     string            `json:"reason,omitempty"`
	Command    []string          `json:"command,omitempty"` // empty: interactive shell
	Cols       int               `json:"cols,omitempty"`
	Rows       int               `json:"rows,omitempty"`
	// Pipes runs Command without a terminal, as a NonInteractiveCommands
	// document does: standard output and standard error stay apart and
	// the exit code is the command's. It needs a Command; a document that
	// names its own session type decides for itself.
	Pipes bool `json:"pipes,omitempty"`
}

// Session describes a session.
type Session struct {
	ID     string `json:"sessionId"`
	Owner  string `json:"owner"`
	Target string `json:"target"`
	// TargetName is the target node's name, for a node that is still
	// registered and that the caller may describe (DescribeNodes).
	TargetName   string     `json:"targetName,omitempty"`
	Document     string     `json:"documentName,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	Status       string     `json:"status"`
	StatusReason string     `json:"statusReason,omitempty"`
	RunAsUser    string     `json:"runAsUser,omitempty"`
	StartedAt    time.Time  `json:"startDate"`
	EndedAt      *time.Time `json:"endDate,omitempty"`
	ExitCode     *int       `json:"exitCode,omitempty"`
	// SessionType is the document's session type: Standard_Stream,
	// InteractiveCommands, NonInteractiveCommands or Port.
	SessionType string `json:"sessionType,omitempty"`
	// Pipes is set for a session without a terminal
	// (NonInteractiveCommands): its stream carries standard output and
	// standard error as chunks a wire.StreamDemux separates.
	Pipes bool `json:"pipes,omitempty"`
	// Port describes a port forwarding session.
	Port *PortForward `json:"port,omitempty"`
	// StreamURL is the WebSocket to attach to (relative to the server).
	StreamURL string `json:"streamUrl,omitempty"`
	// Logs are where the session's artifacts are.
	Logs []LogLocation `json:"logs,omitempty"`
}

// PortForward is where a port session's connections go.
type PortForward struct {
	Host            string `json:"host,omitempty"` // on the node's network; empty: the node itself
	PortNumber      int    `json:"portNumber"`
	LocalPortNumber int    `json:"localPortNumber"` // the client's listening port; 0: any free one
}

// Connection is one TCP connection a port session forwarded, from its
// recording (GET /v1/sessions/{id}/connections).
type Connection struct {
	ID int `json:"connectionId"` // 1, 2, ... in the session
	// ClientAddress is where the connection came from, as the server saw
	// it (the user's `postern forward` or `postern proxy`).
	ClientAddress string `json:"clientAddress"`
	// TargetHost and TargetPort are where it went, as the node reaches
	// them ("localhost": the node itself).
	TargetHost string     `json:"targetHost"`
	TargetPort int        `json:"targetPort"`
	StartTime  time.Time  `json:"startTime"`
	EndTime    *time.Time `json:"endTime,omitempty"` // nil while it is open
	// BytesFromClient and BytesFromTarget are counted when it closes:
	// nil while it is open, or if it ended uncounted (the server stopped
	// with it open).
	BytesFromClient *int64 `json:"bytesFromClient,omitempty"`
	BytesFromTarget *int64 `json:"bytesFromTarget,omitempty"`
	// CloseReason says why it closed: ClientClosed, TargetClosed,
	// ClientDisconnected, AgentDisconnected, ConnectFailed, SessionEnded,
	// ServerStopped or ServerRestarted; empty while it is open. Detail
	// says more where there is more (the node's error).
	CloseReason string `json:"closeReason,omitempty"`
	Detail      string `json:"detail,omitempty"`
}

// LogLocation is one artifact of a session at one destination.
type LogLocation struct {
	Destination string `json:"destination"` // "local", "s3", "cloudwatch"
	Format      string `json:"format"`      // journal, log, cast, events
	Location    string `json:"location"`
	// Status is Recording or Complete for the local journal; Waiting (for
	// the session to end), Pending, Delivered or Failing for a destination.
	Status string `json:"status"`
	// Delivery state of a destination's artifact.
	Attempts    int        `json:"attempts,omitempty"`
	Error       string     `json:"error,omitempty"` // the last failed attempt's
	NextAttempt *time.Time `json:"nextAttempt,omitempty"`
	Bytes       int64      `json:"bytes,omitempty"`
}

// Document is a session document, as listed (without Content) or shown.
type Document struct {
	Name        string     `json:"name"`
	Version     int        `json:"documentVersion"`
	SessionType string     `json:"sessionType"`
	Description string     `json:"description,omitempty"`
	Content     string     `json:"content,omitempty"`
	CreatedBy   string     `json:"createdBy,omitempty"`
	CreatedAt   *time.Time `json:"createdDate,omitempty"`
	Builtin     bool       `json:"builtin,omitempty"`
	// DocumentType is Command for a command document (postern run's,
	// which has no session type); empty for a session document.
	DocumentType string `json:"documentType,omitempty"`
}

// PutDocumentRequest creates a document version, sets the preferences, or
// validates content.
type PutDocumentRequest struct {
	Name    string `json:"name,omitempty"`
	Content string `json:"content"` // JSON or YAML, as written
}

// ValidateResponse lists a document's problems.
type ValidateResponse struct {
	Valid  bool     `json:"valid"`
	Errors []string `json:"errors,omitempty"`
}

// User is a Postern user, as administrators see it.
type User struct {
	Name      string   `json:"name"`
	Admin     bool     `json:"admin"` // in the administrators group
	Groups    []string `json:"groups,omitempty"`
	Federated string   `json:"federated,omitempty"` // "issuer subject" of a single sign-on user
	// RunAs is the OS user the user's sessions run as when the session
	// preferences enable run-as (runAsEnabled); it wins over
	// runAsDefaultUser, as Session Manager's SSMSessionRunAs tag does.
	RunAs string `json:"runAs,omitempty"`
}

// SetUserAttributesRequest changes a user's attributes. Fields left out
// stay as they are.
type SetUserAttributesRequest struct {
	RunAs    *string   `json:"runAs,omitempty"`    // "": none
	Groups   *[]string `json:"groups,omitempty"`   // replaces the user's groups
	Password *string   `json:"password,omitempty"` // "": the user can no longer sign in with a password
}

// LogGroup is one of Postern's built-in log groups, described as
// CloudWatch Logs' DescribeLogGroups does.
type LogGroup struct {
	Name            string    `json:"logGroupName"`
	ARN             string    `json:"arn"`
	RetentionInDays int       `json:"retentionInDays,omitempty"` // 0: never expire
	KMSKeyID        string    `json:"kmsKeyId,omitempty"`
	CreationTime    time.Time `json:"creationTime"`
	StoredBytes     int64     `json:"storedBytes"`
	IndexBytes      int64     `json:"indexBytes"` // Postern's full-text index of the group
	Encrypted       bool      `json:"encrypted"`  // its events and index are sealed at rest
}

// CreateLogGroupRequest creates a built-in log group.
type CreateLogGroupRequest struct {
	Name            string `json:"logGroupName"`
	RetentionInDays int    `json:"retentionInDays,omitempty"`
	KMSKeyID        string `json:"kmsKeyId,omitempty"`
}

// LogStream is one stream of a log group: one per session.
type LogStream struct {
	Name              string     `json:"logStreamName"`
	FirstEventTime    *time.Time `json:"firstEventTimestamp,omitempty"`
	LastEventTime     *time.Time `json:"lastEventTimestamp,omitempty"`
	LastIngestionTime *time.Time `json:"lastIngestionTime,omitempty"`
	Events            int64      `json:"events"`
	StoredBytes       int64      `json:"storedBytes"`
}

// LogEvent is one event of a log stream; ID orders them and pages through
// them (GET ...?after=ID).
type LogEvent struct {
	ID            int64     `json:"id"`
	Timestamp     time.Time `json:"timestamp"`
	IngestionTime time.Time `json:"ingestionTime"`
	Message       string    `json:"message"`
	Stream        string    `json:"logStreamName,omitempty"` // in a tail of a whole group
}

// TailResponse is a page of a tail: the events after the asked ID, and the
// ID to ask after next (the last event's, or the asked one when none came).
type TailResponse struct {
	Events []LogEvent `json:"events"`
	Next   int64      `json:"next"`
}

// QueryResult is the table a Logs Insights-style query gives.
type QueryResult struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
	// Scanned is how many events were read, Matched how many passed the
	// filters (before stats, sort, dedup and limit).
	Scanned   int64 `json:"scanned"`
	Matched   int64 `json:"matched"`
	ElapsedMS int64 `json:"elapsedMs"`
}

// MetricFilter counts a log group's events matching Pattern (CloudWatch
// Logs' filter pattern syntax) into a metric, as PutMetricFilter does.
type MetricFilter struct {
	Group        string            `json:"logGroupName"`
	Name         string            `json:"filterName"`
	Pattern      string            `json:"filterPattern"`
	Namespace    string            `json:"metricNamespace"`
	MetricName   string            `json:"metricName"`
	Value        string            `json:"metricValue,omitempty"` // default "1"; or a field such as $.durationMs
	Dimensions   map[string]string `json:"dimensions,omitempty"`  // name -> field, e.g. user: $.userIdentity.arn
	CreationTime time.Time         `json:"creationTime,omitempty"`
}

// SubscriptionFilter sends a log group's events matching Pattern onward
// to a destination, as CloudWatch Logs' PutSubscriptionFilter does.
type SubscriptionFilter struct {
	Group          string    `json:"logGroupName"`
	Name           string    `json:"filterName"`
	Pattern        string    `json:"filterPattern"`
	DestinationARN string    `json:"destinationArn"` // a delivery stream's
	Distribution   string    `json:"distribution,omitempty"`
	CreationTime   time.Time `json:"creationTime,omitempty"`
	// Backlog is how many of the group's events the filter has not yet
	// delivered (or passed over), and when the oldest was taken.
	Backlog       int64      `json:"backlogEvents"`
	OldestPending *time.Time `json:"oldestPendingEventTime,omitempty"`
}

// DeliveryStream is a delivery stream, Data Firehose's: it buffers what
// subscription filters send it and writes objects to an S3-compatible
// bucket.
type DeliveryStream struct {
	Name                  string `json:"deliveryStreamName"`
	ARN                   string `json:"deliveryStreamArn,omitempty"`
	Bucket                string `json:"bucket"`
	Prefix                string `json:"prefix,omitempty"`
	ErrorPrefix           string `json:"errorOutputPrefix,omitempty"`
	BufferSizeMiB         int    `json:"bufferSizeInMBs,omitempty"`         // 1-128, default 5
	BufferIntervalSeconds *int   `json:"bufferIntervalInSeconds,omitempty"` // 0-900, default 300
	Compression           string `json:"compressionFormat,omitempty"`       // UNCOMPRESSED (default) or GZIP
	// KMSKeyID seals each object with this key of the account (ID, alias
	// or ARN; the ARN is returned), as session logs are: postern logs
	// decrypt opens them for whoever the key's policy lets decrypt.
	KMSKeyID     string    `json:"kmsKeyArn,omitempty"`
	CreationTime time.Time `json:"createTimestamp,omitempty"`
	// Destination is S3 (the default), HTTP or OpenSearch. For the last
	// two, Bucket and ErrorPrefix name the backup of what the destination
	// refuses for good.
	Destination string                 `json:"destination,omitempty"`
	HTTP        *HTTPEndpoint          `json:"httpEndpointDestination,omitempty"`
	OpenSearch  *OpenSearchDestination `json:"openSearchDestination,omitempty"`
	// Status is filled by describe and list.
	Status *DeliveryStreamStatus `json:"status,omitempty"`
}

// HTTPEndpoint is a delivery stream's webhook (package webhook): each
// record is POSTed, signed with Secret (never returned), as CloudWatch
// Logs' subscription payload (format awslogs, as a Lambda function gets
// it) or as it is (json).
type HTTPEndpoint struct {
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
	CAPEM  string `json:"caPem,omitempty"`
	Format string `json:"format,omitempty"`
}

// Rule is an event rule, EventBridge's: the account's events (in its
// /postern/events log group) that EventPattern matches go to each target,
// at least once and in order, each target from a cursor of its own.
type Rule struct {
	Name         string       `json:"name"`
	Description  string       `json:"description,omitempty"`
	EventPattern string       `json:"eventPattern"`    // EventBridge's JSON pattern
	State        string       `json:"state,omitempty"` // ENABLED (default) or DISABLED
	Targets      []RuleTarget `json:"targets"`
	CreationTime time.Time    `json:"creationTime,omitempty"`
}

// RuleTarget is where a rule's events go: a webhook or an SNS topic, as
// the event or what InputTransformer makes of it.
type RuleTarget struct {
	ID string `json:"id"`
	// Webhook posts each event (format json: the event, or the
	// transformer's output; slack: {"text": ...}), signed as delivery
	// streams' webhooks are. Its secret is never returned.
	Webhook *HTTPEndpoint `json:"webhook,omitempty"`
	// SNSTopicARN publishes each event to a topic (the server's AWS
	// configuration, AWS_ENDPOINT_URL_SNS).
	SNSTopicARN string `json:"snsTopicArn,omitempty"`
	// RunCommand sends a command to nodes for each event (postern run),
	// as RunAs: the user who put the rule, whose permissions it has
	// when it runs (set by the server), as EventBridge's target has its
	// role. The event is not the command's input.
	RunCommand       *SendCommandRequest `json:"runCommand,omitempty"`
	RunAs            string              `json:"runAs,omitempty"`
	InputTransformer *InputTransformer   `json:"inputTransformer,omitempty"`
	// Backlog is filled when rules are listed: events matched or not
	// that the target has yet to pass.
	Backlog int64 `json:"backlogEvents,omitempty"`
}

// InputTransformer is EventBridge's: each <name> of InputTemplate is
// replaced by the value at InputPathsMap[name] in the event ($.detail.x).
type InputTransformer struct {
	InputPathsMap map[string]string `json:"inputPathsMap,omitempty"`
	InputTemplate string            `json:"inputTemplate"`
}

// OpenSearchDestination is a delivery stream's OpenSearch or
// Elasticsearch cluster (package searchindex): each log event is one
// document, bulk-indexed into IndexName-YYYY.MM.DD (the event's day, UTC;
// IndexName alone with NoRotation), under an index template of that name
// put when the stream is made. Password and APIKey are never returned;
// Authentication says which is set.
type OpenSearchDestination struct {
	ClusterEndpoint string `json:"clusterEndpoint"`
	IndexName       string `json:"indexName"`
	// IndexRotationPeriod is OneDay (the default), OneHour, OneMonth or
	// NoRotation.
	IndexRotationPeriod string `json:"indexRotationPeriod,omitempty"`
	Username            string `json:"username,omitempty"`
	Password            string `json:"password,omitempty"`
	APIKey              string `json:"apiKey,omitempty"`
	CAPEM               string `json:"caPem,omitempty"`
	// Authentication is Basic, ApiKey or None (filled by describe).
	Authentication string `json:"authentication,omitempty"`
}

// DeliveryStreamKeyRequest asks for the key of a delivery stream's sealed
// object (its envelope's header), for postern logs decrypt.
type DeliveryStreamKeyRequest struct {
	Object     string            `json:"object"`
	WrappedKey []byte            `json:"wrappedKey"`
	Context    map[string]string `json:"context"`
}

// DeliveryStreamStatus is what a stream has delivered since the server
// started, and what it owes.
type DeliveryStreamStatus struct {
	Objects       int64      `json:"objects"`
	Events        int64      `json:"events"`
	Bytes         int64      `json:"bytes"`
	ErrorObjects  int64      `json:"errorObjects"`
	BufferedBytes int64      `json:"bufferedBytes"`
	Backlog       int64      `json:"backlogEvents"` // its sources' undelivered events
	LastDelivery  *time.Time `json:"lastDelivery,omitempty"`
	LastObjectKey string     `json:"lastObjectKey,omitempty"`
	LastError     string     `json:"lastError,omitempty"`
	FailingSince  *time.Time `json:"failingSince,omitempty"`
	NextAttempt   *time.Time `json:"nextAttempt,omitempty"`
	Sources       []string   `json:"sources,omitempty"` // LOG-GROUP:FILTER of each source
}

// DeleteLogsResult is what deleting a session's logs did.
type DeleteLogsResult struct {
	SessionID string `json:"sessionId"`
	// Shredded: the session's shred key is erased, so its recording
	// cannot be decrypted anywhere, whatever copy is left.
	Shredded       bool `json:"shredded"`
	JournalRemoved bool `json:"journalRemoved"`
	// LogStreamsDeleted counts the built-in log streams deleted.
	LogStreamsDeleted int `json:"logStreamsDeleted"`
	// Elsewhere are copies delivered outside Postern (S3, CloudWatch
	// Logs), which their owners must delete.
	Elsewhere []string `json:"elsewhere,omitempty"`
}

// AuditRecord is one record of the audit trail.
type AuditRecord struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	Resource  string    `json:"resource"`
	Source    string    `json:"source,omitempty"`
	Result    string    `json:"result"` // Allowed, Denied or Failed
	Status    int       `json:"status,omitempty"`
	RequestID string    `json:"requestId,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	Hash      string    `json:"hash"` // hex: commits to this record and all before it
}

// AuditVerification is what checking the audit trail's chain found.
type AuditVerification struct {
	OK       bool   `json:"ok"`
	Records  int    `json:"records"`
	Head     string `json:"head,omitempty"` // the last record's hash: note it to detect later truncation
	BrokenAt int64  `json:"brokenAt,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// ArtifactKeyRequest asks for the key of an artifact's envelope (package
// envelope): what its header says.
type ArtifactKeyRequest struct {
	Artifact   string            `json:"artifact"` // "log" or "cast"
	WrappedKey []byte            `json:"wrappedKey"`
	Context    map[string]string `json:"context"`
}

// ArtifactKey is the key that opens an artifact's envelope.
type ArtifactKey struct {
	Key []byte `json:"key"`
}

// Key is a key of the built-in key service, as KMS's DescribeKey gives it.
type Key struct {
	KeyID              string    `json:"keyId"`
	ARN                string    `json:"arn"`
	Aliases            []string  `json:"aliases,omitempty"`
	Description        string    `json:"description,omitempty"`
	KeyState           string    `json:"keyState"` // Enabled, Disabled, PendingDeletion
	DeletionDate       time.Time `json:"deletionDate,omitzero"`
	RotationPeriodDays int       `json:"rotationPeriodInDays,omitempty"` // 0: no automatic rotation
	NextRotationDate   time.Time `json:"nextRotationDate,omitzero"`
	Versions           int       `json:"versions"`
	CreationDate       time.Time `json:"creationDate"`
	Policy             string    `json:"policy,omitempty"` // filled by describe
}

// CreateKeyRequest creates a key.
type CreateKeyRequest struct {
	Description string `json:"description,omitempty"`
	Policy      string `json:"policy,omitempty"` // empty: the account's administrators may do everything
	// RotationPeriodDays: 0 is yearly; -1, no automatic rotation.
	RotationPeriodDays int `json:"rotationPeriodInDays,omitempty"`
}

// KeyRequest is an action on a key (POST PathKeys/{action}): describe,
// alias, delete-alias, enable, disable, schedule-deletion,
// cancel-deletion, rotate, put-policy.
type KeyRequest struct {
	KeyID               string `json:"keyId,omitempty"` // id, ARN, alias/NAME or alias ARN
	AliasName           string `json:"aliasName,omitempty"`
	PendingWindowInDays int    `json:"pendingWindowInDays,omitempty"`
	Policy              string `json:"policy,omitempty"`
}

// Organization is an organization as its accounts see it.
type Organization struct {
	ID                string    `json:"id"`
	ManagementAccount string    `json:"managementAccountId"`
	Root              string    `json:"rootId"`
	CreatedAt         time.Time `json:"createdAt"`
}

// OrgUnit is an organization's root or one of its organizational units.
type OrgUnit struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Parent    string    `json:"parentId,omitempty"` // empty for the root
	Path      string    `json:"path"`               // o-.../r-.../ou-.../: what aws:PrincipalOrgPaths matches
	CreatedAt time.Time `json:"createdAt"`
}

// CreateOrgUnitRequest adds an organizational unit.
type CreateOrgUnitRequest struct {
	Name   string `json:"name"`
	Parent string `json:"parentId,omitempty"` // default: the root
}

// OrgAccount is an account of an organization.
type OrgAccount struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Parent     string    `json:"parentId"`
	Path       string    `json:"path"`
	Management bool      `json:"management,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
}

// CreateAccountRequest creates a member account. The account gets the
// role the management account assumes to act in it (RoleName, default
// OrganizationAccountAccessRole), in group administrators; the member's
// administrators may narrow or remove it.
type CreateAccountRequest struct {
	Name     string `json:"name"`
	Parent   string `json:"parentId,omitempty"` // default: the root
	RoleName string `json:"roleName,omitempty"`
}

// MoveAccountRequest moves an account between units; From must be where it is.
type MoveAccountRequest struct {
	From string `json:"sourceParentId"`
	To   string `json:"destinationParentId"`
}

// AssumeRoleRequest asks for short-lived credentials of a role a member
// account grants the management account.
type AssumeRoleRequest struct {
	RoleName        string `json:"roleName,omitempty"`        // default OrganizationAccountAccessRole
	DurationSeconds int    `json:"durationSeconds,omitempty"` // 900–3600, default 3600
}

// AssumeRoleResponse is the role's credentials: a bearer token of the
// member account (use it as POSTERN_TOKEN).
type AssumeRoleResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	Account   string    `json:"account"`
	Role      string    `json:"role"`
	ARN       string    `json:"arn"` // the assumed role's session
}

// OrgArchive is an organization's central archive: a copy of every
// account's session artifacts goes to Bucket, under
// Prefix/ACCOUNT/sessions/YYYY/MM/DD/SESSION.ARTIFACT, encrypted under
// KeyARN, a key of the archive account Account.
type OrgArchive struct {
	Account string `json:"accountId"`
	Bucket  string `json:"bucket"`
	Prefix  string `json:"prefix,omitempty"`
	KeyARN  string `json:"kmsKeyArn"`
	// LogsIntervalSeconds is how long the accounts' session log events,
	// shipped to Prefix/ACCOUNT/logs/GROUP/YYYY/MM/DD/HH/, are buffered
	// (0-900; default 60).
	LogsIntervalSeconds *int `json:"logsBufferIntervalSeconds,omitempty"`
	// LogGroups name the accounts' log groups shipped there: names, or
	// prefixes ending in '*' (default: the session log group,
	// /postern/sessions).
	LogGroups []string `json:"logGroups,omitempty"`
}

// OrgArchiveStatus is the archive's settings and, per account, its copies.
type OrgArchiveStatus struct {
	OrgArchive
	Accounts []OrgArchiveAccount `json:"accounts"`
}

// OrgArchiveAccount counts an account's archive copies by status.
type OrgArchiveAccount struct {
	Account   string     `json:"accountId"`
	Name      string     `json:"name"`
	Delivered int        `json:"delivered"`
	Waiting   int        `json:"waiting"` // sessions still running
	Pending   int        `json:"pending"`
	Failing   int        `json:"failing"`
	Oldest    *time.Time `json:"oldestUndelivered,omitempty"`
	// LogEventsPending are the account's session log events not yet
	// shipped to the archive; LogEventsOldest when the oldest was taken.
	LogEventsPending int64      `json:"logEventsPending"`
	LogEventsOldest  *time.Time `json:"logEventsOldest,omitempty"`
}

// ArchiveKeyRequest asks for the key of an archive copy (its envelope's
// header), for postern logs decrypt.
type ArchiveKeyRequest struct {
	Account    string            `json:"account"`
	SessionID  string            `json:"sessionId"`
	Artifact   string            `json:"artifact"`
	KeyARN     string            `json:"keyArn"`
	WrappedKey []byte            `json:"wrappedKey"`
	Context    map[string]string `json:"context,omitempty"`
}

// Stack instance statuses: CURRENT, deployed as the stack set now is;
// OUTDATED, not (yet) deployed as it now is; FAILED, its last deployment
// failed (Reason says why); DRIFTED, deployed, but a resource was changed
// in the account since (detect-drift found it).
const (
	StackCurrent  = "CURRENT"
	StackOutdated = "OUTDATED"
	StackFailed   = "FAILED"
	StackDrifted  = "DRIFTED"
)

// StackSet is a template the management account rolls out to the
// organization's accounts (PathStackSets), as CloudFormation StackSets
// does.
type StackSet struct {
	Name           string            `json:"name"`
	Description    string            `json:"description,omitempty"`
	TemplateName   string            `json:"templateName"`
	TemplateDigest string            `json:"templateDigest"` // SHA-256 of the template's text, hex
	Parameters     map[string]string `json:"parameters,omitempty"`
	// Targets are the units and accounts it was deployed to; accounts
	// created in, or moved into, those units get it too.
	Targets []string `json:"targets,omitempty"`
	// Resources are the template's resources, in dependency order.
	Resources []StackSetResource `json:"resources,omitempty"`
	// Template is the template's text (describe only).
	Template string `json:"template,omitempty"`
	// Instances counts its instances by status.
	Instances map[string]int `json:"instances"`
	// Operation is the operation running on it, if one is.
	Operation string    `json:"operationInProgress,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// StackSetResource is a resource a stack set's template declares.
type StackSetResource struct {
	LogicalID string `json:"logicalId"`
	Type      string `json:"type"`
	Line      int    `json:"line"`
}

// CreateStackSetRequest makes a stack set; nothing is deployed until
// DeployStackSet.
type CreateStackSetRequest struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Template    string            `json:"template"`               // YAML or JSON text
	FileName    string            `json:"templateName,omitempty"` // names the template in errors
	Parameters  map[string]string `json:"parameters,omitempty"`
}

// OperationPreferences are how an operation goes through accounts, as
// StackSets' operation preferences: at most MaxConcurrent at a time
// (default 1), and none started once more than FailureTolerance have
// failed (default 0).
type OperationPreferences struct {
	MaxConcurrent    int `json:"maxConcurrentCount,omitempty"`
	FailureTolerance int `json:"failureToleranceCount,omitempty"`
}

// UpdateStackSetRequest changes a stack set and rolls the change out to
// every instance.
type UpdateStackSetRequest struct {
	Description *string `json:"description,omitempty"`
	// Template replaces the template; empty keeps it.
	Template string `json:"template,omitempty"`
	FileName string `json:"templateName,omitempty"`
	// Parameters change the values given; the others keep theirs.
	Parameters map[string]string `json:"parameters,omitempty"`
	OperationPreferences
}

// StackTargetsRequest deploys a stack set to targets, or removes its
// instances from them: organizational units (ou-..., r-... for the whole
// organization; the units below them too) and account ids.
type StackTargetsRequest struct {
	Targets []string `json:"targets"`
	OperationPreferences
}

// Outcomes of an operation in an account.
const (
	StackOpSucceeded = "SUCCEEDED"
	StackOpFailed    = "FAILED"
	StackOpCancelled = "CANCELLED" // not started: the operation stopped
)

// StackOperation is what an operation (deploy, update, remove, drift
// detection) did, account by account. A stack set's recent ones are
// listed at PathStackSets/NAME/operations, newest first.
type StackOperation struct {
	StackSet string `json:"stackSetName"`
	// ID is the operation's; By is who asked for it (a user's resource
	// name; the one who placed the account, for an automatic deployment).
	ID     string `json:"operationId,omitempty"`
	Action string `json:"action"` // DEPLOY, UPDATE, REMOVE, DETECT_DRIFT
	By     string `json:"by,omitempty"`
	// Stopped says why accounts were left out, if some were: more than
	// the failure tolerance failed, or the time ran out.
	Stopped   string                  `json:"stopped,omitempty"`
	Accounts  []StackOperationAccount `json:"accounts"`
	StartedAt time.Time               `json:"startedAt"`
	EndedAt   time.Time               `json:"endedAt"`
}

// StackOperationAccount is an operation's outcome in one account. A drift
// detection SUCCEEDED where it read every resource back, its Reason the
// instance's drift status (IN_SYNC, DRIFTED: what changed), and FAILED
// where it could not.
type StackOperationAccount struct {
	Account string `json:"account"`
	Status  string `json:"status"` // SUCCEEDED, FAILED, CANCELLED
	Reason  string `json:"reason,omitempty"`
}

// StackInstance is a stack set's deployment in one account.
type StackInstance struct {
	Account        string            `json:"account"`
	AccountName    string            `json:"accountName,omitempty"`
	Status         string            `json:"status"` // CURRENT, OUTDATED, FAILED, DRIFTED
	Reason         string            `json:"reason,omitempty"`
	TemplateDigest string            `json:"templateDigest,omitempty"` // what it runs
	Parameters     map[string]string `json:"parameters,omitempty"`
	Resources      []StackResource   `json:"resources,omitempty"`
	LastOperation  time.Time         `json:"lastOperation"`
	DriftCheckedAt *time.Time        `json:"driftCheckedAt,omitempty"`
	// Drift is what the last drift detection found (since the last
	// deployment), field by field; absent if none ran since.
	Drift *InstanceDrift `json:"drift,omitempty"`
}

// StackResource is a resource an instance deployed.
type StackResource struct {
	LogicalID      string `json:"logicalId"`
	Type           string `json:"type"`
	PhysicalID     string `json:"physicalId"`
	Protected      bool   `json:"protected,omitempty"`
	DeletionPolicy string `json:"deletionPolicy,omitempty"`
}

// Drift statuses of an instance and of its resources, as CloudFormation
// words them.
const (
	DriftInSync   = "IN_SYNC"
	DriftDrifted  = "DRIFTED"
	DriftModified = "MODIFIED"
	DriftDeleted  = "DELETED"
	DriftUnknown  = "UNKNOWN" // could not be read back
)

// StackSetDrift is what drift detection found in each instance.
type StackSetDrift struct {
	StackSet  string          `json:"stackSetName"`
	CheckedAt time.Time       `json:"checkedAt"`
	Instances []InstanceDrift `json:"instances"`
}

// InstanceDrift is one instance's drift: DRIFTED if a resource differs
// from what the instance deployed.
type InstanceDrift struct {
	Account   string          `json:"account"`
	Status    string          `json:"status"` // IN_SYNC, DRIFTED, UNKNOWN
	Resources []ResourceDrift `json:"resources"`
}

// ResourceDrift is one resource's drift, field by field.
type ResourceDrift struct {
	LogicalID   string               `json:"logicalId"`
	Type        string               `json:"type"`
	PhysicalID  string               `json:"physicalId"`
	Status      string               `json:"status"` // IN_SYNC, MODIFIED, DELETED, UNKNOWN
	Reason      string               `json:"reason,omitempty"`
	Differences []PropertyDifference `json:"differences,omitempty"`
}

// PropertyDifference is a field of a resource that differs from what was
// deployed: Path as Content.inputs.idleSessionTimeout, the values as JSON
// has them (absent: null).
type PropertyDifference struct {
	Path     string `json:"path"`
	Expected any    `json:"expected"`
	Actual   any    `json:"actual"`
}

// SendCommandRequest runs a command document on nodes, as Run Command's
// SendCommand: the nodes named by NodeIDs, or those Targets pick.
type SendCommandRequest struct {
	DocumentName string `json:"documentName"`
	// Parameters are the document's parameters, each a list of values
	// as Systems Manager takes them ({"commands": ["uptime", "df -h"]}).
	Parameters map[string][]string `json:"parameters,omitempty"`
	// NodeIDs are nodes by id (Run Command's InstanceIds); Targets pick
	// nodes by tag. One of the two, not both.
	NodeIDs []string        `json:"instanceIds,omitempty"`
	Targets []CommandTarget `json:"targets,omitempty"`
	// MaxConcurrency is how many nodes run it at once, a number or a
	// percentage of them (default 50); MaxErrors how many may fail
	// before no more are started (default 0).
	MaxConcurrency string `json:"maxConcurrency,omitempty"`
	MaxErrors      string `json:"maxErrors,omitempty"`
	Comment        string `json:"comment,omitempty"`
}

// CommandTarget picks nodes, as Run Command's Targets: Key is
// InstanceIds (Values are node ids), tag:NAME (nodes whose tag NAME has
// one of Values) or tag-key (nodes that have one of the tags Values).
// A node must match every target of a command.
type CommandTarget struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
}

// Command is a command sent to nodes, and how it stands.
type Command struct {
	ID             string              `json:"commandId"`
	DocumentName   string              `json:"documentName"`
	Owner          string              `json:"owner"`
	Comment        string              `json:"comment,omitempty"`
	Parameters     map[string][]string `json:"parameters,omitempty"`
	Targets        []CommandTarget     `json:"targets"`
	MaxConcurrency string              `json:"maxConcurrency"`
	MaxErrors      string              `json:"maxErrors"`
	// TimeoutSeconds is the execution timeout each node's run has.
	TimeoutSeconds int `json:"executionTimeoutSeconds"`
	// Status is Pending, InProgress, Success, Failed, TimedOut,
	// Cancelling or Cancelled; StatusDetails says more (Incomplete,
	// MaxErrorsExceeded, ...).
	Status         string     `json:"status"`
	StatusDetails  string     `json:"statusDetails"`
	TargetCount    int        `json:"targetCount"`
	CompletedCount int        `json:"completedCount"`
	ErrorCount     int        `json:"errorCount"`
	RequestedAt    time.Time  `json:"requestedDateTime"`
	EndedAt        *time.Time `json:"endDateTime,omitempty"`
	// Invocations are its nodes' parts, when one command is shown.
	Invocations []CommandInvocation `json:"invocations,omitempty"`
}

// CommandInvocation is a command's run on one node.
type CommandInvocation struct {
	NodeID   string `json:"instanceId"`
	NodeName string `json:"instanceName,omitempty"`
	// Status is Pending, InProgress, Success, Failed, TimedOut or
	// Cancelled; StatusDetails says more (ExecutionTimedOut,
	// Undeliverable, AccessDenied, MaxErrorsExceeded, ...).
	Status        string `json:"status"`
	StatusDetails string `json:"statusDetails"`
	// SessionID is the session that runs it: its recording has the
	// whole output (postern logs get SESSION).
	SessionID string `json:"sessionId,omitempty"`
	ExitCode  *int   `json:"exitCode,omitempty"`
	// The first 24,000 characters of standard output and error, and how
	// long each was.
	StandardOutputContent string     `json:"standardOutputContent"`
	StandardErrorContent  string     `json:"standardErrorContent"`
	StandardOutputBytes   int64      `json:"standardOutputBytes"`
	StandardErrorBytes    int64      `json:"standardErrorBytes"`
	OutputTruncated       bool       `json:"outputTruncated,omitempty"`
	StartedAt             *time.Time `json:"executionStartDateTime,omitempty"`
	EndedAt               *time.Time `json:"executionEndDateTime,omitempty"`
}
