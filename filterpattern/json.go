package filterpattern

import (
	"strings"
	"unicode/utf8"
)

// JSON events are not decoded into Go values. Match validates the message
// once, without allocating, and then walks the raw text along each
// selector, skipping everything else; only strings with escapes are ever
// copied. Past validation, the walking code trusts the text to be JSON.

// maxJSONDepth bounds nesting, as encoding/json does, so that a hostile
// event cannot exhaust the stack.
const maxJSONDepth = 10000

// matchJSON reports whether msg matches p, a JSON pattern, and returns the
// offset of the root object.
func (p *Pattern) matchJSON(msg string) (root int, ok bool) {
	for _, lit := range p.needs {
		if !strings.Contains(msg, lit) {
			if strings.IndexByte(msg, '\\') < 0 {
				return 0, false
			}
			// An escape could spell the literal some other way.
			break
		}
	}
	root = skipWS(msg, 0)
	if root >= len(msg) || msg[root] != '{' {
		return 0, false
	}
	end, ok := validValue(msg, root, 0)
	if !ok || skipWS(msg, end) != len(msg) {
		return 0, false
	}
	return root, p.expr.eval(msg, root)
}

func (e *jsonExpr) eval(doc string, root int) bool {
	switch e.op {
	case exprAnd:
		for _, k := range e.kids {
			if !k.eval(doc, root) {
				return false
			}
		}
		return true
	case exprOr:
		for _, k := range e.kids {
			if k.eval(doc, root) {
				return true
			}
		}
		return false
	}
	c := e.cond
	if c.test == testNotExists {
		return !walk(doc, root, c.sel.segs, nil)
	}
	return walk(doc, root, c.sel.segs, c)
}

// walk reports whether some value that segs selects from the value at
// doc[i:] satisfies c; with a nil c, whether any value is selected. A
// wildcard selects every member of an object and every element of an
// array, and the condition holds if it holds for any of them.
func walk(doc string, i int, segs []seg, c *jsonCond) bool {
	if len(segs) == 0 {
		return c == nil || c.testNode(doc, i)
	}
	s := &segs[0]
	switch s.kind {
	case segKey:
		if v := findKey(doc, i, s.key); v >= 0 {
			return walk(doc, v, segs[1:], c)
		}
	case segIndex:
		if v := findIndex(doc, i, s.index); v >= 0 {
			return walk(doc, v, segs[1:], c)
		}
	default:
		switch doc[i] {
		case '{':
			for j := skipWS(doc, i+1); doc[j] != '}'; {
				j = skipWS(doc, skipString(doc, j)) + 1 // past ':'
				v := skipWS(doc, j)
				if walk(doc, v, segs[1:], c) {
					return true
				}
				j = skipWS(doc, skipValue(doc, v))
				if doc[j] == ',' {
					j = skipWS(doc, j+1)
				}
			}
		case '[':
			for j := skipWS(doc, i+1); doc[j] != ']'; {
				if walk(doc, j, segs[1:], c) {
					return true
				}
				j = skipWS(doc, skipValue(doc, j))
				if doc[j] == ',' {
					j = skipWS(doc, j+1)
				}
			}
		}
	}
	return false
}

// lookup returns the offset of the value s selects in the object at
// doc[root:], or -1. s has no wildcards.
func (s *selector) lookup(doc string, root int) int {
	v := root
	for _, sg := range s.segs {
		switch sg.kind {
		case segKey:
			v = findKey(doc, v, sg.key)
		case segIndex:
			v = findIndex(doc, v, sg.index)
		default:
			return -1
		}
		if v < 0 {
			return -1
		}
	}
	return v
}

// findKey returns the offset of the value of key in the object at doc[i:],
// or -1 if doc[i:] is not an object or lacks key. Of duplicate keys the
// last wins, as with encoding/json.
func findKey(doc string, i int, key string) int {
	if doc[i] != '{' {
		return -1
	}
	found := -1
	for j := skipWS(doc, i+1); doc[j] != '}'; {
		ke := skipString(doc, j)
		if keyEquals(doc[j+1:ke-1], key) {
			found = skipWS(doc, skipWS(doc, ke)+1)
		}
		v := skipWS(doc, skipWS(doc, ke)+1)
		j = skipWS(doc, skipValue(doc, v))
		if doc[j] == ',' {
			j = skipWS(doc, j+1)
		}
	}
	return found
}

func keyEquals(raw, key string) bool {
	if strings.IndexByte(raw, '\\') < 0 {
		return raw == key
	}
	return unescape(raw) == key
}

// findIndex returns the offset of element n of the array at doc[i:], or
// -1.
func findIndex(doc string, i, n int) int {
	if doc[i] != '[' {
		return -1
	}
	for j, k := skipWS(doc, i+1), 0; doc[j] != ']'; k++ {
		if k == n {
			return j
		}
		j = skipWS(doc, skipValue(doc, j))
		if doc[j] == ',' {
			j = skipWS(doc, j+1)
		}
	}
	return -1
}

// testNode reports whether the value at doc[i:] satisfies c.
func (c *jsonCond) testNode(doc string, i int) bool {
	switch c.test {
	case testNull:
		return doc[i] == 'n'
	case testTrue:
		return doc[i] == 't'
	case testFalse:
		return doc[i] == 'f'
	}
	// "If a property selector points to an array or object, the filter
	// pattern won't match the log format", for = and != alike; null is
	// what IS NULL is for.
	text, jsonNum, ok := nodeText(doc, i)
	return ok && c.cmp.test(text, jsonNum)
}

