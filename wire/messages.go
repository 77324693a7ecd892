package wire

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"
)

// Hello is the first frame an agent sends on its control stream.
type Hello struct {
	NodeID       string `json:"nodeId"`
	AgentVersion string `json:"agentVersion"`
	Hostname     string `json:"hostname"`
	OS           string `json:"os"`
	Platform     string `json:"platform,omitempty"`
	IP           string `json:"ip,omitempty"`
	// Sessions the agent is still running, so a (restarted) server can
	// resume them.
	Sessions []LiveSession `json:"sessions,omitempty"`
	// TypedMarks says the agent marks typed lines (RecTyped) in sessions
	// whose Open asks for them.
	TypedMarks bool `json:"typedMarks,omitempty"`
}

// LiveSession is a session an agent holds.
type LiveSession struct {
	ID      string `json:"id"`
	LastSeq uint64 `json:"lastSeq"`
}

// Open asks the agent to start a session.
type Open struct {
	SessionID string            `json:"sessionId"`
	Owner     string            `json:"owner"`
	RunAs     string            `json:"runAs,omitempty"`   // OS user; empty: the agent's own user
	Command   []string          `json:"command,omitempty"` // empty: login shell
	Env       map[string]string `json:"env,omitempty"`
	Cols      int               `json:"cols"`
	Rows      int               `json:"rows"`

	// Limits from the session's preferences. The agent enforces them
	// itself, so a compromised or partitioned server cannot lift them.
	IdleTimeout      time.Duration `json:"idleTimeout,omitempty"`      // 0: none
	IdleCountsOutput bool          `json:"idleCountsOutput,omitempty"` // output also counts as activity
	MaxDuration      time.Duration `json:"maxDuration,omitempty"`      // 0: none
	AllowRoot        bool          `json:"allowRoot,omitempty"`        // RunAs may be root
	ShellProfile     string        `json:"shellProfile,omitempty"`     // typed into an interactive shell at start

	// Pipes runs Command without a terminal (NonInteractiveCommands):
	// standard input, output and error are separate pipes. Output is
	// recorded as RecOutput, standard error as RecStderr, and everything
	// written to standard input as RecInput; TInputEOF closes standard
	// input.
	Pipes bool `json:"pipes,omitempty"`

	// TypedMarks asks for RecTyped marks; a server sets it only for an
	// agent whose Hello says it makes them. Either side older than the
	// marks leaves it unset: such a server refuses the record kind, such
	// an agent could not check a grant that covered the field.
	TypedMarks bool `json:"typedMarks,omitempty"`

	// Grant is the server's signature over this request (see SignGrant);
	// the agent refuses an Open without a valid one.
	Grant []byte `json:"grant,omitempty"`
}

// Resume reattaches the server to a running session: the agent drops records
// up to AckedSeq and sends the rest.
type Resume struct {
	SessionID string `json:"sessionId"`
	AckedSeq  uint64 `json:"ackedSeq"`
	// Ended is set when the server has already ended the session (it
	// gave up waiting for the agent) and takes over what the agent still
	// holds: see Ended.
	Ended *Ended `json:"ended,omitempty"`
	// Grant is the server's signature over this request, fresh for each
	// resume; the agent refuses a Resume without a valid one.
	Grant []byte `json:"grant,omitempty"`
}

// Ended turns a Resume into the late hand-over of a session the server
// has already ended. The agent drops the records up to AckedSeq (the
// recording has them), puts a RecMarker record labelled Marker right after
// them, numbering the records it still holds on from there (once per
// session: a hand-over interrupted and taken up again adds no second
// marker), ends the command as a terminate with Reason would (hangup, then
// kill), sends everything after AckedSeq, and leaves the session once all
// of it, exit record included, is acknowledged.
type Ended struct {
	Reason string `json:"reason"`
	Marker string `json:"marker"`
}

// OpenResult answers Open and Resume.
type OpenResult struct {
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
	RunAsUser string `json:"runAsUser,omitempty"`
	Shell     string `json:"shell,omitempty"`
	// Unknown is set when a Resume names a session the agent does not
	// have (it restarted, or the session ended and was acknowledged).
	Unknown bool `json:"unknown,omitempty"`
	// Pipes confirms that the session runs without a terminal, as
	// Open.Pipes asked: an agent that predates it would run a terminal.
	Pipes bool `json:"pipes,omitempty"`
}

