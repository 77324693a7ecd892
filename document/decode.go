package document

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/postern/postern/lazyregexp"
	"github.com/postern/postern/suggest"
)

// maxDepth bounds how deeply a document may nest. Real documents nest three
// or four levels; the bound keeps hostile ones from costing stack.
const maxDepth = 32

// decodeJSON decodes data into maps, lists, strings, json.Numbers, bools and
// nils. Unlike json.Unmarshal it rejects duplicate fields, which would
// otherwise silently take the last value, and says where a syntax error is.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, "", 0)
	if err != nil {
		return nil, syntaxError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: unexpected data after the document", lineCol(data, dec.InputOffset()))
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, path string, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	if depth >= maxDepth {
		return nil, fmt.Errorf("%s: nested more than %d levels deep", pathOrRoot(path), maxDepth)
	}
	switch delim {
	case '{':
		m := map[string]any{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, ok := tok.(string)
			if !ok {
				return nil, fmt.Errorf("%s: field name is not a string", pathOrRoot(path))
			}
			p := joinKey(path, key)
			if _, dup := m[key]; dup {
				return nil, fmt.Errorf("%s: duplicate field", p)
			}
			v, err := decodeValue(dec, p, depth+1)
			if err != nil {
				return nil, err
			}
			m[key] = v
		}
		if _, err := dec.Token(); err != nil { // '}'
			return nil, err
		}
		return m, nil
	case '[':
		l := []any{}
		for i := 0; dec.More(); i++ {
			v, err := decodeValue(dec, joinIndex(path, i), depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("unexpected %v", delim)
}

// syntaxError adds the line and column to encoding/json's syntax errors,
// which only carry a byte offset.
func syntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%s: %v", lineCol(data, se.Offset), se)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("unexpected end of document")
	}
	return err
}

func lineCol(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// Paths name where in a document something is, the way people would write
// it: inputs.idleSessionTimeout, properties.linux.commands[2].

var plainKey = lazyregexp.New(`^[A-Za-z0-9_-]+$`)

func joinKey(path, key string) string {
	if !plainKey.MatchString(key) {
		return fmt.Sprintf("%s[%q]", path, key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinIndex(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func pathOrRoot(path string) string {
	if path == "" {
		return "document"
	}
	return path
}

// maxErrors is how many problems a report lists. A document with more is
// not worth reading on about, and finding suggestions for thousands of
// misspellings would cost seconds.
const maxErrors = 50

// errList collects the problems with a document, rather than stopping at
// the first, so that one round of fixes suffices.
type errList struct {
	errs []error
	more int // problems past maxErrors
}

// full reports whether the list has all it will show, counting the problem
// that the caller will then not describe.
func (l *errList) full() bool {
	if len(l.errs) < maxErrors {
		return false
	}
	l.more++
	return true
}

func (l *errList) add(err error) {
	if err != nil && !l.full() {
		l.errs = append(l.errs, err)
	}
}

func (l *errList) err() error {
	if l.more > 0 {
		return errors.Join(append(l.errs, fmt.Errorf("and %d more problems", l.more))...)
	}
	return errors.Join(l.errs...)
}

// decoder turns the decoded tree into a Document.
type decoder struct {
	errList
}

func (d *decoder) errorf(path, format string, args ...any) {
	d.add(fmt.Errorf("%s: %s", pathOrRoot(path), fmt.Sprintf(format, args...)))
}

// object returns v as a map, or reports that it is not one.
func (d *decoder) object(path string, v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		d.errorf(path, "must be an object, not %s", describe(v))
	}
	return m, ok
}

// fields reports the fields of m that are not among known, suggesting the
// closest known one.
func (d *decoder) fields(path string, m map[string]any, known ...string) {
	for _, k := range sortedKeys(m) {
		if !slices.Contains(known, k) && !d.full() {
			d.errs = append(d.errs, unknownField(joinKey(path, k), k, known))
		}
	}
}

func unknownField(path, key string, known []string) error {
	if s := suggest.Closest(key, known); s != "" {
		return fmt.Errorf("%s: unknown field (did you mean %s?)", path, s)
	}
	return fmt.Errorf("%s: unknown field (known fields are %s)", path, strings.Join(known, ", "))
}

// str returns v as a string. A JSON null is the empty string, as it is to
// Session Manager.
func (d *decoder) str(path string, v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	}
	d.errorf(path, "must be a string, not %s", describe(v))
	return ""
}

// boolean returns v as a bool. Session Manager's documents use JSON
// booleans, but hand-written ones say "true" often enough to allow it.
func (d *decoder) boolean(path string, v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		if b, ok := parseBool(v); ok {
			return b
		}
	}
	d.errorf(path, "must be true or false, not %s", describe(v))
	return false
}

func parseBool(s string) (v, ok bool) {
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// minutes returns a timeout input, which Session Manager writes as a string
// of digits ("20") and people write as a number. Absent, null or empty is
// def. Range checks are Validate's; this only rejects what is not a whole
// number, or is too large to be one worth keeping.
func (d *decoder) minutes(path string, v any, def int) int {
	switch v := v.(type) {
	case nil:
		return def
	case string:
		if v == "" {
			return def
		}
		if !allDigits(v) {
			d.errorf(path, "%q is not a whole number of minutes", v)
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n > math.MaxInt32 {
			d.errorf(path, "%s is too large", v)
			return def
		}
		return n
	case json.Number:
		n, ok := wholeNumber(v)
		if !ok {
			d.errorf(path, "%s is not a whole number of minutes", v)
			return def
		}
		return n
	}
	d.errorf(path, "must be a number of minutes, not %s", describe(v))
	return def
}

// count returns a non-negative count such as minChars, written as a number
// or a string of digits.
func (d *decoder) count(path string, v any) int {
	switch v := v.(type) {
	case nil:
		return 0
	case string:
		if n, err := strconv.Atoi(v); err == nil && allDigits(v) && n <= math.MaxInt32 {
			return n
		}
	case json.Number:
		if n, ok := wholeNumber(v); ok && n >= 0 {
			return n
		}
	}
	d.errorf(path, "must be a whole number, not %s", describe(v))
	return 0
}

// wholeNumber returns n as an int if it is a whole number that fits in 32
// bits, which is all any number in a document needs.
func wholeNumber(n json.Number) (int, bool) {
	if i, err := n.Int64(); err == nil {
		if i < math.MinInt32 || i > math.MaxInt32 {
			return 0, false
		}
		return int(i), true
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// describe says what v is, for errors: `"abc"`, `42`, `a list`.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%v", v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var (
	topFields       = []string{"schemaVersion", "description", "sessionType", "inputs", "parameters", "properties"}
	inputFields     = []string{"s3BucketName", "s3KeyPrefix", "s3EncryptionEnabled", "cloudWatchLogGroupName", "cloudWatchEncryptionEnabled", "cloudWatchStreamingEnabled", "kmsKeyId", "runAsEnabled", "runAsDefaultUser", "runAsAllowRoot", "idleSessionTimeout", "maxSessionDuration", "shellProfile", "idleSessionTimeoutCountsOutput"}
	profileFields   = []string{"linux", "windows"}
	parameterFields = []string{"type", "description", "default", "allowedValues", "allowedPattern", "displayType", "minChars", "maxChars", "minItems", "maxItems"}
)

// fromTree makes a Document of a decoded tree, reporting every structural
// problem: wrong types and unknown fields. What the values mean is
// Validate's business.
func fromTree(tree any) (*Document, error) {
	var d decoder
	top, ok := tree.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("document must be an object with schemaVersion, sessionType and so on, not %s", describe(tree))
	}
	d.fields("", top, topFields...)
	doc := &Document{
		Description: d.str("description", top["description"]),
		SessionType: SessionType(d.str("sessionType", top["sessionType"])),
	}
	switch v := top["schemaVersion"].(type) {
	case json.Number:
		// YAML turns an unquoted 1.0 into a number, and so into 1.
		d.errorf("schemaVersion", "must be a string, not the number %s (quote it: %q)", v, SchemaVersion)
	default:
		doc.SchemaVersion = d.str("schemaVersion", v)
	}
	if v, ok := top["inputs"]; ok && v != nil {
		doc.Inputs = d.inputs("inputs", v)
	}
	if v := top["parameters"]; v != nil {
		if m, ok := d.object("parameters", v); ok {
			for _, name := range sortedKeys(m) {
				if doc.Parameters == nil {
					doc.Parameters = map[string]Parameter{}
				}
				doc.Parameters[name] = d.parameter(joinKey("parameters", name), m[name])
			}
		}
	}
	if v := top["properties"]; v != nil {
		if m, ok := d.object("properties", v); ok && len(m) > 0 {
			doc.Properties = m
		}
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return doc, nil
}

func (d *decoder) inputs(path string, v any) *Inputs {
	in := &Inputs{IdleSessionTimeout: DefaultIdleSessionTimeout}
	m, ok := d.object(path, v)
	if !ok {
		return in
	}
	d.fields(path, m, inputFields...)
	p := func(k string) string { return joinKey(path, k) }
	in.S3BucketName = d.str(p("s3BucketName"), m["s3BucketName"])
	in.S3KeyPrefix = d.str(p("s3KeyPrefix"), m["s3KeyPrefix"])
	in.S3EncryptionEnabled = d.boolean(p("s3EncryptionEnabled"), m["s3EncryptionEnabled"])
	in.CloudWatchLogGroupName = d.str(p("cloudWatchLogGroupName"), m["cloudWatchLogGroupName"])
	in.CloudWatchEncryptionEnabled = d.boolean(p("cloudWatchEncryptionEnabled"), m["cloudWatchEncryptionEnabled"])
	in.CloudWatchStreamingEnabled = d.boolean(p("cloudWatchStreamingEnabled"), m["cloudWatchStreamingEnabled"])
	in.KMSKeyID = d.str(p("kmsKeyId"), m["kmsKeyId"])
	in.RunAsEnabled = d.boolean(p("runAsEnabled"), m["runAsEnabled"])
	in.RunAsDefaultUser = d.str(p("runAsDefaultUser"), m["runAsDefaultUser"])
	in.RunAsAllowRoot = d.boolean(p("runAsAllowRoot"), m["runAsAllowRoot"])
	in.IdleSessionTimeout = d.minutes(p("idleSessionTimeout"), m["idleSessionTimeout"], DefaultIdleSessionTimeout)
	in.MaxSessionDuration = d.minutes(p("maxSessionDuration"), m["maxSessionDuration"], 0)
	in.IdleTimeoutCountsOutput = d.boolean(p("idleSessionTimeoutCountsOutput"), m["idleSessionTimeoutCountsOutput"])
	if v := m["shellProfile"]; v != nil {
		pp := p("shellProfile")
		if sp, ok := d.object(pp, v); ok {
			d.fields(pp, sp, profileFields...)
			in.ShellProfile.Linux = d.str(joinKey(pp, "linux"), sp["linux"])
			in.ShellProfile.Windows = d.str(joinKey(pp, "windows"), sp["windows"])
		}
	}
	return in
}

func (d *decoder) parameter(path string, v any) Parameter {
	var p Parameter
	m, ok := d.object(path, v)
	if !ok {
		return p
	}
	d.fields(path, m, parameterFields...)
	k := func(k string) string { return joinKey(path, k) }
	p.Type = d.str(k("type"), m["type"])
	if p.Type == "" {
		p.Type = String
	}
	p.Description = d.str(k("description"), m["description"])
	p.Default = m["default"]
	p.AllowedPattern = d.str(k("allowedPattern"), m["allowedPattern"])
	p.DisplayType = d.str(k("displayType"), m["displayType"])
	p.MinChars = d.count(k("minChars"), m["minChars"])
	p.MaxChars = d.count(k("maxChars"), m["maxChars"])
	p.MinItems = d.count(k("minItems"), m["minItems"])
	p.MaxItems = d.count(k("maxItems"), m["maxItems"])
	if v := m["allowedValues"]; v != nil {
		l, ok := v.([]any)
		if !ok {
			d.errorf(k("allowedValues"), "must be a list, not %s", describe(v))
		}
		for i, e := range l {
			// YAML makes numbers and booleans of unquoted values; they are
			// still the values one may give.
			switch e := e.(type) {
			case string:
				p.AllowedValues = append(p.AllowedValues, e)
			case json.Number:
				p.AllowedValues = append(p.AllowedValues, e.String())
			case bool:
				p.AllowedValues = append(p.AllowedValues, strconv.FormatBool(e))
			default:
				d.errorf(joinIndex(k("allowedValues"), i), "must be a string, not %s", describe(e))
			}
		}
	}
	return p
}
