package recording

import (
	"io"
	"strings"
	"unicode/utf8"

	"github.com/clipperhouse/displaywidth"
)

// AltScreenNotice is the line a TextRenderer writes in place of what a
// full-screen program (an editor, a pager, top) drew on the alternate
// screen. Those screens are redrawn in place, often many times a second;
// as text they are noise, and what the user did there is in the .cast.
const AltScreenNotice = "[full-screen program output omitted]"

// TextRenderer turns a terminal's output stream into the text the user
// saw, line by line, the way `script` followed by `col -b` would: escape
// sequences are interpreted or dropped, never copied, and the lines it
// writes are valid UTF-8 with no control characters and no trailing
// spaces, each ended by "\n".
//
// It is a streaming state machine: output may be fed in chunks cut
// anywhere, including inside an escape sequence or a UTF-8 character.
//
// The model is line-oriented. The renderer keeps one logical line: the
// text since the last newline, in rows of the terminal's width as the
// terminal wrapped it. Cursor movement within that line is exact, which is
// what shells need to edit a command line (readline redraws with
// backspaces, CSI K, CSI P, CSI @ and, for lines longer than the
// terminal, CSI A). A newline on the line's last row writes the line out,
// one row per output line, and starts the next. Earlier lines are final:
// moving the cursor above the current logical line (CSI A past its first
// row, CSI H, reverse index) stays on its first row, and absolute
// positioning (CSI H, CSI f) sets only the column. Erasing the display
// erases only the current logical line. While the alternate screen is
// active (DEC private modes 47, 1047, 1049) output is dropped and
// AltScreenNotice is written once in its place.
type TextRenderer struct {
	w   io.Writer
	err error

	// Parser.
	state   parseState
	u8      [utf8.UTFMax]byte // UTF-8 sequence being collected in ground state
	u8n     int
	params  [16]int
	nparams int
	private byte // CSI private marker: one of < = > ?
	inter   bool // CSI or ESC has intermediate bytes
	ovf     bool // more CSI parameters than params holds

	// Screen.
	cols     int
	cells    []cell // the logical line, row after row of cols cells
	cur      int    // cursor as an index into cells; may be past the end
	wrapNext bool   // a character was printed in the last column; the next one wraps
	alt      bool   // alternate screen active
	insert   bool   // insert mode (IRM)
	noWrap   bool   // autowrap (DECAWM) off
	saved    int    // saved cursor (DECSC), valid for line number savedGen
	savedCol int
	savedGen uint64
	gen      uint64 // number of lines written so far
	joined   bool   // the line was written out early, at alt screen entry

	out []byte

	// slow turns off the printASCII fast path, so tests can check it
	// renders exactly as the general path does.
	slow bool
	// joinRows writes each logical line as one line, its rows joined as
	// the terminal wrapped them: spaces at the end of a row that the line
	// goes on from are kept. For command lines, not transcripts.
	joinRows bool
}

// cell is one column of the terminal. A wide character occupies two:
// itself, with wide set, and a cell holding wideTail.
type cell struct {
	r     rune
	wide  bool
	extra string // zero-width characters combined with r
}

const (
	wideTail = -1

	// maxLineCells bounds the logical line. Output that never prints a
	// newline (cat of a binary file, a progress bar drawn with \r only
	// rewrites one row) must not grow memory without end; rows above the
	// cursor are written out once the line holds this many cells.
	maxLineCells = 1 << 16

	// maxExtra bounds the zero-width characters stacked on one cell.
	maxExtra = 32

	maxParam = 1<<16 - 1
	tabWidth = 8
)

var blank = cell{r: ' '}

type parseState uint8

const (
	stGround    parseState = iota
	stEsc                  // after ESC
	stEscInter             // ESC with intermediate bytes, as in ESC ( B
	stCSI                  // ESC [
	stCSIIgnore            // malformed CSI, skipped up to its final byte
	stOSC                  // ESC ], up to BEL or ST
	stOSCEsc               // ESC inside OSC: ST, or the start of the next sequence
	stString               // DCS, SOS, PM, APC: up to ST
	stStringEsc            // ESC inside one of those
)

// NewTextRenderer returns a renderer for a terminal cols wide (80 if cols
// is not positive) that writes the lines it renders to w.
func NewTextRenderer(w io.Writer, cols int) *TextRenderer {
	cols, _ = termSize(cols, 0)
	return &TextRenderer{w: w, cols: cols, saved: -1}
}

