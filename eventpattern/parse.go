package eventpattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// A pattern is read into a tree of nodes before it is compiled, rather
// than into map[string]any: the order of keys is kept (so Explain reports
// fields in the order the pattern gives them, and String is stable), and
// numbers keep their text, which exact matching compares.
type nodeKind uint8

const (
	kindObject nodeKind = iota
	kindArray
	kindString
	kindNumber
	kindBool
	kindNull
)

type node struct {
	kind  nodeKind
	keys  []string // kindObject, in the order given, duplicates included
	vals  []*node  // kindObject: the value of keys[i]; kindArray: the elements
	text  string   // kindString: the string; kindNumber: the JSON text
	truth bool     // kindBool
}

func (n *node) kindName() string {
	switch n.kind {
	case kindObject:
		return "an object"
	case kindArray:
		return "an array"
	case kindString:
		return fmt.Sprintf("the string %s", quoteJSON(n.text))
	case kindNumber:
		return "the number " + n.text
	case kindBool:
		if n.truth {
			return "true"
		}
		return "false"
	default:
		return "null"
	}
}

// readJSON reads one JSON value and nothing after it. Syntax errors name
// the path where they were found.
func readJSON(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := readNode(dec, "")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf("", "the pattern has more after its closing brace: %s", syntaxMessage(dec, err, "more JSON"))
	}
	return n, nil
}

// syntaxMessage describes an error of dec.Token, or what when there is
// none. A SyntaxError's Offset counts from where the decoder last
// buffered, not from the start of the input; InputOffset is the offending
// byte's index, which plus one is the count encoding/json's Unmarshal
// reports.
func syntaxMessage(dec *json.Decoder, err error, what string) string {
	var se *json.SyntaxError
	switch {
	case err == nil:
		return what
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", dec.InputOffset()+1, se)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends early"
	default:
		return "invalid JSON: " + err.Error()
	}
}

func readNode(dec *json.Decoder, path string) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, errorf(path, "%s", syntaxMessage(dec, err, ""))
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{kind: kindObject}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, errorf(path, "%s", syntaxMessage(dec, err, ""))
				}
				key, ok := kt.(string)
				if !ok { // json.Decoder reports this as a syntax error first
					return nil, errorf(path, "invalid JSON: an object key is not a string")
				}
				v, err := readNode(dec, joinPath(path, key))
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, key)
				n.vals = append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, errorf(path, "%s", syntaxMessage(dec, err, ""))
			}
			return n, nil
		case '[':
			n := &node{kind: kindArray}
			for dec.More() {
				v, err := readNode(dec, path)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, errorf(path, "%s", syntaxMessage(dec, err, ""))
			}
			return n, nil
		}
		return nil, errorf(path, "invalid JSON: unexpected %q", rune(t))
	case string:
		return &node{kind: kindString, text: t}, nil
	case json.Number:
		return &node{kind: kindNumber, text: string(t)}, nil
	case bool:
		return &node{kind: kindBool, truth: t}, nil
	case nil:
		return &node{kind: kindNull}, nil
	}
	return nil, errorf(path, "invalid JSON: unexpected token %v", tok)
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// The operators, as they are spelled in patterns.
const (
	opPrefix      = "prefix"
	opSuffix      = "suffix"
	opEqualsFold  = "equals-ignore-case"
	opWildcard    = "wildcard"
	opAnythingBut = "anything-but"
	opNumeric     = "numeric"
	opExists      = "exists"
	opCIDR        = "cidr"
	keyOr         = "$or"
)

var operatorNames = []string{opPrefix, opSuffix, opEqualsFold, opWildcard, opAnythingBut, opNumeric, opExists, opCIDR}

func isOperatorName(s string) bool {
	for _, op := range operatorNames {
		if s == op {
			return true
		}
	}
	return false
}

// objectPat is a pattern object: fields that must all match, in the order
// the pattern gives them. A $or is one of them.
type objectPat struct {
	fields []fieldPat
}

// fieldPat is one key of a pattern object: a nested object (obj), a list
// of values (tests), or, for "$or", the alternatives (or).
type fieldPat struct {
	name  string
	obj   *objectPat
	tests []*test
	or    []*objectPat

	// A long list of exact strings and numbers is looked up in set, and
	// scan has the rest of tests; otherwise set is nil and scan is tests.
	// A pattern can list a thousand values, and an event array tens of
	// thousands: comparing each with each would cost a million times
	// more than a lookup.
	set  *exactSet
	scan []*test
}

// minExactSet is the number of exact strings and numbers from which a
// field looks them up in a set rather than comparing them one by one.
const minExactSet = 8

