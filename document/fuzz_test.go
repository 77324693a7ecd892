package document

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// seedDocuments are the documents every parser fuzzer starts from: the
// shared examples, the built-ins, and a few that reach the odd corners.
func seedDocuments(f *testing.F) [][]byte {
	seeds := [][]byte{
		readExample(f, "preferences-all-inputs.json"),
		readExample(f, "port-forwarding-remote-host.json"),
		readExample(f, "interactive-command.yaml"),
		[]byte(cmdDoc(`"x":{"type":"StringList","default":["a"],"maxItems":3},"e":{"type":"Boolean","default":false}`,
			`"linux":{"commands":["cd /tmp","{{ x }}","ls {{x}} # done","cat <<EOF\nhi\nEOF"],"runAsElevated":"{{ e }}"}`)),
		[]byte(portDoc(`"p":{"type":"Integer","default":22,"allowedValues":["22","2222"]}`, `"portNumber":"{{p}}","host":"db.internal"`)),
		[]byte("schemaVersion: '1.0'\nsessionType: Standard_Stream\ninputs:\n  idleSessionTimeout: 20\n  runAsEnabled: yes\n  runAsDefaultUser: ops\n"),
		[]byte(`{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"idleSesionTimeout":"20"}}`),
	}
	for _, name := range BuiltinNames() {
		data, err := builtinFS.ReadFile("builtin/" + name + ".json")
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	return seeds
}

// FuzzParse checks that Parse never panics, that what it accepts is valid,
// and that what it accepts survives a round trip through JSON.
func FuzzParse(f *testing.F) {
	for _, s := range seedDocuments(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			if d != nil {
				t.Fatal("document returned with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid document: %v", err)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if len(out) > MaxSize {
			return // a document at the limit may grow past it
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(d)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(d, back) {
			t.Fatalf("round trip changed the document:\n%#v\n%#v", d, back)
		}
		// Whatever parses can be resolved or refused, never panic.
		d.Resolve(nil)
	})
}

// FuzzResolve checks that Resolve never panics, and that what it returns
// keeps its promises.
func FuzzResolve(f *testing.F) {
	for _, s := range seedDocuments(f) {
		f.Add(s, "host", "db.internal", "x", "a; echo INJECTED")
		f.Add(s, "command", "ls -la", "portNumber", "22")
	}
	f.Fuzz(func(t *testing.T, doc []byte, k1, v1, k2, v2 string) {
		d, err := Parse(doc)
		if err != nil {
			return
		}
		r, err := d.Resolve(map[string]string{k1: v1, k2: v2})
		if err != nil {
			return
		}
		if r.SessionType != d.SessionType {
			t.Fatalf("session type %q, document says %q", r.SessionType, d.SessionType)
		}
		switch r.SessionType {
		case StandardStream:
			if r.Inputs == nil || r.Inputs == d.Inputs {
				t.Fatal("inputs missing or shared")
			}
		case Port:
			p := r.Port
			if p.PortNumber < 1 || p.PortNumber > 65535 || p.LocalPortNumber < 0 || p.LocalPortNumber > 65535 {
				t.Fatalf("port out of range: %+v", p)
			}
			if p.Type != LocalPortForwarding && p.Type != StdioForwarding {
				t.Fatalf("port type %q", p.Type)
			}
			if _, err := hostName(p.Host); err != nil {
				t.Fatalf("host: %v", err)
			}
		default:
			if len(r.Command) != 3 || r.Command[0] != Shell || r.Command[1] != "-c" || strings.TrimSpace(r.Command[2]) == "" {
				t.Fatalf("command %q", r.Command)
			}
			if strings.IndexByte(r.Command[2], 0) >= 0 {
				t.Fatal("NUL in command")
			}
		}
	})
}

// FuzzCheckPlaceholders checks that the reading of commands never panics
// or loops, whatever the command.
func FuzzCheckPlaceholders(f *testing.F) {
	for _, c := range []string{
		`printf '%s\n' {{ x }}`,
		"cat <<-'EOF'\n\t{{ x }}\n\tEOF\necho {{x}}",
		`echo "$(printf '%s' {{ x }})" ${v:-$(echo {{ x }})} $((1+(2))) ((i++)) # {{ x }}`,
		"{{ x }}\necho `ls` \\\n {{ y }}",
		`echo $'a' ${a'b} $[1] $(case x in x) ;; esac) {{ x }}`,
	} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, command string) {
		script, err := buildScript([]string{command}, nil)
		if err == nil && script != command {
			t.Fatalf("checking changed the command: %q", script)
		}
		vals := map[string]value{}
		for _, m := range placeholderRE.FindAllStringSubmatch(command, -1) {
			vals[m[1]] = value{typ: String, text: "v'\"`$(x)\n"}
		}
		buildScript([]string{command}, vals)
	})
}

