package stacktemplate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/postern/postern/lazyregexp"
)

// kind is what a node holds.
type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kList
	kMap
	// kFn is an intrinsic function as written (Ref, Fn::GetAtt, Fn::Sub).
	// Only templates as parsed hold them; evaluate replaces each with its
	// value.
	kFn
	// kUnknown is a value that depends on what only Render knows (the
	// account, a parameter, another resource's id): Parse checks around
	// it.
	kUnknown
	// kBad stands where a value was refused (an alias, an unsupported
	// function): the refusal was reported, and nothing more is said of it.
	kBad
)

// node is a value of a template and where it was written. Parse turns the
// YAML (or JSON) into nodes, recognising intrinsic functions; evaluate
// turns a node with functions into one without, which keeps the positions
// of what it was made from.
type node struct {
	kind      kind
	line, col int
	// text is a kBool's "true" or "false", a kNumber's decimal text, or
	// a kString's string.
	text  string
	items []*node // kList
	keys  []*node // kMap: the keys (kString), in the order written
	vals  []*node // kMap: the values, by index of keys
	fn    *fn     // kFn
	// textLine and textCol, for a kString written as a literal block
	// (|), are where its text starts, so that errors about a line of the
	// text (a Cedar policy's) can name the template's line and column.
	textLine, textCol int
}

func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k.text == key {
			return n.vals[i]
		}
	}
	return nil
}

func (n *node) keyNode(key string) *node {
	for _, k := range n.keys {
		if k.text == key {
			return k
		}
	}
	return nil
}

// describe says what n is, for errors: `"abc"`, `42`, `a list`.
func (n *node) describe() string {
	switch n.kind {
	case kNull:
		return "null"
	case kBool, kNumber:
		return n.text
	case kString:
		return quoteShort(n.text)
	case kList:
		return "a list"
	case kMap:
		return "an object"
	case kFn:
		return n.fn.String()
	case kBad:
		return "a value refused above"
	}
	return "a value known only when rendered"
}

// The limits of what Parse reads. CloudFormation takes templates of up to
// 51,200 bytes inline and 1 MB from S3, with up to 500 resources, 200
// parameters and 200 outputs. Postern takes as many resources, parameters
// and outputs, in up to 256 KiB (500 resources of 500 bytes each): YAML's
// parser makes a node of as little as two bytes, and a template at the
// limit built to make the most of them costs some 80 MB of allocations
// and a quarter of a second to parse, where 1 MiB would cost four times
// that. Values nest no deeper than session documents (package document)
// do. YAML anchors and aliases are refused outright, as CloudFormation
// refuses them, which also rules out alias bombs.
const (
	MaxSize       = 256 << 10
	MaxResources  = 500
	MaxParameters = 200
	MaxOutputs    = 200
	maxDepth      = 32
)

var yamlLineRE = lazyregexp.New(`^yaml: line ([0-9]+): (.*)$`)

// decode reads src, YAML or JSON (which is YAML), into nodes.
func decode(src []byte, errs *errList) *node {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			errs.add(0, 0, "", "template is empty")
			return nil
		}
		yamlError(err, errs)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			yamlError(err, errs)
			return nil
		}
		errs.add(line, 0, "", "a template is one YAML document; this is a second one (remove the --- before it)")
		return nil
	}
	if len(doc.Content) != 1 {
		errs.add(0, 0, "", "template is empty")
		return nil
	}
	c := converter{errs: errs, src: src}
	return c.convert(doc.Content[0], "", 0)
}

func yamlError(err error, errs *errList) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		errs.add(line, 0, "", "not valid YAML or JSON: %s", m[2])
		return
	}
	errs.add(0, 0, "", "not valid YAML or JSON: %s", strings.TrimPrefix(msg, "yaml: "))
}

type converter struct {
	errs *errList
	src  []byte
}

// indent returns the 1-based column of the first non-space on line (1-based)
// of the source.
func (c *converter) indent(line int) int {
	rest := c.src
	for i := 1; i < line; i++ {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return 0
		}
		rest = rest[nl+1:]
	}
	return len(rest) - len(bytes.TrimLeft(rest, " ")) + 1
}