// exactSet holds exact strings, and numbers by their JSON text.
type exactSet struct {
	strs map[string]struct{}
	nums map[string]struct{}
}

func (s *exactSet) has(v any) bool {
	switch t := v.(type) {
	case string:
		_, ok := s.strs[t]
		return ok
	case number:
		_, ok := s.nums[t.lit]
		return ok
	}
	return false
}

func (f *fieldPat) index() {
	f.scan = f.tests
	n := 0
	for _, t := range f.tests {
		if t.kind == testExact {
			switch t.lit.(type) {
			case string, number:
				n++
			}
		}
	}
	if n < minExactSet {
		return
	}
	f.set = &exactSet{strs: map[string]struct{}{}, nums: map[string]struct{}{}}
	f.scan = nil
	for _, t := range f.tests {
		if t.kind == testExact {
			switch lit := t.lit.(type) {
			case string:
				f.set.strs[lit] = struct{}{}
				continue
			case number:
				f.set.nums[lit.lit] = struct{}{}
				continue
			}
		}
		f.scan = append(f.scan, t)
	}
}

// compileObject compiles a pattern object. path names it in errors; inOr
// says it is inside an element of a $or array, where event-ruler does not
// let operator names be field names (a {"numeric": [...]} there is surely
// a mistaken operator).
func compileObject(n *node, path string, inOr bool) (*objectPat, error) {
	if len(n.keys) == 0 {
		if path == "" {
			return nil, errorf("", "the pattern is an empty object; name at least one field")
		}
		return nil, errorf(path, "empty object; name at least one field")
	}
	o := &objectPat{}
	index := make(map[string]int, len(n.keys))
	for i, key := range n.keys {
		fp := joinPath(path, key)
		v := n.vals[i]
		f := fieldPat{name: key}
		switch {
		case key == keyOr:
			if v.kind != kindArray || len(v.vals) < 2 {
				return nil, errorf(fp, "takes an array of at least two pattern objects, not %s", describeArrayLen(v))
			}
			for j, b := range v.vals {
				bp := fmt.Sprintf("%s[%d]", fp, j)
				if b.kind != kindObject {
					return nil, errorf(bp, "each element of $or must be a pattern object, not %s", b.kindName())
				}
				bo, err := compileObject(b, bp, true)
				if err != nil {
					return nil, err
				}
				f.or = append(f.or, bo)
			}
		case inOr && isOperatorName(key):
			return nil, errorf(path, "%q is an operator, not a field name; the objects of $or map field names to arrays of values, such as {%q: [{%q: ...}]}", key, "field", key)
		case v.kind == kindObject:
			sub, err := compileObject(v, fp, inOr)
			if err != nil {
				return nil, err
			}
			f.obj = sub
		case v.kind == kindArray:
			if len(v.vals) == 0 {
				return nil, errorf(fp, "empty array; list at least one value")
			}
			for _, e := range v.vals {
				t, err := compileTest(e, fp)
				if err != nil {
					return nil, err
				}
				f.tests = append(f.tests, t)
			}
			f.index()
		default:
			return nil, errorf(fp, "must be an array of values, such as [%s], or an object, not %s", nodeJSON(v), v.kindName())
		}
		// A key given twice counts once, with its last value ("the last
		// reference will be the one used", says the guide).
		if j, ok := index[key]; ok {
			o.fields = append(o.fields[:j], o.fields[j+1:]...)
			for k, at := range index {
				if at > j {
					index[k] = at - 1
				}
			}
		}
		index[key] = len(o.fields)
		o.fields = append(o.fields, f)
	}
	return o, nil
}

func describeArrayLen(n *node) string {
	if n.kind == kindArray {
		return fmt.Sprintf("an array of %d", len(n.vals))
	}
	return n.kindName()
}

