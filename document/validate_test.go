package document

import (
	"fmt"
	"strings"
	"testing"

	"github.com/postern/postern/suggest"
)

// Documents for tests, from their parts.

func prefsDoc(inputs string) string {
	return `{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{` + inputs + `}}`
}

func portDoc(params, props string) string {
	return `{"schemaVersion":"1.0","sessionType":"Port","parameters":{` + params + `},"properties":{` + props + `}}`
}

func cmdDoc(params, props string) string {
	return `{"schemaVersion":"1.0","sessionType":"InteractiveCommands","parameters":{` + params + `},"properties":{` + props + `}}`
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the error, all of them
	}{
		// The document.
		{"schema version missing", `{"sessionType":"Standard_Stream","inputs":{}}`, []string{`schemaVersion: required (use "1.0")`}},
		{"schema version 2.0", `{"schemaVersion":"2.0","sessionType":"Standard_Stream","inputs":{}}`, []string{`schemaVersion: "2.0" is not supported (use "1.0")`}},
		{"session type missing", `{"schemaVersion":"1.0"}`, []string{`sessionType: required (one of Standard_Stream, InteractiveCommands, NonInteractiveCommands, Port)`}},
		{"session type Shell", `{"schemaVersion":"1.0","sessionType":"Shell"}`, []string{`sessionType: "Shell" is not one of Standard_Stream, InteractiveCommands, NonInteractiveCommands, Port`}},
		{"inputs missing", `{"schemaVersion":"1.0","sessionType":"Standard_Stream"}`, []string{`inputs: required in a Standard_Stream document`}},
		{"inputs on port", `{"schemaVersion":"1.0","sessionType":"Port","inputs":{},"properties":{"portNumber":"22"}}`, []string{`inputs: only Standard_Stream documents have inputs; Port sessions take their preferences`}},
		{"properties on shell", `{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{},"properties":{"x":1}}`, []string{`properties: a Standard_Stream document has no properties`}},

		// Inputs.
		{"idle timeout 90", prefsDoc(`"idleSessionTimeout":"90"`), []string{`inputs.idleSessionTimeout: 90 is out of range 1–60`}},
		{"idle timeout 0", prefsDoc(`"idleSessionTimeout":0`), []string{`inputs.idleSessionTimeout: 0 is out of range 1–60`}},
		{"idle timeout negative number", prefsDoc(`"idleSessionTimeout":-1`), []string{`inputs.idleSessionTimeout: -1 is out of range 1–60`}},
		{"max duration 1441", prefsDoc(`"maxSessionDuration":"1441"`), []string{`inputs.maxSessionDuration: 1441 is out of range 1–1440`}},
		{"bucket uppercase", prefsDoc(`"s3BucketName":"My_Bucket"`), []string{`inputs.s3BucketName: "My_Bucket" is not a valid bucket name: 3–63 lowercase letters`}},
		{"bucket too short", prefsDoc(`"s3BucketName":"ab"`), []string{`inputs.s3BucketName: "ab" is not a valid bucket name`}},
		{"bucket like an address", prefsDoc(`"s3BucketName":"192.168.1.1"`), []string{`inputs.s3BucketName: "192.168.1.1" is not a valid bucket name`}},
		{"bucket double dot", prefsDoc(`"s3BucketName":"a..b"`), []string{`inputs.s3BucketName: "a..b" is not a valid bucket name`}},
		{"key prefix leading slash", prefsDoc(`"s3BucketName":"logs","s3KeyPrefix":"/ssm"`), []string{`inputs.s3KeyPrefix: "/ssm" is not a valid key prefix`}},
		{"key prefix double slash", prefsDoc(`"s3BucketName":"logs","s3KeyPrefix":"a//b"`), []string{`inputs.s3KeyPrefix: "a//b" is not a valid key prefix`}},
		{"key prefix dot dot", prefsDoc(`"s3BucketName":"logs","s3KeyPrefix":"a/../b"`), []string{`inputs.s3KeyPrefix: "a/../b" is not a valid key prefix`}},
		{"key prefix space", prefsDoc(`"s3BucketName":"logs","s3KeyPrefix":"a b"`), []string{`inputs.s3KeyPrefix: "a b" is not a valid key prefix`}},
		{"log group space", prefsDoc(`"cloudWatchLogGroupName":"my group"`), []string{`inputs.cloudWatchLogGroupName: "my group" is not a valid log group name: 1–512 letters, digits, '.', '-', '_', '/' and '#'`}},
		{"log group too long", prefsDoc(`"cloudWatchLogGroupName":"` + strings.Repeat("g", 513) + `"`), []string{`inputs.cloudWatchLogGroupName: "gggg`, `is not a valid log group name`}},
		{"kms key garbage", prefsDoc(`"kmsKeyId":"my-key"`), []string{`inputs.kmsKeyId: "my-key" is not a KMS key id, key ARN, alias name (alias/...) or alias ARN`}},
		{"kms alias empty", prefsDoc(`"kmsKeyId":"alias/"`), []string{`inputs.kmsKeyId: "alias/" is not a KMS key id`}},
		{"kms arn of another service", prefsDoc(`"kmsKeyId":"arn:aws:s3:::bucket"`), []string{`inputs.kmsKeyId: "arn:aws:s3:::bucket" is not a KMS key id`}},
		{"postern arn of another service", prefsDoc(`"kmsKeyId":"prn:postern:logs:000000000001:log-group/x"`), []string{`inputs.kmsKeyId: "prn:postern:logs:000000000001:log-group/x" is not a KMS key id`}},
		{"run-as user option", prefsDoc(`"runAsEnabled":true,"runAsDefaultUser":"-oProxyCommand"`), []string{`inputs.runAsDefaultUser: "-oProxyCommand" is not a valid user name`}},
		{"run-as user uid", prefsDoc(`"runAsEnabled":true,"runAsDefaultUser":"1000"`), []string{`inputs.runAsDefaultUser: "1000" is not a valid user name`}},
		{"run-as user with space", prefsDoc(`"runAsDefaultUser":"a b"`), []string{`inputs.runAsDefaultUser: "a b" is not a valid user name`}},
		{"run-as enabled without user", prefsDoc(`"runAsEnabled":true`), []string{`inputs.runAsDefaultUser: required when runAsEnabled is true`}},
		{
			"every input problem at once",
			prefsDoc(`"idleSessionTimeout":"61","maxSessionDuration":"2000","s3BucketName":"B","cloudWatchLogGroupName":"a b","kmsKeyId":"k","runAsEnabled":true`),
			[]string{"inputs.idleSessionTimeout: 61", "inputs.maxSessionDuration: 2000", "inputs.s3BucketName", "inputs.cloudWatchLogGroupName", "inputs.kmsKeyId", "inputs.runAsDefaultUser"},
		},

		// Parameters.
		{"parameter type", portDoc(`"p":{"type":"StringMap"}`, `"portNumber":"22"`), []string{`parameters.p.type: "StringMap" is not one of String, StringList, Integer, Boolean`}},
		{"parameter name", portDoc(`"a b":{"default":"x"}`, `"portNumber":"22"`), []string{`parameters["a b"]: "a b" is not a valid parameter name`}},
		{"bad pattern", portDoc(`"portNumber":{"allowedPattern":"^(\\d+$","default":"22"}`, `"portNumber":"{{ portNumber }}"`), []string{`parameters.portNumber.allowedPattern: invalid regular expression: missing closing ): "^(\\d+$"`}},
		{"java lookahead", portDoc(`"p":{"allowedPattern":"^(?!root).*$","default":"x"}`, `"portNumber":"22"`), []string{`parameters.p.allowedPattern: invalid regular expression: invalid or unsupported Perl syntax`}},
		{"default does not match pattern", portDoc(`"x":{"allowedPattern":"^[0-9]+$","default":"abc"}`, `"portNumber":"22"`), []string{`parameters.x.default: "abc" does not match allowedPattern ^[0-9]+$`}},
		{"default not allowed", portDoc(`"x":{"allowedValues":["a","b"],"default":"c"}`, `"portNumber":"22"`), []string{`parameters.x.default: "c" is not one of the allowedValues a, b`}},
		{"integer default", portDoc(`"x":{"type":"Integer","default":"abc"}`, `"portNumber":"22"`), []string{`parameters.x.default: "abc" is not an integer`}},
		{"integer default fraction", portDoc(`"x":{"type":"Integer","default":1.5}`, `"portNumber":"22"`), []string{`parameters.x.default: "1.5" is not an integer`}},
		{"boolean default", portDoc(`"x":{"type":"Boolean","default":"yes"}`, `"portNumber":"22"`), []string{`parameters.x.default: "yes" is not true or false`}},
		{"string default object", portDoc(`"x":{"default":{"a":1}}`, `"portNumber":"22"`), []string{`parameters.x.default: must be a single value for a String parameter, not an object`}},
		{"string list default item", portDoc(`"x":{"type":"StringList","default":["a",["b"]]}`, `"portNumber":"22"`), []string{`parameters.x.default: item 1 must be a string, not a list`}},
		{"string list too few", portDoc(`"x":{"type":"StringList","minItems":2,"default":["a"]}`, `"portNumber":"22"`), []string{`parameters.x.default: has 1 items, fewer than minItems 2`}},
		{"default too long", portDoc(`"x":{"maxChars":3,"default":"abcd"}`, `"portNumber":"22"`), []string{`parameters.x.default: "abcd" is 4 characters, more than maxChars 3`}},
		{"default too short", portDoc(`"x":{"minChars":3,"default":"ab"}`, `"portNumber":"22"`), []string{`parameters.x.default: "ab" is 2 characters, fewer than minChars 3`}},
		{"max below min", portDoc(`"x":{"minChars":5,"maxChars":2}`, `"portNumber":"22"`), []string{`parameters.x.maxChars: 2 is less than minChars 5`}},
		{"items on a string", portDoc(`"x":{"maxItems":2}`, `"portNumber":"22"`), []string{`parameters.x.maxItems: only a StringList parameter has items`}},
		{"display type", portDoc(`"x":{"displayType":"big"}`, `"portNumber":"22"`), []string{`parameters.x.displayType: "big" is not one of textfield, textarea`}},
		{"allowed value not an integer", portDoc(`"x":{"type":"Integer","allowedValues":["1","two"]}`, `"portNumber":"22"`), []string{`parameters.x.allowedValues[1]: "two" is not an integer`}},
		{"default with NUL", portDoc(`"x":{"default":"a\u0000b"}`, `"portNumber":"22"`), []string{`parameters.x.default: "a\x00b" contains a NUL byte`}},

		// References.
		{"undefined parameter", portDoc(`"port":{"default":"22"}`, `"portNumber":"{{ prt }}"`), []string{`properties.portNumber: {{ prt }} refers to an undefined parameter prt (did you mean port?)`}},
		{"undefined parameter deep", cmdDoc(``, `"linux":{"commands":["ls","echo {{x}}"]}`), []string{`properties.linux.commands[1]: {{x}} refers to an undefined parameter x`}},
		{"parameter store", portDoc(``, `"portNumber":"{{ssm:/db/port}}"`), []string{`properties.portNumber: {{ssm:/db/port}}: Parameter Store references are not supported`}},

		// Port properties.
		{"port number missing", portDoc(``, `"type":"LocalPortForwarding"`), []string{`properties.portNumber: required in a Port document`}},
		{"port number range", portDoc(``, `"portNumber":"70000"`), []string{`properties.portNumber: 70000 is out of range 1–65535`}},
		{"port number zero", portDoc(``, `"portNumber":0`), []string{`properties.portNumber: 0 is out of range 1–65535`}},
		{"port number text", portDoc(``, `"portNumber":"http"`), []string{`properties.portNumber: "http" is not a port number`}},
		{"local port range", portDoc(``, `"portNumber":"22","localPortNumber":"65536"`), []string{`properties.localPortNumber: 65536 is out of range 0–65535`}},
		{"forward type", portDoc(``, `"portNumber":"22","type":"RemotePortForwarding"`), []string{`properties.type: "RemotePortForwarding" is not supported (use "LocalPortForwarding", "RemoteDesktop" for a remote desktop`}},
		{"host form", portDoc(``, `"portNumber":"22","host":"db internal"`), []string{`properties.host: "db internal" is not a host name or address`}},
		{"host option", portDoc(``, `"portNumber":"22","host":"-oProxyCommand=x"`), []string{`properties.host: "-oProxyCommand=x" is not a host name or address`}},
		{"port unknown property", portDoc(``, `"portNumber":"22","hots":"db"`), []string{`properties.hots: unknown field (did you mean host?)`}},

		// Commands properties.
		{"no commands", cmdDoc(``, `"linux":{"runAsElevated":true}`), []string{`properties.linux.commands: required`, `a InteractiveCommands document needs commands`}},
		{"no properties", `{"schemaVersion":"1.0","sessionType":"NonInteractiveCommands"}`, []string{`properties: a NonInteractiveCommands document needs commands: properties.linux.commands (or properties.commands)`}},
		{"commands empty", cmdDoc(``, `"commands":"  "`), []string{`properties.commands: empty`}},
		{"commands a number", cmdDoc(``, `"linux":{"commands":42}`), []string{`properties.linux.commands: must be a string or a list of strings, not 42`}},
		{"commands item a map", cmdDoc(``, `"linux":{"commands":["ls",{}]}`), []string{`properties.linux.commands: item 1 must be a string, not an object`}},
		{"misspelt platform", cmdDoc(``, `"lnux":{"commands":"ls"}`), []string{`properties.lnux: unknown field (did you mean linux?)`}},
		{"misspelt shell field", cmdDoc(``, `"linux":{"commands":"ls","runAsElevatd":true}`), []string{`properties.linux.runAsElevatd: unknown field (did you mean runAsElevated?)`}},
		{"elevated not a bool", cmdDoc(``, `"linux":{"commands":"ls","runAsElevated":"sometimes"}`), []string{`properties.linux.runAsElevated: must be true or false, not "sometimes"`}},
		{"platform not an object", cmdDoc(``, `"linux":"ls"`), []string{`properties.linux: must be an object, not "ls"`}},
		{"top-level and linux", cmdDoc(``, `"commands":"ls","linux":{"commands":"ls"}`), []string{`properties.commands: cannot be used together with properties.linux`}},
		{"top-level elevated without commands", cmdDoc(``, `"runAsElevated":true,"windows":{"commands":"dir"}`), []string{`properties.runAsElevated: goes with properties.commands, which is missing`}},
		{"prefix not a string", cmdDoc(``, `"linux":{"commands":"ls","stdOutSeparatorPrefix":1}`), []string{`properties.linux.stdOutSeparatorPrefix: must be a string, not 1`}},
		{
			"placeholder in double quotes",
			cmdDoc(`"x":{"default":"a"}`, `"linux":{"commands":"echo \"{{ x }}\""}`),
			[]string{`properties.linux.commands: {{ x }} is inside double quotes, where its value could not be kept as data`},
		},
		{
			"placeholder in single quotes",
			cmdDoc(`"x":{"default":"a"}`, `"commands":"echo '{{ x }}'"`),
			[]string{`properties.commands: {{ x }} is inside single quotes`},
		},
		{
			"placeholder in a later list item's quotes",
			cmdDoc(`"x":{"default":"a"}`, `"linux":{"commands":["echo 'start","{{ x }} end'"]}`),
			[]string{`properties.linux.commands: {{ x }} is inside single quotes`},
		},
		{
			"whole-line placeholder inside a here-document",
			cmdDoc(`"x":{"default":"a"}`, `"linux":{"commands":["cat <<EOF","{{ x }}","EOF"]}`),
			[]string{`properties.linux.commands: {{ x }}, alone on its line, is a whole command, but it is inside a here-document`},
		},
		{
			"whole-line placeholder continuing a line",
			cmdDoc(`"x":{"default":"a"}`, `"linux":{"commands":"echo \\\n{{ x }}"}`),
			[]string{`{{ x }}, alone on its line, is a whole command, but it continues the line before`},
		},
		{
			"unsupported quoting",
			cmdDoc(`"x":{"default":"a"}`, `"linux":{"commands":"echo $'a' {{ x }}"}`),
			[]string{`properties.linux.commands: cannot check that parameters stay data in a command that uses $'...' quoting`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", d)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"kms key id", prefsDoc(`"kmsKeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"`)},
		{"kms key arn", prefsDoc(`"kmsKeyId":"arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"`)},
		{"kms multi-region key", prefsDoc(`"kmsKeyId":"mrk-1234abcd12ab34cd56ef1234567890ab"`)},
		{"kms alias", prefsDoc(`"kmsKeyId":"alias/ExampleAlias"`)},
		{"kms alias arn", prefsDoc(`"kmsKeyId":"arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/ExampleAlias"`)},
		{"postern key arn", prefsDoc(`"kmsKeyId":"prn:postern:kms:000000000001:key/1234abcd-12ab-34cd-56ef-1234567890ab"`)},
		{"postern alias arn", prefsDoc(`"kmsKeyId":"prn:postern:kms:000000000001:alias/postern-sessions"`)},
		{"bucket with dots", prefsDoc(`"s3BucketName":"logs.example.com"`)},
		{"key prefix nested", prefsDoc(`"s3BucketName":"logs","s3KeyPrefix":"ssm/year=2024/"`)},
		{"log group with slashes", prefsDoc(`"cloudWatchLogGroupName":"/aws/ssm/sessions#1"`)},
		{"user with dot and at", prefsDoc(`"runAsEnabled":true,"runAsDefaultUser":"jane.doe@corp"`)},
		{"user without run-as", prefsDoc(`"runAsDefaultUser":"ec2-user"`)},
		{"unused parameter", portDoc(`"unused":{"default":"x"}`, `"portNumber":"22"`)},
		{"port as number", portDoc(``, `"portNumber":22,"localPortNumber":0`)},
		{"ipv6 host", portDoc(``, `"portNumber":"22","host":"fd00::1"`)},
		{"macos and windows commands", cmdDoc(``, `"windows":{"commands":"dir"},"macos":{"commands":"ls"}`)},
		{"top-level commands", cmdDoc(``, `"commands":["uptime"],"runAsElevated":"true"`)},
		{"go template left alone", cmdDoc(``, `"commands":"docker ps --format '{{.Names}}'"`)},
		{"placeholder in command substitution", cmdDoc(`"x":{"default":"a"}`, `"linux":{"commands":"echo \"$(basename {{ x }})\""}`)},
		{"placeholder in a word", cmdDoc(`"x":{"default":"a"}`, `"linux":{"commands":"grep --file={{ x }}.txt -- a#{{ x }}"}`)},
		{"placeholder after here-document", cmdDoc(`"x":{"default":"a"}`, `"linux":{"commands":"cat <<'EOF'\n$(echo '\n\"\nEOF\necho {{ x }}"}`)},
		{"placeholder with elevated parameter", cmdDoc(`"x":{"default":"a"},"e":{"type":"Boolean","default":false}`, `"linux":{"commands":"ls {{x}}","runAsElevated":"{{ e }}"}`)},
		{"windows quoting is not sh", cmdDoc(`"x":{"default":"a"}`, `"linux":{"commands":"ls"},"windows":{"commands":"Write-Host \"{{ x }}\""}`)},
		{"integer parameter default as number", portDoc(`"p":{"type":"Integer","default":8080.0}`, `"portNumber":"{{p}}"`)},
		{"string list default as string", cmdDoc(`"f":{"type":"StringList","default":""}`, `"commands":"ls {{ f }}"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustParse(t, tt.doc)
		})
	}
}

func TestValidateNil(t *testing.T) {
	var d *Document
	if err := d.Validate(); err == nil {
		t.Error("nil document validated")
	}
	if _, err := d.Resolve(nil); err == nil {
		t.Error("nil document resolved")
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"idleSessionTimeout", "maxSessionDuration", "s3BucketName", "host", "port"}
	tests := []struct{ in, want string }{
		{"idleSesionTimeout", "idleSessionTimeout"},
		{"IdleSessionTimeout", "idleSessionTimeout"},
		{"maxSessionDurations", "maxSessionDuration"},
		{"prt", "port"},
		{"hots", "host"},
		{"bucket", ""},
		{"x", ""},
		{strings.Repeat("a", 1000), ""},
	}
	for _, tt := range tests {
		if got := suggest.Closest(tt.in, known); got != tt.want {
			t.Errorf("suggest.Closest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A document with thousands of problems gets a report of the first ones
// (suggesting a name for every misspelling would take seconds).
func TestManyProblemsAreCapped(t *testing.T) {
	var params, refs []string
	for i := range 1500 {
		params = append(params, fmt.Sprintf(`"p%d":{}`, i))
	}
	for i := range 2500 {
		refs = append(refs, fmt.Sprintf("{{q%d}}", i))
	}
	doc := cmdDoc(strings.Join(params, ","), `"commands":"`+strings.Join(refs, " ")+`"`)
	_, err := Parse([]byte(doc))
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxErrors+1 || lines[len(lines)-1] != "and 2450 more problems" {
		t.Errorf("%d lines, ending %q", len(lines), lines[len(lines)-1])
	}
}

// TestPosternKeyARNs: preferences may name a key of Postern's own key
// service by its ARN or its alias's, as they may AWS KMS's.
func TestPosternKeyARNs(t *testing.T) {
	for _, k := range []string{"prn:postern:kms:000000000001:key/e04ff48b-4b8a-4c2b-ad25-a985c72cb1a6", "prn:postern:kms:000000000001:alias/session-logs"} {
		if _, err := Parse([]byte(prefsDoc(`"kmsKeyId":"` + k + `"`))); err != nil {
			t.Errorf("kmsKeyId %s: %v", k, err)
		}
	}
}
