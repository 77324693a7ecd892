package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/postern/postern/api"
)

// addAgents registers agents called names, with an activation that tags
// them, runs them, and waits until they are online; it returns their ids
// by name.
func (e *env) addAgents(ctx context.Context, tag string, names ...string) map[string]string {
	e.t.Helper()
	act := regexp.MustCompile(`postern-agent register --server (\S+) --code (\S+) --id (\S+) --ca-pin (\S+)`).
		FindStringSubmatch(e.mustRun(ctx, "activations", "create", "--tag", tag, "--count", fmt.Sprint(len(names))))
	if act == nil {
		e.t.Fatal("activations create printed no register command")
	}
	for _, name := range names {
		dir := filepath.Join(e.dir, "agent-"+name)
		reg := start(e.t, nil, "agent", "register", "--dir", dir, "--server", act[1], "--code", act[2], "--id", act[3], "--ca-pin", act[4], "--name", name)
		reg.waitFor(ctx, regexp.MustCompile(`Registered this node`))
		start(e.t, nil, "agent", "run", "--dir", dir)
	}
	ids := map[string]string{}
	waitFor(ctx, e.t, "the new agents online", func() bool {
		var ns []api.Node
		e.jsonOut(ctx, &ns, "nodes")
		online := 0
		for _, n := range ns {
			if slices.Contains(names, n.Name) && n.Online {
				ids[n.Name] = n.ID
				online++
			}
		}
		return online == len(names)
	})
	return ids
}

// runJSON runs `postern run ... -o json` and returns the command and the
// exit code.
func (e *env) runJSON(ctx context.Context, args ...string) (api.Command, int) {
	e.t.Helper()
	out, errOut, code := e.run(ctx, append(append([]string{"run"}, args...), "-o", "json")...)
	var c api.Command
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		e.t.Fatalf("postern run %v: exit %d, %v\nstdout: %s\nstderr: %s", args, code, err, out, errOut)
	}
	return c, code
}

// byNode returns a command's invocations by node id.
func byNode(c api.Command) map[string]api.CommandInvocation {
	m := map[string]api.CommandInvocation{}
	for _, in := range c.Invocations {
		m[in.NodeID] = in
	}
	return m
}