// compileTest compiles one element of a field's array of values.
func compileTest(n *node, path string) (*test, error) {
	switch n.kind {
	case kindString:
		return &test{kind: testExact, src: n, lit: n.text}, nil
	case kindNumber:
		return &test{kind: testExact, src: n, lit: makeNumber(n.text)}, nil
	case kindBool:
		return &test{kind: testExact, src: n, lit: n.truth}, nil
	case kindNull:
		return &test{kind: testExact, src: n, lit: nil}, nil
	case kindArray:
		return nil, errorf(path, "a value cannot be an array; list the values in the field's array: %s", nodeJSON(&node{kind: kindArray, vals: flatten(n)}))
	}
	if len(n.keys) != 1 {
		if len(n.keys) == 0 {
			return nil, errorf(path, "empty operator object; use one of %s", strings.Join(operatorNames, ", "))
		}
		return nil, errorf(path, "an operator object has exactly one key, this one has %d (%s)", len(n.keys), quoteList(n.keys))
	}
	op, arg := n.keys[0], n.vals[0]
	t := &test{src: n}
	switch op {
	case opPrefix, opSuffix:
		t.kind = testPrefix
		if op == opSuffix {
			t.kind = testSuffix
		}
		switch {
		case arg.kind == kindString:
			t.str = arg.text
		case arg.kind == kindObject && len(arg.keys) == 1 && arg.keys[0] == opEqualsFold && arg.vals[0].kind == kindString:
			t.str = arg.vals[0].text
			t.fold = true
		default:
			return nil, errorf(path, "%q takes a string or {%q: string}, not %s", op, opEqualsFold, arg.kindName())
		}
	case opEqualsFold:
		if arg.kind != kindString {
			return nil, errorf(path, "%q takes a string, not %s", op, arg.kindName())
		}
		t.kind, t.str = testEqualsFold, arg.text
	case opWildcard:
		if arg.kind != kindString {
			return nil, errorf(path, "%q takes a string, not %s", op, arg.kindName())
		}
		w, err := parseWildcard(arg.text)
		if err != nil {
			return nil, errorf(path, "%q: %s", op, err)
		}
		t.kind, t.wild = testWildcard, []wildcard{w}
	case opAnythingBut:
		if err := compileAnythingBut(t, arg, path); err != nil {
			return nil, err
		}
	case opNumeric:
		if err := compileNumeric(t, arg, path); err != nil {
			return nil, err
		}
	case opExists:
		if arg.kind != kindBool {
			return nil, errorf(path, "%q takes true or false, not %s", op, arg.kindName())
		}
		t.kind, t.exists = testExists, arg.truth
	case opCIDR:
		if arg.kind != kindString {
			return nil, errorf(path, "%q takes a string such as \"10.0.0.0/24\", not %s", op, arg.kindName())
		}
		p, err := netip.ParsePrefix(arg.text)
		if err != nil {
			return nil, errorf(path, "%q: %s is not an IPv4 or IPv6 CIDR block such as \"10.0.0.0/24\" or \"2001:db8::/32\"", op, quoteJSON(arg.text))
		}
		t.kind, t.cidr = testCIDR, p.Masked()
	default:
		return nil, errorf(path, "unknown operator %q; the operators are %s", op, strings.Join(operatorNames, ", "))
	}
	return t, nil
}

func compileAnythingBut(t *test, arg *node, path string) error {
	switch arg.kind {
	case kindString:
		t.kind, t.strs = testNotStrings, []string{arg.text}
		return nil
	case kindNumber:
		m, err := patternNumber(arg.text)
		if err != nil {
			return errorf(path, "%q: %s", opAnythingBut, err)
		}
		t.kind, t.nums = testNotNumbers, []int64{m}
		return nil
	case kindArray:
		if len(arg.vals) == 0 {
			return errorf(path, "%q: empty list; list at least one string or number", opAnythingBut)
		}
		var strs []string
		var nums []int64
		for _, e := range arg.vals {
			switch e.kind {
			case kindString:
				strs = append(strs, e.text)
			case kindNumber:
				m, err := patternNumber(e.text)
				if err != nil {
					return errorf(path, "%q: %s", opAnythingBut, err)
				}
				nums = append(nums, m)
			default:
				return errorf(path, "%q: a list takes strings or numbers, not %s", opAnythingBut, e.kindName())
			}
		}
		if strs != nil && nums != nil {
			return errorf(path, "%q: a list takes only strings or only numbers, not both", opAnythingBut)
		}
		if strs != nil {
			t.kind, t.strs = testNotStrings, strs
		} else {
			t.kind, t.nums = testNotNumbers, nums
		}
		return nil
	case kindObject:
		if len(arg.keys) != 1 {
			break
		}
		op, v := arg.keys[0], arg.vals[0]
		switch op {
		case opPrefix, opSuffix:
			if v.kind != kindString {
				return errorf(path, "%q: %q takes a string, not %s", opAnythingBut, op, v.kindName())
			}
			if v.text == "" {
				return errorf(path, "%q: %q takes a string that is not empty", opAnythingBut, op)
			}
			t.kind, t.str = testNotPrefix, v.text
			if op == opSuffix {
				t.kind = testNotSuffix
			}
			return nil
		case opEqualsFold, opWildcard:
			strs, err := stringOrList(v)
			if err != nil {
				return errorf(path, "%q: %q %s", opAnythingBut, op, err)
			}
			if op == opEqualsFold {
				t.kind, t.strs = testNotEqualsFold, strs
				return nil
			}
			t.kind = testNotWildcard
			for _, s := range strs {
				w, err := parseWildcard(s)
				if err != nil {
					return errorf(path, "%q: %q: %s", opAnythingBut, op, err)
				}
				t.wild = append(t.wild, w)
			}
			return nil
		}
	}
	return errorf(path, "%q takes a string, a number, a list of strings or of numbers, or one of {%q|%q|%q|%q: ...}, not %s",
		opAnythingBut, opPrefix, opSuffix, opEqualsFold, opWildcard, describeOperatorArg(arg))
}

