package runcommand

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/postern/postern/api"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/lazyregexp"
	"github.com/postern/postern/store"
)

// Target keys, as Run Command's.
const (
	KeyInstanceIDs = "InstanceIds"
	keyTagPrefix   = "tag:"
	KeyTagKey      = "tag-key"
)

// Run Command's bounds on targets, which Postern keeps.
const (
	MaxTargets      = 5  // targets of one command
	MaxTargetValues = 50 // values of one target
	maxTagKey       = 128
	maxTagValue     = 256
)

// ParseTargets reads --targets flags into targets. Each flag is one
// target in the AWS CLI's shorthand, Key=tag:env,Values=prod,staging (the
// names in any case), or JSON: one target object or a list of them
// ([{"Key":"tag:env","Values":["prod"]}]). The targets are checked as
// CheckTargets checks them.
func ParseTargets(flags []string) ([]api.CommandTarget, error) {
	var out []api.CommandTarget
	for _, f := range flags {
		ts, err := parseTarget(f)
		if err != nil {
			return nil, fmt.Errorf("--targets %s: %w", clip(f), err)
		}
		out = append(out, ts...)
	}
	if err := CheckTargets(out); err != nil {
		return nil, err
	}
	return out, nil
}

func parseTarget(f string) ([]api.CommandTarget, error) {
	s := strings.TrimSpace(f)
	switch {
	case strings.HasPrefix(s, "["):
		var ts []api.CommandTarget
		if err := strictJSON(s, &ts); err != nil {
			return nil, fmt.Errorf("not a JSON list of targets: %w", err)
		}
		return ts, nil
	case strings.HasPrefix(s, "{"):
		var t api.CommandTarget
		if err := strictJSON(s, &t); err != nil {
			return nil, fmt.Errorf("not a JSON target: %w", err)
		}
		return []api.CommandTarget{t}, nil
	}
	// Key=K,Values=V1,V2, as the AWS CLI's shorthand: Key first, and
	// everything after Values= is the values.
	keyPart, valuesPart, ok := cutFold(s, ",values=")
	if !ok {
		return nil, fmt.Errorf("want Key=KEY,Values=VALUE[,VALUE...] (e.g. Key=tag:env,Values=prod)")
	}
	key, ok := cutPrefixFold(keyPart, "key=")
	if !ok {
		return nil, fmt.Errorf("want Key=KEY,Values=VALUE[,VALUE...] (e.g. Key=tag:env,Values=prod)")
	}
	t := api.CommandTarget{Key: key}
	if valuesPart != "" {
		t.Values = strings.Split(valuesPart, ",")
	}
	return []api.CommandTarget{t}, nil
}

// strictJSON decodes s into v, refusing unknown fields and trailing data.
func strictJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

