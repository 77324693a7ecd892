package eventpattern

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func mustParse(tb testing.TB, pattern string) *Pattern {
	tb.Helper()
	p, err := Parse([]byte(pattern))
	if err != nil {
		tb.Fatalf("Parse(%s): %v", pattern, err)
	}
	return p
}

func mustDecode(tb testing.TB, event string) *Event {
	tb.Helper()
	ev, err := DecodeEvent([]byte(event))
	if err != nil {
		tb.Fatalf("DecodeEvent(%s): %v", event, err)
	}
	return ev
}

// Cases the guide does not show, decided as the package comment says.
var casesEdgeCases = []docCase{
	{
		// "300, 300.0, and 3.0e2 are not considered equal."
		name:    "exact numbers compare their text",
		pattern: `{"n": [300]}`,
		match:   []string{`{"n": 300}`, `{"n": [1, 300]}`},
		noMatch: []string{`{"n": 300.0}`, `{"n": 3.0e2}`, `{"n": "300"}`, `{"n": 301}`},
	},
	{
		name:    "exact numbers in other notations",
		pattern: `{"n": [3.0e2, -0, 1E-7]}`,
		match:   []string{`{"n": 3.0e2}`, `{"n": -0}`, `{"n": 1E-7}`},
		noMatch: []string{`{"n": 300}`, `{"n": 0}`, `{"n": 1e-7}`},
	},
	{
		name:    "numeric compares values",
		pattern: `{"n": [{"numeric": ["=", 300]}]}`,
		match:   []string{`{"n": 300}`, `{"n": 300.0}`, `{"n": 3.0e2}`, `{"n": 300.0000001}`},
		noMatch: []string{`{"n": 300.000001}`, `{"n": "300"}`, `{"n": null}`, `{}`},
	},
	{
		name:    "numeric: six digits after the point",
		pattern: `{"n": [{"numeric": [">", 0.000001]}]}`,
		match:   []string{`{"n": 0.000002}`, `{"n": 0.0000015}`},
		noMatch: []string{`{"n": 0.000001}`, `{"n": 0.0000014}`, `{"n": 0}`},
	},
	{
		name:    "numeric at the limits",
		pattern: `{"n": [{"numeric": [">=", -5e9, "<=", 5e9]}]}`,
		match:   []string{`{"n": -5000000000}`, `{"n": 5e9}`, `{"n": 0}`},
		noMatch: []string{`{"n": 5000000000.5}`, `{"n": -6e9}`, `{"n": 1e400}`},
	},
	{
		name:    "numeric, a list of ranges",
		pattern: `{"n": [{"numeric": ["<", 0]}, {"numeric": [">", 100]}]}`,
		match:   []string{`{"n": -1}`, `{"n": 101}`, `{"n": [50, 150]}`},
		noMatch: []string{`{"n": 0}`, `{"n": 100}`, `{"n": [0, 100]}`},
	},
	{
		name:    "exact numbers beyond the numeric range still match by text",
		pattern: `{"account": [123456789012], "big": [1e400]}`,
		match:   []string{`{"account": 123456789012, "big": 1e400}`},
		noMatch: []string{`{"account": 123456789013, "big": 1e400}`},
	},
	{
		name:    "anything-but numbers: values outside the range and other types are not excluded",
		pattern: `{"n": [{"anything-but": [0]}]}`,
		match:   []string{`{"n": 6e9}`, `{"n": "0"}`, `{"n": null}`, `{"n": true}`, `{"n": [0, 1]}`},
		noMatch: []string{`{"n": 0}`, `{"n": 0.0}`, `{"n": -0}`, `{"n": [0, 0.0]}`, `{}`, `{"n": {"x": 1}}`},
	},
	{
		name:    "anything-but strings: other types are not excluded; missing fields do not match",
		pattern: `{"s": [{"anything-but": "x"}]}`,
		match:   []string{`{"s": 5}`, `{"s": null}`, `{"s": false}`, `{"s": ["x", "y"]}`},
		noMatch: []string{`{"s": "x"}`, `{"s": ["x", "x"]}`, `{}`, `{"s": []}`},
	},
	{
		name:    "anything-but prefix on a number",
		pattern: `{"s": [{"anything-but": {"prefix": "1"}}]}`,
		match:   []string{`{"s": 12}`, `{"s": "21"}`},
		noMatch: []string{`{"s": "12"}`},
	},
	{
		name:    "booleans and their strings",
		pattern: `{"b": [true], "f": [false]}`,
		match:   []string{`{"b": true, "f": false}`},
		noMatch: []string{`{"b": "true", "f": false}`, `{"b": true, "f": "false"}`, `{"b": 1, "f": false}`},
	},
	{
		name:    "null is not missing, missing is not null",
		pattern: `{"a": {"b": [null]}}`,
		match:   []string{`{"a": {"b": null}}`, `{"a": [{"b": 1}, {"b": null}]}`},
		noMatch: []string{`{"a": {}}`, `{"a": null}`, `{}`, `{"a": {"b": "null"}}`},
	},
	{
		name:    "string operators do not match other types",
		pattern: `{"s": [{"prefix": "1"}, {"suffix": "e"}, {"equals-ignore-case": "TRUE"}, {"wildcard": "*"}, {"cidr": "0.0.0.0/0"}]}`,
		match:   []string{`{"s": "1x"}`, `{"s": "true"}`, `{"s": ""}`},
		noMatch: []string{`{"s": 12}`, `{"s": true}`, `{"s": null}`, `{"s": {"a": "1"}}`},
	},
	{
		name:    "an empty prefix matches every string",
		pattern: `{"s": [{"prefix": ""}]}`,
		match:   []string{`{"s": ""}`, `{"s": "x"}`},
		noMatch: []string{`{"s": 0}`, `{}`},
	},
	{
		name:    "unicode, exact and prefix",
		pattern: `{"user": ["Zoë", {"prefix": "日本"}], "emoji": [{"suffix": "😀"}]}`,
		match:   []string{`{"user": "Zo\u00eb", "emoji": "hi 😀"}`, `{"user": "日本語", "emoji": "\ud83d\ude00"}`},
		// No normalization: e followed by a combining diaeresis is another string.
		noMatch: []string{`{"user": "Zoe\u0308", "emoji": "😀"}`, `{"user": "日", "emoji": "😀"}`},
	},
	{
		name:    "unicode, ignoring case",
		pattern: `{"a": [{"equals-ignore-case": "ÉCOLE"}], "b": [{"prefix": {"equals-ignore-case": "straße"}}], "c": [{"suffix": {"equals-ignore-case": "k"}}]}`,
		// The Kelvin sign K (3 bytes) folds to k (1 byte).
		match:   []string{`{"a": "école", "b": "STRAßE 5", "c": "5\u212a"}`, `{"a": "École", "b": "Straße", "c": "K"}`},
		noMatch: []string{`{"a": "ecole", "b": "STRASSE 5", "c": "5K"}`, `{"a": "école", "b": "strasse", "c": "k"}`},
	},
	{
		name:    "exists false when a parent is missing, a leaf, an array of leaves or empty",
		pattern: `{"a": {"b": {"c": [{"exists": false}]}}}`,
		match:   []string{`{}`, `{"a": 1}`, `{"a": {"b": "x"}}`, `{"a": []}`, `{"a": {"b": [1, 2]}}`, `{"a": {"b": {"c": {"d": 1}}}}`, `{"a": {"b": {"c": []}}}`},
		noMatch: []string{`{"a": {"b": {"c": 1}}}`, `{"a": {"b": {"c": null}}}`, `{"a": {"b": {"c": [[1]]}}}`},
	},
	{
		name:    "exists true needs a leaf",
		pattern: `{"a": [{"exists": true}]}`,
		match:   []string{`{"a": 0}`, `{"a": null}`, `{"a": [[null]]}`, `{"a": [{}, 1]}`},
		noMatch: []string{`{}`, `{"a": []}`, `{"a": [[]]}`, `{"a": {}}`, `{"a": [{"b": 1}]}`},
	},
	{
		name:    "exists false within one element of an array",
		pattern: `{"a": {"b": [{"exists": false}], "c": ["y"]}}`,
		match:   []string{`{"a": [{"b": 1}, {"c": "y"}]}`},
		noMatch: []string{`{"a": [{"b": 1, "c": "y"}]}`, `{"a": []}`},
	},
	{
		name:    "either missing or a value",
		pattern: `{"a": [{"exists": false}, "x"]}`,
		match:   []string{`{}`, `{"a": "x"}`, `{"a": ["y", "x"]}`},
		noMatch: []string{`{"a": "y"}`, `{"a": null}`},
	},
	{
		name:    "values nested in arrays",
		pattern: `{"a": ["x"]}`,
		match:   []string{`{"a": [["y"], ["x"]]}`, `{"a": [{"b": 1}, "x"]}`},
		noMatch: []string{`{"a": [["y"]]}`, `{"a": {"x": 1}}`, `{"a": [{"a": "x"}]}`},
	},
	{
		name:    "a value list does not match an object",
		pattern: `{"detail": ["x"]}`,
		noMatch: []string{`{"detail": {"x": "x"}}`},
	},
	{
		name:    "an object pattern does not match a leaf",
		pattern: `{"detail": {"state": ["x"]}}`,
		noMatch: []string{`{"detail": "x"}`, `{"detail": ["x"]}`, `{"detail": null}`},
	},
	{
		// Unlike event-ruler's flattening, a key with a dot is one key.
		name:    "keys with dots",
		pattern: `{"a.b": ["x"]}`,
		match:   []string{`{"a.b": "x"}`},
		noMatch: []string{`{"a": {"b": "x"}}`},
	},
	{
		name:    "wildcard escapes",
		pattern: `{"s": [{"wildcard": "a\\*b*\\\\"}]}`,
		match:   []string{`{"s": "a*b\\"}`, `{"s": "a*bcd\\"}`},
		noMatch: []string{`{"s": "axb\\"}`, `{"s": "a*b"}`},
	},
	{
		name:    "wildcard without a star is an exact match",
		pattern: `{"s": [{"wildcard": "abc"}]}`,
		match:   []string{`{"s": "abc"}`},
		noMatch: []string{`{"s": "abcd"}`, `{"s": "ABC"}`},
	},
	{
		name:    "wildcard: stars at both ends and pieces that overlap",
		pattern: `{"s": [{"wildcard": "*ab*ba*"}], "t": [{"wildcard": "aba*aba"}]}`,
		match:   []string{`{"s": "abba", "t": "abaaba"}`, `{"s": "xxabyybaxx", "t": "ababa ababa"}`},
		noMatch: []string{`{"s": "aba", "t": "abaaba"}`, `{"s": "abba", "t": "ababa"}`},
	},
	{
		name:    "a lone star matches any string",
		pattern: `{"s": [{"wildcard": "*"}]}`,
		match:   []string{`{"s": ""}`, `{"s": "anything"}`},
		noMatch: []string{`{"s": 1}`},
	},
	{
		name:    "cidr: host bits, single addresses, IPv4-mapped IPv6 and zones",
		pattern: `{"ip": [{"cidr": "10.1.2.3/16"}, {"cidr": "192.168.0.7/32"}]}`,
		match:   []string{`{"ip": "10.1.255.255"}`, `{"ip": "192.168.0.7"}`, `{"ip": "::ffff:10.1.0.1"}`},
		noMatch: []string{`{"ip": "192.168.0.8"}`, `{"ip": "10.2.0.0"}`, `{"ip": "fe80::1%eth0"}`, `{"ip": "10.1.0.1/32"}`, `{"ip": " 10.1.0.1"}`},
	},
	{
		name:    "$or nested in $or, inside an array element",
		pattern: `{"a": {"$or": [{"b": ["x"]}, {"$or": [{"c": ["y"]}, {"d": [{"exists": false}]}]}], "e": ["z"]}}`,
		match:   []string{`{"a": [{"b": "x", "d": 1, "e": "z"}]}`, `{"a": {"c": "y", "d": 1, "e": "z"}}`, `{"a": {"e": "z"}}`},
		noMatch: []string{`{"a": [{"b": "x", "d": 1}, {"e": "z", "d": 1}]}`, `{"a": {"d": 1, "e": "z"}}`},
	},
	{
		name:    "$or branches for the same field",
		pattern: `{"$or": [{"a": {"b": ["1"]}}, {"a": {"b": ["2"]}}]}`,
		match:   []string{`{"a": {"b": "2"}}`, `{"a": [{"b": "3"}, {"b": "1"}]}`},
		noMatch: []string{`{"a": {"b": "3"}}`},
	},
	{
		name:    "a long list of values, looked up in a set",
		pattern: `{"a": ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", 10, 1e1, true, null, {"prefix": "p"}, {"numeric": [">", 100]}]}`,
		match:   []string{`{"a": "v5"}`, `{"a": 10}`, `{"a": 1e1}`, `{"a": true}`, `{"a": null}`, `{"a": "px"}`, `{"a": 101}`, `{"a": ["q", ["v9"]]}`},
		noMatch: []string{`{"a": "v10"}`, `{"a": 10.0}`, `{"a": "10"}`, `{"a": false}`, `{"a": "q"}`, `{"a": {"v1": "v1"}}`, `{}`},
	},
	{
		name:    "duplicate keys in the event: the last counts",
		pattern: `{"a": ["2"]}`,
		match:   []string{`{"a": "1", "a": "2"}`},
		noMatch: []string{`{"a": "2", "a": "1"}`},
	},
	{
		name:    "fields named like operators, outside $or",
		pattern: `{"prefix": ["p"], "detail": {"numeric": [1], "exists": {"x": ["y"]}}}`,
		match:   []string{`{"prefix": "p", "detail": {"numeric": 1, "exists": {"x": "y"}}}`},
	},
	{
		name:    "a field named $or in the event is just a field",
		pattern: `{"$or": [{"a": ["1"]}, {"b": ["2"]}]}`,
		noMatch: []string{`{"$or": [{"a": "1"}]}`},
	},
}

