package logquery

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
)

// Slots. Every field a query names resolves, at each point of the
// pipeline, to a slot: an index into a row. A command that defines a field
// (parse, fields ... as, stats) gets fresh slots, so a later definition
// never disturbs what an earlier command read, and stages can be reordered
// safely.

type slotSrc uint8

const (
	srcComputed slotSrc = iota // set by a stage
	srcSys                     // an @ field of the event
	srcJSON                    // a JSON path in @message
	srcNull                    // a name nothing defines: always null
)

type sysField uint8

const (
	sysTimestamp sysField = iota
	sysMessage
	sysStream
	sysIngestion
)

var sysFields = map[string]sysField{
	"@timestamp":     sysTimestamp,
	"@message":       sysMessage,
	"@logStream":     sysStream,
	"@ingestionTime": sysIngestion,
}

type slotInfo struct {
	src  slotSrc
	sys  sysField
	name string // the field name as the query wrote it, for sys and JSON
}

type plan struct {
	slots     []slotInfo
	jsonPaths map[string]pathInfo
	sieve     pathSieve
	jsonSlots []int
	head      []rowStage // per-event stages before anything that holds rows
	checks    []precheck // cheap rejections on the raw message
	tail      []stage    // the rest, starting with a stats, sort, dedup or limit
	live      []int      // slots the tail may read from an event
	colNames  []string
	colSlots  []int
	fields    []string
}

// stage is one step of the compiled pipeline.
type stage interface{ reads() []int }

// rowStage is a stage that looks at one row at a time: filter, parse, and
// the aliases of fields.
type rowStage interface {
	stage
	apply(c *evalCtx) bool // false drops the row
	writes() []int
}

type builder struct {
	pl         *plan
	env        map[string]int // names defined by commands so far
	afterStats bool
	byKey      map[string]int // sys and JSON slots by name
	nullSlot   int
	stages     []stage
	cols       []string // output columns from fields/display since the last stats
	statsCols  []string
	hasStats   bool
	hasLimit   bool
	sortedSeg  bool // a sort ran since the last stats
}

func newQuery(src string, cmds []command) (*Query, error) {
	b := &builder{
		pl:       &plan{jsonPaths: map[string]pathInfo{}},
		env:      map[string]int{},
		byKey:    map[string]int{},
		nullSlot: -1,
	}
	for _, c := range cmds {
		b.add(c)
	}
	b.finish()
	return &Query{cmds: cmds, pl: b.pl}, nil
}

func (b *builder) newSlot(si slotInfo) int {
	b.pl.slots = append(b.pl.slots, si)
	return len(b.pl.slots) - 1
}

// resolve returns the slot a name refers to at this point of the pipeline.
func (b *builder) resolve(name string) int {
	if s, ok := b.env[name]; ok {
		return s
	}
	if b.afterStats {
		// After stats only its columns exist.
		return b.null()
	}
	if s, ok := b.byKey[name]; ok {
		return s
	}
	var s int
	switch sf, isSys := sysFields[name]; {
	case isSys:
		s = b.newSlot(slotInfo{src: srcSys, sys: sf, name: name})
	case strings.HasPrefix(name, "@@"):
		s = b.jsonSlot(name, name[1:])
	case strings.HasPrefix(name, "@"):
		// Insights generates @ fields for log types we do not parse
		// (@requestId, @duration); here they are simply absent.
		return b.null()
	default:
		s = b.jsonSlot(name, name)
	}
	b.byKey[name] = s
	return s
}

func (b *builder) jsonSlot(name, path string) int {
	s := b.newSlot(slotInfo{src: srcJSON, name: name})
	b.pl.jsonSlots = append(b.pl.jsonSlots, s)
	pi := b.pl.jsonPaths[path] // keep prefix if a longer path set it
	pi.slot = s
	b.pl.jsonPaths[path] = pi
	// Every proper dotted prefix of the path must be descended into.
	for i := 0; i < len(path); i++ {
		if path[i] == '.' {
			p := path[:i]
			pi, ok := b.pl.jsonPaths[p]
			if !ok {
				pi.slot = -1
			}
			pi.prefix = true
			b.pl.jsonPaths[p] = pi
		}
	}
	return s
}