// The intrinsic functions of CloudFormation that Postern does not evaluate,
// named so that a template using one is told so rather than that it wrote
// an unknown tag or property.
var unsupportedFns = []string{
	"Fn::And", "Fn::Base64", "Fn::Cidr", "Fn::Equals", "Fn::FindInMap", "Fn::ForEach", "Fn::GetAZs",
	"Fn::If", "Fn::ImportValue", "Fn::Join", "Fn::Length", "Fn::Not", "Fn::Or", "Fn::Select",
	"Fn::Split", "Fn::ToJsonString", "Fn::Transform", "Condition",
}

// supportedFns names the intrinsic functions a template may use, for errors.
const supportedFns = "Ref (!Ref), Fn::GetAtt (!GetAtt) and Fn::Sub (!Sub)"

func (c *converter) convert(y *yaml.Node, path string, depth int) *node {
	n := &node{line: y.Line, col: y.Column}
	if depth > maxDepth {
		c.errs.at(n, path, "nested more than %d levels deep", maxDepth)
		return nil
	}
	if y.Kind == yaml.AliasNode || y.Anchor != "" {
		c.errs.at(n, path, "YAML anchors and aliases (&name, *name) are not allowed in templates, as in CloudFormation: write the value out")
		return nil
	}
	if strings.HasPrefix(y.Tag, "!") && !strings.HasPrefix(y.Tag, "!!") {
		return c.shortFn(y, n, path, depth)
	}
	switch y.Kind {
	case yaml.ScalarNode:
		c.scalar(y, n, path)
	case yaml.SequenceNode:
		n.kind = kList
		n.items = make([]*node, 0, len(y.Content))
		for i, e := range y.Content {
			if v := c.convert(e, joinIndex(path, i), depth+1); v != nil {
				n.items = append(n.items, v)
			} else {
				n.items = append(n.items, &node{kind: kBad, line: e.Line, col: e.Column})
			}
		}
	case yaml.MappingNode:
		c.mapping(y, n, path, depth)
	default:
		c.errs.at(n, path, "unexpected YAML node")
		return nil
	}
	return n
}

func (c *converter) scalar(y *yaml.Node, n *node, path string) {
	switch y.ShortTag() {
	case "!!null":
		n.kind = kNull
	case "!!bool":
		var b bool
		if err := y.Decode(&b); err != nil {
			c.errs.at(n, path, "%s is not true or false", quoteShort(y.Value))
			return
		}
		n.kind, n.text = kBool, strconv.FormatBool(b)
	case "!!int":
		var v any
		if err := y.Decode(&v); err != nil {
			c.errs.at(n, path, "%s is not a number", quoteShort(y.Value))
			return
		}
		n.kind = kNumber
		switch v := v.(type) {
		case int:
			n.text = strconv.Itoa(v)
		case int64:
			n.text = strconv.FormatInt(v, 10)
		case uint64:
			n.text = strconv.FormatUint(v, 10)
		case float64: // an integer too large for 64 bits
			n.text = strconv.FormatFloat(v, 'g', -1, 64)
		default:
			n.kind, n.text = kString, y.Value
		}
	case "!!float":
		var f float64
		if err := y.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			c.errs.at(n, path, "%s is not a number JSON can hold", quoteShort(y.Value))
			return
		}
		n.kind, n.text = kNumber, strconv.FormatFloat(f, 'g', -1, 64)
	default:
		// Strings, and what YAML would make a timestamp or binary of: a
		// template means the text (AWSTemplateFormatVersion: 2010-09-09).
		n.kind, n.text = kString, y.Value
		if y.Style&yaml.LiteralStyle != 0 {
			n.textLine = y.Line + 1
			n.textCol = c.indent(n.textLine)
		}
	}
}

