package logquery

import (
	"regexp"
	"strconv"
	"strings"
)

// A command is one stage of the pipeline, as parsed.
type command interface {
	name() string
	render(b *strings.Builder)
}

type fieldsCmd struct {
	display bool // display rather than fields: no aliases
	items   []fieldItem
}

type fieldItem struct {
	field string
	alias string // "" for none
}

type filterCmd struct{ cond expr }

type parseCmd struct {
	field string
	// Glob mode: a pattern with * wildcards and one name per wildcard.
	glob  string
	names []string
	// Regex mode: named groups become fields.
	re *regexp.Regexp
}

type statsCmd struct {
	aggs []aggItem
	by   []byItem
}

type aggItem struct {
	fn    string // count, count_distinct, min, max, avg, sum
	field string // "" for count(*)
	alias string
}

func (a aggItem) column() string {
	if a.alias != "" {
		return a.alias
	}
	arg := "*"
	if a.field != "" {
		arg = quoteField(a.field)
	}
	return a.fn + "(" + arg + ")"
}

type byItem struct {
	field string // "" when bin is set
	bin   *binSpec
	alias string
}

func (b byItem) column() string {
	switch {
	case b.alias != "":
		return b.alias
	case b.bin != nil:
		return "bin(" + b.bin.text + ")"
	}
	return b.field
}

type sortCmd struct{ keys []sortKey }

type sortKey struct {
	field string
	desc  bool
}

type limitCmd struct{ n int }

type dedupCmd struct{ fields []string }

func (*fieldsCmd) name() string { return "fields" }
func (*filterCmd) name() string { return "filter" }
func (*parseCmd) name() string  { return "parse" }
func (*statsCmd) name() string  { return "stats" }
func (*sortCmd) name() string   { return "sort" }
func (*limitCmd) name() string  { return "limit" }
func (*dedupCmd) name() string  { return "dedup" }

func (c *fieldsCmd) render(b *strings.Builder) {
	if c.display {
		b.WriteString("display ")
	} else {
		b.WriteString("fields ")
	}
	for i, it := range c.items {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteField(it.field))
		if it.alias != "" {
			b.WriteString(" as ")
			b.WriteString(quoteField(it.alias))
		}
	}
}

func (c *filterCmd) render(b *strings.Builder) {
	b.WriteString("filter ")
	renderExpr(b, c.cond)
}

func (c *parseCmd) render(b *strings.Builder) {
	b.WriteString("parse ")
	b.WriteString(quoteField(c.field))
	b.WriteByte(' ')
	if c.re != nil {
		b.WriteString("/" + c.re.String() + "/")
		return
	}
	b.WriteString(quoteString(c.glob))
	b.WriteString(" as ")
	writeFieldList(b, c.names)
}

func (c *statsCmd) render(b *strings.Builder) {
	b.WriteString("stats ")
	for i, a := range c.aggs {
		if i > 0 {
			b.WriteString(", ")
		}
		arg := "*"
		if a.field != "" {
			arg = quoteField(a.field)
		}
		b.WriteString(a.fn + "(" + arg + ")")
		if a.alias != "" {
			b.WriteString(" as " + quoteField(a.alias))
		}
	}
	if len(c.by) == 0 {
		return
	}
	b.WriteString(" by ")
	for i, g := range c.by {
		if i > 0 {
			b.WriteString(", ")
		}
		if g.bin != nil {
			b.WriteString("bin(" + g.bin.text + ")")
		} else {
			b.WriteString(quoteField(g.field))
		}
		if g.alias != "" {
			b.WriteString(" as " + quoteField(g.alias))
		}
	}
}

func (c *sortCmd) render(b *strings.Builder) {
	b.WriteString("sort ")
	for i, k := range c.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteField(k.field))
		if k.desc {
			b.WriteString(" desc")
		} else {
			b.WriteString(" asc")
		}
	}
}

func (c *limitCmd) render(b *strings.Builder) {
	b.WriteString("limit ")
	b.WriteString(strconv.Itoa(c.n))
}

func (c *dedupCmd) render(b *strings.Builder) {
	b.WriteString("dedup ")
	writeFieldList(b, c.fields)
}

func writeFieldList(b *strings.Builder, names []string) {
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteField(n))
	}
}

// Expressions in filter.
type expr interface {
	prec() int
	compile(b *builder) pred
}

type binExpr struct {
	or   bool // or, else and
	l, r expr
}

type notExpr struct{ x expr }

type cmpExpr struct {
	op   tokKind // tEq, tNe, tLt, tLe, tGt, tGe
	l, r operand
}

// likeExpr is like, not like and =~: a substring when re is nil, else a
// regex search.
type likeExpr struct {
	x   operand
	neg bool
	sub string
	re  *regexp.Regexp
}

type inExpr struct {
	x    operand
	neg  bool
	list []literal
}

// funcExpr is a boolean function of one field: ispresent, isempty,
// isblank.
type funcExpr struct {
	fn    string
	field string
}

type operand struct {
	field string // "" for a literal
	lit   literal
}

type literal struct {
	text string // as rendered: a quoted string or the number as written
	v    value
}

func (e *binExpr) prec() int {
	if e.or {
		return 1
	}
	return 2
}
func (*notExpr) prec() int  { return 3 }
func (*cmpExpr) prec() int  { return 4 }
func (*likeExpr) prec() int { return 4 }
func (*inExpr) prec() int   { return 4 }
func (*funcExpr) prec() int { return 4 }

var opText = map[tokKind]string{tEq: "=", tNe: "!=", tLt: "<", tLe: "<=", tGt: ">", tGe: ">="}

// renderExpr writes e with the fewest parentheses that parse back to the
// same tree: and binds tighter than or, both associate left.
func renderExpr(b *strings.Builder, e expr) {
	switch e := e.(type) {
	case *binExpr:
		p := e.prec()
		renderSub(b, e.l, e.l.prec() < p)
		if e.or {
			b.WriteString(" or ")
		} else {
			b.WriteString(" and ")
		}
		renderSub(b, e.r, e.r.prec() <= p)
	case *notExpr:
		b.WriteString("not ")
		renderSub(b, e.x, e.x.prec() < 3)
	case *cmpExpr:
		renderOperand(b, e.l)
		b.WriteString(" " + opText[e.op] + " ")
		renderOperand(b, e.r)
	case *likeExpr:
		renderOperand(b, e.x)
		if e.neg {
			b.WriteString(" not")
		}
		b.WriteString(" like ")
		if e.re != nil {
			b.WriteString("/" + e.re.String() + "/")
		} else {
			b.WriteString(quoteString(e.sub))
		}
	case *inExpr:
		renderOperand(b, e.x)
		if e.neg {
			b.WriteString(" not")
		}
		b.WriteString(" in [")
		for i, l := range e.list {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(l.text)
		}
		b.WriteString("]")
	case *funcExpr:
		b.WriteString(e.fn + "(" + quoteField(e.field) + ")")
	}
}

func renderSub(b *strings.Builder, e expr, paren bool) {
	if paren {
		b.WriteByte('(')
	}
	renderExpr(b, e)
	if paren {
		b.WriteByte(')')
	}
}

func renderOperand(b *strings.Builder, o operand) {
	if o.field != "" {
		b.WriteString(quoteField(o.field))
		return
	}
	b.WriteString(o.lit.text)
}
