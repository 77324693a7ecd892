package stacktemplate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/postern/postern/lazyregexp"
	"github.com/postern/postern/suggest"
)

// Template is a parsed, validated template. It is immutable: Render may be
// called on it from several goroutines at once.
type Template struct {
	name        string
	digest      string
	description string

	params    []*Parameter
	resources []*resource // in the order written
	outputs   []*output
	// order is resources in dependency order: each after all it
	// depends on, otherwise in the order written.
	order []*resource
}

// resource is a resource as declared.
type resource struct {
	id        string
	typ       *resourceType
	line, col int // of its logical id
	props     *node
	propsAt   *node // where Properties (or, without it, the resource) is
	// deletionPolicy is Delete or Retain.
	deletionPolicy string
	protected      bool
	dependsOn      []string // as written
	deps           []string // everything it depends on, in template order
}

type output struct {
	name        string
	line, col   int
	description string
	value       *node
}

// Name is the name the template was parsed under, as errors give it.
func (t *Template) Name() string { return t.name }

// Description is the template's Description.
func (t *Template) Description() string { return t.description }

// Digest is the SHA-256, in hex, of the template's text as given to
// Parse: what a rollout records as the version it deployed.
func (t *Template) Digest() string { return t.digest }

// Parameters are the template's parameters, in the order written.
func (t *Template) Parameters() []Parameter {
	out := make([]Parameter, len(t.params))
	for i, p := range t.params {
		out[i] = *p
		out[i].AllowedValues = slices.Clone(p.AllowedValues)
	}
	return out
}

// Declared is a resource as the template declares it, before rendering.
type Declared struct {
	LogicalID string
	Type      string
	Line      int
}

// Resources are the template's resources in dependency order (see
// Render).
func (t *Template) Resources() []Declared {
	out := make([]Declared, len(t.order))
	for i, r := range t.order {
		out[i] = Declared{LogicalID: r.id, Type: r.typ.name, Line: r.line}
	}
	return out
}

// AssignedIDs lists the logical ids of the resources whose physical id the
// service assigns when it creates them rather than the template naming it:
// the AWS::KMS::Key resources, whose Ref is a key id. The deployer picks
// one for each (a fresh key id, the first time a stack instance is
// deployed to an account), keeps it with the instance, and gives them all
// to Render in Env.PhysicalIDs, so that Render resolves !Ref Key and
// !GetAtt Key.Arn without creating anything.
func (t *Template) AssignedIDs() []string {
	var ids []string
	for _, r := range t.resources {
		if r.typ.assigned {
			ids = append(ids, r.id)
		}
	}
	return ids
}

// The sections of a template.
var (
	sections            = []string{"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Resources", "Outputs"}
	unsupportedSections = []string{"Conditions", "Mappings", "Rules", "Transform"}
	resourceFields      = []string{"Type", "Properties", "DependsOn", "DeletionPolicy", "Metadata"}
	unsupportedResource = []string{"Condition", "CreationPolicy", "UpdatePolicy", "UpdateReplacePolicy"}
	outputFields        = []string{"Description", "Value"}
	unsupportedOutput   = []string{"Condition", "Export"}
	deletionPolicies    = []string{"Delete", "Retain"}
)

// FormatVersion is the only AWSTemplateFormatVersion there is.
const FormatVersion = "2010-09-09"

// maxDescription is CloudFormation's limit on a template's Description.
const maxDescription = 1024

// logicalIDRE is CloudFormation's rule for the names of parameters,
// resources and outputs.
var logicalIDRE = lazyregexp.New(`^[A-Za-z0-9]{1,255}$`)

