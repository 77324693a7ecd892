package logquery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// extract runs the scanner for the given paths and returns what it found,
// or nil when the message is not a JSON object.
func extract(msg string, paths []string) map[string]any {
	b := &builder{pl: &plan{jsonPaths: map[string]pathInfo{}}, env: map[string]int{}, byKey: map[string]int{}, nullSlot: -1}
	for _, p := range paths {
		b.jsonSlot(p, p)
	}
	for p := range b.pl.jsonPaths {
		b.pl.sieve.add(p)
	}
	vals := make([]value, len(b.pl.slots))
	sc := &jsonScanner{paths: b.pl.jsonPaths, sieve: &b.pl.sieve, set: func(slot int, v value) { vals[slot] = v }}
	if !sc.scan(msg) {
		return nil
	}
	got := map[string]any{}
	for i, p := range paths {
		got[p] = vals[i].toAny()
	}
	return got
}

func TestJSONScanner(t *testing.T) {
	tests := []struct {
		msg   string
		paths []string
		want  map[string]any // nil: not a JSON object
	}{
		{`{"a":"x","b":1,"c":-2.5e1,"d":true,"e":false,"f":null}`, []string{"a", "b", "c", "d", "e", "f", "g"},
			map[string]any{"a": "x", "b": int64(1), "c": -25.0, "d": "true", "e": "false", "f": nil, "g": nil}},
		{` { "a" : { "b" : { "c" : "deep" } } , "z" : [ 1 , [ 2 , { "y" : 3 } ] ] } `, []string{"a.b.c", "a.b", "a", "z.0", "z.1.0", "z.1.1.y", "z.2"},
			map[string]any{"a.b.c": "deep", "a.b": nil, "a": nil, "z.0": int64(1), "z.1.0": int64(2), "z.1.1.y": int64(3), "z.2": nil}},
		{`{"s":"q\"b\\s\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800x"}`, []string{"s"},
			map[string]any{"s": "q\"b\\s/\b\f\n\r\t\u00e9\U0001F600\uFFFDx"}},
		{`{"k\u0041":1,"dup":1,"dup":2}`, []string{"kA", "dup"}, map[string]any{"kA": int64(1), "dup": int64(2)}},
		// A dotted key and the nested object it looks like share a name;
		// the later one wins, as with any duplicate.
		{`{"a.b":1,"a":{"b":2}}`, []string{"a.b"}, map[string]any{"a.b": int64(2)}},
		{`{"a":{"b":2},"a.b":1}`, []string{"a.b"}, map[string]any{"a.b": int64(1)}},
		{`{"":{"a":1},"a":2}`, []string{".a", "a"}, map[string]any{".a": int64(1), "a": int64(2)}},
		{`{"big":123456789012345678901234567890,"i":-0,"x":1E400}`, []string{"big", "i"}, map[string]any{"big": 1.2345678901234568e29, "i": int64(0)}},
		{`{}`, []string{"a"}, map[string]any{"a": nil}},
		{`{"a":[]}`, []string{"a.0"}, map[string]any{"a.0": nil}},
		// Not JSON objects.
		{``, []string{"a"}, nil},
		{`[1]`, []string{"0"}, nil},
		{`"a"`, []string{"a"}, nil},
		{`{"a":1} x`, []string{"a"}, nil},
		{`{"a":1`, []string{"a"}, nil},
		{`{"a":01}`, []string{"a"}, nil},
		{`{"a":1.}`, []string{"a"}, nil},
		{`{"a":-}`, []string{"a"}, nil},
		{`{"a":tru}`, []string{"a"}, nil},
		{`{"a":"x\q"}`, []string{"a"}, nil},
		{`{"a":"\u12"}`, []string{"a"}, nil},
		{`{"a" 1}`, []string{"a"}, nil},
		{`{"a":1,}`, []string{"a"}, nil},
		{`{"a":[1,]}`, []string{"a"}, nil},
		{`{a:1}`, []string{"a"}, nil},
		{`user=bob {"a":1}`, []string{"a"}, nil},
		{strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1), []string{"a"}, nil},
	}
	for _, tt := range tests {
		got := extract(tt.msg, tt.paths)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%.60s: got %v, want %v", tt.msg, got, tt.want)
		}
	}
}

