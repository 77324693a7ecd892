// Package filterpattern implements the CloudWatch Logs filter pattern
// syntax, the language of metric filters, subscription filters,
// FilterLogEvents and Live Tail, so that Postern's log store can select
// and count events the way a CloudWatch metric filter would.
//
// The reference is the CloudWatch Logs User Guide, "Filter pattern syntax
// for metric filters, subscription filters, filter log events, and Live
// Tail" (FilterAndPatternSyntax), and "Filter pattern syntax for metric
// filters" (FilterAndPatternSyntaxForMetricFilters) for metric values and
// dimensions. A pattern is one of four kinds, chosen by its first
// character:
//
//   - Unstructured terms: ERROR, "INTERNAL SERVER ERROR", ERROR -ARGUMENTS,
//     ?ERROR ?WARN. Terms match case-sensitively anywhere in the message
//     (ERROR matches ERRORCODE, as the docs show). All plain terms must be
//     present and no -term may be; ?terms are alternatives, and, as the
//     docs say, are ignored when the pattern also has plain or -terms.
//     The empty pattern, "" and " " match every event.
//   - A regular expression, %...%, as the whole pattern.
//   - A JSON pattern, { $.a.b[0] = "x*" && ($.n > 5 || $.c IS NULL) }, with
//     =, !=, <, <=, >, >=, IS NULL, IS TRUE, IS FALSE, NOT EXISTS, &&, ||
//     and parentheses; selectors with .name, ['quoted.name'], [index] and
//     the wildcards .* and [*]; values that are strings (with a leading or
//     trailing * wildcard), numbers or %regex%. It matches only events
//     whose whole message is a JSON object.
//   - A space-delimited pattern, [ip, user, ..., status = 4*, bytes > 1000],
//     with named fields, ... for any number of fields, and conditions joined
//     by && and || within a field.
//
// Regular expressions are limited to the dialect AWS documents: ASCII
// letters and digits, space, the symbols : _ # = @ / ; , - and the
// operators ^ $ ? [ ] { } | \ * + . with the escapes \d \D \s \S \w \W
// and \xhh; parentheses and multi-byte characters are rejected, as AWS
// rejects them. Patterns longer than 1024 characters, more than two
// regular expressions in a JSON or space-delimited pattern, more than one
// wildcard in a selector or more than three in a pattern are rejected, as
// those are CloudWatch's quotas.
//
// A regular expression costs up to a step per instruction of its compiled
// program for every character of a message, so expressions that compile
// to more than 1024 instructions, such as x{600}y{600}, are rejected. AWS
// documents no such limit; this one admits every example in the docs and
// a single {1000}, Go's largest repetition. Near the limit, matching can
// still take several milliseconds per kilobyte of message.
//
// JSON events are not decoded. Before anything else, Match looks for a
// literal the pattern needs (the "sudo" of { $.command = "sudo*" }) with
// strings.Contains, which rejects most events at memory speed; the rest
// are validated and walked along the pattern's selectors in place,
// without allocating.
//
// A metric filter publishes a constant ("1") or a field of the matching
// event ($.latency in JSON patterns, $bytes or $7 in space-delimited ones)
// and may take up to three dimensions from fields; see [Pattern.Value],
// [Pattern.Dimensions] and [Pattern.CheckMetric].
//
// Quotas that span filters are left to the caller: at most five filters
// with regular expressions per log group, and no default value for a
// metric with dimensions. So are the newer metric filter options
// (fieldSelectionCriteria, applyOnTransformedLogs), which are not filter
// pattern syntax.
//
// Where the documentation is silent or contradicts itself, this package
// makes a choice and says so where it is made. The main ones:
//
//   - An unquoted term with punctuation, such as ERROR:, is accepted and
//     matched literally, although the docs say such terms must be quoted.
//   - In a space-delimited pattern without "...", an event with more
//     words than the pattern has fields gives the rest of the line to the
//     last field; that is what makes the docs' [w1=ERROR, w2] match
//     "ERROR 09/25/2014 12:00:02 Failed to process request".
//   - A comparison on a JSON field that is missing, null, an object or an
//     array is false, for != as for =; NOT EXISTS and IS NULL test those.
//   - A * in the middle of a value is literal (the older docs: "Ev*ent will
//     only match the actual string Ev*ent").
//   - Strings are numbers for <, >, = with a number and metric values only
//     in plain decimal notation ("Strings don't support scientific
//     notation"); JSON numbers may use any JSON number syntax.
package filterpattern

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxLength is the longest filter pattern CloudWatch accepts, in
// characters: the length constraint of filterPattern in PutMetricFilter,
// PutSubscriptionFilter, FilterLogEvents and StartLiveTail.
const MaxLength = 1024

