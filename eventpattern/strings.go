package eventpattern

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// wildcard is a parsed {"wildcard": ...} value: the literal pieces between
// its unescaped stars. "a*b*c" is ["a", "b", "c"], "*.png" is ["",
// ".png"], and a value without a star is one piece that must equal the
// string.
type wildcard struct {
	pieces []string
}

// parseWildcard parses a wildcard value as event-ruler does: * matches any
// run of characters, \* is a star and \\ a backslash, any other escape is
// an error, and so are two consecutive stars.
func parseWildcard(s string) (wildcard, error) {
	var w wildcard
	var cur strings.Builder
	prevStar := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*':
			if prevStar {
				return w, fmt.Errorf("%s has consecutive wildcard characters, which are not allowed; one * matches any run of characters", quoteJSON(s))
			}
			w.pieces = append(w.pieces, cur.String())
			cur.Reset()
			prevStar = true
			continue
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return w, fmt.Errorf(`%s has a \ that escapes neither * nor \; write \\ for a backslash`, quoteJSON(s))
			}
			i++
			cur.WriteByte(s[i])
		default:
			cur.WriteByte(c)
		}
		prevStar = false
	}
	w.pieces = append(w.pieces, cur.String())
	return w, nil
}

// match reports whether s matches. The first piece must start s and the
// last end it, without overlapping; each piece between is found leftmost,
// which is enough with * as the only wildcard: a match that uses a later
// occurrence can use the leftmost one instead. It costs at most
// len(s) times the wildcard's length.
func (w wildcard) match(s string) bool {
	p := w.pieces
	if len(p) == 1 {
		return s == p[0]
	}
	first, last := p[0], p[len(p)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, piece := range p[1 : len(p)-1] {
		i := strings.Index(s, piece)
		if i < 0 {
			return false
		}
		s = s[i+len(piece):]
	}
	return true
}

// hasPrefixFold is strings.HasPrefix ignoring case, with the simple case
// folding of strings.EqualFold: rune by rune, since a character and its
// other case may differ in length in UTF-8 (K and the Kelvin sign).
func hasPrefixFold(s, prefix string) bool {
	for prefix != "" {
		if s == "" {
			return false
		}
		a, na := utf8.DecodeRuneInString(s)
		b, nb := utf8.DecodeRuneInString(prefix)
		if !equalFoldRune(a, b) {
			return false
		}
		s, prefix = s[na:], prefix[nb:]
	}
	return true
}

// hasSuffixFold is strings.HasSuffix ignoring case, as hasPrefixFold.
func hasSuffixFold(s, suffix string) bool {
	for suffix != "" {
		if s == "" {
			return false
		}
		a, na := utf8.DecodeLastRuneInString(s)
		b, nb := utf8.DecodeLastRuneInString(suffix)
		if !equalFoldRune(a, b) {
			return false
		}
		s, suffix = s[:len(s)-na], suffix[:len(suffix)-nb]
	}
	return true
}

// equalFoldRune reports whether a and b are the same under simple case
// folding, as strings.EqualFold decides it for one rune.
func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	if a > b {
		a, b = b, a
	}
	if b < utf8.RuneSelf {
		return 'A' <= a && a <= 'Z' && b == a+'a'-'A'
	}
	r := unicode.SimpleFold(a)
	for r != a && r < b {
		r = unicode.SimpleFold(r)
	}
	return r == b
}

// quoteJSON quotes s as a JSON string, without escaping <, > and & as
// encoding/json does by default: these strings are read by people.
func quoteJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return fmt.Sprintf("%q", s) // unreachable: a string always encodes
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// appendJSON writes the node as compact JSON, with each key of an object
// once, with its last value, in the place of its last occurrence.
func (n *node) appendJSON(b []byte) []byte {
	switch n.kind {
	case kindObject:
		last := make(map[string]int, len(n.keys))
		for i, k := range n.keys {
			last[k] = i
		}
		b = append(b, '{')
		first := true
		for i, k := range n.keys {
			if last[k] != i {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, quoteJSON(k)...)
			b = append(b, ':')
			b = n.vals[i].appendJSON(b)
		}
		return append(b, '}')
	case kindArray:
		b = append(b, '[')
		for i, e := range n.vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.appendJSON(b)
		}
		return append(b, ']')
	case kindString:
		return append(b, quoteJSON(n.text)...)
	case kindNumber:
		return append(b, n.text...)
	case kindBool:
		if n.truth {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	}
	return append(b, "null"...)
}

func nodeJSON(n *node) string { return string(n.appendJSON(nil)) }

// appendJSON writes the compiled object back as compact JSON.
func (o *objectPat) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, f := range o.fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, quoteJSON(f.name)...)
		b = append(b, ':')
		switch {
		case f.or != nil:
			b = append(b, '[')
			for j, br := range f.or {
				if j > 0 {
					b = append(b, ',')
				}
				b = br.appendJSON(b)
			}
			b = append(b, ']')
		case f.obj != nil:
			b = f.obj.appendJSON(b)
		default:
			b = appendTests(b, f.tests)
		}
	}
	return append(b, '}')
}

func appendTests(b []byte, tests []*test) []byte {
	b = append(b, '[')
	for i, t := range tests {
		if i > 0 {
			b = append(b, ',')
		}
		b = t.src.appendJSON(b)
	}
	return append(b, ']')
}
