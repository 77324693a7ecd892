package filterpattern

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	cases := []struct{ pattern, want string }{
		// Regular expressions: the documented dialect ("%something!%
		// would be rejected since '!' is not supported"; "The ( and )
		// operators are not supported"; "Multi-byte characters are not
		// supported"), and what Go's parser rejects.
		{`%something!%`, `filter pattern:1:11: '!' is not supported in regular expressions; use \x21 to match it`},
		{`%(alpha|beta)%`, `filter pattern:1:2: parentheses are not supported in regular expressions; use \x28 and \x29 to match them`},
		{`%\(ab\)%`, `filter pattern:1:3: parentheses are not supported in regular expressions; use \x28 and \x29 to match them`},
		{`%マルチバイト%`, `filter pattern:1:2: multi-byte characters are not supported in regular expressions`},
		{`%\p{L}%`, `filter pattern:1:2: unsupported escape "\p" in regular expression`},
		{`%\b%`, `filter pattern:1:2: unsupported escape "\b" in regular expression`},
		{`%\x4%`, `filter pattern:1:2: "\x" must be followed by two hexadecimal digits`},
		{`%abc`, `filter pattern:1:1: unterminated regular expression: missing closing "%"`},
		{`%%`, `filter pattern:1:1: empty regular expression`},
		{`%a% b`, `filter pattern:1:5: a regular expression must be the whole filter pattern; unexpected 'b' after it`},
		{`%a{x}%`, `filter pattern:1:3: "{" must start a repetition such as {2}, {2,5}, {2,} or {,5}; use \{ to match it`},
		{`%a}%`, `filter pattern:1:3: unmatched "}" in regular expression; use \} to match it`},
		{`%a\%`, `filter pattern:1:3: trailing backslash in regular expression`},
		{`%[a-%`, `filter pattern:1:2: invalid regular expression: missing closing ]: "[a-"`},
		{`%*a%`, `filter pattern:1:2: invalid regular expression: missing argument to repetition operator: "*"`},
		{`%a{1001}%`, `filter pattern:1:2: invalid regular expression: invalid repeat count: "{1001}"`},
		// Matching costs up to the program's size per character; see
		// maxRegexInsts.
		{`%x{600}y{600}%`, `filter pattern:1:9: regular expression is too complex: matching it could take more than 1024 steps per character of a message`},
		{`%x{99999999999999999999}%`, `filter pattern:1:3: regular expression is too complex: matching it could take more than 1024 steps per character of a message`},
		{`%[a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z][a-z]{1000}%`, `filter pattern:1:2: regular expression is too complex: matching it could take more than 1024 steps per character of a message`},

		// Terms.
		{`ERROR -`, `filter pattern:1:7: expected a term after "-"`},
		{`? `, `filter pattern:1:1: expected a term after "?"`},
		{`-""`, `filter pattern:1:1: empty term after "-"`},
		{`"unterminated`, `filter pattern:1:1: unterminated string: missing closing '"'`},
		{`ab"cd`, `filter pattern:1:3: unexpected '"' inside a term; quote the whole term`},

		// JSON.
		{`{}`, `filter pattern:1:1: empty JSON filter pattern`},
		{`{ $.a = 1`, `filter pattern:1:10: expected "&&", "||" or "}"`},
		{`{ $.a = 1 } x`, `filter pattern:1:13: unexpected 'x' after "}"`},
		{`{ a = 1 }`, `filter pattern:1:3: expected a property selector such as "$.field"`},
		{`{ $.a }`, `filter pattern:1:7: expected an operator after $.a`},
		{`{ $.a == 1 }`, `filter pattern:1:7: "==" is not an operator; use "="`},
		{`{$.latency = }`, `filter pattern:1:14: expected a value after "="`},
		{`{ $.a > abc }`, `filter pattern:1:9: expected a number after ">"`},
		{`{ $.a > * }`, `filter pattern:1:9: expected a number after ">"`},
		{`{ $.a <= %x% }`, `filter pattern:1:10: expected a number after "<="`},
		// "The variables IS NOT and EXISTS currently aren't supported."
		{`{ $.a IS NOT NULL }`, `filter pattern:1:7: "IS NOT" is not supported; use "!=" or "NOT EXISTS"`},
		{`{ $.a EXISTS }`, `filter pattern:1:7: "EXISTS" is not supported; use "= *" to require a value, or "NOT EXISTS"`},
		{`{ $.a IS MAYBE }`, `filter pattern:1:10: expected NULL, TRUE or FALSE after "IS"`},
		{`{ $.a NOT NULL }`, `filter pattern:1:11: expected EXISTS after "NOT"`},
		{`{ $.a = "x" && }`, `filter pattern:1:16: expected a property selector such as "$.field"`},
		{`{ ($.a = 1 }`, `filter pattern:1:12: expected "&&", "||" or ")", found '}'`},
		{`{ $.a = 1) }`, `filter pattern:1:10: expected "&&", "||" or "}", found ')'`},
		// "Strings that have unicode and other characters such as '@',
		// '$', '\', etc. must be enclosed in double quotes to be valid."
		{`{ $.a = 12:00 }`, `filter pattern:1:11: unquoted value contains ':'; enclose the value in double quotes`},
		{`{ $.a = @x }`, `filter pattern:1:9: unquoted value starts with '@'; enclose the value in double quotes`},
		{`{ $.a = "x }`, `filter pattern:1:9: unterminated string: missing closing '"'`},
		{`{ $.@timestamp = 1 }`, `filter pattern:1:5: expected a property name after "."; names other than letters, digits, "-" and "_" go in brackets, as in $.['name']`},
		{`{ $.a[x] = 1 }`, `filter pattern:1:7: expected an array index, "*" or a quoted property name after "["`},
		{`{ $.a[1 = 1 }`, `filter pattern:1:8: expected "]" after the array index`},
		{`{ $.a[9999999999] = 1 }`, `filter pattern:1:7: array index is too large`},
		{`{ $.['a' = 1 }`, `filter pattern:1:9: expected "]" after the property name`},
		// The quotas on wildcard selectors and regular expressions.
		{`{ $.a[*].* = 1 }`, `filter pattern:1:3: $.a[*].* has 2 wildcards; CloudWatch allows 1 in a selector`},
		{`{ $.* = 1 && $.a[*] = 1 && $.b.* = 1 && $.c.* = 1 }`, `filter pattern:1:41: too many wildcard selectors: CloudWatch allows 3 in a filter pattern`},
		{`{ $.a = %x% && $.b = %y% && $.c = %z% }`, `filter pattern:1:35: too many regular expressions: CloudWatch allows 2 in a filter pattern`},
		{"{ $.a = 1 &&\n  $.b = }", `filter pattern:2:9: expected a value after "="`},

		// Space-delimited.
		{`[]`, `filter pattern:1:1: empty space-delimited filter pattern`},
		{`[a`, `filter pattern:1:3: expected "," or "]"`},
		{`[a b]`, `filter pattern:1:4: expected an operator after "a"`},
		{`[a = ]`, `filter pattern:1:6: expected a value after "="`},
		{`[a = 1 && b = 2]`, `filter pattern:1:11: the conditions of field "a" must all be about "a", not "b"`},
		{`[a = 1 &&]`, `filter pattern:1:10: expected "a" after the logical operator`},
		{`[a, a]`, `filter pattern:1:5: duplicate field name "a"`},
		{`[7]`, `filter pattern:1:2: field name "7" is a number; $7 already refers to the field at that position`},
		{`[a > x]`, `filter pattern:1:6: expected a number after ">"`},
		{`[a = 1] x`, `filter pattern:1:9: unexpected 'x' after "]"`},
		{`[=1]`, `filter pattern:1:2: expected a field name, "...", "," or "]", found '='`},
		{`[w1=%a%, w2=%b%, w3=%c%]`, `filter pattern:1:21: too many regular expressions: CloudWatch allows 2 in a filter pattern`},

		// The API's length limit. Columns count characters, not bytes.
		{strings.Repeat("a", MaxLength+1), `filter pattern:1:1: the pattern is 1025 characters long; CloudWatch allows at most 1024`},
		{`"é" a"b`, `filter pattern:1:6: unexpected '"' inside a term; quote the whole term`},
		{`{ $.['é'] = }`, `filter pattern:1:13: expected a value after "="`},
	}
	for _, tc := range cases {
		p, err := Parse(tc.pattern)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want error %q", tc.pattern, p.String(), tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Parse(%q) error:\n got %s\nwant %s", tc.pattern, err, tc.want)
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error is %T, want *SyntaxError", tc.pattern, err)
		}
	}
}

