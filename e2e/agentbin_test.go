package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/api"
)

// TestPosternAgentBinary registers a node with the postern-agent binary,
// the agent alone as nodes install it, runs it, and runs a recorded
// command on that node.
func TestPosternAgentBinary(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	agentBin := filepath.Join(t.TempDir(), "postern-agent")
	if out, err := exec.CommandContext(ctx, "go", "build", "-race", "-o", agentBin, "../cmd/postern-agent").CombinedOutput(); err != nil {
		t.Fatalf("building postern-agent: %v\n%s", err, out)
	}
	if out, err := exec.CommandContext(ctx, agentBin, "--version").Output(); err != nil || !regexp.MustCompile(`^postern-agent \S+\ncommit \S+\n$`).Match(out) {
		t.Errorf("postern-agent --version: %q, %v", out, err)
	}

	e := startDev(t)
	out := e.mustRun(ctx, "activations", "create", "--tag", "env=lean")
	m := regexp.MustCompile(`postern-agent register --server (\S+) --code (\S+) --id (\S+) --ca-pin (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("activations create does not say how to register with postern-agent:\n%s", out)
	}
	// The listing shows what nodes registering with it will be tagged
	// (issue 17, item 7).
	if ls := e.mustRun(ctx, "activations", "ls"); !strings.Contains(ls, "TAGS") || !strings.Contains(ls, "env=lean") {
		t.Errorf("activations ls does not show the activation's tags:\n%s", ls)
	}
	dir := filepath.Join(e.dir, "lean-agent")
	reg := exec.CommandContext(ctx, agentBin, "register", "--server", m[1], "--code", m[2], "--id", m[3], "--ca-pin", m[4], "--name", "lean")
	reg.Env = append(os.Environ(), "POSTERN_AGENT_DIR="+dir) // the directory from the environment
	regOut, err := reg.CombinedOutput()
	if err != nil {
		t.Fatalf("postern-agent register: %v\n%s", err, regOut)
	}
	nm := regexp.MustCompile(`Registered this node as (mi-[0-9a-f]{17}) \(name [^)]*\)\. Start the agent with: postern-agent run --dir (\S+)`).FindSubmatch(regOut)
	if nm == nil || string(nm[2]) != dir {
		t.Fatalf("postern-agent register printed %q", regOut)
	}
	node := string(nm[1])

	var log strings.Builder
	run := exec.Command(agentBin, "run", "--dir", dir)
	run.Stdout, run.Stderr = &log, &log
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("postern-agent run:\n%s", log.String())
		}
	})
	for online := false; !online; {
		var nodes []api.Node
		e.jsonOut(ctx, &nodes, "nodes")
		for _, n := range nodes {
			online = online || n.ID == node && n.Online && n.Name == "lean" && n.Tags["env"] == "lean"
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node %s never came online: %+v", node, nodes)
		case err := <-done:
			t.Fatalf("postern-agent run exited: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if out := e.mustRun(ctx, "exec", node, "--", "sh", "-c", "echo lean-$((6*7))"); out != "lean-42\n" {
		t.Errorf("exec on the postern-agent node printed %q", out)
	}
}
