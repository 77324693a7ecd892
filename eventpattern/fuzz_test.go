package eventpattern

import (
	"encoding/json"
	"errors"
	"testing"
)

// seedPatterns are every pattern of the tests' tables and a few broken
// ones; seedEvents every event.
func seedPatterns() []string {
	ps := []string{
		`{"a": ["x"],}`,
		`{"a": [{"wildcard": "a\\*b**"}]}`,
		`{"$or": [{"numeric": [">", 1]}, {"a": ["x"]}]}`,
		`{"a": [{"numeric": [">=", 5, "<", 5]}]}`,
		`{"a": [{"anything-but": {"equals-ignore-case": ["X", "y"]}}], "b": [{"cidr": "::/0"}]}`,
		`{"a": {"a": {"a": {"a": [{"exists": false}]}}}}`,
	}
	for _, cs := range allCases() {
		for _, c := range cs {
			ps = append(ps, c.pattern)
		}
	}
	return ps
}

func seedEvents() []string {
	es := []string{`{}`, `{"a": [[[[]]]]}`, `{"a": {"a": {"a": {"a": 1e400}}}}`, `{"a": "\u00e9\ud83d\ude00\\*"}`}
	for _, cs := range allCases() {
		for _, c := range cs {
			es = append(es, c.match...)
			es = append(es, c.noMatch...)
		}
	}
	return es
}

func allCases() [][]docCase {
	return [][]docCase{casesDocsEventPatterns, casesDocsNullAndEmpty, casesDocsArrays, casesDocsComparisonOperators, casesDocsOr, casesEdgeCases}
}

// FuzzParse checks that Parse never panics, fails only with an *Error
// that says something, and that what it accepts has a canonical form
// that is valid JSON and parses back to itself.
func FuzzParse(f *testing.F) {
	for _, p := range seedPatterns() {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		p, err := Parse([]byte(pattern))
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Msg == "" {
				t.Fatalf("Parse(%q) error %#v is not a described *Error", pattern, err)
			}
			return
		}
		s := p.String()
		if !json.Valid([]byte(s)) {
			t.Fatalf("Parse(%q).String() = %s, not valid JSON", pattern, s)
		}
		p2, err := Parse([]byte(s))
		if err != nil {
			t.Fatalf("Parse(%q).String() = %s, which does not parse: %v", pattern, s, err)
		}
		if s2 := p2.String(); s2 != s {
			t.Fatalf("canonical form of %q is not stable: %s then %s", pattern, s, s2)
		}
	})
}

// FuzzMatch checks that matching never panics, that Explain agrees with
// Match and says why, that the canonical pattern matches the same, and
// that wrapping every value of the event in a one-element array changes
// nothing (a field matches if any element of an array does; an object
// pattern matches an element as a whole).
func FuzzMatch(f *testing.F) {
	patterns, events := seedPatterns(), seedEvents()
	for i, p := range patterns {
		// Pair every pattern with a few events, not all: the product is
		// too large a corpus to run on every go test.
		for j := range 3 {
			f.Add(p, events[(i*3+j)%len(events)])
		}
	}
	f.Fuzz(func(t *testing.T, pattern, event string) {
		p, err := Parse([]byte(pattern))
		if err != nil {
			return
		}
		ev, err := DecodeEvent([]byte(event))
		if err != nil {
			return
		}
		m := p.Match(ev)
		ex := p.Explain(ev)
		if ex.Matched != m {
			t.Fatalf("pattern %s event %s: Match %v, Explain %v", pattern, event, m, ex)
		}
		if len(ex.Fields) == 0 {
			t.Fatalf("pattern %s event %s: explanation without fields", pattern, event)
		}
		for _, fe := range ex.Fields {
			if fe.Reason == "" {
				t.Fatalf("pattern %s event %s: explanation %v has a field without a reason", pattern, event, ex)
			}
		}
		if !m && len(ex.Fields) != 1 {
			t.Fatalf("pattern %s event %s: a non-match explained by %d fields", pattern, event, len(ex.Fields))
		}
		if canon := mustParse(t, p.String()); canon.Match(ev) != m {
			t.Fatalf("pattern %s event %s: Match %v, the canonical pattern %s says %v", pattern, event, m, p.String(), !m)
		}
		wrapped := &Event{root: wrap(ev.root).(map[string]any)}
		if got := p.Match(wrapped); got != m {
			t.Fatalf("pattern %s event %s: Match %v, but %v with every value in an array", pattern, event, m, got)
		}
	})
}

// wrap copies an event with every field's value put in a one-element
// array.
func wrap(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = []any{wrap(e)}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = wrap(e)
		}
		return out
	}
	return v
}
