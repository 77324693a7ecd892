// Package wire is Postern's session protocol: the frames that agents, the
// server and clients exchange, and the multiplexed connection an agent keeps
// to the server.
//
// A frame is a 1-byte type, a 4-byte big-endian payload length and the
// payload. Payloads are capped at MaxPayload; a decoder that sees a larger
// length or an unknown type fails with an error that names the problem, and
// the caller closes only the offending stream or connection.
//
// The agent's output travels as numbered records (TRecord). The agent keeps
// every record until the server acknowledges (TAck) that it is durably
// recorded, and replays the unacknowledged ones after a reconnect, so a
// dropped connection or a crashed server loses nothing. Clients see output as
// a byte stream with offsets (TOutput) and resume from the last offset they
// printed.
//
// Each stream the server opens to an agent starts with a request (Open,
// Resume or Forward) carrying the server's signed grant for exactly that
// request on that node (grant.go); the agent acts on nothing unsigned.
//
// This package depends on nothing else of Postern: agent, server and client
// all build on it.
package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Type identifies a frame.
type Type uint8

// Frame types. Values are part of the protocol: never renumber.
const (
	// Control stream, agent <-> server.
	THello Type = 1 // agent -> server, JSON Hello
	TPing  Type = 2 // either way, opaque payload echoed in TPong
	TPong  Type = 3

	// Session stream, server <-> agent (the server opens one stream per
	// session attachment).
	TOpen       Type = 10 // server -> agent, JSON Open
	TResume     Type = 11 // server -> agent, JSON Resume
	TOpenResult Type = 12 // agent -> server, JSON OpenResult
	TRecord     Type = 13 // agent -> server, binary Record
	TAck        Type = 14 // server -> agent, 8-byte sequence number
	TInput      Type = 15 // client -> server -> agent, raw bytes typed
	TResize     Type = 16 // client -> server -> agent, 2+2 bytes cols, rows
	TTerminate  Type = 17 // server -> agent, JSON Terminate
	TForward    Type = 18 // server -> agent, JSON Forward; after an OK open-result the stream carries raw TCP bytes

	// Client <-> server session WebSocket (one frame per message).
	TOutput Type = 20 // server -> client, 8-byte offset then bytes
	TExit   Type = 21 // server -> client, JSON Exit; the session is over
	TNotice Type = 22 // server -> client, UTF-8 text for the user's terminal
	TError  Type = 23 // server -> client, UTF-8 text; the attachment is refused or broken

	// TInputEOF closes the command's standard input in a session without a
	// terminal (Open.Pipes): client -> server -> agent, empty payload. It
	// is idempotent, so a client resends it on every attachment after its
	// input ended.
	TInputEOF Type = 24
)

