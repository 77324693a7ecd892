// Package ssmchannel speaks the data channel of AWS Session Manager: the
// WebSocket protocol between AWS's session-manager-plugin (the program
// `aws ssm start-session` runs) and the service, so that the plugin, and
// every tool built on it, is a client of Postern.
//
// The channel carries binary messages in both directions (message.go),
// each sequenced stream message acknowledged by the other side and sent
// again until it is (conn.go). This file is the message format, read from
// the plugin's own source (src/message: clientmessage.go,
// messageparser.go) and checked against the plugin itself in this
// package's tests:
//
//	offset  length  field
//	0       4       header length: 116, the bytes before the payload length
//	4       32      message type, ASCII, padded with spaces
//	36      4       schema version: 1
//	40      8       created date, unix milliseconds
//	48      8       sequence number (stream messages; 0 otherwise)
//	56      8       flags (bit 0 SYN, bit 1 FIN; nobody acts on them)
//	64      16      message id: a UUID with its two 8-byte halves swapped
//	80      32      SHA-256 of the payload
//	112     4       payload type
//	116     4       payload length
//	120     n       payload, to the end of the frame
//
// Every integer is big-endian. One WebSocket binary frame holds one
// message; the plugin takes the payload as everything after the length
// field, so a frame must end where its payload does.
package ssmchannel

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Message types.
const (
	InputStreamData  = "input_stream_data"  // plugin → server: keys, terminal size, handshake response, flags
	OutputStreamData = "output_stream_data" // server → plugin: output, handshake request and completion
	Acknowledge      = "acknowledge"
	ChannelClosed    = "channel_closed"
	StartPublication = "start_publication"
	PausePublication = "pause_publication"
)

// PayloadType says what a stream message's payload is.
type PayloadType uint32

// Payload types, as the plugin numbers them.
const (
	PayloadOutput               PayloadType = 1
	PayloadError                PayloadType = 2
	PayloadSize                 PayloadType = 3 // {"cols":N,"rows":M}
	PayloadParameter            PayloadType = 4
	PayloadHandshakeRequest     PayloadType = 5
	PayloadHandshakeResponse    PayloadType = 6
	PayloadHandshakeComplete    PayloadType = 7
	PayloadEncChallengeRequest  PayloadType = 8
	PayloadEncChallengeResponse PayloadType = 9
	PayloadFlag                 PayloadType = 10 // a 4-byte big-endian Flag
	PayloadStdErr               PayloadType = 11
	PayloadExitCode             PayloadType = 12
)

// Flag is a port session's signal, the payload of a PayloadFlag message.
type Flag uint32

// Flags.
const (
	FlagDisconnectToPort   Flag = 1 // the local connection ended
	FlagTerminateSession   Flag = 2 // the user asked to end the session
	FlagConnectToPortError Flag = 3 // the node could not reach the port
)

// Layout of the header (see the package comment).
const (
	headerLength     = 116
	typeOffset       = 4
	typeLength       = 32
	schemaOffset     = 36
	createdOffset    = 40
	seqOffset        = 48
	flagsOffset      = 56
	idOffset         = 64
	digestOffset     = 80
	payloadTypeOff   = 112
	payloadLengthOff = 116
	payloadOffset    = 120
)

// MaxPayload bounds the payload of a message this package reads: the
// plugin sends at most 1 KiB of input a message, and handshake replies of
// a few hundred bytes.
const MaxPayload = 64 << 10

// Message is one message of the channel.
type Message struct {
	Type          string
	SchemaVersion uint32
	Created       time.Time // millisecond precision on the wire
	Seq           int64
	Flags         uint64
	ID            [16]byte // the UUID's canonical bytes
	PayloadType   PayloadType
	Payload       []byte
}

// Marshal encodes m as one frame.
func (m Message) Marshal() []byte {
	b := make([]byte, payloadOffset+len(m.Payload))
	binary.BigEndian.PutUint32(b, headerLength)
	t := b[typeOffset : typeOffset+typeLength]
	for i := range t {
		t[i] = ' '
	}
	copy(t, m.Type)
	binary.BigEndian.PutUint32(b[schemaOffset:], m.SchemaVersion)
	binary.BigEndian.PutUint64(b[createdOffset:], uint64(m.Created.UnixMilli()))
	binary.BigEndian.PutUint64(b[seqOffset:], uint64(m.Seq))
	binary.BigEndian.PutUint64(b[flagsOffset:], m.Flags)
	copy(b[idOffset:idOffset+8], m.ID[8:])
	copy(b[idOffset+8:idOffset+16], m.ID[:8])
	sum := sha256.Sum256(m.Payload)
	copy(b[digestOffset:], sum[:])
	binary.BigEndian.PutUint32(b[payloadTypeOff:], uint32(m.PayloadType))
	binary.BigEndian.PutUint32(b[payloadLengthOff:], uint32(len(m.Payload)))
	copy(b[payloadOffset:], m.Payload)
	return b
}

// ErrMalformed is the error of every frame Unmarshal refuses.
var ErrMalformed = errors.New("malformed data channel message")

