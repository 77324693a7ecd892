package stacktemplate

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parameter types.
const (
	String             = "String"
	Number             = "Number"
	CommaDelimitedList = "CommaDelimitedList"
)

var paramTypes = []string{String, Number, CommaDelimitedList}

var (
	paramFields      = []string{"Type", "Description", "Default", "AllowedValues", "AllowedPattern", "MinLength", "MaxLength", "MinValue", "MaxValue", "ConstraintDescription"}
	unsupportedParam = []string{"NoEcho"}
)

// maxParamValue is CloudFormation's limit on a parameter's value, in bytes.
const maxParamValue = 4096

// Parameter is a parameter a template declares.
type Parameter struct {
	Name        string
	Type        string // String, Number or CommaDelimitedList
	Description string
	// Default is the value when Render is given none; HasDefault says
	// whether there is one (a Default may be "").
	Default    string
	HasDefault bool
	// AllowedValues, if any, are the only values allowed (of every item,
	// for a CommaDelimitedList).
	AllowedValues []string
	// AllowedPattern, if set, is a regular expression (RE2 syntax) that
	// the whole value (every item, for a CommaDelimitedList) must match.
	AllowedPattern string
	// MinLength and MaxLength bound the length of a String in characters;
	// MinValue and MaxValue bound a Number. Nil is no bound.
	MinLength, MaxLength *int
	MinValue, MaxValue   *float64
	// ConstraintDescription is said when a value breaks a constraint.
	ConstraintDescription string

	Line int // where it is declared

	col int
	re  *regexp.Regexp
}

func (t *Template) parseParameters(top *node, errs *errList) {
	sec := top.get("Parameters")
	if sec == nil || sec.kind == kNull || !literal(sec, "Parameters", errs) {
		return
	}
	if sec.kind != kMap {
		errs.at(sec, "Parameters", "must be an object of parameters, by name, not %s", sec.describe())
		return
	}
	if len(sec.keys) > MaxParameters {
		errs.at(sec, "Parameters", "%d parameters; the limit is %d", len(sec.keys), MaxParameters)
		return
	}
	for i, k := range sec.keys {
		path := joinKey("Parameters", k.text)
		if !logicalIDRE.MatchString(k.text) {
			errs.at(k, path, "a parameter's name is 1–255 letters and digits")
			continue
		}
		if p := parseParameter(k, sec.vals[i], path, errs); p != nil {
			t.params = append(t.params, p)
		}
	}
}

