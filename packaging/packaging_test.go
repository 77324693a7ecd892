package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// requireTools returns whether the packages can be built and read here:
// nfpm in the test cache, dpkg-deb, rpm. POSTERN_REQUIRE_PACKAGING (set
// by scripts/test) turns a missing tool into a failure.
func requireTools(t *testing.T) {
	t.Helper()
	var missing []string
	cache := os.Getenv("POSTERN_TEST_CACHE")
	if cache == "" {
		if c, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(c, "postern-test")
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "nfpm-v2.48.0", "nfpm")); err != nil {
		missing = append(missing, "nfpm")
	}
	for _, tool := range []string{"dpkg-deb", "rpm", "systemd-analyze", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("POSTERN_REQUIRE_PACKAGING") != "" {
		t.Fatalf("%v not installed: run ./scripts/install-test-deps", missing)
	}
	t.Skipf("%v not installed: run ./scripts/install-test-deps", missing)
}

// build clones the repository's HEAD (a release is built from a commit)
// and packages it as version for this machine's architecture.
func build(t *testing.T, version string) string {
	t.Helper()
	top := strings.TrimSpace(string(run(t, "git", "rev-parse", "--show-toplevel")))
	dir := filepath.Join(t.TempDir(), "src")
	run(t, "git", "clone", "-q", top, dir)
	out := filepath.Join(t.TempDir(), "dist")
	cmd := exec.Command(filepath.Join(dir, "scripts", "package"), version, out)
	cmd.Env = append(os.Environ(), "POSTERN_PACKAGE_ARCHS="+runtime.GOARCH)
	runCmd(t, cmd)
	return out
}