// Parse parses and validates the template src, YAML or JSON, that name
// (a file name, say) identifies in errors. It reports every problem it
// finds, each an *Error naming the line and the path, joined with
// errors.Join; a template it returns renders for any account and
// parameters that pass the checks Render makes of them.
//
// What can be checked without an account and parameters is checked here:
// the sections, the resource types and their properties, the values
// written out, what every !Ref, !GetAtt and ${} names, and that no
// resource depends on itself. A value made of parameters or of the
// account is checked by Render, before anything is deployed.
func Parse(name string, src []byte) (*Template, error) {
	errs := &errList{file: name}
	if len(src) > MaxSize {
		errs.add(0, 0, "", "template is %d bytes; the limit is %d", len(src), MaxSize)
		return nil, errs.err()
	}
	sum := sha256.Sum256(src)
	t := &Template{name: name, digest: hex.EncodeToString(sum[:])}
	// Editors on Windows like to start files with a byte order mark.
	src = bytes.TrimPrefix(src, []byte("\uFEFF"))
	if !utf8.Valid(src) {
		errs.add(0, 0, "", "template is not UTF-8 text")
		return nil, errs.err()
	}
	top := decode(src, errs)
	if top == nil {
		return nil, errs.err()
	}
	if top.kind != kMap {
		errs.at(top, "", "a template is an object with Resources (and Parameters, Outputs ...), not %s", top.describe())
		return nil, errs.err()
	}
	for _, k := range top.keys {
		switch {
		case slices.Contains(sections, k.text):
		case slices.Contains(unsupportedSections, k.text):
			errs.at(k, k.text, "the %s section is not supported (a template has %s)", k.text, strings.Join(sections, ", "))
		default:
			errs.at(k, joinKey("", k.text), "unknown section%s", didYouMean(k.text, sections))
		}
	}
	if v := top.get("AWSTemplateFormatVersion"); v != nil && literal(v, "AWSTemplateFormatVersion", errs) && (v.kind != kString || v.text != FormatVersion) {
		errs.at(v, "AWSTemplateFormatVersion", "%s is not a template format version: the one there is is %s", v.describe(), FormatVersion)
	}
	if v := top.get("Description"); v != nil && literal(v, "Description", errs) {
		switch {
		case v.kind != kString:
			errs.at(v, "Description", "must be a string, not %s", v.describe())
		case len(v.text) > maxDescription:
			errs.at(v, "Description", "is %d bytes; the limit is %d", len(v.text), maxDescription)
		default:
			t.description = v.text
		}
	}
	t.parseParameters(top, errs)
	t.parseResources(top, errs)
	t.parseOutputs(top, errs)
	if !errs.empty() {
		// References and values are checked only once the template's
		// structure is right: otherwise every reference to a resource
		// with a misspelt type would be reported too.
		return nil, errs.err()
	}
	t.checkReferences(errs)
	if !t.sortResources(errs) {
		return nil, errs.err()
	}
	// What is written out is checked now, as Render would check it; a
	// reference that names nothing is a value not known.
	t.render(nil, nil, errs)
	if !errs.empty() {
		return nil, errs.err()
	}
	return t, nil
}

func didYouMean(name string, known []string) string {
	if s := suggest.Closest(name, known); s != "" {
		return " (did you mean " + s + "?)"
	}
	return " (known are " + strings.Join(known, ", ") + ")"
}

// literal reports n, which must be written out, if it is a function.
func literal(n *node, path string, errs *errList) bool {
	if n.kind == kBad {
		return false
	}
	if n.kind == kFn {
		errs.at(n, path, "must be written out: intrinsic functions (%s) are evaluated only in a resource's Properties and an output's Value", n.fn.display())
		return false
	}
	return true
}

// walkFns calls f with every function in n and its path.
func walkFns(n *node, path string, f func(n *node, path string)) {
	switch n.kind {
	case kFn:
		f(n, path)
		for _, v := range n.fn.vars {
			walkFns(v.val, joinKey(path, v.name), f)
		}
	case kList:
		for i, e := range n.items {
			walkFns(e, joinIndex(path, i), f)
		}
	case kMap:
		for i, k := range n.keys {
			walkFns(n.vals[i], joinKey(path, k.text), f)
		}
	}
}

func (t *Template) parseResources(top *node, errs *errList) {
	sec := top.get("Resources")
	if sec == nil {
		errs.add(0, 0, "Resources", "required: a template declares at least one resource")
		return
	}
	if !literal(sec, "Resources", errs) {
		return
	}
	if sec.kind != kMap || len(sec.keys) == 0 {
		errs.at(sec, "Resources", "must be an object of at least one resource, by logical id")
		return
	}
	if len(sec.keys) > MaxResources {
		errs.at(sec, "Resources", "%d resources; the limit is %d", len(sec.keys), MaxResources)
		return
	}
	for i, k := range sec.keys {
		path := joinKey("Resources", k.text)
		v := sec.vals[i]
		if !logicalIDRE.MatchString(k.text) {
			errs.at(k, path, "a logical id is 1–255 letters and digits")
			continue
		}
		if !literal(v, path, errs) {
			continue
		}
		if v.kind != kMap {
			errs.at(v, path, "must be an object with Type and Properties, not %s", v.describe())
			continue
		}
		r := &resource{id: k.text, line: k.line, col: k.col, deletionPolicy: "Delete", propsAt: k}
		for _, f := range v.keys {
			switch {
			case slices.Contains(resourceFields, f.text):
			case slices.Contains(unsupportedResource, f.text):
				errs.at(f, joinKey(path, f.text), "not supported (a resource has %s)", strings.Join(resourceFields, ", "))
			default:
				errs.at(f, joinKey(path, f.text), "unknown resource attribute%s", didYouMean(f.text, resourceFields))
			}
		}
		typ := v.get("Type")
		switch {
		case typ == nil:
			errs.at(k, joinKey(path, "Type"), "required (one of %s)", typeNames())
			continue
		case !literal(typ, joinKey(path, "Type"), errs):
			continue
		case typ.kind != kString:
			errs.at(typ, joinKey(path, "Type"), "must be a resource type name, not %s", typ.describe())
			continue
		}
		if r.typ = resourceTypes[typ.text]; r.typ == nil {
			errs.at(typ, joinKey(path, "Type"), "%s", unknownType(typ.text))
			continue
		}
		if p := v.get("Properties"); p != nil {
			r.propsAt = v.keyNode("Properties")
			switch {
			case !literal(p, joinKey(path, "Properties"), errs):
			case p.kind == kNull:
			case p.kind != kMap:
				errs.at(p, joinKey(path, "Properties"), "must be an object, not %s", p.describe())
			default:
				r.props = p
			}
		}
		if d := v.get("DeletionPolicy"); d != nil && literal(d, joinKey(path, "DeletionPolicy"), errs) {
			if d.kind != kString || !slices.Contains(deletionPolicies, d.text) {
				errs.at(d, joinKey(path, "DeletionPolicy"), "%s is not one of %s", d.describe(), strings.Join(deletionPolicies, ", "))
			} else {
				r.deletionPolicy = d.text
			}
		}
		if d := v.get("DependsOn"); d != nil && literal(d, joinKey(path, "DependsOn"), errs) {
			r.dependsOn = dependsOn(d, joinKey(path, "DependsOn"), errs)
		}
		if m := v.get("Metadata"); m != nil {
			r.protected = protected(m, joinKey(path, "Metadata"), errs)
		}
		t.resources = append(t.resources, r)
	}
}

