package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
)

// readmeTemplate is the template of the README's recipe for rolling
// configuration out ("Rolling configuration out to every account"), which
// TestStackSets rolls out: a key for the organization's log stores, a log
// group named after each account and sealed with it, the preferences
// sending sessions there, and a Cedar policy. The log group and the policy
// are protected; the group stays when an instance is removed.
func readmeTemplate(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, s, ok := strings.Cut(string(b), "### Rolling configuration out to every account\n")
	if ok {
		_, s, ok = strings.Cut(s, "```yaml\n")
	}
	if ok {
		s, _, ok = strings.Cut(s, "```")
	}
	if !ok {
		t.Fatal("the README has no template under \"Rolling configuration out to every account\"")
	}
	return s
}

// member is what TestStackSets reads of an account through the role the
// management account assumes there.
type member struct {
	groups   []api.LogGroup
	prefs    string
	policies []api.Policy
}

func (e *env) member(ctx context.Context, account string) member {
	e.t.Helper()
	var cr api.AssumeRoleResponse
	e.jsonOut(ctx, &cr, "org", "assume-role", account)
	run := func(v any, args ...string) string {
		out, errOut, code := e.withToken(ctx, cr.Token, args...)
		if code != 0 {
			e.t.Fatalf("postern %s in %s: exit %d: %s", strings.Join(args, " "), account, code, errOut)
		}
		if v != nil {
			if err := json.Unmarshal([]byte(out), v); err != nil {
				e.t.Fatalf("postern %s in %s: %v\n%s", strings.Join(args, " "), account, err, out)
			}
		}
		return out
	}
	var m member
	run(&m.groups, "logs", "groups", "ls", "-o", "json")
	m.prefs = run(nil, "prefs", "get")
	run(&m.policies, "policy", "ls", "-o", "json")
	return m
}

// hasBaseline reports what of the baseline an account lacks, with the
// retention and idle timeout it should have.
func (m member) lacks(account string, retention int, idle string) []string {
	var missing []string
	group := "/postern/" + account + "/sessions"
	if !slices.ContainsFunc(m.groups, func(g api.LogGroup) bool {
		return g.Name == group && g.RetentionInDays == retention && strings.HasPrefix(g.KMSKeyID, "prn:postern:kms:"+account+":key/") && g.Encrypted
	}) {
		missing = append(missing, "log group "+group)
	}
	if !strings.Contains(m.prefs, `"cloudWatchLogGroupName": "`+group+`"`) || !strings.Contains(m.prefs, `"idleSessionTimeout": `+idle) {
		missing = append(missing, "preferences")
	}
	if !slices.ContainsFunc(m.policies, func(p api.Policy) bool { return p.ID == "org-operators" && p.UpdatedBy == "stackset/Baseline" }) {
		missing = append(missing, "policy org-operators")
	}
	return missing
}

