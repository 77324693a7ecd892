package keys_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/postern/postern/keys"
)

// allowIf is a policy whose one statement allows kms:Decrypt to anyone when
// condition (a JSON object) holds.
func allowIf(t *testing.T, condition string) *keys.Policy {
	t.Helper()
	p, err := keys.ParsePolicy(`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Condition": ` + condition + `}]}`)
	if err != nil {
		t.Fatalf("ParsePolicy(%s): %v", condition, err)
	}
	return p
}

// TestConditionOperators is every condition operator, with and without
// IfExists, on a key that is missing, present and matching, and present and
// not matching, as "IAM JSON policy elements: Condition operators" (AWS
// Identity and Access Management User Guide) documents them: "If the key
// that you specify in a policy condition is not present in the request
// context, the values do not match and the condition is false. If the
// policy condition requires that the key is not matched, such as
// StringNotLike or ArnNotLike, and the right key is not present, the
// condition is true. This logic applies to all condition operators except
// ...IfExists and Null check."
func TestConditionOperators(t *testing.T) {
	const (
		ana  = "arn:aws:iam::222222222222:user/Ana"
		mary = "arn:aws:iam::222222222222:user/Mary"
	)
	for _, tc := range []struct {
		op              string
		value           string // the policy's
		match, mismatch string // request values
	}{
		{"StringEquals", "finance", "finance", "Finance"}, // case-sensitive
		{"StringNotEquals", "finance", "finance", "Finance"},
		{"StringEqualsIgnoreCase", "finance", "FINANCE", "hr"},
		{"StringNotEqualsIgnoreCase", "finance", "FINANCE", "hr"},
		{"StringLike", "t?.*", "t2.micro", "m4.large"},
		{"StringNotLike", "t?.*", "t2.micro", "T2.micro"},
		{"ArnEquals", "arn:aws:iam::*:user/A?a", ana, mary}, // ArnEquals takes wildcards too
		{"ArnLike", "arn:aws:iam::*:user/A?a", ana, mary},
		{"ArnNotEquals", "arn:aws:iam::222222222222:user/Ana", ana, mary},
		{"ArnNotLike", "arn:aws:iam::*:user/A*", ana, mary},
	} {
		negated := strings.Contains(tc.op, "Not")
		for _, ifExists := range []bool{false, true} {
			op := tc.op
			if ifExists {
				op += "IfExists"
			}
			p := allowIf(t, fmt.Sprintf(`{%q: {"kms:EncryptionContext:k": %q}}`, op, tc.value))
			for _, c := range []struct {
				what string
				ec   keys.EncryptionContext
				want bool
			}{
				// A missing key: IfExists holds, a negated operator holds,
				// a positive one does not.
				{"missing", nil, ifExists || negated},
				{"missing, another key present", keys.EncryptionContext{"other": tc.match}, ifExists || negated},
				{"matching " + tc.match, keys.EncryptionContext{"k": tc.match}, !negated},
				{"not matching " + tc.mismatch, keys.EncryptionContext{"k": tc.mismatch}, negated},
			} {
				if got := p.Allows(logs, "kms:Decrypt", c.ec); got != c.want {
					t.Errorf("%s %q, key %s: %v, want %v", op, tc.value, c.what, got, c.want)
				}
			}
		}
	}
}

// TestConditionNull is IAM's Null check: "true" holds when the key is
// missing, "false" when it is present.
func TestConditionNull(t *testing.T) {
	missing := allowIf(t, `{"Null": {"kms:EncryptionContext:k": "true"}}`)
	present := allowIf(t, `{"Null": {"kms:EncryptionContext:k": "false"}}`)
	for _, tc := range []struct {
		ec               keys.EncryptionContext
		missing, present bool
	}{
		{nil, true, false},
		{keys.EncryptionContext{"k": ""}, false, true},
		{keys.EncryptionContext{"k": "v"}, false, true},
	} {
		if got := missing.Allows(logs, "kms:Decrypt", tc.ec); got != tc.missing {
			t.Errorf("Null true on %v: %v", tc.ec, got)
		}
		if got := present.Allows(logs, "kms:Decrypt", tc.ec); got != tc.present {
			t.Errorf("Null false on %v: %v", tc.ec, got)
		}
	}
}