func TestEdgeCases(t *testing.T) { runDocCases(t, casesEdgeCases) }

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		pattern, err string
	}{
		{`[]`, `the pattern must be a JSON object, not an array`},
		{`"x"`, `the pattern must be a JSON object, not the string "x"`},
		{`{}`, `the pattern is an empty object; name at least one field`},
		{``, `the JSON ends early`},
		{`{"a": ["x"]`, `the JSON ends early`},
		{`{"a": ["x"],}`, `invalid JSON at byte 13: invalid character '}' looking for beginning of object key string`},
		{`{"a": {"b": [x]}}`, `a.b: invalid JSON at byte 14: invalid character 'x' looking for beginning of value`},
		{`{"a": ["x"]} {}`, `the pattern has more after its closing brace: more JSON`},
		{`{"a": ["x"]} x`, `the pattern has more after its closing brace: invalid JSON at byte 14: invalid character 'x' looking for beginning of value`},
		{`{"source": "aws.ec2"}`, `source: must be an array of values, such as ["aws.ec2"], or an object, not the string "aws.ec2"`},
		{`{"a": 5}`, `a: must be an array of values, such as [5], or an object, not the number 5`},
		{`{"a": null}`, `a: must be an array of values, such as [null], or an object, not null`},
		{`{"a": []}`, `a: empty array; list at least one value`},
		{`{"a": {}}`, `a: empty object; name at least one field`},
		{`{"a": {"b": [["x", ["y"]]]}}`, `a.b: a value cannot be an array; list the values in the field's array: ["x","y"]`},
		{`{"a": [{}]}`, `a: empty operator object; use one of prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists, cidr`},
		{`{"a": [{"prefix": "x", "suffix": "y"}]}`, `a: an operator object has exactly one key, this one has 2 ("prefix", "suffix")`},
		{`{"a": [{"contains": "x"}]}`, `a: unknown operator "contains"; the operators are prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists, cidr`},
		{`{"detail": {"state": [{"prefix": 5}]}}`, `detail.state: "prefix" takes a string or {"equals-ignore-case": string}, not the number 5`},
		{`{"a": [{"prefix": {"equals-ignore-case": 5}}]}`, `a: "prefix" takes a string or {"equals-ignore-case": string}, not an object`},
		{`{"a": [{"suffix": ["x"]}]}`, `a: "suffix" takes a string or {"equals-ignore-case": string}, not an array`},
		{`{"a": [{"equals-ignore-case": ["x"]}]}`, `a: "equals-ignore-case" takes a string, not an array`},
		{`{"a": [{"wildcard": 1}]}`, `a: "wildcard" takes a string, not the number 1`},
		{`{"a": [{"wildcard": "a**b"}]}`, `a: "wildcard": "a**b" has consecutive wildcard characters, which are not allowed; one * matches any run of characters`},
		{`{"a": [{"wildcard": "a\\b"}]}`, `a: "wildcard": "a\\b" has a \ that escapes neither * nor \; write \\ for a backslash`},
		{`{"a": [{"wildcard": "ab\\"}]}`, `a: "wildcard": "ab\\" has a \ that escapes neither * nor \; write \\ for a backslash`},
		{`{"a": [{"exists": "true"}]}`, `a: "exists" takes true or false, not the string "true"`},
		{`{"a": [{"cidr": "10.0.0.1"}]}`, `a: "cidr": "10.0.0.1" is not an IPv4 or IPv6 CIDR block such as "10.0.0.0/24" or "2001:db8::/32"`},
		{`{"a": [{"cidr": "10.0.0.0/33"}]}`, `a: "cidr": "10.0.0.0/33" is not an IPv4 or IPv6 CIDR block such as "10.0.0.0/24" or "2001:db8::/32"`},
		{`{"a": [{"cidr": 10}]}`, `a: "cidr" takes a string such as "10.0.0.0/24", not the number 10`},
		{`{"a": [{"anything-but": true}]}`, `a: "anything-but" takes a string, a number, a list of strings or of numbers, or one of {"prefix"|"suffix"|"equals-ignore-case"|"wildcard": ...}, not true`},
		{`{"a": [{"anything-but": {"exists": false}}]}`, `a: "anything-but" takes a string, a number, a list of strings or of numbers, or one of {"prefix"|"suffix"|"equals-ignore-case"|"wildcard": ...}, not an object with "exists"`},
		{`{"a": [{"anything-but": {"wildcard": "x", "wildcard": "y"}}]}`, `a: "anything-but" takes a string, a number, a list of strings or of numbers, or one of {"prefix"|"suffix"|"equals-ignore-case"|"wildcard": ...}, not an object with "wildcard", "wildcard"`},
		{`{"a": [{"anything-but": []}]}`, `a: "anything-but": empty list; list at least one string or number`},
		{`{"a": [{"anything-but": ["x", 1]}]}`, `a: "anything-but": a list takes only strings or only numbers, not both`},
		{`{"a": [{"anything-but": [null]}]}`, `a: "anything-but": a list takes strings or numbers, not null`},
		{`{"a": [{"anything-but": 6e9}]}`, `a: "anything-but": 6e9 is outside the range numbers are compared in, -5e9 to 5e9`},
		{`{"a": [{"anything-but": {"prefix": ""}}]}`, `a: "anything-but": "prefix" takes a string that is not empty`},
		{`{"a": [{"anything-but": {"suffix": 1}}]}`, `a: "anything-but": "suffix" takes a string, not the number 1`},
		{`{"a": [{"anything-but": {"prefix": ["x"]}}]}`, `a: "anything-but": "prefix" takes a string, not an array`},
		{`{"a": [{"anything-but": {"equals-ignore-case": []}}]}`, `a: "anything-but": "equals-ignore-case" takes a string or a list of strings, not an empty list`},
		{`{"a": [{"anything-but": {"wildcard": ["x", 1]}}]}`, `a: "anything-but": "wildcard" takes a string or a list of strings; the list has the number 1`},
		{`{"a": [{"anything-but": {"wildcard": ["x", "**"]}}]}`, `a: "anything-but": "wildcard": "**" has consecutive wildcard characters, which are not allowed; one * matches any run of characters`},
		{`{"a": [{"numeric": 5}]}`, `a: "numeric" takes an array such as ["=", 5], [">", 0] or [">", 0, "<=", 5], not the number 5`},
		{`{"a": [{"numeric": [">", 0, "<"]}]}`, `a: "numeric" takes an array such as ["=", 5], [">", 0] or [">", 0, "<=", 5]; this array has 3 elements`},
		{`{"a": [{"numeric": ["=>", 0]}]}`, `a: "numeric": unknown operator "=>"; the operators are =, <, <=, >, >=`},
		{`{"a": [{"numeric": [0, ">"]}]}`, `a: "numeric": expected an operator (=, <, <=, >, >=) at position 1, not the number 0`},
		{`{"a": [{"numeric": [">", "5"]}]}`, `a: "numeric": ">" takes a number, not the string "5"`},
		{`{"a": [{"numeric": ["<", 6e9]}]}`, `a: "numeric": 6e9 is outside the range numbers are compared in, -5e9 to 5e9`},
		{`{"a": [{"numeric": ["<", 1e400]}]}`, `a: "numeric": 1e400 is outside the range numbers are compared in, -5e9 to 5e9`},
		{`{"a": [{"numeric": ["<", 10, ">", 0]}]}`, `a: "numeric": a range starts with > or >= and ends with < or <=, as in [">", 0, "<=", 5]; "<" cannot start one`},
		{`{"a": [{"numeric": [">", 0, ">", 5]}]}`, `a: "numeric": a range starts with > or >= and ends with < or <=, as in [">", 0, "<=", 5]; ">" cannot end one`},
		{`{"a": [{"numeric": ["=", 0, "<", 5]}]}`, `a: "numeric": a range starts with > or >= and ends with < or <=, as in [">", 0, "<=", 5]; "=" cannot start one`},
		{`{"a": [{"numeric": [">", 5, "<", 1]}]}`, `a: "numeric": the range > 5, < 1 is empty`},
		{`{"a": [{"numeric": [">=", 5, "<", 5]}]}`, `a: "numeric": the range >= 5, < 5 is empty`},
		{`{"$or": [{"a": ["x"]}]}`, `$or: takes an array of at least two pattern objects, not an array of 1`},
		{`{"$or": {"a": ["x"]}}`, `$or: takes an array of at least two pattern objects, not an object`},
		{`{"d": {"$or": [{"a": ["x"]}, ["b"]]}}`, `d.$or[1]: each element of $or must be a pattern object, not an array`},
		{`{"$or": [{"a": ["x"]}, {}]}`, `$or[1]: empty object; name at least one field`},
		{`{"$or": [{"a": ["x"]}, {"b": "y"}]}`, `$or[1].b: must be an array of values, such as ["y"], or an object, not the string "y"`},
		{`{"$or": [{"a": ["x"]}, {"numeric": [">", 1]}]}`, `$or[1]: "numeric" is an operator, not a field name; the objects of $or map field names to arrays of values, such as {"field": [{"numeric": ...}]}`},
		{`{"$or": [{"a": ["x"]}, {"b": {"prefix": ["y"]}}]}`, `$or[1].b: "prefix" is an operator, not a field name; the objects of $or map field names to arrays of values, such as {"field": [{"prefix": ...}]}`},
	} {
		_, err := Parse([]byte(tc.pattern))
		if err == nil {
			t.Errorf("Parse(%s) succeeded, want error %q", tc.pattern, tc.err)
			continue
		}
		if err.Error() != tc.err {
			t.Errorf("Parse(%s) error:\n got %s\nwant %s", tc.pattern, err, tc.err)
		}
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%s) error %T is not *Error", tc.pattern, err)
		}
	}
}

