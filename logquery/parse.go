package logquery

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// SyntaxError is an error in a query: a malformed command, an unknown
// function, a bad regex, an out-of-range limit. Line and Col (both 1-based;
// Col counts runes) point at the offending token.
type SyntaxError struct {
	Line int
	Col  int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("query:%d:%d: %s", e.Line, e.Col, e.Msg)
}

// Bounds on what a query may ask for.
const (
	// DefaultLimit is how many rows a query without a limit command
	// returns, as in Insights.
	DefaultLimit = 10000
	// MaxLimit is the largest limit Insights accepts.
	MaxLimit = 100000
	// maxDepth bounds nested parentheses and nots in a filter, so that a
	// hostile query cannot make evaluation recurse without end.
	maxDepth = 100
)

type parser struct {
	q     string
	toks  []token
	i     int
	prev  token // the token before the current one, for "after ..."
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

// peek2 returns the token after the current one.
func (p *parser) peek2() token {
	if p.i+1 < len(p.toks) {
		return p.toks[p.i+1]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF && t.kind != tErr {
		p.i++
	}
	p.prev = t
	return t
}

// isWord reports whether t is the bare word w, in any case.
func isWord(t token, w string) bool {
	return t.kind == tIdent && strings.EqualFold(t.val, w)
}

func (p *parser) errAt(pos int, format string, args ...any) *SyntaxError {
	line, col := 1, 1
	for _, r := range p.q[:min(pos, len(p.q))] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &SyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// expected reports that the current token is not what the grammar wants.
// A lexical error at that point is reported instead, since it is the real
// problem.
func (p *parser) expected(what string) *SyntaxError {
	t := p.peek()
	if t.kind == tErr {
		return p.errAt(t.pos, "%s", t.val)
	}
	if p.prev.kind == tEOF && p.i == 0 {
		return p.errAt(t.pos, "expected %s, found %s", what, t.describe())
	}
	return p.errAt(t.pos, "expected %s after %s, found %s", what, p.prevText(), t.describe())
}

func (p *parser) prevText() string {
	if p.prev.kind == tString {
		return "string " + quoteString(p.prev.val)
	}
	return strconv.Quote(p.prev.text)
}

func (p *parser) expect(k tokKind, what string) error {
	if p.peek().kind != k {
		return p.expected(what)
	}
	p.next()
	return nil
}

// Parse parses a query in the supported subset of the CloudWatch Logs
// Insights query language. Errors are *SyntaxError.
func Parse(q string) (*Query, error) {
	p := &parser{q: q, toks: lex(q), prev: token{kind: tEOF}}
	if p.peek().kind == tEOF {
		return nil, p.errAt(0, "empty query: expected a command such as fields, filter or stats")
	}
	var cmds []command
	var afterDedup bool
	for {
		start := p.peek()
		if afterDedup && !isWord(start, "limit") && start.kind == tIdent {
			return nil, p.errAt(start.pos, "only limit can follow dedup, found %s", start.describe())
		}
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		if _, ok := c.(*dedupCmd); ok {
			afterDedup = true
		}
		cmds = append(cmds, c)
		switch t := p.peek(); t.kind {
		case tEOF:
			return newQuery(q, cmds)
		case tPipe:
			p.next()
			if p.peek().kind == tEOF {
				return nil, p.expected("a command")
			}
		default:
			return nil, p.expected(`"|" or end of query`)
		}
	}
}

var commandNames = "fields, display, filter, parse, stats, sort, limit or dedup"

// insightsOnly are Insights commands this package does not implement; they
// get a clearer error than an unknown word.
var insightsOnly = []string{"addtotals", "anomaly", "diff", "filterindex", "head", "join", "lookup", "pattern", "source", "tail", "unmask", "unnest"}

func (p *parser) command() (command, error) {
	t := p.peek()
	if t.kind != tIdent {
		return nil, p.expected("a command")
	}
	switch w := strings.ToLower(t.val); w {
	case "fields", "display":
		p.next()
		return p.fields(w == "display")
	case "filter":
		p.next()
		e, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		return &filterCmd{cond: e}, nil
	case "parse":
		p.next()
		return p.parse()
	case "stats":
		p.next()
		return p.stats()
	case "sort":
		p.next()
		return p.sort()
	case "limit":
		p.next()
		return p.limit()
	case "dedup":
		p.next()
		names, err := p.fieldList()
		if err != nil {
			return nil, err
		}
		return &dedupCmd{fields: names}, nil
	default:
		if slices.Contains(insightsOnly, w) {
			return nil, p.errAt(t.pos, "command %q is not supported here: expected %s", t.val, commandNames)
		}
		return nil, p.errAt(t.pos, "unknown command %s: expected %s", t.describe(), commandNames)
	}
}

// field reads a field name: a bare word that is not reserved, or a
// back-quoted name.
func (p *parser) field() (string, error) {
	t := p.peek()
	if t.kind == tQuoted || t.kind == tIdent && !isReserved(t.val) {
		p.next()
		return t.val, nil
	}
	return "", p.expected("a field name")
}

func (p *parser) isFieldNext() bool {
	t := p.peek()
	return t.kind == tQuoted || t.kind == tIdent && !isReserved(t.val)
}

func (p *parser) fieldList() ([]string, error) {
	var names []string
	for {
		n, err := p.field()
		if err != nil {
			return nil, err
		}
		names = append(names, n)
		if p.peek().kind != tComma {
			return names, nil
		}
		p.next()
	}
}

func (p *parser) alias() (string, error) {
	if !isWord(p.peek(), "as") {
		return "", nil
	}
	p.next()
	return p.field()
}

func (p *parser) fields(display bool) (command, error) {
	c := &fieldsCmd{display: display}
	for {
		t := p.peek()
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		if p.peek().kind == tLParen {
			return nil, p.errAt(t.pos, "functions such as %s(...) are not supported in %s: list field names only", t.val, cmdName(display))
		}
		it := fieldItem{field: f}
		if isWord(p.peek(), "as") {
			if display {
				return nil, p.errAt(p.peek().pos, `display does not take aliases: use "fields %s as ..." instead`, quoteField(f))
			}
			if it.alias, err = p.alias(); err != nil {
				return nil, err
			}
		}
		c.items = append(c.items, it)
		if p.peek().kind != tComma {
			return c, nil
		}
		p.next()
	}
}

func cmdName(display bool) string {
	if display {
		return "display"
	}
	return "fields"
}

// Filter expressions: or binds loosest, then and, then not.

func (p *parser) orExpr() (expr, error) {
	l, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	for isWord(p.peek(), "or") {
		p.next()
		r, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		l = &binExpr{or: true, l: l, r: r}
	}
	return l, nil
}

func (p *parser) andExpr() (expr, error) {
	l, err := p.notExpr()
	if err != nil {
		return nil, err
	}
	for isWord(p.peek(), "and") {
		p.next()
		r, err := p.notExpr()
		if err != nil {
			return nil, err
		}
		l = &binExpr{l: l, r: r}
	}
	return l, nil
}

func (p *parser) nest() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errAt(p.peek().pos, "filter nested more than %d deep", maxDepth)
	}
	return nil
}

func (p *parser) notExpr() (expr, error) {
	if !isWord(p.peek(), "not") {
		return p.primary()
	}
	if err := p.nest(); err != nil {
		return nil, err
	}
	p.next()
	x, err := p.notExpr()
	if err != nil {
		return nil, err
	}
	p.depth--
	return &notExpr{x: x}, nil
}

var filterFuncs = []string{"ispresent", "isempty", "isblank"}

func (p *parser) primary() (expr, error) {
	t := p.peek()
	if t.kind == tLParen {
		if err := p.nest(); err != nil {
			return nil, err
		}
		p.next()
		e, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tRParen, `")"`); err != nil {
			return nil, err
		}
		p.depth--
		return e, nil
	}
	if t.kind == tIdent && p.peek2().kind == tLParen {
		fn := strings.ToLower(t.val)
		if !slices.Contains(filterFuncs, fn) {
			return nil, p.errAt(t.pos, "unknown function %q in filter: supported are ispresent, isempty and isblank", t.val)
		}
		p.next()
		p.next()
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tRParen, `")"`); err != nil {
			return nil, err
		}
		return &funcExpr{fn: fn, field: f}, nil
	}
	if t.kind == tEOF || t.kind == tPipe {
		return nil, p.expected("a condition")
	}
	x, err := p.operand()
	if err != nil {
		return nil, err
	}
	op := p.peek()
	switch {
	case op.kind >= tEq && op.kind <= tGe:
		p.next()
		r, err := p.operand()
		if err != nil {
			return nil, err
		}
		return &cmpExpr{op: op.kind, l: x, r: r}, nil
	case op.kind == tMatch || isWord(op, "like"):
		p.next()
		return p.likeRHS(x, false)
	case isWord(op, "in"):
		p.next()
		return p.inList(x, false)
	case isWord(op, "not"):
		p.next()
		switch t := p.peek(); {
		case isWord(t, "like"):
			p.next()
			return p.likeRHS(x, true)
		case isWord(t, "in"):
			p.next()
			return p.inList(x, true)
		}
		return nil, p.expected(`"like" or "in"`)
	}
	return nil, p.expected("a comparison (=, !=, <, <=, >, >=, like, =~ or in)")
}

