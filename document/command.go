package document

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/lazyregexp"
)

// Command documents are what Run Command runs on nodes (Systems Manager's
// documents of type Command), as opposed to the session documents above:
// schemaVersion "2.2", parameters declared as session documents declare
// them, and mainSteps, each a plugin (its action) with its inputs.
// Postern runs documents of one aws:runShellScript step, which is what
// AWS-RunShellScript is and what most hand-written documents are:
//
//	{"schemaVersion": "2.2", "parameters": {"commands": {"type": "StringList"}},
//	 "mainSteps": [{"action": "aws:runShellScript", "name": "runShellScript",
//	   "inputs": {"runCommand": "{{ commands }}", "workingDirectory": "/srv",
//	              "timeoutSeconds": "600"}}]}
//
// Parameters are substituted into runCommand under the same rules as into
// a session document's commands (see shell.go): a line that is one
// placeholder is the value itself (a StringList's items are lines),
// elsewhere a value is one shell-quoted word.

// CommandSchemaVersion is the schema version of command documents.
const CommandSchemaVersion = "2.2"

// RunShellScript is the plugin that runs shell commands on Linux.
const RunShellScript = "aws:runShellScript"

// Systems Manager's execution timeout: the default, and the most a
// document may ask for (48 hours).
const (
	DefaultExecutionTimeout = 3600 * time.Second
	MaxExecutionTimeout     = 172800 * time.Second
)

// maxWorkingDirectory is the longest working directory, in bytes: PATH_MAX.
const maxWorkingDirectory = 4096

// CommandDocument is a parsed command document.
type CommandDocument struct {
	SchemaVersion string               `json:"schemaVersion"`
	Description   string               `json:"description,omitempty"`
	Parameters    map[string]Parameter `json:"parameters,omitempty"`
	MainSteps     []Step               `json:"mainSteps"`
}

// Step is one step of a command document: a plugin and its inputs, as
// written (before substitution).
type Step struct {
	Action string         `json:"action"`
	Name   string         `json:"name"`
	Inputs map[string]any `json:"inputs"`
}

var (
	commandTopFields = []string{"schemaVersion", "description", "parameters", "mainSteps"}
	stepFields       = []string{"action", "name", "inputs"}
	shellInputs      = []string{"runCommand", "workingDirectory", "timeoutSeconds"}
	// Systems Manager's step names.
	stepNameRE = lazyregexp.New(`^[A-Za-z0-9_.-]{1,128}$`)
)

// ParseCommand parses a command document in JSON or YAML and validates it
// (see [CommandDocument.Validate]), as strictly as Parse parses session
// documents.
func ParseCommand(data []byte) (*CommandDocument, error) {
	tree, err := decodeText(data)
	if err != nil {
		return nil, err
	}
	var d decoder
	top, ok := tree.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("document must be an object with schemaVersion, mainSteps and so on, not %s", describe(tree))
	}
	d.fields("", top, commandTopFields...)
	doc := &CommandDocument{Description: d.str("description", top["description"])}
	switch v := top["schemaVersion"].(type) {
	case json.Number:
		d.errorf("schemaVersion", "must be a string, not the number %s (quote it: %q)", v, CommandSchemaVersion)
	default:
		doc.SchemaVersion = d.str("schemaVersion", v)
	}
	if v := top["parameters"]; v != nil {
		if m, ok := d.object("parameters", v); ok {
			for _, name := range sortedKeys(m) {
				if doc.Parameters == nil {
					doc.Parameters = map[string]Parameter{}
				}
				doc.Parameters[name] = d.parameter(joinKey("parameters", name), m[name])
			}
		}
	}
	switch v := top["mainSteps"].(type) {
	case nil:
	case []any:
		for i, e := range v {
			path := joinIndex("mainSteps", i)
			m, ok := d.object(path, e)
			if !ok {
				continue
			}
			d.fields(path, m, stepFields...)
			st := Step{Action: d.str(joinKey(path, "action"), m["action"]), Name: d.str(joinKey(path, "name"), m["name"])}
			if in := m["inputs"]; in != nil {
				st.Inputs, _ = d.object(joinKey(path, "inputs"), in)
			}
			doc.MainSteps = append(doc.MainSteps, st)
		}
	default:
		d.errorf("mainSteps", "must be a list of steps, not %s", describe(v))
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	if err := doc.Validate(); err != nil {
		return nil, err
	}
	return doc, nil
}

