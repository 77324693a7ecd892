package subscriptions

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/postern/postern/api"
)

// ParseJSONPath splits an input path of EventBridge's input transformers:
// $ then .name or [index] steps ($.detail.target.tags.env, $.resources[0]).
func ParseJSONPath(p string) ([]string, error) {
	rest, ok := strings.CutPrefix(p, "$")
	if !ok {
		return nil, fmt.Errorf("%q: a path starts with $", p)
	}
	if len(p) > 256 {
		return nil, fmt.Errorf("path of %d characters: at most 256", len(p))
	}
	var steps []string
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, fmt.Errorf("%q: an empty name", p)
			}
			steps = append(steps, rest[:end])
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("%q: [ without ]", p)
			}
			if _, err := strconv.Atoi(rest[1:end]); err != nil {
				return nil, fmt.Errorf("%q: [%s] is not an index", p, rest[1:end])
			}
			steps = append(steps, rest[:end+1])
			rest = rest[end+1:]
		default:
			return nil, fmt.Errorf("%q: expected . or [ at %q", p, rest)
		}
	}
	return steps, nil
}

// lookup follows steps into a decoded JSON value.
func lookup(v any, steps []string) (any, bool) {
	for _, s := range steps {
		if strings.HasPrefix(s, "[") {
			i, _ := strconv.Atoi(s[1 : len(s)-1])
			a, ok := v.([]any)
			if !ok || i < 0 || i >= len(a) {
				return nil, false
			}
			v = a[i]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[s]; !ok {
			return nil, false
		}
	}
	return v, true
}

// Transform applies an input transformer to an event's JSON: each <name>
// of the template becomes the value at its path, a string as it is and
// anything else as JSON (a missing one as nothing), as EventBridge does
// for a template that is not JSON; <aws.events.event.json> is the whole
// event, <aws.events.rule-name> the rule's name.
func Transform(event []byte, rule string, tr *api.InputTransformer) (string, error) {
	var v any
	if err := json.Unmarshal(event, &v); err != nil {
		return "", fmt.Errorf("the event is not JSON: %w", err)
	}
	var err error
	out := rePlaceholder.ReplaceAllStringFunc(tr.InputTemplate, func(ph string) string {
		name := ph[1 : len(ph)-1]
		switch name {
		case "aws.events.event.json", "aws.events.event":
			return string(event)
		case "aws.events.rule-name":
			return rule
		}
		path, ok := tr.InputPathsMap[name]
		if !ok {
			return ph
		}
		steps, perr := ParseJSONPath(path)
		if perr != nil {
			err = perr
			return ""
		}
		val, ok := lookup(v, steps)
		if !ok || val == nil {
			return ""
		}
		if s, ok := val.(string); ok {
			return s
		}
		b, _ := json.Marshal(val)
		return string(b)
	})
	return out, err
}
