// Package events is what happens in Postern, told as Amazon EventBridge
// events: sessions changing state, commands run in them, nodes coming and
// going, keys changing state, and every call in the audit trail, each in
// EventBridge's envelope (version, id, detail-type, source, account, time,
// region, resources, detail), so that event patterns and tools written
// for EventBridge read them as they are.
//
// Each account's events are appended to its built-in log group
// /postern/events, one log stream per source: durable, ordered, kept for
// the group's retention, readable with `postern logs tail`, and read from
// there by event rules (package subscriptions), each from a cursor of its
// own, as subscription filters read groups.
package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/postern/postern/logger"
	"github.com/postern/postern/logstore"
)

// LogGroup is where each account's events go.
const LogGroup = "/postern/events"

// Sources and detail types.
const (
	SourceSessions = "postern.sessions"
	SourceNodes    = "postern.nodes"
	SourceKeys     = "postern.kms"
	SourceAudit    = "postern.audit"

	SessionStateChange = "Session State Change"
	SessionCommand     = "Session Command"
	NodeStateChange    = "Node State Change"
	KeyStateChange     = "KMS Key State Change"
	APICall            = "Postern API Call via Audit Trail"
)

// Event is an event in EventBridge's envelope.
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"` // RFC 3339, seconds, UTC
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// Store is where events are kept: the log store's groups.
type Store interface {
	Group(ctx context.Context, account, name string) (logstore.Group, error)
	CreateGroup(ctx context.Context, g logstore.Group) error
	PutEvents(ctx context.Context, account, group, stream string, events []logstore.Event) error
}

// Bus appends events to their accounts' event groups.
type Bus struct {
	Store  Store
	Now    func() time.Time
	Logf   logger.Logf
	Region string
	// Put is told once an event is kept (to wake the rules); nil: nobody.
	Put func()
}

// newID is an event's id, as EventBridge's: a random UUID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Emit appends an event of account. It never fails its caller: what
// happened has happened; an event that cannot be kept is logged.
func (b *Bus) Emit(ctx context.Context, account, source, detailType string, resources []string, detail any) {
	if b == nil || b.Store == nil || account == "" {
		return
	}
	d, err := json.Marshal(detail)
	if err != nil {
		b.Logf("events: %s %s: %v", source, detailType, err)
		return
	}
	if resources == nil {
		resources = []string{}
	}
	now := b.Now()
	ev := Event{Version: "0", ID: newID(), DetailType: detailType, Source: source, Account: account,
		Time: now.UTC().Format(time.RFC3339), Region: b.Region, Resources: resources, Detail: d}
	msg, err := json.Marshal(ev)
	if err != nil {
		b.Logf("events: %s %s: %v", source, detailType, err)
		return
	}
	if err := b.ensureGroup(ctx, account); err != nil {
		b.Logf("events: %s: %v", LogGroup, err)
		return
	}
	if err := b.Store.PutEvents(ctx, account, LogGroup, source, []logstore.Event{{Time: now, Message: string(msg)}}); err != nil {
		b.Logf("events: %s: %v", LogGroup, err)
		return
	}
	if b.Put != nil {
		b.Put()
	}
}

// ensureGroup makes the account's event group on its first event, kept
// 30 days unless its administrators say otherwise.
func (b *Bus) ensureGroup(ctx context.Context, account string) error {
	_, err := b.Store.Group(ctx, account, LogGroup)
	if !errors.Is(err, logstore.ErrNotFound) {
		return err
	}
	err = b.Store.CreateGroup(ctx, logstore.Group{Account: account, Name: LogGroup, RetentionDays: 30, CreatedAt: b.Now()})
	if errors.Is(err, logstore.ErrExists) {
		return nil // made meanwhile
	}
	return err
}

// Target is the node a session runs on, in an event's detail.
type Target struct {
	ID   string            `json:"id"`
	Name string            `json:"name,omitempty"`
	Tags map[string]string `json:"tags,omitempty"`
}

// Identity is who acted, in an event's detail.
type Identity struct {
	ARN string `json:"arn"`
}

// Session states.
const (
	StateStarted      = "Started"
	StateConnected    = "Connected"
	StateDisconnected = "Disconnected"
	StateResumed      = "Resumed"
	StateTerminated   = "Terminated"
	StateFailed       = "Failed"
)

// SessionState is a Session State Change's detail. Reason says why a
// session ended: IdleTimeout, MaxSessionDuration, TerminatedByUser,
// ClientDisconnected, AgentDisconnected, ...
type SessionState struct {
	SessionID    string   `json:"sessionId"`
	State        string   `json:"state"`
	Reason       string   `json:"reason,omitempty"`
	UserIdentity Identity `json:"userIdentity"`
	Target       Target   `json:"target"`
	DocumentName string   `json:"documentName,omitempty"`
	RunAsUser    string   `json:"runAsUser,omitempty"`
	ExitCode     *int     `json:"exitCode,omitempty"`
}

// Node states.
const (
	NodeRegistered   = "Registered"
	NodeOnline       = "Online"
	NodeOffline      = "Offline"
	NodeDeregistered = "Deregistered"
)

// NodeState is a Node State Change's detail.
type NodeState struct {
	NodeID string            `json:"nodeId"`
	Name   string            `json:"name,omitempty"`
	State  string            `json:"state"`
	Tags   map[string]string `json:"tags,omitempty"`
}

// KeyState is a KMS Key State Change's detail: the key's state after an
// action on it (enable, disable, schedule-deletion, cancel-deletion,
// rotate).
type KeyState struct {
	KeyID        string     `json:"keyId"`
	KeyARN       string     `json:"keyArn"`
	KeyState     string     `json:"keyState"`
	Action       string     `json:"action"`
	DeletionDate *time.Time `json:"deletionDate,omitempty"`
	UserIdentity Identity   `json:"userIdentity"`
}