// Resize sets the terminal's width, as a resize record does. The current
// logical line is re-wrapped to the new width, as terminals that reflow
// do; a shell redraws it after SIGWINCH anyway.
func (t *TextRenderer) Resize(cols int) {
	cols, _ = termSize(cols, 0)
	if cols == t.cols {
		return
	}
	t.cols = cols
	if t.wrapNext && t.cur%cols != cols-1 {
		// The cursor is logically after the last character printed;
		// in the new layout that is a column of its own.
		t.cur++
		t.wrapNext = false
	}
	t.trimTop()
}

// Write feeds terminal output to the renderer. It writes completed lines
// to the underlying writer and returns its first error, if any.
func (t *TextRenderer) Write(p []byte) (int, error) {
	for i := 0; i < len(p); {
		if t.state == stGround && t.u8n == 0 && !t.slow {
			if n := t.plainLine(p[i:]); n > 0 {
				i += n
				continue
			}
			if printableASCII(p[i]) {
				if n := t.printASCII(p[i:]); n > 0 {
					i += n
					continue
				}
			}
		}
		t.advance(p[i])
		i++
	}
	return len(p), t.err
}

func printableASCII(b byte) bool { return b >= 0x20 && b < 0x7f }

// plainLine renders a whole line of printable ASCII ended by CR LF that
// starts on a fresh, empty line, and returns how many bytes of p it took;
// 0 when p does not start with one. Such lines are most of what `cat`,
// logs and builds print, and their text is the bytes themselves, cut into
// rows of the terminal's width: no cell needs to be touched.
func (t *TextRenderer) plainLine(p []byte) int {
	if len(t.cells) != 0 || t.cur != 0 || t.alt || t.insert || t.noWrap || t.wrapNext || t.joined || t.cols < 2 || t.joinRows {
		return 0
	}
	n := 0
	for n < len(p) && printableASCII(p[n]) {
		n++
	}
	if n+1 >= len(p) || p[n] != '\r' || p[n+1] != '\n' || n >= maxLineCells {
		return 0
	}
	b := t.out[:0]
	if n == 0 {
		b = append(b, '\n')
	}
	for i := 0; i < n; i += t.cols {
		row := p[i:min(i+t.cols, n)]
		for len(row) > 0 && row[len(row)-1] == ' ' {
			row = row[:len(row)-1]
		}
		b = append(append(b, row...), '\n')
	}
	t.out = b
	t.write(b)
	t.gen++
	return n + 2
}

// printASCII prints the run of printable ASCII at the start of p that fits
// on the cursor's row short of the last column, and returns its length; 0
// when the general path must handle p[0]. It is print for the common case
// (plain text, most of any session's bytes), a cell at a time without the
// per-character width lookup, wrap and insert-mode checks, which do not
// apply there.
func (t *TextRenderer) printASCII(p []byte) int {
	if t.alt || t.insert || t.wrapNext {
		return 0
	}
	room := t.cols - 1 - t.col()
	n := 0
	for n < len(p) && n < room && printableASCII(p[n]) {
		n++
	}
	if n == 0 {
		return 0
	}
	i, end := t.cur, t.cur+n
	for len(t.cells) < i {
		t.cells = append(t.cells, blank)
	}
	// Half-overwritten wide characters lose their other half, as in
	// setCell.
	if i < len(t.cells) && t.cells[i].r == wideTail && i > 0 && t.cells[i-1].wide {
		t.cells[i-1] = blank
	}
	if end < len(t.cells) && t.cells[end].r == wideTail && t.cells[end-1].wide {
		t.cells[end] = blank
	}
	overwrite := min(end, len(t.cells)) - i
	for k := 0; k < overwrite; k++ {
		t.cells[i+k] = cell{r: rune(p[k])}
	}
	for k := max(overwrite, 0); k < n; k++ {
		t.cells = append(t.cells, cell{r: rune(p[k])})
	}
	t.cur = end
	return n
}

// Flush writes out the current line, if it has any text, as if a newline
// followed. The renderer then continues on a new line.
func (t *TextRenderer) Flush() error {
	if t.u8n > 0 {
		t.u8n = 0
		t.print(utf8.RuneError)
	}
	for _, c := range t.cells {
		if c.r != ' ' {
			t.emitLine()
			break
		}
	}
	t.cells = t.cells[:0]
	t.cur = 0
	t.wrapNext = false
	return t.err
}

