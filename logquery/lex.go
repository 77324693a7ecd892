package logquery

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF      tokKind = iota
	tErr              // a lexical error; val is the message
	tIdent            // bare word: a field name, keyword, command or function
	tQuoted           // `back-quoted field name`
	tString           // "..." or '...'; val is the decoded text
	tRegex            // /.../; val is the pattern as written
	tNumber           // 12, 1.5, 2e3
	tDuration         // 5m, 1hr: a number with a unit, only for bin()
	tPipe
	tComma
	tLParen
	tRParen
	tLBrack
	tRBrack
	tStar
	tMinus
	tEq
	tNe
	tLt
	tLe
	tGt
	tGe
	tMatch // =~
)

type token struct {
	kind tokKind
	pos  int    // byte offset in the query
	text string // source text
	val  string // decoded value; see tokKind
}

// describe renders a token for "found ..." in error messages.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		return "string " + quoteString(t.val)
	case tRegex:
		return "regex " + t.text
	}
	s := t.text
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40]) + "..."
	}
	return fmt.Sprintf("%q", s)
}

// lex splits q into tokens. A lexical error becomes a tErr token that ends
// the stream, so the parser reports whichever error comes first in the
// query, and the caller always gets a final tEOF or tErr.
func lex(q string) []token {
	var toks []token
	i := 0
	for {
		// Skip white space and # comments.
		for i < len(q) {
			c := q[i]
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
				i++
				continue
			}
			if c == '#' {
				for i < len(q) && q[i] != '\n' {
					i++
				}
				continue
			}
			break
		}
		if i >= len(q) {
			return append(toks, token{kind: tEOF, pos: len(q)})
		}
		t := lexOne(q, i)
		toks = append(toks, t)
		if t.kind == tErr {
			return toks
		}
		i = t.pos + len(t.text)
	}
}

var punct = map[string]tokKind{
	"|": tPipe, ",": tComma, "(": tLParen, ")": tRParen, "[": tLBrack, "]": tRBrack,
	"*": tStar, "-": tMinus, "=": tEq, "!=": tNe, "<": tLt, "<=": tLe, ">": tGt,
	">=": tGe, "=~": tMatch,
}

func lexOne(q string, i int) token {
	c := q[i]
	switch {
	case c == '"' || c == '\'':
		return lexString(q, i)
	case c == '`':
		j := strings.IndexByte(q[i+1:], '`')
		if j < 0 {
			return errTok(i, "unterminated `field name`: add the closing back quote")
		}
		if j == 0 {
			return errTok(i, "empty `` field name")
		}
		return token{kind: tQuoted, pos: i, text: q[i : i+j+2], val: q[i+1 : i+1+j]}
	case c == '/':
		return lexRegex(q, i)
	case isDigit(c):
		return lexNumber(q, i)
	}
	if r, n := utf8.DecodeRuneInString(q[i:]); isIdentStart(r) {
		j := i + n
		for j < len(q) {
			r, n := utf8.DecodeRuneInString(q[j:])
			if !isIdentRune(r) {
				break
			}
			j += n
		}
		name := q[i:j]
		if !validDots(name) {
			return errTok(i, fmt.Sprintf("malformed field name %q: a dot must separate two names", name))
		}
		return token{kind: tIdent, pos: i, text: name, val: name}
	}
	if i+1 < len(q) {
		if k, ok := punct[q[i:i+2]]; ok {
			return token{kind: k, pos: i, text: q[i : i+2]}
		}
	}
	if k, ok := punct[q[i:i+1]]; ok {
		return token{kind: k, pos: i, text: q[i : i+1]}
	}
	r, _ := utf8.DecodeRuneInString(q[i:])
	if c == '!' {
		return errTok(i, `unexpected "!": use "not" or "!="`)
	}
	return errTok(i, fmt.Sprintf("unexpected character %q", r))
}

func errTok(pos int, msg string) token { return token{kind: tErr, pos: pos, val: msg} }

// Bare field names are letters, digits, '_', '@' and '.', as Insights
// allows; anything else needs back quotes.
func isIdentStart(r rune) bool {
	return r == '_' || r == '@' || unicode.IsLetter(r)
}

func isIdentRune(r rune) bool {
	return isIdentStart(r) || r == '.' || unicode.IsDigit(r)
}

// validDots reports whether a bare name has no empty dot-separated part.
func validDots(s string) bool {
	return !strings.HasPrefix(s, ".") && !strings.HasSuffix(s, ".") && !strings.Contains(s, "..")
}