// nodeText returns the text of the string, number or boolean at doc[i:]:
// a string's decoded contents, or a number or boolean as written. ok is
// false for null, objects and arrays.
func nodeText(doc string, i int) (text string, jsonNum bool, ok bool) {
	switch c := doc[i]; {
	case c == '"':
		raw := doc[i+1 : skipString(doc, i)-1]
		if strings.IndexByte(raw, '\\') >= 0 {
			raw = unescape(raw)
		}
		return raw, false, true
	case c == 't':
		return "true", false, true
	case c == 'f':
		return "false", false, true
	case c == '-' || isDigit(c):
		return doc[i:skipValue(doc, i)], true, true
	}
	return "", false, false
}

// Scanning valid JSON.

func skipWS(doc string, i int) int {
	for i < len(doc) {
		switch doc[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the offset just past the string starting at doc[i].
func skipString(doc string, i int) int {
	for i++; ; i++ {
		switch doc[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// skipValue returns the offset just past the value starting at doc[i].
func skipValue(doc string, i int) int {
	switch doc[i] {
	case '"':
		return skipString(doc, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch doc[i] {
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			case '"':
				i = skipString(doc, i) - 1
			}
		}
	case 't', 'n':
		return i + 4
	case 'f':
		return i + 5
	}
	for i < len(doc) && (isDigit(doc[i]) || strings.IndexByte("+-.eE", doc[i]) >= 0) {
		i++
	}
	return i
}

// validValue checks the JSON value starting at doc[i] and returns the
// offset just past it.
func validValue(doc string, i, depth int) (int, bool) {
	if i >= len(doc) {
		return 0, false
	}
	switch doc[i] {
	case '{':
		if depth >= maxJSONDepth {
			return 0, false
		}
		i = skipWS(doc, i+1)
		if i < len(doc) && doc[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(doc) || doc[i] != '"' {
				return 0, false
			}
			var ok bool
			if i, ok = validString(doc, i); !ok {
				return 0, false
			}
			if i = skipWS(doc, i); i >= len(doc) || doc[i] != ':' {
				return 0, false
			}
			if i, ok = validValue(doc, skipWS(doc, i+1), depth+1); !ok {
				return 0, false
			}
			if i = skipWS(doc, i); i >= len(doc) {
				return 0, false
			}
			switch doc[i] {
			case ',':
				i = skipWS(doc, i+1)
			case '}':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case '[':
		if depth >= maxJSONDepth {
			return 0, false
		}
		i = skipWS(doc, i+1)
		if i < len(doc) && doc[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = validValue(doc, i, depth+1); !ok {
				return 0, false
			}
			if i = skipWS(doc, i); i >= len(doc) {
				return 0, false
			}
			switch doc[i] {
			case ',':
				i = skipWS(doc, i+1)
			case ']':
				return i + 1, true
			default:
				return 0, false
			}
		}
	case '"':
		return validString(doc, i)
	case 't':
		return i + 4, strings.HasPrefix(doc[i:], "true")
	case 'f':
		return i + 5, strings.HasPrefix(doc[i:], "false")
	case 'n':
		return i + 4, strings.HasPrefix(doc[i:], "null")
	}
	return validNumber(doc, i)
}

// stringSpecial marks the bytes validString must look at: the quote,
// the backslash and control characters.
var stringSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func validString(doc string, i int) (int, bool) {
	for i++; i < len(doc); i++ {
		if !stringSpecial[doc[i]] {
			continue
		}
		switch c := doc[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			if i++; i >= len(doc) {
				return 0, false
			}
			switch doc[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(doc) || !isHex(doc[i+1]) || !isHex(doc[i+2]) || !isHex(doc[i+3]) || !isHex(doc[i+4]) {
					return 0, false
				}
				i += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

// validNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func validNumber(doc string, i int) (int, bool) {
	if i < len(doc) && doc[i] == '-' {
		i++
	}
	switch {
	case i < len(doc) && doc[i] == '0':
		i++
	case i < len(doc) && '1' <= doc[i] && doc[i] <= '9':
		i, _ = digits(doc, i)
	default:
		return 0, false
	}
	var ok bool
	if i < len(doc) && doc[i] == '.' {
		if i, ok = digits(doc, i+1); !ok {
			return 0, false
		}
	}
	if i < len(doc) && (doc[i] == 'e' || doc[i] == 'E') {
		i++
		if i < len(doc) && (doc[i] == '+' || doc[i] == '-') {
			i++
		}
		if i, ok = digits(doc, i); !ok {
			return 0, false
		}
	}
	return i, true
}

// unescape decodes the contents of a valid JSON string. Invalid
// surrogates become U+FFFD, as with encoding/json.
func unescape(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r := rune(hex4(raw[i+1:]))
			i += 4
			if 0xD800 <= r && r < 0xDC00 {
				// A high surrogate wants a low one next.
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if lo := rune(hex4(raw[i+3:])); 0xDC00 <= lo && lo < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
						i += 6
						b.WriteRune(r)
						continue
					}
				}
				r = utf8.RuneError
			} else if 0xDC00 <= r && r < 0xE000 {
				r = utf8.RuneError
			}
			b.WriteRune(r)
		default: // " \ /
			b.WriteByte(raw[i])
		}
	}
	return b.String()
}

func hex4(s string) int {
	n := 0
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case isDigit(c):
			n = n<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		default:
			n = n<<4 | int(c-'A'+10)
		}
	}
	return n
}
