package keys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
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
//	  "Condition": {OPERATOR: {"kms:EncryptionContext:KEY": value or [values]}}}]}
//
// with the condition operators of conditionOps (see there for how each
// evaluates, a missing key included). Besides the encryption context, a
// condition may test the caller's organization and account, with IAM's
// global condition keys aws:PrincipalOrgID, aws:PrincipalAccount,
// aws:SourceOrgID and aws:SourceAccount (see PrincipalOrgID).
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

// conditionOps are the condition operators a key policy may use, as IAM
// documents them ("IAM JSON policy elements: Condition operators", and
// "Conditions with multiple context keys or values"), for the string
// valued keys Postern's requests have (kms:EncryptionContext:KEY and the
// global keys of PrincipalOrgID):
//
//   - String* compare case-sensitively, ...IgnoreCase without case;
//     StringLike takes the wildcards * (any run) and ? (one character).
//   - ArnEquals and ArnLike are the same test (IAM documents them together):
//     an AWS ARN has six colon-delimited parts
//     (arn:partition:service:region:account:resource), a Postern resource
//     name five (prn:postern:service:account:resource, with no region); the
//     request's value and the policy's split into as many parts, each part
//     matched on its own with * and ?, so that a wildcard never reaches
//     across a colon except inside the resource part, which may hold
//     colons itself. A value that is neither form matches nothing.
//   - Several values for one key: true if any matches (OR); for a negated
//     operator (...Not...), true if none matches (NOR).
//   - A key missing from the request: a positive operator is false, a
//     negated one true (so a Deny with StringNotEquals bites when the key is
//     missing), and any operator with IfExists appended true.
//   - Null: "true" holds when the key is missing, "false" when it is
//     present. It takes no IfExists.
//
// Several keys under one operator, and several operators, must all hold
// (AND).
var conditionOps = map[string]condOp{
	"StringEquals":              {match: stringEquals},
	"StringNotEquals":           {match: stringEquals, negated: true},
	"StringEqualsIgnoreCase":    {match: strings.EqualFold},
	"StringNotEqualsIgnoreCase": {match: strings.EqualFold, negated: true},
	"StringLike":                {match: glob},
	"StringNotLike":             {match: glob, negated: true},
	"ArnEquals":                 {match: arnLike},
	"ArnLike":                   {match: arnLike},
	"ArnNotEquals":              {match: arnLike, negated: true},
	"ArnNotLike":                {match: arnLike, negated: true},
}

// nullOp is IAM's Null check: whether a key is missing.
const nullOp = "Null"

// condOp is how a condition operator compares a request's value with one
// of the policy's.
type condOp struct {
	match   func(policyValue, requestValue string) bool
	negated bool
}

func stringEquals(a, b string) bool { return a == b }

// conditionKeyPrefix starts the condition keys of the encryption context.
// IAM's condition key names are not case-sensitive; the encryption context
// key after the prefix is compared as written, as the encryption context
// is.
const conditionKeyPrefix = "kms:EncryptionContext:"

// The global condition keys a key policy may use besides the encryption
// context: who the caller is in the organization, as IAM defines them. A
// user's request has aws:PrincipalAccount, and aws:PrincipalOrgID when the
// account belongs to an organization; a service's request on behalf of a
// resource (the log store for a log group) has aws:SourceAccount and
// aws:SourceOrgID instead. A key the request lacks is missing, as IAM has
// it: a positive operator on it is false, so that
// StringEquals aws:PrincipalOrgID admits no one outside an organization.
const (
	PrincipalOrgID   = "aws:PrincipalOrgID"
	PrincipalAccount = "aws:PrincipalAccount"
	SourceOrgID      = "aws:SourceOrgID"
	SourceAccount    = "aws:SourceAccount"
)

var globalKeys = []string{PrincipalOrgID, PrincipalAccount, SourceOrgID, SourceAccount}

// globalKey returns the global condition key conditionKey names, as IAM
// spells it.
func globalKey(conditionKey string) (string, bool) {
	for _, k := range globalKeys {
		if strings.EqualFold(conditionKey, k) {
			return k, true
		}
	}
	return "", false
}

