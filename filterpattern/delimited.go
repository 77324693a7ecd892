package filterpattern

import "strings"

// A word of a space-delimited event. "Characters between brackets ("[]")
// and double quotation marks ("") are considered single fields"; the
// docs' extracted fields show them without the brackets and quotes.
type word struct {
	val   string
	start int // offset in the message, brackets or quotes included
}

// splitWords splits msg into words at runs of whitespace.
func splitWords(msg string) []word {
	var words []word
	for i := 0; ; {
		for i < len(msg) && isSpace(msg[i]) {
			i++
		}
		if i >= len(msg) {
			return words
		}
		start := i
		switch msg[i] {
		case '"':
			// An escaped quote, as in a quoted JSON string, does not end
			// the field.
			for j := i + 1; j < len(msg); j++ {
				if msg[j] == '\\' {
					j++
				} else if msg[j] == '"' {
					words = append(words, word{val: msg[i+1 : j], start: start})
					i = j + 1
					break
				}
			}
			if i > start {
				continue
			}
		case '[':
			if n := strings.IndexByte(msg[i+1:], ']'); n >= 0 {
				words = append(words, word{val: msg[i+1 : i+1+n], start: start})
				i += n + 2
				continue
			}
		}
		// A plain word, or an unterminated quote or bracket, which is
		// just part of one.
		for i < len(msg) && !isSpace(msg[i]) {
			i++
		}
		words = append(words, word{val: msg[start:i], start: start})
	}
}

// A delimitedMatch records how a space-delimited pattern lined up with a
// message.
type delimitedMatch struct {
	p     *Pattern
	msg   string
	words []word
	// first[e] is the index of the first word of element e; an element
	// covers the words up to the next element's first. With no ellipsis
	// and more words than fields, the last field covers the rest of the
	// line.
	first []int
}

// A binding is a field of a matched event.
type binding struct {
	name string // "" for an unnamed field or a word covered by "..."
	pos  int    // word position, from 1
	val  string
}

func (p *Pattern) matchDelimited(msg string) (delimitedMatch, bool) {
	m := delimitedMatch{p: p, msg: msg, words: splitWords(msg)}
	m.first = make([]int, len(p.elems)+1)
	if p.ellipses == 0 {
		n := len(p.elems)
		if len(m.words) < n {
			return m, false
		}
		for e := range p.elems {
			m.first[e] = e
			if !p.elems[e].test(m.fieldValue(e)) {
				return m, false
			}
		}
		m.first[n] = len(m.words)
		return m, true
	}
	var failed []bool
	if p.ellipses > 1 {
		// With several ellipses the search can revisit the same
		// (element, word) pair many times; remembering failures keeps it
		// at O(elements × words).
		failed = make([]bool, (len(p.elems)+1)*(len(m.words)+1))
	}
	return m, m.align(0, 0, failed)
}

// align reports whether elements e... can cover words w... exactly,
// recording where each element starts.
func (m *delimitedMatch) align(e, w int, failed []bool) bool {
	elems := m.p.elems
	if e == len(elems) {
		m.first[e] = w
		return w == len(m.words)
	}
	key := e*(len(m.words)+1) + w
	if failed != nil && failed[key] {
		return false
	}
	m.first[e] = w
	if elems[e].ellipsis {
		for k := w; k <= len(m.words); k++ {
			if m.align(e+1, k, failed) {
				m.first[e] = w
				return true
			}
		}
	} else if w < len(m.words) && elems[e].test(m.words[w].val) && m.align(e+1, w+1, failed) {
		m.first[e] = w
		return true
	}
	if failed != nil {
		failed[key] = true
	}
	return false
}

// fieldValue returns the value of field e when the pattern has no
// ellipsis and field e starts at word e.
func (m *delimitedMatch) fieldValue(e int) string {
	if e == len(m.p.elems)-1 && len(m.words) > len(m.p.elems) {
		// The docs say [w1=ERROR, w2] matches events whose first word is
		// ERROR, and that w2 must be there for it to; their example
		// events have more than two words. So the last field takes the
		// rest of the line.
		return strings.TrimRight(m.msg[m.words[e].start:], " \t\n\r\v\f")
	}
	return m.words[e].val
}

// value returns the value of field e.
func (m *delimitedMatch) value(e int) string {
	if m.p.ellipses == 0 {
		return m.fieldValue(e)
	}
	return m.words[m.first[e]].val
}

// lookup returns the field named name, or, if name is "", the field at
// word position pos (from 1), without listing every binding.
func (m *delimitedMatch) lookup(name string, pos int) (string, bool) {
	for e := range m.p.elems {
		el := &m.p.elems[e]
		if name != "" {
			if el.name == name {
				return m.value(e), true
			}
			continue
		}
		w := pos - 1
		if w < m.first[e] || w >= m.first[e+1] {
			continue
		}
		switch {
		case el.ellipsis:
			return m.words[w].val, true
		case w == m.first[e]:
			return m.value(e), true
		}
		return "", false // a word the last field's value runs over
	}
	return "", false
}

// bindings lists the fields of the matched event in order.
func (m *delimitedMatch) bindings() []binding {
	var out []binding
	for e := range m.p.elems {
		el := &m.p.elems[e]
		if el.ellipsis {
			for w := m.first[e]; w < m.first[e+1]; w++ {
				out = append(out, binding{pos: w + 1, val: m.words[w].val})
			}
			continue
		}
		out = append(out, binding{name: el.name, pos: m.first[e] + 1, val: m.value(e)})
	}
	return out
}
