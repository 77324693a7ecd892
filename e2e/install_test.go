package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/api"
)

// TestNodeInstallScript installs nodes the way `postern activations
// create` says to: its printed command, run by sh with curl against a
// real postern dev that serves postern-agent builds (--agent-downloads),
// under a temporary root (--root; sudo is a shim that runs its command).
// The node is registered, the unit it wrote passes systemd-analyze
// verify, the agent started as that unit says comes online and runs a
// command, and the upgrade command `postern nodes upgrade-command` prints
// (--upgrade) replaces it with the newest build. A used
// activation stops the script with the server's reason and nothing
// installed; a failure after registration takes back what was written
// and names the node to deregister. (Wrong pins, missing builds and
// damaged downloads: package nodeinstall.)
func TestNodeInstallScript(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the script is run on linux here")
	}
	for _, tool := range []string{"curl", "sh", "sha256sum", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (scripts/install-test-deps)", tool)
		}
	}
	ctx := testCtx(t)
	downloads := t.TempDir()
	build := filepath.Join(downloads, "postern-agent-9.9.0-linux-"+runtime.GOARCH)
	if out, err := exec.CommandContext(ctx, "go", "build", "-race", "-ldflags", "-X github.com/postern/postern/agent.Version=9.9.0", "-o", build, "../cmd/postern-agent").CombinedOutput(); err != nil {
		t.Fatalf("building postern-agent: %v\n%s", err, out)
	}
	shims := t.TempDir()
	if err := os.WriteFile(filepath.Join(shims, "sudo"), []byte("#!/bin/sh\nexec \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := startDev(t, "--agent-downloads", downloads)

	// install runs the printed command with more arguments for the
	// script, and returns what it printed.
	install := func(line string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "sh", "-c", line+" "+strings.Join(args, " "))
		cmd.Env = append(os.Environ(), "PATH="+shims+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	lineRE := regexp.MustCompile(`(?m)^On each Linux or macOS node, in sh, bash or zsh \(it checks the server's CA against the activation's pin first, [^)]*\):\n  (f=\$\(mktemp\) && curl -fsSk \S+/install/ca\.pem .* \| sudo sh -s -- --code \S+ --id \S+ --ca-pin sha256:[0-9a-f]{64})$`)
	activation := func(args ...string) string {
		out := e.mustRun(ctx, append([]string{"activations", "create"}, args...)...)
		m := lineRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("activations create does not print the install command:\n%s", out)
		}
		return m[1]
	}

	// Installed and registered.
	root := t.TempDir()
	line := activation("--tag", "via=script")
	out, err := install(line, "--root", root, "--name", "scripted")
	if err != nil {
		t.Fatalf("the install command: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`registered this node as (mi-[0-9a-f]{17}); postern-agent 9\.9\.0 in (\S+), its identity in (\S+)\n`).FindStringSubmatch(out)
	if m == nil || m[2] != root+"/usr/local/bin/postern-agent" || m[3] != root+"/var/lib/postern-agent" || !strings.Contains(out, "installed under "+root+"; nothing was started") {
		t.Fatalf("the install command printed:\n%s", out)
	}
	node := m[1]
	for _, f := range []string{"usr/local/bin/postern-agent", "var/lib/postern-agent/identity.json", "etc/systemd/system/postern-agent.service"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "var/lib/postern-agent")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the identity's directory: %v %v", fi.Mode(), err)
	}
	unitPath := filepath.Join(root, "etc/systemd/system/postern-agent.service")
	unit, _ := os.ReadFile(unitPath)
	exe := regexp.MustCompile(`(?m)^ExecStart=(\S+) run --dir (\S+)$`).FindStringSubmatch(string(unit))
	if exe == nil || exe[1] != m[2] || exe[2] != m[3] || !strings.Contains(string(unit), "ConditionPathExists="+m[3]+"/identity.json") {
		t.Fatalf("the unit does not run the installed agent:\n%s", unit)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, err := exec.CommandContext(ctx, "systemd-analyze", "verify", unitPath).CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	// Started as the unit says: online, tagged, running commands.
	var log strings.Builder
	run := exec.Command(exe[1], "run", "--dir", exe[2])
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
			t.Logf("the installed agent:\n%s", log.String())
		}
	})
	waitFor(ctx, t, "the installed node online", func() bool {
		var nodes []api.Node
		e.jsonOut(ctx, &nodes, "nodes")
		for _, n := range nodes {
			if n.ID == node && n.Online && n.Name == "scripted" && n.Tags["via"] == "script" && n.AgentVersion == "9.9.0" {
				return true
			}
		}
		return false
	})
	if out := e.mustRun(ctx, "exec", node, "--", "sh", "-c", "echo installed-$((6*7))"); out != "installed-42\n" {
		t.Errorf("exec on the installed node printed %q", out)
	}

	// Upgraded: the newest build replaces the agent (a script here: what
	// the installer checks is that it runs and says its version).
	newer := filepath.Join(downloads, "postern-agent-9.9.1-linux-"+runtime.GOARCH)
	if err := os.WriteFile(newer, []byte("#!/bin/sh\necho postern-agent 9.9.1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(newer, later, later)
	// As `postern nodes upgrade-command` prints it: pinned as the
	// install was, without an activation.
	up := regexp.MustCompile(`(?m)^On each Linux or macOS node installed with the node install command, in sh, bash or zsh:\n  (f=\$\(mktemp\) && curl -fsSk \S+/install/ca\.pem .* \| sudo sh -s -- --upgrade --ca-pin sha256:[0-9a-f]{64})$`).FindStringSubmatch(e.mustRun(ctx, "nodes", "upgrade-command"))
	if up == nil {
		t.Fatal("nodes upgrade-command does not print the upgrade command")
	}
	if out, err := install(up[1], "--root", root); err != nil || !strings.Contains(out, "the agent is now postern-agent 9.9.1 ("+m[2]+")") {
		t.Errorf("--upgrade: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(m[2]); !strings.Contains(string(b), "9.9.1") {
		t.Errorf("--upgrade left the old agent")
	}
	os.Remove(newer)

	// Registered once already: the same command again, elsewhere, stops
	// with the server's reason, nothing installed.
	again := t.TempDir()
	if out, err := install(line, "--root", again); err == nil || !strings.Contains(out, "has reached its registration limit of 1") || !strings.Contains(out, "the node was not registered (the reason is above); nothing was installed") {
		t.Errorf("a used activation: %v\n%s", err, out)
	}
	noFiles(t, again)

	// A failure after registering: what was written is taken back, and
	// the registered node named.
	broken := t.TempDir()
	os.MkdirAll(filepath.Join(broken, "etc/systemd"), 0o755)
	os.WriteFile(filepath.Join(broken, "etc/systemd/system"), nil, 0o644) // not a directory
	out, err = install(activation(), "--root", broken)
	m = regexp.MustCompile(`the server has node (mi-[0-9a-f]{17}) registered all the same: deregister it \(postern nodes deregister mi-[0-9a-f]{17}\)`).FindStringSubmatch(out)
	if err == nil || !strings.Contains(out, "took back what was installed") || m == nil {
		t.Errorf("a failure after registering: %v\n%s", err, out)
	}
	noFiles(t, broken, "etc/systemd/system")
	if m != nil {
		e.mustRun(ctx, "nodes", "deregister", m[1])
	}
}

// noFiles fails if dir holds files other than those named (relative).
func noFiles(t *testing.T, dir string, except ...string) {
	t.Helper()
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		for _, x := range except {
			if rel == x {
				return nil
			}
		}
		t.Errorf("left behind: %s", rel)
		return nil
	})
}
