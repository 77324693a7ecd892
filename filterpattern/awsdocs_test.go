package filterpattern

import (
	"maps"
	"testing"
)

// The examples of the CloudWatch Logs User Guide, "Filter pattern syntax
// for metric filters, subscription filters, filter log events, and Live
// Tail" (FilterAndPatternSyntax.html), section by section, and of its
// older edition ("Filter and Pattern Syntax"), where that has examples the
// current one lacks. Each event lists whether the pattern matches it and,
// for JSON and space-delimited patterns, the fields Extract returns.

type docEvent struct {
	msg    string
	match  bool
	fields map[string]string // checked when non-nil
}

type docCase struct {
	pattern string
	events  []docEvent
}

func yes(msg string) docEvent { return docEvent{msg: msg, match: true} }
func no(msg string) docEvent  { return docEvent{msg: msg} }
func yesFields(msg string, fields map[string]string) docEvent {
	return docEvent{msg: msg, match: true, fields: fields}
}

func runDocCases(t *testing.T, cases []docCase) {
	t.Helper()
	for _, tc := range cases {
		p, err := Parse(tc.pattern)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.pattern, err)
			continue
		}
		// The canonical form must mean the same.
		canon, err := Parse(p.String())
		if err != nil {
			t.Errorf("Parse(%q), the canonical form of %q: %v", p.String(), tc.pattern, err)
			continue
		}
		for _, ev := range tc.events {
			if got := p.Match(ev.msg); got != ev.match {
				t.Errorf("Parse(%q).Match(%q) = %v, want %v", tc.pattern, ev.msg, got, ev.match)
			}
			if got := canon.Match(ev.msg); got != ev.match {
				t.Errorf("Parse(%q).Match(%q) = %v, want %v (canonical form of %q)", p.String(), ev.msg, got, ev.match, tc.pattern)
			}
			fields, ok := p.Extract(ev.msg)
			if ok != ev.match {
				t.Errorf("Parse(%q).Extract(%q) ok = %v, want %v", tc.pattern, ev.msg, ok, ev.match)
			}
			if ev.fields != nil && !maps.Equal(fields, ev.fields) {
				t.Errorf("Parse(%q).Extract(%q) = %v, want %v", tc.pattern, ev.msg, fields, ev.fields)
			}
		}
	}
}

