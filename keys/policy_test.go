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

// TestOrganizationConditionKeys: a key policy that lets the principals
// and services of one organization use a key, as the multi-account
// logging setup's archive key does, admits them and refuses an outsider;
// the set operators treat a missing key as IAM does.
func TestOrganizationConditionKeys(t *testing.T) {
	p, err := keys.ParsePolicy(`{"Version": "2012-10-17", "Statement": [
	  {"Sid": "org users", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt",
	   "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}},
	  {"Sid": "prod units only may generate", "Effect": "Allow", "Principal": "*", "Action": "kms:GenerateDataKey",
	   "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-abcdefghij/r-ab12/ou-ab12-prodprod/*"}}},
	  {"Sid": "the org's recorders", "Effect": "Allow", "Principal": {"Service": "sessions.postern"}, "Action": "kms:GenerateDataKey",
	   "Condition": {"StringEquals": {"aws:SourceOrgID": "o-abcdefghij"}, "StringNotEquals": {"aws:SourceAccount": "111111111111"}}},
	  {"Sid": "no user of another organization (ForAllValues holds on a missing key: hence the Null)", "Effect": "Deny", "Principal": "*", "Action": "kms:*",
	   "Condition": {"ForAllValues:StringNotLike": {"aws:PrincipalOrgPaths": "o-abcdefghij/*"}, "Null": {"aws:PrincipalOrgPaths": "false"}}}
	]}`)
	if err != nil {
		t.Fatal(err)
	}
	member := keys.Caller{Account: "222222222222", ARN: "prn:postern:iam:222222222222:user/alice", OrgID: "o-abcdefghij", OrgPath: "o-abcdefghij/r-ab12/ou-ab12-prodprod/ou-ab12-webwebwe/"}
	devMember := keys.Caller{Account: "333333333333", ARN: "prn:postern:iam:333333333333:user/bob", OrgID: "o-abcdefghij", OrgPath: "o-abcdefghij/r-ab12/ou-ab12-devdevde/"}
	outsider := keys.Caller{Account: "444444444444", ARN: "prn:postern:iam:444444444444:user/eve"}
	otherOrg := keys.Caller{Account: "555555555555", ARN: "prn:postern:iam:555555555555:user/mallory", OrgID: "o-zzzzzzzzzz", OrgPath: "o-zzzzzzzzzz/r-zz99/"}
	recorder := func(account, org string) keys.Caller {
		return keys.Caller{Account: account, Service: keys.RecorderService, OrgID: org}
	}
	for _, tt := range []struct {
		name   string
		c      keys.Caller
		action string
		want   bool
	}{
		{"a member decrypts", member, "kms:Decrypt", true},
		{"a dev member decrypts", devMember, "kms:Decrypt", true},
		{"an account outside any organization does not", outsider, "kms:Decrypt", false},
		{"another organization's user does not", otherOrg, "kms:Decrypt", false},
		{"a prod member generates", member, "kms:GenerateDataKey", true},
		{"a dev member does not generate", devMember, "kms:GenerateDataKey", false},
		{"the recorder of a member generates", recorder("222222222222", "o-abcdefghij"), "kms:GenerateDataKey", true},
		{"the recorder of an excluded member does not", recorder("111111111111", "o-abcdefghij"), "kms:GenerateDataKey", false},
		{"the recorder of an outsider does not", recorder("444444444444", ""), "kms:GenerateDataKey", false},
		{"a service has no aws:PrincipalOrgID", recorder("222222222222", "o-abcdefghij"), "kms:Decrypt", false},
	} {
		if got := p.Allows(tt.c, tt.action, nil); got != tt.want {
			t.Errorf("%s: Allows = %v, want %v", tt.name, got, tt.want)
		}
	}
	// The Deny's ForAllValues holds when the key is missing: a user
	// outside any organization is denied even where another statement
	// would allow everyone.
	open, err := keys.ParsePolicy(`{"Statement": [
	  {"Effect": "Allow", "Principal": "*", "Action": "kms:*"},
	  {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Condition": {"ForAnyValue:StringEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}}}
	]}`)
	if err != nil {
		t.Fatal(err)
	}
	if !open.Allows(outsider, "kms:Decrypt", nil) || open.Allows(otherOrg, "kms:Decrypt", nil) || !open.Allows(member, "kms:Decrypt", nil) {
		t.Errorf("ForAnyValue on a missing key: outsider %v, other organization %v, member %v; want true, false, true",
			open.Allows(outsider, "kms:Decrypt", nil), open.Allows(otherOrg, "kms:Decrypt", nil), open.Allows(member, "kms:Decrypt", nil))
	}
}