// shellTokens are what FuzzInjection builds commands of: enough of sh's
// syntax to reach every context, and nothing that loops or recurses (no
// function definitions, loops, eval or external programs), since the
// commands are run.
var shellTokens = []string{
	" ", "\n", "\t", ";", "&&", "||",
	"'", `"`, "`", `\`, "$", "#", "$'",
	"$(", ")", "${", "}", "$((", "((", "))", ":-", "$[",
	"<<", "<<-", "<<'E'", `<<"E"`, "<<E", "<<\\E", "E", "\tE", "<<<", "<(", ">",
	"echo", "printf '%s\\n'", "case", " in ", "esac", ":", "a", "v=", "$v",
	"{{ p }}",
}

// canaries are values that try every way out of a word: should one get
// out, it prints PWNED, which nothing else can (the quotes in it go only
// when it is read as code).
var canaries = []string{
	`';printf PW''NED;'`,
	`";printf PW''NED;"`,
	`\';printf PW''NED;'`,
	"`printf PW''NED`$(printf PW''NED)",
	`'"$(printf PW''NED)"'`,
	// Out of comments, here-documents, $(...) and ${...}, line by line.
	"\nE\nprintf PW''NED\n)\nprintf PW''NED\n}\nprintf PW''NED\n",
}

// FuzzInjection is the proof of the pudding: for every command, built of
// sh syntax, that checkPlaceholders accepts, no value substituted into it
// runs under dash or bash.
func FuzzInjection(f *testing.F) {
	tok := func(ts ...string) []byte {
		var b []byte
		for _, t := range ts {
			for i, s := range shellTokens {
				if s == t {
					b = append(b, byte(i))
				}
			}
		}
		return b
	}
	f.Add(tok("printf '%s\\n'", " ", "{{ p }}"))
	f.Add(tok("echo", " ", `"`, "$(", "echo", " ", "{{ p }}", ")", `"`))
	f.Add(tok("echo", " ", "<<E", "\n", "a", "\n", "E", "\n", "echo", " ", "{{ p }}"))
	f.Add(tok("echo", " ", "$((", "a", "))", " ", "#", "{{ p }}"))
	f.Add(tok("v=", "{{ p }}", ";", "echo", " ", `"`, "${", "v", ":-", "a", "}", `"`))
	f.Add(tok("echo", " ", "$(", "case", " in ", ")", " ", "{{ p }}"))
	shs := shells(f)
	f.Fuzz(func(t *testing.T, tokens []byte) {
		if len(tokens) > 40 {
			return
		}
		var b strings.Builder
		for _, c := range tokens {
			b.WriteString(shellTokens[int(c)%len(shellTokens)])
		}
		command := b.String()
		if !strings.Contains(command, "{{ p }}") {
			return
		}
		for _, line := range strings.Split(command, "\n") {
			if wholeRE.MatchString(line) {
				return // the command itself, by design
			}
		}
		if _, err := buildScript([]string{command}, nil); err != nil {
			return
		}
		for _, c := range canaries {
			script, err := buildScript([]string{command}, map[string]value{"p": {typ: String, text: c}})
			if err != nil {
				t.Fatalf("accepted %q without values, refused it with %q: %v", command, c, err)
			}
			for _, sh := range shs {
				if out := runScript(t, sh, script); strings.Contains(out, "PWNED") {
					t.Fatalf("%s ran value %q in %q:\n%s\nprinted %q", sh, c, command, script, out)
				}
			}
		}
	})
}

// FuzzShellQuote checks that any string, quoted, reaches a program as
// itself.
func FuzzShellQuote(f *testing.F) {
	for _, s := range append([]string{"", "plain", "it's"}, injections...) {
		f.Add(s)
	}
	shs := shells(f)
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			return // cannot be an argument; Resolve refuses it
		}
		for _, sh := range shs {
			if out := runScript(t, sh, "printf '%s' "+shellQuote(s)); out != s {
				t.Fatalf("%s: %q came out as %q", sh, s, out)
			}
		}
	})
}
