package document

import (
	"errors"
	"fmt"
	"strings"
)

// Parameters in commands are data. Resolve puts each value into a command
// as one single-quoted shell word ('it'\''s'), so that no value, whatever
// it holds, can add shell syntax. That is only sound where the shell reads
// a plain word: inside double quotes, backquotes, a comment or a
// here-document, single quotes are not quoting, and a value could break
// out. So before substituting, checkPlaceholders reads the command as
// POSIX sh (and bash) would, far enough to know where each placeholder
// stands, and refuses the ones that are not in a plain word.
//
// The reading is deliberately conservative. Where shells differ or the
// reading would need a full parser ($'...', quotes inside ${...}, case
// inside $(...)), it refuses the command rather than guess; authors can
// always assign the parameter to a variable first (v={{ x }}) and use "$v"
// however they like.
//
// The exception is a command line that is nothing but one placeholder, as
// in AWS-StartInteractiveCommand's "commands": "{{ command }}": there the
// document says that the parameter is the command, and it is put in as
// written. Such a line must stand where a command can start.

// shellQuote returns s as one single-quoted sh word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// hole is where a placeholder stands in a command script.
type hole struct {
	start, end int    // s[start:end] is the placeholder as written
	raw        bool   // the placeholder is a whole command line
	name       string // the parameter
}

func (h hole) text(s string) string { return s[h.start:h.end] }

type shellContext int

const (
	ctxTop       shellContext = iota // a command: placeholders become words here
	ctxSubst                         // $(...), <(...), >(...): commands again
	ctxSingle                        // '...'
	ctxDouble                        // "..."
	ctxBackquote                     // `...`
	ctxParam                         // ${...}
	ctxArith                         // $((...))
	ctxArithCmd                      // ((...))
	ctxComment                       // # to the end of the line
	ctxHeredoc                       // the body of a here-document
)

var contextNames = map[shellContext]string{
	ctxSubst:     "inside $(...)",
	ctxSingle:    "inside single quotes",
	ctxDouble:    "inside double quotes",
	ctxBackquote: "inside backquotes",
	ctxParam:     "inside ${...}",
	ctxArith:     "inside $((...))",
	ctxArithCmd:  "inside ((...))",
	ctxComment:   "inside a comment",
	ctxHeredoc:   "inside a here-document",
}

type frame struct {
	kind      shellContext
	depth     int    // open parentheses or braces within this frame
	delim     string // here-document delimiter
	stripTabs bool   // <<-
	lineStart bool   // here-document: at the start of a line
}

type shellLexer struct {
	s         string
	holes     []hole
	h         int // the next hole
	stack     []frame
	wordStart bool    // the next byte would start a word (so # starts a comment)
	lineStart bool    // the next byte starts a line (not a continued one)
	pending   []frame // here-documents whose bodies start after the next newline
}

// checkPlaceholders reports the first placeholder in script that does not
// stand where a single-quoted word is read as one plain word (or, for a raw
// one, where a command starts), or why script cannot be checked. holes must
// be sorted and not overlap.
func checkPlaceholders(script string, holes []hole) error {
	if len(holes) == 0 {
		return nil
	}
	l := &shellLexer{s: script, holes: holes, stack: []frame{{kind: ctxTop}}, wordStart: true, lineStart: true}
	i := 0
	for i < len(script) {
		if l.h < len(holes) && holes[l.h].start < i {
			// Skipped over by a multi-byte step: it cannot be in a word.
			return l.misplaced(holes[l.h], "somewhere it cannot be checked")
		}
		if l.holeAt(i) {
			h := holes[l.h]
			if err := l.place(h); err != nil {
				return err
			}
			l.h++
			i = h.end
			l.wordStart, l.lineStart = false, false
			continue
		}
		var err error
		if i, err = l.step(i); err != nil {
			return err
		}
	}
	if l.h < len(holes) {
		return l.misplaced(holes[l.h], "somewhere it cannot be checked")
	}
	return nil
}

