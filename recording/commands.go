package recording

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Command is one command a shell ran, as its OSC 133 semantic prompt marks
// tell: the line the user entered, when it started (since the session's
// start, which is also its time in the .cast) and, once the shell reported
// it, how long it ran and its exit code.
type Command struct {
	Line     string
	Start    time.Duration
	Duration time.Duration
	ExitCode int
	// HasExit is false when the shell never reported an exit code (the
	// session ended, or a prompt came without one).
	HasExit bool
}

// Limits of what the tracker holds while it waits for a mark's end or a
// command line's end: a terminal's output may hold anything.
const (
	maxMarkBytes   = 256      // an OSC 133 mark is a few bytes
	maxLineCapture = 64 << 10 // the echo of one command line
)

// CommandTracker follows a terminal's output for the OSC 133 semantic
// prompt marks Postern's shell integration prints (ESC ] 133 ; A/B/C/D
// [; params] BEL or ST: prompt start, input start, command start, command
// end with its exit code). It removes the marks from the output and turns
// them into Commands. Output without marks passes through unchanged, and
// yields no commands: shells without integration fall back to what their
// lines say.
//
// The command line is what the terminal showed between the end of the
// prompt and the start of the command (the shell's echo of what was
// typed, edits included), rendered as text.
type CommandTracker struct {
	width int

	// OnStart, if set, is called with each command as it starts (its
	// Duration and exit code not known yet).
	OnStart func(Command)

	// Scanning state; a mark cut between two Feeds is held in pending.
	state   scanState
	pending []byte // ESC, or ESC ] and what follows, not yet decided

	phase   cmdPhase
	capture []byte // output since the last B mark, while phase is typing
	// line is the output since the last newline, while not typing: at a
	// B mark, the prompt the cursor follows. Readline redraws an edited
	// or pasted line from the start of the row (CR, then right past the
	// prompt), so the echo renders right only after it.
	line   []byte
	prompt []byte // line at the last B mark
	cur    Command
}

type scanState uint8

const (
	scanGround  scanState = iota
	scanEsc               // after ESC
	scanOSC               // inside ESC ], deciding or collecting a 133 mark
	scanOSCEsc            // ESC inside a 133 mark: ST ends it
	scanPassOSC           // inside another OSC: passed through up to BEL or ST
	scanPassOSCEsc
)

type cmdPhase uint8

const (
	phaseIdle    cmdPhase = iota
	phaseTyping           // after B: the command line is being echoed
	phaseRunning          // after C: the command runs
)

// NewCommandTracker returns a tracker for a terminal cols columns wide (0:
// 80).
func NewCommandTracker(cols int) *CommandTracker {
	if cols <= 0 {
		cols = 80
	}
	return &CommandTracker{width: cols}
}

// Resize follows the terminal's width, which the command line's rendering
// depends on.
func (c *CommandTracker) Resize(cols int) {
	if cols > 0 {
		c.width = cols
	}
}

// Feed takes output the terminal printed at t (since the session's start)
// and appends to dst the output without the marks. It returns dst and the
// commands that ended in it. Bytes that may start a mark are held until
// the next Feed decides them.
func (c *CommandTracker) Feed(dst []byte, t time.Duration, p []byte) ([]byte, []Command) {
	var done []Command
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch c.state {
		case scanGround:
			if b == 0x1b {
				c.state, c.pending = scanEsc, append(c.pending[:0], b)
				continue
			}
			// Fast path: copy up to the next ESC.
			j := bytes.IndexByte(p[i:], 0x1b)
			if j < 0 {
				j = len(p) - i
			}
			dst = c.out(dst, p[i:i+j])
			i += j - 1
		case scanEsc:
			if b == ']' {
				c.state, c.pending = scanOSC, append(c.pending, b)
				continue
			}
			c.state = scanGround
			dst = c.out(dst, c.pending)
			c.pending = c.pending[:0]
			i-- // the byte after ESC is ordinary output again
		case scanOSC:
			if b == 0x07 {
				if bytes.HasPrefix(c.pending[2:], []byte("133;")) {
					done = c.mark(done, t, c.pending[2:])
				} else {
					dst = c.out(dst, append(c.pending, b)) // a short OSC of another kind
				}
				c.state, c.pending = scanGround, c.pending[:0]
				continue
			}
			if b == 0x1b {
				c.state = scanOSCEsc
				continue
			}
			c.pending = append(c.pending, b)
			payload := c.pending[2:]
			if !bytes.HasPrefix([]byte("133;"), payload) && !bytes.HasPrefix(payload, []byte("133;")) || len(c.pending) > maxMarkBytes {
				// Another OSC (a window title, a hyperlink): not
				// ours, so it passes through.
				dst = c.out(dst, c.pending)
				c.state, c.pending = scanPassOSC, c.pending[:0]
			}
		case scanOSCEsc:
			if b == '\\' {
				if bytes.HasPrefix(c.pending[2:], []byte("133;")) {
					done = c.mark(done, t, c.pending[2:])
				} else {
					dst = c.out(dst, append(c.pending, 0x1b, b))
				}
				c.state, c.pending = scanGround, c.pending[:0]
				continue
			}
			// An unterminated OSC followed by a new sequence: a mark
			// is dropped, anything else passes; the ESC starts that
			// sequence.
			if !bytes.HasPrefix(c.pending[2:], []byte("133;")) {
				dst = c.out(dst, c.pending)
			}
			c.state, c.pending = scanEsc, append(c.pending[:0], 0x1b)
			i--
		case scanPassOSC:
			dst = c.out(dst, p[i:i+1])
			switch b {
			case 0x07:
				c.state = scanGround
			case 0x1b:
				c.state = scanPassOSCEsc
			}
		case scanPassOSCEsc:
			if b == '\\' {
				dst = c.out(dst, p[i:i+1])
				c.state = scanGround
				continue
			}
			c.state = scanGround
			i-- // ESC began a new sequence; it was passed through already
		}
	}
	return dst, done
}

