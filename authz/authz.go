// Package authz decides who may do what in Postern, with Cedar policies
// (github.com/cedar-policy/cedar-go).
//
// Every API request becomes a Cedar request: a principal (a User, member of
// Groups; an Activation registering a node; an Agent connecting), an Action (StartSession,
// QueryLogs, ...) and a resource with attributes (a Node with its tags, a
// Session with its owner, a LogGroup, a Key, a Document, a User, or the
// Account for what concerns it as a whole). Each account has its own
// policies, which administrators list, replace and test; Postern installs
// defaults (defaults.cedar) in a new account. Two system policies, which no
// account can change, come first: nothing crosses accounts, and nobody but
// an administrator edits their own user.
package authz

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/cedar-policy/cedar-go"
)

// Action is a Cedar action: what a request does.
type Action string

// The actions of Postern's API. Each route of the server checks one.
const (
	GetCallerIdentity Action = "GetCallerIdentity"

	CreateActivation    Action = "CreateActivation"
	DescribeActivations Action = "DescribeActivations"
	RegisterNode        Action = "RegisterNode"
	ConnectAgent        Action = "ConnectAgent"
	DescribeNodes       Action = "DescribeNodes"
	// DeregisterNode removes a node: its agent no longer connects.
	DeregisterNode Action = "DeregisterNode"

	StartSession      Action = "StartSession"
	ResumeSession     Action = "ResumeSession"
	ObserveSession    Action = "ObserveSession"
	TerminateSession  Action = "TerminateSession"
	DescribeSessions  Action = "DescribeSessions"
	GetSessionLogs    Action = "GetSessionLogs"
	DeleteSessionLogs Action = "DeleteSessionLogs"

	DescribeLogGroups     Action = "DescribeLogGroups"
	CreateLogGroup        Action = "CreateLogGroup"
	DeleteLogGroup        Action = "DeleteLogGroup"
	PutRetentionPolicy    Action = "PutRetentionPolicy"
	DescribeLogStreams    Action = "DescribeLogStreams"
	GetLogEvents          Action = "GetLogEvents"
	QueryLogs             Action = "QueryLogs"
	DescribeMetricFilters Action = "DescribeMetricFilters"
	PutMetricFilter       Action = "PutMetricFilter"
	DeleteMetricFilter    Action = "DeleteMetricFilter"
	// Subscription filters are checked on their log group; delivery
	// streams on themselves.
	DescribeSubscriptionFilters Action = "DescribeSubscriptionFilters"
	PutSubscriptionFilter       Action = "PutSubscriptionFilter"
	DeleteSubscriptionFilter    Action = "DeleteSubscriptionFilter"
	CreateDeliveryStream        Action = "CreateDeliveryStream"
	DescribeDeliveryStreams     Action = "DescribeDeliveryStreams"
	DeleteDeliveryStream        Action = "DeleteDeliveryStream"
	// Event rules, EventBridge's: checked on the rule.
	PutRule       Action = "PutRule"
	DescribeRules Action = "DescribeRules"
	DeleteRule    Action = "DeleteRule"

	// Run Command: sending a command is checked on the account (and
	// starting a session on each of its nodes, as StartSession);
	// listing and cancelling on the command, whose owner is its sender.
	SendCommand   Action = "SendCommand"
	ListCommands  Action = "ListCommands"
	CancelCommand Action = "CancelCommand"

	DescribeKeys Action = "DescribeKeys"
	CreateKey    Action = "CreateKey"
	ManageKey    Action = "ManageKey"
	UseKey       Action = "UseKey"

	DescribeDocuments Action = "DescribeDocuments"
	GetDocument       Action = "GetDocument"
	PutDocument       Action = "PutDocument"
	DeleteDocument    Action = "DeleteDocument"
	ValidateDocument  Action = "ValidateDocument"
	GetPreferences    Action = "GetPreferences"
	UpdatePreferences Action = "UpdatePreferences"

	DescribeUsers Action = "DescribeUsers"
	CreateUser    Action = "CreateUser"
	UpdateUser    Action = "UpdateUser"
	DeleteUser    Action = "DeleteUser"

	CreateToken    Action = "CreateToken"
	DescribeTokens Action = "DescribeTokens"
	RevokeToken    Action = "RevokeToken"

	DescribePolicies Action = "DescribePolicies"
	PutPolicy        Action = "PutPolicy"
	DeletePolicy     Action = "DeletePolicy"
	TestPolicy       Action = "TestPolicy"

	LookupAuditEvents Action = "LookupAuditEvents"
	VerifyAuditTrail  Action = "VerifyAuditTrail"

	// Organizations: checked in the caller's own account (the management
	// account for everything but DescribeOrganization), on the
	// organization or the account acted on.
	CreateOrganization          Action = "CreateOrganization"
	DescribeOrganization        Action = "DescribeOrganization"
	CreateAccount               Action = "CreateAccount"
	DescribeAccounts            Action = "DescribeAccounts"
	MoveAccount                 Action = "MoveAccount"
	CreateOrganizationalUnit    Action = "CreateOrganizationalUnit"
	DeleteOrganizationalUnit    Action = "DeleteOrganizationalUnit"
	DescribeOrganizationalUnits Action = "DescribeOrganizationalUnits"
	// AssumeRole trades the caller's sign-in for short-lived credentials
	// of a role a member account grants the management account; what the
	// role may do there is the member's policies' business.
	AssumeRole Action = "AssumeRole"
	// The organization's central archive: its settings (the management
	// account's), its status (the management and archive accounts'), and
	// the keys of its copies (whoever the archive key's policy lets
	// decrypt).
	PutOrganizationArchive      Action = "PutOrganizationArchive"
	DescribeOrganizationArchive Action = "DescribeOrganizationArchive"
	ReadOrganizationArchive     Action = "ReadOrganizationArchive"
	// Stack sets: templates the management account rolls out to the
	// organization's accounts (CloudFormation StackSets), all checked in
	// the management account. What a deployment does in a member is the
	// rollout's, whatever the member's policies say, as a stack set's
	// execution role does it in AWS.
	CreateStackSet       Action = "CreateStackSet"
	DescribeStackSets    Action = "DescribeStackSets"
	UpdateStackSet       Action = "UpdateStackSet"
	DeleteStackSet       Action = "DeleteStackSet"
	DeployStackSet       Action = "DeployStackSet"
	DeleteStackInstances Action = "DeleteStackInstances"
	DetectStackSetDrift  Action = "DetectStackSetDrift"

	// GetMetrics reads the server's Prometheus metrics (--metrics-listen),
	// which include the account's metric filters' counts, labelled with
	// dimension values taken from its log groups: administrators only by
	// default.
	GetMetrics Action = "GetMetrics"
)