// "Supported regular expressions (regex) syntax", "Usage of supported
// operators", and "Using filter patterns to match terms with a regular
// expression (regex)".
func TestDocsRegex(t *testing.T) {
	runDocCases(t, []docCase{
		{`%AUTHORIZED%`, []docEvent{
			yes("[ERROR 401] UNAUTHORIZED REQUEST"),
			yes("[SUCCESS 200] AUTHORIZED REQUEST"),
			no("[ERROR 400] BAD REQUEST"),
		}},
		// The introduction's examples.
		{`%\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}%`, []docEvent{yes("from 192.168.0.1 port 22"), no("from localhost")}},
		{`%[Ee]rror|[Ff]ail%`, []docEvent{yes("Error"), yes("an error"), yes("Fail"), yes("will fail"), no("ERROR FAIL")}},
		// ^ and $ anchor at the start and end of the message.
		{`%^[hc]at%`, []docEvent{yes("hat"), yes("cat"), yes("cat nap"), no("that"), no("a cat")}},
		{`%[hc]at$%`, []docEvent{yes("hat"), yes("the cat"), no("cats"), no("chat room")}},
		{`%colou?r%`, []docEvent{yes("color"), yes("colour"), no("colr"), no("colouur")}},
		{`%[abc]%`, []docEvent{yes("a"), yes("b"), yes("c"), no("xyz")}},
		{`%[a-z]%`, []docEvent{yes("Q1 q"), no("ABC 123")}},
		{`%[abcx-z]%`, []docEvent{yes("a"), yes("y"), no("d"), no("w")}},
		{`%a{3,5}%`, []docEvent{yes("aaa"), yes("aaaa"), yes("aaaaa"), no("aa")}},
		// "Either m or n can be omitted."
		{`%xa{,2}y%`, []docEvent{yes("xy"), yes("xaay"), no("xaaay")}},
		{`%xa{2,}y%`, []docEvent{yes("xaay"), yes("xaaaay"), no("xay")}},
		{`%gra|ey%`, []docEvent{yes("gray"), yes("grey"), no("gory")}},
		{`%^starting|^initializing|^shutting down%`, []docEvent{
			yes("starting ..."),
			yes("initializing ..."),
			yes("shutting down"),
			no("skipping initializing ..."),
		}},
		// The docs print this one without its closing %; "aba ..." is
		// read as "aba", since $ anchors at the end.
		{`%abcc|ab[^c]$%`, []docEvent{yes("abcc ..."), yes("aba"), no("aac ...")}},
		{`%\[.\]%`, []docEvent{yes("[a]"), yes("[b]"), yes("[7]"), yes("[@]"), yes("[]]"), yes("[ ]"), no("[ab]")}},
		{`%10\.10\.0\.1%`, []docEvent{yes("10.10.0.1"), no("10010,051")}},
		{`%10.10.0.1%`, []docEvent{yes("10.10.0.1"), yes("10010,051")}},
		{`%ab*c%`, []docEvent{yes("ac"), yes("abc"), yes("abbbc"), no("ab")}},
		{`%ab[0-9]*%`, []docEvent{yes("ab"), yes("ab0"), yes("ab129"), no("a b")}},
		{`%ab+c%`, []docEvent{yes("abc"), yes("abbc"), yes("abbbc"), no("ac")}},
		{`%.at%`, []docEvent{yes("hat"), yes("cat"), yes("bat"), yes("4at"), yes("#at"), yes(" at"), no("at")}},
		{`%\d%`, []docEvent{yes("port 80"), no("port")}},
		{`%[0-9]%`, []docEvent{yes("port 80"), no("port")}},
		{`%\D%`, []docEvent{yes("8a"), no("80")}},
		{`%[^0-9]%`, []docEvent{yes("8a"), no("80")}},
		{`%a\sb%`, []docEvent{yes("a b"), yes("a\tb"), yes("a\nb"), no("ab")}},
		{`%\S%`, []docEvent{yes(" x "), no(" \t\n")}},
		{`%\w%`, []docEvent{yes("_"), yes("a"), no("-- --")}},
		{`%\W%`, []docEvent{yes("a-b"), no("abc_9")}},
		{`%\x3A%`, []docEvent{yes("key:value"), no("key=value")}},
		{`%\x28%`, []docEvent{yes("f(x)"), no("f[x]")}},
	})
}

// "Using filter patterns to match terms in unstructured log events".
func TestDocsUnstructured(t *testing.T) {
	errors := []string{
		"[ERROR 400] BAD REQUEST",
		"[ERROR 401] UNAUTHORIZED REQUEST",
		"[ERROR 419] MISSING ARGUMENTS",
		"[ERROR 420] INVALID ARGUMENTS",
	}
	runDocCases(t, []docCase{
		// Example: Match a single term. Filter patterns are case
		// sensitive.
		{`ERROR`, []docEvent{yes(errors[0]), yes(errors[1]), yes(errors[2]), yes(errors[3]), no("[error 400] bad request")}},
		// Example: Match multiple terms.
		{`ERROR ARGUMENTS`, []docEvent{no(errors[0]), no(errors[1]), yes(errors[2]), yes(errors[3])}},
		// Example: Match optional terms.
		{`?ERROR ?ARGUMENTS`, []docEvent{yes(errors[0]), yes(errors[1]), yes(errors[2]), yes(errors[3]), no("[INFO] OK")}},
		// "If you combine "?" with other filter patterns, all question
		// mark terms will be ignored."
		{`?ERROR ?ARGUMENTS REQUEST`, []docEvent{
			yes("[INFO] REQUEST FAILED"),
			yes("[WARN] UNAUTHORIZED REQUEST"),
			yes("[ERROR] 400 BAD REQUEST"),
			no(errors[3]),
		}},
		// Example: Match exact phrases.
		{`"INTERNAL SERVER ERROR"`, []docEvent{yes("[ERROR 500] INTERNAL SERVER ERROR"), no("[ERROR 500] SERVER ERROR, INTERNAL")}},
		// Example: Include and exclude terms.
		{`ERROR -ARGUMENTS`, []docEvent{yes(errors[0]), yes(errors[1]), no(errors[2]), no(errors[3])}},
		// Example: Match everything.
		{`" "`, []docEvent{yes(errors[0]), yes(""), yes("anything at all")}},
	})
}