// lexString reads a quoted string. Backslash escapes \\, \", \', \n, \r
// and \t are decoded; any other backslash is kept as written, so regex-like
// text such as "\d" means what it looks like.
func lexString(q string, i int) token {
	quote := q[i]
	var b strings.Builder
	j := i + 1
	for j < len(q) {
		c := q[j]
		switch {
		case c == quote:
			return token{kind: tString, pos: i, text: q[i : j+1], val: b.String()}
		case c == '\\' && j+1 < len(q):
			switch e := q[j+1]; e {
			case '\\', '"', '\'':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
			j += 2
		default:
			b.WriteByte(c)
			j++
		}
	}
	return errTok(i, fmt.Sprintf("unterminated string: add the closing %c", quote))
}

// lexRegex reads /pattern/. A backslash escapes the next character, so \/
// is a slash in the pattern; the pattern is kept as written, since RE2
// accepts \/ too.
func lexRegex(q string, i int) token {
	j := i + 1
	for j < len(q) {
		switch q[j] {
		case '\\':
			j += 2
			continue
		case '/':
			t := token{kind: tRegex, pos: i, text: q[i : j+1], val: q[i+1 : j]}
			if looksLikeFlags(q[j+1:]) {
				return errTok(j+1, "regex flags after the closing / are not supported: start the pattern with (?i) for a case-insensitive match, as Insights does")
			}
			return t
		}
		j++
	}
	return errTok(i, "unterminated regex: add the closing /")
}

// looksLikeFlags reports whether s starts with what another dialect would
// take as regex flags (/x/i), so the error can say what to write instead.
func looksLikeFlags(s string) bool {
	n := 0
	for n < len(s) && strings.IndexByte("imsuxgU", s[n]) >= 0 {
		n++
	}
	if n == 0 || n > 3 {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[n:])
	return n == len(s) || !isIdentRune(r)
}

// lexNumber reads a number, or a number with a time unit such as 5m.
func lexNumber(q string, i int) token {
	j := i
	for j < len(q) && isDigit(q[j]) {
		j++
	}
	if j+1 < len(q) && q[j] == '.' && isDigit(q[j+1]) {
		j++
		for j < len(q) && isDigit(q[j]) {
			j++
		}
	}
	if j < len(q) && (q[j] == 'e' || q[j] == 'E') {
		k := j + 1
		if k < len(q) && (q[k] == '+' || q[k] == '-') {
			k++
		}
		if k < len(q) && isDigit(q[k]) {
			for k < len(q) && isDigit(q[k]) {
				k++
			}
			j = k
		}
	}
	num := j
	for j < len(q) && isASCIILetter(q[j]) {
		j++
	}
	if j < len(q) {
		if r, _ := utf8.DecodeRuneInString(q[j:]); isIdentRune(r) {
			// 5abc_ or 5.x: not a number and not a field name.
			k := j
			for k < len(q) {
				r, n := utf8.DecodeRuneInString(q[k:])
				if !isIdentRune(r) {
					break
				}
				k += n
			}
			return errTok(i, fmt.Sprintf("malformed number %q: field names cannot start with a digit unless back-quoted", q[i:k]))
		}
	}
	if j > num {
		return token{kind: tDuration, pos: i, text: q[i:j], val: q[i:j]}
	}
	return token{kind: tNumber, pos: i, text: q[i:j], val: q[i:j]}
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// quoteString renders s as a double-quoted string that lexString reads
// back as s. Only the characters lexString treats specially are escaped;
// everything else, invalid UTF-8 included, is written as is.
func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// reserved words cannot be bare field names; quote them with back quotes.
var reserved = map[string]bool{
	"and": true, "or": true, "not": true, "like": true, "in": true,
	"as": true, "by": true, "asc": true, "desc": true,
}

func isReserved(s string) bool { return reserved[strings.ToLower(s)] }

// quoteField renders a field name, bare when the lexer would read it back
// as the same identifier, else in back quotes.
func quoteField(s string) string {
	if isBareName(s) {
		return s
	}
	return "`" + s + "`"
}

func isBareName(s string) bool {
	if s == "" || isReserved(s) || !validDots(s) {
		return false
	}
	for i, r := range s {
		if r == utf8.RuneError {
			return false
		}
		if i == 0 && !isIdentStart(r) || !isIdentRune(r) {
			return false
		}
	}
	return true
}
