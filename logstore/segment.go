package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// An index segment is the full-text index of a run of a group's events, in
// the order the store took them: the events' IDs, the distinct tokens their
// messages hold, and for each token the events holding it.
//
// A token is a maximal run of ASCII letters and digits and non-ASCII bytes,
// with ASCII letters folded to lower case; everything else separates tokens.
// An event's tokens are those of its message and, when the message holds a
// backslash, of the message with its JSON escapes decoded in place, so that a
// field's decoded value is found as well as the raw text.
//
// A segment changes only when events it covers are deleted on request
// (DeleteStreams rebuilds it), so a decoded one is cached by its row ID and
// dropped from the cache then.
//
// Encoding, all integers unsigned varints:
//
//	"PXS1"
//	n                      events, 1..segmentEvents
//	id₀, id₁-id₀, ...      the events' IDs, increasing
//	t                      distinct tokens
//	len(tok₀) ... len(tokₜ₋₁)
//	tok₀ tok₁ ...          the tokens, concatenated, strictly increasing
//	kind₀ size₀ ...        each token's postings: kind byte and size in bytes
//	postings₀ postings₁ ...
//
// A token's postings are the ordinals (0..n-1) of the events holding it,
// either as increasing varint deltas from -1 (kind 0) or as a bitmap of n
// bits, least significant bit first (kind 1), whichever is smaller.
const segmentMagic = "PXS1"

// segmentEvents is how many events a segment holds: the store indexes a
// group's events once this many have arrived, and scans the rest (fewer) on
// each query. A smaller segment shortens that scan and a larger one the list
// of segments a query visits.
const segmentEvents = 8192

const (
	postingsDeltas = 0
	postingsBitmap = 1
)

// isTokenByte reports whether c belongs in a token.
func isTokenByte(c byte) bool {
	return c >= utf8.RuneSelf || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z'
}

// lower folds c to lower case if it is an ASCII letter.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c | 0x20
	}
	return c
}

// eachToken calls f with each token of s, folded to lower case in buf (which
// it may grow and returns). f must not keep its argument.
func eachToken(s string, buf []byte, f func(tok []byte)) []byte {
	return eachTokenAt(s, buf, func(tok []byte, _ int) { f(tok) })
}