func TestLimits(t *testing.T) {
	// 1024 characters is fine, even when they are more bytes.
	if _, err := Parse(strings.Repeat("é", MaxLength)); err != nil {
		t.Errorf("Parse(1024 × é): %v", err)
	}
	// The largest repetition Go allows is not too complex.
	p := mustParse(t, `%^x{1000}$%`)
	if !p.Match(strings.Repeat("x", 1000)) || p.Match(strings.Repeat("x", 999)) {
		t.Errorf("%s matches wrongly", p)
	}
}

func TestCanonical(t *testing.T) {
	cases := []struct{ pattern, want string }{
		{``, ``},
		{`  ""  `, ``},
		{`ERROR   "Exception" -"Exiting" ?"a b" ?x_1 ERROR: "say \"hi\"" C:\temp`, `ERROR Exception -Exiting ?"a b" ?x_1 "ERROR:" "say \"hi\"" "C:\\temp"`},
		{`"ERROR" - "Exiting"`, `ERROR -Exiting`},
		{` %a{,3}% `, `%a{,3}%`},
		{`{$.a=1}`, `{ $.a = 1 }`},
		{`{ $.a = bar || $.b = "x y" }`, `{ $.a = "bar" || $.b = "x y" }`},
		{`{ (($.a = 1)) && ($.b = 2 && $.c = 3) && ($.d = 4 || $.e = 5) }`, `{ $.a = 1 && $.b = 2 && $.c = 3 && ($.d = 4 || $.e = 5) }`},
		{`{ $.a = 1 || ($.b = 2 || $.c = 3) }`, `{ $.a = 1 || $.b = 2 || $.c = 3 }`},
		{`{ $.a = "400" && $.b = 400 && $.c = +4e2 && $.d = * && $.e = %x% }`, `{ $.a = "400" && $.b = 400 && $.c = +4e2 && $.d = "*" && $.e = %x% }`},
		{`{ $.a is null && $.b Is True && $.c not exists }`, `{ $.a IS NULL && $.b IS TRUE && $.c NOT EXISTS }`},
		{`{ $['x'] = 1 }`, `filter pattern:1:3: expected a property selector such as "$.field"`},
		{`{ $.['a'].b["c.d"][0]['it\'s'][*] = 1 }`, `{ $.a.b.['c.d'][0].['it\'s'][*] = 1 }`},
		{`[a,b=1,...,...,c=x&&c!="y z"||c=%q%,]`, `[a, b = 1, ..., c = x && c != "y z" || c = %q%, ]`},
		{`[…, a]`, `[..., a]`},
		{`[,]`, `[, ]`},
		{`[w1="ERROR", w2 = "404", w3 = 404]`, `[w1 = ERROR, w2 = "404", w3 = 404]`},
	}
	for _, tc := range cases {
		p, err := Parse(tc.pattern)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = p.String()
		}
		if got != tc.want {
			t.Errorf("Parse(%q).String():\n got %s\nwant %s", tc.pattern, got, tc.want)
		}
	}
}

