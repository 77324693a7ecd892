package document

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/postern/postern/suggest"
)

// Shell is the program that runs the commands of a commands document.
const Shell = "/bin/sh"

// Port forwarding types: properties.type of a Port document.
const (
	// LocalPortForwarding: the client listens on LocalPortNumber and
	// forwards each connection it accepts (AWS-StartPortForwardingSession).
	LocalPortForwarding = "LocalPortForwarding"
	// StdioForwarding, properties.type left out: the client forwards one
	// connection over its stdin and stdout, as ssh's ProxyCommand wants
	// (AWS-StartSSHSession). This is what Session Manager's client does too.
	StdioForwarding = ""
	// RemoteDesktop: the server itself is the client, with its desktop
	// engine, and shows the node's RDP desktop in the browser
	// (Postern-StartDesktopSession). A Postern extension.
	RemoteDesktop = "RemoteDesktop"
)

// Resolved is the session a document starts, with its parameters
// substituted.
type Resolved struct {
	SessionType SessionType

	// Inputs are the preferences of a Standard_Stream session: a copy.
	Inputs *Inputs

	// Command is what an InteractiveCommands or NonInteractiveCommands
	// session runs: Shell, "-c" and the commands, one per line, with every
	// parameter value inside a command shell-quoted so that it is one word
	// of data. (A line that is nothing but one placeholder takes the value
	// as the command itself; see the package's shell.go.)
	Command []string
	// RunAsElevated asks for the command to run as root.
	RunAsElevated bool
	// SeparateOutputStream and its prefixes ask that a non-interactive
	// command's stdout and stderr are told apart (Session Manager's
	// separateOutputStream, stdOutSeparatorPrefix, stdErrSeparatorPrefix).
	SeparateOutputStream  bool
	StdoutSeparatorPrefix string
	StderrSeparatorPrefix string

	// Port is what a Port session forwards to.
	Port *PortForward
}

// PortForward is where a Port session forwards connections.
type PortForward struct {
	// Type is LocalPortForwarding, StdioForwarding or RemoteDesktop.
	Type string
	// PortNumber is the port connected to, 1–65535.
	PortNumber int
	// Host is the host connected to, as the node resolves it; "" is the
	// node itself.
	Host string
	// LocalPortNumber is the client's port to listen on for
	// LocalPortForwarding, 0–65535; 0 lets the client choose.
	LocalPortNumber int
	// AllowLinkLocal lets the session reach link-local and cloud metadata
	// addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, ...), which are
	// refused otherwise: from a node they hand out its credentials. A
	// Postern extension (properties.allowLinkLocal).
	AllowLinkLocal bool
}

// Resolve substitutes params for the document's parameters and returns the
// session to start. Parameters not given take their defaults; a parameter
// without one must be given; each value must fit its declaration (type,
// allowedValues, allowedPattern, lengths), and parameters the document does
// not declare are errors.
//
// A StringList parameter is given as a JSON list of strings (["a","b"]);
// any other text is a list of that one string.
//
// The commands run are the Linux ones (properties.linux, or properties
// itself), as on macOS nodes; ResolveOn gives a Windows node's.
func (d *Document) Resolve(params map[string]string) (*Resolved, error) {
	return d.ResolveOn(Linux, params)
}

// Platforms a document resolves for: the node's operating system, as its
// agent reports it (Go's GOOS). Anything but Windows runs the Linux
// commands.
const (
	Linux   = "linux"
	Windows = "windows"
)

