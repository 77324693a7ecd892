package stacktemplate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/postern/postern/ids"
	"github.com/postern/postern/lazyregexp"
)

// Partition is the one partition of Postern's resource names
// (prn:postern:...), the value of AWS::Partition.
const Partition = "postern"

// Env is the account a template is rendered for: the values of the pseudo
// parameters, and the physical ids the service assigned.
type Env struct {
	AccountID string // AWS::AccountId: 12 digits
	Region    string // AWS::Region: the server's region name ("local")
	Partition string // AWS::Partition: "postern" (empty means it)
	StackName string // AWS::StackName: the rollout's name, [A-Za-z][A-Za-z0-9-]{0,127}
	// PhysicalIDs are the ids the service assigns, by logical id: a key
	// id for each of the template's AssignedIDs.
	PhysicalIDs map[string]string
}

func (e *Env) partition() string {
	if e.Partition == "" {
		return Partition
	}
	return e.Partition
}

var (
	regionRE    = lazyregexp.New(`^[a-z0-9][a-z0-9-]{0,63}$`)
	stackNameRE = lazyregexp.New(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
)

func (e *Env) check(t *Template, errs *errList) {
	if !ids.ValidAccount(e.AccountID) {
		errs.add(0, 0, "", "Env.AccountID %s is not an account id (12 digits)", quoteShort(e.AccountID))
	}
	if !regionRE.MatchString(e.Region) {
		errs.add(0, 0, "", "Env.Region %s is not a region name", quoteShort(e.Region))
	}
	if e.partition() != Partition {
		errs.add(0, 0, "", "Env.Partition %s: the partition of Postern's names is %s", quoteShort(e.Partition), Partition)
	}
	if !stackNameRE.MatchString(e.StackName) {
		errs.add(0, 0, "", "Env.StackName %s is not a stack name: a letter, then up to 127 letters, digits and '-'", quoteShort(e.StackName))
	}
	assigned := t.AssignedIDs()
	for _, id := range assigned {
		r := t.resource(id)
		switch v, ok := e.PhysicalIDs[id]; {
		case !ok:
			errs.add(r.line, r.col, joinKey("Resources", id), "Env.PhysicalIDs has no key id for this %s: the deployer assigns one and keeps it (see Template.AssignedIDs)", r.typ.name)
		case !keyIDRE.MatchString(v):
			errs.add(r.line, r.col, joinKey("Resources", id), "Env.PhysicalIDs gives it %s, which is not a key id (a lowercase UUID)", quoteShort(v))
		}
	}
	var extra []string
	for id := range e.PhysicalIDs {
		if !slices.Contains(assigned, id) {
			extra = append(extra, id)
		}
	}
	slices.Sort(extra)
	for _, id := range extra {
		errs.add(0, 0, "", "Env.PhysicalIDs names %s, which is not among the template's AssignedIDs", quoteShort(id))
	}
}

// Resource is a resource rendered for one account.
type Resource struct {
	LogicalID string
	Type      string
	// PhysicalID is what the resource is known by in its account, its
	// Ref: a log group's or document's name, a key's id, an alias's name,
	// a policy's id.
	PhysicalID string
	Properties Properties
	// DependsOn are the logical ids of the resources it refers to or
	// names in DependsOn, in template order: create them first, delete
	// them after.
	DependsOn []string
	// DeletionPolicy is Delete or Retain: what becomes of the resource
	// when it leaves the template or the stack instance is deleted.
	DeletionPolicy string
	// Protected resources (Metadata: {Postern: {Protected: true}}) may
	// not be changed in the account except by the rollout: a change is
	// refused, not merely reported as drift.
	Protected bool
	// Hash is the SHA-256, in hex, of the resource's type and properties
	// (their JSON encoding): two renderings with the same Hash deploy the
	// same thing, and a deployed resource whose properties, read back,
	// hash otherwise has drifted or is outdated.
	Hash string
}

// Output is a rendered output.
type Output struct {
	Name        string
	Description string
	Value       string // a list's items are joined with commas
}

// Render resolves the template for one account with the given parameter
// values (those left out take their Default) and returns its resources in
// dependency order: each after every resource it depends on, and otherwise
// in the order written. Every problem is reported, each an *Error naming
// the line and path, joined: a parameter value the template does not
// allow, or a value that only now proves wrong, such as a log group name
// made with !Sub. Render creates nothing and may be called for every
// account of a rollout before any is deployed to.
func (t *Template) Render(env Env, params map[string]string) ([]Resource, error) {
	rs, _, err := t.renderFor(env, params)
	return rs, err
}

// RenderOutputs resolves the template's Outputs for one account, as Render
// resolves its resources.
func (t *Template) RenderOutputs(env Env, params map[string]string) ([]Output, error) {
	_, outs, err := t.renderFor(env, params)
	return outs, err
}

func (t *Template) renderFor(env Env, params map[string]string) ([]Resource, []Output, error) {
	errs := &errList{file: t.name}
	env.check(t, errs)
	vals := t.paramValues(params, errs)
	if !errs.empty() {
		return nil, nil, errs.err()
	}
	return t.render(&env, vals, errs)
}

// render evaluates the template; with env nil (Parse) only what is written
// out, and returns nothing but the errors.
func (t *Template) render(env *Env, params map[string]*node, errs *errList) ([]Resource, []Output, error) {
	e := &evaluator{env: env, params: params, res: map[string]*state{}, errs: errs, budget: maxRendered}
	out := make([]Resource, 0, len(t.order))
	// names finds two resources of one type with the same physical id.
	names := map[string]*resource{}
	for _, r := range t.order {
		path := joinKey("Resources", r.id)
		props := (*node)(nil)
		if r.props != nil {
			props = e.eval(r.props, joinKey(path, "Properties"))
			for _, k := range props.keys {
				if slices.Contains(r.typ.props, k.text) {
					continue
				}
				p := joinKey(joinKey(path, "Properties"), k.text)
				if slices.Contains(r.typ.unsupported, k.text) {
					errs.at(k, p, "Postern does not support this property of %s (it supports %s)", r.typ.name, strings.Join(r.typ.props, ", "))
				} else {
					errs.at(k, p, "%s has no property %s%s", r.typ.name, k.text, didYouMean(k.text, r.typ.props))
				}
			}
		}
		d := &decoder{errs: errs, env: env, r: r, m: props, path: joinKey(path, "Properties")}
		p, physical := r.typ.decode(d)
		s := &state{ref: &node{kind: kUnknown}, attrs: map[string]*node{}}
		for _, a := range r.typ.attrs {
			s.attrs[a] = &node{kind: kUnknown}
		}
		if physical != "" {
			key := r.typ.name + "\x00" + physical
			if first, dup := names[key]; dup {
				errs.add(r.line, r.col, path, "%s %s is also Resources.%s (line %d): each %s needs its own", r.typ.refIs, quoteShort(physical), first.id, first.line, r.typ.name)
			}
			names[key] = r
		}
		if physical != "" && env != nil {
			s.ref = &node{kind: kString, text: physical}
			for _, a := range r.typ.attrs {
				s.attrs[a] = &node{kind: kString, text: r.typ.attr(env, physical, a)}
			}
		}
		e.res[r.id] = s
		out = append(out, Resource{
			LogicalID: r.id, Type: r.typ.name, PhysicalID: physical, Properties: p,
			DependsOn: slices.Clone(r.deps), DeletionPolicy: r.deletionPolicy, Protected: r.protected,
		})
	}
	var outs []Output
	for _, o := range t.outputs {
		path := joinKey(joinKey("Outputs", o.name), "Value")
		v := e.eval(o.value, path)
		var s string
		switch v.kind {
		case kUnknown:
		case kString, kNumber, kBool:
			s = v.text
		case kList:
			items := make([]string, 0, len(v.items))
			for _, it := range v.items {
				if text, ok := scalarText(it); ok {
					items = append(items, text)
				} else if it.kind != kUnknown {
					errs.at(it, path, "an output's list holds strings, not %s", it.describe())
				}
			}
			s = strings.Join(items, ",")
		default:
			errs.at(v, path, "an output's Value is a string, not %s", v.describe())
		}
		outs = append(outs, Output{Name: o.name, Description: o.description, Value: s})
	}
	if errs.empty() {
		checkPolicies(out, t.resource, errs)
	}
	if !errs.empty() {
		return nil, nil, errs.err()
	}
	if env == nil {
		return nil, nil, nil
	}
	for i := range out {
		out[i].Hash = Hash(out[i].Properties)
	}
	return out, outs, nil
}

// Hash is the SHA-256, in hex, of a resource's type and properties, as
// Resource.Hash has it. Hash the properties read back from a deployed
// resource to compare them with a rendering.
func Hash(p Properties) string {
	b, err := json.Marshal(struct {
		Type       string
		Properties Properties
	}{p.ResourceType(), p})
	if err != nil {
		// The property types encode always; a failure here is a bug.
		panic(fmt.Sprintf("stacktemplate: encoding %s: %v", p.ResourceType(), err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Difference is one field in which a deployed resource differs from its
// rendering: what drift detection reports.
type Difference struct {
	// Path is the field: RetentionInDays, KeyPolicy.Statement[0].Effect,
	// Content.inputs.idleSessionTimeout.
	Path string
	// Want is the template's value and Got the resource's, as JSON
	// decodes them (strings, json.Numbers, bools, lists, maps); nil where
	// the field is absent.
	Want, Got any
}

// Diff compares a rendering's properties with those read back from the
// deployed resource, field by field, and returns the fields that differ,
// in order of their paths. Properties of two different types differ in the
// one field "Type".
func Diff(want, got Properties) []Difference {
	if want.ResourceType() != got.ResourceType() {
		return []Difference{{Path: "Type", Want: want.ResourceType(), Got: got.ResourceType()}}
	}
	var diffs []Difference
	diffValues("", jsonTree(want), jsonTree(got), &diffs)
	return diffs
}

func jsonTree(p Properties) any {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("stacktemplate: encoding %s: %v", p.ResourceType(), err))
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		panic(fmt.Sprintf("stacktemplate: decoding %s: %v", p.ResourceType(), err))
	}
	return v
}

func diffValues(path string, want, got any, diffs *[]Difference) {
	switch w := want.(type) {
	case map[string]any:
		if g, ok := got.(map[string]any); ok {
			keys := make([]string, 0, len(w)+len(g))
			for k := range w {
				keys = append(keys, k)
			}
			for k := range g {
				if _, ok := w[k]; !ok {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range keys {
				diffValues(joinKey(path, k), w[k], g[k], diffs)
			}
			return
		}
	case []any:
		if g, ok := got.([]any); ok && len(g) == len(w) {
			for i := range w {
				diffValues(joinIndex(path, i), w[i], g[i], diffs)
			}
			return
		}
	case json.Number:
		// 30 and 30.0 are the same number.
		if g, ok := got.(json.Number); ok {
			a, errA := w.Float64()
			b, errB := g.Float64()
			if errA == nil && errB == nil && a == b {
				return
			}
		}
	default:
		if want == got {
			return
		}
	}
	*diffs = append(*diffs, Difference{Path: path, Want: want, Got: got})
}
