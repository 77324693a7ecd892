package document

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestBuiltinNames(t *testing.T) {
	want := []string{
		"Postern-SessionManagerRunShell",
		"Postern-StartDesktopSession",
		"Postern-StartInteractiveCommand",
		"Postern-StartNonInteractiveCommand",
		"Postern-StartPortForwardingSession",
		"Postern-StartPortForwardingSessionToRemoteHost",
		"Postern-StartSSHSession",
	}
	if got := BuiltinNames(); !slices.Equal(got, want) {
		t.Errorf("BuiltinNames() = %q, want %q", got, want)
	}
	if !slices.Contains(want, DefaultPreferences) {
		t.Errorf("DefaultPreferences %q is not built in", DefaultPreferences)
	}
}

func TestBuiltinsParseAndValidate(t *testing.T) {
	for _, name := range BuiltinNames() {
		t.Run(name, func(t *testing.T) {
			d, ok := Builtin(name)
			if !ok {
				t.Fatal("not found")
			}
			if err := d.Validate(); err != nil {
				t.Fatal(err)
			}
			if d.Description == "" {
				t.Error("no description")
			}
		})
	}
}

func TestBuiltinAliases(t *testing.T) {
	aliases := map[string]string{
		"SSM-SessionManagerRunShell":                 "Postern-SessionManagerRunShell",
		"AWS-StartInteractiveCommand":                "Postern-StartInteractiveCommand",
		"AWS-StartNonInteractiveCommand":             "Postern-StartNonInteractiveCommand",
		"AWS-StartPortForwardingSession":             "Postern-StartPortForwardingSession",
		"AWS-StartPortForwardingSessionToRemoteHost": "Postern-StartPortForwardingSessionToRemoteHost",
		"AWS-StartSSHSession":                        "Postern-StartSSHSession",
	}
	for alias, name := range aliases {
		a, ok := Builtin(alias)
		if !ok {
			t.Errorf("Builtin(%q) not found", alias)
			continue
		}
		b, _ := Builtin(name)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("Builtin(%q) differs from Builtin(%q)", alias, name)
		}
	}
	for _, name := range []string{"", "Postern-", "Postern-Nope", "AWS-RunShellScript", "postern-StartSSHSession", "Postern-../builtin/Postern-StartSSHSession", "builtin/Postern-StartSSHSession"} {
		if _, ok := Builtin(name); ok {
			t.Errorf("Builtin(%q) found", name)
		}
	}
}

func TestBuiltinContent(t *testing.T) {
	for _, name := range []string{"Postern-StartSSHSession", "AWS-StartSSHSession"} {
		content, ok := BuiltinContent(name)
		if !ok {
			t.Fatalf("BuiltinContent(%q) not found", name)
		}
		want, _ := Builtin(name)
		if got := mustParse(t, content); !reflect.DeepEqual(got, want) {
			t.Errorf("BuiltinContent(%q) parses to %+v, Builtin gives %+v", name, got, want)
		}
	}
	if _, ok := BuiltinContent("Mine"); ok {
		t.Error("BuiltinContent(Mine) found")
	}
}

// Builtin hands out copies: changing one must not change the next.
func TestBuiltinIsACopy(t *testing.T) {
	a, _ := Builtin(DefaultPreferences)
	a.Inputs.IdleSessionTimeout = 5
	b, _ := Builtin(DefaultPreferences)
	if b.Inputs.IdleSessionTimeout != 20 {
		t.Errorf("a change to one copy showed in the next")
	}
}

func TestBuiltinsResolve(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   Resolved
	}{
		{
			name: "SSM-SessionManagerRunShell",
			want: Resolved{SessionType: StandardStream, Inputs: &Inputs{
				S3EncryptionEnabled:         true,
				CloudWatchEncryptionEnabled: true,
				CloudWatchStreamingEnabled:  true,
				IdleSessionTimeout:          20,
			}},
		},
		{
			name:   "AWS-StartInteractiveCommand",
			params: map[string]string{"command": "top -d 5"},
			want:   Resolved{SessionType: InteractiveCommands, Command: []string{"/bin/sh", "-c", "top -d 5"}},
		},
		{
			name:   "AWS-StartNonInteractiveCommand",
			params: map[string]string{"command": "journalctl -u sshd | tail"},
			want:   Resolved{SessionType: NonInteractiveCommands, Command: []string{"/bin/sh", "-c", "journalctl -u sshd | tail"}},
		},
		{
			name: "AWS-StartPortForwardingSession",
			want: Resolved{SessionType: Port, Port: &PortForward{Type: LocalPortForwarding, PortNumber: 80}},
		},
		{
			name:   "AWS-StartPortForwardingSession",
			params: map[string]string{"portNumber": "3389", "localPortNumber": "56789"},
			want:   Resolved{SessionType: Port, Port: &PortForward{Type: LocalPortForwarding, PortNumber: 3389, LocalPortNumber: 56789}},
		},
		{
			name:   "AWS-StartPortForwardingSessionToRemoteHost",
			params: map[string]string{"host": "mydb.example.us-east-2.rds.amazonaws.com", "portNumber": "3306", "localPortNumber": "3306"},
			want:   Resolved{SessionType: Port, Port: &PortForward{Type: LocalPortForwarding, PortNumber: 3306, Host: "mydb.example.us-east-2.rds.amazonaws.com", LocalPortNumber: 3306}},
		},
		{
			name: "AWS-StartSSHSession",
			want: Resolved{SessionType: Port, Port: &PortForward{Type: StdioForwarding, PortNumber: 22}},
		},
		{
			name:   "Postern-StartSSHSession",
			params: map[string]string{"portNumber": "2222"},
			want:   Resolved{SessionType: Port, Port: &PortForward{Type: StdioForwarding, PortNumber: 2222}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := Builtin(tt.name)
			if !ok {
				t.Fatal("not found")
			}
			r, err := d.Resolve(tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*r, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *r, tt.want)
			}
		})
	}
}

func TestBuiltinsRefuse(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"AWS-StartInteractiveCommand", nil, "parameter command: required"},
		{"AWS-StartPortForwardingSessionToRemoteHost", nil, "parameter host: required"},
		{"AWS-StartPortForwardingSessionToRemoteHost", map[string]string{"host": "db;id"}, `parameter host: "db;id" does not match allowedPattern`},
		{"AWS-StartPortForwardingSession", map[string]string{"portNumber": "0"}, `parameter portNumber: "0" does not match allowedPattern`},
		{"AWS-StartSSHSession", map[string]string{"portNumber": "22", "user": "root"}, "parameter user: not a parameter of this document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := Builtin(tt.name)
			_, err := d.Resolve(tt.params)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		want string // "" if valid, else a substring of the error
	}{
		{"MyPortForward", ""},
		{"team.db-tunnel_2", ""},
		{"abc", ""},
		{strings.Repeat("a", 128), ""},
		{"ab", "use 3–128 letters, digits, '_', '.' and '-'"},
		{strings.Repeat("a", 129), "use 3–128 letters"},
		{"my doc", "use 3–128 letters"},
		{"dir/doc", "use 3–128 letters"},
		{"", "use 3–128 letters"},
		{"Postern-Custom", `names starting with "Postern-" are reserved for built-in documents`},
		{"AWS-StartSSHSession", `names starting with "AWS-" are reserved for built-in documents`},
		{"SSM-SessionManagerRunShell", `names starting with "SSM-" are reserved`},
		{"aws-lowercase", `names starting with "AWS-" are reserved`},
		{"AWSome", ""},
	}
	for _, tt := range tests {
		err := ValidName(tt.name)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidName(%q) = %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ValidName(%q) = %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
}
