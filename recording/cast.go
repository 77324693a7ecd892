package recording

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// asciicast v2: https://docs.asciinema.org/manual/asciicast/v2/
//
// A header line, a JSON object, then one event per line, each a JSON array
// [time, code, data] with time in seconds since the start.

// Event codes of asciicast v2.
const (
	EventOutput = "o"
	EventInput  = "i"
	EventResize = "r"
	EventMarker = "m"
)

// MaxCastLine is the longest line ReadCast and CastDecoder accept. A
// record is at most MaxFrame bytes, and JSON escaping can make it six
// times longer in the worst case; past that a line is not one of ours and
// buffering it is only a way to run out of memory.
const MaxCastLine = 8 << 20

// Header is the first line of an asciicast v2 file.
type Header struct {
	Version       int               `json:"version"`
	Width         int               `json:"width"`
	Height        int               `json:"height"`
	Timestamp     int64             `json:"timestamp,omitempty"` // Unix seconds
	IdleTimeLimit float64           `json:"idle_time_limit,omitempty"`
	Command       string            `json:"command,omitempty"`
	Title         string            `json:"title,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
}

// Event is one event line of an asciicast v2 file.
type Event struct {
	Time float64 // seconds since the start
	Type string  // EventOutput, EventInput, EventResize or EventMarker
	Data string
}

// CastWriter writes records as an asciicast v2 stream.
//
// Output and input are cut into records wherever the agent's reads
// returned, often inside a multi-byte character, while each event's data
// must be a whole JSON string. So the writer holds back an incomplete
// character at the end of a record and prepends it to the next record of
// the same kind; only bytes that no continuation could make valid become
// U+FFFD.
type CastWriter struct {
	w     io.Writer
	buf   []byte
	carry [3]carry      // output, input, stderr
	last  time.Duration // time of the last event written
	pipes bool          // Meta.Pipes: show "\n" as "\r\n"
	err   error
	// cmds removes the shell integration's OSC 133 marks from a
	// terminal's output and reports the commands they delimit, which
	// become markers (labelled with the command line) where they start;
	// nil without a terminal.
	cmds    *CommandTracker
	started []Command // commands started in the record being written
	clean   []byte
}

type carry struct {
	b    [utf8.UTFMax]byte
	n    int
	time time.Duration
}

// NewCastWriter writes the header for m to w and returns a writer for the
// session's records. A Meta without a size is written as 80x24, since
// players need one.
func NewCastWriter(w io.Writer, m Meta) (*CastWriter, error) {
	cols, rows := termSize(m.Width, m.Height)
	h := Header{
		Version: 2,
		Width:   cols,
		Height:  rows,
		Title:   m.Title,
		Env:     m.Env,
	}
	if !m.Start.IsZero() {
		h.Timestamp = m.Start.Unix()
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("recording: encode cast header: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("recording: write cast header: %w", err)
	}
	c := &CastWriter{w: w, pipes: m.Pipes}
	if !m.Pipes {
		c.cmds = NewCommandTracker(cols)
		c.cmds.OnStart = func(cmd Command) { c.started = append(c.started, cmd) }
	}
	return c, nil
}

// Write writes the event for r, if it has one: exit records have no
// asciicast event, and output or input that is only the start of a
// character waits for the rest.
func (c *CastWriter) Write(r Record) error {
	if c.err != nil {
		return c.err
	}
	b := c.buf[:0]
	switch r.Kind {
	case KindOutput, KindInput, KindStderr:
		// Standard error is what the user saw too, as output; it keeps
		// a carry of its own, since its records interleave with those of
		// standard output.
		cr := &c.carry[0]
		code := EventOutput
		switch r.Kind {
		case KindInput:
			cr, code = &c.carry[1], EventInput
		case KindStderr:
			cr = &c.carry[2]
		}
		data := r.Data
		if c.pipes && r.Kind != KindInput {
			data = appendCRLF(nil, data)
		}
		if c.cmds != nil && r.Kind == KindOutput {
			c.started = c.started[:0]
			c.clean, _ = c.cmds.Feed(c.clean[:0], r.Time, data)
			data = c.clean
			for _, cmd := range c.started {
				b = appendEvent(b, r.Time, EventMarker, []byte(cmd.Line))
			}
		}
		if cr.n > 0 {
			data = append(cr.b[:cr.n:cr.n], data...)
			cr.n = 0
		}
		if k := incompleteSuffix(data); k > 0 {
			cr.n = copy(cr.b[:], data[len(data)-k:])
			cr.time = r.Time
			data = data[:len(data)-k]
		}
		if len(data) == 0 {
			if len(b) == 0 {
				return nil
			}
			break // only markers
		}
		b = appendEvent(b, r.Time, code, data)
	case KindResize:
		b = appendEvent(b, r.Time, EventResize, fmt.Appendf(nil, "%dx%d", r.Cols, r.Rows))
		if c.cmds != nil {
			c.cmds.Resize(r.Cols)
		}
	case KindMarker:
		b = appendEvent(b, r.Time, EventMarker, r.Data)
	case KindConnection:
		// A port session's connections are its markers, in words.
		b = appendEvent(b, r.Time, EventMarker, []byte(connectionText(r.Data)))
	case KindTyped:
		// No event of its own: the lines the keys enter are marked
		// when the terminal shows them.
		if c.cmds != nil {
			c.cmds.Typed(r.Time, r.Data)
		}
		return nil
	default:
		return nil
	}
	c.buf = b
	c.last = max(c.last, r.Time)
	return c.write(b)
}

// Close writes out characters left incomplete at the end of the session,
// as U+FFFD. It does not close the underlying writer.
func (c *CastWriter) Close() error {
	if c.cmds != nil && c.err == nil {
		// Bytes held as the possible start of a mark were output.
		rest, _ := c.cmds.Close(nil, c.last)
		c.cmds = nil
		if len(rest) > 0 {
			if err := c.Write(Record{Kind: KindOutput, Time: c.last, Data: rest}); err != nil {
				return err
			}
		}
	}
	for i, code := range []string{EventOutput, EventInput, EventOutput} {
		cr := &c.carry[i]
		if cr.n == 0 || c.err != nil {
			continue
		}
		// At the latest time seen, so that event times never go back.
		b := appendEvent(c.buf[:0], max(cr.time, c.last), code, cr.b[:cr.n])
		cr.n = 0
		if err := c.write(b); err != nil {
			return err
		}
	}
	return c.err
}

func (c *CastWriter) write(b []byte) error {
	if _, err := c.w.Write(b); err != nil {
		c.err = fmt.Errorf("recording: write cast: %w", err)
	}
	return c.err
}

// WriteCast writes an asciicast v2 recording of the records to w.
func WriteCast(w io.Writer, m Meta, records iter.Seq2[Record, error]) error {
	c, err := NewCastWriter(w, m)
	if err != nil {
		return err
	}
	for r, err := range records {
		if err != nil {
			return err
		}
		if err := c.Write(r); err != nil {
			return err
		}
	}
	return c.Close()
}

// appendEvent appends one event line. Times are written with microsecond
// precision from integers, so they never pick up float noise like
// 0.30000000000000004.
func appendEvent(b []byte, t time.Duration, code string, data []byte) []byte {
	if t < 0 {
		t = 0
	}
	us := int64(t / time.Microsecond)
	b = fmt.Appendf(b, "[%d.%06d", us/1e6, us%1e6)
	b = append(b, ", \""...)
	b = append(b, code...)
	b = append(b, "\", "...)
	b = appendJSONString(b, data)
	b = append(b, "]\n"...)
	return b
}

// appendJSONString appends p as a JSON string, with invalid UTF-8 replaced
// by U+FFFD. Unlike encoding/json it leaves <, > and & alone: casts are not
// embedded in HTML, and terminal output is full of them.
// jsonSafe marks the bytes appendJSONString copies as they are.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func appendJSONString(b, p []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for len(p) > 0 {
		// Copy the run that needs no escaping at once: most output is
		// plain text.
		n := 0
		for n < len(p) && jsonSafe[p[n]] {
			n++
		}
		b = append(b, p[:n]...)
		p = p[n:]
		if len(p) == 0 {
			break
		}
		c := p[0]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			p = p[1:]
			continue
		}
		r, n := utf8.DecodeRune(p)
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid in JSON but not in JavaScript before ES2019, and
			// casts end up inside web pages.
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
		default:
			b = append(b, p[:n]...)
		}
		p = p[n:]
	}
	return append(b, '"')
}

// CastDecoder reads an asciicast v2 stream event by event.
type CastDecoder struct {
	sc     *bufio.Scanner
	line   int
	header Header
}

// NewCastDecoder reads and checks the header of the asciicast v2 stream r.
func NewCastDecoder(r io.Reader) (*CastDecoder, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxCastLine)
	d := &CastDecoder{sc: sc}
	line, err := d.nextLine()
	if err == io.EOF {
		return nil, errors.New("recording: cast is empty")
	}
	if err != nil {
		return nil, err
	}
	if err := parseHeader(line, &d.header); err != nil {
		return nil, fmt.Errorf("recording: cast line %d: %w", d.line, err)
	}
	return d, nil
}

// Header returns the stream's header.
func (d *CastDecoder) Header() Header { return d.header }

// Next returns the next event, or io.EOF after the last one. Blank lines
// are skipped.
func (d *CastDecoder) Next() (Event, error) {
	for {
		line, err := d.nextLine()
		if err != nil {
			return Event{}, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ev, err := parseEvent(line)
		if err != nil {
			return Event{}, fmt.Errorf("recording: cast line %d: %w", d.line, err)
		}
		return ev, nil
	}
}

func (d *CastDecoder) nextLine() ([]byte, error) {
	if !d.sc.Scan() {
		err := d.sc.Err()
		switch {
		case err == nil:
			return nil, io.EOF
		case errors.Is(err, bufio.ErrTooLong):
			return nil, fmt.Errorf("recording: cast line %d: longer than %d bytes", d.line+1, MaxCastLine)
		}
		return nil, fmt.Errorf("recording: read cast line %d: %w", d.line+1, err)
	}
	d.line++
	return d.sc.Bytes(), nil
}

// ReadCast reads a whole asciicast v2 stream.
func ReadCast(r io.Reader) (Header, []Event, error) {
	d, err := NewCastDecoder(r)
	if err != nil {
		return Header{}, nil, err
	}
	var evs []Event
	for {
		ev, err := d.Next()
		if err == io.EOF {
			return d.header, evs, nil
		}
		if err != nil {
			return Header{}, nil, err
		}
		evs = append(evs, ev)
	}
}

func parseHeader(line []byte, h *Header) error {
	if len(line) == 0 || line[0] != '{' {
		return errors.New("header is not a JSON object")
	}
	if err := json.Unmarshal(line, h); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if h.Version != 2 {
		return fmt.Errorf("header: version %d, want 2", h.Version)
	}
	if h.Width <= 0 || h.Height <= 0 {
		return fmt.Errorf("header: terminal size %dx%d, want positive", h.Width, h.Height)
	}
	if h.IdleTimeLimit < 0 {
		return fmt.Errorf("header: negative idle_time_limit %v", h.IdleTimeLimit)
	}
	return nil
}

func parseEvent(line []byte) (Event, error) {
	var a []json.RawMessage
	if err := json.Unmarshal(line, &a); err != nil {
		return Event{}, fmt.Errorf("event: %w", err)
	}
	if len(a) != 3 {
		return Event{}, fmt.Errorf("event has %d elements, want 3", len(a))
	}
	// encoding/json decodes null into anything without complaint, so
	// each element's JSON type is checked before it is decoded.
	var ev Event
	if c := a[0][0]; c != '-' && (c < '0' || c > '9') {
		return Event{}, errors.New("event time is not a number")
	}
	if err := json.Unmarshal(a[0], &ev.Time); err != nil {
		return Event{}, fmt.Errorf("event time: %w", err)
	}
	if ev.Time < 0 {
		return Event{}, fmt.Errorf("event time %v is negative", ev.Time)
	}
	if a[1][0] != '"' {
		return Event{}, errors.New("event code is not a string")
	}
	if err := json.Unmarshal(a[1], &ev.Type); err != nil {
		return Event{}, fmt.Errorf("event code: %w", err)
	}
	switch ev.Type {
	case EventOutput, EventInput, EventResize, EventMarker:
	default:
		return Event{}, fmt.Errorf("unknown event code %q", ev.Type)
	}
	if a[2][0] != '"' {
		return Event{}, errors.New("event data is not a string")
	}
	if err := json.Unmarshal(a[2], &ev.Data); err != nil {
		return Event{}, fmt.Errorf("event data: %w", err)
	}
	if ev.Type == EventResize {
		if _, _, err := ParseSize(ev.Data); err != nil {
			return Event{}, err
		}
	}
	return ev, nil
}

// ParseSize parses the data of a resize event, "COLSxROWS".
func ParseSize(s string) (cols, rows int, err error) {
	c, r, ok := strings.Cut(s, "x")
	if ok {
		cols, err = strconv.Atoi(c)
		if err == nil {
			rows, err = strconv.Atoi(r)
		}
	}
	if !ok || err != nil || cols <= 0 || rows <= 0 || cols > maxTermSize || rows > maxTermSize {
		return 0, 0, fmt.Errorf("bad terminal size %q, want COLSxROWS", s)
	}
	return cols, rows, nil
}
