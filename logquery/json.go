package logquery

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// pathInfo says what a flattened JSON path means to the query: the slot to
// fill when the path is a leaf the query reads, and whether the query reads
// anything below it.
type pathInfo struct {
	slot   int // -1: not read as a leaf
	prefix bool
}

// pathSieve rejects most names the query does not want before the map
// lookup, which costs more than the rest of scanning a member: a bit per
// (length, last byte) pair of the wanted paths.
type pathSieve [1024]uint64

func sieveIndex(p []byte) int { return (len(p)&0xff)<<8 | int(p[len(p)-1]) }

func (s *pathSieve) add(p string) {
	if p != "" {
		i := sieveIndex([]byte(p))
		s[i/64] |= 1 << (i % 64)
	}
}

func (s *pathSieve) has(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	i := sieveIndex(p)
	return s[i/64]&(1<<(i%64)) != 0
}

// maxJSONDepth bounds nesting, as encoding/json does, so a hostile message
// cannot exhaust the stack.
const maxJSONDepth = 10000

// jsonScanner pulls the fields a query reads out of a JSON message without
// building a map of the whole object: Insights flattens nested objects to
// dotted names (userIdentity.arn) and arrays to indexes (items.0.id), and
// the scanner matches those names as it walks, skipping everything else.
// A message that is not a single valid JSON object yields no fields.
type jsonScanner struct {
	paths map[string]pathInfo
	sieve *pathSieve
	s     string
	i     int
	path  []byte // the flattened name of the current position
	depth int
	set   func(slot int, v value)
}

// scan walks s, calling set for each leaf the query reads (a later
// duplicate key calls set again, and wins). It reports whether s is a JSON
// object; if not, the caller must discard what set received.
func (sc *jsonScanner) scan(s string) bool {
	sc.s, sc.i, sc.path, sc.depth = s, 0, sc.path[:0], 0
	sc.ws()
	if sc.i >= len(s) || s[sc.i] != '{' {
		return false
	}
	if !sc.object(true, true) {
		return false
	}
	sc.ws()
	return sc.i == len(s)
}

func (sc *jsonScanner) ws() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// object reads an object at sc.i. When look is set, sc.path is the name of
// the object and members are matched against the paths the query wants;
// top marks the message itself, whose members have no prefix. The caller
// restores sc.path.
func (sc *jsonScanner) object(look, top bool) bool {
	if sc.depth++; sc.depth > maxJSONDepth {
		return false
	}
	defer func() { sc.depth-- }()
	sc.i++ // {
	if look && !top {
		sc.path = append(sc.path, '.')
	}
	base := len(sc.path)
	sc.ws()
	if sc.i < len(sc.s) && sc.s[sc.i] == '}' {
		sc.i++
		return true
	}
	for {
		if sc.i >= len(sc.s) || sc.s[sc.i] != '"' {
			return false
		}
		key, ok := sc.str()
		if !ok {
			return false
		}
		sc.ws()
		if sc.i >= len(sc.s) || sc.s[sc.i] != ':' {
			return false
		}
		sc.i++
		sc.ws()
		pi := pathInfo{slot: -1}
		if look {
			sc.path = append(sc.path[:base], key...)
			if sc.sieve.has(sc.path) {
				if p, ok := sc.paths[string(sc.path)]; ok {
					pi = p
				}
			}
		}
		if !sc.value(pi) {
			return false
		}
		sc.ws()
		if sc.i >= len(sc.s) {
			return false
		}
		switch sc.s[sc.i] {
		case ',':
			sc.i++
			sc.ws()
		case '}':
			sc.i++
			return true
		default:
			return false
		}
	}
}