func (c *converter) mapping(y *yaml.Node, n *node, path string, depth int) {
	n.kind = kMap
	first := map[string]int{}
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		kn := &node{kind: kString, line: k.Line, col: k.Column, text: k.Value}
		switch {
		case k.Kind != yaml.ScalarNode:
			c.errs.at(kn, path, "a key must be a plain string, not a list or an object")
			continue
		case k.Kind == yaml.AliasNode || k.Anchor != "":
			c.errs.at(kn, path, "YAML anchors and aliases (&name, *name) are not allowed in templates, as in CloudFormation: write the value out")
			continue
		case k.ShortTag() == "!!merge":
			c.errs.at(kn, path, "YAML merge keys (<<) are not allowed in templates, as in CloudFormation")
			continue
		case strings.HasPrefix(k.Tag, "!") && !strings.HasPrefix(k.Tag, "!!"):
			c.errs.at(kn, path, "a key cannot be an intrinsic function (%s)", k.Tag)
			continue
		}
		p := joinKey(path, k.Value)
		if line, dup := first[k.Value]; dup {
			c.errs.at(kn, p, "duplicate key (first at line %d)", line)
			continue
		}
		first[k.Value] = k.Line
		val := c.convert(v, p, depth+1)
		if val == nil {
			val = &node{kind: kBad, line: v.Line, col: v.Column}
		}
		n.keys = append(n.keys, kn)
		n.vals = append(n.vals, val)
	}
	// The long form of an intrinsic function: an object with one key,
	// Ref or Fn::Something.
	if len(n.keys) == 1 {
		name := n.keys[0].text
		if name == "Ref" || strings.HasPrefix(name, "Fn::") {
			c.longFn(n, name, path)
		}
		return
	}
	for _, k := range n.keys {
		if k.text == "Ref" || strings.HasPrefix(k.text, "Fn::") {
			c.errs.at(k, joinKey(path, k.text), "an intrinsic function must be the only key of its object")
		}
	}
}

// shortFn reads a YAML short-form intrinsic function: !Ref, !GetAtt, !Sub.
func (c *converter) shortFn(y *yaml.Node, n *node, path string, depth int) *node {
	name := strings.TrimPrefix(y.Tag, "!")
	long := "Fn::" + name
	if name == "Ref" || name == "Condition" {
		long = name
	}
	switch long {
	case "Ref", "Fn::GetAtt", "Fn::Sub":
	default:
		for _, u := range unsupportedFns {
			if u == long {
				c.errs.at(n, path, "%s (!%s) is not supported: the intrinsic functions Postern evaluates are %s", long, name, supportedFns)
				return nil
			}
		}
		c.errs.at(n, path, "unknown YAML tag %s: the intrinsic functions Postern evaluates are %s", y.Tag, supportedFns)
		return nil
	}
	// The argument is the node without its tag.
	arg := *y
	arg.Tag = ""
	switch y.Kind {
	case yaml.ScalarNode:
		arg.Tag = "!!str"
	case yaml.SequenceNode:
		arg.Tag = "!!seq"
	case yaml.MappingNode:
		arg.Tag = "!!map"
	}
	a := c.convert(&arg, path, depth+1)
	if a == nil {
		return nil
	}
	n.kind = kFn
	n.fn = &fn{name: long, short: true}
	if !c.fnArgs(n, a, path) {
		return nil
	}
	return n
}

// longFn turns n, an object {Ref: X} or {Fn::Name: args}, into a function.
func (c *converter) longFn(n *node, name, path string) {
	p := joinKey(path, name)
	switch name {
	case "Ref", "Fn::GetAtt", "Fn::Sub":
	default:
		for _, u := range unsupportedFns {
			if u == name {
				c.errs.at(n.keys[0], p, "%s is not supported: the intrinsic functions Postern evaluates are %s", name, supportedFns)
				n.kind, n.keys, n.vals = kBad, nil, nil
				return
			}
		}
		c.errs.at(n.keys[0], p, "unknown intrinsic function %s: the ones Postern evaluates are %s", name, supportedFns)
		n.kind, n.keys, n.vals = kBad, nil, nil
		return
	}
	a := n.vals[0]
	n.kind, n.keys, n.vals = kFn, nil, nil
	n.fn = &fn{name: name}
	if !c.fnArgs(n, a, p) {
		n.kind, n.fn = kBad, nil
	}
}