// TestPackages builds the packages and reads them: what they install,
// where, with which modes, which file is configuration, and their units
// as systemd reads them. As root (and required, as in CI) it installs the
// server's and the agent's .deb on this machine, upgrades and removes
// them: data and configuration stay; purging removes the configuration
// only.
func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages")
	}
	if runtime.GOOS != "linux" {
		t.Skip("Linux packages")
	}
	requireTools(t)
	v1 := build(t, "1.0.0")
	arch := runtime.GOARCH
	rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]
	serverDeb := filepath.Join(v1, "postern-server_1.0.0_"+arch+".deb")
	agentDeb := filepath.Join(v1, "postern-agent_1.0.0_"+arch+".deb")

	for deb, want := range map[string][]string{
		serverDeb: {"-rwxr-xr-x root/root * ./usr/bin/postern", "-rw-r--r-- root/root * ./lib/systemd/system/postern-server.service", "-rw-r--r-- root/root * ./etc/postern/server.yaml",
			"-rw-r--r-- root/root * ./usr/share/man/man1/postern.1", "-rw-r--r-- root/root * ./usr/share/man/man1/postern-admin-backup.1",
			"-rwxr-xr-x root/root * ./usr/share/postern/agent/postern-agent-1.0.0-linux-" + arch},
		agentDeb: {"-rwxr-xr-x root/root * ./usr/bin/postern-agent", "-rw-r--r-- root/root * ./lib/systemd/system/postern-agent.service",
			"-rw-r--r-- root/root * ./usr/share/man/man1/postern-agent-register.1"},
	} {
		listing := string(run(t, "dpkg-deb", "--contents", deb))
		for _, w := range want {
			if !listed(listing, w) {
				t.Errorf("%s holds no %q:\n%s", filepath.Base(deb), w, listing)
			}
		}
	}
	if got := string(run(t, "dpkg-deb", "--field", serverDeb, "Package", "Version", "Architecture")); got != "Package: postern-server\nVersion: 1.0.0\nArchitecture: "+arch+"\n" {
		t.Errorf("the server's control fields:\n%s", got)
	}
	ctrl := t.TempDir()
	run(t, "dpkg-deb", "--control", serverDeb, ctrl)
	if b, _ := os.ReadFile(filepath.Join(ctrl, "conffiles")); string(b) != "/etc/postern/server.yaml\n" {
		t.Errorf("the server's conffiles: %q, want its configuration", b)
	}
	for _, s := range []string{"preinst", "postinst", "prerm"} {
		if _, err := os.Stat(filepath.Join(ctrl, s)); err != nil {
			t.Errorf("the server package has no %s: %v", s, err)
		}
	}
	for _, pkg := range []string{"server", "agent"} {
		rpm := filepath.Join(v1, "postern-"+pkg+"-1.0.0-1."+rpmArch+".rpm")
		got := string(run(t, "rpm", "-qp", "--queryformat", "%{NAME} %{VERSION}\n", rpm))
		if got != "postern-"+pkg+" 1.0.0\n" {
			t.Errorf("%s: %q", filepath.Base(rpm), got)
		}
		if files := string(run(t, "rpm", "-qlp", rpm)); !strings.Contains(files, "/lib/systemd/system/postern-"+pkg+".service") {
			t.Errorf("%s lists:\n%s", filepath.Base(rpm), files)
		}
	}
	if files := string(run(t, "rpm", "-qcp", filepath.Join(v1, "postern-server-1.0.0-1."+rpmArch+".rpm"))); files != "/etc/postern/server.yaml\n" {
		t.Errorf("the server rpm's configuration files: %q", files)
	}
	sums := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	sums.Dir = v1
	runCmd(t, sums)

	if os.Getuid() != 0 || os.Getenv("POSTERN_REQUIRE_PACKAGING") == "" {
		t.Log("not installed: that takes root and POSTERN_REQUIRE_PACKAGING (as scripts/test sets it)")
		return
	}
	installed := func(pkg string) bool {
		out, err := exec.Command("dpkg-query", "--show", "--showformat", "${db:Status-Status}", pkg).Output()
		return err == nil && string(out) == "installed"
	}
	if installed("postern-server") || installed("postern-agent") {
		t.Fatal("postern-server or postern-agent is installed on this machine already: the test would change it")
	}
	t.Cleanup(func() {
		exec.Command("dpkg", "--purge", "postern-server", "postern-agent").Run()
	})

	// Install: the user, the state directory, the configuration, a
	// binary that says its version, units systemd accepts.
	run(t, "dpkg", "--install", serverDeb, agentDeb)
	u, err := user.Lookup("postern")
	if err != nil {
		t.Fatalf("no user postern after install: %v", err)
	}
	if fi, err := os.Stat("/var/lib/postern"); err != nil || fi.Mode().Perm() != 0o700 || !ownedBy(fi, u.Uid) {
		t.Errorf("/var/lib/postern: %v %v; want 0700, owned by postern", fi, err)
	}
	if fi, err := os.Stat("/var/lib/postern-agent"); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("/var/lib/postern-agent: %v %v; want 0700", fi, err)
	}
	if got := string(run(t, "/usr/bin/postern", "version")); !strings.HasPrefix(got, "postern 1.0.0\ncommit ") {
		t.Errorf("postern version: %q", got)
	}
	if got := string(run(t, "/usr/bin/postern-agent", "version")); !strings.HasPrefix(got, "postern-agent 1.0.0\n") {
		t.Errorf("postern-agent version: %q", got)
	}
	// The agents the server offers nodes (agentDownloads), this release's.
	offered := func() []string {
		des, _ := os.ReadDir("/usr/share/postern/agent")
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		return names
	}
	if got := offered(); len(got) != 1 || got[0] != "postern-agent-1.0.0-linux-"+arch {
		t.Errorf("/usr/share/postern/agent holds %q", got)
	} else if v := string(run(t, "/usr/share/postern/agent/"+got[0], "version")); !strings.HasPrefix(v, "postern-agent 1.0.0\n") {
		t.Errorf("the agent offered says %q", v)
	}
	if conf, _ := os.ReadFile("/etc/postern/server.yaml"); !strings.Contains(string(conf), "\nagentDownloads: /usr/share/postern/agent\n") {
		t.Errorf("the configuration does not offer the packaged agents:\n%s", conf)
	}
	verify := exec.Command("systemd-analyze", "verify", "/lib/systemd/system/postern-server.service", "/lib/systemd/system/postern-agent.service")
	if out, err := verify.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// Edited configuration and data survive an upgrade...
	edited := "# edited by the operator\ndata: /var/lib/postern\nlisten: \":9443\"\n"
	if err := os.WriteFile("/etc/postern/server.yaml", []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/var/lib/postern/postern.db", []byte("the server's data"), 0o600); err != nil {
		t.Fatal(err)
	}
	v2 := build(t, "1.0.1")
	run(t, "dpkg", "--install", filepath.Join(v2, "postern-server_1.0.1_"+arch+".deb"), filepath.Join(v2, "postern-agent_1.0.1_"+arch+".deb"))
	if got := string(run(t, "/usr/bin/postern", "version")); !strings.HasPrefix(got, "postern 1.0.1\n") {
		t.Errorf("after the upgrade: %q", got)
	}
	if got := offered(); len(got) != 1 || got[0] != "postern-agent-1.0.1-linux-"+arch {
		t.Errorf("after the upgrade /usr/share/postern/agent holds %q, want the new release's agent only", got)
	}
	keeps := func(when string) {
		t.Helper()
		if b, _ := os.ReadFile("/var/lib/postern/postern.db"); string(b) != "the server's data" {
			t.Errorf("%s: the data is %q", when, b)
		}
	}
	keeps("after the upgrade")
	if b, _ := os.ReadFile("/etc/postern/server.yaml"); string(b) != edited {
		t.Errorf("after the upgrade the configuration is %q, want the operator's", b)
	}

	// ...and removal; purging removes the configuration, not the data.
	run(t, "dpkg", "--remove", "postern-server", "postern-agent")
	if _, err := os.Stat("/usr/bin/postern"); !os.IsNotExist(err) {
		t.Errorf("/usr/bin/postern after removal: %v", err)
	}
	keeps("after removal")
	if b, _ := os.ReadFile("/etc/postern/server.yaml"); string(b) != edited {
		t.Errorf("after removal the configuration is %q", b)
	}
	run(t, "dpkg", "--purge", "postern-server", "postern-agent")
	if _, err := os.Stat("/etc/postern/server.yaml"); !os.IsNotExist(err) {
		t.Errorf("the configuration after purging: %v", err)
	}
	keeps("after purging")
	os.RemoveAll("/var/lib/postern")
	os.RemoveAll("/var/lib/postern-agent")
}

// listed reports whether a dpkg-deb listing has a line with want's mode,
// owner and path (its "*" stands for size, date and time).
func listed(listing, want string) bool {
	before, path, _ := strings.Cut(want, " * ")
	for _, l := range strings.Split(listing, "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 && f[0]+" "+f[1] == before && f[len(f)-1] == path {
			return true
		}
	}
	return false
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	return runCmd(t, exec.Command(name, args...))
}

func runCmd(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s%s", cmd.Args, err, out, stderr.Bytes())
	}
	return out
}
