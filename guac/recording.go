package guac

import (
	"errors"
	"fmt"
	"image"
	"io"
	"iter"
	"strconv"
	"time"
)

// A recording (.guac) is the instructions a viewer received, each frame
// ended by sync,TIMESTAMP (Unix milliseconds in Postern's recordings).

// Frame is the screen as one sync left it.
type Frame struct {
	// Time is the sync's timestamp, never earlier than the frame before's
	// (a clock stepping back does not make time run backwards).
	Time time.Time
	// Image is layer 0: the Screen's own image, valid only until the
	// iteration continues (copy it to keep it).
	Image *image.RGBA
	// Changed says whether Image may differ from the frame before's (the
	// first frame's is true); a false lets a consumer skip copying it.
	Changed bool
}

// RecordingError says where a recording could not be read: at which byte
// offset, in which instruction.
type RecordingError struct {
	Offset int64  // of the instruction, from the start of the recording
	Opcode string // empty when the instruction itself could not be read
	Err    error
}

func (e *RecordingError) Error() string {
	if e.Opcode == "" {
		return fmt.Sprintf("guacamole recording: at byte %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("guacamole recording: instruction at byte %d: %v", e.Offset, e.Err)
}

func (e *RecordingError) Unwrap() error { return e.Err }

// ErrTruncated is wrapped by the error for a recording that ends in the
// middle of an instruction.
var ErrTruncated = errors.New("the recording ends in the middle of an instruction (truncated?)")

// recordingReader reads a recording's instructions, keeping the byte offset
// of each for errors.
type recordingReader struct {
	r      *Reader
	offset int64 // of the instruction last returned
	next   int64 // of the one after it
}

func newRecordingReader(r io.Reader) *recordingReader {
	return &recordingReader{r: NewReader(r, 0)}
}

// read returns the next instruction, io.EOF at a clean end.
func (rr *recordingReader) read() (Instruction, error) {
	rr.offset = rr.next
	in, raw, err := rr.r.Next()
	if err != nil {
		if err == io.EOF {
			return in, io.EOF
		}
		var se *SyntaxError
		if errors.As(err, &se) {
			return in, &RecordingError{Offset: se.Offset, Err: errors.New(se.Msg)}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = ErrTruncated
		}
		return in, &RecordingError{Offset: rr.offset, Err: err}
	}
	rr.next += int64(len(raw))
	return in, nil
}

// syncTime parses a sync's timestamp, not earlier than prev.
func syncTime(in Instruction, prev int64) (int64, error) {
	if len(in.Args) < 1 {
		return 0, errors.New("needs 1 argument, has 0")
	}
	t, err := strconv.ParseInt(in.Args[0], 10, 64)
	if err != nil || t < 0 {
		return 0, fmt.Errorf("timestamp %.30q is not a non-negative integer", in.Args[0])
	}
	return max(t, prev), nil
}

// Frames reads a recording and yields the screen after each of its syncs,
// drawn by a Screen with lim's bounds. An error (a *RecordingError naming
// the offending instruction, or the reader's own) is yielded once, last,
// with a zero Frame; a recording that ends right after an instruction ends
// the iteration without one, even after an unfinished frame (its changes
// were never synced, so never shown).
func Frames(r io.Reader, lim Limits) iter.Seq2[Frame, error] {
	return func(yield func(Frame, error) bool) {
		rr := newRecordingReader(r)
		s := NewScreen(lim)
		var last int64
		first := true
		for {
			in, err := rr.read()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Frame{}, err)
				return
			}
			if err := s.Apply(in); err != nil {
				yield(Frame{}, &RecordingError{Offset: rr.offset, Opcode: in.Opcode, Err: err})
				return
			}
			if in.Opcode != "sync" {
				continue
			}
			last = max(last, s.Time())
			changed := s.changed || first
			s.changed, first = false, false
			if !yield(Frame{Time: time.UnixMilli(last), Image: s.Frame(), Changed: changed}, nil) {
				return
			}
		}
	}
}

// Summary describes a recording, for its metadata.
type Summary struct {
	// Width and Height are layer 0's size at the first frame that has one
	// (the size a video export has); 0 if no frame has.
	Width, Height int
	// Start and End are the first and last syncs' timestamps (zero if
	// there are none).
	Start, End time.Time
	// Frames counts the syncs.
	Frames int
}

// Duration is from the first frame to the last.
func (s Summary) Duration() time.Duration { return s.End.Sub(s.Start) }

// ReadSummary reads a whole recording and summarises it. It checks every
// instruction's syntax and the size and sync instructions, but decodes no
// image, so it is cheap; Frames finds what else may be wrong.
func ReadSummary(r io.Reader) (Summary, error) {
	rr := newRecordingReader(r)
	var sum Summary
	var w, h int
	var last int64
	for {
		in, err := rr.read()
		if err == io.EOF {
			return sum, nil
		}
		if err != nil {
			return sum, err
		}
		switch in.Opcode {
		case "size":
			v, err := args(in.Args, 3, 0, 1, 2)
			if err == nil && (v[1] < 0 || v[2] < 0) {
				err = fmt.Errorf("negative size %dx%d", v[1], v[2])
			}
			if err != nil {
				return sum, &RecordingError{Offset: rr.offset, Opcode: in.Opcode, Err: &InstructionError{Opcode: in.Opcode, Err: err}}
			}
			if v[0] == 0 {
				w, h = v[1], v[2]
			}
		case "sync":
			t, err := syncTime(in, last)
			if err != nil {
				return sum, &RecordingError{Offset: rr.offset, Opcode: in.Opcode, Err: &InstructionError{Opcode: in.Opcode, Err: err}}
			}
			last = t
			if sum.Frames == 0 {
				sum.Start = time.UnixMilli(t)
			}
			sum.End = time.UnixMilli(t)
			sum.Frames++
			if sum.Width == 0 && sum.Height == 0 && w > 0 && h > 0 {
				sum.Width, sum.Height = w, h
			}
		}
	}
}