func (b *builder) null() int {
	if b.nullSlot < 0 {
		b.nullSlot = b.newSlot(slotInfo{src: srcNull})
	}
	return b.nullSlot
}

func (b *builder) addCol(name string) {
	if !slices.Contains(b.cols, name) {
		b.cols = append(b.cols, name)
	}
}

func (b *builder) add(c command) {
	switch c := c.(type) {
	case *fieldsCmd:
		if c.display {
			b.cols = nil
		}
		st := &copyStage{}
		for _, it := range c.items {
			if it.alias != "" {
				st.from = append(st.from, b.resolve(it.field))
			}
		}
		for _, it := range c.items {
			if it.alias == "" {
				b.addCol(it.field)
				continue
			}
			to := b.newSlot(slotInfo{})
			st.to = append(st.to, to)
			b.env[it.alias] = to
			b.addCol(it.alias)
		}
		if len(st.to) > 0 {
			b.stages = append(b.stages, st)
		}
	case *filterCmd:
		b.stages = append(b.stages, &filterStage{p: b.pred(c.cond)})
	case *parseCmd:
		st := &parseStage{src: b.resolve(c.field)}
		names := c.names
		if c.re != nil {
			st.re = c.re
			names = nil
			st.group = make([]int, len(c.re.SubexpNames()))
			for i, n := range c.re.SubexpNames() {
				st.group[i] = -1
				if n != "" {
					names = append(names, n)
				}
			}
		} else {
			st.lits = strings.Split(c.glob, "*")
		}
		for _, n := range names {
			s := b.newSlot(slotInfo{})
			st.out = append(st.out, s)
			b.env[n] = s
		}
		if c.re != nil {
			k := 0
			for i, n := range c.re.SubexpNames() {
				if n != "" {
					st.group[i] = st.out[k]
					k++
				}
			}
		}
		b.stages = append(b.stages, st)
	case *statsCmd:
		st := &statsStage{}
		for _, g := range c.by {
			k := keySpec{bin: g.bin}
			if g.bin != nil {
				k.slot = b.resolve("@timestamp")
			} else {
				k.slot = b.resolve(g.field)
			}
			st.keys = append(st.keys, k)
		}
		for _, a := range c.aggs {
			as := aggSpec{fn: a.fn, slot: -1}
			if a.field != "" {
				as.slot = b.resolve(a.field)
			}
			st.aggs = append(st.aggs, as)
		}
		b.env = map[string]int{}
		b.statsCols = nil
		for _, g := range c.by {
			s := b.newSlot(slotInfo{})
			st.keyOut = append(st.keyOut, s)
			b.env[g.column()] = s
			b.statsCols = append(b.statsCols, g.column())
		}
		for _, a := range c.aggs {
			s := b.newSlot(slotInfo{})
			st.aggOut = append(st.aggOut, s)
			b.env[a.column()] = s
			b.statsCols = append(b.statsCols, a.column())
		}
		b.afterStats, b.hasStats, b.sortedSeg = true, true, false
		b.cols = nil
		b.stages = append(b.stages, st)
	case *sortCmd:
		st := &sortStage{}
		for _, k := range c.keys {
			st.keys = append(st.keys, orderKey{slot: b.resolve(k.field), desc: k.desc})
		}
		b.sortedSeg = true
		b.stages = append(b.stages, st)
	case *limitCmd:
		b.hasLimit = true
		b.stages = append(b.stages, &limitStage{n: c.n})
	case *dedupCmd:
		st := &dedupStage{}
		for _, f := range c.fields {
			st.slots = append(st.slots, b.resolve(f))
		}
		if b.sortedSeg {
			// The rows arrive sorted (by a sort that is not directly before
			// dedup, else finish merges the two): keep the first of each.
			st.arrival = true
		} else {
			// Insights: unsorted results are deduplicated newest first.
			st.order = []orderKey{{slot: b.resolve("@timestamp"), desc: true}}
		}
		b.stages = append(b.stages, st)
	}
}