// refFlatten flattens a decoded JSON value the way Insights names fields.
func refFlatten(v any, name string, top bool, out map[string]any) {
	switch v := v.(type) {
	case map[string]any:
		if !top {
			out[name] = nil
			name += "."
		}
		for k, x := range v {
			refFlatten(x, name+k, false, out)
		}
	case []any:
		out[name] = nil
		for i, x := range v {
			refFlatten(x, name+"."+strconv.Itoa(i), false, out)
		}
	case json.Number:
		n, _ := parseNumber(string(v))
		if n.isInt {
			out[name] = n.i
		} else {
			out[name] = n.f
		}
	case bool:
		out[name] = strconv.FormatBool(v)
	default:
		out[name] = v // string or nil
	}
}

// checkAgainstStdlib compares the scanner with encoding/json on msg, for
// every name the message has and a few it does not.
func checkAgainstStdlib(t *testing.T, msg string) {
	if !utf8.ValidString(msg) {
		return // encoding/json rewrites invalid UTF-8; the scanner keeps it
	}
	d := json.NewDecoder(strings.NewReader(msg))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return
	}
	if _, err := d.Token(); err == nil { // trailing data
		return
	}
	if _, ok := v.(map[string]any); !ok {
		if extract(msg, []string{"a"}) != nil {
			t.Errorf("%q: not an object, but the scanner accepted it", msg)
		}
		return
	}
	want := map[string]any{}
	refFlatten(v, "", true, want)
	paths := []string{"nope", "a.nope"}
	for p := range want {
		if strings.Contains(p, "..") || strings.HasPrefix(p, ".") {
			continue // ambiguous names; see TestJSONScanner
		}
		paths = append(paths, p)
	}
	got := extract(msg, paths)
	if got == nil {
		t.Errorf("%q: the scanner rejected valid JSON", msg)
		return
	}
	for _, p := range paths {
		w := want[p]
		if !reflect.DeepEqual(got[p], w) {
			// Dotted keys can collide with nested names; the scanner
			// resolves by document order, the map here arbitrarily.
			if strings.Contains(msg, ".") {
				continue
			}
			t.Errorf("%q: %s = %#v, want %#v", msg, p, got[p], w)
		}
	}
}

func randJSON(r *rand.Rand, depth int) any {
	switch n := r.IntN(10); {
	case n < 2 && depth < 4:
		m := map[string]any{}
		for range r.IntN(4) {
			m[randKey(r)] = randJSON(r, depth+1)
		}
		return m
	case n < 3 && depth < 4:
		var a []any
		for range r.IntN(4) {
			a = append(a, randJSON(r, depth+1))
		}
		return a
	case n < 5:
		return randKey(r) + "\"\\/\n\u00e9\U0001F600"[:r.IntN(6)]
	case n < 6:
		return r.IntN(2) == 0
	case n < 7:
		return nil
	case n < 8:
		return r.Int64() - r.Int64()
	}
	return (r.Float64() - 0.5) * 1e10
}

func randKey(r *rand.Rand) string {
	return []string{"a", "b", "userIdentity", "arn", "0", "x y", "é", ""}[r.IntN(8)]
}

func TestJSONAgainstStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		doc := map[string]any{}
		for range r.IntN(5) {
			doc[randKey(r)] = randJSON(r, 0)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(r.IntN(2) == 0)
		if err := enc.Encode(doc); err != nil {
			t.Fatal(err)
		}
		checkAgainstStdlib(t, buf.String())
	}
}

// FuzzJSON checks the scanner never panics and agrees with encoding/json
// on valid objects.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a":{"b":[1,"x",{"c":null}]}}`, `{"s":"\ud83d\ude00\u0041"}`, `{"a":1e5,"b":-0.5}`, `[{}]`, `{"a":`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		checkAgainstStdlib(t, s)
		extract(s, []string{"a", "a.b", "a.b.0", "a.b.2.c", "s"})
	})
}

func ExampleQuery_Fields() {
	q, _ := Parse(`filter command like /sudo/ | stats count(*) by userIdentity.arn`)
	fmt.Println(q.Fields())
	// Output: [command userIdentity.arn]
}