// The older edition's "Matching Terms in Log Events" and "OR Pattern
// Matching".
func TestDocsUnstructuredOlder(t *testing.T) {
	events := []string{"ERROR WARN message", "ERROR message", "WARN message"}
	runDocCases(t, []docCase{
		// Example 1: Match everything.
		{`""`, []docEvent{yes("x"), yes("")}},
		{``, []docEvent{yes("x"), yes("")}},
		// Example 2: Single term. A term matches inside a word.
		{`"ERROR"`, []docEvent{yes("[ERROR] A fatal exception has occurred"), yes("Exiting with ERRORCODE: -1")}},
		// Example 3: Include a term and exclude a term, written with a
		// space after the minus.
		{`"ERROR" - "Exiting"`, []docEvent{yes("[ERROR] A fatal exception has occurred"), no("Exiting with ERRORCODE: -1")}},
		// Example 4: Multiple terms, quoted one by one (a later fix to
		// the docs: "ERROR Exception" in quotes is one phrase).
		{`"ERROR" "Exception"`, []docEvent{yes("[ERROR] Caught IllegalArgumentException"), yes("[ERROR] Unhandled Exception"), no("[ERROR] Unhandled")}},
		{`"ERROR Exception"`, []docEvent{no("[ERROR] Caught IllegalArgumentException"), yes("ERROR Exception")}},
		{`"Failed to process the request"`, []docEvent{
			yes("[WARN] Failed to process the request"),
			yes("[ERROR] Unable to continue: Failed to process the request"),
		}},
		// OR Pattern Matching.
		{`ERROR`, []docEvent{yes(events[0]), yes(events[1]), no(events[2])}},
		{`?ERROR ?WARN`, []docEvent{yes(events[0]), yes(events[1]), yes(events[2])}},
		{`ERROR WARN`, []docEvent{yes(events[0]), no(events[1]), no(events[2])}},
		{`ERROR -WARN`, []docEvent{no(events[0]), yes(events[1]), no(events[2])}},
		{`{$.foo = bar}`, []docEvent{yes(`{"foo": "bar"}`), no(`{"foo": "baz"}`)}},
		{`{$.foo = baz }`, []docEvent{no(`{"foo": "bar"}`), yes(`{"foo": "baz"}`)}},
		{`{$.foo = bar || $.foo = baz }`, []docEvent{yes(`{"foo": "bar"}`), yes(`{"foo": "baz"}`), no(`{"foo": "qux"}`)}},
	})
}

// The docs' JSON log event, on one line as they ask.
const docJSON = `{"eventType": "UpdateTrail", "sourceIPAddress": "111.111.111.111", "arrayKey": ["value", "another value"], "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}], "SomeObject": null, "cluster.name": "c"}`

// The compound expressions' JSON object.
const docCompoundJSON = `{"user": {"id": 1, "email": "John.Stiles@example.com"}, "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}], "actions": ["GET", "PUT", "DELETE"], "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]]}`

