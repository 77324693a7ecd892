package eventpattern

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Explanation says why an event matches a pattern or why it does not, for
// people: `postern events rules test-pattern` prints it.
type Explanation struct {
	Matched bool `json:"matched"`
	// Fields are, for a match, every field the pattern tested and what
	// passed, in the pattern's order (of a $or, the first branch that
	// matched); for a non-match, the first field that failed.
	Fields []FieldExplanation `json:"fields"`
}

// FieldExplanation is one field of an Explanation.
type FieldExplanation struct {
	// Path is where in the event: "detail.state", "resources[1]" for an
	// element of an array, "detail.$or" for a $or none of whose branches
	// matched.
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (f FieldExplanation) String() string { return f.Path + ": " + f.Reason }

// String renders the explanation as the CLI shows it:
//
//	no match: detail.state: "stopped" is not one of ["running"]
//
// or "matched:" followed by a line for each field.
func (e Explanation) String() string {
	if !e.Matched {
		if len(e.Fields) == 0 {
			return "no match"
		}
		return "no match: " + e.Fields[0].String()
	}
	var b strings.Builder
	b.WriteString("matched:")
	for _, f := range e.Fields {
		b.WriteString("\n  ")
		b.WriteString(f.String())
	}
	return b.String()
}

// Explain matches the event as Match does, and says which fields matched,
// or which field did not and why. Its Matched is always what Match
// returns.
func (p *Pattern) Explain(ev *Event) Explanation {
	tr := &trace{}
	if matchObject(p.root, ev.root, tr, "") {
		return Explanation{Matched: true, Fields: tr.matched}
	}
	return Explanation{Matched: false, Fields: []FieldExplanation{tr.failed}}
}

// trace collects an explanation while the matcher runs: the fields that
// matched so far, and, once a match has failed, why.
type trace struct {
	matched []FieldExplanation
	failed  FieldExplanation
}

func (t *trace) fail(path, reason string) {
	t.failed = FieldExplanation{Path: path, Reason: reason}
}

func orFailure(branches []FieldExplanation) string {
	var b strings.Builder
	b.WriteString("no branch of $or matches: ")
	for i, f := range branches {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "[%d] %s", i, f)
	}
	return b.String()
}

// matchedValue records that op, one of tests, passed a leaf of v, naming
// the leaf's path when it is an element of an array; op is nil when the
// leaf was found in the field's set of exact values. An exact value is
// shown with the whole list it is in, an operator alone.
func (tr *trace) matchedValue(path string, tests []*test, op *test, pass func(any) bool, v any) {
	p, leaf, _ := findLeaf(pass, v, path)
	if op == nil || op.kind == testExact {
		tr.matched = append(tr.matched, FieldExplanation{Path: p, Reason: fmt.Sprintf("%s is one of %s", renderValue(leaf), renderTests(tests))})
		return
	}
	tr.matched = append(tr.matched, FieldExplanation{Path: p, Reason: fmt.Sprintf("%s matches %s", renderValue(leaf), nodeJSON(op.src))})
}

func findLeaf(pass func(any) bool, v any, path string) (string, any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return "", nil, false
	case []any:
		for i, e := range x {
			if p, leaf, ok := findLeaf(pass, e, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, leaf, true
			}
		}
		return "", nil, false
	}
	return path, v, pass(v)
}

func (tr *trace) matchedExists(path string, t *test, v any, present bool) {
	var reason string
	switch {
	case t.exists:
		reason = fmt.Sprintf("present (%s), as %s requires", renderValue(v), nodeJSON(t.src))
	case !present:
		reason = fmt.Sprintf("absent, as %s requires", nodeJSON(t.src))
	default:
		reason = fmt.Sprintf("%s, not a value, so absent as %s requires", kindOfValue(v), nodeJSON(t.src))
	}
	tr.matched = append(tr.matched, FieldExplanation{Path: path, Reason: reason})
}