// TestBehavior covers what the docs leave open, as this package decides
// it (see the package comment).
func TestBehavior(t *testing.T) {
	runDocCases(t, []docCase{
		// Terms.
		{`ERROR:`, []docEvent{yes("ERROR: x"), no("ERROR x")}},
		{`?ERROR ?WARN -DEBUG`, []docEvent{yes("INFO"), no("DEBUG ERROR")}},
		{`-DEBUG`, []docEvent{yes("INFO"), yes(""), no("DEBUG")}},
		{`"a\"b" "c\\d" "e\f"`, []docEvent{yes(`a"b c\d e\f`), no(`a"b c\d`)}},
		// The dot matches newlines: a message is one string.
		{`%a.b%`, []docEvent{yes("a\nb")}},
		{`%^b%`, []docEvent{no("a\nb")}},

		// JSON: only whole JSON objects match, even NOT EXISTS.
		{`{ $.a NOT EXISTS }`, []docEvent{yes(`{}`), yes(" {\"b\":1}\n"), no(`[]`), no(`{`), no(`{} {}`), no(`{"a":1,}`), no(`not json`), no(``)}},
		// Comparisons need a string, number or boolean; != too.
		{`{ $.a != "x" }`, []docEvent{yes(`{"a": "y"}`), yes(`{"a": 1}`), no(`{}`), no(`{"a": null}`), no(`{"a": {}}`), no(`{"a": ["y"]}`)}},
		{`{ $.a = * }`, []docEvent{yes(`{"a": ""}`), yes(`{"a": 0}`), yes(`{"a": false}`), no(`{"a": null}`), no(`{"a": []}`)}},
		{`{ $.a != * }`, []docEvent{no(`{"a": "x"}`), no(`{}`)}},
		// Booleans compare as their text.
		{`{ $.a = true }`, []docEvent{yes(`{"a": true}`), yes(`{"a": "true"}`), no(`{"a": 1}`)}},
		// Wildcards at the ends only.
		{`{ $.a = "Ev*ent" }`, []docEvent{yes(`{"a": "Ev*ent"}`), no(`{"a": "Evident"}`)}},
		{`{ $.a = "*Event" }`, []docEvent{yes(`{"a": "PutEvent"}`), no(`{"a": "EventId"}`)}},
		{`{ $.a = "Event*" }`, []docEvent{yes(`{"a": "EventId"}`), no(`{"a": "PutEvent"}`)}},
		{`{ $.a = "*vent*" }`, []docEvent{yes(`{"a": "PutEvents"}`), no(`{"a": "Put"}`)}},
		// Numbers: JSON numbers in any notation, strings in plain decimal
		// only; = and != with a number fall back to text.
		{`{ $.n > 10 }`, []docEvent{yes(`{"n": 1.1e1}`), yes(`{"n": "11"}`), yes(`{"n": "+11.5"}`), no(`{"n": "1.1e1"}`), no(`{"n": "eleven"}`), no(`{"n": true}`)}},
		{`{ $.n = 404 }`, []docEvent{yes(`{"n": "404"}`), yes(`{"n": "404.0"}`), no(`{"n": "n/a"}`)}},
		{`{ $.n != 404 }`, []docEvent{yes(`{"n": "n/a"}`), no(`{"n": 404}`)}},
		{`{ $.s = "404" }`, []docEvent{yes(`{"s": 404}`), no(`{"s": 404.0}`)}},
		// Escapes in the event: in keys, in values, and surrogate pairs.
		{`{ $.command = "sudo*" }`, []docEvent{
			yesFields(`{"comm\u0061nd": "\u0073udo ls"}`, map[string]string{"$.command": "sudo ls"}),
			yesFields(`{"command": "sudo \"x\"\n\t\\ \/ \ud83d\ude00 \ud800"}`, map[string]string{"$.command": "sudo \"x\"\n\t\\ / 😀 \uFFFD"}),
			no(`{"command": "ls", "note": "sudo"}`),
			no(`{"cmd": "sudo ls"}`),
			no(`{"command": ["sudo ls"]}`),
			no(`{"command": "sudo ls"`),
		}},
		// Duplicate keys: the last wins, as with encoding/json.
		{`{ $.a = 2 }`, []docEvent{yes(`{"a": 1, "a": 2}`), no(`{"a": 2, "a": 1}`)}},
		// Wildcards select object members and array elements, at any
		// depth of the selector.
		{`{ $.objectList[*].name = "b" }`, []docEvent{yes(docJSON), no(`{"objectList": [{"name": "c"}]}`)}},
		{`{ $.a.*.b = 1 }`, []docEvent{yes(`{"a": {"x": {"b": 0}, "y": {"b": 1}}}`), yes(`{"a": [{"b": 1}]}`), no(`{"a": {"x": {"b": 0}}}`)}},
		{`{ $.a[*] NOT EXISTS }`, []docEvent{yes(`{"a": []}`), yes(`{}`), yes(`{"a": 1}`), no(`{"a": [null]}`)}},
		{`{ $.coordinates[2][0] = 7 && $.user.id IS NULL }`, []docEvent{yes(`{"coordinates": [[0], [1], [7]], "user": {"id": null}}`)}},
		// Whitespace is allowed around and inside JSON events.
		{`{ $.a.b = "c" }`, []docEvent{yes(" \t{ \"a\" :\r\n{ \"b\" : \"c\" } } \n")}},

		// Space-delimited: quotes and brackets group words; escaped
		// quotes do not end a quoted word; unterminated ones are plain.
		{`[a, b, c]`, []docEvent{
			yesFields(`x "y \"z\" w" [p q]`, map[string]string{"$a": "x", "$b": `y \"z\" w`, "$c": "p q"}),
			yesFields(`x "y [p`, map[string]string{"$a": "x", "$b": `"y`, "$c": "[p"}),
			yesFields(`  x   y   z  w  `, map[string]string{"$a": "x", "$b": "y", "$c": "z  w"}),
			yesFields(`"a b"[c]d`, map[string]string{"$a": "a b", "$b": "c", "$c": "d"}),
			no(`x y`),
		}},
		{`[...]`, []docEvent{yes(""), yes("a b c")}},
		{`[..., a = x, ...]`, []docEvent{
			yesFields("p x q x", map[string]string{"$1": "p", "$a": "x", "$3": "q", "$4": "x"}),
			no("p q"),
		}},
		{`[a, ..., b = 1, ..., c]`, []docEvent{yes("a 1 c"), yes("a 0 1 0 c"), no("a 0 c")}},
		{`[a > 1 && a < 10 || a = 100]`, []docEvent{yes("5"), yes("100"), no("10"), no("x")}},
		{`[a = 200]`, []docEvent{yes("200"), yes("200.0"), no("2e2")}},
		{`[a = "200"]`, []docEvent{yes("200"), no("200.0")}},
	})
}