// "Using filter patterns to match terms in JSON log events".
func TestDocsJSON(t *testing.T) {
	notJSON := no(`eventType=UpdateTrail sourceIPAddress=111.111.111.111`)
	runDocCases(t, []docCase{
		{`{ $.eventType = "UpdateTrail" }`, []docEvent{
			yesFields(docJSON, map[string]string{"$.eventType": "UpdateTrail"}),
			no(`{"eventType": "CreateTrail"}`),
			no(`{"eventType": "updatetrail"}`),
			notJSON,
		}},
		{`{ $.sourceIPAddress != 123.123.* }`, []docEvent{
			yesFields(docJSON, map[string]string{"$.sourceIPAddress": "111.111.111.111"}),
			no(`{"sourceIPAddress": "123.123.1.2"}`),
			notJSON,
		}},
		{`{ $.arrayKey[0] = "value" }`, []docEvent{
			yesFields(docJSON, map[string]string{"$.arrayKey[0]": "value"}),
			no(`{"arrayKey": ["another value", "value"]}`),
			// "If arrayKey is not an array this will be false."
			no(`{"arrayKey": "value"}`),
		}},
		{`{ $.eventType = %Trail% }`, []docEvent{yes(docJSON), no(`{"eventType": "trail"}`)}},
		// Wildcard selectors: no fields, as there is no one value.
		{`{ $.arrayKey[*] = %val.{2}% }`, []docEvent{
			yesFields(docJSON, map[string]string{}),
			no(`{"arrayKey": ["va", "x"]}`),
		}},
		{`{ $.* = %111\.111\.111\.1[0-9]{1,2}% }`, []docEvent{
			yes(docJSON),
			no(`{"sourceIPAddress": "111.111.111.2"}`),
		}},
		{`{ $.['cluster.name'] = "c" }`, []docEvent{
			yesFields(docJSON, map[string]string{"$.['cluster.name']": "c"}),
			no(`{"cluster": {"name": "c"}}`),
		}},
		{`{ $.SomeObject IS NULL }`, []docEvent{
			yesFields(docJSON, map[string]string{}),
			no(`{"SomeObject": {}}`),
			no(`{}`),
		}},
		{`{ $.SomeOtherObject NOT EXISTS }`, []docEvent{
			yes(docJSON),
			no(`{"SomeOtherObject": null}`),
			notJSON,
		}},
		// The older edition's examples on the same event, which then
		// also had "ThisFlag": true.
		{`{ $.objectList[1].id = 2 }`, []docEvent{
			yesFields(docJSON, map[string]string{"$.objectList[1].id": "2"}),
			no(`{"objectList": [{"id": 2}]}`),
			no(`{"objectList": {"id": 2}}`),
		}},
		{`{ $.ThisFlag IS TRUE }`, []docEvent{
			yesFields(`{"SomeObject": null, "ThisFlag": true}`, map[string]string{"$.ThisFlag": "true"}),
			no(`{"ThisFlag": false}`),
			no(`{"ThisFlag": "true"}`),
		}},
		{`{ $.ThisFlag IS FALSE }`, []docEvent{yes(`{"ThisFlag": false}`), no(`{"ThisFlag": true}`)}},
		// "JSON Special Considerations": a selector that points to an
		// array matches neither = nor !=.
		{`{$.users = 1}`, []docEvent{no(`{"users": [1, 2, 3]}`), yes(`{"users": 1}`)}},
		{`{$.users != 1}`, []docEvent{no(`{"users": [1, 2, 3]}`), yes(`{"users": 2}`)}},
	})
}

// "Writing filter patterns that match numeric values", with events made
// up around each example, and the older edition's numeric examples.
func TestDocsJSONNumeric(t *testing.T) {
	runDocCases(t, []docCase{
		{`{ $.bandwidth > 75 }`, []docEvent{yes(`{"bandwidth": 80}`), no(`{"bandwidth": 75}`), no(`{"bandwidth": "fast"}`)}},
		{`{ $.latency < 50 }`, []docEvent{yes(`{"latency": 49.9}`), no(`{"latency": 50}`)}},
		{`{ $.refreshRate >= 60 }`, []docEvent{yes(`{"refreshRate": 60}`), no(`{"refreshRate": 59.99}`)}},
		{`{ $.responseTime <= 5 }`, []docEvent{yes(`{"responseTime": 5}`), yes(`{"responseTime": -1}`), no(`{"responseTime": 5.01}`)}},
		{`{ $.errorCode = 400}`, []docEvent{yes(`{"errorCode": 400}`), yes(`{"errorCode": 4e2}`), yes(`{"errorCode": "400"}`), no(`{"errorCode": 401}`)}},
		{`{ $.errorCode != 500 }`, []docEvent{yes(`{"errorCode": 400}`), no(`{"errorCode": 500}`), no(`{"errorCode": 500.0}`), no(`{}`)}},
		{`{ $.number[0] = 1e+3 }`, []docEvent{yes(`{"number": [1000]}`), no(`{"number": [100]}`)}},
		{`{ $.number[0] != 1e-3 }`, []docEvent{yes(`{"number": [1]}`), no(`{"number": [0.001]}`)}},
		{`{ $.latency >= 500 }`, []docEvent{yes(`{"latency": 500}`), no(`{"latency": 499}`)}},
		{`{ $.numbers[0] < 10e3 }`, []docEvent{yes(`{"numbers": [9999]}`), no(`{"numbers": [10000]}`)}},
		{`{ $.numbers[0] < 10e-3 }`, []docEvent{yes(`{"numbers": [0.001]}`), no(`{"numbers": [0.01]}`)}},
		{`{ $.processes[4].averageRuntime <= 55.5 }`, []docEvent{
			yesFields(`{"processes": [{}, {}, {}, {}, {"averageRuntime": 55.5}]}`, map[string]string{"$.processes[4].averageRuntime": "55.5"}),
			no(`{"processes": [{"averageRuntime": 1}]}`),
		}},
		{`{ $.latency > +1000 }`, []docEvent{yes(`{"latency": 1001}`), no(`{"latency": 1000}`)}},
	})
}

