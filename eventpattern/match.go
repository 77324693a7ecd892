package eventpattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// Event is a decoded event, ready to be matched against any number of
// patterns. It is immutable and safe for concurrent use.
type Event struct {
	// root is the event as encoding/json decodes it into any, except that
	// numbers are number values: map[string]any, []any, string, number,
	// bool and nil.
	root map[string]any
}

// number is a JSON number of an event or pattern: its text, which exact
// matching compares, and its value in millionths, which numeric matching
// compares. EventBridge compares numbers between -5e9 and 5e9 with six
// digits after the point; in millionths those are integers below 2^53, so
// comparing them as int64 is exact and rounds as EventBridge does.
type number struct {
	lit     string
	micros  int64
	inRange bool
}

// numberLimit is the largest magnitude numeric matching compares.
const numberLimit = 5e9

func makeNumber(lit string) number {
	n := number{lit: lit}
	f, err := strconv.ParseFloat(lit, 64)
	if err == nil && f >= -numberLimit && f <= numberLimit {
		n.micros, n.inRange = int64(math.Round(f*1e6)), true
	}
	return n
}

// patternNumber is a number given to numeric or anything-but, in
// millionths; like EventBridge, Parse rejects what it cannot compare.
func patternNumber(lit string) (int64, error) {
	n := makeNumber(lit)
	if !n.inRange {
		return 0, fmt.Errorf("%s is outside the range numbers are compared in, -5e9 to 5e9", lit)
	}
	return n.micros, nil
}

// DecodeEvent decodes an event, a JSON object of at most MaxEventSize
// bytes.
func DecodeEvent(data []byte) (*Event, error) {
	if len(data) > MaxEventSize {
		return nil, fmt.Errorf("the event has %d bytes, more than the %d allowed", len(data), MaxEventSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the event is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the event is not valid JSON: it has more after its end")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the event must be a JSON object, not %s", kindOf(v))
	}
	convertNumbers(m)
	return &Event{root: m}, nil
}

// convertNumbers replaces the json.Number values in v with numbers, once,
// so that matching does not parse them again for every pattern.
func convertNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = convertNumbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = convertNumbers(e)
		}
	case json.Number:
		return makeNumber(string(t))
	}
	return v
}

type testKind uint8

const (
	testExact testKind = iota
	testPrefix
	testSuffix
	testEqualsFold
	testWildcard
	testNotStrings
	testNotNumbers
	testNotPrefix
	testNotSuffix
	testNotEqualsFold
	testNotWildcard
	testNumeric
	testExists
	testCIDR
)

// test is one element of a field's array of values.
type test struct {
	kind testKind
	src  *node // as the pattern gives it, for String and Explain

	lit    any        // testExact: string, number, bool or nil
	str    string     // prefix, suffix, equals-ignore-case, anything-but prefix/suffix
	fold   bool       // prefix and suffix: ignoring case
	strs   []string   // anything-but strings, anything-but equals-ignore-case
	nums   []int64    // anything-but numbers, in millionths
	wild   []wildcard // wildcard, anything-but wildcard
	exists bool       // testExists

	// testNumeric: the bounds in millionths that are set, and whether
	// each excludes its value.
	lo, hi         int64
	hasLo, hasHi   bool
	loOpen, hiOpen bool

	cidr netip.Prefix
}

// matchLeaf tells whether one value of the event (string, number, bool or
// nil; never an object or an array) passes the test. testExists never
// gets here: it is about whether there are leaves at all.
func (t *test) matchLeaf(v any) bool {
	switch t.kind {
	case testExact:
		switch lit := t.lit.(type) {
		case string:
			s, ok := v.(string)
			return ok && s == lit
		case number:
			n, ok := v.(number)
			return ok && n.lit == lit.lit
		case bool:
			b, ok := v.(bool)
			return ok && b == lit
		default:
			return v == nil
		}
	case testPrefix:
		s, ok := v.(string)
		if !ok {
			return false
		}
		if t.fold {
			return hasPrefixFold(s, t.str)
		}
		return strings.HasPrefix(s, t.str)
	case testSuffix:
		s, ok := v.(string)
		if !ok {
			return false
		}
		if t.fold {
			return hasSuffixFold(s, t.str)
		}
		return strings.HasSuffix(s, t.str)
	case testEqualsFold:
		s, ok := v.(string)
		return ok && strings.EqualFold(s, t.str)
	case testWildcard:
		s, ok := v.(string)
		return ok && t.wild[0].match(s)
	case testNotStrings:
		s, ok := v.(string)
		if !ok {
			return true
		}
		for _, x := range t.strs {
			if s == x {
				return false
			}
		}
		return true
	case testNotNumbers:
		n, ok := v.(number)
		if !ok || !n.inRange {
			return true
		}
		for _, x := range t.nums {
			if n.micros == x {
				return false
			}
		}
		return true
	case testNotPrefix:
		s, ok := v.(string)
		return !ok || !strings.HasPrefix(s, t.str)
	case testNotSuffix:
		s, ok := v.(string)
		return !ok || !strings.HasSuffix(s, t.str)
	case testNotEqualsFold:
		s, ok := v.(string)
		if !ok {
			return true
		}
		for _, x := range t.strs {
			if strings.EqualFold(s, x) {
				return false
			}
		}
		return true
	case testNotWildcard:
		s, ok := v.(string)
		if !ok {
			return true
		}
		for _, w := range t.wild {
			if w.match(s) {
				return false
			}
		}
		return true
	case testNumeric:
		n, ok := v.(number)
		if !ok || !n.inRange {
			return false
		}
		if t.hasLo && (n.micros < t.lo || (t.loOpen && n.micros == t.lo)) {
			return false
		}
		if t.hasHi && (n.micros > t.hi || (t.hiOpen && n.micros == t.hi)) {
			return false
		}
		return true
	case testCIDR:
		s, ok := v.(string)
		if !ok {
			return false
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return false
		}
		if t.cidr.Addr().Is4() {
			a = a.Unmap() // ::ffff:10.0.0.1 is 10.0.0.1
		}
		return t.cidr.Contains(a)
	}
	return false
}