// Actions lists every action, for `postern policy test`'s help and for
// tests that go through them all.
var Actions = []Action{
	GetCallerIdentity,
	CreateActivation, DescribeActivations, RegisterNode, ConnectAgent, DescribeNodes, DeregisterNode,
	StartSession, ResumeSession, ObserveSession, TerminateSession, DescribeSessions, GetSessionLogs, DeleteSessionLogs,
	DescribeLogGroups, CreateLogGroup, DeleteLogGroup, PutRetentionPolicy, DescribeLogStreams, GetLogEvents, QueryLogs,
	DescribeMetricFilters, PutMetricFilter, DeleteMetricFilter,
	DescribeSubscriptionFilters, PutSubscriptionFilter, DeleteSubscriptionFilter,
	CreateDeliveryStream, DescribeDeliveryStreams, DeleteDeliveryStream,
	PutRule, DescribeRules, DeleteRule,
	SendCommand, ListCommands, CancelCommand,
	DescribeKeys, CreateKey, ManageKey, UseKey,
	DescribeDocuments, GetDocument, PutDocument, DeleteDocument, ValidateDocument, GetPreferences, UpdatePreferences,
	DescribeUsers, CreateUser, UpdateUser, DeleteUser,
	CreateToken, DescribeTokens, RevokeToken,
	DescribePolicies, PutPolicy, DeletePolicy, TestPolicy,
	LookupAuditEvents, VerifyAuditTrail,
	CreateOrganization, DescribeOrganization, CreateAccount, DescribeAccounts, MoveAccount,
	CreateOrganizationalUnit, DeleteOrganizationalUnit, DescribeOrganizationalUnits, AssumeRole,
	PutOrganizationArchive, DescribeOrganizationArchive, ReadOrganizationArchive,
	CreateStackSet, DescribeStackSets, UpdateStackSet, DeleteStackSet, DeployStackSet, DeleteStackInstances, DetectStackSetDrift,
	GetMetrics,
}

// ParseAction returns the action named s.
func ParseAction(s string) (Action, error) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, `Action::"`), `"`)
	for _, a := range Actions {
		if strings.EqualFold(string(a), s) {
			return a, nil
		}
	}
	return "", fmt.Errorf("authz: unknown action %q", s)
}