// The compound expression examples, on the docs' JSON object.
func TestDocsJSONCompound(t *testing.T) {
	runDocCases(t, []docCase{
		// Example: Expression that matches using AND (&&).
		{`{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }`, []docEvent{
			yesFields(docCompoundJSON, map[string]string{"$.user.id": "1", "$.users[0].email": "John.Doe@example.com"}),
		}},
		// Example: Expression that matches using OR (||).
		{`{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch" && $.actions[2] = "nonmatch" }`, []docEvent{
			yesFields(docCompoundJSON, map[string]string{"$.user.email": "John.Stiles@example.com", "$.coordinates[0][1]": "1", "$.actions[2]": "DELETE"}),
		}},
		// The older edition's version, with unquoted strings.
		{`{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }`, []docEvent{yes(docCompoundJSON)}},
		// Example: Expression that doesn't match using AND (&&).
		{`{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") && $.actions[2] = "nonmatch" }`, []docEvent{no(docCompoundJSON)}},
		// Example: Expression that doesn't match using OR (||).
		{`{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }`, []docEvent{no(docCompoundJSON)}},
	})
}

// The docs' space-delimited event, and the events of the "Match terms in
// order" examples.
const docApache = `127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534`

var docOrdered = []string{
	"INFO 09/25/2014 12:00:00 GET /service/resource/67 1200",
	"INFO 09/25/2014 12:00:01 POST /service/resource/67/part/111 1310",
	"WARNING 09/25/2014 12:00:02 Invalid user request",
	"ERROR 09/25/2014 12:00:02 Failed to process request",
}

