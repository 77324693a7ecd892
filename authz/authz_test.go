package authz

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

const (
	home  = "000000000001"
	other = "000000000002"
)

// roles are the principals of the suite: one user per default group, and a
// user in none.
var roles = map[string][]string{
	"admin":    {Administrators},
	"operator": {Operators},
	"auditor":  {Auditors},
	"nobody":   nil,
}

// resourceCase is one resource an action can be tried on.
type resourceCase struct {
	name     string
	entity   Entity
	related  []Entity
	context  map[string]string
	own      bool // owned by (or being) the principal
	devNode  bool // a node tagged env=dev, or a session on one
	homeAcct bool
}

// resourcesFor returns the variants of the action's resource type for a
// principal named user: in its account and another, owned by it or not,
// on a dev node or not.
func resourcesFor(a Action, user string) []resourceCase {
	var out []resourceCase
	for _, acct := range []string{home, other} {
		h := acct == home
		switch ResourceType(a) {
		case "Node":
			for _, tags := range []map[string]string{{"env": "dev"}, {"env": "prod"}, nil} {
				n := Node(acct, "mi-0123456789abcdef0", "web", tags)
				out = append(out, resourceCase{name: fmt.Sprintf("node %v in %s", tags, acct), entity: n, devNode: tags["env"] == "dev", homeAcct: h})
			}
		case "Session":
			for _, owner := range []string{user, "someone-else"} {
				for _, tags := range []map[string]string{{"env": "dev"}, {"env": "prod"}} {
					n := Node(acct, "mi-0123456789abcdef0", "web", tags)
					s := Session(acct, owner+"-07e2d6c1b9a3f4e51", owner, n)
					out = append(out, resourceCase{name: fmt.Sprintf("session of %s on %v in %s", owner, tags, acct), entity: s, related: []Entity{n},
						own: owner == user, devNode: tags["env"] == "dev", homeAcct: h})
				}
			}
		case "Command":
			for _, owner := range []string{user, "someone-else"} {
				out = append(out, resourceCase{name: fmt.Sprintf("command of %s in %s", owner, acct), entity: Command(acct, "11111111-2222-4333-8444-555555555555", owner),
					own: owner == user, homeAcct: h})
			}
		case "User":
			for _, name := range []string{user, "someone-else"} {
				out = append(out, resourceCase{name: fmt.Sprintf("user %s in %s", name, acct), entity: User(acct, name, nil, ""), own: name == user, homeAcct: h})
			}
		case "Key":
			for _, op := range []string{"kms:Decrypt", "kms:GenerateDataKey", "kms:ScheduleKeyDeletion"} {
				out = append(out, resourceCase{name: fmt.Sprintf("key for %s in %s", op, acct), entity: Named("Key", acct, "k1"), context: map[string]string{"operation": op}, homeAcct: h})
			}
		case "Account":
			out = append(out, resourceCase{name: "account " + acct, entity: AccountEntity(acct), homeAcct: h})
		default:
			out = append(out, resourceCase{name: ResourceType(a) + " in " + acct, entity: Named(ResourceType(a), acct, "x"), homeAcct: h})
		}
	}
	return out
}

var (
	operatorReads = []Action{DescribeNodes, DescribeDocuments, GetDocument, ValidateDocument, GetPreferences}
	operatorOwn   = []Action{DescribeSessions, ResumeSession, TerminateSession, GetSessionLogs, ListCommands, CancelCommand}
	auditorReads  = []Action{
		DescribeNodes, DescribeSessions, GetSessionLogs, ObserveSession,
		DescribeLogGroups, DescribeLogStreams, GetLogEvents, QueryLogs, DescribeMetricFilters, DescribeSubscriptionFilters, DescribeDeliveryStreams, DescribeRules, ListCommands,
		DescribeDocuments, GetDocument, ValidateDocument, GetPreferences,
		DescribeKeys, DescribeUsers, DescribePolicies, TestPolicy,
		LookupAuditEvents, VerifyAuditTrail, DescribeActivations,
	}
	selfService = []Action{GetCallerIdentity, CreateToken, DescribeTokens, RevokeToken}
)

// want is the default policies as the issue describes them, written out
// independently of their Cedar text.
func want(role string, a Action, rc resourceCase) bool {
	if !rc.homeAcct {
		return false // nothing crosses accounts
	}
	if slices.Contains(selfService, a) && rc.own {
		return true
	}
	op := rc.context["operation"]
	switch role {
	case "admin":
		return true
	case "operator":
		switch {
		case slices.Contains(operatorReads, a):
			return true
		case a == StartSession:
			return rc.devNode
		case a == SendCommand:
			return true // on the account; each node is a StartSession
		case slices.Contains(operatorOwn, a):
			return rc.own
		case a == UseKey:
			return op == "kms:Decrypt" || op == "kms:GenerateDataKey"
		}
	case "auditor":
		switch {
		case slices.Contains(auditorReads, a):
			return true
		case a == UseKey:
			return op == "kms:Decrypt"
		}
	}
	return false
}