func dependsOn(d *node, path string, errs *errList) []string {
	var names []*node
	switch d.kind {
	case kString:
		names = []*node{d}
	case kList:
		names = d.items
	default:
		errs.at(d, path, "must be a logical id or a list of them, not %s", d.describe())
		return nil
	}
	var out []string
	for i, n := range names {
		if n.kind != kString {
			errs.at(n, joinIndex(path, i), "must be a logical id, not %s", n.describe())
			continue
		}
		out = append(out, n.text)
	}
	return out
}

// protected reads a resource's Metadata: anything, as in CloudFormation,
// and under the key Postern, Postern's own settings of the resource.
func protected(m *node, path string, errs *errList) bool {
	if m.kind == kNull || m.kind == kBad {
		return false
	}
	if m.kind != kMap {
		errs.at(m, path, "must be an object, not %s", m.describe())
		return false
	}
	p := m.get("Postern")
	if p == nil {
		return false
	}
	path = joinKey(path, "Postern")
	if !literal(p, path, errs) {
		return false
	}
	if p.kind != kMap {
		errs.at(p, path, "must be an object such as {Protected: true}, not %s", p.describe())
		return false
	}
	known := []string{"Protected"}
	for _, k := range p.keys {
		if !slices.Contains(known, k.text) {
			errs.at(k, joinKey(path, k.text), "unknown setting%s", didYouMean(k.text, known))
		}
	}
	v := p.get("Protected")
	if v == nil {
		return false
	}
	if !literal(v, joinKey(path, "Protected"), errs) {
		return false
	}
	b, ok := boolValue(v)
	if !ok {
		errs.at(v, joinKey(path, "Protected"), "must be true or false, not %s", v.describe())
	}
	return b
}

func (t *Template) parseOutputs(top *node, errs *errList) {
	sec := top.get("Outputs")
	if sec == nil || sec.kind == kNull || !literal(sec, "Outputs", errs) {
		return
	}
	if sec.kind != kMap {
		errs.at(sec, "Outputs", "must be an object of outputs, by name, not %s", sec.describe())
		return
	}
	if len(sec.keys) > MaxOutputs {
		errs.at(sec, "Outputs", "%d outputs; the limit is %d", len(sec.keys), MaxOutputs)
		return
	}
	for i, k := range sec.keys {
		path := joinKey("Outputs", k.text)
		v := sec.vals[i]
		if !logicalIDRE.MatchString(k.text) {
			errs.at(k, path, "an output's name is 1–255 letters and digits")
			continue
		}
		if !literal(v, path, errs) {
			continue
		}
		if v.kind != kMap {
			errs.at(v, path, "must be an object with Value, not %s", v.describe())
			continue
		}
		o := &output{name: k.text, line: k.line, col: k.col}
		for _, f := range v.keys {
			switch {
			case slices.Contains(outputFields, f.text):
			case slices.Contains(unsupportedOutput, f.text):
				errs.at(f, joinKey(path, f.text), "not supported (an output has %s)", strings.Join(outputFields, ", "))
			default:
				errs.at(f, joinKey(path, f.text), "unknown field%s", didYouMean(f.text, outputFields))
			}
		}
		if d := v.get("Description"); d != nil && literal(d, joinKey(path, "Description"), errs) {
			if d.kind != kString {
				errs.at(d, joinKey(path, "Description"), "must be a string, not %s", d.describe())
			}
			o.description = d.text
		}
		if o.value = v.get("Value"); o.value == nil {
			errs.at(k, joinKey(path, "Value"), "required")
			continue
		}
		t.outputs = append(t.outputs, o)
	}
}
