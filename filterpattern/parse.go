package filterpattern

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

type parser struct {
	src    string
	pos    int
	nregex int // regular expressions seen, for the per-pattern quota
	nwild  int // wildcard selectors seen, for the per-pattern quota
}

func newSyntaxError(src string, off int, msg string) *SyntaxError {
	line, col := 1, 1
	for _, r := range src[:off] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &SyntaxError{Offset: off, Line: line, Column: col, Msg: msg}
}

func (p *parser) errAt(off int, msg string) *SyntaxError {
	return newSyntaxError(p.src, off, msg)
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

// peek returns the byte at the cursor, or 0 at the end.
func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func (p *parser) hasPrefix(s string) bool { return strings.HasPrefix(p.src[p.pos:], s) }

func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// isWord reports whether s can be written as an unquoted term: the docs
// ask for quotes around "terms that include non-alphanumeric characters",
// and the underscore is allowed.
func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' {
			return false
		}
	}
	return s != ""
}

// quoteRune describes the character at src[off] for an error message.
func quoteRune(src string, off int) string {
	if off >= len(src) {
		return "end of pattern"
	}
	r, _ := utf8.DecodeRuneInString(src[off:])
	return strconv.QuoteRune(r)
}

// quote writes s as a double-quoted pattern string. Only the quote and
// the backslash are escaped, as those are the only escapes the parser
// understands; everything else, newlines included, is written as is.
func quote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// parseQuoted parses a string quoted with q, the byte at the cursor. Within
// it, a backslash escapes q or a backslash; any other backslash is
// literal, so that "C:\temp" means what it says.
func (p *parser) parseQuoted() (string, error) {
	start := p.pos
	q := p.src[start]
	var b []byte // nil until the first escape
	from := start + 1
	for i := start + 1; i < len(p.src); i++ {
		switch c := p.src[i]; {
		case c == '\\' && i+1 < len(p.src) && (p.src[i+1] == q || p.src[i+1] == '\\'):
			b = append(b, p.src[from:i]...)
			from = i + 1
			i++
		case c == q:
			p.pos = i + 1
			if b == nil {
				return p.src[from:i], nil
			}
			return string(append(b, p.src[from:i]...)), nil
		}
	}
	return "", p.errAt(start, "unterminated string: missing closing "+strconv.QuoteRune(rune(q)))
}

// Unstructured terms.

type termMode uint8

const (
	termInclude termMode = iota
	termExclude
	termOptional
)

type term struct {
	mode termMode
	text string
}

func (t term) format(b *strings.Builder) {
	switch t.mode {
	case termExclude:
		b.WriteByte('-')
	case termOptional:
		b.WriteByte('?')
	}
	if isWord(t.text) {
		b.WriteString(t.text)
	} else {
		quote(b, t.text)
	}
}

func (p *parser) parseTerms() (*Pattern, error) {
	pat := &Pattern{kind: kindTerms}
	for {
		p.skipSpace()
		if p.eof() {
			return pat, nil
		}
		start := p.pos
		mode := termInclude
		switch p.peek() {
		case '-':
			mode = termExclude
			p.pos++
		case '?':
			mode = termOptional
			p.pos++
		}
		if mode != termInclude {
			// The older docs write `"ERROR" - "Exiting"`, with a space
			// after the minus; a lone - or ? could mean nothing else.
			p.skipSpace()
			if p.eof() {
				return nil, p.errAt(start, fmt.Sprintf("expected a term after %q", p.src[start:start+1]))
			}
		}
		var text string
		if p.peek() == '"' {
			s, err := p.parseQuoted()
			if err != nil {
				return nil, err
			}
			if isBlank(s) {
				// The docs' "match everything" patterns, "" and " ". As
				// an exclusion or alternative a blank term would exclude
				// or admit everything, which is surely a mistake.
				if mode != termInclude {
					return nil, p.errAt(start, fmt.Sprintf("empty term after %q", p.src[start:start+1]))
				}
				continue
			}
			text = s
		} else {
			// The docs want terms with non-alphanumeric characters quoted,
			// but do not say what happens otherwise; taking the word
			// literally is the least surprising reading.
			from := p.pos
			for !p.eof() && !isSpace(p.peek()) {
				if p.peek() == '"' {
					return nil, p.errAt(p.pos, `unexpected '"' inside a term; quote the whole term`)
				}
				p.pos++
			}
			text = p.src[from:p.pos]
		}
		pat.terms = append(pat.terms, term{mode: mode, text: text})
	}
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			return false
		}
	}
	return true
}