// Validate reports every problem with c, joined with errors.Join, as
// Document.Validate does: inputs without placeholders must be right as
// they are; Resolve checks the rest.
func (c *CommandDocument) Validate() error {
	if c == nil {
		return errors.New("no document")
	}
	v := &validator{}
	switch c.SchemaVersion {
	case CommandSchemaVersion:
	case "":
		v.errorf("schemaVersion", "required (use %q)", CommandSchemaVersion)
	default:
		v.errorf("schemaVersion", "%q is not supported for a command document (use %q)", c.SchemaVersion, CommandSchemaVersion)
	}
	for _, name := range sortedKeys(c.Parameters) {
		v.parameter(name, c.Parameters[name])
	}
	switch n := len(c.MainSteps); {
	case n == 0:
		v.errorf("mainSteps", "required: one %s step", RunShellScript)
	case n > 1:
		v.errorf("mainSteps", "has %d steps; Postern runs documents of one %s step (put the commands of all of them in one)", n, RunShellScript)
	}
	for i, st := range c.MainSteps {
		path := joinIndex("mainSteps", i)
		at := func(k string) string { return joinKey(path, k) }
		if !stepNameRE.MatchString(st.Name) {
			v.errorf(at("name"), "%s is not a valid step name: 1–128 letters, digits, '_', '.' and '-'", quoteShort(st.Name))
		}
		if st.Action != RunShellScript {
			v.errorf(at("action"), "%s is not supported: Postern runs %s steps", quoteShort(st.Action), RunShellScript)
			continue
		}
		in := st.Inputs
		for _, k := range sortedKeys(in) {
			if !slices.Contains(shellInputs, k) {
				v.unknown(joinKey(at("inputs"), k), k, shellInputs)
			}
		}
		cpath := joinKey(at("inputs"), "runCommand")
		if _, ok := in["runCommand"]; !ok {
			v.errorf(cpath, "required")
		} else if lines, err := commandLines(in["runCommand"]); err != nil {
			v.add(cpath, err)
		} else if _, err := buildScript(lines, nil); err != nil {
			v.add(cpath, err)
		}
		if wd, ok := in["workingDirectory"]; ok && !hasPlaceholder(wd) {
			_, err := workingDirectory(wd)
			v.add(joinKey(at("inputs"), "workingDirectory"), err)
		}
		if t, ok := in["timeoutSeconds"]; ok && !hasPlaceholder(t) {
			_, err := timeoutSeconds(t)
			v.add(joinKey(at("inputs"), "timeoutSeconds"), err)
		}
		v.referencesIn(at("inputs"), in, c.Parameters)
	}
	return v.err()
}

// ResolvedCommand is what a command document runs on each node, with its
// parameters substituted.
type ResolvedCommand struct {
	// Step is the step's name.
	Step string
	// Script is the commands, one per line, for Shell ("sh -c").
	Script string
	// WorkingDirectory is where they run; "" is the run-as user's home.
	WorkingDirectory string
	// Timeout is how long they may run (executionTimeout).
	Timeout time.Duration
}