// ResolveOn is Resolve for a node running platform: on Windows, the
// commands are properties.windows.commands, run by Windows PowerShell.
func (d *Document) ResolveOn(platform string, params map[string]string) (*Resolved, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	vals, err := d.values(params)
	if err != nil {
		return nil, err
	}
	r := &Resolved{SessionType: d.SessionType}
	switch d.SessionType {
	case StandardStream:
		in := *d.Inputs
		r.Inputs = &in
	case Port:
		r.Port, err = resolvePort(d.Properties, vals)
	case InteractiveCommands, NonInteractiveCommands:
		if platform == Windows {
			err = resolveWindowsCommands(r, d, vals)
		} else {
			err = resolveCommands(r, d, vals)
		}
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// values works out the value of every parameter.
func (d *Document) values(params map[string]string) (map[string]value, error) {
	var errs []error
	for _, name := range sortedKeys(params) {
		if _, ok := d.Parameters[name]; ok {
			continue
		}
		shown := name
		if !paramNameRE.MatchString(name) {
			shown = quoteShort(name)
		}
		switch s := suggest.Closest(name, sortedKeys(d.Parameters)); {
		case len(d.Parameters) == 0:
			errs = append(errs, fmt.Errorf("parameter %s: this document takes no parameters", shown))
		case s != "":
			errs = append(errs, fmt.Errorf("parameter %s: not a parameter of this document (did you mean %s?)", shown, s))
		default:
			errs = append(errs, fmt.Errorf("parameter %s: not a parameter of this document (it has %s)", shown, strings.Join(sortedKeys(d.Parameters), ", ")))
		}
	}
	vals := make(map[string]value, len(d.Parameters))
	for _, name := range sortedKeys(d.Parameters) {
		p := d.Parameters[name]
		var val value
		var err error
		if s, ok := params[name]; ok {
			val, err = givenValue(p, s)
		} else if p.Default != nil {
			val, err = defaultValue(p)
		} else {
			errs = append(errs, fmt.Errorf("parameter %s: required (the document gives it no default)", name))
			continue
		}
		if err == nil {
			re, _ := compilePattern(p.AllowedPattern) // Validate compiled it
			err = checkValue(p, re, val)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("parameter %s: %w", name, err))
			continue
		}
		vals[name] = val
	}
	return vals, errors.Join(errs...)
}

// givenValue parses a value given for a parameter.
func givenValue(p Parameter, s string) (value, error) {
	val := value{typ: paramType(p)}
	if val.typ != StringList {
		val.text = s
		return val, nil
	}
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		if err := json.Unmarshal([]byte(s), &val.list); err != nil {
			return val, fmt.Errorf("%s is not a JSON list of strings", quoteShort(s))
		}
		if val.list == nil {
			val.list = []string{}
		}
		return val, nil
	}
	val.list = []string{s}
	return val, nil
}

