package stacktemplate

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/postern/postern/authz"
	"github.com/postern/postern/document"
	"github.com/postern/postern/ids"
	"github.com/postern/postern/keys"
)

const (
	org      = "o-a1b2c3d4e5"
	member2  = "000000000002"
	member3  = "000000000003"
	key2     = "1234abcd-12ab-34cd-56ef-1234567890ab"
	key3     = "0b9e2f6a-5c1d-4e7f-8a2b-3c4d5e6f7a8b"
	baseline = "testdata/member-baseline.yaml"
)

func readTemplate(t testing.TB, path string) (*Template, []byte) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := Parse("t.yaml", src)
	if err != nil {
		t.Fatalf("Parse(%s):\n%v", path, err)
	}
	return tmpl, src
}

// lineOf is the line of src that text starts, so that tests name lines of
// a template without counting them by hand.
func lineOf(t testing.TB, src []byte, text string) int {
	t.Helper()
	i := strings.Index(string(src), text)
	if i < 0 {
		t.Fatalf("%q is not in the template", text)
	}
	return strings.Count(string(src[:i]), "\n") + 1
}

func env(account, keyID string) Env {
	return Env{AccountID: account, Region: "local", StackName: "baseline", PhysicalIDs: map[string]string{"SessionKey": keyID}}
}

func byID(rs []Resource) map[string]Resource {
	m := map[string]Resource{}
	for _, r := range rs {
		m[r.LogicalID] = r
	}
	return m
}

