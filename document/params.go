package document

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ParseParameters reads the values of --parameters flags into what Resolve
// takes. Each flag is one of the forms people bring from the AWS CLI:
//
//   - JSON: {"logPath":["/var/log/syslog"],"lines":"20"} — a value is a
//     string or a list of strings; a list of one is that string, a longer
//     list is passed as the JSON list a StringList parameter takes;
//   - shorthand: logPath=/var/log/syslog,lines=20 — a comma starts a new
//     parameter only where a name and "=" follow, so values may hold commas
//     (pattern=a,b is "a,b"); a value in double quotes may hold anything,
//     with \" and \\ as escapes; [a,b] or ["a","b"] is a list.
//
// A parameter given twice is an error, as is a malformed flag; the error
// names the flag's text and what is wrong with it.
func ParseParameters(flags []string) (map[string]string, error) {
	out := map[string]string{}
	set := func(k, v string) error {
		if _, dup := out[k]; dup {
			return fmt.Errorf("parameter %q given twice", k)
		}
		out[k] = v
		return nil
	}
	for _, f := range flags {
		if strings.HasPrefix(strings.TrimSpace(f), "{") {
			if err := parseJSONParams(f, set); err != nil {
				return nil, fmt.Errorf("--parameters %s: %w", f, err)
			}
			continue
		}
		if err := parseShorthandParams(f, set); err != nil {
			return nil, fmt.Errorf("--parameters %s: %w", f, err)
		}
	}
	return out, nil
}

func parseJSONParams(f string, set func(k, v string) error) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(f), &m); err != nil {
		return fmt.Errorf("not a JSON object of parameters: %w", err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !isParamName(k) {
			return fmt.Errorf("%q is not a parameter name", k)
		}
		var s string
		if json.Unmarshal(m[k], &s) == nil {
			if err := set(k, s); err != nil {
				return err
			}
			continue
		}
		var list []string
		if err := json.Unmarshal(m[k], &list); err != nil {
			return fmt.Errorf("%s: want a string or a list of strings, got %s", k, m[k])
		}
		if err := set(k, listValue(list)); err != nil {
			return err
		}
	}
	return nil
}

// listValue is how a list reaches Resolve: one item as itself (so a String
// parameter takes it, as the AWS CLI's ["80"] does), more as a JSON list.
func listValue(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	b, _ := json.Marshal(items)
	return string(b)
}

func parseShorthandParams(f string, set func(k, v string) error) error {
	s := f
	for len(s) > 0 {
		name, rest, ok := strings.Cut(s, "=")
		if !ok || !isParamName(name) {
			return fmt.Errorf("%q is not name=value", cutAtComma(s))
		}
		val, rest, err := shorthandValue(rest)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := set(name, val); err != nil {
			return err
		}
		s = rest
	}
	return nil
}

// shorthandValue reads one value from the start of s and returns it with
// what follows its separating comma.
func shorthandValue(s string) (val, rest string, err error) {
	switch {
	case strings.HasPrefix(s, `"`):
		v, n, err := quoted(s)
		if err != nil {
			return "", "", err
		}
		rest, err := afterValue(s[n:])
		return v, rest, err
	case strings.HasPrefix(s, "["):
		end := listEnd(s)
		if end < 0 {
			return "", "", fmt.Errorf("list %q has no closing ]", s)
		}
		var items []string
		if err := json.Unmarshal([]byte(s[:end]), &items); err != nil {
			items, err = bareList(s[1 : end-1])
			if err != nil {
				return "", "", err
			}
		}
		rest, err := afterValue(s[end:])
		return listValue(items), rest, err
	}
	// A plain value runs to the next comma that a name= follows.
	for i := 0; i < len(s); i++ {
		if s[i] != ',' {
			continue
		}
		if name, _, ok := strings.Cut(s[i+1:], "="); ok && isParamName(name) {
			return s[:i], s[i+1:], nil
		}
	}
	return s, "", nil
}

// afterValue checks that a quoted value or a list ends the flag or is
// followed by a comma and the next parameter.
func afterValue(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if s[0] != ',' || len(s) == 1 {
		return "", fmt.Errorf("unexpected %q after the value", s)
	}
	return s[1:], nil
}

// quoted reads a double-quoted string at the start of s and returns it and
// how many bytes it took.
func quoted(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
				i++
				b.WriteByte(s[i])
				continue
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("%s has no closing quote", s)
}

// listEnd returns the index just after the ] closing the list that s
// starts with, skipping brackets in double quotes, or -1.
func listEnd(s string) int {
	inQuote := false
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case ']':
			if !inQuote {
				return i + 1
			}
		}
	}
	return -1
}

// bareList splits the AWS CLI's unquoted list form, a,b,c, where items may
// also be double-quoted.
func bareList(s string) ([]string, error) {
	items := []string{}
	if strings.TrimSpace(s) == "" {
		return items, nil
	}
	for {
		s = strings.TrimLeft(s, " ")
		if strings.HasPrefix(s, `"`) {
			v, n, err := quoted(s)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
			s = strings.TrimLeft(s[n:], " ")
			if s == "" {
				return items, nil
			}
			if s[0] != ',' {
				return nil, fmt.Errorf("unexpected %q in a list", s)
			}
			s = s[1:]
			continue
		}
		item, rest, more := strings.Cut(s, ",")
		items = append(items, strings.TrimSpace(item))
		if !more {
			return items, nil
		}
		s = rest
	}
}

// isParamName reports whether s is a parameter name as documents may
// declare them.
func isParamName(s string) bool { return paramNameRE.MatchString(s) }

func cutAtComma(s string) string {
	v, _, _ := strings.Cut(s, ",")
	return v
}
