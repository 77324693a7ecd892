package document

import (
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestResolveExamples(t *testing.T) {
	t.Run("preferences", func(t *testing.T) {
		d := mustParse(t, string(readExample(t, "preferences-all-inputs.json")))
		r, err := d.Resolve(nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.SessionType != StandardStream || !reflect.DeepEqual(r.Inputs, d.Inputs) || r.Inputs == d.Inputs {
			t.Errorf("got %+v; want a copy of the inputs", r)
		}
	})
	t.Run("port to remote host", func(t *testing.T) {
		d := mustParse(t, string(readExample(t, "port-forwarding-remote-host.json")))
		r, err := d.Resolve(map[string]string{"host": "db.internal"})
		if err != nil {
			t.Fatal(err)
		}
		want := &PortForward{Type: LocalPortForwarding, PortNumber: 80, Host: "db.internal", LocalPortNumber: 0}
		if r.SessionType != Port || !reflect.DeepEqual(r.Port, want) {
			t.Errorf("got %+v, want %+v", r.Port, want)
		}
	})
	t.Run("interactive command", func(t *testing.T) {
		d := mustParse(t, string(readExample(t, "interactive-command.yaml")))
		r, err := d.Resolve(nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"/bin/sh", "-c", "tail -n 50 -f '/var/log/syslog'"}
		if !reflect.DeepEqual(r.Command, want) || r.RunAsElevated {
			t.Errorf("got %q (elevated %v), want %q", r.Command, r.RunAsElevated, want)
		}
	})
}

func TestResolvePort(t *testing.T) {
	remote := string(readExample(t, "port-forwarding-remote-host.json"))
	tests := []struct {
		name   string
		doc    string
		params map[string]string
		want   PortForward
	}{
		{"remote host all given", remote, map[string]string{"host": "10.0.0.5", "portNumber": "5432", "localPortNumber": "15432"}, PortForward{LocalPortForwarding, 5432, "10.0.0.5", 15432, false}},
		{"remote ipv6 host", remote, map[string]string{"host": "fd00::1"}, PortForward{LocalPortForwarding, 80, "fd00::1", 0, false}},
		{"literal numbers", portDoc(``, `"portNumber":443,"localPortNumber":"8443","type":"LocalPortForwarding"`), nil, PortForward{LocalPortForwarding, 443, "", 8443, false}},
		{"stdio when no type", portDoc(`"p":{"default":"22"}`, `"portNumber":"{{p}}"`), nil, PortForward{StdioForwarding, 22, "", 0, false}},
		{"metadata allowed", portDoc(``, `"portNumber":80,"host":"169.254.169.254","allowLinkLocal":true,"type":"LocalPortForwarding"`), nil, PortForward{LocalPortForwarding, 80, "169.254.169.254", 0, true}},
		{"integer parameter", portDoc(`"p":{"type":"Integer","default":2222}`, `"portNumber":"{{ p }}"`), nil, PortForward{StdioForwarding, 2222, "", 0, false}},
		{"placeholder inside text", portDoc(`"h":{"default":"db"}`, `"portNumber":"22","host":"{{h}}.internal"`), nil, PortForward{StdioForwarding, 22, "db.internal", 0, false}},
		{"type from a parameter", portDoc(`"t":{"allowedValues":["LocalPortForwarding"],"default":"LocalPortForwarding"}`, `"portNumber":"22","type":"{{t}}"`), nil, PortForward{LocalPortForwarding, 22, "", 0, false}},
		{"empty host parameter is the node", portDoc(`"h":{"default":""}`, `"portNumber":"22","host":"{{ h }}"`), nil, PortForward{StdioForwarding, 22, "", 0, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := mustParse(t, tt.doc).Resolve(tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if *r.Port != tt.want {
				t.Errorf("got %+v, want %+v", *r.Port, tt.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	remote := string(readExample(t, "port-forwarding-remote-host.json"))
	interactive := string(readExample(t, "interactive-command.yaml"))
	tests := []struct {
		name   string
		doc    string
		params map[string]string
		want   []string
	}{
		{"required missing", remote, nil, []string{"parameter host: required (the document gives it no default)"}},
		{"unknown parameter", remote, map[string]string{"host": "db", "portNumbr": "1"}, []string{"parameter portNumbr: not a parameter of this document (did you mean portNumber?)"}},
		{"unknown parameter far off", remote, map[string]string{"host": "db", "zzzzzz": "1"}, []string{"parameter zzzzzz: not a parameter of this document (it has host, localPortNumber, portNumber)"}},
		{"unknown odd parameter name", remote, map[string]string{"host": "db", "a b": "1"}, []string{`parameter "a b": not a parameter of this document`}},
		{"no parameters at all", portDoc(``, `"portNumber":"22"`), map[string]string{"x": "1"}, []string{"parameter x: this document takes no parameters"}},
		{"pattern", remote, map[string]string{"host": "db", "portNumber": "99999"}, []string{`parameter portNumber: "99999" does not match allowedPattern ^([1-9]`}},
		{"host injection", remote, map[string]string{"host": "db; rm -rf /"}, []string{`parameter host: "db; rm -rf /" does not match allowedPattern ^[a-zA-Z0-9.:_-]{1,253}$`}},
		{"allowed values", cmdDoc(`"x":{"allowedValues":["a","b"],"default":"a"}`, `"commands":"echo {{x}}"`), map[string]string{"x": "c"}, []string{`parameter x: "c" is not one of the allowedValues a, b`}},
		{"integer type", portDoc(`"p":{"type":"Integer","default":"22"}`, `"portNumber":"{{p}}"`), map[string]string{"p": "22a"}, []string{`parameter p: "22a" is not an integer`}},
		{"boolean type", cmdDoc(`"e":{"type":"Boolean","default":"false"}`, `"commands":"ls","runAsElevated":"{{e}}"`), map[string]string{"e": "TRUE"}, []string{`parameter e: "TRUE" is not true or false`}},
		{"string list json", cmdDoc(`"f":{"type":"StringList","default":[]}`, `"commands":"ls {{f}}"`), map[string]string{"f": `["a",`}, []string{`parameter f: "[\"a\"," is not a JSON list of strings`}},
		{"string list items", cmdDoc(`"f":{"type":"StringList","maxItems":1,"default":[]}`, `"commands":"ls {{f}}"`), map[string]string{"f": `["a","b"]`}, []string{`parameter f: has 2 items, more than maxItems 1`}},
		{"string list item pattern", cmdDoc(`"f":{"type":"StringList","allowedPattern":"^[a-z]+$","default":[]}`, `"commands":"ls {{f}}"`), map[string]string{"f": `["a","B"]`}, []string{`parameter f: item 1: "B" does not match allowedPattern ^[a-z]+$`}},
		{"max chars", interactive, map[string]string{"logPath": strings.Repeat("a", 201)}, []string{`parameter logPath: "aaaa`, `does not match allowedPattern`}},
		{"NUL in value", cmdDoc(`"x":{"default":"a"}`, `"commands":"ls {{x}}"`), map[string]string{"x": "a\x00b"}, []string{`parameter x: "a\x00b" contains a NUL byte`}},
		{"port out of range after substitution", portDoc(`"p":{"default":"22"}`, `"portNumber":"{{p}}"`), map[string]string{"p": "65536"}, []string{`properties.portNumber: 65536 is out of range 1–65535`}},
		{"port zero after substitution", portDoc(`"p":{"default":"22"}`, `"portNumber":"{{p}}"`), map[string]string{"p": "0"}, []string{`properties.portNumber: 0 is out of range 1–65535`}},
		{"local port not a number", portDoc(`"p":{"default":"0"}`, `"portNumber":"22","localPortNumber":"{{p}}"`), map[string]string{"p": "x"}, []string{`properties.localPortNumber: "x" is not a port number`}},
		{"host without a pattern", portDoc(`"h":{"default":"db"}`, `"portNumber":"22","host":"{{h}}"`), map[string]string{"h": "-oProxyCommand=sh"}, []string{`properties.host: "-oProxyCommand=sh" is not a host name or address`}},
		{"type without a pattern", portDoc(`"t":{"default":"LocalPortForwarding"}`, `"portNumber":"22","type":"{{t}}"`), map[string]string{"t": "Remote"}, []string{`properties.type: "Remote" is not supported`}},
		{"string list inside text", portDoc(`"h":{"type":"StringList","default":["a"]}`, `"portNumber":"22","host":"x{{h}}"`), nil, []string{`properties.host: {{h}} is a StringList, which can only stand alone here`}},
		{"string list as port", portDoc(`"p":{"type":"StringList","default":["22"]}`, `"portNumber":"{{p}}"`), nil, []string{`properties.portNumber: must be a port number, not a list`}},
		{"elevated from parameter", cmdDoc(`"e":{"default":"false"}`, `"commands":"ls","runAsElevated":"{{e}}"`), map[string]string{"e": "maybe"}, []string{`properties.runAsElevated: must be true or false, not "maybe"`}},
		{"empty raw command", string(mustBuiltinJSON(t, "Postern-StartInteractiveCommand")), map[string]string{"command": "  "}, []string{`properties.linux.commands: empty once parameters are substituted`}},
		{"windows only", cmdDoc(``, `"windows":{"commands":"dir"}`), nil, []string{`this document has no Linux commands`, `which Linux and macOS nodes run`}},
		{
			"raw command that opens a quote",
			cmdDoc(`"cmd":{"default":"echo"},"x":{"default":"a"}`, `"linux":{"commands":["{{ cmd }}","echo {{ x }}"]}`),
			map[string]string{"cmd": "echo '"},
			[]string{`properties.linux.commands: {{ x }} is inside single quotes`},
		},
		{"invalid document", `{"schemaVersion":"1.0","sessionType":"Port","properties":{}}`, nil, []string{"properties.portNumber: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.doc))
			if err != nil {
				// Resolve validates too: hand it the document as written.
				d = rawDocument(t, tt.doc)
			}
			r, err := d.Resolve(tt.params)
			if err == nil {
				t.Fatalf("Resolve succeeded: %+v", r)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// rawDocument decodes a document without validating it.
func rawDocument(t *testing.T, doc string) *Document {
	t.Helper()
	tree, err := decodeJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	d, err := fromTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustBuiltinJSON(t *testing.T, name string) []byte {
	t.Helper()
	data, err := builtinFS.ReadFile("builtin/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestResolveCommands(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		params map[string]string
		want   Resolved
	}{
		{
			name:   "builtin command is the command",
			doc:    string(mustBuiltinJSON(t, "Postern-StartNonInteractiveCommand")),
			params: map[string]string{"command": "ls -la /tmp | head"},
			want:   Resolved{SessionType: NonInteractiveCommands, Command: []string{"/bin/sh", "-c", "ls -la /tmp | head"}},
		},
		{
			name: "list joined with newlines",
			doc:  cmdDoc(`"dir":{"default":"/var/log"}`, `"linux":{"commands":["cd {{ dir }}","ls -la"],"runAsElevated":true}`),
			want: Resolved{SessionType: InteractiveCommands, Command: []string{"/bin/sh", "-c", "cd '/var/log'\nls -la"}, RunAsElevated: true},
		},
		{
			name:   "quote in value",
			doc:    cmdDoc(`"msg":{"default":""}`, `"commands":"echo {{msg}}"`),
			params: map[string]string{"msg": "it's"},
			want:   Resolved{SessionType: InteractiveCommands, Command: []string{"/bin/sh", "-c", `echo 'it'\''s'`}},
		},
		{
			name:   "string list as words",
			doc:    cmdDoc(`"files":{"type":"StringList","default":[]}`, `"commands":"ls -l -- {{ files }}"`),
			params: map[string]string{"files": `["a b","c"]`},
			want:   Resolved{SessionType: InteractiveCommands, Command: []string{"/bin/sh", "-c", `ls -l -- 'a b' 'c'`}},
		},
		{
			name:   "string list as whole command lines",
			doc:    cmdDoc(`"script":{"type":"StringList"}`, `"commands":"{{ script }}"`),
			params: map[string]string{"script": `["cd /tmp","ls"]`},
			want:   Resolved{SessionType: InteractiveCommands, Command: []string{"/bin/sh", "-c", "cd /tmp\nls"}},
		},
		{
			name:   "string list of one",
			doc:    cmdDoc(`"files":{"type":"StringList"}`, `"commands":"ls {{ files }}"`),
			params: map[string]string{"files": `a b`},
			want:   Resolved{SessionType: InteractiveCommands, Command: []string{"/bin/sh", "-c", `ls 'a b'`}},
		},
		{
			name:   "indented whole-line placeholder",
			doc:    cmdDoc(`"cmd":{}`, `"commands":"set -e\n  {{ cmd }}  \necho done"`),
			params: map[string]string{"cmd": "uptime"},
			want:   Resolved{SessionType: InteractiveCommands, Command: []string{"/bin/sh", "-c", "set -e\nuptime\necho done"}},
		},
		{
			name:   "value that looks like a placeholder stays",
			doc:    cmdDoc(`"a":{},"b":{"default":"B"}`, `"commands":"echo {{a}} {{b}}"`),
			params: map[string]string{"a": "{{b}}"},
			want:   Resolved{SessionType: InteractiveCommands, Command: []string{"/bin/sh", "-c", `echo '{{b}}' 'B'`}},
		},
		{
			name:   "elevated and separate streams from parameters",
			doc:    `{"schemaVersion":"1.0","sessionType":"NonInteractiveCommands","parameters":{"e":{"type":"Boolean","default":true}},"properties":{"linux":{"commands":"id","runAsElevated":"{{ e }}","separateOutputStream":"true","stdOutSeparatorPrefix":"OUT:","stdErrSeparatorPrefix":"ERR:"}}}`,
			params: map[string]string{"e": "false"},
			want:   Resolved{SessionType: NonInteractiveCommands, Command: []string{"/bin/sh", "-c", "id"}, SeparateOutputStream: true, StdoutSeparatorPrefix: "OUT:", StderrSeparatorPrefix: "ERR:"},
		},
		{
			name: "linux chosen over windows",
			doc:  cmdDoc(``, `"windows":{"commands":"dir","runAsElevated":true},"linux":{"commands":"ls"}`),
			want: Resolved{SessionType: InteractiveCommands, Command: []string{"/bin/sh", "-c", "ls"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := mustParse(t, tt.doc).Resolve(tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*r, tt.want) {
				t.Errorf("got  %#v\nwant %#v", *r, tt.want)
			}
		})
	}
}

// Resolve must not change the document: it is resolved again and again.
func TestResolveLeavesDocumentAlone(t *testing.T) {
	d := mustParse(t, string(readExample(t, "port-forwarding-remote-host.json")))
	before := mustParse(t, string(readExample(t, "port-forwarding-remote-host.json")))
	for _, host := range []string{"a", "b"} {
		r, err := d.Resolve(map[string]string{"host": host})
		if err != nil {
			t.Fatal(err)
		}
		if r.Port.Host != host {
			t.Errorf("host = %q, want %q", r.Port.Host, host)
		}
	}
	if !reflect.DeepEqual(d, before) {
		t.Error("Resolve changed the document")
	}
}

// shells are the shells injection tests run under: /bin/sh (dash here),
// and bash, which is /bin/sh elsewhere.
func shells(t testing.TB) []string {
	var found []string
	seen := map[string]bool{}
	for _, sh := range []string{"/bin/sh", "/bin/bash", "/usr/bin/bash", "/bin/dash", "/usr/bin/dash"} {
		real, err := filepath.EvalSymlinks(sh)
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		found = append(found, sh)
	}
	if len(found) == 0 {
		t.Skip("no shell to run commands with")
	}
	return found
}

// runScript runs script under sh with no PATH, so that only builtins run,
// and returns its stdout.
func runScript(t testing.TB, sh, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sh, "-c", script)
	cmd.Env = []string{"PATH=/nonexistent"}
	cmd.Dir = t.TempDir()
	// A background job left holding stdout must not hold the test up.
	cmd.WaitDelay = time.Second
	out, _ := cmd.Output() // syntax errors are fine: what matters is what ran
	if ctx.Err() != nil {
		t.Fatalf("%s -c %q timed out", sh, script)
	}
	return string(out)
}

// Values that try to break out of a single-quoted word, and a here-document.
var injections = []string{
	`a; echo INJECTED`,
	`$(echo INJECTED)`,
	"`echo INJECTED`",
	`'; echo INJECTED; '`,
	`'"; echo INJECTED; "'`,
	`\'; echo INJECTED; \'`,
	"a\necho INJECTED",
	"a'\necho INJECTED\n'",
	"EOF\necho INJECTED\nEOF",
	`${IFS}echo${IFS}INJECTED`,
	`*`,
	`-n`,
	`a'b"c\d$e` + "`f`\t\r\n|&;<>(){}[]#!~",
	"",
	"'",
	"''''",
	`\`,
}

// The resolved argv, run, gets each value as exactly one literal argument.
func TestInjectionRunsAsData(t *testing.T) {
	templates := []struct {
		name     string
		commands string
	}{
		{"bare", `printf '%s\n' {{ x }}`},
		{"in a word", `printf '%s\n' pre{{ x }}post`},
		{"twice", `printf '%s\n' {{ x }}{{ x }}`},
		{"in command substitution", `printf '%s\n' "$(printf '%s' {{ x }})"`},
		{"in nested substitution", `printf '%s\n' "$(printf '%s' "$(printf '%s' {{ x }})")"`},
		{"assigned", `v={{ x }}; printf '%s\n' "$v"`},
		{"after a here-document", "cat=$(cat <<'EOF'\n'\"`\nEOF\n)\nprintf '%s\\n' {{ x }}"},
		{"after a comment", "# it's a comment\nprintf '%s\\n' {{ x }}"},
		{"after a continuation", "printf \\\n'%s\\n' {{ x }}"},
	}
	for _, sh := range shells(t) {
		for _, tt := range templates {
			t.Run(sh+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				d := mustParse(t, cmdDoc(`"x":{"default":""}`, `"linux":{"commands":`+jsonString(tt.commands)+`}`))
				for _, inj := range injections {
					r, err := d.Resolve(map[string]string{"x": inj})
					if err != nil {
						t.Fatal(err)
					}
					out := runScript(t, sh, r.Command[2])
					want := inj
					switch tt.name {
					case "in a word":
						want = "pre" + inj + "post"
					case "twice":
						want = inj + inj
					case "in command substitution", "in nested substitution":
						// $(...) drops trailing newlines.
						want = strings.TrimRight(inj, "\n")
					}
					if out != want+"\n" {
						t.Errorf("value %q came out as %q\nscript: %s", inj, out, r.Command[2])
					}
					if slices.Contains(strings.Split(out, "\n"), "INJECTED") {
						t.Errorf("value %q ran: %q", inj, out)
					}
				}
			})
		}
	}
}

// The example the brief names: printf '%s\n' {{ x }} with x = a; echo
// INJECTED prints exactly that string, and no INJECTED line.
func TestInjectionExample(t *testing.T) {
	d := mustParse(t, cmdDoc(`"x":{}`, `"linux":{"commands":"printf '%s\\n' {{ x }}"}`))
	r, err := d.Resolve(map[string]string{"x": "a; echo INJECTED"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shells(t) {
		out := runScript(t, sh, r.Command[2])
		if out != "a; echo INJECTED\n" {
			t.Errorf("%s printed %q", sh, out)
		}
	}
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