func (l *shellLexer) top() *frame { return &l.stack[len(l.stack)-1] }

func (l *shellLexer) push(k shellContext) { l.stack = append(l.stack, frame{kind: k}) }

func (l *shellLexer) pop() error {
	if l.top().kind == ctxSubst && len(l.pending) > 0 {
		return unsupported("a here-document that starts inside $(...) and ends outside it")
	}
	if len(l.stack) > 1 {
		l.stack = l.stack[:len(l.stack)-1]
	}
	return nil
}

func (l *shellLexer) holeAt(i int) bool { return l.h < len(l.holes) && l.holes[l.h].start == i }

// holeBefore reports whether the next hole starts before end.
func (l *shellLexer) holeBefore(end int) bool { return l.h < len(l.holes) && l.holes[l.h].start < end }

func (l *shellLexer) at(i int) byte {
	if i < len(l.s) {
		return l.s[i]
	}
	return 0
}

func (l *shellLexer) misplaced(h hole, where string) error {
	return fmt.Errorf("%s is %s, where its value could not be kept as data; put it outside quotes and expansions (values are quoted for you)", h.text(l.s), where)
}

func unsupported(what string) error {
	return fmt.Errorf("cannot check that parameters stay data in a command that uses %s; assign the parameter to a variable first (v={{ name }}) and use \"$v\"", what)
}

// place checks the hole at the current position.
func (l *shellLexer) place(h hole) error {
	f := l.top()
	if h.raw {
		// Alone on its line, it is the command itself, which is only what
		// the author meant where a command can start.
		if f.kind != ctxTop {
			return fmt.Errorf("%s, alone on its line, is a whole command, but it is %s", h.text(l.s), contextNames[f.kind])
		}
		if !l.lineStart || !l.wordStart {
			return fmt.Errorf("%s, alone on its line, is a whole command, but it continues the line before", h.text(l.s))
		}
		return nil
	}
	if f.kind == ctxTop || f.kind == ctxSubst {
		return nil
	}
	return l.misplaced(h, contextNames[f.kind])
}

// step reads the byte at i in the current context and returns where to go on.
func (l *shellLexer) step(i int) (int, error) {
	lineStart := l.lineStart
	l.lineStart = false
	switch l.top().kind {
	case ctxTop, ctxSubst:
		return l.stepCommand(i, lineStart)
	case ctxSingle:
		if l.s[i] == '\'' {
			l.wordStart = false
			return i + 1, l.pop()
		}
		return i + 1, nil
	case ctxDouble:
		return l.stepDouble(i)
	case ctxBackquote:
		switch l.s[i] {
		case '\\':
			if l.holeAt(i + 1) {
				return 0, l.misplaced(l.holes[l.h], contextNames[ctxBackquote])
			}
			return i + 2, nil
		case '`':
			l.wordStart = false
			return i + 1, l.pop()
		}
		return i + 1, nil
	case ctxParam:
		return l.stepParam(i)
	case ctxArith, ctxArithCmd:
		return l.stepArith(i)
	case ctxComment:
		if l.s[i] == '\n' {
			return i, l.pop() // the newline ends a command too: read it there
		}
		return i + 1, nil
	case ctxHeredoc:
		return l.stepHeredoc(i)
	}
	return 0, errors.New("internal error: unknown shell context")
}