// "Using filter patterns to match terms in space-delimited log events".
func TestDocsSpaceDelimited(t *testing.T) {
	all := map[string]string{
		"$ip":          "127.0.0.1",
		"$user":        "Prod",
		"$username":    "frank",
		"$timestamp":   "10/Oct/2000:13:25:15 -0700",
		"$request":     "GET /index.html HTTP/1.0",
		"$status_code": "404",
		"$bytes":       "1534",
	}
	o := docOrdered
	runDocCases(t, []docCase{
		{`[ip=%127\.0\.0\.[1-9]%, user, username, timestamp, request =*.html*, status_code = 4*, bytes]`, []docEvent{
			yesFields(docApache, all),
			no(`127.0.0.0 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534`),
			no(`127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.php HTTP/1.0" 404 1534`),
			no(`127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 200 1534`),
			no(`127.0.0.1 Prod [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534`),
		}},
		{`[..., request =*.html*, status_code = 4*, bytes]`, []docEvent{
			yesFields(docApache, map[string]string{
				"$1": "127.0.0.1", "$2": "Prod", "$3": "frank", "$4": "10/Oct/2000:13:25:15 -0700",
				"$request": "GET /index.html HTTP/1.0", "$status_code": "404", "$bytes": "1534",
			}),
			yes(`"GET /a.html" 410 0`),
			no(`"GET /a.html" 410`),
		}},
		{`[ip, user, username, timestamp, request =*.html*, status_code = 404 || status_code = 410, bytes]`, []docEvent{
			yes(docApache),
			yes(`127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 410 1534`),
			no(`127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 403 1534`),
		}},
		// Example: Match terms in order. The last field takes the rest of
		// the line.
		{`[w1=ERROR, w2]`, []docEvent{
			no(o[0]), no(o[1]), no(o[2]),
			yesFields(o[3], map[string]string{"$w1": "ERROR", "$w2": "09/25/2014 12:00:02 Failed to process request"}),
		}},
		// Example: Match terms with AND (&&) and OR (||).
		{`[w1=ERROR || w1=WARNING, w2]`, []docEvent{no(o[0]), no(o[1]), yes(o[2]), yes(o[3])}},
		// Example: Exclude terms from matches.
		{`[w1!=ERROR && w1!=WARNING, w2]`, []docEvent{yes(o[0]), yes(o[1]), no(o[2]), no(o[3])}},
		// Example: Match the top level item in a resource URI.
		{`[logLevel, date, time, method, url=%/service/resource/[0-9]+$%, response_time]`, []docEvent{
			yesFields(o[0], map[string]string{
				"$logLevel": "INFO", "$date": "09/25/2014", "$time": "12:00:00", "$method": "GET",
				"$url": "/service/resource/67", "$response_time": "1200",
			}),
			no(o[1]), no(o[2]), no(o[3]),
		}},
		// Example: Match the child level item in a resource URI.
		{`[logLevel, date, time, method, url=%/service/resource/[0-9]+/part/[0-9]+$%, response_time]`, []docEvent{no(o[0]), yes(o[1]), no(o[2]), no(o[3])}},
	})
}

// The older edition's "Using Metric Filters to Extract Values from
// Space-Delimited Log Events".
func TestDocsSpaceDelimitedOlder(t *testing.T) {
	apache := []string{
		`127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534`,
		`127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324`,
		`127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /apache_pb.gif HTTP/1.0" 200 4355`,
	}
	runDocCases(t, []docCase{
		{`[ip, user, username, timestamp, request, status_code, bytes]`, []docEvent{yes(apache[0]), yes(apache[1]), yes(apache[2])}},
		{`[..., status_code, bytes]`, []docEvent{yes(apache[0]), yes("200 1534"), no("1534")}},
		{`[ip, user, ..., status_code, bytes]`, []docEvent{yes(apache[0]), yes("a b 200 1534"), no("a b 1534")}},
		{`[ip, user, ...]`, []docEvent{yes(apache[0]), yes("a b"), no("a")}},
		{`[ip, user, username, timestamp, request, status_code, bytes > 1000]`, []docEvent{yes(apache[0]), yes(apache[1]), yes(apache[2])}},
		{`[ip, user, username, timestamp, request, status_code = 200, bytes]`, []docEvent{yes(apache[0]), no(apache[1]), yes(apache[2])}},
		{`[ip, user, username, timestamp, request, status_code = 4*, bytes]`, []docEvent{no(apache[0]), no(apache[1]), no(apache[2])}},
		{`[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]`, []docEvent{no(apache[0])}},
		{`[ip, user, username, timestamp, request, status_code = 4* && status_code != 403, bytes]`, []docEvent{
			no(apache[0]),
			yes(`127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /x HTTP/1.0" 404 4355`),
			no(`127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /x HTTP/1.0" 403 4355`),
		}},
		{`[ip, user, username, timestamp, request, status_code = 403 || status_code = 404, bytes]`, []docEvent{
			no(apache[0]),
			yes(`127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /x HTTP/1.0" 403 4355`),
		}},
		// The extracted-fields example. (The docs show "$request" as
		// "GET /products/index.html HTTP/1.0", which is not in the event.)
		{`[..., request=*.html*, status_code=4*,]`, []docEvent{
			yesFields(`127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534`, map[string]string{
				"$status_code": "404",
				"$request":     "GET /index.html HTTP/1.0",
				"$7":           "1534",
				"$4":           "10/Oct/2000:13:25:15 -0700",
				"$3":           "frank",
				"$2":           "-",
				"$1":           "127.0.0.1",
			}),
		}},
	})
}

