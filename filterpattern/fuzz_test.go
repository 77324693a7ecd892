package filterpattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzPatterns = []string{
	``,
	`""`,
	`ERROR`,
	`ERROR -ARGUMENTS`,
	`?ERROR ?WARN`,
	`?ERROR ?ARGUMENTS REQUEST`,
	`"INTERNAL SERVER ERROR"`,
	`"ERROR" - "Exiting"`,
	`"a\"b" C:\temp`,
	`%AUTHORIZED%`,
	`%^starting|^initializing|^shutting down%`,
	`%\[.\]%`,
	`%a{,3}b{2, 5}\x3A\d\S[^c]$%`,
	`{ $.eventType = "UpdateTrail" }`,
	`{ $.sourceIPAddress != 123.123.* }`,
	`{ $.arrayKey[*] = %val.{2}% }`,
	`{ $.* = %111\.111\.111\.1[0-9]{1,2}% }`,
	`{ $.['cluster.name'] = "c" }`,
	`{ $.SomeObject IS NULL }`,
	`{ $.SomeOtherObject NOT EXISTS }`,
	`{ $.ThisFlag IS TRUE || $.x IS FALSE }`,
	`{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }`,
	`{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") && $.actions[2] = "nonmatch" }`,
	`{ $.number[0] != 1e-3 && $.latency > +1000 && $.a <= -5.5 }`,
	`{ $.command = "sudo*" }`,
	`{ $.a.*.b = 1 }`,
	`[ip=%127\.0\.0\.[1-9]%, user, username, timestamp, request =*.html*, status_code = 4*, bytes]`,
	`[..., request =*.html*, status_code = 404 || status_code = 410, bytes > 1000]`,
	`[w1=ERROR || w1=%WARN%, w2]`,
	`[w1!=ERROR && w1!=WARNING, w2]`,
	`[a, ..., b = "x y", ..., c,]`,
	`[,]`,
}

var fuzzMessages = []string{
	``,
	`[ERROR 419] MISSING ARGUMENTS`,
	`Exiting with ERRORCODE: -1`,
	docJSON,
	docCompoundJSON,
	docApache,
	docOrdered[3],
	`{"command": "sudo rm -rf /", "user": "root"}`,
	`{"comm\u0061nd": "\ud83d\ude00 \\ \"x\"", "a": {"x": {"b": 1}}}`,
	`{"a": [[[{"b": null}]]], "a": 1e400}`,
	`x "y \"z\" w" [p q] "open`,
}

func FuzzParse(f *testing.F) {
	for _, p := range fuzzPatterns {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		p, err := Parse(pattern)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T %v is not a *SyntaxError", pattern, err, err)
			}
			if se.Offset < 0 || se.Offset > len(pattern) || se.Line < 1 || se.Column < 1 {
				t.Fatalf("Parse(%q) error %v has a bad position %+v", pattern, err, se)
			}
			return
		}
		s := p.String()
		if utf8.RuneCountInString(s) > MaxLength {
			// The canonical form can be longer than a compact pattern.
			return
		}
		q, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q, which does not parse: %v", pattern, s, err)
		}
		if q.String() != s {
			t.Fatalf("Parse(%q).String() = %q, but that reparses as %q", pattern, s, q.String())
		}
	})
}

