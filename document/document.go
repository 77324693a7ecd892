// Package document parses, validates and resolves session documents: the
// JSON or YAML documents of AWS Systems Manager Session Manager (schema
// version "1.0") that say what a session is (a shell, one command, or a port
// forward) and with which preferences (logging destinations, run-as user,
// timeouts). Postern reads Session Manager's documents unchanged so that
// users can bring theirs along; see DESIGN.md §3.
//
// A document goes through [Parse], which also validates it, and then
// [Document.Resolve] with the parameters a session was started with, which
// substitutes them and says what to start. [Builtin] has the documents
// users expect to exist, under Postern's names and Session Manager's.
package document

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// SessionType is what kind of session a document starts.
type SessionType string

// The session types of Session Manager.
const (
	// StandardStream is an interactive shell. Its document is the
	// preferences document: its inputs apply to every session.
	StandardStream SessionType = "Standard_Stream"
	// InteractiveCommands runs commands in a terminal.
	InteractiveCommands SessionType = "InteractiveCommands"
	// NonInteractiveCommands runs commands without a terminal.
	NonInteractiveCommands SessionType = "NonInteractiveCommands"
	// Port forwards TCP connections to a port on, or reachable from, the node.
	Port SessionType = "Port"
)

var sessionTypes = []SessionType{StandardStream, InteractiveCommands, NonInteractiveCommands, Port}

// SchemaVersion is the only schema version of session documents.
const SchemaVersion = "1.0"

// MaxSize is the largest document Parse accepts, in bytes. It is Session
// Manager's limit on document content.
const MaxSize = 64 << 10

// Document is a parsed session document.
//
// Its JSON encoding is a session document that Parse reads back to an equal
// Document, though not byte for byte the one it was parsed from.
type Document struct {
	SchemaVersion string      `json:"schemaVersion"`
	Description   string      `json:"description,omitempty"`
	SessionType   SessionType `json:"sessionType"`

	// Inputs are the session preferences. Only Standard_Stream documents
	// have them, and those must.
	Inputs *Inputs `json:"inputs,omitempty"`

	// Parameters are substituted for {{ name }} in Properties by Resolve.
	Parameters map[string]Parameter `json:"parameters,omitempty"`

	// Properties are what to run or forward to, as written (before
	// substitution): maps, lists, strings, bools, json.Numbers and nils.
	Properties map[string]any `json:"properties,omitempty"`
}

// Inputs are the session preferences of a Standard_Stream document:
// Session Manager's inputs of SSM-SessionManagerRunShell, with its types,
// ranges and defaults.
type Inputs struct {
	// S3BucketName, if set, is where the transcript is uploaded when the
	// session ends, under S3KeyPrefix.
	S3BucketName string `json:"s3BucketName"`
	S3KeyPrefix  string `json:"s3KeyPrefix"`
	// S3EncryptionEnabled refuses the session unless the bucket is
	// encrypted. It means nothing without S3BucketName.
	S3EncryptionEnabled bool `json:"s3EncryptionEnabled"`

	// CloudWatchLogGroupName, if set, is the log group the session log goes
	// to: at the end, or as it happens with CloudWatchStreamingEnabled.
	CloudWatchLogGroupName string `json:"cloudWatchLogGroupName"`
	// CloudWatchEncryptionEnabled refuses the session unless the log group
	// is encrypted with a key. It means nothing without a log group.
	CloudWatchEncryptionEnabled bool `json:"cloudWatchEncryptionEnabled"`
	CloudWatchStreamingEnabled  bool `json:"cloudWatchStreamingEnabled"`

	// KMSKeyID is the key that encrypts session data: a key id, key ARN,
	// alias/name or alias ARN.
	KMSKeyID string `json:"kmsKeyId"`

	// RunAsEnabled starts sessions as RunAsDefaultUser (or the user's own
	// run-as user) instead of Postern's session user.
	RunAsEnabled     bool   `json:"runAsEnabled"`
	RunAsDefaultUser string `json:"runAsDefaultUser"`
	// RunAsAllowRoot is a Postern extension (Session Manager has no such
	// input): sessions may run as root only if it is true, so that a
	// runAs of root, by default user or user attribute, is a deliberate
	// choice and never a slip.
	RunAsAllowRoot bool `json:"runAsAllowRoot,omitempty"`

	// IdleSessionTimeout is in minutes, 1–60; Parse makes it 20 when the
	// document leaves it out or empty.
	IdleSessionTimeout int `json:"idleSessionTimeout"`
	// MaxSessionDuration is in minutes, 1–1440, or 0 for no limit.
	MaxSessionDuration int `json:"maxSessionDuration"`

	// ShellProfile holds commands run when the shell starts.
	ShellProfile ShellProfile `json:"shellProfile"`

	// IdleTimeoutCountsOutput is a Postern extension (Session Manager has
	// no such input): output from the node counts as activity for
	// IdleSessionTimeout, so a long-running job that prints progress keeps
	// its session open although nobody types.
	IdleTimeoutCountsOutput bool `json:"idleSessionTimeoutCountsOutput,omitempty"`
}