func TestValue(t *testing.T) {
	cases := []struct {
		pattern, spec, msg string
		want               float64
		ok                 bool
	}{
		{`ERROR`, "1", "ERROR x", 1, true},
		{`ERROR`, " 0.5 ", "ERROR x", 0.5, true},
		{`ERROR`, "-2e3", "ERROR x", -2000, true},
		{`ERROR`, "1", "INFO x", 0, false}, // no match, no value
		{`ERROR`, "$size", "ERROR x", 0, false},
		{`ERROR`, "one", "ERROR x", 0, false},
		{`{ $.latency = * }`, "$.latency", `{"latency": 50}`, 50, true},
		{`{ $.latency = * }`, "$.latency", `{"latency": 5e1}`, 50, true},
		{`{ $.latency = * }`, "$.latency", `{"latency": "50.5"}`, 50.5, true},
		{`{ $.latency = * }`, "$.latency", `{"latency": "5e1"}`, 0, false},
		{`{ $.latency = * }`, "$.latency", `{"latency": "high"}`, 0, false},
		{`{ $.latency = * }`, "$.latency", `{"latency": true}`, 0, false},
		{`{ $.latency = * }`, "$.latency", `{"other": 1}`, 0, false},
		{`{ $.latency = * }`, "$.other", `{"latency": 1, "other": 7}`, 7, true},
		{`{ $.latency = * }`, "$.missing", `{"latency": 1}`, 0, false},
		{`{ $.latency = * }`, "$.a[*]", `{"latency": 1, "a": [1]}`, 0, false},
		{`{ $.latency = * }`, "$.t.durations[1]", `{"latency": 1, "t": {"durations": [1, 2.5]}}`, 2.5, true},
		{`{ $.latency = * }`, "$latency", `{"latency": 1}`, 0, false},
		{`[ip, bytes]`, "$bytes", `1.2.3.4 1534`, 1534, true},
		{`[ip, bytes]`, "$2", `1.2.3.4 1534`, 1534, true},
		{`[ip, bytes]`, "$1", `1.2.3.4 1534`, 0, false},
		{`[ip, bytes]`, "$3", `1.2.3.4 1534`, 0, false},
		{`[ip, bytes]`, "$bytes", `1.2.3.4 -`, 0, false},
		{`[ip, bytes]`, "$size", `1.2.3.4 1534`, 0, false},
		{`[..., bytes]`, "$1", `7 8 9`, 7, true},
		{`[..., bytes]`, "$.bytes", `7 8 9`, 0, false},
	}
	for _, tc := range cases {
		p := mustParse(t, tc.pattern)
		got, ok := p.Value(tc.spec, tc.msg)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Parse(%q).Value(%q, %q) = %v, %v; want %v, %v", tc.pattern, tc.spec, tc.msg, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDimensions(t *testing.T) {
	p := mustParse(t, `{ $.latency > 0 }`)
	msg := `{"latency": 5, "service": "api", "code": 200, "ok": true, "none": null}`
	got, ok := p.Dimensions(map[string]string{"Service": "$.service", "Code": "$.code", "OK": "$.ok"}, msg)
	if want := map[string]string{"Service": "api", "Code": "200", "OK": "true"}; !ok || !maps.Equal(got, want) {
		t.Errorf("Dimensions = %v, %v; want %v", got, ok, want)
	}
	for _, spec := range []string{"$.none", "$.missing", "1", "$service"} {
		if got, ok := p.Dimensions(map[string]string{"D": spec}, msg); ok {
			t.Errorf("Dimensions(D: %s) = %v, want not ok", spec, got)
		}
	}
	if _, ok := p.Dimensions(map[string]string{"Service": "$.service"}, `{"latency": 0, "service": "api"}`); ok {
		t.Errorf("Dimensions of a non-matching event are ok")
	}
}

func TestCheckMetric(t *testing.T) {
	cases := []struct {
		pattern, value string
		dims           map[string]string
		want           string // error; "" for none
	}{
		{`ERROR`, "1", nil, ""},
		{`ERROR`, "$.size", nil, `metric value "$.size": only JSON and space-delimited filter patterns have fields`},
		{`ERROR`, "size", nil, `metric value "size": not a number or a field reference such as $.field or $name`},
		{`ERROR`, "1", map[string]string{"a": "$a"}, `the specified filter pattern does not support dimensions`},
		{`%ERROR%`, "1", map[string]string{"a": "$a"}, `the specified filter pattern does not support dimensions`},
		{`{ $.a = 1 }`, "$.b.c[0]", map[string]string{"A": "$.a", "B": "$.b"}, ""},
		{`{ $.a = 1 }`, "$.b[*]", nil, `metric value "$.b[*]": a metric value or dimension cannot use a wildcard selector`},
		{`{ $.a = 1 }`, "$.b x", nil, `metric value "$.b x": unexpected ' ' after the selector, at character 4`},
		{`{ $.a = 1 }`, "$b", nil, `metric value "$b": expected a property selector such as "$.field", at character 1`},
		{`{ $.a = 1 }`, "1", map[string]string{"A": "$.a", "B": "$.b", "C": "$.c", "D": "$.d"}, `a metric filter can have at most 3 dimensions; this one has 4`},
		{`{ $.a = 1 }`, "1", map[string]string{"A": "a"}, `dimension "A": not a number or a field reference such as $.field or $name`},
		{`[ip, user, ..., bytes]`, "$bytes", map[string]string{"User": "$user", "Third": "$3"}, ""},
		{`[ip, user, ..., bytes]`, "$size", nil, `metric value "$size": the filter pattern has no field named "size"`},
		{`[ip, user, ..., bytes]`, "$0", nil, `metric value "$0": field position 0 is out of range`},
		{`[ip, user, ..., bytes]`, "$", nil, `metric value "$": expected a field name or position after "$"`},
	}
	for _, tc := range cases {
		err := mustParse(t, tc.pattern).CheckMetric(tc.value, tc.dims)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("Parse(%q).CheckMetric(%q, %v):\n got %q\nwant %q", tc.pattern, tc.value, tc.dims, got, tc.want)
		}
	}
}