// substitute returns v with every placeholder replaced by its value, as
// plain text: for properties that are not commands. A string that is one
// placeholder of a StringList becomes the list.
func substitute(path string, v any, vals map[string]value) (any, error) {
	switch v := v.(type) {
	case string:
		if m := wholeRE.FindStringSubmatch(v); m != nil {
			if val := vals[m[1]]; val.typ == StringList {
				l := make([]any, len(val.list))
				for i, s := range val.list {
					l[i] = s
				}
				return l, nil
			}
		}
		var err error
		out := placeholderRE.ReplaceAllStringFunc(v, func(ph string) string {
			val := vals[placeholderRE.FindStringSubmatch(ph)[1]]
			if val.typ == StringList && err == nil {
				err = fmt.Errorf("%s: %s is a StringList, which can only stand alone here", path, ph)
			}
			return val.text
		})
		return out, err
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range sortedKeys(v) {
			e, err := substitute(joinKey(path, k), v[k], vals)
			if err != nil {
				return nil, err
			}
			out[k] = e
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = substitute(joinIndex(path, i), e, vals); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

func resolvePort(props map[string]any, vals map[string]value) (*PortForward, error) {
	sub, err := substitute("properties", props, vals)
	if err != nil {
		return nil, err
	}
	m := sub.(map[string]any)
	var errs []error
	check := func(k string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("properties.%s: %w", k, err))
		}
	}
	pf := &PortForward{}
	pf.PortNumber, err = portNumber(m["portNumber"], 1)
	check("portNumber", err)
	if v, ok := m["localPortNumber"]; ok {
		pf.LocalPortNumber, err = portNumber(v, 0)
		check("localPortNumber", err)
	}
	pf.Type, err = forwardType(m["type"])
	check("type", err)
	pf.Host, err = hostName(m["host"])
	check("host", err)
	pf.AllowLinkLocal, err = boolProperty(m["allowLinkLocal"])
	check("allowLinkLocal", err)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return pf, nil
}

func resolveCommands(r *Resolved, d *Document, vals map[string]value) error {
	path, sec := "properties", d.Properties
	if linux, ok := d.Properties["linux"].(map[string]any); ok {
		path, sec = "properties.linux", linux
	} else if _, ok := d.Properties["commands"]; !ok {
		return errors.New("properties: this document has no Linux commands (properties.linux.commands or properties.commands), which Linux and macOS nodes run")
	}
	lines, err := commandLines(sec["commands"])
	if err != nil {
		return fmt.Errorf("%s.commands: %w", path, err)
	}
	script, err := buildScript(lines, vals)
	if err != nil {
		return fmt.Errorf("%s.commands: %w", path, err)
	}
	if strings.TrimSpace(script) == "" {
		return fmt.Errorf("%s.commands: empty once parameters are substituted", path)
	}
	r.Command = []string{Shell, "-c", script}

	var errs []error
	for _, b := range []struct {
		key string
		dst *bool
	}{{"runAsElevated", &r.RunAsElevated}, {"separateOutputStream", &r.SeparateOutputStream}} {
		v, err := substitute(joinKey(path, b.key), sec[b.key], vals)
		if err == nil {
			if *b.dst, err = boolProperty(v); err != nil {
				err = fmt.Errorf("%s: %w", joinKey(path, b.key), err)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range []struct {
		key string
		dst *string
	}{{"stdOutSeparatorPrefix", &r.StdoutSeparatorPrefix}, {"stdErrSeparatorPrefix", &r.StderrSeparatorPrefix}} {
		v, err := substitute(joinKey(path, s.key), sec[s.key], vals)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*s.dst, _ = v.(string) // Validate checked that it is a string, if there
	}
	return errors.Join(errs...)
}

// buildScript joins command lines into one sh script and substitutes vals
// into it: shell-quoted within a line, as written for a line that is one
// placeholder. With vals nil it only checks where the placeholders stand.
func buildScript(lines []string, vals map[string]value) (string, error) {
	var sb strings.Builder
	var holes []hole
	for i, line := range strings.Split(strings.Join(lines, "\n"), "\n") {
		if i > 0 {
			sb.WriteByte('\n')
		}
		if m := wholeRE.FindStringSubmatch(line); m != nil {
			if vals != nil {
				sb.WriteString(rawText(vals[m[1]]))
				continue
			}
			start := sb.Len() + strings.Index(line, "{{")
			end := sb.Len() + strings.LastIndex(line, "}}") + 2
			sb.WriteString(line)
			holes = append(holes, hole{start: start, end: end, raw: true, name: m[1]})
			continue
		}
		last := 0
		for _, m := range placeholderRE.FindAllStringSubmatchIndex(line, -1) {
			sb.WriteString(line[last:m[0]])
			start := sb.Len()
			sb.WriteString(line[m[0]:m[1]])
			holes = append(holes, hole{start: start, end: sb.Len(), name: line[m[2]:m[3]]})
			last = m[1]
		}
		sb.WriteString(line[last:])
	}
	script := sb.String()
	// With values, raw ones are in and are checked too: a command that
	// opens a quote must not swallow a parameter after it.
	if err := checkPlaceholders(script, holes); err != nil {
		return "", err
	}
	if vals == nil {
		return script, nil
	}
	var out strings.Builder
	last := 0
	for _, h := range holes {
		out.WriteString(script[last:h.start])
		out.WriteString(quotedText(vals[h.name]))
		last = h.end
	}
	out.WriteString(script[last:])
	return out.String(), nil
}

// rawText is a value standing for a whole command: a StringList's items
// are lines.
func rawText(v value) string {
	if v.typ == StringList {
		return strings.Join(v.list, "\n")
	}
	return v.text
}

// quotedText is a value as shell words: one, or one per StringList item.
func quotedText(v value) string {
	if v.typ != StringList {
		return shellQuote(v.text)
	}
	words := make([]string, len(v.list))
	for i, s := range v.list {
		words[i] = shellQuote(s)
	}
	return strings.Join(words, " ")
}
