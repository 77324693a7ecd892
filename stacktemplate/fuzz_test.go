package stacktemplate

import (
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/postern/postern/authz"
	"github.com/postern/postern/keys"
)

// fuzzEnv is an account to render fuzzed templates for, with a key id for
// each key the template declares.
func fuzzEnv(t *Template) Env {
	e := Env{AccountID: member2, Region: "local", StackName: "fuzz", PhysicalIDs: map[string]string{}}
	for _, id := range t.AssignedIDs() {
		sum := sha256.Sum256([]byte(id))
		e.PhysicalIDs[id] = fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	}
	return e
}

// FuzzParse checks that Parse never panics, that what it refuses it says
// why at a place in the template, and that what it accepts renders without
// panicking into resources in dependency order, each hashed.
func FuzzParse(f *testing.F) {
	src, err := os.ReadFile(baseline)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(src)
	for _, tc := range parseErrorCases {
		f.Add([]byte(tc.template))
	}
	f.Add([]byte(`{"AWSTemplateFormatVersion": "2010-09-09",
  "Parameters": {"Days": {"Type": "Number", "Default": "30", "AllowedValues": [30, 90]},
                 "Names": {"Type": "CommaDelimitedList", "Default": "a, b"}},
  "Resources": {
    "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": [{"Effect": "Allow",
      "Principal": {"Postern": {"Ref": "Names"}}, "Action": "kms:*"}]}}},
    "Alias": {"Type": "AWS::KMS::Alias", "Properties": {"AliasName": "alias/k", "TargetKeyId": {"Fn::GetAtt": ["Key", "KeyId"]}}},
    "Logs": {"Type": "AWS::Logs::LogGroup", "DependsOn": "Alias", "Properties": {
      "LogGroupName": {"Fn::Sub": ["/p/${A}/${!x}", {"A": {"Ref": "AWS::StackName"}}]},
      "RetentionInDays": {"Ref": "Days"}, "KmsKeyId": {"Ref": "Alias"}}}},
  "Outputs": {"Names": {"Value": {"Ref": "Names"}}}}`))
	f.Add([]byte("Resources:\n  P:\n    Type: Postern::Authz::Policy\n    Properties:\n      Statement: !Sub |\n        permit (principal in Group::\"${AWS::Region}\", action, resource);\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tmpl, err := Parse("f.yaml", data)
		if err != nil {
			if tmpl != nil {
				t.Fatal("a template returned with an error")
			}
			errs := Errors(err)
			if len(errs) == 0 || len(errs) > maxErrors+1 {
				t.Fatalf("%d problems in %v", len(errs), err)
			}
			for _, e := range errs {
				if e.File != "f.yaml" || e.Msg == "" || e.Line < 0 || e.Column < 0 {
					t.Fatalf("a problem that says nothing, or nowhere: %#v", e)
				}
			}
			return
		}
		params := map[string]string{}
		for _, p := range tmpl.Parameters() {
			if !p.HasDefault {
				params[p.Name] = "x"
			}
		}
		rs, err := tmpl.Render(fuzzEnv(tmpl), params)
		if err != nil {
			if len(Errors(err)) == 0 {
				t.Fatalf("Render failed without saying where: %v", err)
			}
			return
		}
		var seen []string
		for _, r := range rs {
			for _, d := range r.DependsOn {
				if !slices.Contains(seen, d) {
					t.Fatalf("%s comes before %s, which it depends on", r.LogicalID, d)
				}
			}
			seen = append(seen, r.LogicalID)
			if r.Hash != Hash(r.Properties) {
				t.Fatalf("%s: Hash is not its properties'", r.LogicalID)
			}
		}
	})
}

// FuzzRender renders the baseline template with fuzzed parameter values:
// Render never panics, and what it renders is what the packages that own
// each resource accept.
func FuzzRender(f *testing.F) {
	tmpl, _ := readTemplate(f, baseline)
	f.Add(org, "365", "true", "20", "operators")
	f.Add(org, "30", "false", "1", "ops")
	f.Add("o-", "30.0", "True", "60", `x"`)
	f.Add(org, "1e3", "", "-0", "a\nb")
	f.Fuzz(func(t *testing.T, orgID, days, streaming, idle, group string) {
		rs, err := tmpl.Render(env(member2, key2), map[string]string{
			"OrganizationId": orgID, "RetentionDays": days, "Streaming": streaming, "IdleTimeout": idle, "Operators": group,
		})
		if err != nil {
			if len(Errors(err)) == 0 {
				t.Fatalf("Render failed without saying where: %v", err)
			}
			return
		}
		m := byID(rs)
		if _, err := keys.ParsePolicy(m["SessionKey"].Properties.(*Key).PolicyText()); err != nil {
			t.Fatalf("rendered a key policy the key service refuses: %v", err)
		}
		if err := m["Preferences"].Properties.(*SessionDocument).Content.Validate(); err != nil {
			t.Fatalf("rendered an invalid document: %v", err)
		}
		p := m["OperatorsPolicy"].Properties.(*Policy)
		if _, err := authz.NewPolicySet([]authz.Stored{{ID: p.PolicyID, Text: p.Statement}}); err != nil {
			t.Fatalf("rendered a Cedar policy authz refuses: %v", err)
		}
	})
}
