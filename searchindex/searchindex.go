// Package searchindex indexes delivery streams' records in OpenSearch or
// Elasticsearch, as CloudWatch Logs' OpenSearch subscription does: each
// log event of a subscription message (firehose.Payload) becomes one
// document, sent with the bulk API through the official Go client
// (opensearch-go).
//
// A document is the event's message when that is a JSON object (Session
// Manager's events are: eventTime, sessionId, target.id, userIdentity.arn,
// runAsUser, sessionData, and Postern's command events' command, exitCode,
// durationMs, eventType), with the fields CloudWatch Logs' subscription
// adds: @id (the event's id), @timestamp (its time), @owner (the account),
// @log_group and @log_stream; any other message goes in @message. It goes
// to the index PREFIX-YYYY.MM.DD of the event's own time (UTC), as
// CloudWatch's subscription names its cwl-YYYY.MM.DD indices, or to one
// index, PREFIX, with no rotation. Its _id is derived from the account,
// the group and the event's id, and its index from the event's time, so
// that sending an event again (after a failure, or a restart) replaces
// the document rather than adding one.
//
// An index template (_index_template/PREFIX) maps Session Manager's
// fields: it is put when a stream is made, and before the first delivery
// if it has gone.
package searchindex

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postern/postern/firehose"
	"github.com/postern/postern/lazyregexp"
)

// Index rotations, Firehose's names for them.
const (
	NoRotation = "NoRotation"
	OneHour    = "OneHour"
	OneDay     = "OneDay"
	OneMonth   = "OneMonth"
)

// Destination is a delivery stream's cluster: what a stream's Target
// holds for destination OpenSearch.
type Destination struct {
	// Endpoint is the cluster's https:// URL (a path is kept, for a
	// cluster behind a proxy).
	Endpoint string `json:"endpoint"`
	// IndexPrefix names the indices: PREFIX-YYYY.MM.DD, or PREFIX
	// without rotation. It names the index template too.
	IndexPrefix string `json:"indexPrefix"`
	Rotation    string `json:"rotation,omitempty"` // default OneDay
	// Username and Password sign in with basic authentication; APIKey
	// instead is sent as Authorization: ApiKey APIKEY (Elasticsearch's
	// encoded key, or an OpenSearch API key). Neither: no
	// authentication.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	APIKey   string `json:"apiKey,omitempty"`
	// CAPEM, when set, is the only CA trusted for the cluster's
	// certificate (PEM); otherwise the system's.
	CAPEM string `json:"caPem,omitempty"`
}

// maxPrefix is Firehose's bound on an OpenSearch index name.
const maxPrefix = 80

// rePrefix is what an index prefix may be: OpenSearch's index names are
// lowercase and may not start with '-', '_' or '+'; this keeps to the
// characters that need no escaping in a URL or an index pattern.
var rePrefix = lazyregexp.New(`^[a-z0-9][a-z0-9._-]*$`)

// Check says what is wrong with a destination, naming each field as the
// API does.
func (d Destination) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	u, err := url.Parse(d.Endpoint)
	switch {
	case d.Endpoint == "":
		bad("clusterEndpoint: required")
	case err != nil:
		bad("clusterEndpoint: %v", err)
	case u.Scheme != "https" || u.Host == "":
		bad("clusterEndpoint %q: an https:// URL", d.Endpoint)
	case u.User != nil:
		bad("clusterEndpoint: no user or password in the URL; give them as username and password")
	case u.RawQuery != "" || u.Fragment != "":
		bad("clusterEndpoint %q: no query or fragment", d.Endpoint)
	}
	if len(d.IndexPrefix) > maxPrefix || !rePrefix.MatchString(d.IndexPrefix) {
		bad("indexName %q: 1 to %d lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", d.IndexPrefix, maxPrefix)
	}
	switch d.Rotation {
	case "", NoRotation, OneHour, OneDay, OneMonth:
	default:
		bad("indexRotationPeriod %q: %s, %s, %s (the default) or %s", d.Rotation, NoRotation, OneHour, OneDay, OneMonth)
	}
	switch {
	case d.APIKey != "" && (d.Username != "" || d.Password != ""):
		bad("apiKey: either an API key or a username and password, not both")
	case (d.Username == "") != (d.Password == ""):
		bad("username and password: both or neither")
	}
	if strings.ContainsAny(d.Username, ":\r\n") {
		bad("username: no ':' or line breaks")
	}
	if strings.ContainsAny(d.APIKey, " \t\r\n") || len(d.APIKey) > 4096 {
		bad("apiKey: one token, no spaces or line breaks, at most 4096 bytes")
	}
	if d.CAPEM != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(d.CAPEM)) {
		bad("caPem: no PEM certificate in it")
	}
	return errors.Join(errs...)
}

// Authentication says how the destination signs in: Basic, ApiKey or
// None.
func (d Destination) Authentication() string {
	switch {
	case d.APIKey != "":
		return "ApiKey"
	case d.Username != "":
		return "Basic"
	}
	return "None"
}

// rotation is d's rotation, defaulted.
func (d Destination) rotation() string {
	if d.Rotation == "" {
		return OneDay
	}
	return d.Rotation
}

// Index is the index an event of time t goes to.
func (d Destination) Index(t time.Time) string {
	t = t.UTC()
	switch d.rotation() {
	case NoRotation:
		return d.IndexPrefix
	case OneHour:
		return d.IndexPrefix + "-" + t.Format("2006.01.02.15")
	case OneMonth:
		return d.IndexPrefix + "-" + t.Format("2006.01")
	}
	return d.IndexPrefix + "-" + t.Format("2006.01.02")
}

