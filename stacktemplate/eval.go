package stacktemplate

import (
	"strings"
)

// maxRendered bounds the bytes of text that references put into one
// rendering. A template is at most MaxSize bytes, but each !Ref of a
// 4 KiB parameter value, or each ${} of one, copies it: without a bound,
// 256 KiB of references would render to half a gigabyte. 4 MiB is many
// times what a real template renders to (a session document is at most
// 64 KiB).
const maxRendered = 4 << 20

// evaluator turns nodes with functions into their values, for one
// rendering (or, with env nil, for Parse's check of what is written out).
type evaluator struct {
	env    *Env             // nil: the account is not known
	params map[string]*node // nil: parameters are not known
	res    map[string]*state
	errs   *errList
	budget int  // bytes references may still add
	over   bool // the budget ran out, and that was reported
}

// state is what other resources can know of a rendered resource: its Ref
// and attributes, each kUnknown until known.
type state struct {
	ref   *node
	attrs map[string]*node
}

func unknown(at *node) *node { return &node{kind: kUnknown, line: at.line, col: at.col} }

func (e *evaluator) spend(at *node, path string, n int) bool {
	e.budget -= n
	if e.budget >= 0 {
		return true
	}
	if !e.over {
		e.over = true
		e.errs.at(at, path, "the rendered template would hold more than %d bytes of substituted text", maxRendered)
	}
	return false
}

// eval returns the value of n: n itself when it has no functions.
func (e *evaluator) eval(n *node, path string) *node {
	switch n.kind {
	case kFn:
		return e.fn(n, path)
	case kList:
		var out *node
		for i, it := range n.items {
			v := e.eval(it, joinIndex(path, i))
			if v != it && out == nil {
				out = &node{kind: kList, line: n.line, col: n.col, items: append([]*node{}, n.items[:i]...)}
			}
			if out != nil {
				out.items = append(out.items, v)
			}
		}
		if out != nil {
			return out
		}
	case kMap:
		var out *node
		for i, k := range n.keys {
			v := e.eval(n.vals[i], joinKey(path, k.text))
			if v != n.vals[i] && out == nil {
				out = &node{kind: kMap, line: n.line, col: n.col, keys: n.keys, vals: append([]*node{}, n.vals[:i]...)}
			}
			if out != nil {
				out.vals = append(out.vals, v)
			}
		}
		if out != nil {
			return out
		}
	}
	return n
}

func (e *evaluator) fn(n *node, path string) *node {
	f := n.fn
	switch f.name {
	case "Ref":
		return e.ref(n, path, f.target)
	case "Fn::GetAtt":
		return e.getAtt(n, path, f.target, f.attr)
	}
	// Fn::Sub
	vars := map[string]*node{}
	for _, v := range f.vars {
		vars[v.name] = e.eval(v.val, joinKey(path, v.name))
	}
	var b strings.Builder
	known := true
	for _, p := range f.parts {
		if p.name == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := vars[p.name]
		if !ok {
			if name, attr, dotted := strings.Cut(p.name, "."); dotted && !strings.HasPrefix(p.name, "AWS::") {
				v = e.getAtt(n, path, name, attr)
			} else {
				v = e.ref(n, path, p.name)
			}
		}
		switch v.kind {
		case kUnknown:
			known = false
		case kString, kNumber, kBool:
			b.WriteString(v.text)
		default:
			// A list parameter is reported by Parse; a variable may
			// still be given one.
			e.errs.at(n, path, "${%s} is %s, which Fn::Sub cannot put in a string", p.name, v.describe())
			known = false
		}
		if b.Len() > maxRendered {
			known = false
			e.spend(n, path, maxRendered+1)
			break
		}
	}
	if !known {
		return unknown(n)
	}
	if !e.spend(n, path, b.Len()) {
		return unknown(n)
	}
	return &node{kind: kString, line: n.line, col: n.col, text: b.String(), textLine: f.textLine, textCol: f.textCol}
}

// ref is the value of !Ref name. Names that name nothing were reported by
// Parse; they are unknown here.
func (e *evaluator) ref(n *node, path, name string) *node {
	if strings.HasPrefix(name, "AWS::") {
		if e.env == nil {
			return unknown(n)
		}
		var s string
		switch name {
		case PseudoAccountID:
			s = e.env.AccountID
		case PseudoRegion:
			s = e.env.Region
		case PseudoPartition:
			s = e.env.partition()
		case PseudoStackName:
			s = e.env.StackName
		default:
			return unknown(n)
		}
		return &node{kind: kString, line: n.line, col: n.col, text: s}
	}
	if v, ok := e.params[name]; ok {
		if !e.spend(n, path, size(v)) {
			return unknown(n)
		}
		// The value is where the reference is, for errors about it.
		c := *v
		c.line, c.col = n.line, n.col
		return &c
	}
	if s, ok := e.res[name]; ok && s.ref.kind != kUnknown {
		if !e.spend(n, path, len(s.ref.text)) {
			return unknown(n)
		}
		return &node{kind: kString, line: n.line, col: n.col, text: s.ref.text}
	}
	return unknown(n)
}

func (e *evaluator) getAtt(n *node, path, name, attr string) *node {
	s, ok := e.res[name]
	if !ok {
		return unknown(n)
	}
	v, ok := s.attrs[attr]
	if !ok || v.kind == kUnknown {
		return unknown(n)
	}
	if !e.spend(n, path, len(v.text)) {
		return unknown(n)
	}
	return &node{kind: kString, line: n.line, col: n.col, text: v.text}
}

// size is the bytes of text in a parameter's value.
func size(v *node) int {
	if v.kind == kList {
		total := 0
		for _, it := range v.items {
			total += len(it.text) + 1
		}
		return total
	}
	return len(v.text)
}

// hasUnknown reports whether n holds a value not yet known.
func hasUnknown(n *node) bool {
	switch n.kind {
	case kUnknown:
		return true
	case kList:
		for _, it := range n.items {
			if hasUnknown(it) {
				return true
			}
		}
	case kMap:
		for _, v := range n.vals {
			if hasUnknown(v) {
				return true
			}
		}
	}
	return false
}