// The matcher walks the pattern and looks up each of its fields in the
// event, so it never reads event fields the pattern does not name. Each
// node of the pattern meets each event value at its path at most once (a
// $or's branches are distinct nodes), so matching costs at most the
// pattern's size times the number of values along its paths.
//
// ex is nil for Match; Explain passes a trace to collect what matched or
// why not, and path, the event path of the value at hand, is only kept up
// to date then (building it would cost Match allocations). Where there is
// a choice (an array's elements, $or's branches), Explain finds the one
// that decides without tracing and traces only that.

// matchObject matches a pattern object against an event object, nil when
// the event has no object there.
func matchObject(o *objectPat, m map[string]any, ex *trace, path string) bool {
	for i := range o.fields {
		f := &o.fields[i]
		if f.or != nil {
			if !matchOr(f, m, ex, path) {
				return false
			}
			continue
		}
		v, present := m[f.name] // a nil map has no keys
		fp := ""
		if ex != nil {
			fp = joinPath(path, f.name)
		}
		var ok bool
		if f.obj != nil {
			ok = matchNested(f.obj, v, ex, fp)
		} else {
			ok = matchValues(f, v, present, ex, fp)
		}
		if !ok {
			return false
		}
	}
	return true
}

func matchOr(f *fieldPat, m map[string]any, ex *trace, path string) bool {
	for _, b := range f.or {
		if matchObject(b, m, nil, path) {
			if ex != nil {
				matchObject(b, m, ex, path) // trace the branch that matched
			}
			return true
		}
	}
	if ex == nil {
		return false
	}
	failed := make([]FieldExplanation, len(f.or))
	for i, b := range f.or {
		sub := &trace{}
		matchObject(b, m, sub, path)
		failed[i] = sub.failed
	}
	ex.fail(joinPath(path, keyOr), orFailure(failed))
	return false
}

// matchNested matches a nested pattern object against the event's value
// at its place, nil if there is none. An array matches if one element matches as a whole
// (array consistency); a missing field, a leaf or an empty array leaves
// nothing but the pattern's exists: false tests to pass.
func matchNested(o *objectPat, v any, ex *trace, path string) bool {
	switch t := v.(type) {
	case map[string]any:
		return matchObject(o, t, ex, path)
	case []any:
		if len(t) == 0 {
			return matchObject(o, nil, ex, path)
		}
		// Find the element that decides with the matcher that does not
		// trace, then trace that one only: the element that matches, or
		// the first if none does. However long the arrays, Explain then
		// costs at most what Match does once per level of nesting,
		// rather than an allocation for every element.
		at := -1
		for i, e := range t {
			if matchNested(o, e, nil, "") {
				at = i
				break
			}
		}
		if ex == nil {
			return at >= 0
		}
		i := max(at, 0)
		matched := matchNested(o, t[i], ex, fmt.Sprintf("%s[%d]", path, i))
		if !matched && len(t) > 1 {
			ex.failed.Reason += fmt.Sprintf(" (and no other element of %s matches either)", path)
		}
		return matched
	}
	return matchObject(o, nil, ex, path)
}

// matchValues matches a field's array of values against the event's value
// at its place: any test passed by any leaf there. Leaves are the values
// that are not objects or arrays, with arrays crushed out however deep they
// nest.
func matchValues(f *fieldPat, v any, present bool, ex *trace, path string) bool {
	if f.set != nil && present && anyLeafIn(f.set, v) {
		if ex != nil {
			ex.matchedValue(path, f.tests, nil, f.set.has, v)
		}
		return true
	}
	for _, t := range f.scan {
		if t.kind == testExists {
			if (present && hasLeaf(v)) == t.exists {
				if ex != nil {
					ex.matchedExists(path, t, v, present)
				}
				return true
			}
			continue
		}
		if present && anyLeaf(t, v) {
			if ex != nil {
				ex.matchedValue(path, f.tests, t, t.matchLeaf, v)
			}
			return true
		}
	}
	if ex != nil {
		ex.failedValues(path, f.tests, v, present)
	}
	return false
}

func hasLeaf(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		return false
	case []any:
		for _, e := range t {
			if hasLeaf(e) {
				return true
			}
		}
		return false
	}
	return true
}

func anyLeafIn(s *exactSet, v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return false
	case []any:
		for _, e := range x {
			if anyLeafIn(s, e) {
				return true
			}
		}
		return false
	}
	return s.has(v)
}

func anyLeaf(t *test, v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return false
	case []any:
		for _, e := range x {
			if anyLeaf(t, e) {
				return true
			}
		}
		return false
	}
	return t.matchLeaf(v)
}

func kindOf(v any) string {
	switch t := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case number, json.Number:
		return "a number"
	case bool:
		if t {
			return "true"
		}
		return "false"
	}
	return "null"
}