// TestConditionExamples are the examples of AWS's documentation, with the
// context keys made encryption context keys (the only condition keys a
// key policy evaluates here), each checked against the outcome the
// documentation gives.
func TestConditionExamples(t *testing.T) {
	const (
		ana  = "arn:aws:iam::222222222222:user/Ana"
		mary = "arn:aws:iam::222222222222:user/Mary"
		bob  = "arn:aws:iam::222222222222:user/Bob"
	)
	ctx := func(kv ...string) keys.EncryptionContext {
		ec := keys.EncryptionContext{}
		for i := 0; i < len(kv); i += 2 {
			ec[kv[i]] = kv[i+1]
		}
		return ec
	}
	type check struct {
		ec   keys.EncryptionContext
		want bool // allowed
	}
	for _, tc := range []struct {
		name   string
		policy string
		checks []check
	}{
		{
			// "Conditions with multiple context keys or values": several
			// operators AND, several keys under one operator AND, several
			// values for one key OR.
			name: "multiple keys and values",
			policy: `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Condition": {
				"StringEquals": {"kms:EncryptionContext:department": ["finance", "hr", "legal"], "kms:EncryptionContext:role": ["audit", "security"]},
				"ArnLike": {"kms:EncryptionContext:principal": ["` + ana + `", "` + mary + `"]}}}]}`,
			checks: []check{
				{ctx("department", "hr", "role", "audit", "principal", mary), true},
				{ctx("department", "legal", "role", "security", "principal", ana), true},
				{ctx("department", "hr", "principal", mary), false},                    // role missing
				{ctx("department", "hr", "role", "audit", "principal", bob), false},    // not Ana nor Mary
				{ctx("department", "HR", "role", "audit", "principal", mary), false},   // case-sensitive
				{ctx("department", "sales", "role", "audit", "principal", ana), false}, // none of the departments
			},
		},
		{
			// The same page's negated form: "If a single negated matching
			// condition operator includes multiple values for a context
			// key, those values are evaluated using a logical NOR." The
			// Deny applies only when the department, the role and the
			// principal are each none of the values, or missing.
			name: "negated operators with multiple values deny",
			policy: `{"Statement": [
				{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"},
				{"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Condition": {
					"StringNotEquals": {"kms:EncryptionContext:department": ["finance", "hr", "legal"], "kms:EncryptionContext:role": ["audit", "security"]},
					"ArnNotLike": {"kms:EncryptionContext:principal": ["` + ana + `", "` + mary + `"]}}}]}`,
			checks: []check{
				{ctx("department", "sales", "role", "dev", "principal", bob), false},
				{ctx(), false}, // every key missing: every negated condition holds
				{ctx("department", "sales", "principal", bob), false},
				{ctx("department", "hr", "role", "dev", "principal", bob), true},
				{ctx("department", "sales", "role", "audit", "principal", bob), true},
				{ctx("department", "sales", "role", "dev", "principal", mary), true},
			},
		},
		{
			// The finding of issue 16: a Deny with StringNotEquals on a
			// missing encryption context key must bite, as in AWS KMS.
			name: "Deny StringNotEquals bites on a missing key",
			policy: `{"Statement": [
				{"Effect": "Allow", "Principal": {"Service": "logs.postern"}, "Action": "kms:*"},
				{"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Condition": {
					"StringNotEquals": {"kms:EncryptionContext:aws:logs:arn": "prn:postern:logs:000000000001:log-group/audit"}}}]}`,
			checks: []check{
				{ctx("aws:logs:arn", "prn:postern:logs:000000000001:log-group/audit"), true},
				{ctx("aws:logs:arn", "prn:postern:logs:000000000001:log-group/scratch"), false},
				{ctx(), false},
				{ctx("postern:session", "s-1"), false},
			},
		},
		{
			// "...IfExists condition operators": "If the policy key is
			// present in the context of the request, process the key as
			// specified in the policy. If the key is not present, evaluate
			// the condition element as true." (the documented example on
			// ec2:InstanceType).
			name: "StringLikeIfExists",
			policy: `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Condition": {
				"StringLikeIfExists": {"kms:EncryptionContext:InstanceType": ["t1.*", "t2.*", "m3.*"]}}}]}`,
			checks: []check{
				{ctx(), true},
				{ctx("InstanceType", "t2.micro"), true},
				{ctx("InstanceType", "m4.large"), false},
			},
		},
		{
			// IfExists widens a Deny: it bites on a missing key too,
			// where the plain operator lets the request through.
			name: "Deny StringEqualsIfExists bites on a missing key",
			policy: `{"Statement": [
				{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"},
				{"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Condition": {
					"StringEqualsIfExists": {"kms:EncryptionContext:department": "finance"}}}]}`,
			checks: []check{
				{ctx(), false},
				{ctx("department", "finance"), false},
				{ctx("department", "hr"), true},
			},
		},
		{
			name: "Deny StringEquals spares a missing key",
			policy: `{"Statement": [
				{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"},
				{"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Condition": {
					"StringEquals": {"kms:EncryptionContext:department": "finance"}}}]}`,
			checks: []check{
				{ctx(), true},
				{ctx("department", "finance"), false},
				{ctx("department", "hr"), true},
			},
		},
		{
			// "Amazon Resource Name (ARN) condition operators": "Each of
			// the six colon-delimited components of the ARN is checked
			// separately and each can include multi-character match
			// wildcards (*) or single-character match wildcards (?)". The
			// ARN is CloudWatch Logs' log group ARN of its KMS guide.
			name: "ArnLike compares the six parts",
			policy: `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Condition": {
				"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-*:111122223333:log-group:*"}}}]}`,
			checks: []check{
				{ctx("aws:logs:arn", "arn:aws:logs:us-east-1:111122223333:log-group:ssm-secure"), true},
				// The resource part may hold colons, and its * crosses them.
				{ctx("aws:logs:arn", "arn:aws:logs:us-west-2:111122223333:log-group:a:b"), true},
				{ctx("aws:logs:arn", "arn:aws:logs:eu-west-1:111122223333:log-group:ssm-secure"), false},
				{ctx("aws:logs:arn", "arn:aws:logs:us-east-1:444455556666:log-group:ssm-secure"), false},
				{ctx("aws:logs:arn", "arn:aws:logs:us-east-1:111122223333:destination:x"), false},
				{ctx("aws:logs:arn", "log-group:ssm-secure"), false}, // not an ARN
			},
		},
		{
			// A wildcard does not reach across the colons of the first
			// five parts: this pattern has four parts, so it matches no
			// ARN, where a plain string wildcard would match all of them.
			name: "ArnLike wildcards stay in their part",
			policy: `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Condition": {
				"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:*:log-group:*"}}}]}`,
			checks: []check{
				{ctx("aws:logs:arn", "arn:aws:logs:us-east-1:111122223333:log-group:x"), false},
			},
		},
		{
			// Postern's own resource names have five parts, with no
			// region: prn:postern:SERVICE:ACCOUNT:RESOURCE.
			name: "ArnLike on Postern's log group names",
			policy: `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Condition": {
				"ArnLike": {"kms:EncryptionContext:aws:logs:arn": ["prn:postern:logs:*:log-group/ssm-*", "prn:*:logs:000000000003:*"]}}}]}`,
			checks: []check{
				{ctx("aws:logs:arn", "prn:postern:logs:000000000001:log-group/ssm-secure"), true},
				{ctx("aws:logs:arn", "prn:postern:logs:000000000002:log-group/ssm-a:b"), true},
				{ctx("aws:logs:arn", "prn:postern:logs:000000000001:log-group/scratch"), false},
				{ctx("aws:logs:arn", "prn:postern:logs:000000000003:log-group/scratch"), true},
				{ctx("aws:logs:arn", "prn:postern:iam:000000000003:user/bob"), false},
			},
		},
		{
			// "IAM JSON policy elements: Condition": "Context key names
			// are not case-sensitive"; values are, with StringEquals.
			name: "condition key names are not case-sensitive",
			policy: `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Condition": {
				"StringEquals": {"KMS:encryptioncontext:department": "finance"}}}]}`,
			checks: []check{
				{ctx("department", "finance"), true},
				{ctx("department", "FINANCE"), false},
			},
		},
		{
			// The KMS developer guide's way to require an encryption
			// context: deny when the key is missing.
			name: "Deny Null true",
			policy: `{"Statement": [
				{"Effect": "Allow", "Principal": "*", "Action": "kms:*"},
				{"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Condition": {"Null": {"kms:EncryptionContext:department": "true"}}}]}`,
			checks: []check{
				{ctx(), false},
				{ctx("department", "finance"), true},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := keys.ParsePolicy(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.checks {
				if got := p.Allows(logs, "kms:Decrypt", c.ec); got != c.want {
					b, _ := json.Marshal(c.ec)
					t.Errorf("encryption context %s: allowed %v, want %v", b, got, c.want)
				}
			}
		})
	}
}

// TestConditionOrganization is the multi-account guidance's key policy: the
// organization's principals may use the key, whatever their account, and
// no one else; a service acting for a resource is told apart by the
// aws:Source... keys. A caller whose account belongs to no organization
// lacks aws:PrincipalOrgID, and a positive condition on it fails.
func TestConditionOrganization(t *testing.T) {
	p := allowIf(t, `{"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}`)
	member := keys.UserCaller("000000000002", "alice", false)
	member.OrgID = "o-a1b2c3d4e5"
	outsider := keys.UserCaller("000000000009", "mallory", false)
	outsider.OrgID = "o-ffffffffff"
	loner := keys.UserCaller("000000000003", "bob", false)
	service := keys.Caller{Account: "000000000002", Service: keys.LogsService, OrgID: "o-a1b2c3d4e5"}
	for _, c := range []struct {
		name   string
		caller keys.Caller
		want   bool
	}{
		{"member", member, true},
		{"another organization", outsider, false},
		{"no organization", loner, false},
		// A service is not a principal of the organization: it has
		// aws:SourceOrgID instead.
		{"service", service, false},
	} {
		if got := p.Allows(c.caller, "kms:Decrypt", nil); got != c.want {
			t.Errorf("%s: allowed %v, want %v", c.name, got, c.want)
		}
	}
	src := allowIf(t, `{"StringEquals": {"aws:SourceOrgID": "o-a1b2c3d4e5", "AWS:SOURCEACCOUNT": "000000000002"}}`)
	if !src.Allows(service, "kms:Decrypt", nil) {
		t.Error("the log store acting for a member account was refused")
	}
	if src.Allows(member, "kms:Decrypt", nil) {
		t.Error("a user matched aws:SourceOrgID, which only services acting for a resource have")
	}
	acct := allowIf(t, `{"StringNotEquals": {"aws:PrincipalAccount": "000000000002"}}`)
	if acct.Allows(member, "kms:Decrypt", nil) || !acct.Allows(loner, "kms:Decrypt", nil) {
		t.Error("aws:PrincipalAccount is not the caller's account")
	}
	if _, err := keys.ParsePolicy(`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Condition": {"StringEquals": {"aws:PrincipalOrgPaths": "o-a/r-b/"}}}]}`); err == nil ||
		!strings.Contains(err.Error(), `Condition key "aws:PrincipalOrgPaths": only kms:EncryptionContext:... and aws:PrincipalOrgID, aws:PrincipalAccount, aws:SourceOrgID, aws:SourceAccount are supported`) {
		t.Errorf("ParsePolicy took a condition key it cannot evaluate, or said so unclearly: %v", err)
	}
}