// unescapeJSON decodes the JSON string escapes in s wherever they are, as a
// JSON decoder would inside strings; an escape it cannot read is kept as
// written. Lone surrogates become U+FFFD, as with encoding/json.
func unescapeJSON(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		e := s[i+1]
		if d, ok := simpleEscapes[e]; ok {
			b.WriteByte(d)
			i += 2
			continue
		}
		r, ok := hex4(s, i+2)
		if e != 'u' || !ok {
			b.WriteByte(c) // kept as written
			i++
			continue
		}
		i += 6
		if utf16.IsSurrogate(r) {
			r2, ok := hex4(s, i+2)
			if d := utf16.DecodeRune(r, r2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' && d != utf8.RuneError {
				r = d
				i += 6
			} else {
				r = utf8.RuneError
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// simpleEscapes are JSON's one-character escapes and what they stand for.
var simpleEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 reads four hex digits at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c|0x20 && c|0x20 <= 'f':
			c = c | 0x20 - 'a' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// segmentBuilder accumulates events into a segment.
type segmentBuilder struct {
	ids   []int64
	posts map[string][]uint16 // token → ordinals of the events holding it, increasing
	buf   []byte
}

func newSegmentBuilder() *segmentBuilder {
	return &segmentBuilder{posts: make(map[string][]uint16)}
}

// add indexes the next event; ids must increase and there may be at most
// segmentEvents of them.
func (b *segmentBuilder) add(id int64, msg string) {
	ord := uint16(len(b.ids))
	b.ids = append(b.ids, id)
	note := func(tok []byte) {
		p, ok := b.posts[string(tok)]
		if ok && p[len(p)-1] == ord {
			return
		}
		if !ok {
			p = make([]uint16, 0, 1)
		}
		b.posts[string(tok)] = append(p, ord)
	}
	b.buf = eachToken(msg, b.buf, note)
	if strings.IndexByte(msg, '\\') >= 0 {
		b.buf = eachToken(unescapeJSON(msg), b.buf, note)
	}
}

// encode returns the segment's bytes.
func (b *segmentBuilder) encode() []byte {
	n := len(b.ids)
	toks := make([]string, 0, len(b.posts))
	for t := range b.posts {
		toks = append(toks, t)
	}
	slices.Sort(toks)

	out := append([]byte(nil), segmentMagic...)
	out = binary.AppendUvarint(out, uint64(n))
	prev := int64(0)
	for i, id := range b.ids {
		if i == 0 {
			out = binary.AppendUvarint(out, uint64(id))
		} else {
			out = binary.AppendUvarint(out, uint64(id-prev))
		}
		prev = id
	}
	out = binary.AppendUvarint(out, uint64(len(toks)))
	for _, t := range toks {
		out = binary.AppendUvarint(out, uint64(len(t)))
	}
	for _, t := range toks {
		out = append(out, t...)
	}
	bitmapSize := (n + 7) / 8
	posts := make([][]byte, len(toks))
	for i, t := range toks {
		var deltas []byte
		last := -1
		for _, o := range b.posts[t] {
			deltas = binary.AppendUvarint(deltas, uint64(int(o)-last))
			last = int(o)
		}
		if len(deltas) <= bitmapSize {
			out = append(out, postingsDeltas)
			posts[i] = deltas
		} else {
			bm := make([]byte, bitmapSize)
			for _, o := range b.posts[t] {
				bm[o/8] |= 1 << (o % 8)
			}
			out = append(out, postingsBitmap)
			posts[i] = bm
		}
		out = binary.AppendUvarint(out, uint64(len(posts[i])))
	}
	for _, p := range posts {
		out = append(out, p...)
	}
	return out
}

// segment is a decoded segment.
type segment struct {
	ids   []int64
	toks  []string // sorted
	kinds []byte
	posts [][]byte // slices of the encoded segment
	size  int      // bytes held, for the cache's bound
}

var errSegment = errors.New("logstore: corrupt index segment")

// decodeSegment decodes and checks an encoded segment. It keeps slices of b.
func decodeSegment(b []byte) (*segment, error) {
	d := segDecoder{b: b}
	if !strings.HasPrefix(string(b), segmentMagic) {
		return nil, fmt.Errorf("%w: no %s header", errSegment, segmentMagic)
	}
	d.i = len(segmentMagic)
	n := d.uvarint(segmentEvents)
	if d.err == nil && n == 0 {
		d.fail("no events")
	}
	s := &segment{ids: make([]int64, 0, n)}
	var id uint64
	for i := range n {
		v := d.uvarint(1<<63 - 1)
		if i > 0 && v == 0 {
			d.fail("event IDs not increasing")
		}
		if id+v > 1<<63-1 {
			d.fail("event ID overflows")
		}
		if d.err != nil {
			return nil, d.err
		}
		id += v
		s.ids = append(s.ids, int64(id))
	}
	t := d.uvarint(uint64(len(b)))
	lens := make([]int, 0, min(t, uint64(len(b))))
	total := 0
	for range t {
		l := int(d.uvarint(uint64(len(b))))
		if d.err == nil && l == 0 {
			d.fail("empty token")
		}
		if d.err != nil {
			return nil, d.err
		}
		total += l
		lens = append(lens, l)
	}
	all := d.bytes(total)
	if d.err != nil {
		return nil, d.err
	}
	joined := string(all)
	s.toks = make([]string, 0, t)
	off := 0
	for _, l := range lens {
		tok := joined[off : off+l]
		off += l
		if k := len(s.toks); k > 0 && s.toks[k-1] >= tok {
			return nil, fmt.Errorf("%w: tokens not in increasing order at %q", errSegment, tok)
		}
		s.toks = append(s.toks, tok)
	}
	s.kinds = make([]byte, t)
	sizes := make([]int, t)
	for i := range t {
		k := d.bytes(1)
		sz := int(d.uvarint(uint64(len(b))))
		if d.err != nil {
			return nil, d.err
		}
		s.kinds[i] = k[0]
		switch k[0] {
		case postingsDeltas:
		case postingsBitmap:
			if sz != (int(n)+7)/8 {
				return nil, fmt.Errorf("%w: bitmap of %d bytes for %d events", errSegment, sz, n)
			}
		default:
			return nil, fmt.Errorf("%w: unknown postings kind %d", errSegment, k[0])
		}
		sizes[i] = sz
	}
	s.posts = make([][]byte, t)
	for i, sz := range sizes {
		s.posts[i] = d.bytes(sz)
		if d.err != nil {
			return nil, d.err
		}
		if s.kinds[i] == postingsDeltas {
			if err := checkDeltas(s.posts[i], int(n)); err != nil {
				return nil, fmt.Errorf("%w: token %q: %v", errSegment, s.toks[i], err)
			}
		} else if n%8 != 0 && s.posts[i][len(s.posts[i])-1]>>(n%8) != 0 {
			return nil, fmt.Errorf("%w: token %q: bitmap names events past the end", errSegment, s.toks[i])
		}
	}
	if d.i != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the end", errSegment, len(b)-d.i)
	}
	s.size = len(b) + 16*len(s.toks) + 8*len(s.ids)
	return s, nil
}

// checkDeltas checks that p is a non-empty list of increasing ordinals below n.
func checkDeltas(p []byte, n int) error {
	if len(p) == 0 {
		return errors.New("no events")
	}
	last := -1
	for len(p) > 0 {
		v, k := binary.Uvarint(p)
		if k <= 0 || v == 0 || v > uint64(n) || last+int(v) >= n {
			return errors.New("bad ordinal")
		}
		last += int(v)
		p = p[k:]
	}
	return nil
}

// segDecoder reads a segment's fields, remembering the first error.
type segDecoder struct {
	b   []byte
	i   int
	err error
}

func (d *segDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", errSegment, what, d.i)
	}
}

// uvarint reads a varint no larger than max.
func (d *segDecoder) uvarint(max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Uvarint(d.b[d.i:])
	if k <= 0 {
		d.fail("truncated or overlong number")
		return 0
	}
	if v > max {
		d.fail(fmt.Sprintf("number %d out of range", v))
		return 0
	}
	d.i += k
	return v
}

func (d *segDecoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.i {
		d.fail("truncated")
		return nil
	}
	p := d.b[d.i : d.i+n]
	d.i += n
	return p
}

// bitset is a set of a segment's ordinals.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) fill(n int) {
	for i := range b {
		b[i] = ^uint64(0)
	}
	if r := n % 64; r != 0 {
		b[len(b)-1] = 1<<r - 1
	}
}

func (b bitset) and(o bitset) {
	for i := range b {
		b[i] &= o[i]
	}
}

func (b bitset) count() int {
	c := 0
	for _, w := range b {
		c += bits.OnesCount64(w)
	}
	return c
}

// orPostings adds the events of token i to set.
func (s *segment) orPostings(i int, set bitset) {
	p := s.posts[i]
	if s.kinds[i] == postingsBitmap {
		for j, c := range p {
			set[j/8] |= uint64(c) << (j % 8 * 8)
		}
		return
	}
	o := -1
	for len(p) > 0 {
		v, k := binary.Uvarint(p)
		o += int(v)
		set[o/64] |= 1 << (o % 64)
		p = p[k:]
	}
}
