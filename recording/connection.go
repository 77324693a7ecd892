package recording

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// A port session forwards TCP connections and records none of their
// bytes: its recording is the list of connections. The server journals
// a KindConnection record as each connection opens and another as it
// closes (or one only, for a connection the node could not make), each
// holding a [Connection] as JSON. Transcripts, casts and streamed events
// are made from these records, so all of them say the same.

// Connection events, the Event of a [Connection].
const (
	ConnectionOpened = "ConnectionOpened"
	ConnectionClosed = "ConnectionClosed"
)

// Bounds of a Connection's fields, so a record stays small whatever an
// error message or an address says.
const (
	maxConnAddr   = 256  // a client address (host:port) or a target host (DNS allows 253)
	maxConnReason = 64   // a close reason: a short code
	maxConnDetail = 1024 // an explanation, such as the node's error
)

// Connection is one forwarded TCP connection of a port session, as one of
// its KindConnection records says at a point of its life: when it opened
// (Event ConnectionOpened: End, the byte counts and CloseReason are
// empty) or when it closed (ConnectionClosed: everything).
type Connection struct {
	// ID numbers the session's connections from 1, in the order they
	// were asked for.
	ID    int    `json:"id"`
	Event string `json:"event"`
	// Client is the address the connection came from, as the server saw
	// it: the user's `postern forward` or `postern proxy`.
	Client string `json:"clientAddress"`
	// Host and Port are the target as the node reaches it; Host is
	// "localhost" for the node itself.
	Host  string    `json:"targetHost"`
	Port  int       `json:"targetPort"`
	Start time.Time `json:"startTime"`
	End   time.Time `json:"endTime,omitzero"`
	// BytesFromClient went from the client to the target,
	// BytesFromTarget the other way. BytesUnknown is set when the
	// connection ended without the server counting them (it stopped
	// while the connection was open).
	BytesFromClient int64 `json:"bytesFromClient,omitempty"`
	BytesFromTarget int64 `json:"bytesFromTarget,omitempty"`
	BytesUnknown    bool  `json:"bytesUnknown,omitempty"`
	// CloseReason says why it closed: a code such as ClientClosed,
	// TargetClosed or ConnectFailed. Detail explains, when there is more
	// to say (the node's error, the session's end reason).
	CloseReason string `json:"closeReason,omitempty"`
	Detail      string `json:"detail,omitempty"`
}

// EncodeConnection returns c as a KindConnection record's data. Fields
// over their bounds are cut (at character boundaries), never refused: the
// record of a connection must not be lost to an overlong error message.
func EncodeConnection(c Connection) ([]byte, error) {
	c.Client = clip(c.Client, maxConnAddr)
	c.Host = clip(c.Host, maxConnAddr)
	c.CloseReason = clip(c.CloseReason, maxConnReason)
	c.Detail = clip(c.Detail, maxConnDetail)
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("recording: connection record: %w", err)
	}
	return json.Marshal(c)
}

// ParseConnection decodes a KindConnection record's data. Anything that
// is not a connection as EncodeConnection writes it is an error.
func ParseConnection(data []byte) (Connection, error) {
	var c Connection
	if len(data) > maxConnRecord {
		return c, fmt.Errorf("recording: connection record of %d bytes exceeds %d", len(data), maxConnRecord)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return Connection{}, fmt.Errorf("recording: connection record: %w", err)
	}
	if len(c.Client) > maxConnAddr || len(c.Host) > maxConnAddr || len(c.CloseReason) > maxConnReason || len(c.Detail) > maxConnDetail {
		return Connection{}, errors.New("recording: connection record: a field exceeds its bound")
	}
	if err := c.check(); err != nil {
		return Connection{}, fmt.Errorf("recording: connection record: %w", err)
	}
	return c, nil
}

// maxConnRecord bounds a record's JSON: the fields' bounds, escaped, and
// room for the rest.
const maxConnRecord = 6*(2*maxConnAddr+maxConnReason+maxConnDetail) + 1024

func (c Connection) check() error {
	switch {
	case c.ID < 1:
		return fmt.Errorf("connection id %d: ids start at 1", c.ID)
	case c.Event != ConnectionOpened && c.Event != ConnectionClosed:
		return fmt.Errorf("event %q: must be %s or %s", c.Event, ConnectionOpened, ConnectionClosed)
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("target port %d: must be 1–65535", c.Port)
	case c.BytesFromClient < 0 || c.BytesFromTarget < 0:
		return errors.New("negative byte count")
	case c.Start.IsZero():
		return errors.New("no start time")
	case c.Event == ConnectionOpened && (!c.End.IsZero() || c.CloseReason != "" || c.BytesFromClient != 0 || c.BytesFromTarget != 0 || c.BytesUnknown):
		return errors.New("an opened connection has no end, close reason or byte counts yet")
	case c.Event == ConnectionClosed && (c.End.IsZero() || c.CloseReason == ""):
		return errors.New("a closed connection needs its end time and close reason")
	case c.Event == ConnectionClosed && c.End.Before(c.Start):
		return errors.New("a connection closed before it started")
	}
	for _, s := range []string{c.Client, c.Host, c.CloseReason, c.Detail} {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%q is not valid UTF-8", s)
		}
	}
	return nil
}

// Text is the connection's line in transcripts and the .cast's markers.
func (c Connection) Text() string {
	target := fmt.Sprintf("%s:%d", c.Host, c.Port)
	if strings.Contains(c.Host, ":") {
		target = fmt.Sprintf("[%s]:%d", c.Host, c.Port)
	}
	head := fmt.Sprintf("connection %d from %s to %s", c.ID, c.Client, target)
	if c.Event == ConnectionOpened {
		return head + " opened"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s closed (%s) after %v", head, c.CloseReason, c.End.Sub(c.Start).Round(time.Millisecond))
	if c.BytesUnknown {
		b.WriteString(": bytes not counted")
	} else {
		fmt.Fprintf(&b, ": %d bytes from the client, %d from the target", c.BytesFromClient, c.BytesFromTarget)
	}
	if c.Detail != "" {
		fmt.Fprintf(&b, "; %s", c.Detail)
	}
	return b.String()
}

// Connections folds a port session's connection records into one
// Connection per connection, in the order they opened: a closed record
// replaces the opened one with the same id; a connection still open (or
// left open when the recording stopped) keeps Event ConnectionOpened.
type Connections struct {
	list []Connection
	at   map[int]int // id -> index in list
}

// Add takes the next connection record.
func (cs *Connections) Add(c Connection) {
	if cs.at == nil {
		cs.at = map[int]int{}
	}
	if i, ok := cs.at[c.ID]; ok {
		if c.Event == ConnectionClosed {
			cs.list[i] = c
		}
		return
	}
	cs.at[c.ID] = len(cs.list)
	cs.list = append(cs.list, c)
}

// List returns the connections so far.
func (cs *Connections) List() []Connection { return cs.list }

// MaxID returns the highest connection id seen, 0 for none.
func (cs *Connections) MaxID() int {
	n := 0
	for _, c := range cs.list {
		n = max(n, c.ID)
	}
	return n
}

// clip cuts s to at most n bytes, not inside a character.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