func TestDefaultRoles(t *testing.T) {
	ps, err := NewPolicySet([]Stored{{ID: DefaultPolicyID, Text: DefaultPolicies}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for role, groups := range roles {
		user := "u-" + role
		p := User(home, user, groups, "")
		for _, a := range Actions {
			if ResourceType(a) == "" {
				t.Fatalf("action %s has no resource type", a)
			}
			for _, rc := range resourcesFor(a, user) {
				n++
				d := ps.Decide(Request{Principal: p, Action: a, Resource: rc.entity, Related: rc.related, Context: rc.context})
				if len(d.Errors) > 0 {
					t.Errorf("%s %s on %s: evaluation errors: %v", role, a, rc.name, d.Errors)
				}
				if w := want(role, a, rc); d.Allowed != w {
					t.Errorf("%s %s on %s: allowed=%v, want %v (%s)", role, a, rc.name, d.Allowed, w, d.Explain())
				}
			}
		}
	}
	t.Logf("%d decisions checked", n)
}

func TestSystemPoliciesCannotBeOverridden(t *testing.T) {
	// An account that permits everything to everyone still keeps out
	// other accounts' users and users editing themselves.
	ps, err := NewPolicySet([]Stored{{ID: "open", Text: `permit (principal, action, resource);`}})
	if err != nil {
		t.Fatal(err)
	}
	mallory := User(other, "mallory", []string{Administrators}, "")
	d := ps.Decide(Request{Principal: mallory, Action: QueryLogs, Resource: Named("LogGroup", home, "/postern/sessions")})
	if d.Allowed || !slices.Contains(d.Policies, "system:account-isolation") {
		t.Errorf("cross-account: %+v", d)
	}
	bob := User(home, "bob", []string{Operators}, "")
	d = ps.Decide(Request{Principal: bob, Action: UpdateUser, Resource: User(home, "bob", nil, "")})
	if d.Allowed || !slices.Contains(d.Policies, "system:no-self-elevation") {
		t.Errorf("self-elevation: %+v", d)
	}
	d = ps.Decide(Request{Principal: bob, Action: UpdateUser, Resource: User(home, "carol", nil, "")})
	if !d.Allowed || d.Explain() != "allowed by open.0" {
		t.Errorf("open policy: %+v %s", d, d.Explain())
	}
}

func TestPolicyErrors(t *testing.T) {
	tests := []struct {
		name string
		docs []Stored
		want string
	}{
		{"syntax", []Stored{{ID: "p", Text: `permit (principal, action resource);`}}, "policy p: parser error: parse error at <input>:1:35"},
		{"empty", []Stored{{ID: "p", Text: "// nothing\n"}}, "no policy in it"},
		{"duplicate id", []Stored{{ID: "a", Text: `@id("x") permit (principal, action, resource);`}, {ID: "b", Text: `@id("x") forbid (principal, action, resource);`}}, `the ID "x" is already used by policy a`},
		{"system id", []Stored{{ID: "a", Text: `@id("system:account-isolation") permit (principal, action, resource);`}}, "already used by policy system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPolicySet(tt.docs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	ps, err := NewPolicySet([]Stored{{ID: DefaultPolicyID, Text: DefaultPolicies}, {ID: "no-prod", Text: `@id("no-prod")
forbid (principal, action == Action::"StartSession", resource is Node) when { resource.hasTag("env") && resource.getTag("env") == "prod" };`}})
	if err != nil {
		t.Fatal(err)
	}
	admin := User(home, "alice", []string{Administrators}, "")
	d := ps.Decide(Request{Principal: admin, Action: StartSession, Resource: Node(home, "mi-1", "db", map[string]string{"env": "prod"})})
	if d.Allowed || d.Explain() != "denied by no-prod" || !slices.Equal(d.Documents, []string{"no-prod"}) {
		t.Errorf("got %+v: %s", d, d.Explain())
	}
	d = ps.Decide(Request{Principal: User(home, "bob", nil, ""), Action: QueryLogs, Resource: Named("LogGroup", home, "g")})
	if d.Allowed || d.Explain() != "denied: no policy permits it" {
		t.Errorf("got %+v: %s", d, d.Explain())
	}
}

func TestParseAction(t *testing.T) {
	for _, s := range []string{"StartSession", "startsession", `Action::"StartSession"`} {
		if a, err := ParseAction(s); err != nil || a != StartSession {
			t.Errorf("ParseAction(%q) = %q, %v", s, a, err)
		}
	}
	if _, err := ParseAction("Launch"); err == nil {
		t.Error("ParseAction(Launch) succeeded")
	}
}

func TestAgentsConnect(t *testing.T) {
	quarantine := Stored{ID: "quarantine", Text: `forbid (principal is Agent, action == Action::"ConnectAgent", resource) when { resource.hasTag("quarantine") };`}
	ps, err := NewPolicySet([]Stored{{ID: DefaultPolicyID, Text: DefaultPolicies}, quarantine})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		agent Entity
		node  Entity
		want  bool
	}{
		{"its own node", Agent(home, "mi-1", nil), Node(home, "mi-1", "web", nil), true},
		{"another node", Agent(home, "mi-1", nil), Node(home, "mi-2", "db", nil), false},
		{"another account's node", Agent(home, "mi-1", nil), Node(other, "mi-1", "web", nil), false},
		{"quarantined", Agent(home, "mi-1", map[string]string{"quarantine": "yes"}), Node(home, "mi-1", "web", map[string]string{"quarantine": "yes"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ps.Decide(Request{Principal: tt.agent, Action: ConnectAgent, Resource: tt.node})
			if d.Allowed != tt.want || len(d.Errors) > 0 {
				t.Errorf("%+v (%s), want allowed=%v", d, d.Explain(), tt.want)
			}
		})
	}
}