// Resolve substitutes params for the document's parameters, as
// Document.Resolve does, and returns what runs on each node.
func (c *CommandDocument) Resolve(params map[string]string) (*ResolvedCommand, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	vals, err := (&Document{Parameters: c.Parameters}).values(params)
	if err != nil {
		return nil, err
	}
	st := c.MainSteps[0]
	path := "mainSteps[0].inputs"
	r := &ResolvedCommand{Step: st.Name, Timeout: DefaultExecutionTimeout}
	lines, err := commandLines(st.Inputs["runCommand"])
	if err != nil {
		return nil, fmt.Errorf("%s.runCommand: %w", path, err)
	}
	if r.Script, err = buildScript(lines, vals); err != nil {
		return nil, fmt.Errorf("%s.runCommand: %w", path, err)
	}
	if strings.TrimSpace(r.Script) == "" {
		return nil, fmt.Errorf("%s.runCommand: empty once parameters are substituted", path)
	}
	var errs []error
	if wd, ok := st.Inputs["workingDirectory"]; ok {
		sub, err := substitute(path+".workingDirectory", wd, vals)
		if err == nil {
			r.WorkingDirectory, err = workingDirectory(sub)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.workingDirectory: %w", path, err))
		}
	}
	if t, ok := st.Inputs["timeoutSeconds"]; ok {
		sub, err := substitute(path+".timeoutSeconds", t, vals)
		if err == nil {
			var d time.Duration
			if d, err = timeoutSeconds(sub); d > 0 {
				r.Timeout = d
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.timeoutSeconds: %w", path, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// workingDirectory checks a working directory input: a string, which may
// be empty (the run-as user's home), of one line.
func workingDirectory(v any) (string, error) {
	s, ok := v.(string)
	switch {
	case v == nil:
		return "", nil
	case !ok:
		return "", fmt.Errorf("must be a directory, not %s", describe(v))
	case strings.ContainsAny(s, "\x00\n\r"):
		return "", fmt.Errorf("%s is not a directory: it holds a NUL or a line break", quoteShort(s))
	case len(s) > maxWorkingDirectory:
		return "", fmt.Errorf("is %d bytes; the limit is %d", len(s), maxWorkingDirectory)
	}
	return s, nil
}

// timeoutSeconds checks an execution timeout: a whole number of seconds
// (a string of digits or a number), 1 to 172800; "" or nothing is the
// default (0 here).
func timeoutSeconds(v any) (time.Duration, error) {
	var s string
	switch v := v.(type) {
	case nil:
		return 0, nil
	case string:
		s = strings.TrimSpace(v)
		if s == "" {
			return 0, nil
		}
	case json.Number:
		s = v.String()
	default:
		return 0, fmt.Errorf("must be a number of seconds, not %s", describe(v))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	max := int64(MaxExecutionTimeout / time.Second)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("%s is not a number of seconds from 1 to %d", quoteShort(s), max)
	}
	return time.Duration(n) * time.Second, nil
}

// The built-in command documents, JSON files as the session ones are.
//
//go:embed commands/*.json
var commandFS embed.FS

// awsCommandNames maps Systems Manager's names of its command documents to
// the built-in ones that do the same.
var awsCommandNames = map[string]string{
	"AWS-RunShellScript": "Postern-RunShellScript",
}

// BuiltinCommandContent returns the JSON text of the built-in command
// document called name (its Postern name or Systems Manager's).
func BuiltinCommandContent(name string) (string, bool) {
	if n, ok := awsCommandNames[name]; ok {
		name = n
	}
	if !strings.HasPrefix(name, "Postern-") || strings.ContainsAny(name, "/\\") {
		return "", false
	}
	data, err := commandFS.ReadFile("commands/" + name + ".json")
	if err != nil {
		return "", false
	}
	return string(data), true
}

// BuiltinCommand returns a fresh copy of the built-in command document
// called name (AWS-RunShellScript, or Postern-RunShellScript).
func BuiltinCommand(name string) (*CommandDocument, bool) {
	content, ok := BuiltinCommandContent(name)
	if !ok {
		return nil, false
	}
	d, err := ParseCommand([]byte(content))
	if err != nil {
		// The files are part of the program, and the tests parse them all.
		panic(fmt.Sprintf("document: built-in command document %s is invalid: %v", name, err))
	}
	return d, true
}

// BuiltinCommandNames returns the Postern names of the built-in command
// documents, sorted; BuiltinCommand also answers to Systems Manager's.
func BuiltinCommandNames() []string {
	entries, _ := commandFS.ReadDir("commands")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	slices.Sort(names)
	return names
}