func (p *Pattern) matchTerms(msg string) bool {
	hasRequired := false
	for _, t := range p.terms {
		switch t.mode {
		case termInclude:
			hasRequired = true
			if !strings.Contains(msg, t.text) {
				return false
			}
		case termExclude:
			hasRequired = true
			if strings.Contains(msg, t.text) {
				return false
			}
		}
	}
	if hasRequired {
		// "If you combine "?" with other filter patterns, all question
		// mark terms will be ignored."
		return true
	}
	optional := false
	for _, t := range p.terms {
		if t.mode == termOptional {
			optional = true
			if strings.Contains(msg, t.text) {
				return true
			}
		}
	}
	return !optional
}

// Regular expressions.

func (p *parser) parseRegexPattern() (*Pattern, error) {
	re, err := p.parseRegex()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.eof() {
		return nil, p.errAt(p.pos, "a regular expression must be the whole filter pattern; unexpected "+quoteRune(p.src, p.pos)+" after it")
	}
	return &Pattern{kind: kindRegex, re: re}, nil
}

// parseRegex parses a %...% expression at the cursor.
func (p *parser) parseRegex() (*regex, error) {
	start := p.pos
	n := strings.IndexByte(p.src[start+1:], '%')
	if n < 0 {
		return nil, p.errAt(start, `unterminated regular expression: missing closing "%"`)
	}
	src := p.src[start+1 : start+1+n]
	if src == "" {
		return nil, p.errAt(start, "empty regular expression")
	}
	re, off, msg := compileRegex(src)
	if re == nil {
		return nil, p.errAt(start+1+off, msg)
	}
	p.pos = start + 2 + n
	p.nregex++
	return &regex{src: src, re: re}, nil
}

// Values and comparisons, shared by JSON and space-delimited patterns.

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var opNames = [...]string{opEq: "=", opNe: "!=", opLt: "<", opLe: "<=", opGt: ">", opGe: ">="}

func (op cmpOp) String() string { return opNames[op] }

// numeric reports whether op compares only numbers.
func (op cmpOp) numeric() bool { return op >= opLt }

// parseOp parses a comparison operator at the cursor.
func (p *parser) parseOp() (cmpOp, bool) {
	switch {
	case p.hasPrefix("!="):
		p.pos += 2
		return opNe, true
	case p.hasPrefix("<="):
		p.pos += 2
		return opLe, true
	case p.hasPrefix(">="):
		p.pos += 2
		return opGe, true
	case p.hasPrefix("<"):
		p.pos++
		return opLt, true
	case p.hasPrefix(">"):
		p.pos++
		return opGt, true
	case p.hasPrefix("="):
		p.pos++
		return opEq, true
	}
	return 0, false
}

type valueKind uint8

const (
	valString valueKind = iota
	valNumber
	valRegex
)

// An operand is the right-hand side of a comparison.
type operand struct {
	kind valueKind
	text string  // the string, or the number as written
	num  float64 // valNumber
	re   *regex  // valRegex

	// valString: a leading and/or trailing * is a wildcard. core is the
	// rest, which must equal, prefix, suffix or occur in the value.
	core        string
	lead, trail bool
}

func stringOperand(s string) operand {
	core := strings.TrimLeft(s, "*")
	lead := len(core) < len(s)
	rest := strings.TrimRight(core, "*")
	trail := len(rest) < len(core)
	return operand{kind: valString, text: s, core: rest, lead: lead, trail: trail}
}

