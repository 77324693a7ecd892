package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The scale-out deployment's files (deploy/scale-out, README "Several
// servers") are what an operator copies: the server configuration loads
// with the settings the README describes, the systemd unit passes
// `systemd-analyze verify`, and HAProxy accepts its configuration.
func TestScaleOutDeploymentFiles(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "scale-out")
	var o serverOptions
	if err := loadServerConfig(filepath.Join(dir, "server.yaml"), &o); err != nil {
		t.Fatalf("server.yaml: %v", err)
	}
	switch {
	case !isPostgresURL(o.database):
		t.Errorf("database %q: several servers share a PostgreSQL database", o.database)
	case o.recordings.S3BucketName == "":
		t.Error("no recordings bucket: a server's loss would lose its sessions")
	case o.caCert == "" || o.caKey == "":
		t.Error("no shared CA: agents and peers would not trust the other servers")
	case !strings.HasPrefix(o.advertise, "https://"):
		t.Errorf("advertise %q", o.advertise)
	case !slices.Contains(o.hosts, "postern.internal"):
		t.Errorf("hosts %v do not name the load balancer", o.hosts)
	}

	if sa, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze is not installed: the unit is not verified")
	} else {
		// verify checks that ExecStart's program exists: this test's
		// stands in for /usr/local/bin/postern.
		unit, err := os.ReadFile(filepath.Join(dir, "postern-server.service"))
		if err != nil {
			t.Fatal(err)
		}
		self, _ := os.Executable()
		p := filepath.Join(t.TempDir(), "postern-server.service")
		os.WriteFile(p, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/postern ", self+" ")), 0o644)
		if out, err := exec.Command(sa, "verify", p).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify postern-server.service: %v\n%s", err, out)
		}
	}

	hp, err := exec.LookPath("haproxy")
	if err != nil {
		hp, err = exec.LookPath("/usr/sbin/haproxy")
	}
	if err != nil {
		t.Log("haproxy is not installed (scripts/install-test-deps installs it): its configuration is not checked")
		return
	}
	if out, err := exec.Command(hp, "-c", "-f", filepath.Join(dir, "haproxy.cfg")).CombinedOutput(); err != nil {
		t.Errorf("haproxy -c haproxy.cfg: %v\n%s", err, out)
	}
}