// CloudWatch quotas on what one pattern may contain.
const (
	// "There is a limit of 2 regex for each filter pattern when creating a
	// delimited or JSON filter pattern."
	maxRegexps = 2
	// "You can only use up to one wildcard selector in a property
	// selector, and up to three wildcard selectors in a filter pattern
	// with compound expressions."
	maxSelectorWildcards = 1
	maxPatternWildcards  = 3
	// "You can create JSON and space-delimited metric filters with up to
	// three dimensions."
	maxDimensions = 3
)

// A Pattern is a parsed filter pattern. It is immutable and safe for
// concurrent use.
type Pattern struct {
	kind kind

	terms []term // kindTerms

	re *regex // kindRegex

	expr  *jsonExpr   // kindJSON
	needs []string    // kindJSON: literals every matching message without escapes contains
	sels  []*selector // kindJSON: the pattern's selectors without wildcards, for Extract

	elems    []element // kindDelimited
	ellipses int       // kindDelimited: how many of elems are "..."
}

type kind uint8

const (
	kindTerms kind = iota
	kindRegex
	kindJSON
	kindDelimited
)

// SyntaxError describes why a filter pattern could not be parsed.
type SyntaxError struct {
	Offset int    // byte offset of the problem in the parsed text
	Line   int    // 1-based line of Offset
	Column int    // 1-based column of Offset, counted in characters (runes)
	Msg    string // what is wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("filter pattern:%d:%d: %s", e.Line, e.Column, e.Msg)
}

// Parse parses a filter pattern.
func Parse(pattern string) (*Pattern, error) {
	if n := utf8.RuneCountInString(pattern); n > MaxLength {
		return nil, newSyntaxError(pattern, 0, fmt.Sprintf("the pattern is %d characters long; CloudWatch allows at most %d", n, MaxLength))
	}
	p := &parser{src: pattern}
	p.skipSpace()
	if p.eof() {
		return &Pattern{kind: kindTerms}, nil
	}
	switch p.src[p.pos] {
	case '{':
		return p.parseJSON()
	case '[':
		return p.parseDelimited()
	case '%':
		return p.parseRegexPattern()
	}
	return p.parseTerms()
}

// String returns p in canonical form: Parse(p.String()) yields a pattern
// that matches the same events and has the same String, unless the
// canonical form, with its spaces and quotes, is longer than MaxLength.
func (p *Pattern) String() string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	switch p.kind {
	case kindTerms:
		for i, t := range p.terms {
			if i > 0 {
				b.WriteByte(' ')
			}
			t.format(&b)
		}
	case kindRegex:
		b.WriteByte('%')
		b.WriteString(p.re.src)
		b.WriteByte('%')
	case kindJSON:
		b.WriteString("{ ")
		p.expr.format(&b, false)
		b.WriteString(" }")
	case kindDelimited:
		b.WriteByte('[')
		for i := range p.elems {
			if i > 0 {
				b.WriteString(", ")
			}
			p.elems[i].format(&b)
		}
		b.WriteByte(']')
	}
	return b.String()
}

// Match reports whether message matches p. A nil Pattern matches nothing.
func (p *Pattern) Match(message string) bool {
	if p == nil {
		return false
	}
	switch p.kind {
	case kindTerms:
		return p.matchTerms(message)
	case kindRegex:
		return p.re.re.MatchString(message)
	case kindJSON:
		_, ok := p.matchJSON(message)
		return ok
	case kindDelimited:
		_, ok := p.matchDelimited(message)
		return ok
	}
	return false
}