// cutFold is strings.Cut with sep, lowercase ASCII, matched in any case
// of ASCII letters.
func cutFold(s, sep string) (before, after string, ok bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if asciiFold(s[i:i+len(sep)], sep) {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && asciiFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// asciiFold reports whether s is lower, a lowercase ASCII string, with
// any of its letters in upper case.
func asciiFold(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// tagKeyRE is what Postern's tags may be called: what activations and
// nodes take (letters, digits, spaces and _.:/=+-@, as AWS's tags).
var tagKeyRE = lazyregexp.New(`^[\p{L}\p{N}\s_.:/=+\-@]{1,128}$`)

// CheckTargets reports what is wrong with targets, naming the target and
// the field: each has a known key (InstanceIds, tag:NAME or tag-key) and
// 1–50 values, node ids for InstanceIds; at most 5 targets.
func CheckTargets(ts []api.CommandTarget) error {
	if len(ts) > MaxTargets {
		return fmt.Errorf("targets: %d targets; a command takes at most %d", len(ts), MaxTargets)
	}
	for i, t := range ts {
		at := fmt.Sprintf("targets[%d]", i)
		switch {
		case t.Key == KeyInstanceIDs, t.Key == KeyTagKey:
		case strings.HasPrefix(t.Key, keyTagPrefix):
			if name := t.Key[len(keyTagPrefix):]; !tagKeyRE.MatchString(name) {
				return fmt.Errorf("%s.key: %s is not a tag name: 1–%d letters, digits, spaces and _.:/=+-@", at, strconv.Quote(clip(name)), maxTagKey)
			}
		default:
			return fmt.Errorf("%s.key: %s is not a target key: use InstanceIds, tag:NAME or tag-key", at, strconv.Quote(clip(t.Key)))
		}
		if len(t.Values) == 0 {
			return fmt.Errorf("%s.values: required: at least one value", at)
		}
		if len(t.Values) > MaxTargetValues {
			return fmt.Errorf("%s.values: %d values; a target takes at most %d", at, len(t.Values), MaxTargetValues)
		}
		for j, v := range t.Values {
			vat := fmt.Sprintf("%s.values[%d]", at, j)
			switch {
			case t.Key == KeyInstanceIDs && !ids.ValidNode(v):
				return fmt.Errorf("%s: %s is not a node id (mi- and 17 hex digits)", vat, strconv.Quote(clip(v)))
			case t.Key == KeyTagKey && !tagKeyRE.MatchString(v):
				return fmt.Errorf("%s: %s is not a tag name", vat, strconv.Quote(clip(v)))
			case v == "" && t.Key != KeyInstanceIDs:
				return fmt.Errorf("%s: empty", vat)
			case !utf8.ValidString(v) || len(v) > maxTagValue:
				return fmt.Errorf("%s: %s is not a tag value: up to %d characters of text", vat, strconv.Quote(clip(v)), maxTagValue)
			}
			if slices.Contains(t.Values[:j], v) {
				return fmt.Errorf("%s: %s is given twice", vat, strconv.Quote(clip(v)))
			}
		}
	}
	return nil
}

// Matches reports whether node n is picked by every target of ts.
func Matches(ts []api.CommandTarget, n store.Node) bool {
	for _, t := range ts {
		if !matches(t, n) {
			return false
		}
	}
	return len(ts) > 0
}

func matches(t api.CommandTarget, n store.Node) bool {
	switch {
	case t.Key == KeyInstanceIDs:
		return slices.Contains(t.Values, n.ID)
	case t.Key == KeyTagKey:
		for _, k := range t.Values {
			if _, ok := n.Tags[k]; ok {
				return true
			}
		}
		return false
	case strings.HasPrefix(t.Key, keyTagPrefix):
		v, ok := n.Tags[t.Key[len(keyTagPrefix):]]
		return ok && slices.Contains(t.Values, v)
	}
	return false
}

// Limit is a command's MaxConcurrency or MaxErrors: a number, or a
// percentage of its nodes.
type Limit struct {
	N       int
	Percent bool
}

// Run Command's forms of the limits.
var (
	concurrencyRE = lazyregexp.New(`^([1-9][0-9]{0,5}|[1-9][0-9]?%|100%)$`)
	errorsRE      = lazyregexp.New(`^(0|[1-9][0-9]{0,5}|[1-9][0-9]%|[0-9]%|100%)$`)
)

// The limits when a command gives none: Run Command's.
const (
	DefaultMaxConcurrency = "50"
	DefaultMaxErrors      = "0"
)

// ParseMaxConcurrency reads a MaxConcurrency: 1 or more nodes, or 1% to
// 100% of them.
func ParseMaxConcurrency(s string) (Limit, error) {
	if !concurrencyRE.MatchString(s) {
		return Limit{}, fmt.Errorf("maxConcurrency: %s is not a number of nodes (1 or more) or a percentage of them (1%% to 100%%)", strconv.Quote(clip(s)))
	}
	return parseLimit(s), nil
}

// ParseMaxErrors reads a MaxErrors: 0 or more errors, or 0% to 100% of
// the nodes.
func ParseMaxErrors(s string) (Limit, error) {
	if !errorsRE.MatchString(s) {
		return Limit{}, fmt.Errorf("maxErrors: %s is not a number of errors (0 or more) or a percentage of the nodes (0%% to 100%%)", strconv.Quote(clip(s)))
	}
	return parseLimit(s), nil
}

func parseLimit(s string) Limit {
	n, pct := strings.CutSuffix(s, "%")
	v, _ := strconv.Atoi(n) // the patterns allow digits only
	return Limit{N: v, Percent: pct}
}

// Of is the limit for a command on nodes nodes: a percentage of them
// rounded down.
func (l Limit) Of(nodes int) int {
	if !l.Percent {
		return l.N
	}
	return nodes * l.N / 100
}

// concurrencyOf is how many nodes run at once: a percentage rounds down,
// but never to none.
func concurrencyOf(l Limit, nodes int) int { return max(1, l.Of(nodes)) }

// clip shortens what a caller sent for an error message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
