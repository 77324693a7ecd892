package recording

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Command is one command entered in a session's terminal: the line the
// user entered, when it started (since the session's start, which is also
// its time in the .cast) and, where a shell's OSC 133 semantic prompt
// marks reported it, how long it ran and its exit code.
type Command struct {
	Line     string
	Start    time.Duration
	Duration time.Duration
	ExitCode int
	// HasExit is false when the shell never reported an exit code (the
	// session ended, or a prompt came without one).
	HasExit bool
	// LineOnly marks a line entered at a prompt that had no marks (a
	// shell without integration, a shell on another host, a program's
	// own prompt), read off the terminal: Prompt is the text it was typed
	// after, Start is when Enter was pressed, and neither its duration
	// nor its exit code is known.
	LineOnly bool
	Prompt   string
}

// Limits of what the tracker holds while it waits for a mark's end or a
// command line's end: a terminal's output may hold anything.
const (
	maxMarkBytes   = 256      // an OSC 133 mark is a few bytes
	maxLineCapture = 64 << 10 // the echo of one command line
	maxCSIBytes    = 32       // the parameters of a CSI sequence that may switch screens
	maxEnters      = 8        // Enters typed ahead of the lines they enter
)

// CommandTracker follows a terminal's output for the OSC 133 semantic
// prompt marks Postern's shell integration prints (ESC ] 133 ; A/B/C/D
// [; params] BEL or ST: prompt start, input start, command start, command
// end with its exit code). It removes the marks from the output and turns
// them into Commands. Output without marks passes through unchanged.
//
// The command line is what the terminal showed between the end of the
// prompt and the start of the command (the shell's echo of what was
// typed, edits included), rendered as text.
//
// Where the marks are missing (no integration, or it was lost: a shell
// replaced by exec, another user's login shell, a shell on another host
// reached with ssh or docker exec), the tracker reads entered lines off
// the terminal instead, from the keys [CommandTracker.Typed] is given: the
// text of the line when the terminal leaves it after an Enter, less the
// prompt, which is the line as it was at the line's first key. Such
// commands are LineOnly. Only what the terminal showed becomes a command:
// what was typed without an echo (a password) never shows, so it never
// does. While a shell's integration is reading a command line, and while a
// full-screen program has the alternate screen, keys are ignored.
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

	// Lines entered at prompts without marks.
	csi        []byte          // parameters of the CSI sequence being scanned
	csiOvf     bool            // more of them than maxCSIBytes
	alt        bool            // a full-screen program has the alternate screen
	screen     *TextRenderer   // the terminal from a line's first key until the line is left; nil otherwise
	rows       rowSink         // lines screen left
	linePrompt string          // screen's line at the line's first key: its prompt; "" unknown
	lastPrompt string          // the prompt of the last line entered
	enters     []time.Duration // Enters whose lines the terminal has not left yet, oldest first
	entered    []Command       // lines entered, not yet returned
}

// rowSink collects the lines a TextRenderer with joinRows writes out.
type rowSink struct{ lines []string }