func instancesOf(ctx context.Context, e *env, name string) map[string]api.StackInstance {
	var ins []api.StackInstance
	e.jsonOut(ctx, &ins, "org", "stacksets", "instances", name)
	out := map[string]api.StackInstance{}
	for _, in := range ins {
		out[in.Account] = in
	}
	return out
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStackSets rolls a template out to an organization of three accounts
// in two units, as StackSets does in the multi-account setup: it reaches
// the accounts of the unit it is deployed to and an account created there
// later; a member's change to the preferences is reported as drift, field
// by field; a change to a protected resource is refused; a template or
// parameter that is wrong is refused before anything is deployed, naming
// the line; updates roll out; the failure tolerance stops a deployment;
// removing an instance keeps what is retained.
func TestStackSets(t *testing.T) {
	t.Parallel()
	// Some eighty CLI calls, each a binary built with -race: longer than
	// testCtx's two minutes on a loaded machine.
	d := 8 * time.Minute
	if dl, ok := t.Deadline(); ok && time.Until(dl) < d {
		d = time.Until(dl) - 5*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	e := startDev(t)
	var org api.Organization
	e.jsonOut(ctx, &org, "org", "create")
	var prod, dev api.OrgUnit
	e.jsonOut(ctx, &prod, "org", "create-unit", "Prod")
	e.jsonOut(ctx, &dev, "org", "create-unit", "Dev")
	var web, db, sandbox api.OrgAccount
	e.jsonOut(ctx, &web, "org", "create-account", "web", "--parent", prod.ID)
	e.jsonOut(ctx, &db, "org", "create-account", "db", "--parent", prod.ID)
	e.jsonOut(ctx, &sandbox, "org", "create-account", "sandbox", "--parent", dev.ID)

	// Refused before anything is made: an unknown resource type, a
	// parameter value the template does not allow, each at its line.
	bad := writeFile(t, "bad.yaml", "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n  Bucket:\n    Type: AWS::S3::Bucket\n")
	e.mustFail([]string{"org", "stacksets", "create", "Bad", "--template", bad}, `bad.yaml:5:11: Resources.Bucket.Type: "AWS::S3::Bucket" is not a resource type Postern has`)
	baseline := writeFile(t, "baseline.yaml", readmeTemplate(t))
	e.mustFail([]string{"org", "stacksets", "create", "Baseline", "--template", baseline, "--param", "OrganizationId=" + org.ID, "--param", "Retention=42"},
		"baseline.yaml:3:3: Parameters.Retention: \"42\" is not one of the AllowedValues 7, 30, 90")
	e.mustFail([]string{"org", "stacksets", "create", "Baseline", "--template", baseline}, "baseline.yaml:2:3: Parameters.OrganizationId: no value given")
	var sets []api.StackSet
	e.jsonOut(ctx, &sets, "org", "stacksets", "ls")
	if len(sets) != 0 {
		t.Fatalf("refused templates made stack sets: %+v", sets)
	}

	var ss api.StackSet
	e.jsonOut(ctx, &ss, "org", "stacksets", "create", "Baseline", "--template", baseline, "--param", "OrganizationId="+org.ID, "--description", "session logging")
	if ss.TemplateName != "baseline.yaml" || len(ss.Resources) != 4 || ss.Resources[0].LogicalID != "SessionKey" {
		t.Fatalf("stacksets create: %+v", ss)
	}

	// Deployed to Prod: web and db have it, sandbox (in Dev) does not.
	var op api.StackOperation
	e.jsonOut(ctx, &op, "org", "stacksets", "deploy", "Baseline", "--targets", prod.ID, "--max-concurrent", "2")
	if len(op.Accounts) != 2 || op.Accounts[0].Status != api.StackOpSucceeded || op.Accounts[1].Status != api.StackOpSucceeded {
		t.Fatalf("deploy to Prod: %+v", op)
	}
	for _, a := range []api.OrgAccount{web, db} {
		if missing := e.member(ctx, a.ID).lacks(a.ID, 30, "20"); len(missing) > 0 {
			t.Errorf("account %s (%s) lacks %v after the deployment", a.Name, a.ID, missing)
		}
	}
	if m := e.member(ctx, sandbox.ID); len(m.lacks(sandbox.ID, 30, "20")) != 3 {
		t.Errorf("sandbox, outside Prod, got the stack set: %+v", m)
	}
	ins := instancesOf(ctx, e, "Baseline")
	if len(ins) != 2 || ins[web.ID].Status != api.StackCurrent || ins[web.ID].TemplateDigest != ss.TemplateDigest || ins[web.ID].Parameters["OrganizationId"] != org.ID {
		t.Fatalf("instances after the deployment: %+v", ins)
	}

	// An account created in Prod gets it at once; so does one moved in.
	var web2 api.OrgAccount
	e.jsonOut(ctx, &web2, "org", "create-account", "web-2", "--parent", prod.ID)
	if missing := e.member(ctx, web2.ID).lacks(web2.ID, 30, "20"); len(missing) > 0 {
		t.Errorf("the account created in Prod lacks %v", missing)
	}
	e.mustRun(ctx, "org", "move-account", sandbox.ID, "--from", dev.ID, "--to", prod.ID)
	if missing := e.member(ctx, sandbox.ID).lacks(sandbox.ID, 30, "20"); len(missing) > 0 {
		t.Errorf("the account moved into Prod lacks %v", missing)
	}
	if ins := instancesOf(ctx, e, "Baseline"); len(ins) != 4 || ins[web2.ID].Status != api.StackCurrent || ins[sandbox.ID].Status != api.StackCurrent {
		t.Errorf("instances after the new and moved accounts: %+v", ins)
	}

	// web's own administrator changes the preferences: drift, field by
	// field. The protected log group and policy stay as they are.
	var role api.AssumeRoleResponse
	e.jsonOut(ctx, &role, "org", "assume-role", web.ID)
	if _, errOut, code := e.withToken(ctx, role.Token, "users", "create", "alice", "--group", "administrators", "--password"); code != 0 {
		t.Fatalf("creating web's administrator: %s", errOut)
	}
	alice := e.inAccount(t, web.ID, "alice", "correct horse battery")
	group := "/postern/" + web.ID + "/sessions"
	prefs := writeFile(t, "prefs.json", `{"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": {"cloudWatchLogGroupName": "`+group+`", "idleSessionTimeout": 45}}`)
	alice.mustRun(ctx, "prefs", "set", "-f", prefs)
	alice.mustFail([]string{"logs", "groups", "set-retention", group, "7"}, "log group "+group+" is protected by stack set Baseline of organization "+org.ID)
	alice.mustFail([]string{"logs", "groups", "delete", group}, "is protected by stack set Baseline")
	mine := writeFile(t, "mine.cedar", `permit (principal, action, resource);`)
	alice.mustFail([]string{"policy", "put", "org-operators", "-f", mine}, "policy org-operators is protected by stack set Baseline")
	alice.mustFail([]string{"policy", "delete", "org-operators"}, "policy org-operators is protected by stack set Baseline")

	var drift api.StackSetDrift
	e.jsonOut(ctx, &drift, "org", "stacksets", "detect-drift", "Baseline")
	for _, in := range drift.Instances {
		want := api.DriftInSync
		if in.Account == web.ID {
			want = api.DriftDrifted
		}
		if in.Status != want {
			t.Errorf("drift of %s: %s, want %s: %+v", in.Account, in.Status, want, in)
		}
		if in.Account != web.ID {
			continue
		}
		for _, r := range in.Resources {
			switch r.LogicalID {
			case "Preferences":
				if r.Status != api.DriftModified || len(r.Differences) != 1 || r.Differences[0].Path != "Content.inputs.idleSessionTimeout" ||
					jsonText(r.Differences[0].Expected) != "20" || jsonText(r.Differences[0].Actual) != "45" {
					t.Errorf("the preferences' drift: %+v", r)
				}
			default:
				if r.Status != api.DriftInSync {
					t.Errorf("%s drifted: %+v", r.LogicalID, r)
				}
			}
		}
	}
	out := e.mustRun(ctx, "org", "stacksets", "detect-drift", "Baseline")
	if !strings.Contains(out, web.ID+": DRIFTED\n  Preferences (AWS::SSM::Document Postern-SessionManagerRunShell): MODIFIED\n    Content.inputs.idleSessionTimeout: expected 20, actual 45\n") {
		t.Errorf("detect-drift printed:\n%s", out)
	}
	if in := instancesOf(ctx, e, "Baseline")[web.ID]; in.Status != api.StackDrifted || !strings.Contains(in.Reason, "Preferences changed (Content.inputs.idleSessionTimeout)") {
		t.Errorf("web's instance after drift detection: %+v", in)
	}

	// An update with a parameter the template does not allow is refused,
	// naming the line, and changes nothing; a good one rolls out to every
	// instance, and puts web's preferences back.
	e.mustFail([]string{"org", "stacksets", "update", "Baseline", "--param", "IdleTimeout=600"}, "baseline.yaml:4:3: Parameters.IdleTimeout: ")
	if in := instancesOf(ctx, e, "Baseline")[db.ID]; in.Status != api.StackCurrent || in.Parameters["Retention"] != "" {
		t.Errorf("db's instance after a refused update: %+v", in)
	}
	e.jsonOut(ctx, &op, "org", "stacksets", "update", "Baseline", "--param", "Retention=90", "--max-concurrent", "3")
	if len(op.Accounts) != 4 || slices.ContainsFunc(op.Accounts, func(a api.StackOperationAccount) bool { return a.Status != api.StackOpSucceeded }) {
		t.Fatalf("update: %+v", op)
	}
	for _, a := range []api.OrgAccount{web, db, web2, sandbox} {
		if missing := e.member(ctx, a.ID).lacks(a.ID, 90, "20"); len(missing) > 0 {
			t.Errorf("account %s lacks %v after the update", a.Name, missing)
		}
	}
	for account, in := range instancesOf(ctx, e, "Baseline") {
		if in.Status != api.StackCurrent || in.Parameters["Retention"] != "90" {
			t.Errorf("instance in %s after the update: %+v", account, in)
		}
	}

	// A second stack set whose policy's @id the first account (in id
	// order) already uses: there it fails, and with no failure tolerated
	// the deployment goes no further; with one tolerated, the others get
	// it.
	strict := writeFile(t, "strict.yaml", `Resources:
  Strict:
    Type: Postern::Authz::Policy
    Properties:
      PolicyId: org-strict
      Statement: |
        @id("org-strict")
        forbid (principal in Group::"operators", action == Action::"DeleteSessionLogs", resource);
`)
	e.mustRun(ctx, "org", "stacksets", "create", "Strict", "--template", strict)
	accounts := []string{web.ID, db.ID, sandbox.ID}
	slices.Sort(accounts)
	var firstRole api.AssumeRoleResponse
	e.jsonOut(ctx, &firstRole, "org", "assume-role", accounts[0])
	clash := writeFile(t, "clash.cedar", `@id("org-strict") permit (principal in Group::"auditors", action == Action::"DescribeNodes", resource);`)
	if _, errOut, code := e.withToken(ctx, firstRole.Token, "policy", "put", "local", "-f", clash); code != 0 {
		t.Fatalf("the clashing policy: %s", errOut)
	}
	deployOut, _, code := e.run(ctx, "org", "stacksets", "deploy", "Strict", "--targets", strings.Join(accounts, ","), "--failure-tolerance", "0", "-o", "json")
	if code == 0 {
		t.Errorf("a deployment that failed in an account exited 0")
	}
	if err := json.Unmarshal([]byte(deployOut), &op); err != nil {
		t.Fatalf("deploy -o json: %v\n%s", err, deployOut)
	}
	if len(op.Accounts) != 3 || op.Accounts[0].Status != api.StackOpFailed || !strings.Contains(op.Accounts[0].Reason, "org-strict") ||
		op.Accounts[1].Status != api.StackOpCancelled || op.Accounts[2].Status != api.StackOpCancelled || !strings.Contains(op.Stopped, "more than the failure tolerance of 0") {
		t.Fatalf("deployment with no failure tolerated: %+v", op)
	}
	ins = instancesOf(ctx, e, "Strict")
	if ins[accounts[0]].Status != api.StackFailed || ins[accounts[1]].Status != api.StackOutdated || !strings.Contains(ins[accounts[1]].Reason, "not started") {
		t.Errorf("Strict's instances after the stopped deployment: %+v", ins)
	}
	if m := e.member(ctx, accounts[1]); slices.ContainsFunc(m.policies, func(p api.Policy) bool { return p.ID == "org-strict" }) {
		t.Errorf("the deployment went on after the failure: %s has the policy", accounts[1])
	}
	deployOut, _, _ = e.run(ctx, "org", "stacksets", "deploy", "Strict", "--targets", strings.Join(accounts, ","), "--failure-tolerance", "1", "-o", "json")
	if err := json.Unmarshal([]byte(deployOut), &op); err != nil {
		t.Fatalf("deploy -o json: %v\n%s", err, deployOut)
	}
	if op.Accounts[0].Status != api.StackOpFailed || op.Accounts[1].Status != api.StackOpSucceeded || op.Accounts[2].Status != api.StackOpSucceeded {
		t.Errorf("deployment with one failure tolerated: %+v", op)
	}

	// Removing Baseline from sandbox: what it deployed goes, but the
	// retained log group, which is no longer protected.
	e.jsonOut(ctx, &op, "org", "stacksets", "remove", "Baseline", "--targets", sandbox.ID)
	if len(op.Accounts) != 1 || op.Accounts[0].Status != api.StackOpSucceeded {
		t.Fatalf("remove: %+v", op)
	}
	m := e.member(ctx, sandbox.ID)
	if slices.ContainsFunc(m.policies, func(p api.Policy) bool { return p.ID == "org-operators" }) || strings.Contains(m.prefs, "/postern/") {
		t.Errorf("sandbox keeps what was removed: %+v", m)
	}
	if !slices.ContainsFunc(m.groups, func(g api.LogGroup) bool { return g.Name == "/postern/"+sandbox.ID+"/sessions" }) {
		t.Errorf("sandbox's retained log group went: %+v", m.groups)
	}
	var sandboxRole api.AssumeRoleResponse
	e.jsonOut(ctx, &sandboxRole, "org", "assume-role", sandbox.ID)
	if _, errOut, code := e.withToken(ctx, sandboxRole.Token, "logs", "groups", "set-retention", "/postern/"+sandbox.ID+"/sessions", "7"); code != 0 {
		t.Errorf("the retained log group, no longer the stack set's, cannot be changed: %s", errOut)
	}
	e.mustFail([]string{"org", "stacksets", "delete", "Baseline"}, "stack set Baseline still has instances")
	e.mustRun(ctx, "org", "stacksets", "remove", "Baseline", "--targets", prod.ID, "--max-concurrent", "3")
	e.mustRun(ctx, "org", "stacksets", "delete", "Baseline")

	// A member cannot manage the organization's stack sets.
	alice.mustFail([]string{"org", "stacksets", "ls"}, "is done from organization "+org.ID+"'s management account")
}

// jsonText is a value as JSON writes it.
func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