func (l *shellLexer) stepCommand(i int, lineStart bool) (int, error) {
	c := l.s[i]
	switch c {
	case '\\':
		if l.holeAt(i + 1) {
			return 0, l.misplaced(l.holes[l.h], "after a backslash")
		}
		if l.at(i+1) == '\n' {
			return i + 2, nil // a line continuation is not there at all
		}
		l.wordStart = false
		return i + 2, nil
	case '\'':
		l.push(ctxSingle)
		return i + 1, nil
	case '"':
		l.push(ctxDouble)
		return i + 1, nil
	case '`':
		l.push(ctxBackquote)
		return i + 1, nil
	case '$':
		return l.dollar(i)
	case '#':
		if l.wordStart {
			l.push(ctxComment)
			return i + 1, nil
		}
	case '\n':
		// Here-document bodies start on the next line, first one first.
		for k := len(l.pending) - 1; k >= 0; k-- {
			l.stack = append(l.stack, l.pending[k])
		}
		l.pending = nil
		l.wordStart, l.lineStart = true, true
		return i + 1, nil
	case '<', '>':
		if l.at(i+1) == '(' { // bash process substitution
			l.push(ctxSubst)
			l.wordStart = true
			return i + 2, nil
		}
		if c == '<' && l.at(i+1) == '<' {
			if l.at(i+2) == '<' { // here-string: a word follows
				l.wordStart = true
				return i + 3, nil
			}
			return l.heredoc(i + 2)
		}
		l.wordStart = true
		return i + 1, nil
	case '(':
		if l.wordStart && l.at(i+1) == '(' { // bash arithmetic command
			l.push(ctxArithCmd)
			return i + 2, nil
		}
		if f := l.top(); f.kind == ctxSubst {
			f.depth++
		}
		l.wordStart = true
		return i + 1, nil
	case ')':
		if f := l.top(); f.kind == ctxSubst {
			if f.depth == 0 {
				l.wordStart = false // $(...) is part of a word
				return i + 1, l.pop()
			}
			f.depth--
		}
		l.wordStart = true
		return i + 1, nil
	case ' ', '\t':
		l.wordStart, l.lineStart = true, lineStart // indenting keeps the line start
		return i + 1, nil
	case ';', '&', '|':
		l.wordStart = true
		return i + 1, nil
	}
	if l.top().kind == ctxSubst && l.wordStart && l.isWord(i, "case") {
		// Its patterns end in unbalanced parentheses, which only a full
		// parser can tell from the end of the $(...).
		return 0, unsupported("case inside $(...)")
	}
	l.wordStart = false
	return i + 1, nil
}

func (l *shellLexer) isWord(i int, w string) bool {
	if !strings.HasPrefix(l.s[i:], w) {
		return false
	}
	switch l.at(i + len(w)) {
	case 0, ' ', '\t', '\n', ';':
		return true
	}
	return false
}

// dollar reads an expansion starting with the $ at i, in a command or in
// double quotes.
func (l *shellLexer) dollar(i int) (int, error) {
	if l.holeAt(i + 1) {
		// ${{ x }} and $'...' are not one plain word.
		return 0, l.misplaced(l.holes[l.h], "right after a $")
	}
	inDouble := l.top().kind == ctxDouble
	switch l.at(i + 1) {
	case '\'':
		if !inDouble {
			// bash reads \' inside it as a quote, dash as the end of it.
			return 0, unsupported("$'...' quoting")
		}
	case '[':
		return 0, unsupported("$[...] arithmetic")
	case '{':
		l.push(ctxParam)
		return i + 2, nil
	case '(':
		if l.at(i+2) == '(' {
			l.push(ctxArith)
			return i + 3, nil
		}
		l.push(ctxSubst)
		l.wordStart = true
		return i + 2, nil
	}
	if !inDouble {
		l.wordStart = false
	}
	return i + 1, nil
}

func (l *shellLexer) stepDouble(i int) (int, error) {
	switch l.s[i] {
	case '\\':
		if l.holeAt(i + 1) {
			return 0, l.misplaced(l.holes[l.h], contextNames[ctxDouble])
		}
		return i + 2, nil
	case '"':
		l.wordStart = false
		return i + 1, l.pop()
	case '`':
		l.push(ctxBackquote)
		return i + 1, nil
	case '$':
		return l.dollar(i)
	}
	return i + 1, nil
}