func parseParameter(k, v *node, path string, errs *errList) *Parameter {
	if !literal(v, path, errs) {
		return nil
	}
	if v.kind != kMap {
		errs.at(v, path, "must be an object with Type (and Default, AllowedValues ...), not %s", v.describe())
		return nil
	}
	p := &Parameter{Name: k.text, Line: k.line, col: k.col}
	ok := true
	for _, f := range v.keys {
		switch {
		case slices.Contains(paramFields, f.text):
		case slices.Contains(unsupportedParam, f.text):
			errs.at(f, joinKey(path, f.text), "not supported: a template's parameters are not secrets")
			ok = false
		default:
			errs.at(f, joinKey(path, f.text), "unknown field%s", didYouMean(f.text, paramFields))
			ok = false
		}
	}
	for i, f := range v.keys {
		if !literal(v.vals[i], joinKey(path, f.text), errs) {
			ok = false
		}
	}
	if !ok {
		return nil
	}
	at := func(f string) string { return joinKey(path, f) }
	str := func(f string) string {
		n := v.get(f)
		if n == nil {
			return ""
		}
		s, isScalar := scalarText(n)
		if !isScalar {
			errs.at(n, at(f), "must be a string, not %s", n.describe())
			ok = false
		}
		return s
	}
	switch typ := v.get("Type"); {
	case typ == nil:
		errs.at(k, at("Type"), "required (one of %s)", strings.Join(paramTypes, ", "))
		return nil
	case typ.kind != kString || !slices.Contains(paramTypes, typ.text):
		msg := fmt.Sprintf("%s is not one of %s", typ.describe(), strings.Join(paramTypes, ", "))
		if typ.kind == kString && (strings.HasPrefix(typ.text, "AWS::") || strings.HasPrefix(typ.text, "List<")) {
			msg += ": AWS-specific parameter types name things Postern does not have"
		}
		errs.at(typ, at("Type"), "%s", msg)
		return nil
	default:
		p.Type = typ.text
	}
	p.Description = str("Description")
	p.ConstraintDescription = str("ConstraintDescription")
	p.AllowedPattern = str("AllowedPattern")
	if p.AllowedPattern != "" {
		// CloudFormation's patterns match the whole value.
		re, err := regexp.Compile(`^(?:` + p.AllowedPattern + `)$`)
		if err != nil {
			errs.at(v.get("AllowedPattern"), at("AllowedPattern"), "not a regular expression (RE2 syntax): %v", err)
			ok = false
		}
		p.re = re
	}
	if n := v.get("AllowedValues"); n != nil {
		if n.kind != kList || len(n.items) == 0 {
			errs.at(n, at("AllowedValues"), "must be a list of values, not %s", n.describe())
			ok = false
		} else {
			for i, e := range n.items {
				s, isScalar := scalarText(e)
				if !isScalar {
					errs.at(e, joinIndex(at("AllowedValues"), i), "must be a string, not %s", e.describe())
					ok = false
				}
				p.AllowedValues = append(p.AllowedValues, s)
			}
		}
	}
	count := func(f string) *int {
		n := v.get(f)
		if n == nil {
			return nil
		}
		i, isInt := intValue(n)
		if !isInt || i < 0 {
			errs.at(n, at(f), "must be a whole number of characters, not %s", n.describe())
			ok = false
			return nil
		}
		if p.Type != String {
			errs.at(n, at(f), "only a String parameter has a length")
			ok = false
		}
		return &i
	}
	p.MinLength, p.MaxLength = count("MinLength"), count("MaxLength")
	if p.MinLength != nil && p.MaxLength != nil && *p.MinLength > *p.MaxLength {
		errs.at(v.get("MaxLength"), at("MaxLength"), "%d is less than MinLength %d", *p.MaxLength, *p.MinLength)
		ok = false
	}
	bound := func(f string) *float64 {
		n := v.get(f)
		if n == nil {
			return nil
		}
		s, _ := scalarText(n)
		x, err := strconv.ParseFloat(s, 64)
		if n.kind != kNumber && n.kind != kString || err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			errs.at(n, at(f), "must be a number, not %s", n.describe())
			ok = false
			return nil
		}
		if p.Type != Number {
			errs.at(n, at(f), "only a Number parameter has a %s", f)
			ok = false
		}
		return &x
	}
	p.MinValue, p.MaxValue = bound("MinValue"), bound("MaxValue")
	if p.MinValue != nil && p.MaxValue != nil && *p.MinValue > *p.MaxValue {
		errs.at(v.get("MaxValue"), at("MaxValue"), "%v is less than MinValue %v", *p.MaxValue, *p.MinValue)
		ok = false
	}
	if !ok {
		return nil
	}
	for i, a := range p.AllowedValues {
		// An allowed value that breaks the other constraints could never
		// be given.
		q := *p
		q.AllowedValues = nil
		if _, msg := q.check(a); msg != "" {
			errs.at(v.get("AllowedValues").items[i], joinIndex(at("AllowedValues"), i), "%s", msg)
			ok = false
		}
	}
	if d := v.get("Default"); d != nil {
		s, isScalar := scalarText(d)
		if !isScalar {
			errs.at(d, at("Default"), "must be a single value (a CommaDelimitedList's is \"a,b,c\"), not %s", d.describe())
			return nil
		}
		p.Default, p.HasDefault = s, true
		if _, msg := p.check(s); msg != "" {
			errs.at(d, at("Default"), "%s", msg)
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return p
}

// check returns the value of p given as s: a string, or a list of strings
// for a CommaDelimitedList, as !Ref gives it. The message says what is
// wrong with s when it is not a value of p.
func (p *Parameter) check(s string) (*node, string) {
	if len(s) > maxParamValue {
		return nil, fmt.Sprintf("a value is %d bytes; the limit is %d", len(s), maxParamValue)
	}
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return nil, fmt.Sprintf("%s is not text", quoteShort(s))
	}
	n := &node{kind: kString, line: p.Line, col: p.col, text: s}
	items := []string{s}
	switch p.Type {
	case Number:
		x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Sprintf("%s is not a number", quoteShort(s))
		}
		if p.MinValue != nil && x < *p.MinValue {
			return nil, p.broken(fmt.Sprintf("%s is less than MinValue %v", s, *p.MinValue))
		}
		if p.MaxValue != nil && x > *p.MaxValue {
			return nil, p.broken(fmt.Sprintf("%s is more than MaxValue %v", s, *p.MaxValue))
		}
	case CommaDelimitedList:
		// CloudFormation trims the spaces around each item.
		items = strings.Split(s, ",")
		n = &node{kind: kList, line: p.Line, col: p.col}
		for i := range items {
			items[i] = strings.TrimSpace(items[i])
			n.items = append(n.items, &node{kind: kString, line: p.Line, col: p.col, text: items[i]})
		}
	}
	for _, it := range items {
		if len(p.AllowedValues) > 0 && !p.allowed(it) {
			return nil, p.broken(fmt.Sprintf("%s is not one of the AllowedValues %s", quoteShort(it), strings.Join(p.AllowedValues, ", ")))
		}
		if p.re != nil && !p.re.MatchString(it) {
			return nil, p.broken(fmt.Sprintf("%s does not match the AllowedPattern %s", quoteShort(it), p.AllowedPattern))
		}
		if p.Type != String {
			continue
		}
		l := utf8.RuneCountInString(it)
		if p.MinLength != nil && l < *p.MinLength {
			return nil, p.broken(fmt.Sprintf("%s is %d characters, fewer than MinLength %d", quoteShort(it), l, *p.MinLength))
		}
		if p.MaxLength != nil && l > *p.MaxLength {
			return nil, p.broken(fmt.Sprintf("%s is %d characters, more than MaxLength %d", quoteShort(it), l, *p.MaxLength))
		}
	}
	return n, ""
}