func TestLimits(t *testing.T) {
	// A pattern of exactly MaxPatternLength characters, many of them
	// multi-byte: the limit counts characters, as EventBridge's does.
	build := func(chars int) string {
		head, tail := `{"a": ["`, `"]}`
		n := chars - len(head) - len(tail)
		return head + strings.Repeat("é", n) + tail
	}
	if _, err := Parse([]byte(build(MaxPatternLength))); err != nil {
		t.Errorf("a pattern of %d characters: %v", MaxPatternLength, err)
	}
	_, err := Parse([]byte(build(MaxPatternLength + 1)))
	if want := "the pattern has 4097 characters, more than the 4096 allowed"; err == nil || err.Error() != want {
		t.Errorf("a pattern of %d characters: error %v, want %q", MaxPatternLength+1, err, want)
	}

	// The deepest nesting that fits parses and matches.
	depth := (MaxPatternLength - len(`["x"]`)) / len(`{"a":}`)
	deep := strings.Repeat(`{"a":`, depth) + `["x"]` + strings.Repeat(`}`, depth)
	p := mustParse(t, deep)
	ev := mustDecode(t, strings.Repeat(`{"a":`, depth)+`"x"`+strings.Repeat(`}`, depth))
	if !p.Match(ev) {
		t.Errorf("a pattern nested %d deep does not match its event", depth)
	}

	big := `{"a": "` + strings.Repeat("x", MaxEventSize) + `"}`
	if _, err := DecodeEvent([]byte(big)); err == nil || !strings.Contains(err.Error(), "more than the 262144 allowed") {
		t.Errorf("DecodeEvent of %d bytes: error %v, want the size limit", len(big), err)
	}
	ok := `{"a": "` + strings.Repeat("x", MaxEventSize-len(`{"a": ""}`)) + `"}`
	if _, err := DecodeEvent([]byte(ok)); err != nil {
		t.Errorf("DecodeEvent of exactly %d bytes: %v", len(ok), err)
	}
}