// finish settles the output columns, reorders the stages for streaming,
// and splits them into the per-event head and the tail.
func (b *builder) finish() {
	pl := b.pl
	switch {
	case b.cols != nil:
		pl.colNames = b.cols
	case b.hasStats:
		pl.colNames = b.statsCols
	default:
		pl.colNames = []string{"@timestamp", "@message"}
	}
	for _, n := range pl.colNames {
		pl.colSlots = append(pl.colSlots, b.resolve(n))
	}
	if !b.hasLimit {
		b.stages = append(b.stages, &limitStage{n: DefaultLimit})
	}
	stages := reorder(b.stages)

	i := 0
	for i < len(stages) {
		rs, ok := stages[i].(rowStage)
		if !ok {
			break
		}
		pl.head = append(pl.head, rs)
		if f, ok := rs.(*filterStage); ok {
			pl.checks = append(pl.checks, prechecksFor(pl, f.p)...)
		}
		i++
	}
	pl.tail = stages[i:]

	// The tail may read, from the event it is handed, anything it or the
	// output reads or writes.
	live := map[int]bool{}
	for _, s := range pl.colSlots {
		live[s] = true
	}
	for _, st := range pl.tail {
		for _, s := range st.reads() {
			live[s] = true
		}
		if rs, ok := st.(rowStage); ok {
			for _, s := range rs.writes() {
				live[s] = true
			}
		}
	}
	for s := range live {
		if pl.slots[s].src != srcNull {
			pl.live = append(pl.live, s)
		}
	}
	slices.Sort(pl.live)

	for p := range pl.jsonPaths {
		pl.sieve.add(p)
	}
	for _, si := range pl.slots {
		if si.src == srcSys || si.src == srcJSON {
			pl.fields = append(pl.fields, si.name)
		}
	}
	slices.Sort(pl.fields)
	pl.fields = slices.Compact(pl.fields)
}

// reorder moves per-row stages that follow a sort to before it (they
// commute with it, since every definition has its own slot), so that a
// sort meets the limit or dedup after it: sort then limit becomes a
// bounded top-N heap, and sort then dedup a single pass keeping the best
// row per key.
func reorder(in []stage) []stage {
	var out, pending []stage
	flush := func() {
		out = append(out, pending...)
		pending = nil
	}
	for _, st := range in {
		switch st := st.(type) {
		case *sortStage:
			pending = append(pending, st)
		case rowStage:
			out = append(out, st)
		case *limitStage:
			if n := len(pending); n > 0 {
				last := pending[n-1].(*sortStage)
				pending[n-1] = &topNStage{keys: last.keys, n: st.n}
			}
			flush()
			out = append(out, st)
		case *dedupStage:
			if n := len(pending); n > 0 {
				last := pending[n-1].(*sortStage)
				st = &dedupStage{slots: st.slots, order: last.keys}
				pending = pending[:n-1]
			}
			flush()
			out = append(out, st)
		default:
			flush()
			out = append(out, st)
		}
	}
	flush()
	return out
}

// Compiled filter conditions.

type pred interface {
	eval(c *evalCtx) bool
	reads() []int
}

type opnd struct {
	slot int // -1 for a literal
	lit  value
}

func (o opnd) get(c *evalCtx) value {
	if o.slot < 0 {
		return o.lit
	}
	return c.get(o.slot)
}

func (o opnd) reads() []int {
	if o.slot < 0 {
		return nil
	}
	return []int{o.slot}
}

func (b *builder) opnd(o operand) opnd {
	if o.field == "" {
		return opnd{slot: -1, lit: o.lit.v}
	}
	return opnd{slot: b.resolve(o.field)}
}

func (b *builder) pred(e expr) pred { return e.compile(b) }

func (e *binExpr) compile(b *builder) pred {
	l, r := b.pred(e.l), b.pred(e.r)
	if e.or {
		return &orPred{l, r}
	}
	return &andPred{l, r}
}

func (e *notExpr) compile(b *builder) pred { return &notPred{b.pred(e.x)} }

func (e *cmpExpr) compile(b *builder) pred {
	return &cmpPred{op: e.op, l: b.opnd(e.l), r: b.opnd(e.r)}
}

