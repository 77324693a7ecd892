package stacktemplate

import (
	"fmt"
	"strings"
	"testing"
)

// want is one problem a test expects: its line, column and path exactly,
// and a part of its message.
type want struct {
	line, col int
	path, msg string
}

// checkErrors checks that err holds exactly the problems wanted, in order.
func checkErrors(t *testing.T, err error, wants []want) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %d", len(wants))
	}
	got := Errors(err)
	for i, w := range wants {
		if i >= len(got) {
			t.Errorf("missing problem %d: %d:%d: %s: %s", i, w.line, w.col, w.path, w.msg)
			continue
		}
		g := got[i]
		if g.File != "t.yaml" || g.Line != w.line || g.Column != w.col || g.Path != w.path || !strings.Contains(g.Msg, w.msg) {
			t.Errorf("problem %d:\n got %s\nwant t.yaml:%d:%d: %s: …%s…", i, g, w.line, w.col, w.path, w.msg)
		}
		// The message names the line and the path.
		prefix := fmt.Sprintf("t.yaml:%d:%d: ", w.line, w.col)
		if w.col == 0 {
			prefix = fmt.Sprintf("t.yaml:%d: ", w.line)
		}
		if w.line == 0 {
			prefix = "t.yaml: "
		}
		if w.path != "" {
			prefix += w.path + ": "
		}
		if !strings.HasPrefix(g.Error(), prefix) {
			t.Errorf("problem %d reads %q, want it to start %q", i, g.Error(), prefix)
		}
	}
	for _, g := range got[min(len(wants), len(got)):] {
		t.Errorf("unexpected problem: %s", g)
	}
}

// logGroup is a template of one log group with the properties given, in
// YAML, indented under Properties: the first property is on line 5.
func logGroup(props string) string {
	return "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n" + props
}

// prefs is a template of the preferences document with the inputs given,
// indented under inputs: the first input is on line 11.
func prefs(inputs string) string {
	return `Resources:
  Prefs:
    Type: AWS::SSM::Document
    Properties:
      Name: Postern-SessionManagerRunShell
      DocumentType: Session
      Content:
        schemaVersion: "1.0"
        sessionType: Standard_Stream
        inputs:
` + inputs
}