// TestRunCommand runs commands on three nodes (postern dev's own and two
// more, tagged env=prod) with one failing: per-node results, exit codes
// and output; max errors stopping the rest; an execution timeout; a
// cancel; every node's run a session of the sender's, listed, recorded
// and audited; and a command that outlives a restart of the server.
func TestRunCommand(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startDev(t)
	ids := e.addAgents(ctx, "env=prod", "prod-1", "prod-2")
	var ns []api.Node
	e.jsonOut(ctx, &ns, "nodes")
	var dev string
	for _, n := range ns {
		if n.Name == hostname(t) {
			dev = n.ID
		}
	}
	p1, p2 := ids["prod-1"], ids["prod-2"]
	// Fails on prod-2 only: each run knows its node by AWS_SSM_INSTANCE_ID,
	// as under Systems Manager's agent.
	failOnP2 := `commands=["echo out-$AWS_SSM_INSTANCE_ID","echo err-$POSTERN_COMMAND_ID >&2","test $AWS_SSM_INSTANCE_ID != ` + p2 + `"]`

	// By tag, both prod nodes at once; max errors 0 by default.
	c, code := e.runJSON(ctx, "--targets", "Key=tag:env,Values=prod", "--parameters", failOnP2, "--comment", "check prod")
	if code != 1 || c.Status != "Failed" || c.TargetCount != 2 || c.CompletedCount != 2 || c.ErrorCount != 1 || c.Comment != "check prod" {
		t.Fatalf("by tag: exit %d, command %+v", code, c)
	}
	got := byNode(c)
	ok, bad := got[p1], got[p2]
	if ok.Status != "Success" || ok.ExitCode == nil || *ok.ExitCode != 0 || ok.StandardOutputContent != "out-"+p1+"\n" ||
		ok.StandardErrorContent != "err-"+c.ID+"\n" || ok.NodeName != "prod-1" {
		t.Errorf("prod-1: %+v", ok)
	}
	if bad.Status != "Failed" || bad.StatusDetails != "Failed" || bad.ExitCode == nil || *bad.ExitCode != 1 || bad.StandardOutputContent != "out-"+p2+"\n" {
		t.Errorf("prod-2: %+v", bad)
	}
	tagged := c

	// One at a time, failing first: no more nodes start.
	c, code = e.runJSON(ctx, "--node-ids", p2+",prod-1,"+dev, "--max-concurrency", "1", "--max-errors", "0", "--parameters", failOnP2)
	got = byNode(c)
	if code != 1 || c.Status != "Failed" || got[p2].Status != "Failed" ||
		got[p1].Status != "Cancelled" || got[p1].StatusDetails != "MaxErrorsExceeded" || got[p1].SessionID != "" ||
		got[dev].Status != "Cancelled" || got[dev].SessionID != "" {
		t.Errorf("max errors 0, one at a time: exit %d, %+v", code, c)
	}
	// With room for one error, all three run, and it succeeds, incomplete.
	c, code = e.runJSON(ctx, "--node-ids", strings.Join([]string{dev, p1, p2}, ","), "--max-concurrency", "34%", "--max-errors", "1", "--parameters", failOnP2)
	if code != 0 || c.Status != "Success" || c.StatusDetails != "Incomplete" || c.CompletedCount != 3 || c.ErrorCount != 1 {
		t.Errorf("max errors 1: exit %d, %+v", code, c)
	}

	// Working directory, and the plain text form.
	out, errOut, code := e.run(ctx, "run", "--node-ids", dev+","+p1, "--parameters", "commands=pwd,workingDirectory=/tmp")
	if code != 0 || strings.Count(out, "\n/tmp\n") != 2 || !strings.Contains(out, "Success") || !strings.Contains(errOut, "Success, exit code 0") {
		t.Errorf("working directory: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = e.run(ctx, "run", "--node-ids", dev, "--parameters", "commands=pwd,workingDirectory=/nonexistent")
	if code != 1 || !strings.Contains(out, "Failed") || !strings.Contains(out, "nonexistent") {
		t.Errorf("a missing working directory: exit %d\n%s\n%s", code, out, errOut)
	}

	// An execution timeout.
	c, code = e.runJSON(ctx, "--node-ids", p1, "--parameters", `commands=echo started; sleep 60,executionTimeout=2`)
	if in := byNode(c)[p1]; code != 1 || c.Status != "TimedOut" || in.Status != "TimedOut" || in.StatusDetails != "ExecutionTimedOut" || in.StandardOutputContent != "started\n" {
		t.Errorf("execution timeout: exit %d, %+v", code, c)
	}

	// Output past 24,000 characters: the result has the beginning, the
	// recording all of it.
	c, _ = e.runJSON(ctx, "--node-ids", dev, "--parameters", `commands=head -c 100000 /dev/zero | tr '\0' x`)
	big := byNode(c)[dev]
	if len(big.StandardOutputContent) != 24000 || big.StandardOutputBytes != 100000 || !big.OutputTruncated {
		t.Errorf("large output: %d characters kept of %d bytes, truncated %v", len(big.StandardOutputContent), big.StandardOutputBytes, big.OutputTruncated)
	}
	if log := e.mustRun(ctx, "logs", "get", big.SessionID); strings.Count(log, "x") < 100000 {
		t.Errorf("the recording of %s holds %d x, want all 100000", big.SessionID, strings.Count(log, "x"))
	}

	// Cancel: the running node is ended, the others never start.
	id := strings.TrimSpace(e.mustRun(ctx, "run", "--no-wait", "--node-ids", strings.Join([]string{p1, p2, dev}, ","), "--max-concurrency", "1",
		"--parameters", "commands=echo begun; sleep 60"))
	waitFor(ctx, t, "the first node running", func() bool {
		var c api.Command
		e.jsonOut(ctx, &c, "run", "show", id)
		return len(c.Invocations) == 3 && c.Invocations[0].Status == "InProgress"
	})
	if out := e.mustRun(ctx, "run", "cancel", id); !strings.Contains(out, "Cancelling") {
		t.Errorf("run cancel: %s", out)
	}
	waitFor(ctx, t, "the command cancelled", func() bool {
		c = api.Command{}
		e.jsonOut(ctx, &c, "run", "show", id)
		return c.EndedAt != nil
	})
	got = byNode(c)
	if c.Status != "Cancelled" || got[p1].Status != "Cancelled" || got[p1].SessionID == "" || got[p2].Status != "Cancelled" || got[p2].SessionID != "" || got[dev].SessionID != "" {
		t.Errorf("cancelled: %+v", c)
	}
	e.mustFail([]string{"run", "cancel", id}, "already ended")

	// The document is a built-in one, listed and shown as the others.
	if out := e.mustRun(ctx, "documents", "show", "AWS-RunShellScript"); !strings.Contains(out, `"action": "aws:runShellScript"`) {
		t.Errorf("documents show AWS-RunShellScript:\n%s", out)
	}
	if out := e.mustRun(ctx, "documents", "ls"); !regexp.MustCompile(`Postern-RunShellScript\s+Command\s+1\s+built-in`).MatchString(out) {
		t.Errorf("documents ls:\n%s", out)
	}

	// Refusals say what is wrong.
	e.mustFail([]string{"run", "--targets", "Key=tag:env,Values=staging", "--parameters", "commands=true"}, "no node of account 000000000001 matches the targets tag:env=staging")
	e.mustFail([]string{"run", "--targets", "env=prod", "--parameters", "commands=true"}, "want Key=KEY,Values=VALUE")
	e.mustFail([]string{"run", "--node-ids", p1, "--parameters", "command=true"}, "not a parameter of this document")
	e.mustFail([]string{"run", "--node-ids", p1, "--parameters", "commands=true", "--max-concurrency", "0"}, "--max-concurrency")
	e.mustFail([]string{"run", "show", "11111111-2222-4333-8444-555555555555"}, "does not exist")

	// Every node's run is a session of the sender's: listed, recorded,
	// linked to its command, and audited.
	var sessions []api.Session
	e.jsonOut(ctx, &sessions, "sessions")
	bySession := map[string]api.Session{}
	for _, s := range sessions {
		bySession[s.ID] = s
	}
	for _, in := range tagged.Invocations {
		s, found := bySession[in.SessionID]
		if !found || s.Owner != "admin" || s.Target != in.NodeID || s.Document != "AWS-RunShellScript" ||
			s.Reason != "Run Command "+tagged.ID+": check prod" || s.ExitCode == nil || *s.ExitCode != *in.ExitCode {
			t.Errorf("the session of %s's run: %+v (found %v)", in.NodeID, s, found)
		}
		if log := e.mustRun(ctx, "logs", "get", in.SessionID); !strings.Contains(log, "out-"+in.NodeID) {
			t.Errorf("the recording of %s lacks the output:\n%s", in.SessionID, log)
		}
	}
	var ls []api.Command
	e.jsonOut(ctx, &ls, "run", "ls")
	if len(ls) != 8 || ls[len(ls)-1].ID != tagged.ID || ls[len(ls)-1].Invocations != nil {
		t.Errorf("run ls: %d commands, oldest %+v", len(ls), ls[len(ls)-1])
	}
	if out := e.mustRun(ctx, "run", "show", tagged.ID); !strings.Contains(out, "prod-2") || !strings.Contains(out, "Failed") || !strings.Contains(out, "out-"+p1) {
		t.Errorf("run show:\n%s", out)
	}
	var trail []api.AuditRecord
	e.jsonOut(ctx, &trail, "audit", "query")
	has := func(action, resource string) bool {
		return slices.ContainsFunc(trail, func(r api.AuditRecord) bool {
			return r.Action == action && r.Resource == resource && r.Actor == "prn:postern:iam:000000000001:user/admin"
		})
	}
	for _, want := range [][2]string{{"POST /v1/commands", "/v1/commands"}, {"CommandSent", tagged.ID}, {"CommandEnded", tagged.ID}, {"CommandCancelled", id},
		{"SessionStarted", ok.SessionID}, {"SessionEnded", bad.SessionID}} {
		if !has(want[0], want[1]) {
			t.Errorf("no audit record %s %s", want[0], want[1])
		}
	}

	// Status changes are events, for rules to match.
	var sawCommand, sawInvocation bool
	for _, line := range strings.Split(strings.TrimSpace(e.mustRun(ctx, "logs", "events", "/postern/events", "postern.commands")), "\n") {
		var ev struct {
			DetailType string `json:"detail-type"`
			Source     string
			Detail     struct {
				CommandID  string `json:"command-id"`
				Status     string
				InstanceID string `json:"instance-id"`
				ExitCode   *int   `json:"exit-code"`
			}
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		if ev.Source != "postern.commands" || ev.Detail.CommandID != tagged.ID || ev.Detail.Status != "Failed" {
			continue
		}
		switch ev.DetailType {
		case "Command Status-change Notification":
			sawCommand = true
		case "Command Invocation Status-change Notification":
			sawInvocation = sawInvocation || ev.Detail.InstanceID == p2 && ev.Detail.ExitCode != nil && *ev.Detail.ExitCode == 1
		}
	}
	if !sawCommand || !sawInvocation {
		t.Errorf("events of the failed command: command %v, prod-2's invocation %v", sawCommand, sawInvocation)
	}

	// Operators send commands only where they may start sessions (env=dev
	// by default), and see their own; auditors see all, cancel none.
	const pw = "correct horse battery staple"
	for _, u := range [][2]string{{"olivia", "operators"}, {"audrey", "auditors"}} {
		cmd := exec.CommandContext(ctx, bin, "users", "create", u[0], "--group", u[1], "--password")
		cmd.Env = append(os.Environ(), append(e.vars(), "POSTERN_PASSWORD="+pw)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("users create %s: %v\n%s", u[0], err, out)
		}
	}
	olivia, audrey := e.as(t, "olivia", pw), e.as(t, "audrey", pw)
	olivia.mustFail([]string{"run", "--targets", "Key=tag:env,Values=prod", "--parameters", "commands=id"}, "olivia is not allowed to StartSession on "+p1+", "+p2)
	var mine []api.Command
	olivia.jsonOut(ctx, &mine, "run", "ls")
	if len(mine) != 0 {
		t.Errorf("an operator sees others' commands: %+v", mine)
	}
	olivia.mustFail([]string{"run", "show", tagged.ID}, "olivia is not allowed to ListCommands")
	var all []api.Command
	audrey.jsonOut(ctx, &all, "run", "ls")
	if len(all) != len(ls) {
		t.Errorf("an auditor sees %d commands, want %d", len(all), len(ls))
	}
	audrey.mustFail([]string{"run", "cancel", tagged.ID}, "audrey is not allowed to CancelCommand")

	// A command outlives a restart of the server: its node's session goes
	// on, and its end is learned after.
	id = strings.TrimSpace(e.mustRun(ctx, "run", "--no-wait", "--node-ids", p1, "--parameters", "commands=echo before; sleep 4; echo after"))
	waitFor(ctx, t, "the command running", func() bool {
		var c api.Command
		e.jsonOut(ctx, &c, "run", "show", id)
		return c.Invocations[0].Status == "InProgress"
	})
	e.dev.stop(ctx)
	e.startDevIn(ctx, "--listen", strings.TrimPrefix(e.url, "https://")) // where the agents reconnect
	waitFor(ctx, t, "the command ended after the restart", func() bool {
		c = api.Command{}
		e.jsonOut(ctx, &c, "run", "show", id)
		return c.EndedAt != nil
	})
	if in := c.Invocations[0]; c.Status != "Success" || in.StandardOutputContent != "before\nafter\n" {
		t.Errorf("after a restart: %+v", c)
	}
}