// allowed compares numbers as numbers: AllowedValues [30, 90] allow "30.0".
func (p *Parameter) allowed(s string) bool {
	if slices.Contains(p.AllowedValues, s) {
		return true
	}
	if p.Type != Number {
		return false
	}
	x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(p.AllowedValues, func(a string) bool {
		y, err := strconv.ParseFloat(a, 64)
		return err == nil && x == y
	})
}

func (p *Parameter) broken(msg string) string {
	if p.ConstraintDescription != "" {
		return msg + " (" + p.ConstraintDescription + ")"
	}
	return msg
}

// paramValues resolves the values of the template's parameters for one
// rendering: those given, else the defaults.
func (t *Template) paramValues(given map[string]string, errs *errList) map[string]*node {
	vals := map[string]*node{}
	names := make([]string, len(t.params))
	for i, p := range t.params {
		names[i] = p.Name
	}
	var unknown []string
	for name := range given {
		if !slices.Contains(names, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		errs.add(0, 0, joinKey("Parameters", name), "a value is given for a parameter the template does not declare%s", didYouMean(name, names))
	}
	for _, p := range t.params {
		path := joinKey("Parameters", p.Name)
		s, ok := given[p.Name]
		if !ok {
			if !p.HasDefault {
				errs.add(p.Line, p.col, path, "no value given, and the parameter has no Default")
				continue
			}
			s = p.Default
		}
		n, msg := p.check(s)
		if msg != "" {
			errs.add(p.Line, p.col, path, "%s", msg)
			continue
		}
		vals[p.Name] = n
	}
	return vals
}

// scalarText returns the text of a string, number or bool.
func scalarText(n *node) (string, bool) {
	switch n.kind {
	case kString, kNumber, kBool:
		return n.text, true
	}
	return "", false
}

// intValue returns a whole number written as a number or as a string of
// digits, as CloudFormation takes integers (and parameters give them).
func intValue(n *node) (int, bool) {
	if n.kind != kNumber && n.kind != kString {
		return 0, false
	}
	s := strings.TrimSpace(n.text)
	if i, err := strconv.Atoi(s); err == nil && i >= math.MinInt32 && i <= math.MaxInt32 {
		return i, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

// boolValue returns a boolean written as one or as "true" or "false".
func boolValue(n *node) (bool, bool) {
	if n.kind != kBool && n.kind != kString {
		return false, false
	}
	switch n.text {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}