// failedValues records why no test of a field's array passed.
func (tr *trace) failedValues(path string, tests []*test, v any, present bool) {
	list := renderTests(tests)
	if !present {
		tr.fail(path, "missing, pattern requires it")
		return
	}
	var leaves []any
	collectLeaves(v, &leaves)
	if len(leaves) == 0 {
		tr.fail(path, fmt.Sprintf("%s, where the pattern expects a value matching %s", kindOfValue(v), list))
		return
	}
	if len(tests) == 1 && tests[0].kind == testExists && !tests[0].exists {
		tr.fail(path, fmt.Sprintf("%s is present, pattern requires it absent", renderValue(v)))
		return
	}
	allExact := true
	for _, t := range tests {
		allExact = allExact && t.kind == testExact
	}
	if len(leaves) == 1 {
		leaf := leaves[0]
		if allExact {
			tr.fail(path, fmt.Sprintf("%s is not one of %s%s", renderValue(leaf), list, typeHint(tests, leaf)))
		} else {
			tr.fail(path, fmt.Sprintf("%s matches none of %s%s", renderValue(leaf), list, typeHint(tests, leaf)))
		}
		return
	}
	if allExact {
		tr.fail(path, fmt.Sprintf("none of %s is one of %s", renderValue(v), list))
	} else {
		tr.fail(path, fmt.Sprintf("none of %s matches any of %s", renderValue(v), list))
	}
}

func collectLeaves(v any, out *[]any) {
	switch x := v.(type) {
	case map[string]any:
	case []any:
		for _, e := range x {
			collectLeaves(e, out)
		}
	default:
		*out = append(*out, v)
	}
}

// typeHint says why a leaf of one type cannot pass tests that only take
// another, the usual surprise: "80" in a pattern does not match 80.
func typeHint(tests []*test, leaf any) string {
	n, isNum := leaf.(number)
	if isNum && !n.inRange {
		for _, t := range tests {
			if t.kind == testNumeric {
				return " (numeric compares numbers between -5e9 and 5e9 only)"
			}
		}
	}
	var accepts [4]bool // string, number, bool, null
	for _, t := range tests {
		switch t.kind {
		case testExact:
			switch t.lit.(type) {
			case string:
				accepts[0] = true
			case number:
				accepts[1] = true
			case bool:
				accepts[2] = true
			default:
				accepts[3] = true
			}
		case testPrefix, testSuffix, testEqualsFold, testWildcard, testCIDR:
			accepts[0] = true
		case testNumeric:
			accepts[1] = true
		default: // anything-but takes any type
			return ""
		}
	}
	var kind int
	switch leaf.(type) {
	case string:
		kind = 0
	case number:
		kind = 1
	case bool:
		kind = 2
	default:
		kind = 3
	}
	if accepts[kind] {
		return ""
	}
	names := []string{"strings", "numbers", "true or false", "null"}
	var want []string
	for i, ok := range accepts {
		if ok {
			want = append(want, names[i])
		}
	}
	return fmt.Sprintf(" (%s, and the pattern matches only %s)", kindOfValue(leaf), strings.Join(want, ", "))
}

func kindOfValue(v any) string {
	if a, ok := v.([]any); ok && len(a) == 0 {
		return "an empty array"
	}
	return kindOf(v)
}

func renderTests(tests []*test) string {
	return string(appendTests(nil, tests))
}

// maxRendered is the most bytes of an event value an explanation quotes.
const maxRendered = 120

func renderValue(v any) string {
	b := appendValue(nil, v, maxRendered)
	if len(b) > maxRendered {
		cut := maxRendered
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		return string(b[:cut]) + "…"
	}
	return string(b)
}

// appendValue writes an event value as JSON, stopping once it is past
// limit bytes: an explanation quotes values, not whole events.
func appendValue(b []byte, v any, limit int) []byte {
	if len(b) > limit {
		return b
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if len(b) > limit {
				break
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, quoteJSON(k)...)
			b = append(b, ':')
			b = appendValue(b, x[k], limit)
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if len(b) > limit {
				break
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e, limit)
		}
		return append(b, ']')
	case string:
		if len(x) > limit {
			x = x[:limit]
		}
		return append(b, quoteJSON(x)...)
	case number:
		return append(b, x.lit...)
	case bool:
		if x {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	}
	return append(b, "null"...)
}
