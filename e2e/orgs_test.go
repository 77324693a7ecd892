package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
)

// withToken runs a client command of e's CLI with POSTERN_TOKEN set, as a
// user of assumed-role credentials does; it returns stdout, stderr and
// the exit code.
func (e *env) withToken(ctx context.Context, token string, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), append(e.vars(), "POSTERN_TOKEN="+token, "POSTERN_PASSWORD=correct horse battery")...)
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("postern %v: %v", args, err)
	}
	return so.String(), se.String(), code
}

// inAccount is a CLI home of its own for a user of another account of
// e's server, signed in with a password.
func (e *env) inAccount(t *testing.T, account, user, password string) *env {
	t.Helper()
	cfg, err := client.LoadConfig(e.home)
	if err != nil {
		t.Fatal(err)
	}
	u := &env{t: t, dir: e.dir, home: filepath.Join(e.dir, "cli-"+account+"-"+user), url: e.url}
	if err := client.SaveConfig(u.home, client.Config{Server: cfg.Server, CA: cfg.CA}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(testCtx(t), bin, "login", "--account", account, "--user", user)
	cmd.Env = append(os.Environ(), append(u.vars(), "POSTERN_PASSWORD="+password)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("login as %s in %s: %v\n%s", user, account, err, out)
	}
	return u
}

// TestOrganizations runs an organization end to end: the management
// account makes units and member accounts, moves them, and acts in a
// member through the role it got, with short-lived credentials the
// member's policies scope; both trails say who did what; a member cannot
// manage the organization, and nobody reaches an account outside it.
func TestOrganizations(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	e.mustFail([]string{"org", "describe"}, "belongs to no organization")

	var org api.Organization
	e.jsonOut(ctx, &org, "org", "create")
	if !strings.HasPrefix(org.ID, "o-") || org.ManagementAccount != "000000000001" || !strings.HasPrefix(org.Root, "r-") {
		t.Fatalf("org create: %+v", org)
	}
	e.mustFail([]string{"org", "create"}, "already belongs to organization "+org.ID)

	var prod, dev api.OrgUnit
	e.jsonOut(ctx, &prod, "org", "create-unit", "Prod")
	e.jsonOut(ctx, &dev, "org", "create-unit", "Dev")
	e.mustFail([]string{"org", "create-unit", "Prod"}, `already holds a unit named "Prod"`)
	if want := org.ID + "/" + org.Root + "/" + prod.ID + "/"; prod.Path != want {
		t.Errorf("Prod's path %q, want %q", prod.Path, want)
	}

	var web, sandbox api.OrgAccount
	e.jsonOut(ctx, &web, "org", "create-account", "web-prod", "--parent", prod.ID)
	e.jsonOut(ctx, &sandbox, "org", "create-account", "sandbox")
	e.mustFail([]string{"org", "create-account", "lost", "--parent", "ou-zzzz-zzzzzzzz"}, "is neither the root nor a unit of organization")
	if web.Parent != prod.ID || sandbox.Parent != org.Root || web.ID == sandbox.ID {
		t.Fatalf("created %+v and %+v", web, sandbox)
	}
	e.mustRun(ctx, "org", "move-account", sandbox.ID, "--from", org.Root, "--to", dev.ID)
	e.mustFail([]string{"org", "move-account", sandbox.ID, "--from", org.Root, "--to", prod.ID}, "is not in "+org.Root)
	e.mustFail([]string{"org", "delete-unit", prod.ID}, "still holds units or accounts")
	var accounts []api.OrgAccount
	e.jsonOut(ctx, &accounts, "org", "accounts")
	paths := map[string]string{}
	for _, a := range accounts {
		paths[a.ID] = a.Path
	}
	if len(accounts) != 3 || paths[sandbox.ID] != org.ID+"/"+org.Root+"/"+dev.ID+"/" || paths["000000000001"] != org.ID+"/"+org.Root+"/" {
		t.Fatalf("org accounts: %+v", accounts)
	}

	// The management account's administrator acts in web-prod through
	// its role: short-lived credentials of that account.
	var cr api.AssumeRoleResponse
	e.jsonOut(ctx, &cr, "org", "assume-role", web.ID)
	if cr.Account != web.ID || cr.Role != "OrganizationAccountAccessRole" || !strings.HasSuffix(cr.ARN, "/OrganizationAccountAccessRole/admin@000000000001") {
		t.Fatalf("assume-role: %+v", cr)
	}
	out, errOut, code := e.withToken(ctx, cr.Token, "whoami", "-o", "json")
	var me api.WhoAmI
	if code != 0 || json.Unmarshal([]byte(out), &me) != nil || me.Account != web.ID || me.User != "OrganizationAccountAccessRole" {
		t.Fatalf("whoami with the role's token: exit %d, %s %s", code, out, errOut)
	}
	if _, errOut, code := e.withToken(ctx, cr.Token, "users", "create", "alice", "--group", "administrators", "--password"); code != 0 {
		t.Fatalf("creating web-prod's administrator through the role: exit %d: %s", code, errOut)
	}
	// Nothing outside the organization, nor the management account itself.
	e.mustFail([]string{"org", "assume-role", "123456789012"}, "is not in organization "+org.ID)
	e.mustFail([]string{"org", "assume-role", web.ID, "--duration", "2h"}, "out of range 900–3600")

	// web-prod's own administrator sees the organization, cannot manage
	// it, and narrows what the role may do: the credentials already
	// handed out follow at once.
	alice := e.inAccount(t, web.ID, "alice", "correct horse battery")
	var seen api.Organization
	alice.jsonOut(ctx, &seen, "org", "describe")
	if seen.ID != org.ID {
		t.Errorf("a member's view of its organization: %+v", seen)
	}
	alice.mustFail([]string{"org", "accounts"}, "is done from organization "+org.ID+"'s management account")
	alice.mustFail([]string{"org", "create-account", "mine"}, "not from member account "+web.ID)
	alice.mustFail([]string{"org", "assume-role", "000000000001"}, "not from member account "+web.ID)
	alice.mustRun(ctx, "users", "set", "OrganizationAccountAccessRole", "--groups", "auditors")
	if _, errOut, code := e.withToken(ctx, cr.Token, "users", "create", "mallory"); code == 0 || !strings.Contains(errOut, "revoked") {
		t.Errorf("credentials of the role from before it was narrowed still work: exit %d: %s", code, errOut)
	}
	var narrowed api.AssumeRoleResponse
	e.jsonOut(ctx, &narrowed, "org", "assume-role", web.ID)
	if _, errOut, code := e.withToken(ctx, narrowed.Token, "users", "create", "mallory"); code == 0 || !strings.Contains(errOut, "is not allowed to CreateUser") {
		t.Errorf("the narrowed role created a user: exit %d: %s", code, errOut)
	}
	if _, errOut, code := e.withToken(ctx, narrowed.Token, "audit", "query"); code != 0 {
		t.Errorf("the narrowed role (an auditor) cannot read the trail: exit %d: %s", code, errOut)
	}

	// The member's trail names who came in through the role, and what
	// they did there; the management account's, who assumed it.
	var trail []api.AuditRecord
	alice.jsonOut(ctx, &trail, "audit", "query")
	has := func(rs []api.AuditRecord, actor, action string) bool {
		for _, r := range rs {
			if r.Actor == actor && r.Action == action {
				return true
			}
		}
		return false
	}
	for _, want := range []string{"AssumeRole", "POST /v1/users"} {
		if !has(trail, cr.ARN, want) {
			t.Errorf("web-prod's trail has no %s by %s:\n%+v", want, cr.ARN, trail)
		}
	}
	if !has(trail, "prn:postern:iam:000000000001:user/admin", "CreateAccount") {
		t.Errorf("web-prod's trail does not say who created it:\n%+v", trail)
	}
	var mgmt []api.AuditRecord
	e.jsonOut(ctx, &mgmt, "audit", "query")
	if !has(mgmt, "prn:postern:iam:000000000001:user/admin", "POST /v1/organization/accounts/{id}/assume-role") {
		t.Errorf("the management account's trail has no assume-role:\n%+v", mgmt)
	}
}

// TestOrgConditionKeys: a key policy that lets only its organization's
// users and recorders use a key (aws:PrincipalOrgID, aws:SourceOrgID) admits
// the organization's, and refuses once it names another organization:
// sessions cannot be sealed with it, nor their logs read.
func TestOrgConditionKeys(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	var org api.Organization
	e.jsonOut(ctx, &org, "org", "create")
	policy := func(orgID string) string {
		p := filepath.Join(t.TempDir(), "policy.json")
		text := `{"Version": "2012-10-17", "Statement": [
		  {"Sid": "administrators manage it", "Effect": "Allow", "Principal": {"Postern": "prn:postern:iam:000000000001:root"},
		   "Action": ["kms:DescribeKey", "kms:PutKeyPolicy", "kms:EnableKey", "kms:DisableKey"], "Resource": "*"},
		  {"Sid": "the organization's recorders seal with it", "Effect": "Allow", "Principal": {"Service": "sessions.postern"},
		   "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"], "Resource": "*",
		   "Condition": {"StringEquals": {"aws:SourceOrgID": "` + orgID + `"}}},
		  {"Sid": "the organization's users seal and read with it", "Effect": "Allow", "Principal": "*", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*",
		   "Condition": {"StringEquals": {"aws:PrincipalOrgID": "` + orgID + `"}, "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "` + orgID + `/*"}}}
		]}`
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := e.mustRun(ctx, "keys", "create", "--policy-file", policy(org.ID))
	m := regexp.MustCompile(`Created key (\S+) \((prn:\S+)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys create printed %q", out)
	}
	prefs := filepath.Join(t.TempDir(), "prefs.json")
	if err := os.WriteFile(prefs, []byte(`{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"kmsKeyId":"`+m[2]+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(ctx, "prefs", "set", "-f", prefs)
	node := hostname(t)
	if out := e.mustRun(ctx, "exec", node, "--", "echo", "Zq7OrgSealed"); out != "Zq7OrgSealed\n" {
		t.Fatalf("exec printed %q", out)
	}
	id := e.sessions(ctx)[0].ID
	if log := e.logs(ctx, id, "log"); !strings.Contains(log, "Zq7OrgSealed") {
		t.Errorf("the organization's administrator cannot read the sealed session:\n%s", log)
	}
	// The recorder read it too, for the built-in log store.
	e.waitDelivered(ctx, id)

	// The same key for another organization only: this one's recorder
	// and users are outsiders.
	e.mustRun(ctx, "keys", "put-policy", m[1], "-f", policy("o-zzzzzzzzzz"))
	e.mustFail([]string{"logs", "get", id}, "may not kms:Decrypt with key "+m[2])
	e.mustFail([]string{"exec", node, "--", "echo", "refused"}, "cannot encrypt it")
}

// TestOrgCedarAttributes: policies see the caller's organization and
// place in it (principal.orgId, principal.orgPath), as they stand at each
// request: a permission given to the users of accounts in one unit
// follows the account in and out of it.
func TestOrgCedarAttributes(t *testing.T) {
	ctx := testCtx(t)
	e := startDev(t)
	var org api.Organization
	e.jsonOut(ctx, &org, "org", "create")
	var prod api.OrgUnit
	e.jsonOut(ctx, &prod, "org", "create-unit", "Prod")
	const pw = "correct horse battery staple"
	cmd := exec.CommandContext(ctx, bin, "users", "create", "olga", "--password")
	cmd.Env = append(os.Environ(), append(e.vars(), "POSTERN_PASSWORD="+pw)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("users create olga: %v\n%s", err, out)
	}
	policy := filepath.Join(t.TempDir(), "prod-auditors.cedar")
	if err := os.WriteFile(policy, []byte(`permit (principal, action == Action::"LookupAuditEvents", resource)
when { principal has orgId && principal.orgId == "`+org.ID+`" && principal.orgPath like "*/`+prod.ID+`/*" };`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustRun(ctx, "policy", "put", "prod-auditors", "-f", policy)
	olga := e.as(t, "olga", pw)
	olga.mustFail([]string{"audit", "query"}, "is not allowed to LookupAuditEvents")
	e.mustRun(ctx, "org", "move-account", "000000000001", "--from", org.Root, "--to", prod.ID)
	olga.mustRun(ctx, "audit", "query")
	e.mustRun(ctx, "org", "move-account", "000000000001", "--from", prod.ID, "--to", org.Root)
	olga.mustFail([]string{"audit", "query"}, "is not allowed to LookupAuditEvents")
}