var typeNames = map[Type]string{
	THello: "hello", TPing: "ping", TPong: "pong",
	TOpen: "open", TResume: "resume", TOpenResult: "open-result", TRecord: "record",
	TAck: "ack", TInput: "input", TResize: "resize", TTerminate: "terminate", TForward: "forward",
	TOutput: "output", TExit: "exit", TNotice: "notice", TError: "error",
	TInputEOF: "input-eof",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Known reports whether t is a frame type of this protocol version.
func (t Type) Known() bool { _, ok := typeNames[t]; return ok }

const (
	// HeaderLen is the size of a frame header.
	HeaderLen = 5
	// MaxPayload is the hard limit on a frame's payload. It bounds what a
	// peer can make us allocate; writers split larger data.
	MaxPayload = 1 << 20
)

// Errors a decoder returns; wrapped with detail.
var (
	ErrTooLarge    = errors.New("frame too large")
	ErrUnknownType = errors.New("unknown frame type")
	ErrMalformed   = errors.New("malformed frame")
)

// Frame is one decoded frame. Payload may alias the reader's buffer until the
// next read.
type Frame struct {
	Type    Type
	Payload []byte
}

// AppendFrame appends the encoding of a frame to b.
func AppendFrame(b []byte, t Type, payload []byte) []byte {
	b = append(b, byte(t), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[len(b)-4:], uint32(len(payload)))
	return append(b, payload...)
}

// AppendFrameHeader appends the header of a frame whose payload the caller
// appends next, so the payload is written once, in place; SetFrameLen then
// fills in the length.
func AppendFrameHeader(b []byte, t Type) []byte {
	return append(b, byte(t), 0, 0, 0, 0)
}

// SetFrameLen sets the payload length in the header at frame[0] to cover
// the rest of frame.
func SetFrameLen(frame []byte) {
	binary.BigEndian.PutUint32(frame[1:HeaderLen], uint32(len(frame)-HeaderLen))
}

// ParseHeader validates a frame header and returns the type and payload
// length.
func ParseHeader(h [HeaderLen]byte) (Type, int, error) {
	t := Type(h[0])
	n := binary.BigEndian.Uint32(h[1:])
	if !t.Known() {
		return 0, 0, fmt.Errorf("wire: %w %d", ErrUnknownType, h[0])
	}
	if n > MaxPayload {
		return 0, 0, fmt.Errorf("wire: %w: %s frame of %d bytes exceeds the %d-byte limit", ErrTooLarge, t, n, MaxPayload)
	}
	return t, int(n), nil
}

// DecodeFrame decodes a message that holds exactly one frame, as on the
// client WebSocket.
func DecodeFrame(msg []byte) (Frame, error) {
	if len(msg) < HeaderLen {
		return Frame{}, fmt.Errorf("wire: %w: %d bytes is shorter than a header", ErrMalformed, len(msg))
	}
	t, n, err := ParseHeader([HeaderLen]byte(msg[:HeaderLen]))
	if err != nil {
		return Frame{}, err
	}
	if len(msg)-HeaderLen != n {
		return Frame{}, fmt.Errorf("wire: %w: %s header says %d payload bytes, message has %d", ErrMalformed, t, n, len(msg)-HeaderLen)
	}
	return Frame{Type: t, Payload: msg[HeaderLen:]}, nil
}

// ReadMessage reads and decodes a message that holds exactly one frame, as
// on the client WebSocket, from r (the message's reader, which ends at the
// message's end) into buf's storage, growing it as needed: unlike reading
// the whole message and then decoding it, the header sizes the buffer, so
// a reader that reuses buf copies each byte once and allocates nothing
// once buf has grown to the largest message. It returns the frame, whose
// payload aliases the returned buffer, and that buffer to pass to the next
// call. A message longer than its header says is ErrMalformed; one that
// ends before its header does, or before a header, is
// io.ErrUnexpectedEOF: no peer sends one, but a WebSocket library may
// report a connection that ends in the middle of a message as the end of
// the message, and a broken connection is to be retried, not given up on.
func ReadMessage(r io.Reader, buf []byte) (Frame, []byte, error) {
	buf = buf[:0]
	if cap(buf) < HeaderLen+1 {
		buf = make([]byte, 0, 512)
	}
	buf = buf[:HeaderLen]
	if n, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return Frame{}, buf, fmt.Errorf("wire: a message of %d bytes ends before its header: %w", n, io.ErrUnexpectedEOF)
		}
		return Frame{}, buf, err
	}
	t, n, err := ParseHeader([HeaderLen]byte(buf))
	if err != nil {
		return Frame{}, buf, err
	}
	// One byte to spare: the check for the message's end reads into it.
	if cap(buf) < HeaderLen+n+1 {
		nb := make([]byte, HeaderLen+n, HeaderLen+n+1)
		copy(nb, buf)
		buf = nb
	}
	buf = buf[:HeaderLen+n]
	if got, err := io.ReadFull(r, buf[HeaderLen:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return Frame{}, buf, fmt.Errorf("wire: a %s message ends after %d of the %d payload bytes its header says: %w", t, got, n, io.ErrUnexpectedEOF)
		}
		return Frame{}, buf, err
	}
	// The message must end here: a frame's length and its message's agree.
	extra := buf[len(buf) : len(buf)+1]
	for range 100 { // as io.ReadFull gives up on a reader that brings nothing
		m, err := r.Read(extra)
		if m > 0 {
			return Frame{}, buf, fmt.Errorf("wire: %w: %s message is longer than its header's %d payload bytes", ErrMalformed, t, n)
		}
		if err == io.EOF {
			return Frame{Type: t, Payload: buf[HeaderLen:]}, buf, nil
		}
		if err != nil {
			return Frame{}, buf, err
		}
	}
	return Frame{}, buf, io.ErrNoProgress
}

// Reader reads frames from a byte stream.
type Reader struct {
	r   io.Reader
	hdr [HeaderLen]byte
	buf []byte
}

// NewReader returns a Reader reading from r. Wrap r in a bufio.Reader if it
// is unbuffered and frames are small.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Read reads the next frame. The payload is valid until the next call. At a
// clean end of stream between frames it returns io.EOF; a stream that ends
// inside a frame is io.ErrUnexpectedEOF.
func (r *Reader) Read() (Frame, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return Frame{}, err
	}
	t, n, err := ParseHeader(r.hdr)
	if err != nil {
		return Frame{}, err
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	p := r.buf[:n]
	if _, err := io.ReadFull(r.r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("wire: reading %s payload: %w", t, err)
	}
	return Frame{Type: t, Payload: p}, nil
}

// Writer writes whole frames to a byte stream. It is safe for concurrent use:
// frames from different goroutines never interleave.
type Writer struct {
	mu  sync.Mutex // guards w and buf, and serializes frames
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes one frame with a single Write call on the underlying writer.
func (w *Writer) Write(t Type, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("wire: %w: %s frame of %d bytes", ErrTooLarge, t, len(payload))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = AppendFrame(w.buf[:0], t, payload)
	_, err := w.w.Write(w.buf)
	if cap(w.buf) > 4*MaxPayload/2 {
		w.buf = nil // do not pin a rare large buffer
	}
	return err
}

// WriteJSON writes a frame whose payload is v as JSON.
func (w *Writer) WriteJSON(t Type, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("wire: encoding %s: %w", t, err)
	}
	return w.Write(t, b)
}

// DecodeJSON decodes a JSON payload into v, rejecting unknown fields is left
// to newer peers: fields this version does not know are ignored so agents and
// servers of adjacent versions interoperate.
func DecodeJSON(f Frame, v any) error {
	if err := json.Unmarshal(f.Payload, v); err != nil {
		return fmt.Errorf("wire: %w: decoding %s: %v", ErrMalformed, f.Type, err)
	}
	return nil
}
