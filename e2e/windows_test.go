package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/ptytest"
)

// wineNode is a Windows node: postern-agent.exe under Wine, in a Wine
// prefix of its own (a copy of the one install-test-deps makes).
type wineNode struct {
	t      *testing.T
	prefix string
	exe    string // the agent, as a Linux path
}

// newWineNode builds postern-agent.exe and copies the test prefix. A
// persistent wineserver keeps the prefix's services running between the
// commands (Wine ends them with its last program otherwise); it ends with
// the test.
func newWineNode(t *testing.T, ctx context.Context) *wineNode {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("Wine runs on Linux")
	}
	cache := os.Getenv("POSTERN_TEST_CACHE")
	if cache == "" {
		c, _ := os.UserCacheDir()
		cache = filepath.Join(c, "postern-test")
	}
	matches, _ := filepath.Glob(filepath.Join(cache, "wine-prefix-*", ".postern-ready"))
	if len(matches) == 0 {
		if os.Getenv("POSTERN_REQUIRE_WINE") != "" {
			t.Fatal("no Wine prefix: scripts/install-test-deps makes it")
		}
		t.Skip("no Wine prefix (scripts/install-test-deps makes it)")
	}
	dir := t.TempDir()
	w := &wineNode{t: t, prefix: filepath.Join(dir, "prefix"), exe: filepath.Join(dir, "downloads", "postern-agent-9.9.0-windows-amd64.exe")}
	if out, err := exec.CommandContext(ctx, "cp", "-a", filepath.Dir(matches[0]), w.prefix).CombinedOutput(); err != nil {
		t.Fatalf("copying the Wine prefix: %v\n%s", err, out)
	}
	buildWindowsAgent(t, ctx, w.exe, "9.9.0-win")
	server := exec.Command("/usr/lib/wine/wineserver", "--persistent")
	server.Env = w.env()
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		kill := exec.Command("/usr/lib/wine/wineserver", "--kill")
		kill.Env = w.env()
		kill.Run()
		server.Wait()
	})
	return w
}

// buildWindowsAgent builds postern-agent.exe of version at path.
func buildWindowsAgent(t *testing.T, ctx context.Context, path, version string) {
	t.Helper()
	build := exec.CommandContext(ctx, "go", "build", "-o", path, "-ldflags", "-X github.com/postern/postern/agent.Version="+version, "../cmd/postern-agent")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building postern-agent.exe: %v\n%s", err, out)
	}
}