func (t *TextRenderer) advance(b byte) {
	switch t.state {
	case stGround:
		t.ground(b)
		return
	case stOSC, stString:
		switch b {
		case 0x18, 0x1a: // CAN, SUB
			t.state = stGround
		case 0x1b:
			if t.state == stOSC {
				t.state = stOSCEsc
			} else {
				t.state = stStringEsc
			}
		case 0x07:
			if t.state == stOSC {
				t.state = stGround
			}
		}
		return
	case stOSCEsc, stStringEsc:
		if b == '\\' { // ST
			t.state = stGround
			return
		}
		// An ESC that is not ST ends the string and starts a new
		// sequence, as in xterm.
		t.state = stEsc
		t.advance(b)
		return
	}

	// ESC and CSI states: controls act in the middle of a sequence.
	switch {
	case b == 0x18 || b == 0x1a:
		t.state = stGround
		return
	case b == 0x1b:
		t.state = stEsc
		return
	case b < 0x20:
		t.execute(b)
		return
	case b == 0x7f:
		return
	case b >= 0x80:
		// Not part of any 7-bit sequence: the sequence is broken.
		t.state = stGround
		t.ground(b)
		return
	}

	switch t.state {
	case stEsc:
		switch {
		case b == '[':
			t.state = stCSI
			t.nparams, t.private, t.inter, t.ovf = 0, 0, false, false
		case b == ']':
			t.state = stOSC
		case b == 'P' || b == 'X' || b == '^' || b == '_':
			t.state = stString
		case b < 0x30:
			t.state = stEscInter
		default:
			t.state = stGround
			t.escDispatch(b)
		}
	case stEscInter:
		if b >= 0x30 {
			t.state = stGround // charset designations and the like: nothing to render
		}
	case stCSI:
		switch {
		case b >= '0' && b <= '9':
			if t.inter {
				t.state = stCSIIgnore
				return
			}
			if t.nparams == 0 {
				t.params[0], t.nparams = 0, 1
			}
			if !t.ovf {
				p := &t.params[t.nparams-1]
				*p = min(*p*10+int(b-'0'), maxParam)
			}
		case b == ';' || b == ':':
			if t.inter {
				t.state = stCSIIgnore
				return
			}
			if t.nparams == 0 {
				t.params[0], t.nparams = 0, 1
			}
			if t.nparams < len(t.params) {
				t.params[t.nparams] = 0
				t.nparams++
			} else {
				t.ovf = true
			}
		case b >= '<' && b <= '?':
			if t.nparams > 0 || t.inter || t.private != 0 {
				t.state = stCSIIgnore
				return
			}
			t.private = b
		case b < 0x30:
			t.inter = true
		default:
			t.state = stGround
			t.csiDispatch(b)
		}
	case stCSIIgnore:
		if b >= 0x40 {
			t.state = stGround
		}
	}
}

// ground handles a byte outside any escape sequence.
func (t *TextRenderer) ground(b byte) {
	if t.u8n > 0 {
		if b&0xc0 == 0x80 {
			t.u8[t.u8n] = b
			t.u8n++
			if !utf8.FullRune(t.u8[:t.u8n]) {
				return
			}
			r, _ := utf8.DecodeRune(t.u8[:t.u8n])
			t.u8n = 0
			t.print(r) // U+FFFD if the sequence was invalid
			return
		}
		// The sequence was cut short by b.
		t.u8n = 0
		t.print(utf8.RuneError)
	}
	switch {
	case b == 0x1b:
		t.state = stEsc
	case b < 0x20:
		t.execute(b)
	case b == 0x7f:
	case b < 0x80:
		t.print(rune(b))
	case b >= 0xc2 && b <= 0xf4:
		t.u8[0], t.u8n = b, 1
	default:
		t.print(utf8.RuneError)
	}
}

// execute performs a C0 control.
func (t *TextRenderer) execute(b byte) {
	if t.alt {
		return
	}
	switch b {
	case '\b':
		t.wrapNext = false
		if t.col() > 0 {
			t.cur--
		}
	case '\t':
		t.tab(1)
	case '\n', '\v', '\f':
		t.lineFeed()
	case '\r':
		t.wrapNext = false
		t.cur = t.rowStart()
	}
}

