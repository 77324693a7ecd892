package document

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestBuiltinCommands(t *testing.T) {
	names := BuiltinCommandNames()
	if len(names) == 0 {
		t.Fatal("no built-in command documents")
	}
	for _, name := range names {
		if _, ok := BuiltinCommand(name); !ok {
			t.Errorf("%s: not found", name)
		}
	}
	aws, ok := BuiltinCommand("AWS-RunShellScript")
	if !ok {
		t.Fatal("AWS-RunShellScript is not a built-in command document")
	}
	own, _ := BuiltinCommand("Postern-RunShellScript")
	if !reflect.DeepEqual(aws, own) {
		t.Error("AWS-RunShellScript and Postern-RunShellScript differ")
	}
	// Systems Manager's parameters, as scripts pass them.
	for name, typ := range map[string]string{"commands": StringList, "workingDirectory": String, "executionTimeout": String} {
		if p, ok := aws.Parameters[name]; !ok || p.Type != typ {
			t.Errorf("parameter %s: %+v, want a %s", name, p, typ)
		}
	}
	// Not a session document: session documents' names stay theirs.
	if _, ok := Builtin("AWS-RunShellScript"); ok {
		t.Error("AWS-RunShellScript resolves as a session document")
	}
	if _, ok := BuiltinCommand("AWS-StartSSHSession"); ok {
		t.Error("a session document resolves as a command document")
	}
}

func TestResolveRunShellScript(t *testing.T) {
	d, _ := BuiltinCommand("AWS-RunShellScript")
	tests := []struct {
		name    string
		params  map[string]string
		script  string
		wd      string
		timeout time.Duration
		err     string
	}{
		{name: "one command", params: map[string]string{"commands": "echo hello"}, script: "echo hello", timeout: time.Hour},
		{name: "lines", params: map[string]string{"commands": `["cd /tmp","ls -l | wc -l"]`, "workingDirectory": "/srv/app", "executionTimeout": "30"},
			script: "cd /tmp\nls -l | wc -l", wd: "/srv/app", timeout: 30 * time.Second},
		{name: "longest", params: map[string]string{"commands": "true", "executionTimeout": "172800"}, script: "true", timeout: 48 * time.Hour},
		{name: "missing commands", params: map[string]string{}, err: "parameter commands: required"},
		{name: "no commands", params: map[string]string{"commands": "[]"}, err: "fewer than minItems 1"},
		{name: "timeout zero", params: map[string]string{"commands": "true", "executionTimeout": "0"}, err: "parameter executionTimeout: \"0\" does not match allowedPattern"},
		{name: "timeout too long", params: map[string]string{"commands": "true", "executionTimeout": "172801"}, err: "does not match allowedPattern"},
		{name: "timeout words", params: map[string]string{"commands": "true", "executionTimeout": "1h"}, err: "does not match allowedPattern"},
		{name: "unknown parameter", params: map[string]string{"commands": "true", "workingDir": "/tmp"}, err: "parameter workingDir: not a parameter of this document"},
		{name: "working directory with a newline", params: map[string]string{"commands": "true", "workingDirectory": "/tmp\nrm -rf /"}, err: "line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := d.Resolve(tt.params)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Script != tt.script || r.WorkingDirectory != tt.wd || r.Timeout != tt.timeout || r.Step != "runShellScript" {
				t.Errorf("resolved %+v, want script %q, working directory %q, timeout %v", r, tt.script, tt.wd, tt.timeout)
			}
		})
	}
}