// Extract reports whether message matches p and, if it does, returns the
// fields the pattern names, keyed the way a metric value or dimension
// refers to them:
//
//   - JSON patterns: each selector in the pattern without a wildcard,
//     such as "$.durationMs" or "$.users[0].id", whose value is a string,
//     number or boolean. Strings are unquoted and unescaped; numbers are
//     as written in the message.
//   - Space-delimited patterns: "$name" for each named field and "$N" for
//     the N-th word (from 1) of the message covered by an unnamed field
//     or by "...", as in the docs' example of extracted fields.
//
// Term and regular expression patterns define no fields: fields is nil.
func (p *Pattern) Extract(message string) (fields map[string]string, ok bool) {
	if p == nil {
		return nil, false
	}
	switch p.kind {
	case kindJSON:
		root, ok := p.matchJSON(message)
		if !ok {
			return nil, false
		}
		fields = make(map[string]string, len(p.sels))
		for _, s := range p.sels {
			if v := s.lookup(message, root); v >= 0 {
				if text, _, ok := nodeText(message, v); ok {
					fields[s.str] = text
				}
			}
		}
		return fields, true
	case kindDelimited:
		m, ok := p.matchDelimited(message)
		if !ok {
			return nil, false
		}
		fields = make(map[string]string)
		for _, b := range m.bindings() {
			if b.name != "" {
				fields["$"+b.name] = b.val
			} else {
				fields["$"+strconv.Itoa(b.pos)] = b.val
			}
		}
		return fields, true
	}
	return nil, p.Match(message)
}

// Value resolves a metric filter's metric value for message: spec is a
// number such as "1" or "0.5", or a reference to a field of the event,
// "$.durationMs" in a JSON pattern, "$bytes" or "$7" in a space-delimited
// one.
//
// ok is false when message does not match p, when spec is neither a
// number nor a field reference the pattern's kind supports, or when the
// field is missing or its value is not a number (a JSON number, or a
// string or word in plain decimal notation). The AWS documentation says
// only that the default value is published for events that do not match;
// it is silent on a matching event whose field is not numeric. Callers
// should publish nothing for such an event, rather than the default value.
func (p *Pattern) Value(spec, message string) (v float64, ok bool) {
	if p == nil {
		return 0, false
	}
	spec = strings.TrimSpace(spec)
	if isNumberLiteral(spec) {
		f, err := strconv.ParseFloat(spec, 64)
		if err != nil || !p.Match(message) {
			return 0, false
		}
		return f, true
	}
	ref, err := p.parseRef(spec)
	if err != nil {
		return 0, false
	}
	ev, ok := p.event(message)
	if !ok {
		return 0, false
	}
	text, jsonNum, ok := ev.field(ref)
	if !ok {
		return 0, false
	}
	if jsonNum {
		f, err := strconv.ParseFloat(text, 64)
		return f, err == nil
	}
	return parseDecimal(text)
}

// Dimensions resolves a metric filter's dimensions for message. dims maps
// each dimension name to a field reference, as in {"server": "$server"}
// or {"eventType": "$.eventType"}; the result maps each name to the
// field's value. ok is false when message does not match p or when a
// field is missing, null, an object or an array.
func (p *Pattern) Dimensions(dims map[string]string, message string) (values map[string]string, ok bool) {
	if p == nil {
		return nil, false
	}
	refs := make(map[string]fieldRef, len(dims))
	for name, spec := range dims {
		ref, err := p.parseRef(strings.TrimSpace(spec))
		if err != nil {
			return nil, false
		}
		refs[name] = ref
	}
	ev, ok := p.event(message)
	if !ok {
		return nil, false
	}
	values = make(map[string]string, len(dims))
	for name, ref := range refs {
		text, _, ok := ev.field(ref)
		if !ok {
			return nil, false
		}
		values[name] = text
	}
	return values, true
}

// CheckMetric reports whether a metric transformation with the given
// metric value and dimensions (name to field reference) fits p, as
// PutMetricFilter checks it: the value is a number or a field reference,
// field references are used only with JSON and space-delimited patterns
// and name a field the pattern can produce, and there are at most three
// dimensions, which, again, only JSON and space-delimited patterns
// support.
func (p *Pattern) CheckMetric(value string, dims map[string]string) error {
	if p == nil {
		return fmt.Errorf("no filter pattern")
	}
	value = strings.TrimSpace(value)
	if !isNumberLiteral(value) {
		if _, err := p.parseRef(value); err != nil {
			return fmt.Errorf("metric value %q: %w", value, err)
		}
	}
	if len(dims) == 0 {
		return nil
	}
	if p.kind != kindJSON && p.kind != kindDelimited {
		// CloudWatch's own message for this case.
		return fmt.Errorf("the specified filter pattern does not support dimensions")
	}
	if len(dims) > maxDimensions {
		return fmt.Errorf("a metric filter can have at most %d dimensions; this one has %d", maxDimensions, len(dims))
	}
	for name, spec := range dims {
		if name == "" {
			return fmt.Errorf("a dimension has an empty name")
		}
		if _, err := p.parseRef(strings.TrimSpace(spec)); err != nil {
			return fmt.Errorf("dimension %q: %w", name, err)
		}
	}
	return nil
}