func (t *TextRenderer) escDispatch(b byte) {
	if b == 'c' { // RIS: full reset
		if !t.alt && !t.lineBlank() {
			t.emitLine() // clearing the screen does not unsay what it showed
		}
		*t = TextRenderer{w: t.w, err: t.err, cols: t.cols, cells: t.cells[:0], saved: -1, gen: t.gen, out: t.out, slow: t.slow}
		return
	}
	if t.alt {
		return
	}
	switch b {
	case '7': // DECSC
		t.saveCursor()
	case '8': // DECRC
		t.restoreCursor()
	case 'D': // IND
		t.lineFeed()
	case 'E': // NEL
		t.cur = t.rowStart()
		t.lineFeed()
	case 'M': // RI
		t.up(1)
	}
}

func (t *TextRenderer) param(i, def int) int {
	if i >= t.nparams || t.params[i] == 0 {
		return def
	}
	return t.params[i]
}

func (t *TextRenderer) csiDispatch(final byte) {
	if t.inter {
		return // DECSTR, cursor style and other settings
	}
	if t.private != 0 {
		if t.private == '?' && (final == 'h' || final == 'l') {
			for i := range t.nparams {
				t.setPrivateMode(t.params[i], final == 'h')
			}
		}
		return
	}
	if t.alt {
		return
	}
	n := t.param(0, 1)
	switch final {
	case '@': // ICH
		t.insertBlanks(n)
	case 'A': // CUU
		t.up(n)
	case 'B': // CUD
		t.down(n)
	case 'C', 'a': // CUF, HPR
		t.setCol(t.col() + n)
	case 'D': // CUB
		t.setCol(t.col() - n)
	case 'E': // CNL
		t.down(n)
		t.setCol(0)
	case 'F': // CPL
		t.up(n)
		t.setCol(0)
	case 'G', '`': // CHA, HPA
		t.setCol(n - 1)
	case 'H', 'f': // CUP, HVP: the row is approximated by the current one
		t.setCol(t.param(1, 1) - 1)
	case 'I': // CHT
		t.tab(n)
	case 'Z': // CBT
		c := t.col()
		for ; n > 0 && c > 0; n-- {
			c = (c - 1) / tabWidth * tabWidth
		}
		t.setCol(c)
	case 'J': // ED
		t.eraseDisplay(t.param(0, 0))
	case 'K': // EL
		t.eraseLine(t.param(0, 0))
	case 'P': // DCH
		t.deleteChars(n)
	case 'X': // ECH
		t.wrapNext = false
		t.blankRange(t.cur, min(t.cur+n, t.rowStart()+t.cols))
	case 'h', 'l': // SM, RM
		for i := range t.nparams {
			if t.params[i] == 4 { // IRM
				t.insert = final == 'h'
			}
		}
	case 's': // SCOSC
		if t.nparams == 0 {
			t.saveCursor()
		}
	case 'u': // SCORC
		t.restoreCursor()
	}
}

func (t *TextRenderer) setPrivateMode(mode int, on bool) {
	switch mode {
	case 7: // DECAWM
		t.noWrap = !on
	case 47, 1047, 1049:
		if on == t.alt {
			return
		}
		t.alt = on
		if !on {
			return
		}
		// Write what the main screen shows first, so the transcript
		// keeps the order things happened in. The cursor's column is
		// kept: 1049 restores the cursor when the program exits.
		if !t.lineBlank() {
			col := t.col()
			t.emitLine()
			t.cur = col
			t.joined = true // the newline that ends it is not a blank line
		}
		t.wrapNext = false
		t.writeLine(AltScreenNotice)
	}
}

// print puts r on the screen at the cursor.
func (t *TextRenderer) print(r rune) {
	if t.alt || (r >= 0x80 && r < 0xa0) { // C1 controls are not printable
		return
	}
	w := displaywidth.Rune(r)
	if w == 0 {
		t.combine(r)
		return
	}
	if t.cols < 2 {
		w = 1
	}
	if t.wrapNext {
		t.wrapNext = false
		t.cur = t.rowStart() + t.cols
		t.trimTop()
	}
	if w == 2 && t.col() == t.cols-1 {
		if t.noWrap {
			t.cur--
		} else {
			t.cur++ // a wide character that does not fit wraps early
			t.trimTop()
		}
	}
	if t.insert {
		t.insertBlanks(w)
	}
	t.setCell(t.cur, cell{r: r, wide: w == 2})
	if w == 2 {
		t.setCell(t.cur+1, cell{r: wideTail})
	}
	if t.col()+w < t.cols {
		t.cur += w
		return
	}
	t.cur = t.rowStart() + t.cols - 1
	t.wrapNext = !t.noWrap
}