// format writes v. Strings are quoted in JSON patterns, as the docs write
// them there, and bare where they can be in space-delimited ones.
func (v *operand) format(b *strings.Builder, bare bool) {
	switch v.kind {
	case valNumber:
		b.WriteString(v.text)
	case valRegex:
		b.WriteByte('%')
		b.WriteString(v.re.src)
		b.WriteByte('%')
	default:
		if bare && isUnquotedValue(v.text) && !isNumberLiteral(v.text) {
			b.WriteString(v.text)
		} else {
			quote(b, v.text)
		}
	}
}

// isValueByte reports whether c may appear in an unquoted value. The docs
// say values other than letters, digits and underscores must be quoted;
// their own examples add the wildcard and the dot (123.123.*), and numbers
// need signs.
func isValueByte(c byte) bool {
	return isAlnum(c) || c == '_' || c == '.' || c == '*' || c == '+' || c == '-'
}

func isUnquotedValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isValueByte(s[i]) {
			return false
		}
	}
	return s != ""
}

// isValueEnd reports whether c ends an unquoted value.
func isValueEnd(c byte) bool {
	switch c {
	case ',', ']', '&', '|', ')', '}':
		return true
	}
	return isSpace(c)
}

// parseOperand parses the value after op, which has just been parsed.
func (p *parser) parseOperand(op cmpOp) (operand, error) {
	p.skipSpace()
	at := p.pos
	expected := fmt.Sprintf("expected a value after %q", op.String())
	if op.numeric() {
		expected = fmt.Sprintf("expected a number after %q", op.String())
	}
	if p.eof() {
		return operand{}, p.errAt(at, expected)
	}
	var v operand
	switch c := p.peek(); {
	case c == '"':
		s, err := p.parseQuoted()
		if err != nil {
			return operand{}, err
		}
		v = stringOperand(s)
	case c == '%':
		re, err := p.parseRegex()
		if err != nil {
			return operand{}, err
		}
		v = operand{kind: valRegex, text: re.src, re: re}
	case isValueByte(c):
		for !p.eof() && isValueByte(p.peek()) {
			p.pos++
		}
		if !p.eof() && !isValueEnd(p.peek()) {
			return operand{}, p.errAt(p.pos, fmt.Sprintf("unquoted value contains %s; enclose the value in double quotes", quoteRune(p.src, p.pos)))
		}
		tok := p.src[at:p.pos]
		if isNumberLiteral(tok) {
			// A huge exponent parses as ±Inf, which still compares.
			f, _ := strconv.ParseFloat(tok, 64)
			v = operand{kind: valNumber, text: tok, num: f}
		} else {
			v = stringOperand(tok)
		}
	case isValueEnd(c):
		return operand{}, p.errAt(at, expected)
	default:
		return operand{}, p.errAt(at, fmt.Sprintf("unquoted value starts with %s; enclose the value in double quotes", quoteRune(p.src, at)))
	}
	if op.numeric() && v.kind != valNumber {
		return operand{}, p.errAt(at, expected)
	}
	if p.nregex > maxRegexps {
		return operand{}, p.errAt(at, fmt.Sprintf("too many regular expressions: CloudWatch allows %d in a filter pattern", maxRegexps))
	}
	return v, nil
}

