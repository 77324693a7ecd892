// Package guac reads and writes the Guacamole protocol's instructions, the
// text protocol that carries a remote desktop between Postern's desktop
// program (postern-desktop), the server, the browser's guacamole-common-js
// client and a desktop connection's recording (a .guac file is the same
// instructions, as the browser received them).
//
// An instruction is a list of elements, each LENGTH.VALUE, separated by
// commas and ended by a semicolon; the first element is the opcode:
//
//	4.size,1.0,4.1024,3.768;
//
// LENGTH counts Unicode code points, not bytes (the protocol is defined on
// characters). Nothing here trusts a peer: a Reader refuses an instruction
// longer than its limit before buffering it, and says exactly what was
// wrong with malformed input, so a bad peer costs one connection and a
// bounded amount of memory.
package guac

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// MaxInstruction is the default bound on one encoded instruction, in bytes.
// guacd's own limit is 8192 characters and image data travels in blob
// instructions of at most BlobChunk base64 characters, so honest peers stay
// far below it.
const MaxInstruction = 64 << 10

// BlobChunk is how many base64 characters one blob instruction carries at
// most (guacd's GUAC_PROTOCOL_BLOB_MAX_LENGTH), so that streamed images
// interleave with other instructions and no instruction is large.
const BlobChunk = 6048

// maxElements bounds how many elements an instruction may have; the
// protocol's widest instruction (transfer, with its arguments) has 9.
const maxElements = 64

// Instruction is one decoded instruction.
type Instruction struct {
	Opcode string
	Args   []string
}

// String is the instruction's encoding.
func (in Instruction) String() string { return string(in.AppendTo(nil)) }

// AppendTo appends the instruction's encoding to b.
func (in Instruction) AppendTo(b []byte) []byte {
	return Append(b, in.Opcode, in.Args...)
}

// Append appends the encoding of opcode with args to b.
func Append(b []byte, opcode string, args ...string) []byte {
	b = appendElement(b, opcode)
	for _, a := range args {
		b = append(b, ',')
		b = appendElement(b, a)
	}
	return append(b, ';')
}

// Encode returns the encoding of opcode with args.
func Encode(opcode string, args ...string) []byte { return Append(nil, opcode, args...) }

func appendElement(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(utf8.RuneCountInString(s)), 10)
	b = append(b, '.')
	return append(b, s...)
}

// SyntaxError says why input is not a Guacamole instruction, and where.
type SyntaxError struct {
	Offset int64 // bytes read before the instruction that failed
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("guacamole protocol: instruction at byte %d: %s", e.Offset, e.Msg)
}

// ErrTooLong is wrapped by the error a Reader returns for an instruction
// longer than its limit.
var ErrTooLong = errors.New("instruction too long")

// Reader decodes instructions from a stream.
type Reader struct {
	r      *bufio.Reader
	max    int
	offset int64  // bytes consumed before the current instruction
	raw    []byte // the current instruction's encoding, reused
}

// NewReader reads instructions from r, refusing any longer than max bytes
// (MaxInstruction when max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = MaxInstruction
	}
	return &Reader{r: bufio.NewReaderSize(r, 16<<10), max: max}
}

// Next returns the next instruction and its encoding exactly as read (valid
// until the next call). At the end of the stream between instructions it
// returns io.EOF; in the middle of one, io.ErrUnexpectedEOF.
func (d *Reader) Next() (Instruction, []byte, error) {
	d.offset += int64(len(d.raw))
	d.raw = d.raw[:0]
	var in Instruction
	for n := 0; ; n++ {
		if n == maxElements {
			return in, nil, d.errorf("more than %d elements", maxElements)
		}
		s, end, err := d.element(n == 0)
		if err != nil {
			return in, nil, err
		}
		if n == 0 {
			in.Opcode = s
		} else {
			in.Args = append(in.Args, s)
		}
		if end {
			return in, d.raw, nil
		}
	}
}

// element reads one LENGTH.VALUE and its terminator.
func (d *Reader) element(first bool) (s string, end bool, err error) {
	length := 0
	digits := 0
	for {
		c, err := d.byte()
		if err != nil {
			if err == io.EOF && first && digits == 0 {
				return "", false, io.EOF
			}
			return "", false, d.eof(err)
		}
		if c == '.' {
			break
		}
		if c < '0' || c > '9' {
			return "", false, d.errorf("length contains %q, not a digit", c)
		}
		if digits > 0 && length == 0 {
			return "", false, d.errorf("length has a leading zero")
		}
		digits++
		length = length*10 + int(c-'0')
		if length > d.max || digits > 10 {
			return "", false, d.tooLong()
		}
	}
	if digits == 0 {
		return "", false, d.errorf("element has no length")
	}
	start := len(d.raw)
	for n := 0; n < length; n++ {
		r, size, err := d.r.ReadRune()
		if err != nil {
			return "", false, d.eof(err)
		}
		if r == utf8.RuneError && size == 1 {
			return "", false, d.errorf("value is not valid UTF-8")
		}
		d.raw = utf8.AppendRune(d.raw, r)
		if len(d.raw) > d.max {
			return "", false, d.tooLong()
		}
	}
	s = string(d.raw[start:])
	c, err := d.byte()
	if err != nil {
		return "", false, d.eof(err)
	}
	switch c {
	case ',':
		return s, false, nil
	case ';':
		return s, true, nil
	}
	return "", false, d.errorf("element of length %d is followed by %q, not ',' or ';'", length, c)
}

func (d *Reader) byte() (byte, error) {
	c, err := d.r.ReadByte()
	if err != nil {
		return 0, err
	}
	if len(d.raw) >= d.max {
		return 0, d.tooLong()
	}
	d.raw = append(d.raw, c)
	return c, nil
}

func (d *Reader) eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (d *Reader) tooLong() error {
	return &SyntaxError{Offset: d.offset, Msg: fmt.Sprintf("%v: longer than %d bytes", ErrTooLong, d.max)}
}

func (d *Reader) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: d.offset, Msg: fmt.Sprintf(format, args...)}
}

// Unwrap lets errors.Is(err, ErrTooLong) see through a SyntaxError built by
// tooLong.
func (e *SyntaxError) Unwrap() error {
	if len(e.Msg) >= len(ErrTooLong.Error()) && e.Msg[:len(ErrTooLong.Error())] == ErrTooLong.Error() {
		return ErrTooLong
	}
	return nil
}
