package keys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/postern/postern/ids"
)

// A key policy is AWS KMS's JSON key policy, the part of it Postern
// evaluates, so that the policies of Session Manager's logging guide work as
// written once their ARNs name Postern's resources:
//
//	{"Version": "2012-10-17", "Statement": [{
//	  "Sid": "...", "Effect": "Allow" | "Deny",
//	  "Principal": "*" | {"Postern": ARN or [ARNs], "Service": name or [names]},
//	  "Action": "kms:Decrypt" | ["kms:GenerateDataKey*", ...],
//	  "Resource": "*",
//	  "Condition": {"StringEquals" | "StringLike" | "ArnEquals" | "ArnLike" |
//	                "StringNotEquals" | "StringNotLike":
//	                  {"kms:EncryptionContext:KEY": value or [values]}}}]}
//
// Principals are users' resource names (prn:postern:iam:ACCOUNT:user/NAME),
// an account's root (prn:postern:iam:ACCOUNT:root: its administrators), or
// services: "logs.postern" is Postern's log store using a key for a log
// group ("AWS" is read as "Postern", and a service "logs.*.amazonaws.com" as
// "logs.postern", for policies brought from AWS). A request is allowed when a
// statement allows it and none denies it: KMS's rule. The actions checked
// are KMS's: kms:GenerateDataKey, kms:Decrypt, kms:DescribeKey,
// kms:CreateAlias, kms:DeleteAlias, kms:EnableKey, kms:DisableKey,
// kms:ScheduleKeyDeletion, kms:CancelKeyDeletion, kms:PutKeyPolicy and
// kms:RotateKeyOnDemand. As in KMS, a policy that names neither a user nor
// the account's root locks them out, administrators included.
type Policy struct {
	Version   string      `json:"Version,omitempty"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a key policy.
type Statement struct {
	Sid       string                           `json:"Sid,omitempty"`
	Effect    string                           `json:"Effect"`
	Principal Principals                       `json:"Principal"`
	Action    stringList                       `json:"Action"`
	Resource  stringList                       `json:"Resource,omitempty"`
	Condition map[string]map[string]stringList `json:"Condition,omitempty"`
}

// Principals is a statement's Principal: everyone, or named ones.
type Principals struct {
	Any      bool
	Postern  []string
	Services []string
}

// Postern's own principals: the log store using a key for a log group, and
// the recorder sealing and reading sessions' recordings.
const (
	LogsService     = "logs.postern"
	RecorderService = "sessions.postern"
)

func (p *Principals) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "*" {
			return fmt.Errorf("Principal %q: want \"*\" or an object", s)
		}
		p.Any = true
		return nil
	}
	var m map[string]stringList
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("Principal: %w", err)
	}
	for k, v := range m {
		switch k {
		case "Postern", "AWS":
			p.Postern = append(p.Postern, v...)
		case "Service":
			for _, s := range v {
				if strings.HasPrefix(s, "logs.") && strings.HasSuffix(s, ".amazonaws.com") {
					s = LogsService
				}
				p.Services = append(p.Services, s)
			}
		default:
			return fmt.Errorf("Principal: unknown kind %q (want Postern, AWS or Service)", k)
		}
	}
	return nil
}

func (p Principals) MarshalJSON() ([]byte, error) {
	if p.Any {
		return json.Marshal("*")
	}
	m := map[string][]string{}
	if len(p.Postern) > 0 {
		m["Postern"] = p.Postern
	}
	if len(p.Services) > 0 {
		m["Service"] = p.Services
	}
	return json.Marshal(m)
}

// stringList is a JSON string or array of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = stringList{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return fmt.Errorf("want a string or a list of strings")
	}
	*l = ss
	return nil
}

var conditionOps = []string{"StringEquals", "StringLike", "ArnEquals", "ArnLike", "StringNotEquals", "StringNotLike"}

// ParsePolicy parses and checks a key policy, naming what is wrong.
func ParsePolicy(text string) (*Policy, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: key policy: %v", ErrInvalid, err)
	}
	if len(p.Statement) == 0 {
		return nil, fmt.Errorf("%w: key policy: no Statement", ErrInvalid)
	}
	for i, st := range p.Statement {
		where := fmt.Sprintf("key policy: Statement[%d]", i)
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, fmt.Errorf("%w: %s: Effect %q: want Allow or Deny", ErrInvalid, where, st.Effect)
		}
		if !st.Principal.Any && len(st.Principal.Postern) == 0 && len(st.Principal.Services) == 0 {
			return nil, fmt.Errorf("%w: %s: no Principal", ErrInvalid, where)
		}
		if len(st.Action) == 0 {
			return nil, fmt.Errorf("%w: %s: no Action", ErrInvalid, where)
		}
		for _, a := range st.Action {
			if !strings.HasPrefix(a, "kms:") {
				return nil, fmt.Errorf("%w: %s: Action %q: want kms:...", ErrInvalid, where, a)
			}
		}
		for op, conds := range st.Condition {
			if !slices.Contains(conditionOps, strings.TrimSuffix(op, "IfExists")) {
				return nil, fmt.Errorf("%w: %s: Condition operator %q: want one of %s (optionally ...IfExists)", ErrInvalid, where, op, strings.Join(conditionOps, ", "))
			}
			for k := range conds {
				if !strings.HasPrefix(k, "kms:EncryptionContext:") {
					return nil, fmt.Errorf("%w: %s: Condition key %q: only kms:EncryptionContext:... is supported", ErrInvalid, where, k)
				}
			}
		}
	}
	return &p, nil
}

// DefaultPolicy is a new key's policy when none is given: the account's
// administrators may do everything, as KMS's default key policy gives the
// account root, and Postern's recorder may seal and read sessions with it.
// Users who start sessions with the key need a statement of their own, as
// in Session Manager, where they need kms:GenerateDataKey.
func DefaultPolicy(account string) string {
	return `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"Enable administrators of the account","Effect":"Allow","Principal":{"Postern":"` + RootARN(account) + `"},"Action":"kms:*","Resource":"*"},` +
		`{"Sid":"Postern's recorder seals and reads sessions","Effect":"Allow","Principal":{"Service":"` + RecorderService + `"},` +
		`"Action":["kms:GenerateDataKey","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}`
}

// RootARN is the principal that stands for an account's administrators.
func RootARN(account string) string { return "prn:postern:iam:" + account + ":root" }

// Caller is who asks the key service for something.
type Caller struct {
	Account string
	// ARN is a user's resource name (ids.UserARN), or empty for a
	// service.
	ARN string
	// Admin: the user administers the account, and so is its root.
	Admin bool
	// Delegate, when set, says whether the account's own policies (Cedar,
	// package authz) let the user perform action with the key. A key
	// policy statement whose principal is the account root matches when it
	// does: as in KMS, where such a statement enables IAM policies.
	Delegate func(keyID, action string) bool
	// Service is the service acting ("logs.postern"), or empty for a
	// user.
	Service string
}

// UserCaller is the Caller for a user of an account.
func UserCaller(account, user string, admin bool) Caller {
	return Caller{Account: account, ARN: ids.UserARN(account, user), Admin: admin}
}

// forKey is c as a key's policy sees it: the root when the account's
// policies delegate action on keyID to it.
func (c Caller) forKey(keyID, action string) Caller {
	if !c.Admin && c.Service == "" && c.Delegate != nil {
		c.Admin = c.Delegate(keyID, action)
	}
	return c
}

// Allows reports whether the policy lets c perform action with the
// encryption context ec.
func (p *Policy) Allows(c Caller, action string, ec EncryptionContext) bool {
	allowed := false
	for _, st := range p.Statement {
		if !st.matches(c, action, ec) {
			continue
		}
		if st.Effect == "Deny" {
			return false
		}
		allowed = true
	}
	return allowed
}

func (st Statement) matches(c Caller, action string, ec EncryptionContext) bool {
	if !slices.ContainsFunc(st.Action, func(a string) bool { return glob(a, action) }) {
		return false
	}
	if !st.Principal.matches(c) {
		return false
	}
	for op, conds := range st.Condition {
		base, ifExists := strings.CutSuffix(op, "IfExists")
		for key, want := range conds {
			got, ok := ec[strings.TrimPrefix(key, "kms:EncryptionContext:")]
			if !ok {
				if ifExists {
					continue
				}
				return false
			}
			if !condition(base, got, want) {
				return false
			}
		}
	}
	return true
}

func (p Principals) matches(c Caller) bool {
	if p.Any {
		return true
	}
	if c.Service != "" {
		return slices.Contains(p.Services, c.Service)
	}
	for _, want := range p.Postern {
		if want == c.ARN || want == RootARN(c.Account) && c.Admin || want == "*" {
			return true
		}
	}
	return false
}

func condition(op, got string, want []string) bool {
	switch op {
	case "StringEquals", "ArnEquals":
		return slices.Contains(want, got)
	case "StringLike", "ArnLike":
		return slices.ContainsFunc(want, func(w string) bool { return glob(w, got) })
	case "StringNotEquals":
		return !slices.Contains(want, got)
	case "StringNotLike":
		return !slices.ContainsFunc(want, func(w string) bool { return glob(w, got) })
	}
	return false
}

// glob matches s against pattern with IAM's wildcards: * any run, ? one
// character.
func glob(pattern, s string) bool {
	// path.Match's * stops at '/', which IAM's does not: compare with the
	// slashes made ordinary.
	const sep = "\x00"
	if strings.Contains(pattern, sep) || strings.Contains(s, sep) {
		return pattern == s
	}
	esc := strings.NewReplacer("[", `\[`, `\`, `\\`, "/", sep)
	ok, err := path.Match(esc.Replace(pattern), strings.ReplaceAll(s, "/", sep))
	return err == nil && ok
}