// TestCommandParametersStayData runs what a document with a parameter
// inside a command resolves to, in a real sh: the value is one word.
func TestCommandParametersStayData(t *testing.T) {
	d, err := ParseCommand([]byte(`{"schemaVersion":"2.2","parameters":{"path":{"type":"String"}},
		"mainSteps":[{"action":"aws:runShellScript","name":"show","inputs":{"runCommand":["printf '%s|' {{ path }}"]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	evil := `a b'; echo INJECTED; '$(id)`
	r, err := d.Resolve(map[string]string{"path": evil})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(Shell, "-c", r.Script).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != evil+"|" {
		t.Errorf("sh printed %q, want the value as one word %q", out, evil+"|")
	}
}

func TestParseCommandErrors(t *testing.T) {
	step := func(inputs string) string {
		return `{"schemaVersion":"2.2","mainSteps":[{"action":"aws:runShellScript","name":"s","inputs":{` + inputs + `}}]}`
	}
	tests := []struct{ doc, want string }{
		{`{"schemaVersion":"1.2","mainSteps":[]}`, `schemaVersion: "1.2" is not supported for a command document`},
		{`{"schemaVersion":2.2}`, "must be a string, not the number 2.2"},
		{`{"schemaVersion":"2.2"}`, "mainSteps: required"},
		{`{"schemaVersion":"2.2","mainSteps":{}}`, "mainSteps: must be a list"},
		{`{"schemaVersion":"2.2","mainSteps":[{"action":"aws:runPowerShellScript","name":"s","inputs":{"runCommand":"dir"}}]}`, `mainSteps[0].action: "aws:runPowerShellScript" is not supported`},
		{`{"schemaVersion":"2.2","mainSteps":[{"action":"aws:runShellScript","name":"a b","inputs":{"runCommand":"ls"}}]}`, "not a valid step name"},
		{`{"schemaVersion":"2.2","mainSteps":[{"action":"aws:runShellScript","name":"a","inputs":{"runCommand":"ls"}},{"action":"aws:runShellScript","name":"b","inputs":{"runCommand":"ls"}}]}`, "has 2 steps"},
		{step(`"runCommand":"ls","timeoutSecond":"5"`), "did you mean timeoutSeconds?"},
		{step(`"workingDirectory":"/tmp"`), "runCommand: required"},
		{step(`"runCommand":"ls {{ dir }}"`), "refers to an undefined parameter dir"},
		{step(`"runCommand":"ls","timeoutSeconds":"0"`), `"0" is not a number of seconds from 1 to 172800`},
		{step(`"runCommand":"ls","timeoutSeconds":true`), "must be a number of seconds"},
		{step(`"runCommand":"echo \"{{ x }}\""`), "undefined parameter x"},
		{`{"schemaVersion":"2.2","mainSteps":[],"precondition":{}}`, "precondition"},
	}
	for _, tt := range tests {
		_, err := ParseCommand([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.doc, err, tt.want)
		}
	}
}

// FuzzParseCommand checks that ParseCommand never panics, that what it
// accepts is valid and survives a round trip through JSON, and that
// Resolve either refuses or returns a script.
func FuzzParseCommand(f *testing.F) {
	for _, name := range BuiltinCommandNames() {
		content, _ := BuiltinCommandContent(name)
		f.Add([]byte(content), "commands", `["echo a","ls {{x}}"]`)
	}
	f.Add([]byte("schemaVersion: '2.2'\nparameters:\n  dir: {type: String, default: /tmp}\nmainSteps:\n- action: aws:runShellScript\n  name: s\n  inputs:\n    runCommand: [ls {{ dir }}]\n    workingDirectory: '{{ dir }}'\n    timeoutSeconds: 60\n"), "dir", "/var/log")
	f.Add([]byte(`{"schemaVersion":"2.2","mainSteps":[{"action":"aws:runShellScript","name":"s","inputs":{"runCommand":"cat <<EOF\n{{ x }}\nEOF"}}]}`), "x", "y")
	f.Fuzz(func(t *testing.T, data []byte, k, v string) {
		d, err := ParseCommand(data)
		if err != nil {
			if d != nil || err.Error() == "" {
				t.Fatalf("document %v with error %q", d, err)
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("ParseCommand accepted an invalid document: %v", err)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) <= MaxSize {
			back, err := ParseCommand(out)
			if err != nil {
				t.Fatalf("ParseCommand(Marshal(d)): %v\n%s", err, out)
			}
			if !reflect.DeepEqual(d, back) {
				t.Fatalf("round trip changed the document:\n%#v\n%#v", d, back)
			}
		}
		r, err := d.Resolve(map[string]string{k: v})
		if err == nil && (strings.TrimSpace(r.Script) == "" || r.Timeout <= 0 || r.Timeout > MaxExecutionTimeout) {
			t.Fatalf("resolved to %+v", r)
		}
	})
}