func (r *rowSink) Write(p []byte) (int, error) {
	r.lines = append(r.lines, strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

type scanState uint8

const (
	scanGround  scanState = iota
	scanEsc               // after ESC
	scanOSC               // inside ESC ], deciding or collecting a 133 mark
	scanOSCEsc            // ESC inside a 133 mark: ST ends it
	scanPassOSC           // inside another OSC: passed through up to BEL or ST
	scanPassOSCEsc
	scanCSI // after ESC [: passed through, watched for screen switches
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
		if c.screen != nil {
			c.screen.Resize(cols)
		}
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
			// Fast path: copy what passes through as it is, up to an
			// ESC that may start a mark.
			j, modes := c.run(p[i:])
			if j == 0 {
				c.state, c.pending = scanEsc, append(c.pending[:0], b)
				continue
			}
			dst = c.out(dst, p[i:i+j])
			if modes {
				c.csiDone(p[i+j-1])
			}
			i += j - 1
		case scanEsc:
			if b == ']' {
				c.state, c.pending = scanOSC, append(c.pending, b)
				continue
			}
			if b == '[' {
				dst = c.out(dst, append(c.pending, b))
				c.state, c.pending = scanCSI, c.pending[:0]
				c.csi, c.csiOvf = c.csi[:0], false
				continue
			}
			c.state = scanGround
			dst = c.out(dst, c.pending)
			c.pending = c.pending[:0]
			i-- // the byte after ESC is ordinary output again
		case scanCSI:
			// Parameters and intermediates, then the final byte, all
			// passed through.
			j := i
			for j < len(p) && p[j] >= 0x20 && p[j] < 0x40 {
				j++
			}
			if len(c.csi)+j-i <= maxCSIBytes {
				c.csi = append(c.csi, p[i:j]...)
			} else {
				c.csiOvf = true
			}
			switch {
			case j == len(p): // the sequence goes on in the next Feed
				dst = c.out(dst, p[i:j])
			case p[j] == 0x1b: // a new sequence cuts this one short
				dst = c.out(dst, p[i:j])
				c.state = scanGround
			case p[j] >= 0x40 && p[j] <= 0x7e:
				dst = c.out(dst, p[i:j+1])
				c.state = scanGround
				c.csiDone(p[j])
				j++
			default: // a control acts inside the sequence; CAN, SUB and 8-bit bytes end it
				dst = c.out(dst, p[i:j+1])
				if p[j] == 0x18 || p[j] == 0x1a || p[j] >= 0x7f {
					c.state = scanGround
				}
				j++
			}
			i = j - 1
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
	done = append(done, c.entered...)
	c.entered = c.entered[:0]
	return dst, done
}

// out appends output to dst, capturing it while a command line is typed,
// and the current row otherwise; a line being entered without marks
// follows it on its screen.
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
	if c.screen != nil {
		c.follow(p)
	}
	return append(dst, p...)
}

// run returns the length of the output at the start of p that passes
// through as it is: bytes up to an ESC, and whole CSI sequences (colours,
// cursor movement). It stops after a sequence that sets or resets DEC
// private modes, whose parameters it leaves in c.csi for csiDone.
func (c *CommandTracker) run(p []byte) (n int, modes bool) {
	for {
		k := bytes.IndexByte(p[n:], 0x1b)
		if k < 0 {
			return len(p), false
		}
		n += k
		if n+2 >= len(p) || p[n+1] != '[' {
			return n, false
		}
		j := n + 2
		for j < len(p) && p[j] >= 0x20 && p[j] < 0x40 {
			j++
		}
		if j == len(p) || p[j] < 0x40 || p[j] > 0x7e {
			return n, false // cut short, or with controls inside: byte by byte
		}
		if p[n+2] == '?' && (p[j] == 'h' || p[j] == 'l') {
			c.csi, c.csiOvf = append(c.csi[:0], p[n+2:min(j, n+2+maxCSIBytes)]...), j-n-2 > maxCSIBytes
			return j + 1, true
		}
		n = j + 1
	}
}

// csiDone handles the end of a CSI sequence: switches to and from the
// alternate screen are tracked.
func (c *CommandTracker) csiDone(final byte) {
	if final != 'h' && final != 'l' || c.csiOvf || len(c.csi) < 2 || c.csi[0] != '?' {
		return
	}
	for f := range bytes.SplitSeq(c.csi[1:], []byte(";")) {
		switch string(f) {
		case "47", "1047", "1049":
			if on := final == 'h'; on != c.alt {
				c.alt = on
				// A full-screen program has no prompt; back from it,
				// the shell draws a new one on a fresh line.
				c.forget()
				c.line = c.line[:0]
			}
			return
		}
	}
}

// Typed takes the marks of a KindTyped record: where, at t, the user
// started typing a line ([TypedLine]) and pressed Enter ([TypedEnter]).
// Lines they enter come out of Feed once the terminal shows them.
func (c *CommandTracker) Typed(t time.Duration, marks []byte) {
	for _, m := range marks {
		if c.phase == phaseTyping || c.alt {
			return // the integration reports the line; a full-screen program has no prompt
		}
		switch m {
		case TypedLine:
			if len(c.enters) > 0 {
				continue // typed ahead of a prompt not drawn yet
			}
			c.watch()
			c.linePrompt = c.screen.Line()
		case TypedEnter:
			if c.screen == nil {
				c.watch() // Enter at a line not started: its prompt is unknown
			}
			if len(c.enters) < maxEnters {
				c.enters = append(c.enters, t)
			}
		}
	}
}

// watch starts following the terminal's current line: its screen is
// rebuilt from the output since the last newline.
func (c *CommandTracker) watch() {
	c.screen = NewTextRenderer(&c.rows, c.width)
	c.screen.joinRows = true
	c.screen.Write(c.line)
	c.rows.lines = c.rows.lines[:0]
	c.linePrompt = ""
}

// forget stops following a line: the integration reports what comes next,
// or a full-screen program took over.
func (c *CommandTracker) forget() {
	c.screen = nil
	c.rows.lines = c.rows.lines[:0]
	c.linePrompt = ""
	c.enters = c.enters[:0]
}

// follow feeds output to the screen of the line being entered. Each line
// the terminal leaves (a newline on its last row, a switch to the
// alternate screen) may be the one an Enter entered.
func (c *CommandTracker) follow(p []byte) {
	c.screen.Write(p)
	if len(c.rows.lines) == 0 {
		return
	}
	for _, l := range c.rows.lines {
		c.left(l)
	}
	c.rows.lines = c.rows.lines[:0]
	if len(c.enters) == 0 {
		// Entered or abandoned (Ctrl-C, output): the next line's first
		// key starts over.
		c.screen, c.linePrompt = nil, ""
	}
}

// left handles a line the terminal left: after an Enter, if it starts
// with the prompt its first key found (or the last line's, for lines
// typed ahead), the rest is a command.
func (c *CommandTracker) left(text string) {
	if len(c.enters) == 0 || text == AltScreenNotice {
		return
	}
	p := ""
	for _, cand := range []string{c.linePrompt, c.lastPrompt} {
		if cand != "" && strings.HasPrefix(text, cand) {
			p = cand
			break
		}
	}
	if p == "" {
		// Not at a prompt: output, or a line typed where nothing
		// prompted for it. The Enter entered this line, unless more are
		// queued, which wait for theirs.
		if len(c.enters) == 1 {
			c.enters, c.linePrompt = c.enters[:0], ""
		}
		return
	}
	start := c.enters[0]
	c.enters = c.enters[:copy(c.enters, c.enters[1:])]
	c.linePrompt, c.lastPrompt = "", p
	line := strings.TrimSpace(text[len(p):])
	// An empty line is no command, nor is a password shown as
	// asterisks (sudo's pwfeedback).
	if strings.Trim(line, "*•● ") == "" {
		return
	}
	cmd := Command{Line: line, Start: start, LineOnly: true, Prompt: p}
	c.entered = append(c.entered, cmd)
	if c.OnStart != nil {
		c.OnStart(cmd)
	}
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
	// Lines entered before the mark come before what it reports, and the
	// integration reports what follows.
	done = append(done, c.entered...)
	c.entered = c.entered[:0]
	c.forget()
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
			// The shell moved to a new line to run it.
			c.line = c.line[:0]
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
// an exit code, so is a line entered that the terminal never left, and
// held bytes that turned out not to be a mark are appended to dst.
func (c *CommandTracker) Close(dst []byte, t time.Duration) ([]byte, []Command) {
	var done []Command
	if c.phase == phaseRunning {
		c.cur.Duration = t - c.cur.Start
		done = append(done, c.cur)
	}
	c.phase = phaseIdle
	// A line entered just before the end, that the terminal never left.
	if c.screen != nil && len(c.enters) > 0 {
		c.left(c.screen.Line())
	}
	done = append(done, c.entered...)
	c.entered = c.entered[:0]
	c.forget()
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
	tr.joinRows = true
	tr.Write(echo)
	tr.Flush()
	lines := strings.Split(strings.TrimRight(sb.String(), "\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return strings.TrimSpace(strings.Join(lines, ""))
}