// Unmarshal decodes a frame. It refuses, with ErrMalformed and what is
// wrong, a frame shorter than a header, a header length other than 116, a
// payload length that does not match the frame, a payload larger than
// MaxPayload, a message type that is not printable ASCII, and a payload
// whose digest is not its SHA-256. The payload is b's.
func Unmarshal(b []byte) (Message, error) {
	if len(b) < payloadOffset {
		return Message{}, fmt.Errorf("%w: %d bytes, shorter than a header (%d)", ErrMalformed, len(b), payloadOffset)
	}
	if hl := binary.BigEndian.Uint32(b); hl != headerLength {
		return Message{}, fmt.Errorf("%w: header length %d, want %d", ErrMalformed, hl, headerLength)
	}
	n := binary.BigEndian.Uint32(b[payloadLengthOff:])
	if int64(n) != int64(len(b)-payloadOffset) {
		return Message{}, fmt.Errorf("%w: payload length %d, but %d bytes follow the header", ErrMalformed, n, len(b)-payloadOffset)
	}
	if n > MaxPayload {
		return Message{}, fmt.Errorf("%w: payload of %d bytes, more than %d", ErrMalformed, n, MaxPayload)
	}
	typ := strings.TrimSpace(string(bytes.Trim(b[typeOffset:typeOffset+typeLength], "\x00")))
	for i := 0; i < len(typ); i++ {
		if typ[i] < 0x21 || typ[i] > 0x7e {
			return Message{}, fmt.Errorf("%w: message type %q is not printable ASCII", ErrMalformed, typ)
		}
	}
	m := Message{
		Type:          typ,
		SchemaVersion: binary.BigEndian.Uint32(b[schemaOffset:]),
		Created:       time.UnixMilli(int64(binary.BigEndian.Uint64(b[createdOffset:]))).UTC(),
		Seq:           int64(binary.BigEndian.Uint64(b[seqOffset:])),
		Flags:         binary.BigEndian.Uint64(b[flagsOffset:]),
		PayloadType:   PayloadType(binary.BigEndian.Uint32(b[payloadTypeOff:])),
		Payload:       b[payloadOffset:],
	}
	copy(m.ID[8:], b[idOffset:idOffset+8])
	copy(m.ID[:8], b[idOffset+8:idOffset+16])
	if sum := sha256.Sum256(m.Payload); !bytes.Equal(sum[:], b[digestOffset:digestOffset+32]) {
		// The plugin checks only non-empty payloads' digests, but
		// writes the empty payload's correctly too: so must a peer.
		return Message{}, fmt.Errorf("%w: payload digest does not match its SHA-256", ErrMalformed)
	}
	return m, nil
}

// UUID formats id as the plugin does: lowercase, hyphenated.
func UUID(id [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])
}

// Ack is an acknowledge message's payload.
type Ack struct {
	Type       string `json:"AcknowledgedMessageType"`
	ID         string `json:"AcknowledgedMessageId"`
	Seq        int64  `json:"AcknowledgedMessageSequenceNumber"`
	Sequential bool   `json:"IsSequentialMessage"`
}

// OpenDataChannel is the plugin's first frame, a text frame: who it is,
// and the token StartSession gave it.
type OpenDataChannel struct {
	MessageSchemaVersion string
	RequestID            string `json:"RequestId"`
	TokenValue           string
	ClientID             string `json:"ClientId"`
	ClientVersion        string
}

// HandshakeRequest is the server's first stream message.
type HandshakeRequest struct {
	AgentVersion           string
	RequestedClientActions []RequestedAction
}

// RequestedAction asks the plugin to act: "SessionType" (with a
// SessionTypeRequest) or "KMSEncryption".
type RequestedAction struct {
	ActionType       string
	ActionParameters any
}

// SessionTypeRequest names the session: "Standard_Stream" (a shell or
// command) or "Port", with the document's properties (strings).
type SessionTypeRequest struct {
	SessionType string
	Properties  any
}

// HandshakeResponse is the plugin's answer.
type HandshakeResponse struct {
	ClientVersion          string
	ProcessedClientActions []ProcessedAction
	Errors                 []string
}

// ProcessedAction is what the plugin did with a RequestedAction:
// ActionStatus 1 success, 2 failed, 3 unsupported.
type ProcessedAction struct {
	ActionType   string
	ActionStatus int
	ActionResult any
	Error        string
}

// HandshakeComplete ends the handshake; CustomerMessage, if any, is
// printed by the plugin.
type HandshakeComplete struct {
	HandshakeTimeToComplete time.Duration // nanoseconds, as Go marshals it
	CustomerMessage         string
}

// ChannelClosedPayload ends the session: the plugin prints Output (or a
// line of its own when empty) and exits.
type ChannelClosedPayload struct {
	MessageID     string `json:"MessageId"`
	CreatedDate   string
	DestinationID string `json:"DestinationId"`
	SessionID     string `json:"SessionId"`
	MessageType   string
	SchemaVersion int
	Output        string
}

// SizeData is a PayloadSize message's payload: the terminal's size.
type SizeData struct {
	Cols uint32 `json:"cols"`
	Rows uint32 `json:"rows"`
}
