package logquery

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Run executes q over the events next yields, until next reports false.
// next is called from the calling goroutine only.
//
// Execution streams: filter, parse and fields run per event in one pass;
// stats keeps one entry per group; sort followed by limit keeps a bounded
// heap; dedup keeps one row per key. JSON in @message is decoded only for
// events that reach a condition or column reading a JSON field, and only
// the paths the query names; a like, = or in on a JSON field first checks
// that the raw message contains the literal at all.
//
// Run stops with an error when ctx is done or when lim is exceeded.
func (q *Query) Run(ctx context.Context, next func() (Event, bool), lim Limits) (*Result, error) {
	if q == nil || q.pl == nil {
		return nil, errors.New("logquery: Run on a nil Query")
	}
	if next == nil {
		return nil, errors.New("logquery: Run with a nil event source")
	}
	pl := q.pl
	x := &exec{
		pl:  pl,
		lim: lim.withDefaults(),
		res: &Result{Columns: slices.Clone(pl.colNames), Rows: [][]any{}},
	}
	s := x.build()
	c := newEventCtx(pl)
	res := x.res
	if workers := runtime.GOMAXPROCS(0); workers > 1 && hasFilter(pl.head) {
		if err := x.runPrefiltered(ctx, next, s, c, workers); err != nil {
			return nil, err
		}
		if err := s.finish(); err != nil {
			return nil, err
		}
		return res, nil
	}
	for {
		// Checking the context costs little, but not nothing; every 1024
		// events still stops a run within microseconds.
		if res.Scanned&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("query canceled after reading %d events: %w", res.Scanned, err)
			}
		}
		ev, ok := next()
		if !ok {
			break
		}
		res.Scanned++
		if !pl.passes(c, ev, res.Scanned) {
			continue
		}
		res.Matched++
		if err := s.push(c); err != nil {
			return nil, err
		}
	}
	if err := s.finish(); err != nil {
		return nil, err
	}
	return res, nil
}

// prefilterBatch is events whose filters other goroutines evaluate.
type prefilterBatch struct {
	evs  []Event
	pass []bool        // written by the worker
	done chan struct{} // closed when pass is
}

// prefilterBatchSize is how many events go to a worker at a time.
const prefilterBatchSize = 256

// hasFilter reports whether head has a filter, the stage that may drop
// most events.
func hasFilter(head []rowStage) bool {
	return slices.ContainsFunc(head, func(st rowStage) bool { _, ok := st.(*filterStage); return ok })
}

// passes reports whether ev gets through the checks and the head.
func (pl *plan) passes(c *evalCtx, ev Event, seq int64) bool {
	for _, pc := range pl.checks {
		if !pc.pass(ev.Message) {
			return false
		}
	}
	c.begin(ev, seq)
	for _, st := range pl.head {
		if !st.apply(c) {
			return false
		}
	}
	return true
}