// value returns the value of a condition key in c's request with the
// encryption context ec, and whether the request has it.
func (c Caller) value(conditionKey string, ec EncryptionContext) (string, bool) {
	if name, ok := contextKey(conditionKey); ok {
		v, present := ec[name]
		return v, present
	}
	k, ok := globalKey(conditionKey)
	if !ok {
		return "", false
	}
	user := c.Service == ""
	switch {
	case k == PrincipalAccount && user, k == SourceAccount && !user:
		return c.Account, c.Account != ""
	case k == PrincipalOrgID && user, k == SourceOrgID && !user:
		return c.OrgID, c.OrgID != ""
	}
	return "", false
}

// contextKey returns the encryption context key a condition key names.
func contextKey(conditionKey string) (string, bool) {
	if len(conditionKey) < len(conditionKeyPrefix) || !strings.EqualFold(conditionKey[:len(conditionKeyPrefix)], conditionKeyPrefix) {
		return "", false
	}
	return conditionKey[len(conditionKeyPrefix):], true
}

// operatorNames lists the condition operators for error messages.
func operatorNames() string {
	names := make([]string, 0, len(conditionOps)+1)
	for name := range conditionOps {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(append(names, nullOp), ", ")
}

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
			if _, ok := conditionOps[strings.TrimSuffix(op, "IfExists")]; !ok && op != nullOp {
				return nil, fmt.Errorf("%w: %s: Condition operator %q: want one of %s (all but Null optionally ...IfExists)", ErrInvalid, where, op, operatorNames())
			}
			for k, values := range conds {
				_, isContext := contextKey(k)
				if _, isGlobal := globalKey(k); !isContext && !isGlobal {
					return nil, fmt.Errorf("%w: %s: Condition key %q: only %s... and %s are supported", ErrInvalid, where, k, conditionKeyPrefix, strings.Join(globalKeys, ", "))
				}
				if op != nullOp {
					continue
				}
				for _, v := range values {
					if v != "true" && v != "false" {
						return nil, fmt.Errorf("%w: %s: Condition Null %q: %q: want \"true\" (the key is missing) or \"false\" (it is present)", ErrInvalid, where, k, v)
					}
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
	// OrgID is the organization (o-...) Account belongs to, or empty:
	// the value of aws:PrincipalOrgID (aws:SourceOrgID for a service).
	OrgID string
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
		for key, values := range conds {
			if !condition(op, key, values, c, ec) {
				return false
			}
		}
	}
	return true
}

// condition evaluates one operator on one key as IAM does (see
// conditionOps). A policy that passed ParsePolicy has only known operators
// and keys; anything else holds nowhere.
func condition(op, key string, values []string, c Caller, ec EncryptionContext) bool {
	_, isContext := contextKey(key)
	if _, isGlobal := globalKey(key); !isContext && !isGlobal {
		return false
	}
	got, present := c.value(key, ec)
	if op == nullOp {
		return slices.ContainsFunc(values, func(v string) bool { return v == strconv.FormatBool(!present) })
	}
	base, ifExists := strings.CutSuffix(op, "IfExists")
	o, ok := conditionOps[base]
	if !ok {
		return false
	}
	if !present {
		return ifExists || o.negated
	}
	matched := slices.ContainsFunc(values, func(v string) bool { return o.match(v, got) })
	return matched != o.negated
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

// arnLike matches an ARN against a pattern part by part (see
// conditionOps).
func arnLike(pattern, arn string) bool {
	n := 0
	switch {
	case strings.HasPrefix(arn, "arn:"):
		n = 6
	case strings.HasPrefix(arn, "prn:"):
		n = 5
	default:
		return false
	}
	p, a := strings.SplitN(pattern, ":", n), strings.SplitN(arn, ":", n)
	if len(p) != n || len(a) != n {
		return false
	}
	for i := range p {
		if !glob(p[i], a[i]) {
			return false
		}
	}
	return true
}