// fnArgs reads the arguments of the function n from a.
func (c *converter) fnArgs(n, a *node, path string) bool {
	f := n.fn
	switch f.name {
	case "Ref":
		if a.kind != kString || a.text == "" {
			c.errs.at(n, path, "%s takes the name of a parameter or resource, not %s", f.display(), a.describe())
			return false
		}
		f.target = a.text
	case "Fn::GetAtt":
		switch {
		case a.kind == kString:
			// CloudFormation's short form: Resource.Attribute.
			res, attr, ok := strings.Cut(a.text, ".")
			if !ok || res == "" || attr == "" {
				c.errs.at(n, path, "%s takes Resource.Attribute, not %s", f.display(), a.describe())
				return false
			}
			f.target, f.attr = res, attr
		case a.kind == kList && len(a.items) == 2 && a.items[0].kind == kString && a.items[1].kind == kString:
			f.target, f.attr = a.items[0].text, a.items[1].text
		default:
			c.errs.at(n, path, "%s takes [Resource, Attribute] or Resource.Attribute, not %s", f.display(), a.describe())
			return false
		}
	case "Fn::Sub":
		tmpl := a
		if a.kind == kList {
			if len(a.items) != 2 || a.items[0].kind != kString || a.items[1].kind != kMap {
				c.errs.at(n, path, "%s takes a string, or a list of a string and an object of variables", f.display())
				return false
			}
			tmpl = a.items[0]
			vars := a.items[1]
			for i, k := range vars.keys {
				if !subVarRE.MatchString(k.text) {
					c.errs.at(k, joinKey(path, k.text), "%s variable names are letters, digits and _", f.display())
					return false
				}
				f.vars = append(f.vars, subVar{name: k.text, val: vars.vals[i]})
			}
		} else if a.kind != kString {
			c.errs.at(n, path, "%s takes a string, or a list of a string and an object of variables, not %s", f.display(), a.describe())
			return false
		}
		parts, err := parseSub(tmpl.text)
		if err != nil {
			c.errs.at(n, path, "%s: %v", f.display(), err)
			return false
		}
		f.parts, f.textLine, f.textCol = parts, tmpl.textLine, tmpl.textCol
	}
	return true
}

var subVarRE = lazyregexp.New(`^[A-Za-z0-9_]{1,255}$`)

// fn is an intrinsic function as written.
type fn struct {
	name  string // Ref, Fn::GetAtt or Fn::Sub
	short bool   // written !Ref, !GetAtt, !Sub

	target string // Ref: a parameter, pseudo parameter or resource; GetAtt: a resource
	attr   string // GetAtt

	parts    []subPart // Sub: the string, in parts
	vars     []subVar  // Sub: the variables given with it
	textLine int       // Sub: its string's textLine and textCol
	textCol  int
}

// subPart is a piece of a Sub string: text, or a ${name}.
type subPart struct {
	lit  string
	name string // "" for text
}

type subVar struct {
	name string
	val  *node
}

func (f *fn) display() string {
	if f.short {
		return "!" + strings.TrimPrefix(f.name, "Fn::")
	}
	return f.name
}

func (f *fn) String() string {
	switch f.name {
	case "Ref":
		return f.display() + " " + f.target
	case "Fn::GetAtt":
		return f.display() + " " + f.target + "." + f.attr
	}
	return f.display()
}

// parseSub splits a Sub string into text and ${name} references. ${!x} is
// the text ${x}, as in CloudFormation.
func parseSub(s string) ([]subPart, error) {
	var parts []subPart
	var lit strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			lit.WriteString(s)
			break
		}
		lit.WriteString(s[:i])
		rest := s[i+2:]
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return nil, fmt.Errorf("%s has no closing }", quoteShort(s[i:]))
		}
		name := rest[:end]
		s = rest[end+1:]
		if strings.HasPrefix(name, "!") {
			lit.WriteString("${" + name[1:] + "}")
			continue
		}
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("${} names nothing")
		}
		if lit.Len() > 0 {
			parts = append(parts, subPart{lit: lit.String()})
			lit.Reset()
		}
		parts = append(parts, subPart{name: name})
	}
	if lit.Len() > 0 {
		parts = append(parts, subPart{lit: lit.String()})
	}
	return parts, nil
}
