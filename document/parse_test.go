package document

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The shared examples, copied unchanged from shared/examples.
func readExample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustParse(t testing.TB, data string) *Document {
	t.Helper()
	d, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, data)
	}
	return d
}

func TestParseExamples(t *testing.T) {
	t.Run("preferences-all-inputs", func(t *testing.T) {
		d := mustParse(t, string(readExample(t, "preferences-all-inputs.json")))
		want := &Document{
			SchemaVersion: "1.0",
			Description:   "Document to hold regional settings for Session Manager",
			SessionType:   StandardStream,
			Inputs: &Inputs{
				S3BucketName:                "session-logs-000000000001",
				S3KeyPrefix:                 "ssm",
				S3EncryptionEnabled:         true,
				CloudWatchLogGroupName:      "ssm-secure-consolelog-group",
				CloudWatchEncryptionEnabled: true,
				CloudWatchStreamingEnabled:  true,
				KMSKeyID:                    "alias/session-manager-logs",
				RunAsEnabled:                true,
				RunAsDefaultUser:            "ssm-user",
				IdleSessionTimeout:          20,
				MaxSessionDuration:          60,
				ShellProfile:                ShellProfile{Linux: "cd $HOME; pwd", Windows: "date"},
			},
		}
		if !reflect.DeepEqual(d, want) {
			t.Errorf("got  %+v\nwant %+v", d.Inputs, want.Inputs)
		}
	})
	t.Run("port-forwarding-remote-host", func(t *testing.T) {
		d := mustParse(t, string(readExample(t, "port-forwarding-remote-host.json")))
		if d.SessionType != Port || len(d.Parameters) != 3 {
			t.Fatalf("got %+v", d)
		}
		host := d.Parameters["host"]
		if host.Type != String || host.Default != nil || host.AllowedPattern != "^[a-zA-Z0-9.:_-]{1,253}$" {
			t.Errorf("host parameter = %+v", host)
		}
		if got := d.Parameters["portNumber"].Default; got != "80" {
			t.Errorf("portNumber default = %#v", got)
		}
		if got := d.Properties["type"]; got != "LocalPortForwarding" {
			t.Errorf("properties.type = %#v", got)
		}
	})
	t.Run("interactive-command", func(t *testing.T) {
		d := mustParse(t, string(readExample(t, "interactive-command.yaml")))
		want := &Document{
			SchemaVersion: "1.0",
			Description:   "Run one command interactively in a terminal",
			SessionType:   InteractiveCommands,
			Parameters: map[string]Parameter{"logPath": {
				Type:           String,
				Description:    "Log file to follow",
				AllowedPattern: "^[a-zA-Z0-9_./-]{1,200}$",
				Default:        "/var/log/syslog",
			}},
			Properties: map[string]any{"linux": map[string]any{
				"commands":      "tail -n 50 -f {{ logPath }}",
				"runAsElevated": false,
			}},
		}
		if !reflect.DeepEqual(d, want) {
			t.Errorf("got  %#v\nwant %#v", d, want)
		}
	})
}

// YAML is converted to JSON before decoding, so a document in either gives
// the same Document.
func TestYAMLAndJSONAgree(t *testing.T) {
	tests := []struct {
		name, json, yaml string
	}{
		{
			name: "interactive example",
			json: `{"schemaVersion": "1.0", "description": "Run one command interactively in a terminal",
				"sessionType": "InteractiveCommands",
				"parameters": {"logPath": {"type": "String", "description": "Log file to follow",
					"allowedPattern": "^[a-zA-Z0-9_./-]{1,200}$", "default": "/var/log/syslog"}},
				"properties": {"linux": {"commands": "tail -n 50 -f {{ logPath }}", "runAsElevated": false}}}`,
			yaml: string(readExample(t, "interactive-command.yaml")),
		},
		{
			name: "preferences with numbers",
			json: `{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"idleSessionTimeout":"15","maxSessionDuration":90,"runAsEnabled":true,"runAsDefaultUser":"ops"}}`,
			yaml: "schemaVersion: '1.0'\nsessionType: Standard_Stream\ninputs:\n  idleSessionTimeout: 15\n  maxSessionDuration: \"90\"\n  runAsEnabled: true\n  runAsDefaultUser: ops\n",
		},
		{
			name: "port with list and numbers",
			json: `{"schemaVersion":"1.0","sessionType":"Port","parameters":{"p":{"type":"Integer","default":22,"allowedValues":["22","2222"]}},"properties":{"portNumber":"{{p}}","localPortNumber":0}}`,
			yaml: "schemaVersion: \"1.0\"\nsessionType: Port\nparameters:\n  p:\n    type: Integer\n    default: 22\n    allowedValues: [22, \"2222\"]\nproperties:\n  portNumber: '{{p}}'\n  localPortNumber: 0\n",
		},
		{
			name: "commands list",
			json: `{"schemaVersion":"1.0","sessionType":"NonInteractiveCommands","properties":{"linux":{"commands":["uptime","df -h"],"runAsElevated":true}}}`,
			yaml: "schemaVersion: \"1.0\"\nsessionType: NonInteractiveCommands\nproperties:\n  linux:\n    commands:\n      - uptime\n      - df -h\n    runAsElevated: true\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, y := mustParse(t, tt.json), mustParse(t, tt.yaml)
			if !reflect.DeepEqual(j, y) {
				t.Errorf("JSON gives %#v\nYAML gives %#v", j, y)
			}
		})
	}
}