func describeOperatorArg(n *node) string {
	if n.kind == kindObject && len(n.keys) > 0 {
		return "an object with " + quoteList(n.keys)
	}
	return n.kindName()
}

func stringOrList(n *node) ([]string, error) {
	switch n.kind {
	case kindString:
		return []string{n.text}, nil
	case kindArray:
		if len(n.vals) == 0 {
			return nil, errors.New("takes a string or a list of strings, not an empty list")
		}
		strs := make([]string, 0, len(n.vals))
		for _, e := range n.vals {
			if e.kind != kindString {
				return nil, fmt.Errorf("takes a string or a list of strings; the list has %s", e.kindName())
			}
			strs = append(strs, e.text)
		}
		return strs, nil
	}
	return nil, fmt.Errorf("takes a string or a list of strings, not %s", n.kindName())
}

// compileNumeric compiles ["op", n] and [">" or ">=", low, "<" or "<=",
// high], the forms EventBridge accepts.
func compileNumeric(t *test, arg *node, path string) error {
	const usage = `an array such as ["=", 5], [">", 0] or [">", 0, "<=", 5]`
	if arg.kind != kindArray {
		return errorf(path, "%q takes %s, not %s", opNumeric, usage, arg.kindName())
	}
	if len(arg.vals) != 2 && len(arg.vals) != 4 {
		return errorf(path, "%q takes %s; this array has %d elements", opNumeric, usage, len(arg.vals))
	}
	pair := func(i int) (string, int64, error) {
		op, num := arg.vals[i], arg.vals[i+1]
		if op.kind != kindString {
			return "", 0, errorf(path, "%q: expected an operator (=, <, <=, >, >=) at position %d, not %s", opNumeric, i+1, op.kindName())
		}
		switch op.text {
		case "=", "<", "<=", ">", ">=":
		default:
			return "", 0, errorf(path, "%q: unknown operator %s; the operators are =, <, <=, >, >=", opNumeric, quoteJSON(op.text))
		}
		if num.kind != kindNumber {
			return "", 0, errorf(path, "%q: %s takes a number, not %s", opNumeric, quoteJSON(op.text), num.kindName())
		}
		m, err := patternNumber(num.text)
		if err != nil {
			return "", 0, errorf(path, "%q: %s", opNumeric, err)
		}
		return op.text, m, nil
	}
	op, m, err := pair(0)
	if err != nil {
		return err
	}
	t.kind = testNumeric
	switch op {
	case "=":
		t.lo, t.hi, t.hasLo, t.hasHi = m, m, true, true
	case ">", ">=":
		t.lo, t.hasLo, t.loOpen = m, true, op == ">"
	case "<", "<=":
		t.hi, t.hasHi, t.hiOpen = m, true, op == "<"
	}
	if len(arg.vals) == 2 {
		return nil
	}
	if op != ">" && op != ">=" {
		return errorf(path, "%q: a range starts with > or >= and ends with < or <=, as in [\">\", 0, \"<=\", 5]; %s cannot start one", opNumeric, quoteJSON(op))
	}
	op2, m2, err := pair(2)
	if err != nil {
		return err
	}
	if op2 != "<" && op2 != "<=" {
		return errorf(path, "%q: a range starts with > or >= and ends with < or <=, as in [\">\", 0, \"<=\", 5]; %s cannot end one", opNumeric, quoteJSON(op2))
	}
	t.hi, t.hasHi, t.hiOpen = m2, true, op2 == "<"
	if t.lo > t.hi || (t.lo == t.hi && (t.loOpen || t.hiOpen)) {
		return errorf(path, "%q: the range %s %s, %s %s is empty", opNumeric, op, arg.vals[1].text, op2, arg.vals[3].text)
	}
	return nil
}

func flatten(n *node) []*node {
	var out []*node
	for _, e := range n.vals {
		if e.kind == kindArray {
			out = append(out, flatten(e)...)
		} else {
			out = append(out, e)
		}
	}
	return out
}

func quoteList(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = quoteJSON(k)
	}
	return strings.Join(q, ", ")
}