// runPrefiltered is Run's loop with the filters spread over workers: a
// regex or JSON filter over every event of a full scan is most of a query's
// work, and the head is a function of the event alone. Workers tell which
// events pass, in batches; this goroutine takes the batches in order and
// runs the head again on the events that passed (few, when the filter is
// what costs), then the tail, so results are as without workers.
func (x *exec) runPrefiltered(ctx context.Context, next func() (Event, bool), s sink, c *evalCtx, workers int) error {
	pl, res := x.pl, x.res
	in := make(chan *prefilterBatch, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc := newEventCtx(pl)
			for b := range in {
				for i, ev := range b.evs {
					b.pass[i] = pl.passes(wc, ev, 0)
				}
				close(b.done)
			}
		}()
	}
	defer func() {
		close(in)
		wg.Wait()
	}()
	var queue []*prefilterBatch // sent, in order
	eof := false
	for !eof || len(queue) > 0 {
		for !eof && len(queue) < 2*workers {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("query canceled after reading %d events: %w", res.Scanned, err)
			}
			b := &prefilterBatch{evs: make([]Event, 0, prefilterBatchSize), done: make(chan struct{})}
			for len(b.evs) < prefilterBatchSize {
				ev, ok := next()
				if !ok {
					eof = true
					break
				}
				b.evs = append(b.evs, ev)
			}
			if len(b.evs) == 0 {
				break
			}
			b.pass = make([]bool, len(b.evs))
			in <- b
			queue = append(queue, b)
		}
		if len(queue) == 0 {
			break
		}
		b := queue[0]
		queue = queue[1:]
		<-b.done
		for i, ev := range b.evs {
			res.Scanned++
			if !b.pass[i] || !pl.passes(c, ev, res.Scanned) {
				continue
			}
			res.Matched++
			if err := s.push(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// row is a row held past the event it came from.
type row struct {
	vals []value // indexed by slot
	seq  int64   // arrival order, for stable ordering
}

// evalCtx is what stages read fields from: either the current event, with
// fields loaded on first use, or a held row.
type evalCtx struct {
	pl      *plan
	rowMode bool
	vals    []value
	row     *row // in row mode
	seq     int64

	// Event mode.
	ev     Event
	filled []uint32 // slot is loaded for this event when filled[slot] == gen
	gen    uint32
	js     jsonScanner
}

func newEventCtx(pl *plan) *evalCtx {
	c := &evalCtx{
		pl:     pl,
		vals:   make([]value, len(pl.slots)),
		filled: make([]uint32, len(pl.slots)),
	}
	c.js.paths = pl.jsonPaths
	c.js.sieve = &pl.sieve
	c.js.set = func(slot int, v value) { c.vals[slot] = v }
	return c
}

// begin starts a new event. Bumping gen forgets every loaded field at
// once, without clearing the slots.
func (c *evalCtx) begin(ev Event, seq int64) {
	c.ev, c.seq = ev, seq
	c.gen++
	if c.gen == 0 {
		clear(c.filled)
		c.gen = 1
	}
}

func (c *evalCtx) get(j int) value {
	if c.rowMode || c.filled[j] == c.gen {
		return c.vals[j]
	}
	return c.load(j)
}

func (c *evalCtx) set(j int, v value) {
	c.vals[j] = v
	if !c.rowMode {
		c.filled[j] = c.gen
	}
}

func (c *evalCtx) load(j int) value {
	var v value
	switch si := c.pl.slots[j]; si.src {
	case srcSys:
		switch si.sys {
		case sysTimestamp:
			v = timeOf(c.ev.Timestamp)
		case sysIngestion:
			v = timeOf(c.ev.Ingestion)
		case sysMessage:
			v = strValue(c.ev.Message)
		case sysStream:
			if c.ev.Stream != "" {
				v = strValue(c.ev.Stream)
			}
		}
	case srcJSON:
		c.decodeJSON()
		return c.vals[j]
	}
	// Computed slots not yet set by their stage for this event, and null
	// slots, read as null.
	c.set(j, v)
	return v
}

// decodeJSON loads every JSON field the query reads, in one pass over the
// message.
func (c *evalCtx) decodeJSON() {
	for _, j := range c.pl.jsonSlots {
		c.vals[j] = nullValue
		c.filled[j] = c.gen
	}
	if !c.js.scan(c.ev.Message) {
		for _, j := range c.pl.jsonSlots {
			c.vals[j] = nullValue
		}
	}
}

// Per-row stages.

type filterStage struct{ p pred }

func (st *filterStage) apply(c *evalCtx) bool { return st.p.eval(c) }
func (st *filterStage) reads() []int          { return st.p.reads() }
func (st *filterStage) writes() []int         { return nil }

// copyStage gives fields their aliases.
type copyStage struct{ from, to []int }

func (st *copyStage) apply(c *evalCtx) bool {
	for i, f := range st.from {
		c.set(st.to[i], c.get(f))
	}
	return true
}
func (st *copyStage) reads() []int  { return st.from }
func (st *copyStage) writes() []int { return st.to }

type parseStage struct {
	src   int
	lits  []string // glob mode: the text around the wildcards
	re    *regexp.Regexp
	group []int // regex mode: slot per subexpression, -1 for unnamed
	out   []int
}

func (st *parseStage) reads() []int  { return []int{st.src} }
func (st *parseStage) writes() []int { return st.out }

// apply extracts the fields; when the pattern does not match they are
// null and, as in Insights, the row is kept.
func (st *parseStage) apply(c *evalCtx) bool {
	ok := false
	if v := c.get(st.src); !v.isNull() {
		if st.re != nil {
			ok = st.regex(c, v.str())
		} else {
			ok = st.glob(c, v.str())
		}
	}
	if !ok {
		for _, o := range st.out {
			c.set(o, nullValue)
		}
	}
	return true
}

// glob matches like the regex the pattern stands for, with each * a lazy
// (.*?) except a final one, which takes the rest: the text before the
// first * is found anywhere (or anchors at the start when the pattern
// begins with *), and each later piece of text at its first occurrence.
func (st *parseStage) glob(c *evalCtx, s string) bool {
	var buf [8]string
	caps := buf[:0]
	pos := 0
	if l := st.lits[0]; l != "" {
		i := strings.Index(s, l)
		if i < 0 {
			return false
		}
		pos = i + len(l)
	}
	last := len(st.lits) - 1
	for k := 1; k <= last; k++ {
		l := st.lits[k]
		if k == last && l == "" {
			caps = append(caps, s[pos:])
			break
		}
		i := strings.Index(s[pos:], l)
		if i < 0 {
			return false
		}
		caps = append(caps, s[pos:pos+i])
		pos += i + len(l)
	}
	for i, o := range st.out {
		c.set(o, strValue(caps[i]))
	}
	return true
}

func (st *parseStage) regex(c *evalCtx, s string) bool {
	m := st.re.FindStringSubmatchIndex(s)
	if m == nil {
		return false
	}
	for i, slot := range st.group {
		if slot < 0 {
			continue
		}
		if m[2*i] < 0 {
			c.set(slot, nullValue)
		} else {
			c.set(slot, strValue(s[m[2*i]:m[2*i+1]]))
		}
	}
	return true
}

// Row-holding stages.

type orderKey struct {
	slot int
	desc bool
}

type keySpec struct {
	slot int
	bin  *binSpec
}

type aggSpec struct {
	fn   string
	slot int // -1 for count(*)
}

type statsStage struct {
	keys   []keySpec
	aggs   []aggSpec
	keyOut []int
	aggOut []int
}

func (st *statsStage) reads() []int {
	var r []int
	for _, k := range st.keys {
		r = append(r, k.slot)
	}
	for _, a := range st.aggs {
		if a.slot >= 0 {
			r = append(r, a.slot)
		}
	}
	return r
}

type sortStage struct{ keys []orderKey }

func (st *sortStage) reads() []int { return orderReads(st.keys) }

type topNStage struct {
	keys []orderKey
	n    int
}

func (st *topNStage) reads() []int { return orderReads(st.keys) }

type dedupStage struct {
	slots   []int
	order   []orderKey // keep the first row per key in this order,
	arrival bool       // or, when set, in arrival order
}

func (st *dedupStage) reads() []int { return append(orderReads(st.order), st.slots...) }

type limitStage struct{ n int }

func (st *limitStage) reads() []int { return nil }

func orderReads(keys []orderKey) []int {
	var r []int
	for _, k := range keys {
		r = append(r, k.slot)
	}
	return r
}

// cmpRows compares two rows by keys: nulls last in either direction.
func cmpRows(keys []orderKey, a, b []value) int {
	for _, k := range keys {
		va, vb := a[k.slot], b[k.slot]
		switch {
		case va.isNull() && vb.isNull():
			continue
		case va.isNull():
			return 1
		case vb.isNull():
			return -1
		}
		c := cmpSort(va, vb)
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// Sinks: the tail of the pipeline, built per run.

type sink interface {
	push(c *evalCtx) error
	finish() error
}

type exec struct {
	pl  *plan
	lim Limits
	res *Result
}

func (x *exec) build() sink {
	var s sink = &collectSink{x: x}
	for i := len(x.pl.tail) - 1; i >= 0; i-- {
		switch st := x.pl.tail[i].(type) {
		case rowStage:
			s = &rowSink{st: st, next: s}
		case *statsStage:
			s = &statsSink{
				x: x, st: st, out: out{next: s},
				groups:  map[string]*group{},
				keyVals: make([]value, len(st.keys)),
			}
		case *sortStage:
			s = &sortSink{x: x, keys: st.keys, out: out{next: s}}
		case *topNStage:
			s = &topNSink{x: x, st: st, out: out{next: s}, tmp: make([]value, len(x.pl.slots))}
		case *dedupStage:
			s = &dedupSink{x: x, st: st, out: out{next: s}, best: map[string]*row{}, tmp: make([]value, len(x.pl.slots))}
		case *limitStage:
			s = &limitSink{n: st.n, next: s}
		}
	}
	return s
}

// own returns the row c reads from, copying an event's fields into a new
// row when c is on an event.
func (x *exec) own(c *evalCtx) *row {
	return x.ownInto(c, nil)
}

// ownInto is own, reusing the storage of spare (a row being dropped) if
// not nil.
func (x *exec) ownInto(c *evalCtx, spare *row) *row {
	if c.rowMode {
		return c.row
	}
	r := spare
	if r == nil {
		r = &row{vals: make([]value, len(x.pl.slots))}
	}
	r.seq = c.seq
	for _, j := range x.pl.live {
		r.vals[j] = c.get(j)
	}
	return r
}

// out sends held rows on to the next sink.
type out struct {
	next sink
	c    evalCtx
}

func (o *out) emit(r *row) error {
	o.c.rowMode, o.c.vals, o.c.row, o.c.seq = true, r.vals, r, r.seq
	return o.next.push(&o.c)
}

// emitAll sends rows in order, renumbering them so later stages see this
// order as arrival order.
func (o *out) emitAll(rows []*row) error {
	for i, r := range rows {
		r.seq = int64(i)
		if err := o.emit(r); err != nil {
			return err
		}
	}
	return o.next.finish()
}

type rowSink struct {
	st   rowStage
	next sink
}

func (s *rowSink) push(c *evalCtx) error {
	if !s.st.apply(c) {
		return nil
	}
	return s.next.push(c)
}

func (s *rowSink) finish() error { return s.next.finish() }

type limitSink struct {
	n, count int
	next     sink
}

func (s *limitSink) push(c *evalCtx) error {
	if s.count >= s.n {
		return nil
	}
	s.count++
	return s.next.push(c)
}

func (s *limitSink) finish() error { return s.next.finish() }

type collectSink struct{ x *exec }

func (s *collectSink) push(c *evalCtx) error {
	res := s.x.res
	if len(res.Rows) >= s.x.lim.MaxRows {
		return fmt.Errorf("query: more than %d result rows: lower the limit", s.x.lim.MaxRows)
	}
	r := make([]any, len(s.x.pl.colSlots))
	for i, slot := range s.x.pl.colSlots {
		r[i] = c.get(slot).toAny()
	}
	res.Rows = append(res.Rows, r)
	return nil
}

func (s *collectSink) finish() error { return nil }

type sortSink struct {
	x    *exec
	keys []orderKey
	rows []*row
	out
}

func (s *sortSink) push(c *evalCtx) error {
	if len(s.rows) >= s.x.lim.MaxRows {
		return fmt.Errorf("query: more than %d rows to sort: add a limit right after sort, or a filter", s.x.lim.MaxRows)
	}
	s.rows = append(s.rows, s.x.own(c))
	return nil
}

func (s *sortSink) finish() error {
	slices.SortStableFunc(s.rows, func(a, b *row) int { return cmpRows(s.keys, a.vals, b.vals) })
	rows := s.rows
	s.rows = nil
	return s.emitAll(rows)
}

// topNSink is sort followed by limit: a heap of the best n rows so far,
// worst at the root, so most rows are rejected after comparing sort keys,
// without being copied.
type topNSink struct {
	x   *exec
	st  *topNStage
	h   []*row
	tmp []value // the candidate's sort keys, by slot
	out
}

// worse reports whether a sorts after b; ties go by arrival, keeping the
// sort stable.
func (s *topNSink) worse(a, b *row) bool {
	if c := cmpRows(s.st.keys, a.vals, b.vals); c != 0 {
		return c > 0
	}
	return a.seq > b.seq
}

func (s *topNSink) push(c *evalCtx) error {
	if len(s.h) < s.st.n {
		if len(s.h) >= s.x.lim.MaxRows {
			return fmt.Errorf("query: more than %d rows to sort: lower the limit", s.x.lim.MaxRows)
		}
		s.h = append(s.h, s.x.own(c))
		s.up(len(s.h) - 1)
		return nil
	}
	for _, k := range s.st.keys {
		s.tmp[k.slot] = c.get(k.slot)
	}
	// The candidate arrived last, so a tie does not displace the root.
	if cmpRows(s.st.keys, s.tmp, s.h[0].vals) >= 0 {
		return nil
	}
	s.h[0] = s.x.ownInto(c, s.h[0])
	s.down(0)
	return nil
}

func (s *topNSink) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !s.worse(s.h[i], s.h[p]) {
			return
		}
		s.h[i], s.h[p] = s.h[p], s.h[i]
		i = p
	}
}

func (s *topNSink) down(i int) {
	for {
		w := i
		for _, ch := range [2]int{2*i + 1, 2*i + 2} {
			if ch < len(s.h) && s.worse(s.h[ch], s.h[w]) {
				w = ch
			}
		}
		if w == i {
			return
		}
		s.h[i], s.h[w] = s.h[w], s.h[i]
		i = w
	}
}

func (s *topNSink) finish() error {
	rows := s.h
	s.h = nil
	slices.SortFunc(rows, func(a, b *row) int {
		if s.worse(a, b) {
			return 1
		}
		if s.worse(b, a) {
			return -1
		}
		return 0
	})
	return s.emitAll(rows)
}

// dedupSink keeps, per combination of key values, the row that comes
// first in the order (or arrived first); rows with a null key are all
// kept, as in Insights.
type dedupSink struct {
	x     *exec
	st    *dedupStage
	best  map[string]*row
	nulls []*row
	held  int
	buf   []byte
	tmp   []value
	out
}

func (s *dedupSink) hold(c *evalCtx) (*row, error) {
	if s.held >= s.x.lim.MaxRows {
		return nil, fmt.Errorf("query: more than %d rows held for dedup: add a filter", s.x.lim.MaxRows)
	}
	s.held++
	return s.x.own(c), nil
}

func (s *dedupSink) push(c *evalCtx) error {
	buf := s.buf[:0]
	hasNull := false
	for _, slot := range s.st.slots {
		v := c.get(slot)
		hasNull = hasNull || v.isNull()
		buf = appendKey(buf, v)
	}
	s.buf = buf
	if hasNull {
		r, err := s.hold(c)
		if err != nil {
			return err
		}
		s.nulls = append(s.nulls, r)
		return nil
	}
	old, ok := s.best[string(buf)]
	if !ok {
		r, err := s.hold(c)
		if err != nil {
			return err
		}
		s.best[string(buf)] = r
		return nil
	}
	if s.st.arrival {
		return nil
	}
	for _, k := range s.st.order {
		s.tmp[k.slot] = c.get(k.slot)
	}
	if cmpRows(s.st.order, s.tmp, old.vals) < 0 {
		s.best[string(buf)] = s.x.own(c)
	}
	return nil
}

func (s *dedupSink) finish() error {
	rows := s.nulls
	for _, r := range s.best {
		rows = append(rows, r)
	}
	s.best, s.nulls = nil, nil
	slices.SortFunc(rows, func(a, b *row) int {
		if !s.st.arrival {
			if c := cmpRows(s.st.order, a.vals, b.vals); c != 0 {
				return c
			}
		}
		return cmp3(a.seq, b.seq)
	})
	return s.emitAll(rows)
}

type statsSink struct {
	x       *exec
	st      *statsStage
	groups  map[string]*group
	order   []*group // first-seen order, which is the output order
	keyVals []value
	buf     []byte
	kbuf    []byte
	nvals   int // values held by count_distinct, across groups
	out
}

type group struct {
	keys []value
	aggs []aggState
}

type aggState struct {
	n     int64
	i     int64   // sum of ints, while intOK
	f     float64 // sum as floats
	intOK bool    // every value summed so far was an int, without overflow
	v     value   // min or max
	set   map[string]struct{}
}

func (s *statsSink) newGroup() *group {
	g := &group{keys: make([]value, len(s.st.keys)), aggs: make([]aggState, len(s.st.aggs))}
	for i := range g.aggs {
		g.aggs[i].intOK = true
	}
	return g
}

func (s *statsSink) push(c *evalCtx) error {
	buf := s.buf[:0]
	for i, k := range s.st.keys {
		v := c.get(k.slot)
		if k.bin != nil {
			v = binTime(v, k.bin)
		}
		s.keyVals[i] = v
		buf = appendKey(buf, v)
	}
	s.buf = buf
	g := s.groups[string(buf)]
	if g == nil {
		if len(s.order) >= s.x.lim.MaxGroups {
			return fmt.Errorf("query: more than %d groups: narrow the query or add a filter", s.x.lim.MaxGroups)
		}
		g = s.newGroup()
		for i, v := range s.keyVals {
			g.keys[i] = v.cloned()
		}
		s.groups[string(buf)] = g
		s.order = append(s.order, g)
	}
	for i, a := range s.st.aggs {
		if err := s.update(&g.aggs[i], a, c); err != nil {
			return err
		}
	}
	return nil
}

func (s *statsSink) update(st *aggState, a aggSpec, c *evalCtx) error {
	if a.slot < 0 { // count(*)
		st.n++
		return nil
	}
	v := c.get(a.slot)
	if v.isNull() {
		return nil
	}
	switch a.fn {
	case "count":
		st.n++
	case "count_distinct":
		s.kbuf = appendKey(s.kbuf[:0], v)
		if _, ok := st.set[string(s.kbuf)]; ok {
			return nil
		}
		if s.nvals >= s.x.lim.MaxRows {
			return fmt.Errorf("query: count_distinct holds more than %d distinct values: narrow the query or add a filter", s.x.lim.MaxRows)
		}
		if st.set == nil {
			st.set = map[string]struct{}{}
		}
		st.set[string(s.kbuf)] = struct{}{}
		s.nvals++
	case "sum", "avg":
		n, ok := v.num()
		if !ok {
			return nil
		}
		st.n++
		st.f += n.f
		if st.intOK {
			sum := st.i + n.i
			// Overflow when both addends have the sign the sum lacks.
			if !n.isInt || (st.i >= 0) == (n.i >= 0) && (sum >= 0) != (st.i >= 0) {
				st.intOK = false
			} else {
				st.i = sum
			}
		}
	case "min", "max":
		if st.n == 0 || a.fn == "min" && cmpSort(v, st.v) < 0 || a.fn == "max" && cmpSort(v, st.v) > 0 {
			st.v = v.cloned()
		}
		st.n++
	}
	return nil
}

func (st *aggState) result(fn string) value {
	switch fn {
	case "count":
		return intValue(st.n)
	case "count_distinct":
		return intValue(int64(len(st.set)))
	case "sum":
		switch {
		case st.n == 0:
			return nullValue
		case st.intOK:
			return intValue(st.i)
		}
		return floatValue(st.f)
	case "avg":
		if st.n == 0 {
			return nullValue
		}
		return floatValue(st.f / float64(st.n))
	case "min", "max":
		if st.n == 0 {
			return nullValue
		}
		return st.v
	}
	return nullValue
}

func (s *statsSink) finish() error {
	if len(s.st.keys) == 0 && len(s.order) == 0 {
		// Without by, stats has one row even over no events: count 0.
		s.order = append(s.order, s.newGroup())
	}
	rows := make([]*row, len(s.order))
	for i, g := range s.order {
		r := &row{vals: make([]value, len(s.x.pl.slots))}
		for k, slot := range s.st.keyOut {
			r.vals[slot] = g.keys[k]
		}
		for k, slot := range s.st.aggOut {
			r.vals[slot] = g.aggs[k].result(s.st.aggs[k].fn)
		}
		rows[i] = r
	}
	s.groups, s.order = nil, nil
	return s.emitAll(rows)
}

const (
	day  = int64(24 * time.Hour)
	week = 7 * day
)

// binTime truncates a timestamp to its bin: fixed periods count from the
// Unix epoch, except weeks, which start on Monday (UTC); months, quarters
// and years follow the calendar.
func binTime(v value, b *binSpec) value {
	if v.k != kTime {
		return nullValue
	}
	if b.months > 0 {
		t := time.Unix(0, v.i).UTC()
		m := int64(t.Year())*12 + int64(t.Month()) - 1
		per := b.n * b.months
		m = floorDiv(m, per) * per
		y := floorDiv(m, 12)
		return timeValue(time.Date(int(y), time.Month(m-y*12+1), 1, 0, 0, 0, 0, time.UTC).UnixNano())
	}
	per := b.n * b.unit
	var off int64
	if b.unit == week {
		off = 4 * day // 1970-01-01 was a Thursday
	}
	return timeValue(floorDiv(v.i-off, per)*per + off)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