func TestDecodeEventErrors(t *testing.T) {
	for _, tc := range []struct{ event, err string }{
		{`[]`, `the event must be a JSON object, not an array`},
		{`"x"`, `the event must be a JSON object, not a string`},
		{`null`, `the event must be a JSON object, not null`},
		{`{"a": 1`, `the event is not valid JSON: unexpected EOF`},
		{`{"a": 1} {}`, `the event is not valid JSON: it has more after its end`},
		{``, `the event is not valid JSON: EOF`},
	} {
		_, err := DecodeEvent([]byte(tc.event))
		if err == nil || err.Error() != tc.err {
			t.Errorf("DecodeEvent(%s) error %v, want %q", tc.event, err, tc.err)
		}
	}
	p := mustParse(t, `{"a": ["x"]}`)
	if _, err := p.MatchJSON([]byte(`{"a": `)); err == nil {
		t.Error("MatchJSON of broken JSON succeeded")
	}
	if ok, err := p.MatchJSON([]byte(`{"a": "x"}`)); !ok || err != nil {
		t.Errorf("MatchJSON = %v, %v; want true, nil", ok, err)
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct{ pattern, want string }{
		{`{ "source" : [ "aws.ec2" ] }`, `{"source":["aws.ec2"]}`},
		{`{"a": ["<&>", 3.0e2, true, null, {"prefix": {"equals-ignore-case": "x"}}]}`, `{"a":["<&>",3.0e2,true,null,{"prefix":{"equals-ignore-case":"x"}}]}`},
		{`{"a": ["1"], "b": ["2"], "a": ["3"]}`, `{"b":["2"],"a":["3"]}`},
		{`{"$or": [{"a": ["1"]}, {"b": {"c": [{"numeric": [">", 0, "<=", 5]}]}}]}`, `{"$or":[{"a":["1"]},{"b":{"c":[{"numeric":[">",0,"<=",5]}]}}]}`},
	} {
		p := mustParse(t, tc.pattern)
		if got := p.String(); got != tc.want {
			t.Errorf("Parse(%s).String() = %s, want %s", tc.pattern, got, tc.want)
		}
		if again := mustParse(t, p.String()).String(); again != tc.want {
			t.Errorf("String of the String of %s = %s, want %s", tc.pattern, again, tc.want)
		}
	}
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		pattern, event, want string
	}{
		{
			`{"source": ["aws.ec2"], "detail": {"state": ["running"]}}`,
			`{"source": "aws.ec2", "detail": {"state": "stopped"}}`,
			`no match: detail.state: "stopped" is not one of ["running"]`,
		},
		{
			`{"source": ["postern.session"], "detail": {"state": ["running"]}}`,
			`{"detail": {"state": "running"}}`,
			`no match: source: missing, pattern requires it`,
		},
		{
			`{"source": ["aws.ec2"], "detail": {"state": ["running", {"prefix": "pend"}], "c-count": [{"numeric": [">", 0]}]}, "resources": [{"suffix": "/i-2"}]}`,
			`{"source": "aws.ec2", "resources": ["arn:x/i-1", "arn:x/i-2"], "detail": {"state": "pending", "c-count": 1}}`,
			"matched:\n" +
				`  source: "aws.ec2" is one of ["aws.ec2"]` + "\n" +
				`  detail.state: "pending" matches {"prefix":"pend"}` + "\n" +
				`  detail.c-count: 1 matches {"numeric":[">",0]}` + "\n" +
				`  resources[1]: "arn:x/i-2" matches {"suffix":"/i-2"}`,
		},
		{
			`{"resources": ["a"]}`,
			`{"resources": ["b", "c"]}`,
			`no match: resources: none of ["b","c"] is one of ["a"]`,
		},
		{
			`{"resources": [{"prefix": "a"}]}`,
			`{"resources": ["b", "c"]}`,
			`no match: resources: none of ["b","c"] matches any of [{"prefix":"a"}]`,
		},
		{
			`{"code": ["80"]}`,
			`{"code": 80}`,
			`no match: code: 80 is not one of ["80"] (a number, and the pattern matches only strings)`,
		},
		{
			`{"n": [{"numeric": [">", 0]}, "x"]}`,
			`{"n": 6e9}`,
			`no match: n: 6e9 matches none of [{"numeric":[">",0]},"x"] (numeric compares numbers between -5e9 and 5e9 only)`,
		},
		{
			`{"detail": ["x"]}`,
			`{"detail": {"a": 1}}`,
			`no match: detail: an object, where the pattern expects a value matching ["x"]`,
		},
		{
			`{"detail": [{"exists": true}]}`,
			`{"detail": []}`,
			`no match: detail: an empty array, where the pattern expects a value matching [{"exists":true}]`,
		},
		{
			`{"detail": {"c-count": [{"exists": false}]}}`,
			`{"detail": {"c-count": 5}}`,
			`no match: detail.c-count: 5 is present, pattern requires it absent`,
		},
		{
			`{"detail": {"c-count": [{"exists": false}], "d": [{"exists": false}], "e": [{"exists": true}]}}`,
			`{"detail": {"c-count": {"c1": 100}, "e": null}}`,
			"matched:\n" +
				`  detail.c-count: an object, not a value, so absent as {"exists":false} requires` + "\n" +
				`  detail.d: absent, as {"exists":false} requires` + "\n" +
				`  detail.e: present (null), as {"exists":true} requires`,
		},
		{
			`{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}`,
			`{"source": "aws.cloudwatch", "metricName": "ReadLatency"}`,
			`no match: $or: no branch of $or matches: [0] metricName: "ReadLatency" is not one of ["CPUUtilization"]; [1] namespace: missing, pattern requires it`,
		},
		{
			`{"detail": {"$or": [{"a": ["1"]}, {"b": ["2"]}]}}`,
			`{"detail": {"b": "2"}}`,
			"matched:\n" + `  detail.b: "2" is one of ["2"]`,
		},
		{
			`{"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}`,
			`{"employees": [{"firstName": "Anna", "lastName": "Smith"}, {"firstName": "Peter", "lastName": "Jones"}]}`,
			`no match: employees[0].lastName: "Smith" is not one of ["Jones"] (and no other element of employees matches either)`,
		},
		{
			`{"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}`,
			`{"employees": [{"firstName": "Peter", "lastName": "Jones"}, {"firstName": "Anna", "lastName": "Jones"}]}`,
			"matched:\n" +
				`  employees[1].firstName: "Anna" is one of ["Anna"]` + "\n" +
				`  employees[1].lastName: "Jones" is one of ["Jones"]`,
		},
		{
			`{"employees": {"firstName": ["Anna"]}}`,
			`{"employees": [{"firstName": "Peter"}]}`,
			`no match: employees[0].firstName: "Peter" is not one of ["Anna"]`,
		},
		{
			`{"a": ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", {"suffix": "!"}]}`,
			`{"a": ["x", ["y", "v3"]]}`,
			"matched:\n" + `  a[1][1]: "v3" is one of ["v1","v2","v3","v4","v5","v6","v7","v8",{"suffix":"!"}]`,
		},
		{
			`{"a": ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", {"suffix": "!"}]}`,
			`{"a": ["x", "y!"]}`,
			"matched:\n" + `  a[1]: "y!" matches {"suffix":"!"}`,
		},
		{
			`{"a": ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", {"suffix": "!"}]}`,
			`{"a": "v9"}`,
			`no match: a: "v9" matches none of ["v1","v2","v3","v4","v5","v6","v7","v8",{"suffix":"!"}]`,
		},
		{
			`{"msg": ["short"]}`,
			`{"msg": "` + strings.Repeat("é", 200) + `"}`,
			`no match: msg: "` + strings.Repeat("é", 59) + `…` + ` is not one of ["short"]`,
		},
	} {
		p := mustParse(t, tc.pattern)
		ev := mustDecode(t, tc.event)
		ex := p.Explain(ev)
		if got := ex.String(); got != tc.want {
			t.Errorf("pattern %s\nevent %s\nexplanation:\n%s\nwant:\n%s", tc.pattern, tc.event, got, tc.want)
		}
		if ex.Matched != p.Match(ev) {
			t.Errorf("pattern %s\nevent %s\nExplain says %v, Match %v", tc.pattern, tc.event, ex.Matched, p.Match(ev))
		}
	}
}

// Patterns and events are shared by the goroutines that match them; run
// with -race.
func TestConcurrentMatch(t *testing.T) {
	p := mustParse(t, `{"detail": {"state": [{"anything-but": {"wildcard": ["*/lib/*"]}}], "n": [{"numeric": [">", 1]}]}}`)
	ev := mustDecode(t, `{"detail": [{"state": "/usr/bin", "n": 2}, {"state": "/usr/lib/x", "n": 3}]}`)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				if !p.Match(ev) || !p.Explain(ev).Matched {
					errs <- fmt.Errorf("goroutine %d: no match", i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