// "Filter pattern syntax for metric filters": metric values and
// dimensions.
func TestDocsMetricFilters(t *testing.T) {
	dimJSON := `{"eventType": "UpdateTrail", "sourceIPAddress": "111.111.111.111", "arrayKey": ["value", "another value"], "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}]}`
	runDocCases(t, []docCase{
		{`{ $.eventType = "*" && $.sourceIPAddress != 123.123.* }`, []docEvent{
			yesFields(dimJSON, map[string]string{"$.eventType": "UpdateTrail", "$.sourceIPAddress": "111.111.111.111"}),
			no(`{"sourceIPAddress": "111.111.111.111"}`),
		}},
		{`[ip, server, username, timestamp, request, status_code, bytes > 1000]`, []docEvent{
			yesFields(docApache, map[string]string{
				"$bytes":       "1534",
				"$status_code": "404",
				"$request":     "GET /index.html HTTP/1.0",
				"$timestamp":   "10/Oct/2000:13:25:15 -0700",
				"$username":    "frank",
				"$server":      "Prod",
				"$ip":          "127.0.0.1",
			}),
		}},
		// "the first word in the events is ERROR or any superstring of
		// WARN".
		{`[w1=ERROR || w1=%WARN%, w2]`, []docEvent{no(docOrdered[0]), yes(docOrdered[2]), yes(docOrdered[3]), yes("XWARNX y")}},
		{`{ $.latency = * }`, []docEvent{yes(`{"latency": 50, "requestType": "GET"}`), no(`{"requestType": "GET"}`)}},
	})

	// "Publishing dimensions with metrics from values in JSON or
	// space-delimited log events".
	p := mustParse(t, `{ $.eventType = "*" && $.sourceIPAddress != 123.123.* }`)
	dims, ok := p.Dimensions(map[string]string{"eventType": "$.eventType"}, dimJSON)
	if !ok || !maps.Equal(dims, map[string]string{"eventType": "UpdateTrail"}) {
		t.Errorf("JSON dimensions = %v, %v; want eventType=UpdateTrail", dims, ok)
	}
	p = mustParse(t, `[ip, server, username, timestamp, request, status_code, bytes > 1000]`)
	dims, ok = p.Dimensions(map[string]string{"server": "$server"}, docApache)
	if !ok || !maps.Equal(dims, map[string]string{"server": "Prod"}) {
		t.Errorf("space-delimited dimensions = %v, %v; want server=Prod", dims, ok)
	}

	// "Using values in log events to increment a metric's value":
	// { $.latency = * } with metricValue $.latency publishes 50.
	p = mustParse(t, `{ $.latency = * }`)
	if v, ok := p.Value("$.latency", `{"latency": 50, "requestType": "GET"}`); !ok || v != 50 {
		t.Errorf("Value($.latency) = %v, %v; want 50, true", v, ok)
	}

	// "Example: Extract fields from an Apache log and assign dimensions"
	// (ExtractBytesExample), with metricValue $size; the docs also name
	// the same field $7.
	p = mustParse(t, `[ip, id, user, timestamp, request, status_code, size]`)
	for msg, want := range map[string]float64{
		`127.0.0.1 - - [24/Sep/2013:11:49:52 -0700] "GET /index.html HTTP/1.1" 404 287`:  287,
		`127.0.0.1 - - [24/Sep/2013:11:50:51 -0700] "GET /~test/ HTTP/1.1" 200 3`:        3,
		`127.0.0.1 - - [24/Sep/2013:11:50:51 -0700] "GET /favicon.ico HTTP/1.1" 404 308`: 308,
	} {
		for _, spec := range []string{"$size", "$7"} {
			if v, ok := p.Value(spec, msg); !ok || v != want {
				t.Errorf("Value(%s, %q) = %v, %v; want %v, true", spec, msg, v, ok, want)
			}
		}
	}
}

func mustParse(t testing.TB, pattern string) *Pattern {
	t.Helper()
	p, err := Parse(pattern)
	if err != nil {
		t.Fatalf("Parse(%q): %v", pattern, err)
	}
	return p
}