// ShellProfile holds the commands run at the start of a shell, per platform.
type ShellProfile struct {
	Linux   string `json:"linux"`
	Windows string `json:"windows"`
}

// Session Manager's defaults and ranges for the timeouts, in minutes.
const (
	DefaultIdleSessionTimeout = 20
	minIdleSessionTimeout     = 1
	maxIdleSessionTimeout     = 60
	minMaxSessionDuration     = 1
	maxMaxSessionDuration     = 1440
)

// Parameter types.
const (
	String     = "String"
	StringList = "StringList"
	Integer    = "Integer"
	Boolean    = "Boolean"
)

var paramTypes = []string{String, StringList, Integer, Boolean}

// Parameter declares a parameter of a document. A parameter without a
// Default is required.
type Parameter struct {
	// Type is String, StringList, Integer or Boolean. Parse fills in String
	// when the document leaves it out.
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`

	// Default is the value when the session gives none, as written: a
	// string, json.Number, bool, or list of those; nil when there is none.
	Default any `json:"default,omitempty"`

	// AllowedValues, if any, are the only values allowed (every item, for
	// a StringList).
	AllowedValues []string `json:"allowedValues,omitempty"`
	// AllowedPattern, if set, is a regular expression (RE2 syntax) that
	// values (every item, for a StringList) must match. It is not anchored
	// unless it says so with ^ and $, as Session Manager's examples do.
	AllowedPattern string `json:"allowedPattern,omitempty"`

	// DisplayType is a hint for forms: textfield or textarea.
	DisplayType string `json:"displayType,omitempty"`

	// MinChars and MaxChars bound the length of a value (every item, for a
	// StringList) in characters; MinItems and MaxItems bound the number of
	// items of a StringList. Zero is no bound.
	MinChars int `json:"minChars,omitempty"`
	MaxChars int `json:"maxChars,omitempty"`
	MinItems int `json:"minItems,omitempty"`
	MaxItems int `json:"maxItems,omitempty"`
}

// Parse parses a session document in JSON or YAML and validates it (see
// [Document.Validate]). It is JSON if its first non-space byte is '{' and
// YAML otherwise.
//
// Parsing is strict: unknown fields, duplicate fields and values of the
// wrong type are errors that name where they are. All the problems found
// are reported together, joined with errors.Join.
func Parse(data []byte) (*Document, error) {
	tree, err := decodeText(data)
	if err != nil {
		return nil, err
	}
	d, err := fromTree(tree)
	if err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// decodeText decodes a document's JSON or YAML text into maps, lists,
// strings, json.Numbers, bools and nils, strictly (see Parse).
func decodeText(data []byte) (any, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("document is %d bytes; the limit is %d", len(data), MaxSize)
	}
	// Editors on Windows like to start files with a byte order mark.
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, errors.New("document is empty")
	}
	js := data
	if trimmed[0] != '{' {
		var err error
		js, err = yaml.YAMLToJSONStrict(data)
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
			return nil, fmt.Errorf("document is not valid YAML: %s", msg)
		}
	}
	tree, err := decodeJSON(js)
	if err != nil {
		if trimmed[0] == '{' {
			return nil, fmt.Errorf("document is not valid JSON: %w", err)
		}
		return nil, fmt.Errorf("document: %w", err)
	}
	return tree, nil
}