// TestRenderTwoAccounts renders the multi-account baseline for two
// member accounts, one with parameters of its own and one with the
// defaults, and checks what each would deploy: a log group named after the
// account and sealed with its key, the preferences document streaming to
// that group, a key policy that admits the organization and no one else,
// and a Cedar policy that grants what it says.
func TestRenderTwoAccounts(t *testing.T) {
	tmpl, _ := readTemplate(t, baseline)
	if got := tmpl.AssignedIDs(); !slices.Equal(got, []string{"SessionKey"}) {
		t.Fatalf("AssignedIDs = %v", got)
	}
	rs2, err := tmpl.Render(env(member2, key2), map[string]string{
		"OrganizationId": org, "RetentionDays": "90", "Streaming": "false", "IdleTimeout": "15", "Operators": "ops",
	})
	if err != nil {
		t.Fatal(err)
	}
	rs3, err := tmpl.Render(env(member3, key3), map[string]string{"OrganizationId": org})
	if err != nil {
		t.Fatal(err)
	}

	var order []string
	for _, r := range rs2 {
		order = append(order, r.LogicalID)
	}
	if want := []string{"SessionKey", "SessionKeyAlias", "SessionLogs", "Preferences", "OperatorsPolicy"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v (each after what it refers to)", order, want)
	}

	for _, c := range []struct {
		account, keyID, group string
		retention, idle       int
		streaming             bool
		rs                    []Resource
	}{
		{member2, key2, "ops", 90, 15, false, rs2},
		{member3, key3, "operators", 365, 20, true, rs3},
	} {
		t.Run(c.account, func(t *testing.T) {
			m := byID(c.rs)
			logName := "/postern/" + c.account + "/sessions"

			key := m["SessionKey"]
			if key.PhysicalID != c.keyID || key.DeletionPolicy != "Retain" || !key.Protected {
				t.Errorf("key: %+v", key)
			}
			kp := key.Properties.(*Key)
			if !kp.Enabled || !kp.EnableKeyRotation || kp.RotationPeriodInDays != 365 || kp.PendingWindowInDays != 30 ||
				kp.Description != "Seals session logs of account "+c.account {
				t.Errorf("key properties: %+v", kp)
			}
			policy, err := keys.ParsePolicy(kp.PolicyText())
			if err != nil {
				t.Fatalf("the rendered key policy does not parse: %v", err)
			}
			member := keys.UserCaller("000000000009", "auditor", false)
			member.OrgID = org
			outsider := keys.UserCaller("000000000009", "auditor", false)
			outsider.OrgID = "o-zzzzzzzzzz"
			if !policy.Allows(member, "kms:Decrypt", nil) {
				t.Error("aws:PrincipalOrgID refused a principal of the organization")
			}
			if policy.Allows(outsider, "kms:Decrypt", nil) {
				t.Error("aws:PrincipalOrgID admitted a principal of another organization")
			}
			logs := keys.Caller{Account: c.account, Service: keys.LogsService}
			if !policy.Allows(logs, "kms:GenerateDataKey", keys.EncryptionContext{"aws:logs:arn": ids.LogGroupARN(c.account, logName)}) {
				t.Error("the log store may not seal the account's log group")
			}
			if policy.Allows(logs, "kms:GenerateDataKey", keys.EncryptionContext{"aws:logs:arn": ids.LogGroupARN("000000000004", logName)}) {
				t.Error("the log store may seal another account's log group")
			}
			if !policy.Allows(keys.UserCaller(c.account, "admin", true), "kms:ScheduleKeyDeletion", nil) {
				t.Error("the account's administrators were locked out of the key")
			}

			alias := m["SessionKeyAlias"]
			if ap := alias.Properties.(*Alias); alias.PhysicalID != "alias/postern-sessions" || ap.TargetKeyID != c.keyID || !slices.Equal(alias.DependsOn, []string{"SessionKey"}) {
				t.Errorf("alias: %+v %+v", alias, ap)
			}

			lg := m["SessionLogs"]
			want := &LogGroup{LogGroupName: logName, RetentionInDays: c.retention, KmsKeyID: ids.KeyARN(c.account, c.keyID)}
			if lg.PhysicalID != logName || !reflect.DeepEqual(lg.Properties, want) || lg.DeletionPolicy != "Retain" || lg.Protected {
				t.Errorf("log group: %+v %+v, want properties %+v", lg, lg.Properties, want)
			}

			prefs := m["Preferences"]
			dp := prefs.Properties.(*SessionDocument)
			if prefs.PhysicalID != document.DefaultPreferences || dp.Name != document.DefaultPreferences || dp.DocumentFormat != "YAML" ||
				!prefs.Protected || !slices.Equal(prefs.DependsOn, []string{"SessionKeyAlias", "SessionLogs"}) {
				t.Errorf("preferences: %+v", prefs)
			}
			wantDoc, err := document.Parse([]byte(fmt.Sprintf(`{"schemaVersion": "1.0",
				"description": "Session preferences of account %s", "sessionType": "Standard_Stream",
				"inputs": {"cloudWatchLogGroupName": %q, "cloudWatchEncryptionEnabled": true, "cloudWatchStreamingEnabled": %v,
				"kmsKeyId": "alias/postern-sessions", "idleSessionTimeout": %d, "maxSessionDuration": 240, "runAsEnabled": false,
				"shellProfile": {"linux": "export POSTERN_ACCOUNT=%s"}}}`, c.account, logName, c.streaming, c.idle, c.account)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(dp.Content, wantDoc) {
				got, _ := json.Marshal(dp.Content)
				exp, _ := json.Marshal(wantDoc)
				t.Errorf("preferences content\n got %s\nwant %s", got, exp)
			}

			// The text the server stores reads back as the same document.
			text := dp.ContentText()
			if !strings.HasPrefix(text, "description:") {
				t.Errorf("DocumentFormat YAML, but the text is\n%s", text)
			}
			if back, err := document.Parse([]byte(text)); err != nil || !reflect.DeepEqual(back, dp.Content) {
				t.Errorf("ContentText does not read back: %v\n%s", err, text)
			}
			asJSON := *dp
			asJSON.DocumentFormat = "JSON"
			if back, err := document.Parse([]byte(asJSON.ContentText())); err != nil || !reflect.DeepEqual(back, dp.Content) || !strings.HasPrefix(asJSON.ContentText(), "{") {
				t.Errorf("ContentText in JSON does not read back: %v\n%s", err, asJSON.ContentText())
			}

			pol := m["OperatorsPolicy"]
			pp := pol.Properties.(*Policy)
			ps, err := authz.NewPolicySet([]authz.Stored{{ID: pp.PolicyID, Text: pp.Statement}})
			if err != nil {
				t.Fatal(err)
			}
			node := authz.Node(c.account, "mi-0a1b2c3d4e5f60718", "web", nil)
			start := func(group string) bool {
				return ps.Decide(authz.Request{Principal: authz.User(c.account, "carol", []string{group}, ""), Action: authz.StartSession, Resource: node}).Allowed
			}
			if !start(c.group) || start("auditors") {
				t.Errorf("the rendered Cedar policy does not grant StartSession to group %s alone:\n%s", c.group, pp.Statement)
			}

			for _, r := range c.rs {
				if r.Hash != Hash(r.Properties) || len(r.Hash) != 64 {
					t.Errorf("%s: Hash %q is not Hash of its properties", r.LogicalID, r.Hash)
				}
			}

			outs, err := tmpl.RenderOutputs(env(c.account, c.keyID), map[string]string{"OrganizationId": org})
			if err != nil {
				t.Fatal(err)
			}
			wantOuts := []Output{
				{Name: "LogGroupArn", Description: "Where this account's sessions are logged", Value: ids.LogGroupARN(c.account, logName)},
				{Name: "KeyArn", Value: ids.KeyARN(c.account, c.keyID)},
			}
			if !reflect.DeepEqual(outs, wantOuts) {
				t.Errorf("outputs %+v, want %+v", outs, wantOuts)
			}
		})
	}

	// Every resource differs between the accounts, and a second rendering
	// hashes as the first: the hash tells an outdated resource, and only
	// that.
	again, err := tmpl.Render(env(member2, key2), map[string]string{
		"OrganizationId": org, "RetentionDays": "90", "Streaming": "false", "IdleTimeout": "15", "Operators": "ops",
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs2 {
		if rs2[i].Hash == rs3[i].Hash {
			t.Errorf("%s hashes the same in both accounts", rs2[i].LogicalID)
		}
		if again[i].Hash != rs2[i].Hash {
			t.Errorf("%s hashes differently when rendered again", rs2[i].LogicalID)
		}
	}
}

// TestRenderJSON: the same template written in JSON, with the long forms
// of the functions, renders to the same resources, hashes included.
func TestRenderJSON(t *testing.T) {
	y, err := Parse("t.yaml", []byte(`
Parameters:
  Days: {Type: Number, Default: 30}
Resources:
  Key:
    Type: AWS::KMS::Key
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub "/postern/${AWS::AccountId}/${AWS::Region}"
      RetentionInDays: !Ref Days
      KmsKeyId: !GetAtt [Key, Arn]
`))
	if err != nil {
		t.Fatal(err)
	}
	j, err := Parse("t.json", []byte(`{
  "Parameters": {"Days": {"Type": "Number", "Default": "30"}},
  "Resources": {
    "Key": {"Type": "AWS::KMS::Key"},
    "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {
      "LogGroupName": {"Fn::Sub": ["/postern/${Account}/${AWS::Region}", {"Account": {"Ref": "AWS::AccountId"}}]},
      "RetentionInDays": {"Ref": "Days"},
      "KmsKeyId": {"Fn::GetAtt": "Key.Arn"}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	e := Env{AccountID: member2, Region: "local", StackName: "s", PhysicalIDs: map[string]string{"Key": key2}}
	ry, err := y.Render(e, nil)
	if err != nil {
		t.Fatal(err)
	}
	rj, err := j.Render(e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ry, rj) {
		t.Errorf("YAML renders\n%+v\nJSON\n%+v", ry, rj)
	}
	if lg := ry[1].Properties.(*LogGroup); lg.LogGroupName != "/postern/000000000002/local" || lg.RetentionInDays != 30 {
		t.Errorf("log group %+v", lg)
	}
	// The default key policy is the account's, as keys.Create makes it.
	if k := ry[0].Properties.(*Key); k.PolicyText() != mustCompact(t, keys.DefaultPolicy(member2)) {
		t.Errorf("default key policy %s", k.PolicyText())
	}
}

func mustCompact(t *testing.T, text string) string {
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestHashIsStable pins the hash of one resource: a change of encoding
// would make every deployed resource of every rollout look outdated.
func TestHashIsStable(t *testing.T) {
	// The SHA-256 of
	// {"Type":"AWS::Logs::LogGroup","Properties":{"LogGroupName":"/postern/000000000002/sessions","RetentionInDays":365}}
	const want = "57a705791ba86b7bc6a690c23d8af581fdbb834179d2b8169bd3aae1edd1115a"
	if h := Hash(&LogGroup{LogGroupName: "/postern/000000000002/sessions", RetentionInDays: 365}); h != want {
		t.Errorf("Hash = %s, want %s", h, want)
	}
}

// TestGeneratedNames: a resource the template does not name gets the name
// CloudFormation's scheme would give it, the same at every rendering and
// different for each stack.
func TestGeneratedNames(t *testing.T) {
	tmpl, err := Parse("t.yaml", []byte(`
Resources:
  SessionLogs: {Type: AWS::Logs::LogGroup}
  Ops:
    Type: Postern::Authz::Policy
    Properties: {Statement: "permit (principal in Group::\"ops\", action, resource);"}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := Env{AccountID: member2, Region: "local", StackName: "baseline"}
	a, err := tmpl.Render(e, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tmpl.Render(e, nil)
	e.StackName = "other"
	c, _ := tmpl.Render(e, nil)
	for i := range a {
		if !strings.HasPrefix(a[i].PhysicalID, "baseline-"+a[i].LogicalID+"-") || len(a[i].PhysicalID) != len("baseline-"+a[i].LogicalID+"-")+12 {
			t.Errorf("generated name %q", a[i].PhysicalID)
		}
		if a[i].PhysicalID != b[i].PhysicalID || a[i].PhysicalID == c[i].PhysicalID {
			t.Errorf("generated names %q, %q, %q", a[i].PhysicalID, b[i].PhysicalID, c[i].PhysicalID)
		}
	}
	if p := a[1].Properties.(*Policy); p.PolicyID != a[1].PhysicalID || !policyIDRE.MatchString(p.PolicyID) {
		t.Errorf("policy %+v", p)
	}
	// A made-up name must be a valid one.
	e.StackName = "system"
	_, err = tmpl.Render(e, nil)
	checkErrors(t, err, []want{{6, 5, "Resources.Ops.Properties.PolicyId", `the id made up from the stack's name, "system-Ops-`}})
}

// TestRenderErrors: what only an account and parameter values show is
// refused by Render, at the line and path it comes from.
func TestRenderErrors(t *testing.T) {
	tmpl, src := readTemplate(t, baseline)
	ok := map[string]string{"OrganizationId": org}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"OrganizationId": org}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		env    Env
		params map[string]string
		wants  []want
	}{
		{"value not allowed", env(member2, key2), with("RetentionDays", "42"),
			[]want{{lineOf(t, src, "  RetentionDays:"), 3, "Parameters.RetentionDays", `"42" is not one of the AllowedValues 30, 90, 365, 731`}}},
		{"value out of bounds", env(member2, key2), with("IdleTimeout", "90", "MaxDuration", "x"),
			[]want{
				{lineOf(t, src, "  IdleTimeout:"), 3, "Parameters.IdleTimeout", "90 is more than MaxValue 60"},
				{lineOf(t, src, "  MaxDuration:"), 3, "Parameters.MaxDuration", `"x" is not a number`},
			}},
		{"value breaks the pattern", env(member2, key2), map[string]string{"OrganizationId": "acme"},
			[]want{{lineOf(t, src, "  OrganizationId:"), 3, "Parameters.OrganizationId", `"acme" does not match the AllowedPattern o-[a-z0-9]{10,32} (an organization id, o- then 10 to 32 letters and digits)`}}},
		{"no value", env(member2, key2), nil,
			[]want{{lineOf(t, src, "  OrganizationId:"), 3, "Parameters.OrganizationId", "no value given, and the parameter has no Default"}}},
		{"unknown parameter", env(member2, key2), with("RetentionDay", "90", "Stage", "prod"),
			[]want{
				{0, 0, "Parameters.RetentionDay", "a value is given for a parameter the template does not declare (did you mean RetentionDays?)"},
				{0, 0, "Parameters.Stage", "a value is given for a parameter the template does not declare (known are OrganizationId, RetentionDays, IdleTimeout, MaxDuration, Streaming, Operators)"},
			}},
		{"account", Env{AccountID: "2", Region: "local", StackName: "baseline", PhysicalIDs: map[string]string{"SessionKey": key2}}, ok,
			[]want{{0, 0, "", `Env.AccountID "2" is not an account id (12 digits)`}}},
		{"no key id", Env{AccountID: member2, Region: "local", StackName: "baseline", PhysicalIDs: map[string]string{"Key": key2}}, ok,
			[]want{
				{lineOf(t, src, "  SessionKey:"), 3, "Resources.SessionKey", "Env.PhysicalIDs has no key id for this AWS::KMS::Key: the deployer assigns one and keeps it (see Template.AssignedIDs)"},
				{0, 0, "", `Env.PhysicalIDs names "Key", which is not among the template's AssignedIDs`},
			}},
		{"stack name", Env{AccountID: member2, Region: "local", StackName: "base line", PhysicalIDs: map[string]string{"SessionKey": key2}}, ok,
			[]want{{0, 0, "", `Env.StackName "base line" is not a stack name`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := tmpl.Render(tc.env, tc.params)
			if rs != nil {
				t.Error("resources returned with errors")
			}
			checkErrors(t, err, tc.wants)
		})
	}
}

// TestRenderValueErrors: values made of parameters are checked once they
// are known, by the same rules as values written out, and reported where
// the reference is.
func TestRenderValueErrors(t *testing.T) {
	src := []byte(`Parameters:
  Team: {Type: String}
  Idle: {Type: String, Default: "20"}
  Effect: {Type: String, Default: Allow}
  Group: {Type: String, Default: ops}
  Other: {Type: String, Default: "prn:postern:kms:000000000009:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub "/postern/${Team}/sessions"
      KmsKeyId: !Ref Other
  Prefs:
    Type: AWS::SSM::Document
    Properties:
      DocumentType: Session
      Content:
        schemaVersion: "1.0"
        sessionType: Standard_Stream
        inputs:
          idleSessionTimeout: !Ref Idle
          runAsEnabled: true
          runAsDefaultUser: !Ref Team
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Statement:
          - Effect: !Ref Effect
            Principal: "*"
            Action: kms:Decrypt
  Policy:
    Type: Postern::Authz::Policy
    Properties:
      Statement: !Sub |
        permit (
          principal in Group::"${Group}",
          action, resource);
`)
	tmpl, err := Parse("t.yaml", src)
	if err != nil {
		t.Fatalf("Parse said what only values show: %v", err)
	}
	e := Env{AccountID: member2, Region: "local", StackName: "s", PhysicalIDs: map[string]string{"Key": key2}}
	if _, err := tmpl.Render(e, map[string]string{"Team": "platform", "Other": ids.KeyARN(member2, key2)}); err != nil {
		t.Fatalf("good values refused: %v", err)
	}
	_, err = tmpl.Render(e, map[string]string{"Team": "a team", "Idle": "90", "Effect": "Maybe", "Group": `x"`})
	checkErrors(t, err, []want{
		{11, 21, "Resources.Logs.Properties.LogGroupName", `"/postern/a team/sessions" is not a log group name`},
		{12, 17, "Resources.Logs.Properties.KmsKeyId", `"prn:postern:kms:000000000009:key/1234abcd-12ab-34cd-56ef-1234567890ab" is a key of account 000000000009; a resource of account 000000000002 can only use that account's keys`},
		{21, 31, "Resources.Prefs.Properties.Content.inputs.idleSessionTimeout", "90 is out of range 1–60"},
		{23, 29, "Resources.Prefs.Properties.Content.inputs.runAsDefaultUser", `"a team" is not a valid user name`},
		{29, 13, "Resources.Key.Properties.KeyPolicy.Statement[0]", `not a key policy Postern can evaluate: Effect "Maybe": want Allow or Deny`},
		// The line of the template; the column of the text as
		// substituted (x" where ${Group} is written).
		{37, 34, "Resources.Policy.Properties.Statement", "not a Cedar policy: literal not terminated (line 2, column 26 of the Statement)"},
	})
}

// TestRenderBounded: references cannot make a rendering much larger than
// its template.
func TestRenderBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("Parameters:\n  P: {Type: String}\nResources:\n  Key:\n    Type: AWS::KMS::Key\n    Properties:\n      KeyPolicy:\n        Statement:\n          - Action:\n")
	for range 1100 {
		b.WriteString("            - !Ref P\n")
	}
	tmpl, err := Parse("t.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Render(Env{AccountID: member2, Region: "local", StackName: "s", PhysicalIDs: map[string]string{"Key": key2}}, map[string]string{"P": strings.Repeat("x", 4096)})
	got := Errors(err)
	if len(got) == 0 || got[0].Msg != fmt.Sprintf("the rendered template would hold more than %d bytes of substituted text", maxRendered) {
		t.Errorf("a rendering of %d bytes of references was not refused: %v", 1100*4096, err)
	}
}

// TestDiff reports a deployed resource's drift field by field.
func TestDiff(t *testing.T) {
	tmpl, _ := readTemplate(t, baseline)
	rs, err := tmpl.Render(env(member2, key2), map[string]string{"OrganizationId": org})
	if err != nil {
		t.Fatal(err)
	}
	m := byID(rs)
	want := m["SessionLogs"].Properties.(*LogGroup)
	got := *want
	got.RetentionInDays, got.KmsKeyID = 7, ""
	if d := Diff(want, &got); !reflect.DeepEqual(d, []Difference{
		{Path: "KmsKeyId", Want: ids.KeyARN(member2, key2), Got: nil},
		{Path: "RetentionInDays", Want: json.Number("365"), Got: json.Number("7")},
	}) {
		t.Errorf("Diff = %+v", d)
	}
	if Hash(&got) == m["SessionLogs"].Hash || Hash(want) != m["SessionLogs"].Hash {
		t.Error("the hash does not tell the drifted log group")
	}

	// The key policy read back from the key service, with one statement
	// changed by a member administrator.
	k := m["SessionKey"].Properties.(*Key)
	drifted := *k
	drifted.KeyPolicy = nil // not the rendering's map
	text := strings.Replace(k.PolicyText(), `"Effect":"Allow","Principal":"*"`, `"Effect":"Allow","Principal":{"Postern":"prn:postern:iam:000000000002:user/mallory"}`, 1)
	if err := json.Unmarshal([]byte(text), &drifted.KeyPolicy); err != nil {
		t.Fatal(err)
	}
	drifted.Enabled = false
	if d := Diff(k, &drifted); !reflect.DeepEqual(d, []Difference{
		{Path: "Enabled", Want: true, Got: false},
		{Path: "KeyPolicy.Statement[2].Principal", Want: "*", Got: map[string]any{"Postern": "prn:postern:iam:000000000002:user/mallory"}},
	}) {
		t.Errorf("Diff = %+v", d)
	}
	if d := Diff(k, k); len(d) != 0 {
		t.Errorf("a resource differs from itself: %+v", d)
	}
	if d := Diff(want, k); len(d) != 1 || d[0].Path != "Type" {
		t.Errorf("Diff of two types = %+v", d)
	}
}
