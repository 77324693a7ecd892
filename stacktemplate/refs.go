package stacktemplate

import (
	"slices"
	"strings"
)

// The pseudo parameters a template may use, which Env gives values.
const (
	PseudoAccountID = "AWS::AccountId"
	PseudoRegion    = "AWS::Region"
	PseudoPartition = "AWS::Partition"
	PseudoStackName = "AWS::StackName"
)

var (
	pseudoParams      = []string{PseudoAccountID, PseudoRegion, PseudoPartition, PseudoStackName}
	unsupportedPseudo = []string{"AWS::NoValue", "AWS::NotificationARNs", "AWS::StackId", "AWS::URLSuffix"}
)

// checkReferences checks that every name a function uses names something,
// and records what each resource depends on.
func (t *Template) checkReferences(errs *errList) {
	params := map[string]*Parameter{}
	var names []string // for suggestions
	for _, p := range t.params {
		params[p.Name] = p
		names = append(names, p.Name)
	}
	res := map[string]*resource{}
	for _, r := range t.resources {
		if p, dup := params[r.id]; dup {
			errs.add(r.line, r.col, joinKey("Resources", r.id), "the logical id is also a parameter's (line %d): a !Ref would not know which is meant", p.Line)
		}
		res[r.id] = r
		names = append(names, r.id)
	}
	resNames := make([]string, len(t.resources))
	for i, r := range t.resources {
		resNames[i] = r.id
	}

	// ref checks a !Ref or ${name}, and returns the resource it names, if
	// it is one.
	ref := func(n *node, path, name, shown string) *resource {
		switch {
		case slices.Contains(pseudoParams, name):
			return nil
		case slices.Contains(unsupportedPseudo, name):
			errs.at(n, path, "%s: the pseudo parameter %s is not supported (the ones there are: %s)", shown, name, strings.Join(pseudoParams, ", "))
		case strings.HasPrefix(name, "AWS::"):
			errs.at(n, path, "%s names no pseudo parameter%s", shown, didYouMean(name, pseudoParams))
		case params[name] != nil:
			return nil
		case res[name] != nil:
			return res[name]
		default:
			errs.at(n, path, "%s names no parameter or resource%s", shown, didYouMean(name, names))
		}
		return nil
	}
	getAtt := func(n *node, path, name, attr, shown string) *resource {
		r := res[name]
		if r == nil {
			msg := " (there are no resources)"
			if len(resNames) > 0 {
				msg = didYouMean(name, resNames)
			}
			errs.at(n, path, "%s names no resource%s", shown, msg)
			return nil
		}
		if !slices.Contains(r.typ.attrs, attr) {
			if len(r.typ.attrs) == 0 {
				errs.at(n, path, "%s: %s %s has no attributes (use !Ref %s for its %s)", shown, r.typ.name, name, name, r.typ.refIs)
			} else {
				errs.at(n, path, "%s: %s %s has no attribute %s%s", shown, r.typ.name, name, attr, didYouMean(attr, r.typ.attrs))
			}
			return nil
		}
		return r
	}
	// uses walks n, reporting bad names and calling dep with each
	// resource it depends on.
	uses := func(n *node, path string, dep func(*resource)) {
		walkFns(n, path, func(n *node, path string) {
			f := n.fn
			switch f.name {
			case "Ref":
				if r := ref(n, path, f.target, f.String()); r != nil {
					dep(r)
				}
			case "Fn::GetAtt":
				if r := getAtt(n, path, f.target, f.attr, f.String()); r != nil {
					dep(r)
				}
			case "Fn::Sub":
				for _, p := range f.parts {
					if p.name == "" || slices.ContainsFunc(f.vars, func(v subVar) bool { return v.name == p.name }) {
						continue
					}
					shown := "${" + p.name + "}"
					if name, attr, ok := strings.Cut(p.name, "."); ok && !strings.HasPrefix(p.name, "AWS::") {
						if r := getAtt(n, path, name, attr, shown); r != nil {
							dep(r)
						}
						continue
					}
					if r := ref(n, path, p.name, shown); r != nil {
						dep(r)
					}
					if q := params[p.name]; q != nil && q.Type == CommaDelimitedList {
						errs.at(n, path, "%s is a CommaDelimitedList parameter, a list, which Fn::Sub cannot put in a string", shown)
					}
				}
			}
		})
	}

	for _, r := range t.resources {
		seen := map[string]bool{}
		var deps []*resource
		dep := func(d *resource) {
			if !seen[d.id] {
				seen[d.id] = true
				deps = append(deps, d)
			}
		}
		for i, name := range r.dependsOn {
			d := res[name]
			if d == nil {
				errs.add(r.line, r.col, joinIndex(joinKey(joinKey("Resources", r.id), "DependsOn"), i), "%s names no resource%s", name, didYouMean(name, resNames))
				continue
			}
			dep(d)
		}
		if r.props != nil {
			uses(r.props, joinKey(joinKey("Resources", r.id), "Properties"), dep)
		}
		slices.SortFunc(deps, func(a, b *resource) int { return t.index(a) - t.index(b) })
		for _, d := range deps {
			r.deps = append(r.deps, d.id)
		}
	}
	for _, o := range t.outputs {
		uses(o.value, joinKey(joinKey("Outputs", o.name), "Value"), func(*resource) {})
	}
}

func (t *Template) index(r *resource) int { return slices.Index(t.resources, r) }

func (t *Template) resource(id string) *resource {
	for _, r := range t.resources {
		if r.id == id {
			return r
		}
	}
	return nil
}

// sortResources puts the resources in dependency order, reporting each
// cycle: a resource that depends, through others or directly, on itself.
// It reports whether there was none.
func (t *Template) sortResources(errs *errList) bool {
	acyclic := true
	const (
		unvisited = iota
		visiting
		done
	)
	state := make(map[string]int, len(t.resources))
	var stack []string
	var visit func(r *resource)
	visit = func(r *resource) {
		switch state[r.id] {
		case done:
			return
		case visiting:
			i := slices.Index(stack, r.id)
			cycle := append(slices.Clone(stack[i:]), r.id)
			// Report it at the resource of the cycle written first, once.
			first := t.resource(cycle[0])
			for _, id := range cycle {
				if c := t.resource(id); t.index(c) < t.index(first) {
					first = c
				}
			}
			acyclic = false
			if first == r {
				errs.add(r.line, r.col, joinKey("Resources", r.id), "circular reference: %s", strings.Join(cycle, " → "))
			} else {
				// Rotate, so that the message starts where it is reported.
				j := slices.Index(cycle[:len(cycle)-1], first.id)
				rot := append(slices.Clone(cycle[j:len(cycle)-1]), cycle[:j+1]...)
				errs.add(first.line, first.col, joinKey("Resources", first.id), "circular reference: %s", strings.Join(rot, " → "))
			}
			return
		}
		state[r.id] = visiting
		stack = append(stack, r.id)
		for _, d := range r.deps {
			visit(t.resource(d))
		}
		stack = stack[:len(stack)-1]
		state[r.id] = done
		t.order = append(t.order, r)
	}
	for _, r := range t.resources {
		visit(r)
	}
	return acyclic
}