// Forward asks the agent to connect to a TCP port for one forwarded
// connection of a port session.
type Forward struct {
	SessionID string `json:"sessionId"`
	Host      string `json:"host"` // empty: localhost
	Port      int    `json:"port"`
	// AllowLinkLocal lets the connection reach link-local and cloud
	// metadata addresses, which the agent refuses otherwise.
	AllowLinkLocal bool `json:"allowLinkLocal,omitempty"`
	// Grant is the server's signature over this request, one per
	// connection; the agent refuses a Forward without a valid one.
	Grant []byte `json:"grant,omitempty"`
}

var (
	awsMetadataV6   = net.ParseIP("fd00:ec2::254")
	alibabaMetadata = net.ParseIP("100.100.100.200")
)

// ForbiddenTarget reports why a node must not connect to ip for a
// forwarded connection unless its document allows it, or "" if it may:
// link-local addresses, where clouds serve instance metadata and
// credentials (169.254.169.254, fd00:ec2::254), and other metadata
// endpoints.
func ForbiddenTarget(ip net.IP) string {
	switch {
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return "a link-local address"
	case ip.Equal(awsMetadataV6):
		return "the AWS instance metadata service"
	case ip.Equal(alibabaMetadata):
		return "the Alibaba Cloud instance metadata service"
	}
	return ""
}

// Terminate asks the agent to end a session.
type Terminate struct {
	Reason string `json:"reason"`
}

// Exit tells a client the session is over.
type Exit struct {
	Code   int    `json:"code"`
	Reason string `json:"reason,omitempty"`
	Status string `json:"status,omitempty"`
	// OutputEnd is the length of the session's output stream, so that a
	// client that was away when the session ended can tell whether it was
	// given all of it (zero from servers that do not say).
	OutputEnd uint64 `json:"outputEnd,omitempty"`
	// OutputError says why the output after the client's position could
	// not be sent (the recording was deleted, or is unreadable).
	OutputError string `json:"outputError,omitempty"`
}

// RecordKind says what a Record holds.
type RecordKind uint8

// Record kinds. Values are part of the protocol.
const (
	RecOutput RecordKind = 1 // terminal output; standard output without a terminal
	RecInput  RecordKind = 2 // input written while the terminal echoed; all of standard input without one
	RecResize RecordKind = 3 // Cols, Rows
	// RecMarker labels a point in the session (Data is the label). The
	// agent makes one only when a Resume says the session ended
	// (Resume.Ended): the label says that what follows arrived late.
	RecMarker RecordKind = 4
	RecExit   RecordKind = 5 // ExitCode; Data is the reason
	RecStderr RecordKind = 6 // standard error of a command run without a terminal
	RecTyped  RecordKind = 7 // where the user started a line and pressed Enter: marks only (LineMarks), never what was typed
)

// Marks in a RecTyped record's data, one byte each, in the order typed.
const (
	TypedLine  = 'L' // the first key of a line: after an Enter or Ctrl-C
	TypedEnter = 'E' // Enter: CR or LF
)

// LineMarks turns what a user types into a terminal into RecTyped marks:
// where a line starts and where Enter ends it, which is all the server
// needs to read the line the terminal shows (recording.CommandTracker).
// The zero value is ready; the first key starts a line.
type LineMarks struct {
	started bool // a key came since the last Enter or Ctrl-C
	cr      bool // the last byte was CR: an LF after it is the same Enter
}

// Append appends to dst the marks of input, typed after everything
// Append was given before, and returns dst.
func (m *LineMarks) Append(dst, input []byte) []byte {
	for _, b := range input {
		switch {
		case b == '\n' && m.cr:
		case b == '\r' || b == '\n':
			dst = append(dst, TypedEnter)
			m.started = false
		case b == 0x03: // Ctrl-C abandons the line
			m.started = false
		case !m.started:
			dst = append(dst, TypedLine)
			m.started = true
		}
		m.cr = b == '\r'
	}
	return dst
}

// Record is one numbered event of a session, produced by the agent.
type Record struct {
	Seq      uint64
	Time     time.Duration // since session start, microsecond resolution on the wire
	Kind     RecordKind
	Data     []byte
	Cols     int
	Rows     int
	ExitCode int
}

// recordHeaderLen is seq(8) + time(8) + kind(1).
const recordHeaderLen = 17

// MaxRecordData is the most data one record carries, so that a record always
// fits a frame.
const MaxRecordData = MaxPayload - recordHeaderLen - 8