func (e *likeExpr) compile(b *builder) pred {
	p := &likePred{x: b.opnd(e.x), neg: e.neg, sub: e.sub, re: e.re}
	if e.re != nil {
		// A regex that is only a literal is a substring search, which
		// strings.Contains does much faster than the regex engine.
		if lit, complete := e.re.LiteralPrefix(); complete {
			p.sub, p.re = lit, nil
		} else {
			p.req = requiredLits(e.re)
			p.match = matcher(e.re)
		}
	}
	return p
}

func (e *inExpr) compile(b *builder) pred {
	p := &inPred{x: b.opnd(e.x), neg: e.neg}
	for _, l := range e.list {
		p.list = append(p.list, l.v)
	}
	return p
}

func (e *funcExpr) compile(b *builder) pred {
	return &funcPred{fn: e.fn, slot: b.resolve(e.field)}
}

type andPred struct{ l, r pred }
type orPred struct{ l, r pred }
type notPred struct{ x pred }

func (p *andPred) eval(c *evalCtx) bool { return p.l.eval(c) && p.r.eval(c) }
func (p *orPred) eval(c *evalCtx) bool  { return p.l.eval(c) || p.r.eval(c) }
func (p *notPred) eval(c *evalCtx) bool { return !p.x.eval(c) }
func (p *andPred) reads() []int         { return append(p.l.reads(), p.r.reads()...) }
func (p *orPred) reads() []int          { return append(p.l.reads(), p.r.reads()...) }
func (p *notPred) reads() []int         { return p.x.reads() }

type cmpPred struct {
	op   tokKind
	l, r opnd
}

func (p *cmpPred) eval(c *evalCtx) bool {
	n, ok := cmpValues(p.l.get(c), p.r.get(c))
	if !ok {
		return false
	}
	switch p.op {
	case tEq:
		return n == 0
	case tNe:
		return n != 0
	case tLt:
		return n < 0
	case tLe:
		return n <= 0
	case tGt:
		return n > 0
	case tGe:
		return n >= 0
	}
	return false
}

func (p *cmpPred) reads() []int { return append(p.l.reads(), p.r.reads()...) }

type likePred struct {
	x   opnd
	neg bool
	sub string
	re  *regexp.Regexp
	// req are literals one of which every match of re contains: a value
	// with none of them is no match, found without the regex engine
	// (which costs tens of ns a byte for a pattern without a literal
	// prefix).
	req   []string
	match func(string) bool // re's test; see matcher
}

func (p *likePred) eval(c *evalCtx) bool {
	v := p.x.get(c)
	if v.isNull() {
		return false
	}
	s := v.str()
	var m bool
	if p.re != nil {
		m = (p.req == nil || containsAny(s, p.req)) && p.match(s)
	} else {
		m = strings.Contains(s, p.sub)
	}
	return m != p.neg
}

func (p *likePred) reads() []int { return p.x.reads() }

type inPred struct {
	x    opnd
	neg  bool
	list []value
}

func (p *inPred) eval(c *evalCtx) bool {
	v := p.x.get(c)
	if v.isNull() {
		return false
	}
	for _, l := range p.list {
		if n, ok := cmpValues(v, l); ok && n == 0 {
			return !p.neg
		}
	}
	return p.neg
}

func (p *inPred) reads() []int { return p.x.reads() }

type funcPred struct {
	fn   string
	slot int
}

func (p *funcPred) eval(c *evalCtx) bool {
	v := c.get(p.slot)
	switch p.fn {
	case "ispresent":
		return !v.isNull()
	case "isempty":
		return v.isNull() || v.k == kStr && v.s == ""
	case "isblank":
		return v.isNull() || v.k == kStr && strings.TrimSpace(v.s) == ""
	}
	return false
}

func (p *funcPred) reads() []int { return []int{p.slot} }

// precheck rejects an event whose raw message contains none of lits.
//
// It is sound when lits come from a like, = or in on a JSON field: if the
// message has no backslash, every JSON string in it appears verbatim, so a
// value containing a literal means the message contains it. Literals made
// only of characters a number can print as (digits, . e E + -) are not
// used, since 1e3 in the message reads as 1000; with a backslash anywhere
// the event is decoded and checked for real.
type precheck struct{ lits []string }