func TestFieldRoot(t *testing.T) {
	cases := []struct{ pattern, spec, want, err string }{
		{`{ $.a = 1 }`, "$.command", "command", ""},
		{`{ $.a = 1 }`, " $.sessionData[0] ", "sessionData", ""},
		{`{ $.a = 1 }`, "$.['command'].x", "command", ""},
		{`{ $.a = 1 }`, `$.["user.name"]`, "user.name", ""},
		{`{ $.a = 1 }`, "$.a.command", "a", ""},
		{`[ip, user, ..., bytes]`, "$user", "", ""},
		{`[ip, user, ..., bytes]`, "$2", "", ""},
		{`{ $.a = 1 }`, "$.*", "", "wildcard"},
		{`{ $.a = 1 }`, "1", "", "not a number or a field reference"},
		{`ERROR`, "$.a", "", "only JSON and space-delimited"},
	}
	for _, tc := range cases {
		got, err := mustParse(t, tc.pattern).FieldRoot(tc.spec)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Parse(%q).FieldRoot(%q) = %q, %v; want %q, error %q", tc.pattern, tc.spec, got, err, tc.want, tc.err)
		}
	}
	if _, err := (*Pattern)(nil).FieldRoot("$.a"); err == nil {
		t.Error("a nil Pattern has fields")
	}
}