// parseErrorCases are templates Parse refuses, and what it must say. They
// are the fuzzer's seeds too.
var parseErrorCases = []struct {
	name     string
	template string
	wants    []want
}{
	// Resource types.
	{"unknown resource type", "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n",
		[]want{{3, 11, "Resources.Bucket.Type", `"AWS::S3::Bucket" is not a resource type Postern has: the types there are AWS::KMS::Alias, AWS::KMS::Key, AWS::Logs::LogGroup, AWS::SSM::Document, Postern::Authz::Policy`}}},
	{"misspelt resource type", "Resources:\n  Logs:\n    Type: AWS::Logs::LogGrop\n",
		[]want{{3, 11, "Resources.Logs.Type", `unknown resource type "AWS::Logs::LogGrop" (did you mean AWS::Logs::LogGroup?)`}}},
	{"no type", "Resources:\n  Logs:\n    Properties: {}\n",
		[]want{{2, 3, "Resources.Logs.Type", "required (one of AWS::KMS::Alias"}}},
	{"type from a function", "Parameters:\n  T: {Type: String}\nResources:\n  Logs:\n    Type: !Ref T\n",
		[]want{{5, 11, "Resources.Logs.Type", "must be written out: intrinsic functions (!Ref) are evaluated only in a resource's Properties and an output's Value"}}},

	// Properties.
	{"unknown property", logGroup("      LogGroupNam: sessions\n"),
		[]want{{5, 7, "Resources.Logs.Properties.LogGroupNam", "AWS::Logs::LogGroup has no property LogGroupNam (did you mean LogGroupName?)"}}},
	{"property Postern does not act on", logGroup("      LogGroupClass: INFREQUENT_ACCESS\n"),
		[]want{{5, 7, "Resources.Logs.Properties.LogGroupClass", "Postern does not support this property of AWS::Logs::LogGroup (it supports LogGroupName, RetentionInDays, KmsKeyId)"}}},
	{"retention not CloudWatch's", logGroup("      RetentionInDays: 42\n"),
		[]want{{5, 24, "Resources.Logs.Properties.RetentionInDays", "42 is not one of CloudWatch Logs' retention values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"}}},
	{"retention not a number", logGroup("      RetentionInDays: forever\n"),
		[]want{{5, 24, "Resources.Logs.Properties.RetentionInDays", `must be a whole number, not "forever"`}}},
	{"log group name", logGroup("      LogGroupName: session logs\n"),
		[]want{{5, 21, "Resources.Logs.Properties.LogGroupName", `"session logs" is not a log group name`}}},
	{"key id", logGroup("      KmsKeyId: my-key\n"),
		[]want{{5, 17, "Resources.Logs.Properties.KmsKeyId", `"my-key" is not a KMS key id, key ARN, alias name (alias/...) or alias ARN`}}},
	{"properties not an object", "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n    Properties: [a]\n",
		[]want{{4, 17, "Resources.Logs.Properties", "must be an object, not a list"}}},
	{"key spec and window", "Resources:\n  Key:\n    Type: AWS::KMS::Key\n    Properties:\n      KeySpec: RSA_2048\n      PendingWindowInDays: 3\n      MultiRegion: true\n",
		[]want{
			{7, 7, "Resources.Key.Properties.MultiRegion", "Postern does not support this property of AWS::KMS::Key"},
			{5, 16, "Resources.Key.Properties.KeySpec", `"RSA_2048" is not supported: Postern's keys are symmetric (SYMMETRIC_DEFAULT)`},
			{6, 28, "Resources.Key.Properties.PendingWindowInDays", "3 is out of range 7–30"},
		}},
	{"rotation period without rotation", "Resources:\n  Key:\n    Type: AWS::KMS::Key\n    Properties:\n      RotationPeriodInDays: 180\n",
		[]want{{5, 29, "Resources.Key.Properties.RotationPeriodInDays", "a rotation period needs EnableKeyRotation: true"}}},
	{"key policy Postern cannot evaluate", `Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Statement:
          - Effect: Allow
            Principal: "*"
            Action: kms:Decrypt
          - Effect: Allow
            Principal: "*"
            Action: s3:GetObject
`, []want{{10, 13, "Resources.Key.Properties.KeyPolicy.Statement[1]", `not a key policy Postern can evaluate: Action "s3:GetObject": want kms:...`}}},
	{"key policy condition key", `Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy: {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt",
                   "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ops"}}}]}
`, []want{{5, 33, "Resources.Key.Properties.KeyPolicy.Statement[0]", `Condition key "aws:PrincipalTag/team": want kms:EncryptionContext:... or one of aws:PrincipalAccount`}}},
	{"alias of an alias", "Resources:\n  Alias:\n    Type: AWS::KMS::Alias\n    Properties:\n      AliasName: alias/aws/logs\n      TargetKeyId: alias/other\n",
		[]want{
			{5, 18, "Resources.Alias.Properties.AliasName", `"alias/aws/logs" is not an alias name`},
			{6, 20, "Resources.Alias.Properties.TargetKeyId", `"alias/other" is an alias: an alias points at a key id or key ARN`},
		}},
	{"alias without target", "Resources:\n  Alias:\n    Type: AWS::KMS::Alias\n    Properties:\n      AliasName: alias/sessions\n",
		[]want{{4, 5, "Resources.Alias.Properties.TargetKeyId", "required: the key, by key id or key ARN"}}},

	// Session documents, checked by package document.
	{"document without type", "Resources:\n  Doc:\n    Type: AWS::SSM::Document\n    Properties:\n      Content: {schemaVersion: \"1.0\", sessionType: Port, properties: {portNumber: 22}}\n",
		[]want{{4, 5, "Resources.Doc.Properties.DocumentType", "required: without it CloudFormation makes a Command document; Postern's documents are of type Session"}}},
	{"command document", "Resources:\n  Doc:\n    Type: AWS::SSM::Document\n    Properties:\n      DocumentType: Command\n      Content: {schemaVersion: \"1.0\", sessionType: Port, properties: {portNumber: 22}}\n",
		[]want{{5, 21, "Resources.Doc.Properties.DocumentType", `"Command" is not supported: Postern's documents are of type Session`}}},
	{"preferences input out of range", prefs("          idleSessionTimeout: 90\n          maxSessionDuration: 2000\n"),
		[]want{
			{11, 31, "Resources.Prefs.Properties.Content.inputs.idleSessionTimeout", "90 is out of range 1–60"},
			{12, 31, "Resources.Prefs.Properties.Content.inputs.maxSessionDuration", "2000 is out of range 1–1440"},
		}},
	{"preferences unknown input", prefs("          cloudWatchLogGroupNam: sessions\n"),
		[]want{{11, 11, "Resources.Prefs.Properties.Content.inputs.cloudWatchLogGroupNam", "unknown field (did you mean cloudWatchLogGroupName?)"}}},
	{"preferences of another session type", `Resources:
  Prefs:
    Type: AWS::SSM::Document
    Properties:
      Name: SSM-SessionManagerRunShell
      DocumentType: Session
      Content:
        schemaVersion: "1.0"
        sessionType: Port
        properties: {portNumber: 22}
`, []want{{8, 9, "Resources.Prefs.Properties.Content", "Postern-SessionManagerRunShell, the account's preferences, must be a Standard_Stream document, not Port"}}},
	{"document name", "Resources:\n  Doc:\n    Type: AWS::SSM::Document\n    Properties:\n      Name: AWS-Mine\n      DocumentType: Session\n      Content: {schemaVersion: \"1.0\", sessionType: Port, properties: {portNumber: 22}}\n",
		[]want{{5, 13, "Resources.Doc.Properties.Name", `names starting with "AWS-" are reserved for built-in documents (or Postern-SessionManagerRunShell, the account's preferences)`}}},

	// Cedar policies, checked by package authz.
	{"cedar syntax", `Resources:
  Policy:
    Type: Postern::Authz::Policy
    Properties:
      PolicyId: operators
      Statement: |
        permit (principal, action, resource)
        when { principal.x == };
`, []want{{8, 32, "Resources.Policy.Properties.Statement", `not a Cedar policy: ";": invalid primary (line 2, column 24 of the Statement)`}}},
	{"policy id", "Resources:\n  Policy:\n    Type: Postern::Authz::Policy\n    Properties:\n      PolicyId: system-mine\n      Statement: permit (principal, action, resource);\n",
		[]want{{5, 17, "Resources.Policy.Properties.PolicyId", `"system-mine" is not a policy id`}}},
	{"two policies, one @id", `Resources:
  A:
    Type: Postern::Authz::Policy
    Properties:
      Statement: '@id("ops") permit (principal, action, resource);'
  B:
    Type: Postern::Authz::Policy
    Properties:
      Statement: '@id("ops") forbid (principal, action, resource);'
`, []want{{6, 3, "Resources.B", `the ID "ops" is already used by policy`}}},
	{"same log group twice", logGroup("      LogGroupName: sessions\n") + "  Again:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: sessions\n",
		[]want{{6, 3, "Resources.Again", `name "sessions" is also Resources.Logs (line 2): each AWS::Logs::LogGroup needs its own`}}},

	// References.
	{"!Ref names nothing", "Parameters:\n  Stage: {Type: String}\n" + strings.Replace(logGroup("      LogGroupName: !Ref Stag\n"), "Resources", "Resources", 1),
		[]want{{7, 21, "Resources.Logs.Properties.LogGroupName", "!Ref Stag names no parameter or resource (did you mean Stage?)"}}},
	{"long Ref names nothing", logGroup("      LogGroupName: {Ref: Nothing}\n"),
		[]want{{5, 21, "Resources.Logs.Properties.LogGroupName", "Ref Nothing names no parameter or resource"}}},
	{"${} names nothing", logGroup("      LogGroupName: !Sub \"/postern/${AWS::AccountId}/${Stage}\"\n"),
		[]want{{5, 21, "Resources.Logs.Properties.LogGroupName", "${Stage} names no parameter or resource"}}},
	{"${} of a list", "Parameters:\n  Stages: {Type: CommaDelimitedList}\n" + logGroup("      LogGroupName: !Sub \"/postern/${Stages}\"\n"),
		[]want{{7, 21, "Resources.Logs.Properties.LogGroupName", "${Stages} is a CommaDelimitedList parameter, a list, which Fn::Sub cannot put in a string"}}},
	{"pseudo parameter", logGroup("      LogGroupName: !Sub \"${AWS::AccountID}-${AWS::URLSuffix}\"\n"),
		[]want{
			{5, 21, "Resources.Logs.Properties.LogGroupName", "${AWS::AccountID} names no pseudo parameter (did you mean AWS::AccountId?)"},
			{5, 21, "Resources.Logs.Properties.LogGroupName", "${AWS::URLSuffix}: the pseudo parameter AWS::URLSuffix is not supported (the ones there are: AWS::AccountId, AWS::Region, AWS::Partition, AWS::StackName)"},
		}},
	{"!GetAtt names nothing", logGroup("      KmsKeyId: !GetAtt Kye.Arn\n") + "  Key:\n    Type: AWS::KMS::Key\n",
		[]want{{5, 17, "Resources.Logs.Properties.KmsKeyId", "!GetAtt Kye.Arn names no resource (did you mean Key?)"}}},
	{"!GetAtt of an attribute not there", logGroup("      KmsKeyId: !GetAtt [Key, ARN]\n") + "  Key:\n    Type: AWS::KMS::Key\n",
		[]want{{5, 17, "Resources.Logs.Properties.KmsKeyId", "!GetAtt Key.ARN: AWS::KMS::Key Key has no attribute ARN (did you mean Arn?)"}}},
	{"${X.Attr} of a type without attributes", logGroup("      LogGroupName: !Sub \"${Alias.Arn}\"\n") + "  Alias:\n    Type: AWS::KMS::Alias\n    Properties: {AliasName: alias/a, TargetKeyId: 1234abcd-12ab-34cd-56ef-1234567890ab}\n",
		[]want{{5, 21, "Resources.Logs.Properties.LogGroupName", "${Alias.Arn}: AWS::KMS::Alias Alias has no attributes (use !Ref Alias for its alias name)"}}},
	{"DependsOn names nothing", "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n    DependsOn: [Key]\n",
		[]want{{2, 3, "Resources.Logs.DependsOn[0]", "Key names no resource"}}},
	{"parameter and resource of one name", "Parameters:\n  Logs: {Type: String}\nResources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n",
		[]want{{4, 3, "Resources.Logs", "the logical id is also a parameter's (line 2)"}}},
	{"circular reference", `Resources:
  A:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub "${B}-a"
  B:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Ref C
  C:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Ref A
`, []want{{2, 3, "Resources.A", "circular reference: A → B → C → A"}}},
	{"circular DependsOn", "Resources:\n  A:\n    Type: AWS::Logs::LogGroup\n    DependsOn: B\n  B:\n    Type: AWS::Logs::LogGroup\n    DependsOn: [A]\n",
		[]want{{2, 3, "Resources.A", "circular reference: A → B → A"}}},
	{"refers to itself", "Resources:\n  Key:\n    Type: AWS::KMS::Key\n    Properties:\n      Description: !GetAtt Key.Arn\n",
		[]want{{2, 3, "Resources.Key", "circular reference: Key → Key"}}},

	// Intrinsic functions.
	{"unsupported short function", logGroup("      LogGroupName: !Join [\"-\", [a, b]]\n"),
		[]want{{5, 21, "Resources.Logs.Properties.LogGroupName", "Fn::Join (!Join) is not supported: the intrinsic functions Postern evaluates are Ref (!Ref), Fn::GetAtt (!GetAtt) and Fn::Sub (!Sub)"}}},
	{"unsupported long function", logGroup("      LogGroupName: {\"Fn::If\": [C, a, b]}\n"),
		[]want{{5, 22, "Resources.Logs.Properties.LogGroupName.Fn::If", "Fn::If is not supported: the intrinsic functions Postern evaluates are Ref (!Ref), Fn::GetAtt (!GetAtt) and Fn::Sub (!Sub)"}}},
	{"unknown tag", logGroup("      LogGroupName: !Reff Logs\n"),
		[]want{{5, 21, "Resources.Logs.Properties.LogGroupName", "unknown YAML tag !Reff"}}},
	{"function among other keys", logGroup("      LogGroupName: {Ref: X, Other: 1}\n"),
		[]want{{5, 22, "Resources.Logs.Properties.LogGroupName.Ref", "an intrinsic function must be the only key of its object"}}},
	{"unclosed ${", logGroup("      LogGroupName: !Sub \"/postern/${AWS::AccountId\"\n"),
		[]want{{5, 21, "Resources.Logs.Properties.LogGroupName", `!Sub: "${AWS::AccountId" has no closing }`}}},
	{"!GetAtt without attribute", logGroup("      KmsKeyId: !GetAtt Key\n"),
		[]want{{5, 17, "Resources.Logs.Properties.KmsKeyId", `!GetAtt takes Resource.Attribute, not "Key"`}}},

	// Parameters.
	{"default not allowed", "Parameters:\n  Retention:\n    Type: Number\n    Default: 42\n    AllowedValues: [30, 90]\n" + logGroup("      RetentionInDays: !Ref Retention\n"),
		[]want{{4, 14, "Parameters.Retention.Default", `"42" is not one of the AllowedValues 30, 90`}}},
	{"default breaks the pattern", "Parameters:\n  Org:\n    Type: String\n    Default: acme\n    AllowedPattern: \"o-[a-z0-9]{10,32}\"\n    ConstraintDescription: an organization id\n" + logGroup(""),
		[]want{{4, 14, "Parameters.Org.Default", `"acme" does not match the AllowedPattern o-[a-z0-9]{10,32} (an organization id)`}}},
	{"parameter type", "Parameters:\n  Vpc:\n    Type: AWS::EC2::VPC::Id\n" + logGroup(""),
		[]want{{3, 11, "Parameters.Vpc.Type", `"AWS::EC2::VPC::Id" is not one of String, Number, CommaDelimitedList: AWS-specific parameter types name things Postern does not have`}}},
	{"parameter field", "Parameters:\n  P:\n    Type: String\n    Defualt: x\n    NoEcho: true\n" + logGroup(""),
		[]want{
			{4, 5, "Parameters.P.Defualt", "unknown field (did you mean Default?)"},
			{5, 5, "Parameters.P.NoEcho", "not supported: a template's parameters are not secrets"},
		}},
	{"bounds of another type", "Parameters:\n  P:\n    Type: String\n    MinValue: 3\n" + logGroup(""),
		[]want{{4, 15, "Parameters.P.MinValue", "only a Number parameter has a MinValue"}}},

	// Sections and structure.
	{"no resources", "Description: nothing\n",
		[]want{{0, 0, "Resources", "required: a template declares at least one resource"}}},
	{"unsupported section", "Conditions:\n  Prod: !Equals [a, b]\nResources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n    Condition: Prod\n",
		[]want{
			{2, 9, "Conditions.Prod", "Fn::Equals (!Equals) is not supported"},
			{1, 1, "Conditions", "the Conditions section is not supported"},
			{6, 5, "Resources.Logs.Condition", "not supported (a resource has Type, Properties, DependsOn, DeletionPolicy, Metadata)"},
		}},
	{"unknown section", "Resource:\n  Logs:\n    Type: AWS::Logs::LogGroup\n",
		[]want{
			{1, 1, "Resource", "unknown section (did you mean Resources?)"},
			{0, 0, "Resources", "required"},
		}},
	{"format version", "AWSTemplateFormatVersion: 2010-09-10\n" + logGroup(""),
		[]want{{1, 27, "AWSTemplateFormatVersion", `"2010-09-10" is not a template format version: the one there is is 2010-09-09`}}},
	{"deletion policy", "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n    DeletionPolicy: Snapshot\n",
		[]want{{4, 21, "Resources.Logs.DeletionPolicy", `"Snapshot" is not one of Delete, Retain`}}},
	{"protected", "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n    Metadata:\n      Postern: {Protect: true, Protected: maybe}\n",
		[]want{
			{5, 17, "Resources.Logs.Metadata.Postern.Protect", "unknown setting (did you mean Protected?)"},
			{5, 43, "Resources.Logs.Metadata.Postern.Protected", `must be true or false, not "maybe"`},
		}},
	{"logical id", "Resources:\n  session-logs:\n    Type: AWS::Logs::LogGroup\n",
		[]want{{2, 3, "Resources.session-logs", "a logical id is 1–255 letters and digits"}}},
	{"output", logGroup("") + "Outputs:\n  Arn:\n    Value: !GetAtt Logs.Arn\n    Export: {Name: x}\n  Name:\n    Description: no value\n",
		[]want{
			{8, 5, "Outputs.Arn.Export", "not supported (an output has Description, Value)"},
			{9, 3, "Outputs.Name.Value", "required"},
		}},

	// YAML and JSON.
	{"alias", "Resources:\n  A: &logs\n    Type: AWS::Logs::LogGroup\n  B: *logs\n",
		[]want{
			{2, 6, "Resources.A", "YAML anchors and aliases (&name, *name) are not allowed in templates"},
			{4, 6, "Resources.B", "YAML anchors and aliases (&name, *name) are not allowed in templates"},
		}},
	{"merge key", "Resources:\n  A:\n    <<: {Type: AWS::Logs::LogGroup}\n",
		[]want{
			{3, 5, "Resources.A", "YAML merge keys (<<) are not allowed in templates"},
			{2, 3, "Resources.A.Type", "required"},
		}},
	{"duplicate key", logGroup("      LogGroupName: a\n      LogGroupName: b\n"),
		[]want{{6, 7, "Resources.Logs.Properties.LogGroupName", "duplicate key (first at line 5)"}}},
	{"two documents", logGroup("") + "---\n" + logGroup(""),
		[]want{{5, 0, "", "a template is one YAML document; this is a second one (remove the --- before it)"}}},
	// YAML's parser names the line where what it was reading began.
	{"not YAML", "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n\tProperties: {}\n",
		[]want{{3, 0, "", "not valid YAML or JSON: found a tab character that violates indentation"}}},
	{"JSON", `{"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup",
  "Properties": {"RetentionInDays": 42, "LogGroupName": {"Fn::Sub": "${Nothing}"}}}}}`,
		[]want{
			{2, 57, "Resources.Logs.Properties.LogGroupName", "${Nothing} names no parameter or resource (known are Logs)"},
			{2, 37, "Resources.Logs.Properties.RetentionInDays", "42 is not one of CloudWatch Logs' retention values"},
		}},
	{"JSON value", `{"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup",
  "Properties": {"RetentionInDays": 42}}}}`,
		[]want{{2, 37, "Resources.Logs.Properties.RetentionInDays", "42 is not one of CloudWatch Logs' retention values"}}},
	// YAML's parser gives no line for a problem on the first.
	{"not JSON", `{"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup",,}}}`,
		[]want{{0, 0, "", "not valid YAML or JSON: did not find expected node content"}}},
	{"not JSON, later", "{\"Resources\":\n  {\"Logs\": {\"Type\": \"AWS::Logs::LogGroup\",,}}}",
		[]want{{1, 0, "", "not valid YAML or JSON: did not find expected node content"}}},
	{"reference and value problems together", logGroup("      LogGroupName: !Ref Nothing\n      RetentionInDays: 42\n"),
		[]want{
			{5, 21, "Resources.Logs.Properties.LogGroupName", "!Ref Nothing names no parameter or resource"},
			{6, 24, "Resources.Logs.Properties.RetentionInDays", "42 is not one of"},
		}},
	{"empty", "  \n# nothing\n", []want{{0, 0, "", "template is empty"}}},
	{"a list", "- Resources\n", []want{{1, 1, "", "a template is an object with Resources"}}},
	{"deep", "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n",
		[]want{{5, 50, "Resources.Logs.Properties.LogGroupName[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]", "nested more than 32 levels deep"}}},
	{"not UTF-8", "Description: \xff\n", []want{{0, 0, "", "template is not UTF-8 text"}}},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range parseErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Parse("t.yaml", []byte(tc.template))
			if tmpl != nil {
				t.Error("a template returned with errors")
			}
			checkErrors(t, err, tc.wants)
		})
	}
}

