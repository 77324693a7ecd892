package recording

import (
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
)

// transcriptTime is the time layout of the first and last lines of a
// Session Manager transcript, always in UTC: 2024-05-09 10:19:55+00:00.
const transcriptTime = "2006-01-02 15:04:05-07:00"

// TranscriptWriter writes the readable transcript of a session, the .log
// in the layout Session Manager uploads:
//
//	Script started on 2024-05-09 10:19:55+00:00 [TERM="xterm-256color" TTY="/dev/pts/0" COLUMNS="80" LINES="24"]
//	sh-5.2$ whoami
//	ssm-user
//	Script done on 2024-05-09 10:20:31+00:00 [COMMAND_EXIT_CODE="0"]
//
// The text between is the session's output rendered by a TextRenderer;
// for a session without a terminal, its standard output and standard error
// as they arrived. Input records are not rendered: what the user typed is in the output
// exactly where and when the terminal echoed it, and nowhere else.
type TranscriptWriter struct {
	w     io.Writer
	tr    *TextRenderer
	pipes bool // Meta.Pipes: show "\n" as "\r\n"
	// port (Meta.Port): markers and connection records are the
	// transcript, each a line with its time (start is the session's).
	port  bool
	start time.Time
	buf   []byte
	// carry holds, per output (standard output, standard error), the
	// start of a character cut at the end of a record, for the next
	// record of the same output: the two interleave in a session without
	// a terminal.
	carry [2][]byte
}

// NewTranscriptWriter writes the first line of the transcript for m.
//
// Its bracket lists TERM and TTY from m.Env when they are set (the agent
// may pass its pseudo-terminal's name as TTY) and the terminal's size, as
// util-linux script does; a session with neither a TERM nor a size had no
// terminal and reads "[<not executed on terminal>]", as in Session Manager.
func NewTranscriptWriter(w io.Writer, m Meta) (*TranscriptWriter, error) {
	var attrs []string
	if v := m.Env["TERM"]; v != "" {
		attrs = append(attrs, fmt.Sprintf("TERM=%q", v))
	}
	if v := m.Env["TTY"]; v != "" {
		attrs = append(attrs, fmt.Sprintf("TTY=%q", v))
	}
	if m.Width > 0 && m.Height > 0 {
		attrs = append(attrs, fmt.Sprintf(`COLUMNS="%d" LINES="%d"`, m.Width, m.Height))
	}
	info := "<not executed on terminal>"
	if len(attrs) > 0 {
		info = strings.Join(attrs, " ")
	}
	if _, err := fmt.Fprintf(w, "Script started on %s [%s]\n", m.Start.UTC().Format(transcriptTime), sanitizeLine(info)); err != nil {
		return nil, fmt.Errorf("recording: write transcript: %w", err)
	}
	return &TranscriptWriter{w: w, tr: NewTextRenderer(w, m.Width), pipes: m.Pipes, port: m.Port, start: m.Start}, nil
}

// Write renders r if it is output (standard output or error), or applies
// it if it is a resize.
func (t *TranscriptWriter) Write(r Record) error {
	switch r.Kind {
	case KindOutput, KindStderr:
		data := r.Data
		if t.pipes {
			cr := &t.carry[0]
			if r.Kind == KindStderr {
				cr = &t.carry[1]
			}
			t.buf = appendCRLF(append(t.buf[:0], *cr...), data)
			k := incompleteSuffix(t.buf)
			*cr = append((*cr)[:0], t.buf[len(t.buf)-k:]...)
			data = t.buf[:len(t.buf)-k]
		}
		if _, err := t.tr.Write(data); err != nil {
			return fmt.Errorf("recording: write transcript: %w", err)
		}
	case KindResize:
		t.tr.Resize(r.Cols)
	case KindMarker:
		if t.port {
			return t.line(r.Time, string(r.Data))
		}
	case KindConnection:
		return t.line(r.Time, connectionText(r.Data))
	case KindDesktop:
		return t.line(r.Time, desktopText(r.Data))
	}
	return nil
}

// line writes a port session's line, with its time.
func (t *TranscriptWriter) line(at time.Duration, text string) error {
	if _, err := fmt.Fprintf(t.w, "%s %s\n", t.start.Add(at).UTC().Format(time.RFC3339), sanitizeLine(text)); err != nil {
		return fmt.Errorf("recording: write transcript: %w", err)
	}
	return nil
}

// connectionText is a KindConnection record's line; a record that does not
// decode says so rather than ending the rendering, which would lose the
// lines after it.
func connectionText(data []byte) string {
	c, err := ParseConnection(data)
	if err != nil {
		return fmt.Sprintf("(an unreadable connection record: %v)", err)
	}
	return c.Text()
}

// Finish writes out the last line of output and the transcript's last
// line, with the session's end time and exit code (ExitUnknown if the
// session ended without one).
func (t *TranscriptWriter) Finish(end time.Time, exitCode int) error {
	for i := range t.carry {
		if len(t.carry[i]) > 0 {
			if _, err := t.tr.Write(t.carry[i]); err != nil {
				return fmt.Errorf("recording: write transcript: %w", err)
			}
			t.carry[i] = nil
		}
	}
	if err := t.tr.Flush(); err != nil {
		return fmt.Errorf("recording: write transcript: %w", err)
	}
	if _, err := fmt.Fprintf(t.w, "Script done on %s [COMMAND_EXIT_CODE=\"%d\"]\n", end.UTC().Format(transcriptTime), exitCode); err != nil {
		return fmt.Errorf("recording: write transcript: %w", err)
	}
	return nil
}

// WriteTranscript writes the transcript of a session to w.
func WriteTranscript(w io.Writer, m Meta, end time.Time, exitCode int, records iter.Seq2[Record, error]) error {
	t, err := NewTranscriptWriter(w, m)
	if err != nil {
		return err
	}
	for r, err := range records {
		if err != nil {
			return err
		}
		if err := t.Write(r); err != nil {
			return err
		}
	}
	return t.Finish(end, exitCode)
}

// sanitizeLine keeps text that comes from the session's metadata from
// breaking the transcript's line structure or smuggling escapes into it.
func sanitizeLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