// combine attaches a zero-width character (a combining mark, a joiner, a
// variation selector) to the character before the cursor.
func (t *TextRenderer) combine(r rune) {
	i := t.cur - 1
	if t.wrapNext {
		i = t.cur
	}
	if i >= 0 && i < len(t.cells) && t.cells[i].r == wideTail {
		i--
	}
	if i < 0 || i >= len(t.cells) || t.cells[i].r == ' ' {
		return
	}
	if c := &t.cells[i]; len(c.extra)+utf8.RuneLen(r) <= maxExtra {
		c.extra += string(r)
	}
}

func (t *TextRenderer) col() int      { return t.cur % t.cols }
func (t *TextRenderer) rowStart() int { return t.cur - t.cur%t.cols }

// lastRowStart returns where the logical line's last row starts.
func (t *TextRenderer) lastRowStart() int {
	end := max(t.cur, len(t.cells)-1)
	return end - end%t.cols
}

func (t *TextRenderer) setCol(c int) {
	t.wrapNext = false
	t.cur = t.rowStart() + max(0, min(c, t.cols-1))
}

func (t *TextRenderer) up(n int) {
	t.wrapNext = false
	t.cur -= min(n, t.cur/t.cols) * t.cols
}

func (t *TextRenderer) down(n int) {
	t.wrapNext = false
	t.cur += min(n, (t.lastRowStart()-t.rowStart())/t.cols) * t.cols
}

func (t *TextRenderer) tab(n int) {
	if t.wrapNext {
		return // at the last column already
	}
	c := t.col()
	for ; n > 0; n-- {
		c = (c/tabWidth + 1) * tabWidth
		if c >= t.cols {
			break
		}
	}
	t.setCol(c)
}

func (t *TextRenderer) lineFeed() {
	t.wrapNext = false
	if t.rowStart() < t.lastRowStart() {
		t.cur += t.cols
		return
	}
	col := t.col()
	if t.joined && len(t.cells) == 0 {
		t.joined = false
		t.gen++
	} else {
		t.emitLine()
	}
	t.cur = col
}

func (t *TextRenderer) saveCursor() {
	t.saved, t.savedCol, t.savedGen = t.cur, t.col(), t.gen
}

func (t *TextRenderer) restoreCursor() {
	if t.saved < 0 {
		return
	}
	t.wrapNext = false
	if t.savedGen == t.gen && t.saved <= t.lastRowStart()+t.cols-1 {
		t.cur = t.saved
		return
	}
	// The saved position is on a line already written out.
	t.setCol(t.savedCol)
}

// setCell writes c at index i, padding the line with blanks up to it. A
// wide character that is half overwritten loses its other half too.
func (t *TextRenderer) setCell(i int, c cell) {
	for len(t.cells) <= i {
		t.cells = append(t.cells, blank)
	}
	old := t.cells[i]
	if old.r == wideTail && i > 0 && t.cells[i-1].wide {
		t.cells[i-1] = blank
	}
	if old.wide && c.r != wideTail && i+1 < len(t.cells) && t.cells[i+1].r == wideTail {
		t.cells[i+1] = blank
	}
	t.cells[i] = c
}

// blankRange erases cells [i, j), clipped to the line's contents.
func (t *TextRenderer) blankRange(i, j int) {
	j = min(j, len(t.cells))
	for ; i < j; i++ {
		t.setCell(i, blank)
	}
}

// truncate erases everything from index i on.
func (t *TextRenderer) truncate(i int) {
	if i >= len(t.cells) {
		return
	}
	if i > 0 && t.cells[i].r == wideTail {
		t.cells[i-1] = blank
	}
	t.cells = t.cells[:i]
}

func (t *TextRenderer) eraseLine(mode int) {
	t.wrapNext = false
	start := t.rowStart()
	switch mode {
	case 0:
		if start+t.cols >= len(t.cells) {
			t.truncate(t.cur)
		} else {
			t.blankRange(t.cur, start+t.cols)
		}
	case 1:
		t.blankRange(start, t.cur+1)
	case 2:
		if start+t.cols >= len(t.cells) {
			t.truncate(start)
		} else {
			t.blankRange(start, start+t.cols)
		}
	}
}