// IndexPattern is the pattern of d's indices, as the index template names
// them.
func (d Destination) IndexPattern() string {
	if d.rotation() == NoRotation {
		return d.IndexPrefix
	}
	return d.IndexPrefix + "-*"
}

// templatePriority is the index template's priority: above the
// built-in templates Elasticsearch gives priority 100 (logs-*-*, ...),
// which a prefix like "logs" would otherwise tie with.
const templatePriority = 150

// Template is the body of d's composable index template: Session
// Manager's and Postern's event fields, and the subscription's own.
func (d Destination) Template() []byte {
	kw := map[string]any{"type": "keyword"}
	text := map[string]any{"type": "text"}
	date := map[string]any{"type": "date"}
	long := map[string]any{"type": "long"}
	obj := func(props map[string]any) map[string]any { return map[string]any{"properties": props} }
	props := map[string]any{
		// What CloudWatch Logs' subscription adds.
		"@timestamp": date, "@id": kw, "@owner": kw, "@log_group": kw, "@log_stream": kw, "@message": text,
		// Session Manager's session events.
		"eventVersion": kw, "eventTime": date, "awsRegion": kw,
		"target": obj(map[string]any{"id": kw}), "userIdentity": obj(map[string]any{"arn": kw}),
		"runAsUser": kw, "sessionId": kw, "sessionData": text,
		// Postern's command events.
		"eventType": kw,
		"command": map[string]any{"type": "text", "fields": map[string]any{
			// As long as a keyword may be; a longer command is
			// still searchable as text.
			"keyword": map[string]any{"type": "keyword", "ignore_above": 8191},
		}},
		"exitCode": map[string]any{"type": "integer"}, "durationMs": long, "castOffset": map[string]any{"type": "double"},
		"prompt": text,
		// Postern's port sessions' connection events.
		"connectionId": long, "clientAddress": kw, "targetHost": kw, "targetPort": map[string]any{"type": "integer"},
		"startTime": date, "endTime": date, "bytesFromClient": long, "bytesFromTarget": long, "closeReason": kw, "detail": text,
	}
	b, _ := json.Marshal(map[string]any{
		"index_patterns": []string{d.IndexPattern()},
		"priority":       templatePriority,
		"template":       map[string]any{"mappings": map[string]any{"properties": props}},
		"_meta":          map[string]any{"managed_by": "postern", "description": "Postern delivery streams' log events"},
	})
	return b
}

// Doc is one document to index.
type Doc struct {
	Index, ID string
	Source    []byte
	Record    int // the record (of those given to Send) it came from
}

// DocumentID is the _id of an event's document: the same on every
// attempt, unique across accounts and groups (an event's id is unique
// only within its group).
func DocumentID(account, group, eventID string) string {
	sum := sha256.Sum256([]byte(account + "\x00" + group + "\x00" + eventID))
	return hex.EncodeToString(sum[:16])
}

// Documents are a record's documents: one per log event of the
// subscription message it holds.
func (d Destination) Documents(record []byte) ([]Doc, error) {
	var p firehose.Payload
	if err := json.Unmarshal(record, &p); err != nil {
		return nil, fmt.Errorf("not a subscription message: %w", err)
	}
	docs := make([]Doc, 0, len(p.LogEvents))
	for _, e := range p.LogEvents {
		t := time.UnixMilli(e.Timestamp)
		docs = append(docs, Doc{Index: d.Index(t), ID: DocumentID(p.Owner, p.LogGroup, e.ID), Source: Document(&p, e)})
	}
	return docs, nil
}

// Document is an event's document: its message's fields when it is a
// JSON object, else the message as @message, and the subscription's own
// fields (which win over the message's fields of the same name).
func Document(p *firehose.Payload, e firehose.LogEvent) []byte {
	var fields map[string]json.RawMessage
	// Invalid UTF-8 would pass into the document's JSON as it is, which
	// the cluster refuses: such a message is kept as a string instead,
	// each bad byte U+FFFD.
	if err := json.Unmarshal([]byte(e.Message), &fields); err != nil || fields == nil || !utf8.ValidString(e.Message) {
		fields = map[string]json.RawMessage{"@message": jsonString(e.Message)}
	}
	fields["@id"] = jsonString(e.ID)
	fields["@timestamp"] = jsonString(time.UnixMilli(e.Timestamp).UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	fields["@owner"] = jsonString(p.Owner)
	fields["@log_group"] = jsonString(p.LogGroup)
	fields["@log_stream"] = jsonString(p.LogStream)
	b, err := json.Marshal(fields)
	if err != nil {
		// Every value is a JSON value Unmarshal checked, or a string.
		panic(err)
	}
	return b
}

// jsonString is s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// itemError is what a bulk item's failure says: its status and error.
type itemError struct {
	Status       int
	Type, Reason string
}

func (e itemError) Error() string {
	msg := strconv.Itoa(e.Status) + " " + e.Type
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// refusedForGood reports whether an item's status says the document
// itself is wrong (400 mapper_parsing_exception, say), so that sending it
// again cannot help: a 4xx other than 401, 403, 404, 408 and 429. Those
// say that the cluster or its access is not ready (credentials, a
// read-only block on a full disk, a missing index that may not be
// created, throttling), which affects every document alike: they wait.
func refusedForGood(status int) bool {
	switch status {
	case 401, 403, 404, 408, 429:
		return false
	}
	return status >= 400 && status < 500
}
