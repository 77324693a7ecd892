package document

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

func TestParseParameters(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		want  map[string]string
	}{
		{"one", []string{"logPath=/var/log/syslog"}, map[string]string{"logPath": "/var/log/syslog"}},
		{"several in one flag", []string{"a=1,b=2"}, map[string]string{"a": "1", "b": "2"}},
		{"repeated flag", []string{"a=1", "b=2"}, map[string]string{"a": "1", "b": "2"}},
		{"comma inside a value", []string{"pattern=a,b,c=3"}, map[string]string{"pattern": "a,b", "c": "3"}},
		{"equals inside a value", []string{"expr=x=y"}, map[string]string{"expr": "x=y"}},
		{"comma then not a name", []string{"cmd=ls -l,/tmp=x"}, map[string]string{"cmd": "ls -l,/tmp=x"}},
		{"empty value", []string{"a=,b=2"}, map[string]string{"a": "", "b": "2"}},
		{"quoted value", []string{`msg="a,b=c",n=1`}, map[string]string{"msg": "a,b=c", "n": "1"}},
		{"quoted with escapes", []string{`msg="say \"hi\" \\ bye"`}, map[string]string{"msg": `say "hi" \ bye`}},
		{"json list", []string{`files=["/a","/b,c"],n=1`}, map[string]string{"files": `["/a","/b,c"]`, "n": "1"}},
		{"bare list", []string{"files=[/a, /b]"}, map[string]string{"files": `["/a","/b"]`}},
		{"list of one is a string", []string{"port=[80]"}, map[string]string{"port": "80"}},
		{"empty list", []string{"files=[]"}, map[string]string{"files": `[]`}},
		{"aws json", []string{`{"portNumber":["80"],"localPortNumber":["8080"]}`}, map[string]string{"portNumber": "80", "localPortNumber": "8080"}},
		{"json strings and lists", []string{`{"a":"x,y","b":["1","2"]}`}, map[string]string{"a": "x,y", "b": `["1","2"]`}},
		{"shell syntax is kept as text", []string{"logPath=/tmp/x; rm -rf /"}, map[string]string{"logPath": "/tmp/x; rm -rf /"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseParameters(tt.flags)
			if err != nil {
				t.Fatalf("ParseParameters(%q): %v", tt.flags, err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("ParseParameters(%q) = %q, want %q", tt.flags, got, tt.want)
			}
		})
	}
}

func TestParseParametersErrors(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		want  string
	}{
		{"no equals", []string{"logPath"}, `"logPath" is not name=value`},
		{"empty name", []string{"=x"}, `"=x" is not name=value`},
		{"bad name", []string{"a b=1"}, `"a b=1" is not name=value`},
		{"twice in one flag", []string{"a=1,a=2"}, `parameter "a" given twice`},
		{"twice across flags", []string{"a=1", "a=2"}, `parameter "a" given twice`},
		{"unclosed quote", []string{`a="x`}, "no closing quote"},
		{"junk after quote", []string{`a="x"y`}, `unexpected "y" after the value`},
		{"trailing comma after quote", []string{`a="x",`}, `unexpected ","`},
		{"unclosed list", []string{"a=[x,y"}, "no closing ]"},
		{"bad json", []string{`{"a":`}, "not a JSON object"},
		{"json number", []string{`{"a":1}`}, "want a string or a list of strings, got 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseParameters(tt.flags)
			if err == nil {
				t.Fatalf("ParseParameters(%q) = %q, want an error", tt.flags, got)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "--parameters ") {
				t.Errorf("error %q, want it to name the flag and say %q", err, tt.want)
			}
		})
	}
}

// TestParseParametersResolve checks that what the flags give is what the
// documents take: a StringList from a list, an injection attempt as data.
func TestParseParametersResolve(t *testing.T) {
	d := mustParse(t, cmdDoc(`"files":{"type":"StringList"},"n":{"type":"Integer","default":5}`,
		`"linux":{"commands":["tail -n {{n}} {{files}}"]}`))
	p, err := ParseParameters([]string{`files=["/var/log/a b","/x;reboot"],n=3`})
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.Resolve(p)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(r.Command)
	if want := `"tail -n '3' '/var/log/a b' '/x;reboot'"`; !strings.Contains(string(got), want) {
		t.Errorf("commands = %s, want them to hold %s", got, want)
	}
}

// FuzzParseParameters checks that the flag parser never panics, and that
// what it accepts as name=value survives writing it back quoted.
func FuzzParseParameters(f *testing.F) {
	for _, s := range []string{
		"logPath=/var/log/syslog", "a=1,b=2", "pattern=a,b,c=3", `msg="a,b=c",n=1`,
		`files=["/a","/b,c"]`, "files=[/a, /b]", `{"portNumber":["80"]}`, `{"a":"x","b":["1","2"]}`,
		`a="x\"y\\"`, "a=[", "=", ",", `{`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, flag string) {
		got, err := ParseParameters([]string{flag})
		if err != nil {
			if got != nil {
				t.Fatal("values returned with an error")
			}
			return
		}
		// Written back as quoted shorthand, the same values come out.
		var parts []string
		for k, v := range got {
			if !isParamName(k) {
				t.Fatalf("accepted name %q", k)
			}
			q := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v)
			parts = append(parts, k+`="`+q+`"`)
		}
		if len(parts) == 0 {
			return
		}
		back, err := ParseParameters([]string{strings.Join(parts, ",")})
		if err != nil {
			t.Fatalf("round trip of %q: %v", got, err)
		}
		if !maps.Equal(back, got) {
			t.Fatalf("round trip: %q became %q", got, back)
		}
	})
}