// operand reads a field name or a literal.
func (p *parser) operand() (operand, error) {
	t := p.peek()
	switch {
	case t.kind == tQuoted || t.kind == tIdent && !isReserved(t.val):
		p.next()
		return operand{field: t.val}, nil
	case t.kind == tString || t.kind == tNumber || t.kind == tMinus:
		l, err := p.literal()
		return operand{lit: l}, err
	case t.kind == tDuration:
		return operand{}, p.errAt(t.pos, "malformed number %q: field names cannot start with a digit unless back-quoted", t.text)
	}
	return operand{}, p.expected("a field name or a value")
}

func (p *parser) literal() (literal, error) {
	t := p.peek()
	switch t.kind {
	case tString:
		p.next()
		return literal{text: quoteString(t.val), v: strValue(t.val)}, nil
	case tMinus:
		p.next()
		if p.peek().kind != tNumber {
			return literal{}, p.expected("a number")
		}
		return numLiteral("-" + p.next().val), nil
	case tNumber:
		p.next()
		return numLiteral(t.val), nil
	}
	return literal{}, p.expected(`a "string" or a number`)
}

func numLiteral(text string) literal {
	n, _ := parseNumber(text) // the lexer only makes number tokens that parse
	v := floatValue(n.f)
	if n.isInt {
		v = intValue(n.i)
	}
	return literal{text: text, v: v}
}