// Marshalling a Document gives a document that parses back to it.
func TestMarshalRoundTrip(t *testing.T) {
	docs := map[string][]byte{
		"preferences": readExample(t, "preferences-all-inputs.json"),
		"port":        readExample(t, "port-forwarding-remote-host.json"),
		"interactive": readExample(t, "interactive-command.yaml"),
	}
	for _, name := range BuiltinNames() {
		data, err := builtinFS.ReadFile("builtin/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		docs[name] = data
	}
	for name, data := range docs {
		t.Run(name, func(t *testing.T) {
			d := mustParse(t, string(data))
			out, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			back := mustParse(t, string(out))
			if !reflect.DeepEqual(d, back) {
				t.Errorf("round trip changed the document:\n%#v\n%#v", d, back)
			}
		})
	}
}

func TestParseInputForms(t *testing.T) {
	prefs := func(inputs string) string {
		return `{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{` + inputs + `}}`
	}
	tests := []struct {
		name   string
		inputs string
		want   Inputs
	}{
		{"defaults", ``, Inputs{IdleSessionTimeout: 20}},
		{"timeouts as strings", `"idleSessionTimeout":"5","maxSessionDuration":"1440"`, Inputs{IdleSessionTimeout: 5, MaxSessionDuration: 1440}},
		{"timeouts as numbers", `"idleSessionTimeout":60,"maxSessionDuration":1`, Inputs{IdleSessionTimeout: 60, MaxSessionDuration: 1}},
		{"empty strings are defaults", `"idleSessionTimeout":"","maxSessionDuration":""`, Inputs{IdleSessionTimeout: 20}},
		{"nulls are defaults", `"idleSessionTimeout":null,"maxSessionDuration":null,"kmsKeyId":null`, Inputs{IdleSessionTimeout: 20}},
		{"whole float", `"idleSessionTimeout":30.0`, Inputs{IdleSessionTimeout: 30}},
		{"max duration zero is none", `"maxSessionDuration":"0"`, Inputs{IdleSessionTimeout: 20}},
		{"booleans as strings", `"s3EncryptionEnabled":"true","cloudWatchStreamingEnabled":"false"`, Inputs{IdleSessionTimeout: 20, S3EncryptionEnabled: true}},
		{"postern extension: idle output", `"idleSessionTimeoutCountsOutput":true`, Inputs{IdleSessionTimeout: 20, IdleTimeoutCountsOutput: true}},
		{"postern extension: root", `"runAsEnabled":true,"runAsDefaultUser":"root","runAsAllowRoot":true`, Inputs{IdleSessionTimeout: 20, RunAsEnabled: true, RunAsDefaultUser: "root", RunAsAllowRoot: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustParse(t, prefs(tt.inputs))
			if *d.Inputs != tt.want {
				t.Errorf("got %+v, want %+v", *d.Inputs, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the error, all of them
	}{
		{"empty", "  \n", []string{"document is empty"}},
		{"too large", "{" + strings.Repeat(" ", MaxSize) + "}", []string{"the limit is 65536"}},
		{"not an object", `["a"]`, []string{"document must be an object"}},
		{"yaml scalar", `hello`, []string{"document must be an object", `"hello"`}},
		{"json syntax", "{\n  \"schemaVersion\": \"1.0\",\n  \"sessionType\" \"Port\"\n}", []string{"not valid JSON", "line 3, column"}},
		{"truncated json", `{"schemaVersion": "1.0"`, []string{"unexpected end of document"}},
		{"trailing data", `{"schemaVersion":"1.0"} {}`, []string{"unexpected data after the document"}},
		{"yaml syntax", "schemaVersion: '1.0'\nsessionType: [Port\n", []string{"not valid YAML", "line"}},
		{"duplicate json field", `{"schemaVersion":"1.0","sessionType":"Port","sessionType":"Standard_Stream"}`, []string{"sessionType: duplicate field"}},
		{"duplicate yaml field", "schemaVersion: '1.0'\nsessionType: Port\nsessionType: Standard_Stream\n", []string{"not valid YAML", "already"}},
		{"too deep", `{"properties":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}`, []string{"nested more than 32 levels deep"}},
		{"unquoted yaml schema version", "schemaVersion: 1.0\nsessionType: Standard_Stream\ninputs: {}\n", []string{`schemaVersion: must be a string, not the number 1 (quote it: "1.0")`}},
		{
			"unknown top-level field",
			`{"schemaVersion":"1.0","sessionType":"Standard_Stream","input":{}}`,
			[]string{"input: unknown field (did you mean inputs?)"},
		},
		{
			"misspelt input",
			`{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"idleSesionTimeout":"20"}}`,
			[]string{"inputs.idleSesionTimeout: unknown field (did you mean idleSessionTimeout?)"},
		},
		{
			"input in the wrong case",
			`{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"S3BucketName":"b"}}`,
			[]string{"inputs.S3BucketName: unknown field (did you mean s3BucketName?)"},
		},
		{
			"unknown field with no near name",
			`{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"shellProfile":{"zsh":"x"}}}`,
			[]string{"inputs.shellProfile.zsh: unknown field (known fields are linux, windows)"},
		},
		{
			"unknown parameter field",
			`{"schemaVersion":"1.0","sessionType":"Port","parameters":{"p":{"type":"String","defualt":"1"}},"properties":{"portNumber":"{{ p }}"}}`,
			[]string{"parameters.p.defualt: unknown field (did you mean default?)"},
		},
		{
			"all problems at once",
			`{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"runAsEnabled":"yes","idleSessionTimeout":"twenty","maxSessionDuration":1.5,"s3BucketName":7,"shellProfile":"bash"}}`,
			[]string{
				`inputs.runAsEnabled: must be true or false, not "yes"`,
				`inputs.idleSessionTimeout: "twenty" is not a whole number of minutes`,
				`inputs.maxSessionDuration: 1.5 is not a whole number of minutes`,
				`inputs.s3BucketName: must be a string, not 7`,
				`inputs.shellProfile: must be an object, not "bash"`,
			},
		},
		{"negative timeout string", `{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"idleSessionTimeout":"-5"}}`, []string{`inputs.idleSessionTimeout: "-5" is not a whole number of minutes`}},
		{"huge timeout", `{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"idleSessionTimeout":"99999999999999999999"}}`, []string{`inputs.idleSessionTimeout: 99999999999999999999 is too large`}},
		{"huge timeout number", `{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"maxSessionDuration":1e300}}`, []string{`inputs.maxSessionDuration: 1e300 is not a whole number of minutes`}},
		{"parameters not an object", `{"schemaVersion":"1.0","sessionType":"Port","parameters":[],"properties":{"portNumber":"22"}}`, []string{"parameters: must be an object, not a list"}},
		{"allowedValues not a list", `{"schemaVersion":"1.0","sessionType":"Port","parameters":{"p":{"allowedValues":"a"}},"properties":{"portNumber":"22"}}`, []string{`parameters.p.allowedValues: must be a list, not "a"`}},
		{"allowedValues item an object", `{"schemaVersion":"1.0","sessionType":"Port","parameters":{"p":{"allowedValues":[{}]}},"properties":{"portNumber":"22"}}`, []string{`parameters.p.allowedValues[0]: must be a string, not an object`}},
		{"minChars not a number", `{"schemaVersion":"1.0","sessionType":"Port","parameters":{"p":{"minChars":"x"}},"properties":{"portNumber":"22"}}`, []string{`parameters.p.minChars: must be a whole number, not "x"`}},
		{"odd key in path", `{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"a b":1}}`, []string{`inputs["a b"]: unknown field`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", d)
			}
			if d != nil {
				t.Errorf("Parse returned a document with its error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseLeniencies(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"byte order mark", "\uFEFF" + `{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{}}`},
		{"leading space before json", "\n\t " + `{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{}}`},
		{"yaml booleans", "schemaVersion: '1.0'\nsessionType: Standard_Stream\ninputs:\n  runAsEnabled: false\n  s3EncryptionEnabled: yes\n"},
		{"yaml flow style", "schemaVersion: \"1.0\"\nsessionType: Standard_Stream\ninputs: {idleSessionTimeout: '30'}\n"},
		{"null description and parameters", `{"schemaVersion":"1.0","description":null,"sessionType":"Standard_Stream","inputs":{},"parameters":null,"properties":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustParse(t, tt.doc)
		})
	}
}