// out appends output to dst, capturing it while a command line is typed,
// and the current row otherwise.
func (c *CommandTracker) out(dst, p []byte) []byte {
	switch {
	case c.phase == phaseTyping:
		if len(c.capture)+len(p) <= maxLineCapture {
			c.capture = append(c.capture, p...)
		}
	default:
		if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
			c.line = append(c.line[:0], p[i+1:]...)
		} else {
			c.line = append(c.line, p...)
		}
		if len(c.line) > maxLineCapture {
			c.line = c.line[:0] // a row this long is not a prompt
		}
	}
	return append(dst, p...)
}

// commandLine renders the echo of a command line after its prompt.
func (c *CommandTracker) commandLine() string {
	if len(c.prompt) > 0 {
		prompt := renderLine(c.prompt, c.width)
		full := renderLine(append(slices.Clip(c.prompt), c.capture...), c.width)
		if rest, ok := strings.CutPrefix(full, prompt); ok {
			return strings.TrimSpace(rest)
		}
	}
	// The echo overwrote the prompt (or there was none): the echo alone.
	return renderLine(c.capture, c.width)
}

// mark handles one OSC 133 payload ("133;C", "133;D;1", ...).
func (c *CommandTracker) mark(done []Command, t time.Duration, payload []byte) []Command {
	fields := strings.Split(strings.TrimPrefix(string(payload), "133;"), ";")
	switch fields[0] {
	case "A": // prompt start: a command that never said it ended is over
		if c.phase == phaseRunning {
			c.cur.Duration = t - c.cur.Start
			done = append(done, c.cur)
		}
		c.phase = phaseIdle
	case "B": // input start (also after a redrawn prompt)
		c.phase, c.capture = phaseTyping, c.capture[:0]
		c.prompt = append(c.prompt[:0], c.line...)
	case "C": // command start
		if c.phase == phaseTyping {
			c.cur = Command{Line: c.commandLine(), Start: t}
			c.phase = phaseRunning
			if c.OnStart != nil {
				c.OnStart(c.cur)
			}
		}
	case "D": // command end, with its exit code
		if c.phase == phaseRunning {
			c.cur.Duration = t - c.cur.Start
			if len(fields) > 1 {
				if code, err := strconv.Atoi(fields[1]); err == nil {
					c.cur.ExitCode, c.cur.HasExit = code, true
				}
			}
			done = append(done, c.cur)
		}
		c.phase = phaseIdle
	}
	return done
}

// Close ends tracking at t: a command still running is reported without
// an exit code, and held bytes that turned out not to be a mark are
// appended to dst.
func (c *CommandTracker) Close(dst []byte, t time.Duration) ([]byte, []Command) {
	var done []Command
	if c.phase == phaseRunning {
		c.cur.Duration = t - c.cur.Start
		done = append(done, c.cur)
	}
	c.phase = phaseIdle
	switch c.state {
	case scanEsc, scanOSC:
		// Never finished: output, not a mark.
		dst = append(dst, c.pending...)
	case scanOSCEsc:
		dst = append(append(dst, c.pending...), 0x1b)
	}
	c.state, c.pending = scanGround, c.pending[:0]
	return dst, done
}

// renderLine is the text the terminal shows for the echo of a command
// line: edits applied, escape sequences interpreted, wrapped lines joined.
func renderLine(echo []byte, cols int) string {
	var sb strings.Builder
	tr := NewTextRenderer(&sb, cols)
	tr.Write(echo)
	tr.Flush()
	lines := strings.Split(strings.TrimRight(sb.String(), "\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return strings.TrimSpace(strings.Join(lines, ""))
}