func (p *parser) likeRHS(x operand, neg bool) (expr, error) {
	t := p.peek()
	switch t.kind {
	case tString:
		p.next()
		return &likeExpr{x: x, neg: neg, sub: t.val}, nil
	case tRegex:
		p.next()
		re, err := p.regex(t)
		if err != nil {
			return nil, err
		}
		return &likeExpr{x: x, neg: neg, re: re}, nil
	}
	return nil, p.expected(`a "string" or a /regex/`)
}

func (p *parser) regex(t token) (*regexp.Regexp, error) {
	re, err := regexp.Compile(t.val)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error parsing regexp: ")
		return nil, p.errAt(t.pos, "bad regex %s: %s", t.text, msg)
	}
	return re, nil
}

func (p *parser) inList(x operand, neg bool) (expr, error) {
	if err := p.expect(tLBrack, `"["`); err != nil {
		return nil, err
	}
	e := &inExpr{x: x, neg: neg}
	for {
		l, err := p.literal()
		if err != nil {
			return nil, err
		}
		e.list = append(e.list, l)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if err := p.expect(tRBrack, `"," or "]"`); err != nil {
		return nil, err
	}
	return e, nil
}

func (p *parser) parse() (command, error) {
	c := &parseCmd{field: "@message"} // Insights' default source
	if p.isFieldNext() {
		c.field, _ = p.field()
	}
	t := p.peek()
	switch t.kind {
	case tString:
		p.next()
		c.glob = t.val
		if !isWord(p.peek(), "as") {
			return nil, p.expected(`"as" and a name for each *`)
		}
		p.next()
		names, err := p.nameList()
		if err != nil {
			return nil, err
		}
		if n := strings.Count(c.glob, "*"); n != len(names) {
			return nil, p.errAt(t.pos, "parse pattern has %d wildcard(s) (*) but %d name(s) follow \"as\": give one name per *", n, len(names))
		}
		c.names = names
		return c, nil
	case tRegex:
		p.next()
		re, err := p.regex(t)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, n := range re.SubexpNames() {
			if n == "" {
				continue
			}
			if slices.Contains(names, n) {
				return nil, p.errAt(t.pos, "parse regex names group %q twice", n)
			}
			names = append(names, n)
		}
		if len(names) == 0 {
			return nil, p.errAt(t.pos, "parse regex has no named group: write (?<name>...) around each part to extract")
		}
		if a := p.peek(); isWord(a, "as") {
			return nil, p.errAt(a.pos, "a parse regex names its fields with (?<name>...) groups: remove the as clause")
		}
		c.re = re
		return c, nil
	}
	return nil, p.expected(`a "pattern" with * wildcards or a /regex/`)
}

// nameList reads the names a command creates, rejecting repeats.
func (p *parser) nameList() ([]string, error) {
	var names []string
	for {
		t := p.peek()
		n, err := p.field()
		if err != nil {
			return nil, err
		}
		if slices.Contains(names, n) {
			return nil, p.errAt(t.pos, "field %q named twice", n)
		}
		names = append(names, n)
		if p.peek().kind != tComma {
			return names, nil
		}
		p.next()
	}
}

var aggFuncs = []string{"count", "count_distinct", "min", "max", "avg", "sum"}

func (p *parser) stats() (command, error) {
	c := &statsCmd{}
	cols := map[string]bool{}
	addCol := func(pos int, name string) error {
		if cols[name] {
			return p.errAt(pos, "stats has two columns named %q: give one a different name with \"as\"", name)
		}
		cols[name] = true
		return nil
	}
	for {
		t := p.peek()
		if t.kind != tIdent {
			return nil, p.expected("an aggregate function such as count(*)")
		}
		fn := strings.ToLower(t.val)
		if !slices.Contains(aggFuncs, fn) {
			return nil, p.errAt(t.pos, "unknown function %q in stats: supported are count, count_distinct, min, max, avg and sum", t.val)
		}
		p.next()
		if err := p.expect(tLParen, `"("`); err != nil {
			return nil, err
		}
		a := aggItem{fn: fn}
		if p.peek().kind == tStar {
			if fn != "count" {
				return nil, p.errAt(p.peek().pos, "%s needs a field name, not *", fn)
			}
			p.next()
		} else {
			f, err := p.field()
			if err != nil {
				return nil, err
			}
			a.field = f
		}
		if err := p.expect(tRParen, `")"`); err != nil {
			return nil, err
		}
		var err error
		if a.alias, err = p.alias(); err != nil {
			return nil, err
		}
		if err := addCol(t.pos, a.column()); err != nil {
			return nil, err
		}
		c.aggs = append(c.aggs, a)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if !isWord(p.peek(), "by") {
		return c, nil
	}
	p.next()
	for {
		t := p.peek()
		var g byItem
		switch {
		case t.kind == tIdent && p.peek2().kind == tLParen:
			if !strings.EqualFold(t.val, "bin") {
				return nil, p.errAt(t.pos, "unknown function %q after \"by\": group by field names or bin(period)", t.val)
			}
			p.next()
			p.next()
			b, err := p.binPeriod()
			if err != nil {
				return nil, err
			}
			if err := p.expect(tRParen, `")"`); err != nil {
				return nil, err
			}
			g.bin = b
		default:
			if !p.isFieldNext() {
				return nil, p.expected("a field name")
			}
			g.field, _ = p.field()
		}
		var err error
		if g.alias, err = p.alias(); err != nil {
			return nil, err
		}
		if err := addCol(t.pos, g.column()); err != nil {
			return nil, err
		}
		c.by = append(c.by, g)
		if p.peek().kind != tComma {
			return c, nil
		}
		p.next()
	}
}

// binSpec is the period of bin(): n units.
type binSpec struct {
	text   string // as written, e.g. "5m"
	n      int64
	unit   int64 // nanoseconds per unit, for fixed units
	months int64 // months per unit, for calendar units (mo, q, y)
}

// binUnits are the units Insights documents for bin(). Names longer than
// one letter may also take a plural s ("hrs", "mins").
var binUnits = map[string]struct{ ns, months int64 }{
	"ms": {ns: 1e6}, "msec": {ns: 1e6}, "millisecond": {ns: 1e6},
	"s": {ns: 1e9}, "sec": {ns: 1e9}, "second": {ns: 1e9},
	"m": {ns: 60e9}, "min": {ns: 60e9}, "minute": {ns: 60e9},
	"h": {ns: 3600e9}, "hr": {ns: 3600e9}, "hour": {ns: 3600e9},
	"d": {ns: 86400e9}, "day": {ns: 86400e9},
	"w": {ns: 7 * 86400e9}, "week": {ns: 7 * 86400e9},
	"mo": {months: 1}, "mon": {months: 1}, "month": {months: 1},
	"q": {months: 3}, "qtr": {months: 3}, "quarter": {months: 3},
	"y": {months: 12}, "yr": {months: 12}, "year": {months: 12},
}

func lookupUnit(u string) (struct{ ns, months int64 }, bool) {
	if x, ok := binUnits[u]; ok {
		return x, true
	}
	if len(u) > 2 && strings.HasSuffix(u, "s") {
		if x, ok := binUnits[u[:len(u)-1]]; ok && len(u)-1 > 1 {
			return x, true
		}
	}
	return struct{ ns, months int64 }{}, false
}

func (p *parser) binPeriod() (*binSpec, error) {
	t := p.peek()
	switch t.kind {
	case tNumber:
		return nil, p.errAt(t.pos, "bin period %s needs a time unit, as in %sm", t.text, t.text)
	case tDuration:
	default:
		return nil, p.expected("a period such as 5m")
	}
	p.next()
	i := 0
	for i < len(t.val) && isDigit(t.val[i]) {
		i++
	}
	num, unit := t.val[:i], t.val[i:]
	if unit == "" || !isASCIILetter(unit[0]) {
		return nil, p.errAt(t.pos, "bin period %s must be a whole number of a unit, as in 5m", t.text)
	}
	// Units are lower case, as documented: 1M could mean a month or a
	// minute, so it is refused rather than guessed.
	u, ok := lookupUnit(unit)
	if !ok {
		return nil, p.errAt(t.pos+i, "unknown time unit %q in bin(%s): use ms, s, m, h, d, w, mo, q or y", unit, t.text)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || u.ns > 0 && n > math.MaxInt64/u.ns || u.months > 0 && n > 1e6 {
		return nil, p.errAt(t.pos, "bin period %s is out of range", t.text)
	}
	return &binSpec{text: t.text, n: n, unit: u.ns, months: u.months}, nil
}

func (p *parser) sort() (command, error) {
	c := &sortCmd{}
	for {
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		// Insights sorts descending unless told otherwise.
		k := sortKey{field: f, desc: true}
		switch t := p.peek(); {
		case isWord(t, "asc"):
			p.next()
			k.desc = false
		case isWord(t, "desc"):
			p.next()
		}
		c.keys = append(c.keys, k)
		if p.peek().kind != tComma {
			return c, nil
		}
		p.next()
	}
}

func (p *parser) limit() (command, error) {
	t := p.peek()
	if t.kind != tNumber && t.kind != tMinus {
		return nil, p.expected("a number of rows")
	}
	text := t.text
	if t.kind == tMinus && p.peek2().kind == tNumber {
		p.next()
		text = "-" + p.peek().text
	}
	p.next()
	n, err := strconv.Atoi(text)
	if err != nil && !strings.ContainsAny(text, ".eE") && isNumberText(text) {
		n, err = math.MaxInt, nil // too large for an int: out of range below
		if text[0] == '-' {
			n = -1
		}
	}
	if err != nil {
		return nil, p.errAt(t.pos, "limit needs a whole number, found %s", text)
	}
	if n < 1 || n > MaxLimit {
		return nil, p.errAt(t.pos, "limit %s is out of range: it must be between 1 and %d", text, MaxLimit)
	}
	return &limitCmd{n: n}, nil
}