func TestNilPattern(t *testing.T) {
	var p *Pattern
	if p.Match("x") || p.String() != "" {
		t.Error("nil Pattern matches or prints")
	}
	if _, ok := p.Extract("x"); ok {
		t.Error("nil Pattern extracts")
	}
	if _, ok := p.Value("1", "x"); ok {
		t.Error("nil Pattern has a value")
	}
	if _, ok := p.Dimensions(nil, "x"); ok {
		t.Error("nil Pattern has dimensions")
	}
	if p.CheckMetric("1", nil) == nil {
		t.Error("nil Pattern passes CheckMetric")
	}
}

// TestDeepJSON checks that deeply nested events neither crash nor match
// beyond encoding/json's nesting limit.
func TestDeepJSON(t *testing.T) {
	p := mustParse(t, `{ $.a NOT EXISTS }`)
	ok := `{"b":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + `}`
	if !p.Match(ok) {
		t.Errorf("nesting %d does not match", maxJSONDepth)
	}
	deep := `{"b":` + strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth) + `}`
	if p.Match(deep) {
		t.Errorf("nesting %d matches", maxJSONDepth+1)
	}
	if p.Match(`{"b":` + strings.Repeat("[", 1<<20)) {
		t.Errorf("unterminated nesting matches")
	}
}
