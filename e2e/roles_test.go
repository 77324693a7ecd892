package e2e

import (
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

// as is a CLI home of its own for another user of e's server.
func (e *env) as(t *testing.T, user, password string) *env {
	t.Helper()
	cfg, err := client.LoadConfig(e.home)
	if err != nil {
		t.Fatal(err)
	}
	u := &env{t: t, dir: e.dir, home: filepath.Join(e.dir, "cli-"+user), url: e.url}
	if err := client.SaveConfig(u.home, client.Config{Server: cfg.Server, CA: cfg.CA}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(testCtx(t), bin, "login", "--user", user)
	cmd.Env = append(os.Environ(), append(u.vars(), "POSTERN_PASSWORD="+password)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("login as %s: %v\n%s", user, err, out)
	}
	return u
}

// mustFail runs a client command that must fail saying want.
func (e *env) mustFail(args []string, want string) {
	e.t.Helper()
	out, errOut, code := e.run(testCtx(e.t), args...)
	if code == 0 || !strings.Contains(errOut, want) {
		e.t.Errorf("postern %s: exit %d, stdout %q, stderr %q; want a failure saying %q", strings.Join(args, " "), code, out, errOut, want)
	}
}

// TestDefaultRoles runs the default policies end to end: operators start
// sessions on env=dev nodes only and terminate only their own sessions;
// auditors read sessions, logs and the trail but start nothing; nobody
// raises their own permissions; API tokens are scoped and revocable; and
// `postern policy test` says which policy decides.
func TestDefaultRoles(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	var nodes []api.Node
	e.jsonOut(ctx, &nodes, "nodes")
	if len(nodes) != 1 {
		t.Fatalf("nodes: %+v", nodes)
	}
	dev := nodes[0].ID // postern dev's own node, tagged env=dev

	// A second node, registered with an env=prod activation. The tag it
	// claims for itself does not override the activation's.
	out := e.mustRun(ctx, "activations", "create", "--tag", "env=prod")
	m := regexp.MustCompile(`postern-agent register --server (\S+) --code (\S+) --id (\S+) --ca-pin (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("activation output: %s", out)
	}
	agentDir := filepath.Join(e.dir, "agent-prod")
	reg := start(t, nil, "agent", "register", "--dir", agentDir, "--server", m[1], "--code", m[2], "--id", m[3], "--ca-pin", m[4], "--tag", "env=dev")
	prod := reg.waitFor(ctx, regexp.MustCompile(`Registered this node as (mi-[0-9a-f]{17})`))[1]
	start(t, nil, "agent", "run", "--dir", agentDir)
	for {
		e.jsonOut(ctx, &nodes, "nodes")
		if len(nodes) == 2 && nodes[0].Online && nodes[1].Online {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the env=prod node never came online: %+v", nodes)
		default:
		}
	}

	const pw = "correct horse battery staple"
	for _, u := range [][]string{{"olivia", "operators"}, {"audrey", "auditors"}, {"nick", ""}} {
		cmd := exec.CommandContext(ctx, bin, "users", "create", u[0], "--group", u[1], "--password")
		cmd.Env = append(os.Environ(), append(e.vars(), "POSTERN_PASSWORD="+pw)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("users create %s: %v\n%s", u[0], err, out)
		}
	}
	olivia, audrey, nick := e.as(t, "olivia", pw), e.as(t, "audrey", pw), e.as(t, "nick", pw)

	// Operators: env=dev nodes only.
	if out := olivia.mustRun(ctx, "exec", dev, "--", "echo", "operator-ok"); !strings.Contains(out, "operator-ok") {
		t.Errorf("operator on the dev node: %q", out)
	}
	olivia.mustFail([]string{"exec", prod, "--", "true"}, "olivia is not allowed to StartSession on node "+prod+" (denied: no policy permits it)")
	// ...and their own sessions only.
	adminLong := start(t, e.vars(), "exec", prod, "--", "sleep", "120")
	oliviaLong := start(t, olivia.vars(), "exec", dev, "--", "sleep", "120")
	active := func(who *env) map[string]string {
		for {
			var ss []api.Session
			who.jsonOut(ctx, &ss, "sessions", "--state", "active")
			owners := map[string]string{}
			for _, s := range ss {
				if s.Status == "Connected" {
					owners[s.Owner] = s.ID
				}
			}
			if len(owners) == 2 || who != e && len(owners) == 1 {
				return owners
			}
			if ctx.Err() != nil {
				t.Fatalf("sessions never became active: %+v", ss)
			}
		}
	}
	all := active(e)
	if mine := active(olivia); len(mine) != 1 || mine["olivia"] == "" {
		t.Errorf("olivia sees sessions %v, want only her own", mine)
	}
	olivia.mustFail([]string{"terminate", all["admin"]}, "olivia is not allowed to TerminateSession on session "+all["admin"])
	// Auditors watch live sessions read-only; operators may not watch
	// others'.
	olivia.mustFail([]string{"sessions", "watch", all["admin"]}, "olivia is not allowed to")
	ticker := start(t, olivia.vars(), "exec", dev, "--", "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick-$i; sleep 0.5; done")
	var ticking string
	for ticking == "" {
		var ss []api.Session
		olivia.jsonOut(ctx, &ss, "sessions", "--state", "active")
		for _, s := range ss {
			if s.Status == "Connected" && s.ID != all["olivia"] {
				ticking = s.ID
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("olivia's second session never became active")
		}
	}
	if out := audrey.mustRun(ctx, "sessions", "watch", ticking); !strings.Contains(out, "tick-1\n") || !strings.Contains(out, "tick-10") {
		t.Errorf("auditor watching: %q", out)
	}
	ticker.stop(ctx)
	olivia.mustRun(ctx, "terminate", all["olivia"])
	oliviaLong.stop(ctx)
	adminLong.stop(ctx)

	// Auditors: read everything, start nothing, change nothing.
	var ss []api.Session
	audrey.jsonOut(ctx, &ss, "sessions")
	if len(ss) < 3 {
		t.Errorf("auditor sees %d sessions, want all of them", len(ss))
	}
	if out := audrey.mustRun(ctx, "logs", "get", all["olivia"]); !strings.Contains(out, "Script started") {
		t.Errorf("auditor reading olivia's transcript: %q", out)
	}
	audrey.mustRun(ctx, "logs", "query", "fields @message | limit 5", "--group", "/postern/sessions")
	audrey.mustRun(ctx, "audit", "verify")
	audrey.mustFail([]string{"exec", dev, "--", "true"}, "audrey is not allowed to StartSession")
	audrey.mustFail([]string{"users", "create", "mallory"}, "audrey is not allowed to CreateUser")
	audrey.mustFail([]string{"terminate", all["olivia"]}, "audrey is not allowed to TerminateSession")

	// A user in no group may only see who they are.
	if out := nick.mustRun(ctx, "nodes", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("nick sees nodes: %s", out)
	}
	nick.mustFail([]string{"exec", dev, "--", "true"}, "nick is not allowed to StartSession")

	// Nobody raises their own permissions.
	olivia.mustFail([]string{"users", "set", "olivia", "runAs=root"}, "denied by system:no-self-elevation")
	olivia.mustFail([]string{"users", "set", "olivia", "--groups", "administrators"}, "denied by system:no-self-elevation")
	policy := filepath.Join(e.dir, "open.cedar")
	os.WriteFile(policy, []byte(`permit (principal, action, resource);`), 0o600)
	olivia.mustFail([]string{"policy", "put", "mine", "-f", policy}, "olivia is not allowed to PutPolicy")
	olivia.mustFail([]string{"tokens", "ls", "--user", "audrey"}, "olivia is not allowed to DescribeTokens on user audrey")

	// `policy test` explains.
	if out, _, code := e.run(ctx, "policy", "test", "--principal", "olivia", "--action", "StartSession", "--resource", "node:"+dev); code != 0 || !strings.Contains(out, "Allow: allowed by operators-start-dev") {
		t.Errorf("policy test (dev): exit %d, %q", code, out)
	}
	if out, _, code := e.run(ctx, "policy", "test", "--principal", "olivia", "--action", "StartSession", "--resource", "node:"+prod); code != 3 || !strings.Contains(out, "Deny: denied: no policy permits it") {
		t.Errorf("policy test (prod): exit %d, %q", code, out)
	}
	// An administrator's forbid wins over the operators' permit.
	forbid := filepath.Join(e.dir, "no-olivia.cedar")
	os.WriteFile(forbid, []byte(`@id("olivia-suspended")
forbid (principal == User::"olivia", action, resource) unless { action == Action::"GetCallerIdentity" };`), 0o600)
	if out, _, code := e.run(ctx, "policy", "test", "--principal", "olivia", "--action", "StartSession", "--resource", "node:"+dev, "--with", "suspend="+forbid); code != 3 || !strings.Contains(out, "denied by olivia-suspended") {
		t.Errorf("policy test --with: exit %d, %q", code, out)
	}
	e.mustRun(ctx, "policy", "put", "suspend", "-f", forbid)
	olivia.mustFail([]string{"exec", dev, "--", "true"}, "denied by olivia-suspended")
	// Deleting every permit of administrators would lock them out: refused.
	e.mustFail([]string{"policy", "delete", "defaults"}, "could no longer PutPolicy")
	e.mustRun(ctx, "policy", "delete", "suspend")
	olivia.mustRun(ctx, "exec", dev, "--", "true")

	// Scoped, revocable API tokens.
	secret := strings.TrimSpace(e.mustRun(ctx, "tokens", "create", "--name", "report", "--scope", "DescribeSessions", "--expires", "1h"))
	bot := &env{t: t, dir: e.dir, home: filepath.Join(e.dir, "cli-bot"), url: e.url}
	cfg, _ := client.LoadConfig(e.home)
	client.SaveConfig(bot.home, client.Config{Server: cfg.Server, CA: cfg.CA, Token: secret})
	// Sessions it may list; their nodes' names it may not see, so the
	// table names nodes by id (issue 17, item 7).
	var botView, adminView []api.Session
	bot.jsonOut(ctx, &botView, "sessions")
	e.jsonOut(ctx, &adminView, "sessions")
	if len(botView) == 0 || len(botView) != len(adminView) || botView[0].TargetName != "" || adminView[0].TargetName == "" ||
		!strings.Contains(bot.mustRun(ctx, "sessions"), botView[0].Target) {
		t.Errorf("a token without DescribeNodes sees sessions %+v; admin sees %+v", botView, adminView)
	}
	bot.mustFail([]string{"nodes"}, "may not DescribeNodes: its scopes are [DescribeSessions]")
	var toks []api.Token
	e.jsonOut(ctx, &toks, "tokens", "ls")
	var id string
	for _, tk := range toks {
		if tk.Name == "report" {
			id = tk.ID
		}
	}
	if id == "" {
		t.Fatalf("tokens ls: %+v", toks)
	}
	e.mustRun(ctx, "tokens", "revoke", id)
	bot.mustFail([]string{"sessions"}, "unknown, expired or revoked")

	// Every refusal is in the audit trail.
	var recs []api.AuditRecord
	e.jsonOut(ctx, &recs, "audit", "query")
	denied := 0
	for _, r := range recs {
		if r.Result == "Denied" && strings.Contains(r.Actor, "user/olivia") {
			denied++
		}
	}
	if denied < 5 {
		b, _ := json.MarshalIndent(recs, "", "  ")
		t.Errorf("%d of olivia's refusals in the audit trail, want at least 5:\n%s", denied, b)
	}
}