// isNumberLiteral reports whether s is a number as the docs define one for
// patterns: "An integer with an optional + or - sign, a decimal with an
// optional + or - sign, or a number in scientific notation".
func isNumberLiteral(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	i, ok := digits(s, i)
	if !ok {
		return false
	}
	if i < len(s) && s[i] == '.' {
		if i, ok = digits(s, i+1); !ok {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i, ok = digits(s, i); !ok {
			return false
		}
	}
	return i == len(s)
}

// digits skips one or more digits at s[i:].
func digits(s string, i int) (int, bool) {
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	return j, j > i
}

// parseDecimal parses a string or word as a number. "Strings don't support
// scientific notation", so only an optional sign, digits and an optional
// fraction are accepted.
func parseDecimal(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	i, ok := digits(s, i)
	if !ok {
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		if i, ok = digits(s, i+1); !ok {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

type comparison struct {
	op  cmpOp
	val operand
}

// test reports whether a value satisfies c. text is the value: a string's
// contents, a word of a space-delimited event, or a JSON number or
// boolean as written; jsonNum says it is a JSON number.
func (c *comparison) test(text string, jsonNum bool) bool {
	v := &c.val
	switch v.kind {
	case valString:
		return v.matchString(text) == (c.op == opEq)
	case valRegex:
		return v.re.re.MatchString(text) == (c.op == opEq)
	}
	var f float64
	ok := false
	if jsonNum {
		var err error
		f, err = strconv.ParseFloat(text, 64)
		ok = err == nil
	} else {
		f, ok = parseDecimal(text)
	}
	if !ok {
		// Not a number: = and != fall back to comparing text, so that
		// { $.code = 404 } still says something about "code": "n/a".
		switch c.op {
		case opEq:
			return text == v.text
		case opNe:
			return text != v.text
		}
		return false
	}
	switch c.op {
	case opEq:
		return f == v.num
	case opNe:
		return f != v.num
	case opLt:
		return f < v.num
	case opLe:
		return f <= v.num
	case opGt:
		return f > v.num
	case opGe:
		return f >= v.num
	}
	return false
}

func (v *operand) matchString(s string) bool {
	switch {
	case v.lead && v.trail:
		return strings.Contains(s, v.core)
	case v.lead:
		return strings.HasSuffix(s, v.core)
	case v.trail:
		return strings.HasPrefix(s, v.core)
	}
	return s == v.core
}

func (c *comparison) format(b *strings.Builder, bare bool) {
	b.WriteByte(' ')
	b.WriteString(c.op.String())
	b.WriteByte(' ')
	c.val.format(b, bare)
}

// JSON patterns.

type exprOp uint8

const (
	exprCond exprOp = iota
	exprAnd
	exprOr
)

type jsonExpr struct {
	op   exprOp
	kids []*jsonExpr // exprAnd, exprOr
	cond *jsonCond   // exprCond
}

type condTest uint8

const (
	testCompare condTest = iota
	testNull
	testTrue
	testFalse
	testNotExists
)

type jsonCond struct {
	sel  *selector
	test condTest
	cmp  comparison // testCompare
}

func (e *jsonExpr) format(b *strings.Builder, inAnd bool) {
	switch e.op {
	case exprCond:
		e.cond.format(b)
	case exprAnd:
		for i, k := range e.kids {
			if i > 0 {
				b.WriteString(" && ")
			}
			k.format(b, true)
		}
	case exprOr:
		// && binds tighter than ||, so an || inside an && needs its
		// parentheses back.
		if inAnd {
			b.WriteByte('(')
		}
		for i, k := range e.kids {
			if i > 0 {
				b.WriteString(" || ")
			}
			k.format(b, false)
		}
		if inAnd {
			b.WriteByte(')')
		}
	}
}

func (c *jsonCond) format(b *strings.Builder) {
	b.WriteString(c.sel.str)
	switch c.test {
	case testCompare:
		c.cmp.format(b, false)
	case testNull:
		b.WriteString(" IS NULL")
	case testTrue:
		b.WriteString(" IS TRUE")
	case testFalse:
		b.WriteString(" IS FALSE")
	case testNotExists:
		b.WriteString(" NOT EXISTS")
	}
}

func (p *parser) parseJSON() (*Pattern, error) {
	open := p.pos
	p.pos++ // '{'
	p.skipSpace()
	if p.peek() == '}' {
		return nil, p.errAt(open, "empty JSON filter pattern")
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.eof() {
		return nil, p.errAt(p.pos, `expected "&&", "||" or "}"`)
	}
	if p.peek() != '}' {
		return nil, p.errAt(p.pos, fmt.Sprintf(`expected "&&", "||" or "}", found %s`, quoteRune(p.src, p.pos)))
	}
	p.pos++
	p.skipSpace()
	if !p.eof() {
		return nil, p.errAt(p.pos, fmt.Sprintf(`unexpected %s after "}"`, quoteRune(p.src, p.pos)))
	}
	pat := &Pattern{kind: kindJSON, expr: e, needs: e.needs()}
	seen := make(map[string]bool)
	e.walkConds(func(c *jsonCond) {
		if c.sel.wildcards == 0 && !seen[c.sel.str] {
			seen[c.sel.str] = true
			pat.sels = append(pat.sels, c.sel)
		}
	})
	return pat, nil
}

func (p *parser) parseOr() (*jsonExpr, error) {
	e, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if !p.hasPrefix("||") {
			return e, nil
		}
		p.pos += 2
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		e = join(exprOr, e, r)
	}
}

func (p *parser) parseAnd() (*jsonExpr, error) {
	e, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if !p.hasPrefix("&&") {
			return e, nil
		}
		p.pos += 2
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		e = join(exprAnd, e, r)
	}
}

// join combines l and r with op, flattening nested uses of op so that
// the canonical form does not depend on how the input was parenthesized.
func join(op exprOp, l, r *jsonExpr) *jsonExpr {
	e := &jsonExpr{op: op}
	for _, k := range [2]*jsonExpr{l, r} {
		if k.op == op {
			e.kids = append(e.kids, k.kids...)
		} else {
			e.kids = append(e.kids, k)
		}
	}
	return e
}

func (p *parser) parseUnary() (*jsonExpr, error) {
	p.skipSpace()
	if p.peek() == '(' {
		open := p.pos
		p.pos++
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.peek() != ')' {
			if p.eof() {
				return nil, p.errAt(open, `unclosed "("`)
			}
			return nil, p.errAt(p.pos, fmt.Sprintf(`expected "&&", "||" or ")", found %s`, quoteRune(p.src, p.pos)))
		}
		p.pos++
		return e, nil
	}
	c, err := p.parseCond()
	if err != nil {
		return nil, err
	}
	return &jsonExpr{op: exprCond, cond: c}, nil
}

func (p *parser) parseCond() (*jsonCond, error) {
	sel, err := p.parseSelector()
	if err != nil {
		return nil, err
	}
	c := &jsonCond{sel: sel}
	p.skipSpace()
	wordAt := p.pos
	// The docs write IS NULL and NOT EXISTS in capitals; other cases are
	// accepted, as they could mean nothing else.
	switch strings.ToUpper(p.word()) {
	case "":
	case "IS":
		p.skipSpace()
		at := p.pos
		switch strings.ToUpper(p.word()) {
		case "NULL":
			c.test = testNull
		case "TRUE":
			c.test = testTrue
		case "FALSE":
			c.test = testFalse
		case "NOT":
			return nil, p.errAt(wordAt, `"IS NOT" is not supported; use "!=" or "NOT EXISTS"`)
		default:
			return nil, p.errAt(at, `expected NULL, TRUE or FALSE after "IS"`)
		}
		return c, nil
	case "NOT":
		p.skipSpace()
		at := p.pos
		if strings.ToUpper(p.word()) != "EXISTS" {
			return nil, p.errAt(at, `expected EXISTS after "NOT"`)
		}
		c.test = testNotExists
		return c, nil
	case "EXISTS":
		return nil, p.errAt(wordAt, `"EXISTS" is not supported; use "= *" to require a value, or "NOT EXISTS"`)
	default:
		return nil, p.errAt(wordAt, fmt.Sprintf("expected an operator after %s", sel.str))
	}
	if p.hasPrefix("==") {
		return nil, p.errAt(p.pos, `"==" is not an operator; use "="`)
	}
	op, ok := p.parseOp()
	if !ok {
		return nil, p.errAt(p.pos, fmt.Sprintf("expected an operator after %s", sel.str))
	}
	v, err := p.parseOperand(op)
	if err != nil {
		return nil, err
	}
	c.cmp = comparison{op: op, val: v}
	return c, nil
}

// word parses a run of ASCII letters.
func (p *parser) word() string {
	from := p.pos
	for !p.eof() && ('a' <= p.peek() && p.peek() <= 'z' || 'A' <= p.peek() && p.peek() <= 'Z') {
		p.pos++
	}
	return p.src[from:p.pos]
}

func (e *jsonExpr) walkConds(f func(*jsonCond)) {
	if e.op == exprCond {
		f(e.cond)
		return
	}
	for _, k := range e.kids {
		k.walkConds(f)
	}
}

// needs returns literals that every message e matches contains, as long
// as the message has no backslash: without escapes, JSON strings appear
// in the raw text exactly as they decode. Match checks these with
// strings.Contains before it decodes anything, which rejects most
// non-matching events at memchr speed.
func (e *jsonExpr) needs() []string {
	switch e.op {
	case exprAnd:
		var all []string
		for _, k := range e.kids {
			for _, s := range k.needs() {
				if !contains(all, s) {
					all = append(all, s)
				}
			}
		}
		return all
	case exprOr:
		// Only what every alternative needs.
		common := e.kids[0].needs()
		for _, k := range e.kids[1:] {
			kn := k.needs()
			var both []string
			for _, s := range common {
				if contains(kn, s) {
					both = append(both, s)
				}
			}
			common = both
		}
		return common
	}
	c := e.cond
	if c.test == testNotExists {
		return nil
	}
	// A value is worth looking for, as values are what tells events
	// apart; the key is then not worth a second scan, as keys tend to be
	// in every event of a log.
	if v := &c.cmp.val; c.test == testCompare && c.cmp.op == opEq && v.kind == valString && v.core != "" && plainJSON(v.core) {
		return []string{v.core}
	}
	var out []string
	for _, s := range c.sel.segs {
		if s.kind == segKey && plainJSON(s.key) {
			k := `"` + s.key + `"`
			if !contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// plainJSON reports whether s is written in a JSON string without escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return s != ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Selectors.

type segKind uint8

const (
	segKey       segKind = iota // .name or ['name']
	segIndex                    // [N]
	segWildKey                  // .*
	segWildIndex                // [*]
)

type seg struct {
	kind  segKind
	key   string
	index int
}

type selector struct {
	segs      []seg
	wildcards int
	str       string // canonical form
}

func isSelectorByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

// parseSelector parses a property selector such as $.a.b[0]['c.d'].*.
func (p *parser) parseSelector() (*selector, error) {
	start := p.pos
	if !p.hasPrefix("$.") {
		return nil, p.errAt(start, `expected a property selector such as "$.field"`)
	}
	p.pos += 2
	sel := &selector{}
	// After a dot: a name, *, or a quoted name in brackets.
	afterDot := func() error {
		switch c := p.peek(); {
		case c == '*':
			p.pos++
			sel.segs = append(sel.segs, seg{kind: segWildKey})
		case c == '[':
			p.pos++
			if q := p.peek(); q != '\'' && q != '"' {
				return p.errAt(p.pos, `expected a quoted property name after ".["`)
			}
			return p.bracketKey(sel)
		case isSelectorByte(c):
			from := p.pos
			for !p.eof() && isSelectorByte(p.peek()) {
				p.pos++
			}
			sel.segs = append(sel.segs, seg{kind: segKey, key: p.src[from:p.pos]})
		default:
			return p.errAt(p.pos, fmt.Sprintf(`expected a property name after "."; names other than letters, digits, "-" and "_" go in brackets, as in $.['name']`))
		}
		return nil
	}
	if err := afterDot(); err != nil {
		return nil, err
	}
	for {
		switch p.peek() {
		case '.':
			p.pos++
			if err := afterDot(); err != nil {
				return nil, err
			}
			continue
		case '[':
			p.pos++
			switch c := p.peek(); {
			case c == '*':
				p.pos++
				if p.peek() != ']' {
					return nil, p.errAt(p.pos, `expected "]" after "[*"`)
				}
				p.pos++
				sel.segs = append(sel.segs, seg{kind: segWildIndex})
			case isDigit(c):
				from := p.pos
				for !p.eof() && isDigit(p.peek()) {
					p.pos++
				}
				if p.pos-from > 9 {
					return nil, p.errAt(from, "array index is too large")
				}
				n, _ := strconv.Atoi(p.src[from:p.pos])
				if p.peek() != ']' {
					return nil, p.errAt(p.pos, `expected "]" after the array index`)
				}
				p.pos++
				sel.segs = append(sel.segs, seg{kind: segIndex, index: n})
			case c == '\'' || c == '"':
				if err := p.bracketKey(sel); err != nil {
					return nil, err
				}
			default:
				return nil, p.errAt(p.pos, `expected an array index, "*" or a quoted property name after "["`)
			}
			continue
		}
		break
	}
	var b strings.Builder
	b.WriteByte('$')
	for _, s := range sel.segs {
		switch s.kind {
		case segKey:
			if isSelectorName(s.key) {
				b.WriteByte('.')
				b.WriteString(s.key)
			} else {
				b.WriteString(".['")
				for i := 0; i < len(s.key); i++ {
					if c := s.key[i]; c == '\'' || c == '\\' {
						b.WriteByte('\\')
					}
					b.WriteByte(s.key[i])
				}
				b.WriteString("']")
			}
		case segIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		case segWildKey:
			b.WriteString(".*")
			sel.wildcards++
		case segWildIndex:
			b.WriteString("[*]")
			sel.wildcards++
		}
	}
	sel.str = b.String()
	if sel.wildcards > maxSelectorWildcards {
		return nil, p.errAt(start, fmt.Sprintf("%s has %d wildcards; CloudWatch allows %d in a selector", sel.str, sel.wildcards, maxSelectorWildcards))
	}
	p.nwild += sel.wildcards
	if p.nwild > maxPatternWildcards {
		return nil, p.errAt(start, fmt.Sprintf("too many wildcard selectors: CloudWatch allows %d in a filter pattern", maxPatternWildcards))
	}
	return sel, nil
}

func isSelectorName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSelectorByte(s[i]) {
			return false
		}
	}
	return s != ""
}

// bracketKey parses 'name'] or "name"] at the cursor.
func (p *parser) bracketKey(sel *selector) error {
	key, err := p.parseQuoted()
	if err != nil {
		return err
	}
	if p.peek() != ']' {
		return p.errAt(p.pos, `expected "]" after the property name`)
	}
	p.pos++
	sel.segs = append(sel.segs, seg{kind: segKey, key: key})
	return nil
}

// Space-delimited patterns.

type element struct {
	ellipsis bool
	name     string          // "" for an unnamed field
	cond     [][]*comparison // alternatives (||) of conjunctions (&&); nil: any value
}

func (e *element) format(b *strings.Builder) {
	if e.ellipsis {
		b.WriteString("...")
		return
	}
	b.WriteString(e.name)
	for i, and := range e.cond {
		if i > 0 {
			b.WriteString(" || ")
			b.WriteString(e.name)
		}
		for j, c := range and {
			if j > 0 {
				b.WriteString(" && ")
				b.WriteString(e.name)
			}
			c.format(b, true)
		}
	}
}

// test reports whether word satisfies e's condition.
func (e *element) test(word string) bool {
	if e.cond == nil {
		return true
	}
	for _, and := range e.cond {
		ok := true
		for _, c := range and {
			if !c.test(word, false) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (p *parser) parseDelimited() (*Pattern, error) {
	open := p.pos
	p.pos++ // '['
	pat := &Pattern{kind: kindDelimited}
	names := make(map[string]bool)
	commas := 0
	for {
		p.skipSpace()
		var el element
		switch {
		case p.hasPrefix("..."):
			p.pos += 3
			el.ellipsis = true
		case p.hasPrefix("…"): // as the older docs typeset it
			p.pos += len("…")
			el.ellipsis = true
		case p.eof(), p.peek() == ',', p.peek() == ']':
			// An unnamed field, like the one after the docs' trailing
			// comma in [..., request=*.html*, status_code=4*,].
		default:
			at := p.pos
			for !p.eof() && (isAlnum(p.peek()) || p.peek() == '_') {
				p.pos++
			}
			name := p.src[at:p.pos]
			switch {
			case name == "":
				return nil, p.errAt(at, fmt.Sprintf(`expected a field name, "...", "," or "]", found %s`, quoteRune(p.src, at)))
			case allDigits(name):
				return nil, p.errAt(at, fmt.Sprintf("field name %q is a number; $%s already refers to the field at that position", name, name))
			case names[name]:
				return nil, p.errAt(at, fmt.Sprintf("duplicate field name %q", name))
			}
			names[name] = true
			el.name = name
			p.skipSpace()
			if !p.eof() && p.peek() != ',' && p.peek() != ']' {
				cond, err := p.parseFieldCond(name)
				if err != nil {
					return nil, err
				}
				el.cond = cond
			}
		}
		// Adjacent ellipses mean the same as one.
		if n := len(pat.elems); !el.ellipsis || n == 0 || !pat.elems[n-1].ellipsis {
			pat.elems = append(pat.elems, el)
			if el.ellipsis {
				pat.ellipses++
			}
		}
		p.skipSpace()
		if p.eof() {
			return nil, p.errAt(p.pos, `expected "," or "]"`)
		}
		if c := p.peek(); c == ',' {
			p.pos++
			commas++
			continue
		} else if c != ']' {
			return nil, p.errAt(p.pos, fmt.Sprintf(`expected "," or "]", found %s`, quoteRune(p.src, p.pos)))
		}
		p.pos++
		break
	}
	if commas == 0 && !pat.elems[0].ellipsis && pat.elems[0].name == "" {
		return nil, p.errAt(open, "empty space-delimited filter pattern")
	}
	p.skipSpace()
	if !p.eof() {
		return nil, p.errAt(p.pos, fmt.Sprintf(`unexpected %s after "]"`, quoteRune(p.src, p.pos)))
	}
	return pat, nil
}

// parseFieldCond parses the conditions of the field name, which has just
// been parsed: = 4* && name != 403 || name = 500. Each condition names
// the field again, as in the docs' [w1=ERROR || w1=WARNING, w2].
func (p *parser) parseFieldCond(name string) ([][]*comparison, error) {
	var or [][]*comparison
	var and []*comparison
	for first := true; ; first = false {
		if !first {
			p.skipSpace()
			at := p.pos
			for !p.eof() && (isAlnum(p.peek()) || p.peek() == '_') {
				p.pos++
			}
			switch n := p.src[at:p.pos]; n {
			case name:
			case "":
				return nil, p.errAt(at, fmt.Sprintf("expected %q after the logical operator", name))
			default:
				return nil, p.errAt(at, fmt.Sprintf("the conditions of field %q must all be about %q, not %q", name, name, n))
			}
			p.skipSpace()
		}
		if p.hasPrefix("==") {
			return nil, p.errAt(p.pos, `"==" is not an operator; use "="`)
		}
		op, ok := p.parseOp()
		if !ok {
			return nil, p.errAt(p.pos, fmt.Sprintf("expected an operator after %q", name))
		}
		v, err := p.parseOperand(op)
		if err != nil {
			return nil, err
		}
		and = append(and, &comparison{op: op, val: v})
		p.skipSpace()
		switch {
		case p.hasPrefix("&&"):
			p.pos += 2
		case p.hasPrefix("||"):
			p.pos += 2
			or = append(or, and)
			and = nil
		default:
			return append(or, and), nil
		}
	}
}