// The groups of the default policies.
const (
	Administrators = "administrators"
	Operators      = "operators"
	Auditors       = "auditors"
)

// DefaultPolicies is the policy text a new account starts with.
//
//go:embed defaults.cedar
var DefaultPolicies string

// DefaultPolicyID is the ID the default policies are stored under.
const DefaultPolicyID = "defaults"

// systemPolicies apply in every account, before its own, and cannot be
// changed: resources of another account are out of reach whatever an
// account's policies say, and a user's own groups, attributes and
// existence are an administrator's to change.
const systemPolicies = `
@id("system:account-isolation")
forbid (principal, action, resource)
unless { principal has account && resource has account && principal.account == resource.account };

@id("system:no-self-elevation")
forbid (principal, action in [Action::"UpdateUser", Action::"DeleteUser"], resource)
when { resource == principal }
unless { principal in Group::"administrators" };
`

// system is the system policies, parsed on first use rather than at package
// init, which every process linking authz (the CLI too) would pay.
var system = sync.OnceValue(func() []namedPolicy { return mustParse("system", systemPolicies) })

func mustParse(name, text string) []namedPolicy {
	ps, err := Parse(name, text)
	if err != nil {
		panic(err) // the text above, checked by the tests
	}
	return ps
}

// A namedPolicy is one parsed policy and its ID in the policy set.
type namedPolicy struct {
	id     cedar.PolicyID
	policy *cedar.Policy
}

// Parse parses the text of a stored policy document: one or more Cedar
// policies. Each gets the ID of its @id annotation, or name with its
// position ("name.0", "name.1", ...); errors say where.
func Parse(name, text string) ([]namedPolicy, error) {
	pl, err := cedar.NewPolicyListFromBytes(name+".cedar", []byte(text))
	if err != nil {
		return nil, fmt.Errorf("authz: policy %s: %w", name, err)
	}
	if len(pl) == 0 {
		return nil, fmt.Errorf("authz: policy %s: no policy in it (a Cedar policy starts with permit or forbid)", name)
	}
	out := make([]namedPolicy, 0, len(pl))
	for i, p := range pl {
		id := cedar.PolicyID(fmt.Sprintf("%s.%d", name, i))
		if a, ok := p.Annotations()["id"]; ok {
			id = cedar.PolicyID(a)
		}
		out = append(out, namedPolicy{id: id, policy: p})
	}
	return out, nil
}

// Stored is a policy document as an account keeps it.
type Stored struct {
	ID   string
	Text string
}

// PolicySet is an account's policies, parsed, with the system's.
type PolicySet struct {
	set *cedar.PolicySet
	// from maps each policy to the stored document it came from.
	from map[cedar.PolicyID]string
}