// AppendRecord appends r's encoding, the payload of a TRecord frame.
func AppendRecord(b []byte, r Record) []byte {
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time/time.Microsecond))
	b = append(b, byte(r.Kind))
	switch r.Kind {
	case RecResize:
		b = binary.BigEndian.AppendUint16(b, uint16(r.Cols))
		b = binary.BigEndian.AppendUint16(b, uint16(r.Rows))
	case RecExit:
		b = binary.BigEndian.AppendUint32(b, uint32(int32(r.ExitCode)))
	}
	return append(b, r.Data...)
}

// ParseRecord decodes a TRecord payload. Data aliases p.
func ParseRecord(p []byte) (Record, error) {
	if len(p) < recordHeaderLen {
		return Record{}, fmt.Errorf("wire: %w: record of %d bytes is shorter than its header", ErrMalformed, len(p))
	}
	r := Record{
		Seq:  binary.BigEndian.Uint64(p),
		Time: time.Duration(binary.BigEndian.Uint64(p[8:])) * time.Microsecond,
		Kind: RecordKind(p[16]),
	}
	if r.Time < 0 {
		return Record{}, fmt.Errorf("wire: %w: record %d has a negative time", ErrMalformed, r.Seq)
	}
	if r.Seq == 0 {
		return Record{}, fmt.Errorf("wire: %w: record sequence numbers start at 1", ErrMalformed)
	}
	p = p[recordHeaderLen:]
	switch r.Kind {
	case RecOutput, RecInput, RecStderr, RecMarker:
	case RecTyped:
		// Marks only: anything else could be what was typed.
		for _, b := range p {
			if b != TypedLine && b != TypedEnter {
				return Record{}, fmt.Errorf("wire: %w: typed record %d holds %q, not only marks", ErrMalformed, r.Seq, b)
			}
		}
	case RecResize:
		if len(p) != 4 {
			return Record{}, fmt.Errorf("wire: %w: resize record %d has %d bytes, want 4", ErrMalformed, r.Seq, len(p))
		}
		r.Cols = int(binary.BigEndian.Uint16(p))
		r.Rows = int(binary.BigEndian.Uint16(p[2:]))
		p = nil
	case RecExit:
		if len(p) < 4 {
			return Record{}, fmt.Errorf("wire: %w: exit record %d is truncated", ErrMalformed, r.Seq)
		}
		r.ExitCode = int(int32(binary.BigEndian.Uint32(p)))
		p = p[4:]
	default:
		return Record{}, fmt.Errorf("wire: %w: record %d has unknown kind %d", ErrMalformed, r.Seq, r.Kind)
	}
	if len(p) > 0 {
		r.Data = p
	}
	return r, nil
}

// AppendSeq appends the payload of a TAck frame.
func AppendSeq(b []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(b, seq) }

// ParseSeq decodes a TAck payload.
func ParseSeq(p []byte) (uint64, error) {
	if len(p) != 8 {
		return 0, fmt.Errorf("wire: %w: ack of %d bytes, want 8", ErrMalformed, len(p))
	}
	return binary.BigEndian.Uint64(p), nil
}

// AppendResize appends the payload of a TResize frame.
func AppendResize(b []byte, cols, rows int) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(cols))
	return binary.BigEndian.AppendUint16(b, uint16(rows))
}

// ParseResize decodes a TResize payload. Zero sizes are malformed.
func ParseResize(p []byte) (cols, rows int, err error) {
	if len(p) != 4 {
		return 0, 0, fmt.Errorf("wire: %w: resize of %d bytes, want 4", ErrMalformed, len(p))
	}
	cols, rows = int(binary.BigEndian.Uint16(p)), int(binary.BigEndian.Uint16(p[2:]))
	if cols == 0 || rows == 0 {
		return 0, 0, fmt.Errorf("wire: %w: resize to %dx%d", ErrMalformed, cols, rows)
	}
	return cols, rows, nil
}

// AppendOutput appends the payload of a TOutput frame.
func AppendOutput(b []byte, offset uint64, data []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, offset)
	return append(b, data...)
}

// AppendOutputHeader appends a TOutput frame's header and offset; the
// caller appends the data and calls SetFrameLen.
func AppendOutputHeader(b []byte, offset uint64) []byte {
	return binary.BigEndian.AppendUint64(AppendFrameHeader(b, TOutput), offset)
}

// ParseOutput decodes a TOutput payload. Data aliases p.
func ParseOutput(p []byte) (offset uint64, data []byte, err error) {
	if len(p) < 8 {
		return 0, nil, fmt.Errorf("wire: %w: output of %d bytes is shorter than its offset", ErrMalformed, len(p))
	}
	return binary.BigEndian.Uint64(p), p[8:], nil
}