func (t *TextRenderer) eraseDisplay(mode int) {
	t.wrapNext = false
	switch mode {
	case 0:
		t.truncate(t.cur)
	case 1:
		t.blankRange(0, t.cur+1)
	case 2, 3:
		t.cells = t.cells[:0]
	}
}

func (t *TextRenderer) deleteChars(n int) {
	t.wrapNext = false
	start := t.rowStart()
	end := min(start+t.cols, len(t.cells))
	if t.cur >= end {
		return
	}
	n = min(n, end-t.cur)
	copy(t.cells[t.cur:], t.cells[t.cur+n:end])
	if end == len(t.cells) {
		t.cells = t.cells[:end-n]
	} else {
		t.blankRange(end-n, end)
	}
}

func (t *TextRenderer) insertBlanks(n int) {
	t.wrapNext = false
	if t.cur >= len(t.cells) {
		return // inserting into blank space changes nothing
	}
	start := t.rowStart()
	end := start + t.cols
	if end > len(t.cells) {
		end = min(end, len(t.cells)+n)
		for len(t.cells) < end {
			t.cells = append(t.cells, blank)
		}
	}
	n = min(n, end-t.cur)
	copy(t.cells[t.cur+n:end], t.cells[t.cur:end-n])
	for i := t.cur; i < t.cur+n; i++ {
		t.cells[i] = blank
	}
}

// trimTop writes out the rows above the cursor once the logical line is
// too long to keep.
func (t *TextRenderer) trimTop() {
	if max(t.cur, len(t.cells)) < maxLineCells {
		return
	}
	k := t.rowStart()
	if k == 0 {
		return
	}
	t.emitRows(t.cells[:min(k, len(t.cells))])
	n := copy(t.cells, t.cells[min(k, len(t.cells)):])
	t.cells = t.cells[:n]
	t.cur -= k
	t.saved = -1
}

func (t *TextRenderer) lineBlank() bool {
	for _, c := range t.cells {
		if c.r != ' ' {
			return false
		}
	}
	return true
}

// emitLine writes out the logical line and starts a new, empty one.
func (t *TextRenderer) emitLine() {
	if len(t.cells) == 0 {
		t.writeLine("")
	} else {
		t.emitRows(t.cells)
	}
	t.cells = t.cells[:0]
	t.gen++
	t.joined = false
}

func (t *TextRenderer) emitRows(cells []cell) {
	t.out = t.appendRows(t.out[:0], cells)
	t.write(t.out)
}

// Line returns the text of the current logical line as the terminal
// shows it, its rows joined as joinRows does.
func (t *TextRenderer) Line() string {
	join := t.joinRows
	t.joinRows = true
	b := t.appendRows(nil, t.cells)
	t.joinRows = join
	return strings.TrimSuffix(string(b), "\n")
}

// appendRows appends cells as rows of the terminal's width, each without
// trailing spaces and ended by "\n"; with joinRows, as one line.
func (t *TextRenderer) appendRows(b []byte, cells []cell) []byte {
	line := len(b)
	for len(cells) > 0 {
		row := cells[:min(t.cols, len(cells))]
		cells = cells[len(row):]
		start := len(b)
		if t.joinRows {
			start = line
		}
		for i, c := range row {
			switch {
			case c.r == wideTail && i > 0 && row[i-1].wide:
				continue
			case c.r == wideTail:
				b = append(b, ' ')
			case c.r < utf8.RuneSelf && c.extra == "":
				b = append(b, byte(c.r))
			default:
				b = utf8.AppendRune(b, c.r)
				b = append(b, c.extra...)
			}
		}
		if t.joinRows && len(cells) > 0 {
			continue // the line goes on: its spaces are in it
		}
		for len(b) > start && b[len(b)-1] == ' ' {
			b = b[:len(b)-1]
		}
		b = append(b, '\n')
	}
	return b
}

func (t *TextRenderer) writeLine(s string) {
	b := append(append(t.out[:0], s...), '\n')
	t.out = b
	t.write(b)
}

func (t *TextRenderer) write(b []byte) {
	if t.err != nil {
		return
	}
	_, t.err = t.w.Write(b)
}