// TestParseAllErrors: every problem of a template is reported at once, so
// that one round of fixes suffices, and a template of thousands of
// problems is reported in a bounded message.
func TestParseAllErrors(t *testing.T) {
	tmpl := "Resources:\n" +
		"  A:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      RetentionInDays: 42\n" +
		"  B:\n    Type: AWS::S3::Bucket\n" +
		"  C:\n    Type: AWS::KMS::Key\n    Properties:\n      PendingWindowInDays: 60\n      KeySpec: HMAC_256\n"
	_, err := Parse("t.yaml", []byte(tmpl))
	// The structure first: a misspelt type would make every reference to
	// its resource a problem too.
	checkErrors(t, err, []want{{7, 11, "Resources.B.Type", "is not a resource type Postern has"}})

	tmpl = strings.Replace(tmpl, "AWS::S3::Bucket", "AWS::Logs::LogGroup", 1)
	_, err = Parse("t.yaml", []byte(tmpl))
	checkErrors(t, err, []want{
		{5, 24, "Resources.A.Properties.RetentionInDays", "42 is not one of"},
		{12, 16, "Resources.C.Properties.KeySpec", `"HMAC_256" is not supported`},
		{11, 28, "Resources.C.Properties.PendingWindowInDays", "60 is out of range 7–30"},
	})

	var b strings.Builder
	b.WriteString("Resources:\n")
	for i := range 200 {
		fmt.Fprintf(&b, "  L%d:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      RetentionInDays: 2\n", i)
	}
	_, err = Parse("t.yaml", []byte(b.String()))
	got := Errors(err)
	if len(got) != maxErrors+1 || got[maxErrors].Msg != "and 150 more problems" {
		t.Errorf("%d problems reported, the last %q; want %d and a count of the rest", len(got), got[len(got)-1], maxErrors+1)
	}
}