func (pc precheck) pass(msg string) bool {
	for _, l := range pc.lits {
		if strings.Contains(msg, l) {
			return true
		}
	}
	return strings.IndexByte(msg, '\\') >= 0
}

func prechecksFor(pl *plan, p pred) []precheck {
	if lits, ok := litsFor(pl, p); ok {
		return []precheck{{lits: lits}}
	}
	return nil
}

// litsFor returns literals of which every event passing p contains one.
func litsFor(pl *plan, p pred) ([]string, bool) {
	isJSON := func(o opnd) bool { return o.slot >= 0 && pl.slots[o.slot].src == srcJSON }
	// @message is the raw message itself: any literal in it is in the
	// message.
	isMessage := func(o opnd) bool {
		return o.slot >= 0 && pl.slots[o.slot].src == srcSys && pl.slots[o.slot].sys == sysMessage
	}
	switch p := p.(type) {
	case *andPred:
		if l, ok := litsFor(pl, p.l); ok {
			return l, true
		}
		return litsFor(pl, p.r)
	case *orPred:
		l, ok := litsFor(pl, p.l)
		if !ok {
			return nil, false
		}
		r, ok := litsFor(pl, p.r)
		return append(l, r...), ok
	case *likePred:
		if p.neg || !isJSON(p.x) && !isMessage(p.x) {
			return nil, false
		}
		lits := []string{p.sub}
		if p.re != nil {
			if lits = p.req; lits == nil {
				lit, _ := p.re.LiteralPrefix()
				lits = []string{lit}
			}
		}
		for _, l := range lits {
			if l == "" || !isMessage(p.x) && !safeLit(l) {
				return nil, false
			}
		}
		return lits, true
	case *cmpPred:
		if p.op != tEq {
			return nil, false
		}
		if isJSON(p.l) && p.r.slot < 0 && p.r.lit.k == kStr && safeLit(p.r.lit.s) {
			return []string{p.r.lit.s}, true
		}
		if isJSON(p.r) && p.l.slot < 0 && p.l.lit.k == kStr && safeLit(p.l.lit.s) {
			return []string{p.l.lit.s}, true
		}
	case *inPred:
		if p.neg || !isJSON(p.x) {
			return nil, false
		}
		var lits []string
		for _, v := range p.list {
			if v.k != kStr || !safeLit(v.s) {
				return nil, false
			}
			lits = append(lits, v.s)
		}
		return lits, true
	}
	return nil, false
}

func safeLit(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte("0123456789.eE+-", s[i]) < 0 {
			return true
		}
	}
	return false
}

func containsAny(s string, lits []string) bool {
	for _, l := range lits {
		if strings.Contains(s, l) {
			return true
		}
	}
	return false
}

// requiredLits returns literals one of which every match of re contains,
// or nil when it cannot tell (a case-folded literal, a pattern that may
// match without any literal).
func requiredLits(re *regexp.Regexp) []string {
	r, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil
	}
	lits := required(r.Simplify())
	for _, l := range lits {
		if l == "" {
			return nil
		}
	}
	return lits
}

func required(r *syntax.Regexp) []string {
	switch r.Op {
	case syntax.OpLiteral:
		if r.Flags&syntax.FoldCase != 0 {
			return nil
		}
		return []string{string(r.Rune)}
	case syntax.OpCapture, syntax.OpPlus:
		return required(r.Sub[0])
	case syntax.OpRepeat:
		if r.Min >= 1 {
			return required(r.Sub[0])
		}
	case syntax.OpConcat:
		// Any child's requirement holds; the one with the longest
		// shortest literal rules out the most.
		var best []string
		bestLen := 0
		for _, sub := range r.Sub {
			ls := required(sub)
			if ls == nil {
				continue
			}
			short := len(ls[0])
			for _, l := range ls {
				short = min(short, len(l))
			}
			if short > bestLen {
				best, bestLen = ls, short
			}
		}
		return best
	case syntax.OpAlternate:
		var all []string
		for _, sub := range r.Sub {
			ls := required(sub)
			if ls == nil {
				return nil
			}
			all = append(all, ls...)
		}
		return all
	}
	return nil
}