// NewPolicySet parses an account's stored policies. IDs must be unique
// across documents.
func NewPolicySet(docs []Stored) (*PolicySet, error) {
	ps := &PolicySet{set: cedar.NewPolicySet(), from: map[cedar.PolicyID]string{}}
	add := func(doc string, p namedPolicy) error {
		if !ps.set.Add(p.id, p.policy) {
			return fmt.Errorf("authz: policy %s: the ID %q is already used by policy %s", doc, p.id, ps.from[p.id])
		}
		ps.from[p.id] = doc
		return nil
	}
	for _, p := range system() {
		if err := add("system", p); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, d := range docs {
		parsed, err := Parse(d.ID, d.Text)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range parsed {
			if err := add(d.ID, p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ps, nil
}

// Request is one question: may Principal do Action on Resource?
type Request struct {
	Principal Entity
	Action    Action
	Resource  Entity
	// Context is what the request carries beyond the resource (the
	// document of a session, the operation on a key).
	Context map[string]string
	// Related are further entities that policies may reach through
	// attributes (a session's target node, a user's groups are added
	// from Principal).
	Related []Entity
}

// Decision is the answer, with what decided it.
type Decision struct {
	Allowed bool
	// Policies are the IDs of the policies that decided: the permits that
	// allowed, or the forbids that denied. Empty for a default deny.
	Policies []string
	// Documents are the stored documents those policies are in.
	Documents []string
	// Errors are policies that failed to evaluate (and so were skipped,
	// as Cedar does), with why.
	Errors []string
}

// Explain says in a sentence why the decision is what it is.
func (d Decision) Explain() string {
	switch {
	case d.Allowed:
		return "allowed by " + strings.Join(d.Policies, ", ")
	case len(d.Policies) > 0:
		return "denied by " + strings.Join(d.Policies, ", ")
	default:
		return "denied: no policy permits it"
	}
}

// Decide evaluates r against the policies.
func (ps *PolicySet) Decide(r Request) Decision {
	// Entity IDs are unique within an account only: a resource of another
	// account could stand for the principal itself. Such requests never
	// reach Cedar; the system policy says the same for readers of the
	// policy set.
	for _, e := range append([]Entity{r.Resource}, r.Related...) {
		if e.Account != r.Principal.Account {
			return Decision{Policies: []string{"system:account-isolation"}, Documents: []string{"system"}}
		}
	}
	entities := cedar.EntityMap{}
	put := func(e Entity) {
		ce := e.cedar()
		if _, ok := entities[ce.UID]; ok {
			// The principal comes first and is complete (its groups);
			// the same user as the resource adds nothing.
			return
		}
		entities[ce.UID] = ce
		for _, g := range e.Groups {
			uid := cedar.NewEntityUID("Group", cedar.String(g))
			if _, ok := entities[uid]; !ok {
				entities[uid] = cedar.Entity{UID: uid, Attributes: cedar.NewRecord(cedar.RecordMap{"account": cedar.String(e.Account)})}
			}
		}
	}
	put(r.Principal)
	put(r.Resource)
	for _, e := range r.Related {
		put(e)
	}
	ctx := cedar.RecordMap{}
	for k, v := range r.Context {
		ctx[cedar.String(k)] = cedar.String(v)
	}
	req := cedar.Request{
		Principal: r.Principal.UID(),
		Action:    cedar.NewEntityUID("Action", cedar.String(r.Action)),
		Resource:  r.Resource.UID(),
		Context:   cedar.NewRecord(ctx),
	}
	dec, diag := ps.set.IsAuthorized(entities, req)
	d := Decision{Allowed: dec == cedar.Allow}
	for _, reason := range diag.Reasons {
		d.Policies = append(d.Policies, string(reason.PolicyID))
		if doc := ps.from[reason.PolicyID]; !slices.Contains(d.Documents, doc) {
			d.Documents = append(d.Documents, doc)
		}
	}
	for _, e := range diag.Errors {
		d.Errors = append(d.Errors, fmt.Sprintf("%s: %s", e.PolicyID, e.Message))
	}
	sort.Strings(d.Policies)
	return d
}

// Entity is a principal or resource: its type, ID, account and attributes.
type Entity struct {
	Type    string // User, Group, Activation, Node, Session, Document, LogGroup, Key, Account
	ID      string
	Account string
	// Attrs are string attributes (owner, runAs, name, ...). An
	// attribute named in refs is a reference to another entity instead,
	// as "User::alice" for a session's owner.
	Attrs map[string]string
	Refs  map[string]Entity
	// Tags are Cedar entity tags (a node's tags: resource.getTag("env")).
	Tags map[string]string
	// Groups are the groups a user is in (principal in Group::"...").
	Groups []string
}

// UID is the entity's Cedar identifier.
func (e Entity) UID() cedar.EntityUID {
	return cedar.NewEntityUID(cedar.EntityType(e.Type), cedar.String(e.ID))
}

func (e Entity) cedar() cedar.Entity {
	attrs := cedar.RecordMap{"account": cedar.String(e.Account)}
	for k, v := range e.Attrs {
		attrs[cedar.String(k)] = cedar.String(v)
	}
	for k, ref := range e.Refs {
		attrs[cedar.String(k)] = ref.UID()
	}
	var tags cedar.RecordMap
	if len(e.Tags) > 0 {
		tags = cedar.RecordMap{}
		for k, v := range e.Tags {
			tags[cedar.String(k)] = cedar.String(v)
		}
	}
	var parents []cedar.EntityUID
	for _, g := range e.Groups {
		parents = append(parents, cedar.NewEntityUID("Group", cedar.String(g)))
	}
	return cedar.Entity{
		UID:        e.UID(),
		Parents:    cedar.NewEntityUIDSet(parents...),
		Attributes: cedar.NewRecord(attrs),
		Tags:       cedar.NewRecord(tags),
	}
}

// User is a user of account as a principal or resource.
func User(account, name string, groups []string, runAs string) Entity {
	return Entity{Type: "User", ID: name, Account: account, Groups: groups, Attrs: map[string]string{"name": name, "runAs": runAs}}
}

// AccountEntity stands for what concerns an account as a whole (its
// activations, its audit trail, its policies, creating things in it).
func AccountEntity(account string) Entity {
	return Entity{Type: "Account", ID: account, Account: account}
}

// Node is a managed node with its tags.
func Node(account, id, name string, tags map[string]string) Entity {
	return Entity{Type: "Node", ID: id, Account: account, Attrs: map[string]string{"name": name, "nodeId": id}, Tags: tags}
}

// Agent is a node's agent as a principal, with the node's tags.
func Agent(account, nodeID string, tags map[string]string) Entity {
	return Entity{Type: "Agent", ID: nodeID, Account: account, Attrs: map[string]string{"nodeId": nodeID}, Tags: tags}
}

// Session is a session, with its owner and target node as references and
// the target's tags as its own (so that a policy can say "sessions on
// env=dev nodes" without the node at hand).
func Session(account, id, owner string, target Entity) Entity {
	return Entity{
		Type: "Session", ID: id, Account: account, Tags: target.Tags,
		Attrs: map[string]string{"ownerName": owner, "targetId": target.ID},
		Refs:  map[string]Entity{"owner": {Type: "User", ID: owner}, "target": {Type: "Node", ID: target.ID}},
	}
}

// Named is a resource known by its name: a Document, LogGroup or Key.
func Named(typ, account, name string) Entity {
	return Entity{Type: typ, ID: name, Account: account, Attrs: map[string]string{"name": name}}
}

// resourceTypes is the type of resource each action is checked on.
var resourceTypes = map[Action]string{
	GetCallerIdentity: "User",
	CreateActivation:  "Account", DescribeActivations: "Account", RegisterNode: "Account", ConnectAgent: "Node", DescribeNodes: "Node", DeregisterNode: "Node",
	StartSession: "Node", ResumeSession: "Session", ObserveSession: "Session", TerminateSession: "Session", DescribeSessions: "Session",
	GetSessionLogs: "Session", DeleteSessionLogs: "Session",
	DescribeLogGroups: "LogGroup", CreateLogGroup: "LogGroup", DeleteLogGroup: "LogGroup", PutRetentionPolicy: "LogGroup",
	DescribeLogStreams: "LogGroup", GetLogEvents: "LogGroup", QueryLogs: "LogGroup",
	DescribeMetricFilters: "LogGroup", PutMetricFilter: "LogGroup", DeleteMetricFilter: "LogGroup",
	DescribeSubscriptionFilters: "LogGroup", PutSubscriptionFilter: "LogGroup", DeleteSubscriptionFilter: "LogGroup",
	CreateDeliveryStream: "DeliveryStream", DescribeDeliveryStreams: "DeliveryStream", DeleteDeliveryStream: "DeliveryStream",
	PutRule: "Rule", DescribeRules: "Rule", DeleteRule: "Rule",
	SendCommand: "Account", ListCommands: "Command", CancelCommand: "Command",
	DescribeKeys: "Key", CreateKey: "Account", ManageKey: "Key", UseKey: "Key",
	DescribeDocuments: "Document", GetDocument: "Document", PutDocument: "Document", DeleteDocument: "Document",
	ValidateDocument: "Account", GetPreferences: "Document", UpdatePreferences: "Document",
	DescribeUsers: "User", CreateUser: "User", UpdateUser: "User", DeleteUser: "User",
	CreateToken: "User", DescribeTokens: "User", RevokeToken: "User",
	DescribePolicies: "Account", PutPolicy: "Account", DeletePolicy: "Account", TestPolicy: "Account",
	LookupAuditEvents: "Account", VerifyAuditTrail: "Account",
	CreateOrganization: "Account", DescribeOrganization: "Account", CreateAccount: "Account", DescribeAccounts: "Account",
	MoveAccount: "Account", CreateOrganizationalUnit: "Account", DeleteOrganizationalUnit: "Account",
	DescribeOrganizationalUnits: "Account", AssumeRole: "Account",
	PutOrganizationArchive: "Account", DescribeOrganizationArchive: "Account", ReadOrganizationArchive: "Account",
	CreateStackSet: "Account", DescribeStackSets: "Account", UpdateStackSet: "Account", DeleteStackSet: "Account",
	DeployStackSet: "Account", DeleteStackInstances: "Account", DetectStackSetDrift: "Account",
	GetMetrics: "Account",
}

// ResourceType is the type of resource a is checked on.
func ResourceType(a Action) string { return resourceTypes[a] }

// Command is a command sent with Run Command, with its sender as its
// owner (as a session's), so that a policy can say "their own commands".
func Command(account, id, owner string) Entity {
	return Entity{
		Type: "Command", ID: id, Account: account,
		Attrs: map[string]string{"ownerName": owner},
		Refs:  map[string]Entity{"owner": {Type: "User", ID: owner}},
	}
}
