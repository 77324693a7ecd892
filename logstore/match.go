package logstore

import (
	"sort"
	"strings"
)

// A textPlan is what the index can tell about a query's literals (see
// GroupEventsContaining): for each list, one of its literals; for each
// literal, all of its tokens.
type textPlan [][][]tokenMatch

// tokenMatch is a token a literal holds and how an event's token must relate
// to it. A literal's first token may be the end of a longer token in the
// text, its last the start of one; a token bounded by separators inside the
// literal is a whole token of the text too.
type tokenMatch struct {
	tok       string
	openLeft  bool // the text's token may have more before tok
	openRight bool // the text's token may have more after tok
}

// planText turns GroupEventsContaining's anyOf into a textPlan. A list with
// a literal that holds no token tells nothing and is left out; ok is false
// when no list is left.
func planText(anyOf [][]string) (plan textPlan, ok bool) {
	var buf []byte
	for _, lits := range anyOf {
		if len(lits) == 0 {
			continue
		}
		var list [][]tokenMatch
		for _, l := range lits {
			var toks []tokenMatch
			start := 0
			buf = eachTokenAt(l, buf, func(tok []byte, at int) {
				toks = append(toks, tokenMatch{tok: string(tok), openLeft: at == 0})
				start = at + len(tok)
			})
			if len(toks) == 0 {
				list = nil
				break
			}
			if start == len(l) {
				toks[len(toks)-1].openRight = true
			}
			list = append(list, toks)
		}
		if list != nil {
			plan = append(plan, list)
		}
	}
	return plan, len(plan) > 0
}

// eachTokenAt is eachToken that also passes each token's offset in s.
func eachTokenAt(s string, buf []byte, f func(tok []byte, at int)) []byte {
	for i := 0; i < len(s); {
		if !isTokenByte(s[i]) {
			i++
			continue
		}
		j := i
		buf = buf[:0]
		for ; j < len(s) && isTokenByte(s[j]); j++ {
			buf = append(buf, lower(s[j]))
		}
		f(buf, i)
		i = j
	}
	return buf
}

// candidates returns the ordinals of the segment's events that may satisfy
// the plan: a superset of those whose message holds, for each list, one of
// its literals (as raw text, or in a decoded JSON string).
func (s *segment) candidates(plan textPlan) bitset {
	n := len(s.ids)
	out := newBitset(n)
	out.fill(n)
	for _, list := range plan {
		any := newBitset(n)
		for _, lit := range list {
			all := newBitset(n)
			all.fill(n)
			for _, tm := range lit {
				all.and(s.tokenSet(tm))
			}
			for i := range any {
				any[i] |= all[i]
			}
		}
		out.and(any)
	}
	return out
}

// tokenSet returns the events holding a token that tm matches.
func (s *segment) tokenSet(tm tokenMatch) bitset {
	set := newBitset(len(s.ids))
	switch {
	case !tm.openLeft:
		// Exact or prefix: a range of the sorted tokens.
		i := sort.SearchStrings(s.toks, tm.tok)
		for ; i < len(s.toks); i++ {
			t := s.toks[i]
			if t == tm.tok {
				s.orPostings(i, set)
				if !tm.openRight {
					break
				}
				continue
			}
			if !tm.openRight || !strings.HasPrefix(t, tm.tok) {
				break
			}
			s.orPostings(i, set)
		}
	default:
		for i, t := range s.toks {
			if tm.openRight && strings.Contains(t, tm.tok) || !tm.openRight && strings.HasSuffix(t, tm.tok) {
				s.orPostings(i, set)
			}
		}
	}
	return set
}
