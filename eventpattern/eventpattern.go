// Package eventpattern implements Amazon EventBridge's event patterns, the
// language of Postern's event rules: Parse compiles a JSON pattern, Match
// tells whether an event matches it, and Explain says which fields matched
// or the first that did not and why, for `postern events rules
// test-pattern`.
//
// The reference is the EventBridge User Guide ("Creating event patterns",
// "Comparison operators for use in event patterns", "Matching null values
// and empty strings", "Arrays in event patterns"), and where it is silent,
// the behaviour of aws/event-ruler, the library EventBridge matches with.
// A pattern has the shape of the events it matches: an object whose fields
// are either nested objects or arrays of values, every field must match
// (AND), and a field matches if any value in its array does (OR). The
// values are:
//
//   - exact JSON values: "running", 80, true, false, null;
//   - {"prefix": "eu-"} and {"prefix": {"equals-ignore-case": "EventB"}};
//   - {"suffix": ".png"} and {"suffix": {"equals-ignore-case": ".PNG"}};
//   - {"equals-ignore-case": "alice"};
//   - {"wildcard": "dir/*.png"}, where * matches any run of characters,
//     \* a star and \\ a backslash; ** is rejected, as EventBridge does;
//   - {"anything-but": ...} with a string, a number, a list of strings or
//     of numbers, or {"prefix": s}, {"suffix": s},
//     {"equals-ignore-case": s or [s...]} or {"wildcard": s or [s...]};
//   - {"numeric": ["=", 5]}, [">", 0], [">=", 0], ["<", 10], ["<=", 10],
//     and ranges [">" or ">=", low, "<" or "<=", high];
//   - {"exists": true} and {"exists": false};
//   - {"cidr": "10.0.0.0/24"} for IPv4 and IPv6 addresses;
//
// and a field named "$or" takes an array of two or more pattern objects,
// one of which must match, nested as deep as wanted.
//
// Semantics, as EventBridge documents them or, where it does not, as
// event-ruler behaves:
//
//   - Event fields the pattern does not name are ignored.
//   - Exact strings match character by character, without normalization.
//     Exact numbers match by their JSON text: 300 does not match 3.0e2 or
//     300.0, as the guide says. "numeric" and numeric "anything-but"
//     compare values: numbers between -5e9 and 5e9 with six digits after
//     the point (so ["=", 300] matches 3.0e2); event numbers outside that
//     range match no "numeric" test.
//   - null and "" are values like any other: [null] matches a null field,
//     not a missing one, and [""] matches only the empty string.
//   - If the event's value is an array, the field matches if any element
//     does, however deeply arrays nest. An object pattern applied to an
//     array of objects must match within one element: {"a": {"x": [1],
//     "y": [2]}} does not match {"a": [{"x": 1}, {"y": 2}]}
//     (event-ruler's "array consistency").
//   - exists tests leaves: {"exists": true} needs a value (null counts) at
//     the path, {"exists": false} that there is none, so an object or an
//     empty array at the path counts as absent. exists: false also
//     matches when a parent object is missing.
//   - anything-but needs the field present; it matches every value that is
//     not excluded, of whatever type: {"anything-but": "x"} matches 5 and
//     null, and {"anything-but": {"prefix": "init"}} matches 5.
//   - prefix, suffix, equals-ignore-case, wildcard and cidr match strings
//     only; numeric matches numbers only. Case is ignored with Unicode
//     simple case folding, as strings.EqualFold does.
//   - A key given twice in one object counts once, with its last value, as
//     the guide says.
//   - A key with a dot is one key: {"a.b": ["x"]} matches {"a.b": "x"}, not
//     {"a": {"b": "x"}}. event-ruler joins paths with dots and confuses the
//     two, which its README says not to rely on.
//   - "$or" is always the operator. event-ruler takes a "$or" that is not
//     an array of two or more objects for a field name, for old rules;
//     Parse says what is wrong with it instead.
//
// Parse rejects what EventBridge rejects: a pattern that is not an object,
// empty objects and arrays, a field whose value is not an array or object,
// nested arrays of values, operator objects with other than one key,
// unknown operators, operator names used as field names inside $or,
// numbers out of range, empty numeric ranges, anything-but lists mixing
// strings and numbers, and malformed CIDR blocks and wildcards. Its
// errors are *Error values that name the path of the offending field, such
// as `detail.state: "prefix" takes a string or {"equals-ignore-case":
// string}`; the CLI shows them as they are.
//
// Limits. A pattern may have at most MaxPatternLength characters: 4096, the
// most EventBridge allows an event pattern (its default quota is 2048).
// DecodeEvent takes at most MaxEventSize bytes, EventBridge's 256 KiB
// limit on an event. Those bound everything else: matching walks the
// pattern and reads only the event values on its paths, each pattern node
// meeting each such value at most once ($or branches are tried one after
// the other, never multiplied out into every combination as event-ruler
// compiles them), a long list of exact values is one set lookup, and a
// wildcard costs at most its length times the string's. The costliest
// pattern and event found (BenchmarkWorstCaseMatch) take tens of
// milliseconds of CPU; Explain, about twice as much.
//
// Decode an event once with DecodeEvent and match it against any number of
// patterns: a Pattern is immutable and safe for concurrent use, and so is
// an Event.
//
// There is no Go library for this to reuse: quamina, the Go matcher that
// follows EventBridge's patterns, is not served by the module proxy this
// project builds from, and event-ruler is Java.
package eventpattern

import (
	"fmt"
	"unicode/utf8"
)

// MaxPatternLength is the most characters a pattern may have: the largest
// event pattern EventBridge accepts (its default quota is 2048, raisable to
// 4096).
const MaxPatternLength = 4096

// MaxEventSize is the most bytes DecodeEvent accepts: EventBridge's limit
// on the size of an event (256 KiB).
const MaxEventSize = 256 << 10

// Error is a pattern that Parse rejects. Path names the field whose value
// is wrong, in the pattern's terms: "detail.state", "detail.$or[1].x";
// it is empty for a fault of the pattern as a whole.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

func errorf(path, format string, args ...any) *Error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Pattern is a compiled event pattern. It is immutable and safe for
// concurrent use.
type Pattern struct {
	root *objectPat
}

// Parse compiles an event pattern. Its errors are *Error.
func Parse(pattern []byte) (*Pattern, error) {
	if n := utf8.RuneCount(pattern); n > MaxPatternLength {
		return nil, errorf("", "the pattern has %d characters, more than the %d allowed", n, MaxPatternLength)
	}
	doc, err := readJSON(pattern)
	if err != nil {
		return nil, err
	}
	if doc.kind != kindObject {
		return nil, errorf("", "the pattern must be a JSON object, not %s", doc.kindName())
	}
	root, err := compileObject(doc, "", false)
	if err != nil {
		return nil, err
	}
	return &Pattern{root: root}, nil
}

// String returns the pattern as compact JSON, with a key given twice in an
// object kept once, with its last value. Parse accepts it and gives an
// equivalent pattern.
func (p *Pattern) String() string {
	var b []byte
	b = p.root.appendJSON(b)
	return string(b)
}

// Match tells whether the event matches the pattern.
func (p *Pattern) Match(ev *Event) bool {
	return matchObject(p.root, ev.root, nil, "")
}

// MatchJSON decodes one event and tells whether it matches. To match one
// event against many patterns, decode it once with DecodeEvent and call
// Match.
func (p *Pattern) MatchJSON(event []byte) (bool, error) {
	ev, err := DecodeEvent(event)
	if err != nil {
		return false, err
	}
	return p.Match(ev), nil
}