// FieldRoot returns the top-level property a metric value or dimension
// of p reads: "command" for $.command, $.command[0] and $.['command'].x.
// It returns "" for a field of a space-delimited pattern, which reads a
// word of the message's text wherever it falls, and an error for what
// CheckMetric refuses or a number.
func (p *Pattern) FieldRoot(spec string) (string, error) {
	if p == nil {
		return "", fmt.Errorf("no filter pattern")
	}
	ref, err := p.parseRef(strings.TrimSpace(spec))
	if err != nil {
		return "", err
	}
	if ref.sel == nil {
		return "", nil
	}
	return ref.sel.segs[0].key, nil
}

// A fieldRef is a parsed metric value or dimension that names a field.
type fieldRef struct {
	sel  *selector // JSON patterns
	name string    // space-delimited patterns: a field name, or
	pos  int       // a word position (from 1)
}

// parseRef parses spec as a reference to a field of the events p
// matches.
func (p *Pattern) parseRef(spec string) (fieldRef, error) {
	if !strings.HasPrefix(spec, "$") {
		return fieldRef{}, fmt.Errorf("not a number or a field reference such as $.field or $name")
	}
	switch p.kind {
	case kindJSON:
		sp := &parser{src: spec}
		sel, err := sp.parseSelector()
		var se *SyntaxError
		if errors.As(err, &se) {
			// Not a filter pattern, so not "filter pattern:1:4: ...".
			return fieldRef{}, fmt.Errorf("%s, at character %d", se.Msg, se.Column)
		}
		if !sp.eof() {
			return fieldRef{}, fmt.Errorf("unexpected %s after the selector, at character %d", quoteRune(sp.src, sp.pos), sp.errAt(sp.pos, "").Column)
		}
		if sel.wildcards > 0 {
			return fieldRef{}, fmt.Errorf("a metric value or dimension cannot use a wildcard selector")
		}
		return fieldRef{sel: sel}, nil
	case kindDelimited:
		name := spec[1:]
		if name == "" {
			return fieldRef{}, fmt.Errorf("expected a field name or position after \"$\"")
		}
		if allDigits(name) {
			n, err := strconv.Atoi(name)
			if err != nil || n < 1 {
				return fieldRef{}, fmt.Errorf("field position %s is out of range", name)
			}
			return fieldRef{pos: n}, nil
		}
		for i := range p.elems {
			if p.elems[i].name == name {
				return fieldRef{name: name}, nil
			}
		}
		return fieldRef{}, fmt.Errorf("the filter pattern has no field named %q", name)
	}
	return fieldRef{}, fmt.Errorf("only JSON and space-delimited filter patterns have fields")
}

// An event is a message that matched a JSON or space-delimited pattern,
// kept so that fields can be looked up without matching again.
type event struct {
	msg  string
	root int            // JSON: offset of the root object
	m    delimitedMatch // space-delimited
	json bool
}

func (p *Pattern) event(message string) (event, bool) {
	switch p.kind {
	case kindJSON:
		root, ok := p.matchJSON(message)
		return event{msg: message, root: root, json: true}, ok
	case kindDelimited:
		m, ok := p.matchDelimited(message)
		return event{msg: message, m: m}, ok
	}
	return event{}, false
}

// field returns the text of the field ref names, and whether it is a JSON
// number.
func (ev *event) field(ref fieldRef) (text string, jsonNum bool, ok bool) {
	if ev.json {
		if ref.sel == nil {
			return "", false, false
		}
		v := ref.sel.lookup(ev.msg, ev.root)
		if v < 0 {
			return "", false, false
		}
		return nodeText(ev.msg, v)
	}
	text, ok = ev.m.lookup(ref.name, ref.pos)
	return text, false, ok
}

// regex is a compiled %...% expression.
type regex struct {
	src string // as written between the percent signs
	re  *regexp.Regexp
}