// TestParseBounds: what Parse refuses before it costs much, and the bounds
// the package documents.
func TestParseBounds(t *testing.T) {
	big := logGroup("      LogGroupName: " + strings.Repeat("a", MaxSize) + "\n")
	_, err := Parse("t.yaml", []byte(big))
	checkErrors(t, err, []want{{0, 0, "", fmt.Sprintf("template is %d bytes; the limit is %d", len(big), MaxSize)}})

	// The billion laughs: each alias would expand the one before it
	// ninefold.
	bomb := "Description: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
	for c := 'b'; c <= 'i'; c++ {
		bomb += fmt.Sprintf("Metadata%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, c, c-1, c-1, c-1, c-1, c-1, c-1, c-1, c-1, c-1)
	}
	_, err = Parse("t.yaml", []byte(bomb+logGroup("")))
	if got := Errors(err); len(got) == 0 || !strings.Contains(got[0].Msg, "anchors and aliases") {
		t.Errorf("an alias bomb was not refused for its aliases: %v", err)
	}

	var b strings.Builder
	b.WriteString("Resources:\n")
	for i := range MaxResources + 1 {
		fmt.Fprintf(&b, "  L%d: {Type: AWS::Logs::LogGroup}\n", i)
	}
	_, err = Parse("t.yaml", []byte(b.String()))
	checkErrors(t, err, []want{{2, 3, "Resources", "501 resources; the limit is 500"}})

	// Deeper than YAML's own parser goes.
	_, err = Parse("t.yaml", []byte("Resources: "+strings.Repeat("[", 20000)))
	if got := Errors(err); len(got) != 1 || !strings.Contains(got[0].Msg, "exceeded max depth") {
		t.Errorf("deep nesting: %v", err)
	}
}