// array reads an array at sc.i; elements are named by index.
func (sc *jsonScanner) array(look bool) bool {
	if sc.depth++; sc.depth > maxJSONDepth {
		return false
	}
	defer func() { sc.depth-- }()
	sc.i++ // [
	if look {
		sc.path = append(sc.path, '.')
	}
	base := len(sc.path)
	sc.ws()
	if sc.i < len(sc.s) && sc.s[sc.i] == ']' {
		sc.i++
		return true
	}
	for n := 0; ; n++ {
		pi := pathInfo{slot: -1}
		if look {
			sc.path = strconv.AppendInt(sc.path[:base], int64(n), 10)
			if sc.sieve.has(sc.path) {
				if p, ok := sc.paths[string(sc.path)]; ok {
					pi = p
				}
			}
		}
		if !sc.value(pi) {
			return false
		}
		sc.ws()
		if sc.i >= len(sc.s) {
			return false
		}
		switch sc.s[sc.i] {
		case ',':
			sc.i++
			sc.ws()
		case ']':
			sc.i++
			return true
		default:
			return false
		}
	}
}

// value reads one value, reporting it to set when pi.slot is a slot and
// descending into it when pi.prefix is set. sc.path names the value.
func (sc *jsonScanner) value(pi pathInfo) bool {
	if sc.i >= len(sc.s) {
		return false
	}
	var v value
	switch c := sc.s[sc.i]; {
	case c == '{' || c == '[':
		// An object or array is not itself a field in Insights' flattened
		// view; only its leaves are.
		plen := len(sc.path)
		var ok bool
		if c == '{' {
			ok = sc.object(pi.prefix, false)
		} else {
			ok = sc.array(pi.prefix)
		}
		sc.path = sc.path[:plen]
		if !ok {
			return false
		}
	case c == '"':
		s, ok := sc.str()
		if !ok {
			return false
		}
		v = strValue(s)
	case c == '-' || isDigit(c):
		start := sc.i
		if !sc.number() {
			return false
		}
		if pi.slot >= 0 {
			n, ok := parseNumber(sc.s[start:sc.i])
			if !ok {
				return false
			}
			if n.isInt {
				v = intValue(n.i)
			} else {
				v = floatValue(n.f)
			}
		}
	case strings.HasPrefix(sc.s[sc.i:], "true"):
		sc.i += 4
		v = strValue("true")
	case strings.HasPrefix(sc.s[sc.i:], "false"):
		sc.i += 5
		v = strValue("false")
	case strings.HasPrefix(sc.s[sc.i:], "null"):
		sc.i += 4
	default:
		return false
	}
	if pi.slot >= 0 {
		sc.set(pi.slot, v)
	}
	return true
}

// number scans a number in strict JSON syntax.
func (sc *jsonScanner) number() bool {
	s, i := sc.s, sc.i
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && isDigit(s[i]):
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	sc.i = i
	return true
}

// str reads a string at sc.i (on the opening quote). Without escapes the
// result is a substring of the message, so reading it does not allocate.
func (sc *jsonScanner) str() (string, bool) {
	s, start := sc.s, sc.i+1
	// Most keys and values are short: a plain loop beats two calls to
	// IndexByte, which win only on long strings.
	end := min(start+24, len(s))
	for i := start; i < end; i++ {
		switch s[i] {
		case '"':
			sc.i = i + 1
			return s[start:i], true
		case '\\':
			return sc.strEscaped(start)
		}
	}
	q := strings.IndexByte(s[end:], '"')
	if q < 0 {
		return "", false
	}
	q += end
	if strings.IndexByte(s[end:q], '\\') >= 0 {
		return sc.strEscaped(start)
	}
	sc.i = q + 1
	return s[start:q], true
}

func (sc *jsonScanner) strEscaped(start int) (string, bool) {
	s := sc.s
	var b strings.Builder
	i := start
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			sc.i = i + 1
			return b.String(), true
		case c != '\\':
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", false
		}
		i++
		switch s[i] {
		case '"', '\\', '/':
			b.WriteByte(s[i])
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
			r, ok := hex4(s, i+1)
			if !ok {
				return "", false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2, ok = hex4(s, i+3)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
		default:
			return "", false
		}
		i++
	}
	return "", false
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