func (l *shellLexer) stepParam(i int) (int, error) {
	f := l.top()
	switch l.s[i] {
	case '\\':
		if l.holeAt(i + 1) {
			return 0, l.misplaced(l.holes[l.h], contextNames[ctxParam])
		}
		return i + 2, nil
	case '{':
		f.depth++
	case '}':
		if f.depth == 0 {
			l.wordStart = false
			return i + 1, l.pop()
		}
		f.depth--
	case '\'', '"', '`':
		// Whether these quote inside ${...} depends on the shell, the
		// operator and whether the whole is in double quotes.
		return 0, unsupported("quotes inside ${...}")
	case '$':
		return l.dollar(i)
	}
	return i + 1, nil
}

func (l *shellLexer) stepArith(i int) (int, error) {
	f := l.top()
	switch l.s[i] {
	case '\\':
		if l.holeAt(i + 1) {
			return 0, l.misplaced(l.holes[l.h], contextNames[f.kind])
		}
		return i + 2, nil
	case '(':
		f.depth++
	case ')':
		if f.depth > 0 {
			f.depth--
			break
		}
		if l.at(i+1) != ')' {
			// $((a) ...) is a command substitution after all, to bash.
			return 0, unsupported("$(( or (( that is not arithmetic")
		}
		l.wordStart = f.kind == ctxArithCmd
		return i + 2, l.pop()
	case '\'', '"', '`':
		return 0, unsupported("quotes inside arithmetic")
	case '$':
		return l.dollar(i)
	}
	return i + 1, nil
}

// heredoc reads the delimiter of a here-document whose << ends before i.
func (l *shellLexer) heredoc(i int) (int, error) {
	hd := frame{kind: ctxHeredoc, lineStart: true}
	if l.at(i) == '-' {
		hd.stripTabs = true
		i++
	}
	for l.at(i) == ' ' || l.at(i) == '\t' {
		i++
	}
	var delim strings.Builder
	for i < len(l.s) {
		if l.holeAt(i) {
			return 0, l.misplaced(l.holes[l.h], "in a here-document delimiter")
		}
		c := l.s[i]
		if strings.IndexByte(" \t\n;&|()<>", c) >= 0 {
			break
		}
		switch c {
		case '\\':
			if l.holeAt(i + 1) {
				return 0, l.misplaced(l.holes[l.h], "in a here-document delimiter")
			}
			delim.WriteByte(l.at(i + 1))
			i += 2
		case '\'', '"':
			j := strings.IndexByte(l.s[i+1:], c)
			if j < 0 || (c == '"' && strings.ContainsAny(l.s[i+1:i+1+j], "\\$`")) {
				return 0, unsupported("an unusual here-document delimiter")
			}
			if l.holeBefore(i + 2 + j) {
				return 0, l.misplaced(l.holes[l.h], "in a here-document delimiter")
			}
			delim.WriteString(l.s[i+1 : i+1+j])
			i += j + 2
		case '$', '`':
			return 0, unsupported("an expansion in a here-document delimiter")
		default:
			delim.WriteByte(c)
			i++
		}
	}
	if delim.Len() == 0 {
		return 0, unsupported("<< without a here-document delimiter")
	}
	hd.delim = delim.String()
	l.pending = append(l.pending, hd)
	l.wordStart = false
	return i, nil
}

func (l *shellLexer) stepHeredoc(i int) (int, error) {
	f := l.top()
	if f.lineStart {
		end := strings.IndexByte(l.s[i:], '\n')
		if end < 0 {
			end = len(l.s)
		} else {
			end += i
		}
		line := l.s[i:end]
		if f.stripTabs {
			line = strings.TrimLeft(line, "\t")
		}
		if line == f.delim && !l.holeBefore(end) {
			l.wordStart, l.lineStart = true, true
			if end < len(l.s) {
				end++ // the delimiter line's newline
			}
			return end, l.pop()
		}
		if strings.HasSuffix(line, `\`) {
			// Joins the next line to it in some shells and here-documents
			// and not others, which decides where the body ends.
			return 0, unsupported("a here-document line that ends in a backslash")
		}
		f.lineStart = false
	}
	if l.s[i] == '\n' {
		f.lineStart = true
	}
	return i + 1, nil
}
