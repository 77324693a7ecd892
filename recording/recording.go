// Package recording keeps and renders the record of a terminal session.
//
// The server relays every byte between a user and a node, so it is where a
// session is recorded. The agent numbers and timestamps what it sees as
// [Record]s; the server spools them into a crash-safe [Journal] as they pass,
// acknowledging to the agent only what a [Journal.Sync] made durable. When the
// session ends, [Render] turns the journal into the two artifacts that are
// delivered: an asciicast v2 recording (.cast, for asciinema and the web
// player) and a plain-text transcript (.log) in the layout Session Manager
// users know, with terminal control sequences interpreted by a
// [TextRenderer] rather than dumped.
//
// Nothing here trusts its input: journals may have torn tails after a crash,
// casts may come from anywhere, and terminal output is whatever a program on
// the node chose to print. Decoders return errors and never panic, and every
// length they read from input is bounded before anything is allocated.
package recording

import (
	"bytes"
	"fmt"
	"time"
	"unicode/utf8"
)

// Kind says what a [Record] holds.
type Kind uint8

// Record kinds. The values are stored in journals: never renumber.
const (
	KindOutput Kind = 1 // bytes the node's terminal printed
	KindInput  Kind = 2 // bytes the user typed, recorded only while the terminal echoed (the agent decides)
	KindResize Kind = 3 // terminal resized to Cols x Rows
	KindMarker Kind = 4 // Data is a marker label (later: command boundaries)
	KindExit   Kind = 5 // session ended; ExitCode, Data is the reason (may be empty)
	KindStderr Kind = 6 // bytes a command without a terminal wrote to its standard error
	KindTyped  Kind = 7 // where the user started a line and pressed Enter: Data is marks (TypedLine, TypedEnter), never what was typed
	// KindConnection: a port session's forwarded connection opened or
	// closed; Data is a Connection as JSON (EncodeConnection). Only the
	// server writes them: no agent record becomes one.
	KindConnection Kind = 8
	// KindDisplay: what a desktop session's viewer was sent, as Guacamole
	// protocol instructions (package guac), whole instructions only; the
	// records' data in order is the connection's .guac recording. Only
	// the server writes them.
	KindDisplay Kind = 9
	// KindDesktop: a desktop connection's facts as JSON (DesktopInfo):
	// the desktop user, the security it was made with and the desktop's
	// certificate. Only the server writes them.
	KindDesktop Kind = 10
	// KindKey: a key the desktop's user pressed or released, as the
	// Guacamole key instruction; recorded only where the preferences opt
	// in (passwords are typed into desktops too). Only the server writes
	// them.
	KindKey Kind = 11
)

// Marks in a KindTyped record's Data, one byte each, in the order typed.
// The agent records them for what the user types into a terminal, echoed
// or not, except at a prompt that reads a whole line without echo (a
// password). They say no more than that a key began a line, or ended one:
// a [CommandTracker] reads the line itself off the terminal.
const (
	TypedLine  = 'L' // the first key of a line (after an Enter or Ctrl-C)
	TypedEnter = 'E' // Enter (CR or LF)
)

func (k Kind) String() string {
	switch k {
	case KindOutput:
		return "output"
	case KindInput:
		return "input"
	case KindResize:
		return "resize"
	case KindMarker:
		return "marker"
	case KindExit:
		return "exit"
	case KindStderr:
		return "stderr"
	case KindTyped:
		return "typed"
	case KindConnection:
		return "connection"
	case KindDisplay:
		return "display"
	case KindDesktop:
		return "desktop"
	case KindKey:
		return "key"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

func (k Kind) valid() bool { return k >= KindOutput && k <= KindKey }

// Record is one event of a session as the agent numbered and timed it.
type Record struct {
	Seq      uint64        // 1, 2, 3, ... per session, strictly increasing
	Time     time.Duration // since session start (agent's clock)
	Kind     Kind
	Data     []byte
	Cols     int // KindResize
	Rows     int // KindResize
	ExitCode int // KindExit
}

// Meta describes a session for rendering.
type Meta struct {
	SessionID string            `json:"sessionId"`
	Start     time.Time         `json:"start"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Env       map[string]string `json:"env,omitempty"` // e.g. {"SHELL": "/bin/bash", "TERM": "xterm-256color"}
	Title     string            `json:"title,omitempty"`
	// Pipes marks a session without a terminal (NonInteractiveCommands):
	// KindOutput is the command's standard output, KindStderr its standard
	// error, and KindInput all it was given on standard input. Renderers
	// show both outputs as a terminal in its usual mode would have, with
	// each "\n" as "\r\n".
	Pipes bool `json:"pipes,omitempty"`
	// Port marks a port forwarding session: it has no terminal, and its
	// KindConnection records, one as each forwarded connection opens and
	// one as it closes, are its transcript (with its KindMarker notes;
	// journals written before KindConnection have only those).
	Port bool `json:"port,omitempty"`
	// Desktop marks a remote desktop session (a port session whose client
	// is the server's desktop engine): its KindDisplay records are the
	// recording (RenderGuac), and its transcript is a port session's.
	Desktop bool `json:"desktop,omitempty"`
	// Sealed, on a journal, says that its records are encrypted and how
	// to get the key back; nil for a journal in the clear.
	Sealed *Sealed `json:"sealed,omitempty"`
}

// Sealed describes a sealed journal's key: a data key from a key service,
// wrapped, with the encryption context it was made with. The recording
// package only stores it; the server unwraps the key.
type Sealed struct {
	KeyARN     string            `json:"keyArn"`
	WrappedKey []byte            `json:"wrappedKey"`
	Context    map[string]string `json:"context,omitempty"`
}

// ExitUnknown is the exit code rendered when a session has no KindExit
// record, as after a crash of the node or a lost agent. Real exit codes are
// never negative (a process killed by signal n reports 128+n), so it cannot
// be mistaken for one.
const ExitUnknown = -1

// Terminal sizes assumed when Meta has none, as for a session without a
// terminal: those of a VT100, which is what most programs assume too.
const (
	defaultCols = 80
	defaultRows = 24
)

// maxTermSize bounds terminal dimensions. Resize records carry 16-bit sizes
// on the wire; anything larger is a bug or an attack, not a terminal.
const maxTermSize = 1<<16 - 1

func termSize(cols, rows int) (int, int) {
	if cols <= 0 || cols > maxTermSize {
		cols = defaultCols
	}
	if rows <= 0 || rows > maxTermSize {
		rows = defaultRows
	}
	return cols, rows
}

// appendCRLF appends p to b with each "\n" as "\r\n", as a terminal's
// output processing (ONLCR) shows what a program writes to a pipe.
func appendCRLF(b, p []byte) []byte {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return append(b, p...)
		}
		b = append(append(b, p[:i]...), '\r', '\n')
		p = p[i+1:]
	}
	return b
}

// appendValidUTF8 appends p to b with each byte that is not part of a valid
// UTF-8 sequence replaced by U+FFFD, the way a range loop over a string
// decodes it.
func appendValidUTF8(b, p []byte) []byte {
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		if r == utf8.RuneError && n == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, p[:n]...)
		}
		p = p[n:]
	}
	return b
}

// incompleteSuffix returns how many bytes at the end of p are the start of
// a UTF-8 sequence that the next bytes may complete. Such bytes are carried
// over rather than replaced, because the agent cuts output into records
// wherever a read returned, not at character boundaries.
func incompleteSuffix(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				return len(p) - i
			}
			return 0
		}
	}
	return 0
}