func FuzzMatch(f *testing.F) {
	for _, p := range fuzzPatterns {
		for _, m := range fuzzMessages {
			f.Add(p, m)
		}
	}
	f.Fuzz(func(t *testing.T, pattern, message string) {
		p, err := Parse(pattern)
		if err != nil {
			return
		}
		matched := p.Match(message)
		fields, ok := p.Extract(message)
		if ok != matched {
			t.Fatalf("Parse(%q): Match(%q) = %v but Extract ok = %v", pattern, message, matched, ok)
		}
		if q, err := Parse(p.String()); err == nil && q.Match(message) != matched {
			t.Fatalf("Parse(%q).Match(%q) = %v, but its canonical form %q says %v", pattern, message, matched, p.String(), !matched)
		}
		if _, ok := p.Value("1", message); ok != matched {
			t.Fatalf("Parse(%q).Value(1, %q) ok = %v, want %v", pattern, message, ok, matched)
		}
		// Each lookup matches again: a few fields are enough, and all of
		// them could take quadratic time.
		checked := 0
		for key, text := range fields {
			if checked++; checked > 8 {
				break
			}
			v, ok := p.Value(key, message)
			if ok {
				if _, isNum := parseDecimal(text); !isNum && p.kind != kindJSON {
					t.Fatalf("Parse(%q).Value(%q, %q) = %v, but the field is %q", pattern, key, message, v, text)
				}
			}
			dims, ok := p.Dimensions(map[string]string{"d": key}, message)
			if !ok || dims["d"] != text {
				t.Fatalf("Parse(%q).Dimensions(d: %q, %q) = %v, %v; Extract says %q", pattern, key, message, dims, ok, text)
			}
			// The server refuses metrics that read session content by
			// the field's root: every field has one, JSON fields a name.
			if root, err := p.FieldRoot(key); err != nil || (root == "") != (p.kind != kindJSON) {
				t.Fatalf("Parse(%q).FieldRoot(%q) = %q, %v", pattern, key, root, err)
			}
		}
		if p.kind == kindJSON && matched {
			checkJSONAgainstStdlib(t, p, message, fields)
		}
	})
}

// checkJSONAgainstStdlib checks that a matching JSON event is JSON to
// encoding/json too, and that the fields Extract found decode the same.
func checkJSONAgainstStdlib(t *testing.T, p *Pattern, message string, fields map[string]string) {
	t.Helper()
	if !json.Valid([]byte(message)) {
		t.Fatalf("Parse(%q) matches %q, which encoding/json says is not JSON", p.String(), message)
	}
	if !utf8.ValidString(message) {
		// encoding/json replaces invalid UTF-8; this package keeps it.
		return
	}
	d := json.NewDecoder(strings.NewReader(message))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("decoding %q: %v", message, err)
	}
	for _, s := range p.sels {
		v, found := stdlibLookup(doc, s.segs)
		var want string
		switch v := v.(type) {
		case string:
			want = v
		case json.Number:
			want = string(v)
		case bool:
			want = strconv.FormatBool(v)
		default:
			found = false
		}
		got, ok := fields[s.str]
		if ok != found || got != want {
			t.Fatalf("Parse(%q).Extract(%q)[%s] = %q, %v; encoding/json says %q, %v", p.String(), message, s.str, got, ok, want, found)
		}
	}
}

func stdlibLookup(v any, segs []seg) (any, bool) {
	for _, s := range segs {
		switch s.kind {
		case segKey:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[s.key]; !ok {
				return nil, false
			}
		case segIndex:
			a, ok := v.([]any)
			if !ok || s.index >= len(a) {
				return nil, false
			}
			v = a[s.index]
		default:
			return nil, false
		}
	}
	return v, true
}

// TestJSONValidity compares the validator with encoding/json on edge
// cases of the grammar.
func TestJSONValidity(t *testing.T) {
	p := mustParse(t, `{ $.zz NOT EXISTS }`)
	for _, s := range []string{
		`{}`, ` {} `, `{"a":1}`, `{"a":-0.5e+3}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`,
		`{"a":"\u00e9\ud83d\ude00"}`, `{"a":"\u00g0"}`, `{"a":"\x"}`, "{\"a\":\"\t\"}", `{"a":"\/"}`,
		`{"a":tru}`, `{"a":true}`, `{"a":nul}`, `{"a":[1,2,]}`, `{"a":[,]}`, `{"a":{}}`, `{"a" 1}`, `{"a":1 "b":2}`,
		`{"a":1}x`, `{"a":1}}`, `{'a':1}`, `{a:1}`, "{\"a\":\"\xff\"}", `{"a":[[]],"b":{"c":[{}]}}`,
	} {
		want := json.Valid([]byte(s)) && bytes.HasPrefix(bytes.TrimSpace([]byte(s)), []byte("{"))
		if got := p.Match(s); got != want {
			t.Errorf("Match(%q) = %v; encoding/json says valid = %v", s, got, want)
		}
	}
}