// windowsBuild does what the printed Windows command and install.ps1 do:
// it downloads install.ps1 from url and checks it has SHA-256 sum, then
// downloads the agent build the script names and checks it has the
// SHA-256 the script holds; it returns the build's file and version.
func windowsBuild(t *testing.T, ctx context.Context, server, url, sum string) (exe, version string) {
	t.Helper()
	script := filepath.Join(t.TempDir(), "install.ps1")
	if err := download(ctx, url, script); err != nil {
		t.Fatal(err)
	}
	if got := fileSHA256(t, script); got != sum {
		t.Fatalf("install.ps1's SHA-256 is %s, the command says %s", got, sum)
	}
	b, _ := os.ReadFile(script)
	m := regexp.MustCompile(`(?m)^\$build = '(postern-agent-(.*)-windows-amd64\.exe)'\n\$sha256 = '([0-9a-f]{64})'$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("install.ps1 names no build:\n%s", b)
	}
	exe = filepath.Join(t.TempDir(), "postern-agent.exe")
	if err := download(ctx, server+"/install/agent/"+m[1], exe); err != nil {
		t.Fatal(err)
	}
	if got := fileSHA256(t, exe); got != m[3] {
		t.Fatalf("the download's SHA-256 is %s, install.ps1 says %s", got, m[3])
	}
	return exe, m[2]
}

func (w *wineNode) env() []string {
	return append(os.Environ(), "WINEPREFIX="+w.prefix, "WINEDEBUG=-all")
}

// download fetches url as curl.exe -k does in the Windows install command
// (the checksum, not the connection, vouches for it).
func download(ctx context.Context, url, path string) error {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// windowsPath is a Linux path as Wine's programs see it.
func windowsPath(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }

// agent runs postern-agent.exe with args to completion. Its output goes
// through a file, not a pipe: Wine's own processes, which it may start
// (services.exe and the service itself), inherit the output and would
// hold a pipe open long after the command ended.
func (w *wineNode) agent(ctx context.Context, args ...string) (string, error) {
	f, err := os.CreateTemp(w.t.TempDir(), "out")
	if err != nil {
		return "", err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, "/usr/lib/wine/wine64", append([]string{w.exe}, args...)...)
	cmd.Env = w.env()
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	return string(out), err
}

// TestWindowsNode runs a Windows node for real: postern-agent.exe under
// Wine is installed the way `postern activations create` says, from a
// real postern dev that offers it (--agent-downloads): its download
// checked against the SHA-256 the printed PowerShell command holds (the
// test does what curl.exe and Get-FileHash do there: no PowerShell runs
// under Wine), then its install (registered with the pin, copied to
// Program Files, the service installed and started by the service
// manager; a second install is refused). It serves a command without a
// terminal (its output, error and exit code apart), an interactive
// cmd.exe through a pseudo console with the preferences' Windows shell
// profile typed at its start (recorded), and a port forwarded to a
// listener the node reaches; Run Command, whose scripts are sh, is
// refused with why, and so is a run-as account the node does not have;
// then the service is removed and the node goes
// offline. PowerShell, the default shell, is not there under Wine
// (the service runs sessions in cmd.exe, --shell); window resizes are
// not implemented by Wine's pseudo console.
func TestWindowsNode(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	w := newWineNode(t, ctx)
	downloads := filepath.Dir(w.exe)
	e := startDev(t, "--agent-downloads", downloads)
	prefs := writeFile(t, "prefs.json", `{"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": {"shellProfile": {"linux": "", "windows": "set POSTERN_PROFILE=zq9-%OS%"}}}`)
	e.mustRun(ctx, "prefs", "set", "-f", prefs)

	out := e.mustRun(ctx, "activations", "create", "--name", "winnode")
	m := regexp.MustCompile(`(?m)^On each Windows node, in PowerShell as an administrator \([^)]*\):\n  \$s = "\$env:TEMP\\postern-install.ps1"; curl.exe -fsSk -o \$s '([^']+)'; if \(\(Get-FileHash -Algorithm SHA256 \$s\).Hash -ne '([0-9a-f]{64})'\) \{ throw '[^']*' \}; & \(\[scriptblock\]::Create\(\[IO.File\]::ReadAllText\(\$s\)\)\) (.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no Windows install command:\n%s", out)
	}
	// What install.ps1 does, with the parameters the command gives it.
	var args []string
	for _, a := range regexp.MustCompile(`-([A-Za-z]+) '([^']*)'`).FindAllStringSubmatch(m[3], -1) {
		args = append(args, "--"+map[string]string{"Server": "server", "Code": "code", "Id": "id", "CaPin": "ca-pin"}[a[1]], a[2])
	}
	if len(args) != 8 || args[0] != "--server" || args[6] != "--ca-pin" {
		t.Fatalf("install.ps1's parameters: %q", m[3])
	}
	exe, version := windowsBuild(t, ctx, args[1], m[1], m[2])
	if version != "9.9.0" {
		t.Errorf("install.ps1 names version %s", version)
	}
	dir := windowsPath(filepath.Join(t.TempDir(), "agent"))
	w.exe = exe // what was downloaded runs
	// cmd.exe: the default, PowerShell, is a stub under Wine.
	out, err := w.agent(ctx, append(append([]string{"install"}, args...), "--dir", dir, "--shell", "cmd.exe")...)
	if err != nil || !regexp.MustCompile(`Registered this node as mi-[0-9a-f]{17} \(name winnode\); the agent is C:\\Program Files\\Postern\\postern-agent.exe, its identity in .*; the postern-agent service is running.`).MatchString(out) {
		t.Fatalf("install: %v\n%s", err, out)
	}
	installed := filepath.Join(w.prefix, "drive_c", "Program Files", "Postern", "postern-agent.exe")
	if got := fileSHA256(t, installed); got != fileSHA256(t, exe) {
		t.Errorf("the installed agent is not the download: %s", got)
	}
	// Installed already: refused, nothing changed.
	if out, err := w.agent(ctx, append(append([]string{"install"}, args...), "--dir", dir)...); err == nil || !strings.Contains(out, "this node is already registered") {
		t.Errorf("a second install: %v\n%s", err, out)
	}
	var node api.Node
	waitFor(ctx, t, "the Windows node online", func() bool {
		var nodes []api.Node
		e.jsonOut(ctx, &nodes, "nodes")
		for _, n := range nodes {
			if n.Name == "winnode" && n.Online {
				node = n
				return true
			}
		}
		return false
	})
	if node.OS != "windows" || node.AgentVersion != "9.9.0-win" || !strings.Contains(node.Platform, "Windows") {
		t.Errorf("the node says %q %q %q", node.OS, node.AgentVersion, node.Platform)
	}

	t.Run("command", func(t *testing.T) {
		so, se, code := e.run(ctx, "exec", "winnode", "--", "cmd.exe", "/c", "echo out-%OS% & echo err-zq9 1>&2 & exit 7")
		if code != 7 || !strings.Contains(so, "out-Windows_NT") || strings.Contains(so, "err-zq9") || !strings.Contains(se, "err-zq9") {
			t.Errorf("exit %d\nstdout %q\nstderr %q", code, so, se)
		}
	})

	t.Run("run command", func(t *testing.T) {
		// Run Command's documents are sh scripts: refused, with why.
		out, errOut, code := e.run(ctx, "run", "--node-ids", node.ID, "--parameters", "commands=echo hi")
		if code != 1 || !strings.Contains(out, "Failed") || !strings.Contains(out+errOut, "Run Command runs shell scripts on Linux and macOS nodes only") {
			t.Errorf("exit %d\n%s\n%s", code, out, errOut)
		}
	})

	t.Run("interactive", func(t *testing.T) {
		pty := ptytest.Start(t, e.connectCmd("winnode"))
		id := pty.ExpectRegexp(ctx, sessionIDRE)[1]
		pty.Expect(ctx, "set POSTERN_PROFILE=zq9-%OS%") // the profile, typed
		pty.WriteLine("echo profile=%POSTERN_PROFILE%")
		pty.Expect(ctx, "profile=zq9-Windows_NT")
		pty.WriteLine("exit 4")
		pty.Wait(ctx)
		if s := e.waitEnded(ctx, id); s.Status != "Terminated" || s.ExitCode == nil || *s.ExitCode != 4 {
			t.Errorf("session %+v", s)
		}
		e.waitDelivered(ctx, id)
		if log := e.mustRun(ctx, "logs", "get", id); !strings.Contains(log, "profile=zq9-Windows_NT") {
			t.Errorf("the recording:\n%s", log)
		}
	})

	t.Run("port", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { defer c.Close(); io.Copy(c, c) }()
			}
		}()
		local := freePort(t)
		fwd := start(t, e.vars(), "forward", "winnode", "--port", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), "--local-port", fmt.Sprint(local))
		fwd.waitFor(ctx, regexp.MustCompile(`Port \d+ opened for sessionId (\S+)\.`))
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", local), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		msg := strings.Repeat("through windows ", 4096)
		go io.WriteString(c, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Errorf("echoed %d bytes, %v", len(got), err)
		}
	})

	t.Run("run as", func(t *testing.T) {
		// A run-as account the node does not have: refused by the agent,
		// with why, as on Linux. (A logon of an account it has is not
		// possible under Wine: see the README's Windows nodes.)
		runAs := writeFile(t, "prefs-runas.json", `{"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": {"runAsEnabled": true, "runAsDefaultUser": "nobody-zq9"}}`)
		e.mustRun(ctx, "prefs", "set", "-f", runAs)
		defer e.mustRun(ctx, "prefs", "set", "-f", prefs)
		_, se, code := e.run(ctx, "exec", "winnode", "--", "cmd.exe", "/c", "echo never")
		if code == 0 || !strings.Contains(se, "the run-as user nobody-zq9 does not exist on this node") {
			t.Errorf("exit %d\nstderr %q", code, se)
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		// A new build offered: install.ps1 names it, and its -Upgrade
		// runs the build's upgrade.
		newer := filepath.Join(downloads, "postern-agent-9.9.1-windows-amd64.exe")
		buildWindowsAgent(t, ctx, newer, "9.9.1-win")
		later := time.Now().Add(time.Minute)
		os.Chtimes(newer, later, later)
		// As `postern nodes upgrade-command` prints it.
		up := regexp.MustCompile(`(?m)^On each Windows node, in PowerShell as an administrator \([^)]*\):\n  \$s = "\$env:TEMP\\postern-install.ps1"; curl.exe -fsSk -o \$s '([^']+)'; if \(\(Get-FileHash -Algorithm SHA256 \$s\).Hash -ne '([0-9a-f]{64})'\) \{ throw '[^']*' \}; & \(\[scriptblock\]::Create\(\[IO.File\]::ReadAllText\(\$s\)\)\) -Server '([^']+)' -Upgrade$`).FindStringSubmatch(e.mustRun(ctx, "nodes", "upgrade-command"))
		if up == nil || up[2] == m[2] {
			t.Fatalf("nodes upgrade-command: %q (the install command's script was %s)", up, m[2])
		}
		exe, version := windowsBuild(t, ctx, up[3], up[1], up[2])
		if version != "9.9.1" {
			t.Fatalf("install.ps1 names version %s", version)
		}
		newAgent := *w
		newAgent.exe = exe
		out, err := newAgent.agent(ctx, "upgrade")
		if err != nil || !strings.Contains(out, `Upgraded the postern-agent service to postern-agent 9.9.1-win (C:\Program Files\Postern\postern-agent.exe); it is running.`) {
			t.Fatalf("upgrade: %v\n%s", err, out)
		}
		if got := fileSHA256(t, installed); got != fileSHA256(t, exe) {
			t.Error("the installed agent is not the new build")
		}
		if _, err := os.Stat(installed + ".old"); err == nil {
			t.Error("the previous agent was left behind")
		}
		waitFor(ctx, t, "the node on the new agent", func() bool {
			var nodes []api.Node
			e.jsonOut(ctx, &nodes, "nodes")
			for _, n := range nodes {
				if n.ID == node.ID {
					return n.Online && n.AgentVersion == "9.9.1-win"
				}
			}
			return false
		})
		if so, se, code := e.run(ctx, "exec", "winnode", "--", "cmd.exe", "/c", "echo upgraded-zq9"); code != 0 || !strings.Contains(so, "upgraded-zq9") {
			t.Errorf("after the upgrade: exit %d\n%s\n%s", code, so, se)
		}
		// Run from the installed agent itself: refused, nothing changed.
		newAgent.exe = installed
		if out, err := newAgent.agent(ctx, "upgrade"); err == nil || !strings.Contains(out, "this is the installed agent") {
			t.Errorf("upgrade from the installed agent: %v\n%s", err, out)
		}
	})

	if out, err := w.agent(ctx, "service", "uninstall"); err != nil || !strings.Contains(out, "Removed the postern-agent service.") {
		t.Fatalf("service uninstall: %v\n%s", err, out)
	}
	waitFor(ctx, t, "the Windows node offline", func() bool {
		var nodes []api.Node
		e.jsonOut(ctx, &nodes, "nodes")
		for _, n := range nodes {
			if n.ID == node.ID {
				return !n.Online
			}
		}
		return false
	})
}
